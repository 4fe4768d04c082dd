// An acceptance test: one verdict per metric (control, candidate, difference, pass/fail) and, per
// metric, each side's distribution; the underlying batch experiment is one link away.
import {api} from '../api.js';
import {loading} from '../components/flash.js';
import {statusBadge} from '../components/status.js';
import {facts, table} from '../components/table.js';
import {h, replace, timeEl} from '../dom.js';
import {subscribe} from '../live.js';
import {appUrl} from '../links.js';
import {apiApp, breadcrumbs, drawAnalysis, experimentsUrl, expUrl, idCode, num} from './exp-common.js';

const OPERATORS = {lt: ['<', 'lower is better'], le: ['≤', 'lower or equal'], gt: ['>', 'higher is better'],
  ge: ['≥', 'higher or equal'], eq: ['=', 'equal'], ne: ['≠', 'different']};

/** "candidate < control (within 5 % relative tolerance)" */
export function comparisonText(metric) {
  const params = metric.params || {};
  const [symbol, words] = OPERATORS[params.operator] || [params.operator || '?', ''];
  const tol = params.tolerance || {};
  const tolerance = tol.value ? ` within ${tol.type === 'relative' ? `${num(tol.value * 100)} %` : num(tol.value)} ${tol.type || ''} tolerance` : '';
  return `candidate ${symbol} control${tolerance}${words ? ` (${words})` : ''}`;
}

function sideValue(side, statistic) {
  if (!side) return null;
  const s = side.distribution_summary_statistics || {};
  if (/^p\d\d$/.test(statistic)) return (side.distribution_percentiles || {})[statistic];
  return s[statistic];
}

export function difference(control, candidate) {
  if (typeof control !== 'number' || typeof candidate !== 'number') return {abs: null, pct: null};
  const abs = candidate - control;
  return {abs, pct: control === 0 ? null : (abs / Math.abs(control)) * 100};
}

const signed = (x) => (typeof x === 'number' ? `${x > 0 ? '+' : ''}${num(x)}` : '—');

function verdictBadge(passed) {
  return h('span', {class: `badge ${passed ? 'status-succeeded' : 'status-failed'}`, 'data-verdict': passed ? 'pass' : 'fail'},
    h('span', {'aria-hidden': 'true'}, passed ? '✓ ' : '✕ '), passed ? 'pass' : 'fail');
}

function verdictTable(results) {
  const rows = (results.metric_results || []).map((r) => {
    const stat = r.metric.statistic;
    const control = sideValue(r.statistics.control, stat);
    const candidate = sideValue(r.statistics.candidate, stat);
    return {r, stat, control, candidate, diff: difference(control, candidate)};
  });
  return table({caption: 'Verdict per metric', className: 'verdicts', rows, rowKey: (x) => x.r.metric.field, columns: [
    {label: 'Metric', render: (x) => h('code', {}, x.r.metric.field)},
    {label: 'Statistic', render: (x) => x.stat},
    {label: 'Comparison', render: (x) => comparisonText(x.r.metric)},
    {label: 'Control', numeric: true, render: (x) => num(x.control)},
    {label: 'Candidate', numeric: true, render: (x) => num(x.candidate)},
    {label: 'Difference', numeric: true, render: (x) => signed(x.diff.abs)},
    {label: 'Difference %', numeric: true, render: (x) => (x.diff.pct === null ? '—' : `${signed(x.diff.pct)} %`)},
    {label: 'Result', render: (x) => verdictBadge(x.r.passed)},
  ], empty: 'This test has no metric results.'});
}

function sideRows(result) {
  const keys = ['count', 'mean', 'std', 'min', 'max', 'shifted_geometric_mean'];
  const pct = ['p05', 'p25', 'p50', 'p75', 'p95'];
  const c = result.statistics.control || {};
  const k = result.statistics.candidate || {};
  const row = (label, get) => ({label, control: get(c), candidate: get(k)});
  return [
    row('Runs (total)', (s) => s.number_of_runs_total),
    ...keys.map((key) => row(key.replace(/_/g, ' '), (s) => (s.distribution_summary_statistics || {})[key])),
    ...pct.map((key) => row(key, (s) => (s.distribution_percentiles || {})[key])),
  ];
}

function analysis(results) {
  return h('section', {}, h('h2', {}, 'Distributions'),
    h('p', {class: 'muted'}, 'Each side\'s distribution of the metric over its succeeded runs.'),
    ...(results.metric_results || []).map((r) => h('details', {class: 'card analysis'},
      h('summary', {}, h('code', {}, r.metric.field), ` · ${r.metric.statistic} · `, verdictBadge(r.passed)),
      table({caption: `Distribution of ${r.metric.field}`, captionHidden: true, rows: sideRows(r), rowKey: (x) => x.label, columns: [
        {label: 'Statistic', render: (x) => x.label},
        {label: `Control (${r.statistics.control.instance_id})`, numeric: true, render: (x) => num(x.control)},
        {label: `Candidate (${r.statistics.candidate.instance_id})`, numeric: true, render: (x) => num(x.candidate)},
      ]}),
      r.analysis ? h('pre', {class: 'block'}, JSON.stringify(r.analysis, null, 2)) : null)));
}

function draw(el, app, t, path, ctx) {
  const results = t.results;
  const paired = h('div', {}, loading('Analysing the runs…'));
  const overall = results ? h('p', {class: 'overall'}, 'Overall: ', verdictBadge(results.passed),
    ` ${(results.metric_results || []).filter((r) => r.passed).length} of ${(results.metric_results || []).length} metrics passed`) : null;
  replace(el,
    h('div', {class: 'page-head'}, h('h1', {}, t.name || t.id), statusBadge(t.status)),
    t.description ? h('p', {}, t.description) : null,
    h('div', {class: 'card'}, facts([
      ['ID', idCode(t.id)],
      ['Batch experiment', h('a', {href: expUrl(app, 'batch', t.experiment_id || t.id)}, t.experiment_id || t.id)],
      ['Control', `${(t.control || {}).instance_id || '—'} (version ${(t.control || {}).version_id || '—'})`],
      ['Candidate', `${(t.candidate || {}).instance_id || '—'} (version ${(t.candidate || {}).version_id || '—'})`],
      ['Created', timeEl(t.created_at)],
    ])),
    h('h2', {}, 'Verdict'),
    results ? [overall, results.error ? h('div', {class: 'flash flash-error', role: 'alert'}, results.error) : null, verdictTable(results),
      h('section', {}, h('h2', {}, 'Statistical analysis'),
        h('p', {class: 'muted'}, 'The candidate against the control, runs paired by input, for each metric the test judges.'), paired),
      analysis(results)]
      : h('div', {class: 'empty-state'}, h('p', {}, 'The verdict appears when the batch experiment\'s runs have ended.')));
  if (results) drawAnalysis(paired, path, ctx);
}

export default async function render(root, params, query, ctx) {
  const {app, id} = params;
  ctx.setTitle(`Acceptance test ${id}`);
  const path = `${apiApp(app)}/experiments/acceptance/${encodeURIComponent(id)}`;
  const body = h('div', {});
  root.append(breadcrumbs([['Applications', '/apps'], [app, appUrl(app)], ['Experiments', experimentsUrl(app, 'acceptance')], [id]]), body);
  let test = await api.get(path, {}, {signal: ctx.signal});
  draw(body, app, test, path, ctx);
  if (test.results) return undefined;
  const stop = subscribe(`/v1/events?application_id=${encodeURIComponent(app)}&event_type=experiment.status`, {
    'experiment.status': async (event) => {
      if (((event && event.data) || {}).experiment_id !== (test.experiment_id || id)) return;
      test = await api.get(path, {}, {signal: ctx.signal});
      draw(body, app, test, path, ctx);
    },
  });
  return stop;
}
