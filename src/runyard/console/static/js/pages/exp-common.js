// What the experiment and operator pages share: breadcrumbs, an application picker, list envelopes,
// the statistics of grouped distribution summaries, and a run list read a page at a time.
import {api} from '../api.js';
import {errorBox, loading} from '../components/flash.js';
import {statusBadge} from '../components/status.js';
import {pager, table} from '../components/table.js';
import {fmtNumber, h, replace, timeEl} from '../dom.js';
import {apiApp, runUrl} from '../links.js';

const enc = encodeURIComponent;

export const expUrl = (app, kind, id) => `/app/${enc(app)}/experiments/${kind}/${enc(id)}`;
export const experimentsUrl = (app, tab) => `/app/${enc(app)}/experiments${tab ? `?tab=${enc(tab)}` : ''}`;
export const inputSetUrl = (app, id) => `/app/${enc(app)}/input-sets/${enc(id)}`;
export const inputUrl = (app, id) => `/app/${enc(app)}/inputs/${enc(id)}`;
export const ensembleUrl = (app, id) => `/app/${enc(app)}/ensembles/${enc(id)}`;
export const ensembleRunUrl = (app, run) => `/app/${enc(app)}/run/${enc(run)}/ensemble`;
export {apiApp, runUrl};

/** <nav aria-label="Breadcrumb"> of [label, href] pairs; the last one is the current page. */
export function breadcrumbs(items) {
  return h('nav', {class: 'breadcrumbs', 'aria-label': 'Breadcrumb'}, h('ol', {},
    items.map(([label, href], i) => h('li', {}, i === items.length - 1
      ? h('span', {'aria-current': 'page'}, label) : h('a', {href}, label)))));
}

/** The items of a list answer, whatever its envelope: a bare array, {items}, {runs}. */
export function itemsOf(answer, key = 'items') {
  if (Array.isArray(answer)) return answer;
  return (answer && (answer[key] || answer.items)) || [];
}

/** A number for a cell: '—' when absent. */
export function num(value) {
  return typeof value === 'number' && Number.isFinite(value) ? fmtNumber(value) : '—';
}

export const idCode = (id) => h('code', {}, id || '—');

/**
 * appPicker(ctx, query, {onPick}) -> element: a labelled <select> of the account's applications;
 * the choice is kept in the URL (?app=…). Resolves the chosen app id through `onPick`.
 */
export async function appPicker(ctx, query, onPick) {
  const select = h('select', {id: 'app-picker', name: 'app'});
  const wrap = h('div', {class: 'filters'}, h('div', {class: 'field'}, h('label', {for: 'app-picker'}, 'Application'), select));
  const apps = [];
  let token = null;
  do { // at most a few pages: an account has few applications; the picker names them all
    const page = await api.get('/v1/applications', {pagereturn: 'true', pagetoken: token}, {signal: ctx.signal});
    apps.push(...itemsOf(page));
    token = page.next_page_token || null;
  } while (token && apps.length < 500);
  if (!apps.length) return {element: h('div', {class: 'empty-state'}, h('p', {}, 'No applications yet. Push one with ',
    h('code', {}, 'runyard app push'), ' or the nextmv SDK, and its experiments show here.')), app: null};
  for (const a of apps) select.appendChild(h('option', {value: a.id}, a.name && a.name !== a.id ? `${a.name} (${a.id})` : a.id));
  const chosen = apps.some((a) => a.id === query.app) ? query.app : apps[0].id;
  select.value = chosen;
  select.addEventListener('change', () => { ctx.setQuery({...ctx.currentQuery(), app: select.value}); onPick(select.value); });
  return {element: wrap, app: chosen};
}

/** The distribution of `metric` in a grouped summary: {count, min, max, mean, std, percentiles}. */
export function distribution(group, metric) {
  return (group.indicator_distributions || {})[metric] || null;
}

/** Every metric name found in `groups` (sorted; `result.value` first when present). */
export function metricNames(groups) {
  const names = new Set();
  for (const g of groups || []) for (const k of g.indicator_keys || Object.keys(g.indicator_distributions || {})) names.add(k);
  return [...names].sort((a, b) => (a === 'result.value' ? -1 : b === 'result.value' ? 1 : a.localeCompare(b)));
}

/** The named values of a group: {instance_id, version_id, option_set, scenario_id, …}. */
export function groupValues(group) {
  const out = {};
  (group.group_keys || []).forEach((k, i) => { out[k] = (group.group_values || [])[i]; });
  return out;
}

/** A short label for a group: its instance (or scenario), plus the version and option set only
 * when they tell apart groups of the same instance. */
export function groupLabel(group, groups) {
  const v = groupValues(group);
  const head = v.scenario_id || v.instance_id || v.version_id || 'group';
  const siblings = (groups || []).map(groupValues).filter((o) => (o.scenario_id || o.instance_id) === (v.scenario_id || v.instance_id));
  const varies = (key) => new Set(siblings.map((o) => o[key])).size > 1;
  const parts = [head];
  if (v.scenario_id && v.instance_id && new Set((groups || []).map((g) => groupValues(g).instance_id)).size > 1) parts.push(v.instance_id);
  if (v.version_id && varies('version_id')) parts.push(v.version_id);
  if (v.option_set && varies('option_set')) parts.push(v.option_set);
  return parts.join(' · ');
}

/** A run's value of `metric`, read from the list item's statistics/metrics indicators. */
export function runValue(run, metric) {
  for (const doc of [run.metrics, run.statistics]) {
    const hit = ((doc && doc.indicators) || []).find((i) => i.name === metric);
    if (hit && typeof hit.value === 'number') return hit.value;
  }
  return null;
}

/**
 * runList(el, ctx, {path, caption, extraColumns, empty}) draws a paginated run list from `path` (an
 * endpoint answering {runs, next_page_token} with pagereturn=true); returns {reload}.
 */
export function runList(el, ctx, {path, app, caption = 'Runs', extraColumns = [], empty = 'No runs yet.', first = null}) {
  const tokens = [null];
  let pending = first; // the first page, when the caller already asked for it (in parallel with its own reads)
  const columns = [
    {label: 'Run', render: (r) => h('a', {href: runUrl(app, r.id)}, r.name || r.id)},
    {label: 'Status', render: (r) => statusBadge(r.status_v2)},
    ...extraColumns,
    {label: 'Created', render: (r) => timeEl(r.created_at)},
  ];
  const draw = async () => {
    let page;
    try {
      page = await (pending || api.get(path, {pagereturn: 'true', pagetoken: tokens[tokens.length - 1]}, {signal: ctx.signal}));
    } catch (err) {
      if (err.name !== 'AbortError') replace(el, errorBox(err, {title: 'The runs could not be loaded'}));
      return;
    }
    pending = null;
    const runs = itemsOf(page, 'runs');
    replace(el, table({caption, columns, rows: runs, rowKey: (r) => r.id, empty}),
      runs.length || tokens.length > 1 ? pager({label: `${caption}: pages`, hasPrev: tokens.length > 1,
        hasNext: Boolean(page.next_page_token), status: `Page ${tokens.length}`,
        onPrev: () => { tokens.pop(); draw(); }, onNext: () => { tokens.push(page.next_page_token); draw(); }}) : null);
  };
  replace(el, loading('Loading runs…'));
  draw();
  return {reload: draw};
}

/** Load `fn()` into `el`, showing what is happening and the server's error if it fails. */
export async function loadInto(el, what, fn) {
  replace(el, loading(`Loading ${what}…`));
  try {
    return await fn();
  } catch (err) {
    if (err.name !== 'AbortError') replace(el, errorBox(err, {title: `The ${what} could not be loaded`}));
    return undefined;
  }
}

/**
 * pagedTable(el, ctx, {path, query, columns, caption, empty, key}) draws a list endpoint a page at a
 * time (pagereturn/pagetoken), with previous/next.
 */
export function pagedTable(el, ctx, {path, query = {}, columns, caption, empty, key = 'items', rowKey = (r) => r.id}) {
  const tokens = [null];
  const draw = async () => {
    const page = await loadInto(el, caption.toLowerCase(), () =>
      api.get(path, {...query, pagereturn: 'true', pagetoken: tokens[tokens.length - 1]}, {signal: ctx.signal}));
    if (page === undefined) return;
    const rows = itemsOf(page, key);
    replace(el, table({caption, captionHidden: true, columns, rows, rowKey, empty}),
      tokens.length > 1 || page.next_page_token ? pager({label: `${caption}: pages`, hasPrev: tokens.length > 1,
        hasNext: Boolean(page.next_page_token), status: `Page ${tokens.length}`,
        onPrev: () => { tokens.pop(); draw(); }, onNext: () => { tokens.push(page.next_page_token); draw(); }}) : null);
  };
  draw();
}

/**
 * The paired/unpaired analysis of an experiment (`GET {path}/analysis`: shadow, switchback, acceptance and
 * batch): per candidate and metric the test, n, mean difference with its interval, p-value and verdict.
 */
export async function drawAnalysis(el, path, ctx) {
  let doc;
  try {
    doc = await api.get(`${path}/analysis`, {}, {signal: ctx.signal});
  } catch (err) {
    if (err.name !== 'AbortError') replace(el, errorBox(err, {title: 'No analysis'}));
    return;
  }
  const rows = [];
  for (const c of doc.comparisons || []) for (const [metric, a] of Object.entries(c.metrics || {})) rows.push({c, metric, a});
  replace(el, h('p', {class: 'muted'}, `Significance level ${doc.alpha}, power ${doc.power}.`),
    table({caption: 'Candidate against baseline, per metric', rows, rowKey: (r) => `${r.c.candidate_instance_id}|${r.metric}`,
      empty: 'Nothing to compare yet: the analysis needs ended runs of both arms.', columns: [
        {label: 'Candidate', render: (r) => idCode(r.c.candidate_instance_id)},
        {label: 'Baseline', render: (r) => idCode(r.c.baseline_instance_id)},
        {label: 'Metric', render: (r) => h('code', {}, r.metric)},
        {label: 'Test', render: (r) => r.a.test},
        {label: 'n', numeric: true, render: (r) => num(r.a.n)},
        {label: 'Mean difference', numeric: true, render: (r) => num(r.a.mean_difference)},
        {label: '95 % interval', numeric: true, render: (r) => (r.a.ci95 ? `${num(r.a.ci95[0])} … ${num(r.a.ci95[1])}` : '—')},
        {label: 'p-value', numeric: true, render: (r) => num(r.a.p_value)},
        {label: 'Verdict', render: (r) => r.a.verdict},
      ]}));
}
