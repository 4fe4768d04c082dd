// Ensembles: a definition (run groups and evaluation rules) with its recent ensemble runs, and an
// ensemble run's children with each rule's evaluation and the winner it chose.
import {api} from '../api.js';
import {statusBadge} from '../components/status.js';
import {facts, table} from '../components/table.js';
import {h, replace, timeEl} from '../dom.js';
import {appUrl} from '../links.js';
import {apiApp, breadcrumbs, ensembleRunUrl, ensembleUrl, experimentsUrl, idCode, itemsOf, loadInto, num, runUrl} from './exp-common.js';

const SCAN_PAGES = 4; // recent ensemble runs are found among the application's latest runs

const tolerance = (t) => (t ? `${t.type === 'relative' ? `${num(t.value * 100)} %` : num(t.value)} ${t.type}` : '—');

function rulesTable(rules) {
  return table({caption: 'Evaluation rules, applied in order', rows: [...rules].sort((a, b) => a.index - b.index), rowKey: (r) => r.id,
    empty: 'No rules.', columns: [
      {label: 'Order', numeric: true, render: (r) => num(r.index)}, {label: 'Rule', render: (r) => idCode(r.id)},
      {label: 'Statistic', render: (r) => h('code', {}, r.statistics_path)}, {label: 'Objective', render: (r) => r.objective},
      {label: 'Tolerance', render: (r) => tolerance(r.tolerance)},
    ]});
}

async function definition(root, app, id, ctx) {
  ctx.setTitle(`Ensemble ${id}`);
  const base = `${apiApp(app)}/ensembles/${encodeURIComponent(id)}`;
  root.append(breadcrumbs([['Applications', '/apps'], [app, appUrl(app)], ['Experiments', experimentsUrl(app, 'ensembles')], [id]]));
  const d = await api.get(base, {}, {signal: ctx.signal});
  const runsEl = h('div', {});
  root.append(h('h1', {}, d.name || d.id), d.description && d.description !== d.name ? h('p', {}, d.description) : null,
    h('div', {class: 'card'}, facts([['ID', idCode(d.id)], ['Created', timeEl(d.created_at)], ['Updated', timeEl(d.updated_at)]])),
    h('h2', {}, 'Run groups'),
    table({caption: 'Run groups: each ensemble run starts these child runs', captionHidden: true, rows: d.run_groups || [], rowKey: (g) => g.id,
      columns: [{label: 'Group', render: (g) => idCode(g.id)}, {label: 'Instance', render: (g) => idCode(g.instance_id)},
        {label: 'Options', render: (g) => Object.entries(g.options || {}).map(([k, v]) => `${k} = ${v}`).join(', ') || '(instance defaults)'},
        {label: 'Repetitions', numeric: true, render: (g) => num(g.repetitions ?? 1)}]}),
    h('h2', {}, 'Rules'), rulesTable(d.rules || []),
    h('h2', {}, 'Recent ensemble runs'), runsEl);
  const found = await loadInto(runsEl, 'ensemble runs', async () => {
    const out = [];
    let token = null;
    for (let i = 0; i < SCAN_PAGES; i += 1) {
      const page = await api.get(`${apiApp(app)}/runs`, {pagereturn: 'true', pagetoken: token}, {signal: ctx.signal});
      out.push(...itemsOf(page, 'runs').filter((r) => r.run_type && r.run_type.type === 'ensemble' && r.run_type.definition_id === id));
      token = page.next_page_token;
      if (!token) break;
    }
    return out;
  });
  if (found === undefined) return;
  replace(runsEl, table({caption: 'Ensemble runs of this definition', captionHidden: true, rows: found, rowKey: (r) => r.id,
    empty: `No ensemble run of this definition among the application's ${SCAN_PAGES * 50} latest runs.`, columns: [
      {label: 'Run', render: (r) => h('a', {href: ensembleRunUrl(app, r.id)}, r.name || r.id)},
      {label: 'Status', render: (r) => statusBadge(r.status_v2)}, {label: 'Created', render: (r) => timeEl(r.created_at)}]}));
}

async function ensembleRun(root, app, runId, ctx) {
  ctx.setTitle(`Ensemble run ${runId}`);
  const e = await api.get(`${apiApp(app)}/runs/${encodeURIComponent(runId)}/ensemble`, {}, {signal: ctx.signal});
  root.append(breadcrumbs([['Applications', '/apps'], [app, appUrl(app)], ['Ensemble', ensembleUrl(app, e.definition_id || '')], [runId]]),
    h('div', {class: 'page-head'}, h('h1', {}, `Ensemble run ${runId}`), statusBadge(e.status_v2)),
    h('div', {class: 'card'}, facts([
      ['Run', h('a', {href: runUrl(app, runId)}, 'Open the run')],
      ['Definition', e.definition_id ? h('a', {href: ensembleUrl(app, e.definition_id)}, e.definition_id) : '—'],
      ['Winner', e.winner_run_id ? h('a', {href: runUrl(app, e.winner_run_id), class: 'winner'}, e.winner_run_id) : 'none (yet)'],
    ])));
  const evaluations = e.rule_evaluations || [];
  const rules = Object.fromEntries((e.rules || []).map((r) => [r.id, r]));
  const last = evaluations.length ? evaluations[evaluations.length - 1] : null;
  const deciding = evaluations.find((ev) => (ev.kept || []).length === 1) || last;
  if (e.winner_run_id && deciding) {
    const rule = rules[deciding.rule_id] || {};
    root.append(h('p', {class: 'flash flash-info', role: 'status'}, `The winner was chosen by rule ${deciding.rule_id}: `,
      `${rule.objective || ''} ${rule.statistics_path || ''} (best ${num(deciding.best)}, tolerance ${tolerance(rule.tolerance)}).`));
  }
  const children = e.child_runs || [];
  root.append(h('h2', {}, 'Child runs'), table({caption: 'Child runs and their value under each rule', captionHidden: true, rows: children,
    rowKey: (c) => c.id, empty: 'No child runs.', columns: [
      {label: 'Run', render: (c) => h('a', {href: runUrl(app, c.id)}, c.id)},
      {label: 'Group', render: (c) => idCode(c.run_group_id)}, {label: 'Repetition', numeric: true, render: (c) => num(c.repetition)},
      {label: 'Instance', render: (c) => idCode(c.instance_id)}, {label: 'Status', render: (c) => statusBadge(c.status_v2)},
      ...evaluations.map((ev) => ({label: `Rule ${ev.rule_id}`, numeric: true, render: (c) => {
        const kept = (ev.kept || []).includes(c.id);
        return h('span', {}, num((ev.values || {})[c.id]), ' ', h('span', {class: 'muted small'}, kept ? '(kept)' : '(out)'));
      }})),
      {label: 'Result', render: (c) => (c.id === e.winner_run_id ? h('strong', {}, '★ winner') : c.error ? h('span', {class: 'muted'}, c.error) : '')},
    ]}), h('h2', {}, 'Rules'), rulesTable(e.rules || []));
}

export default async function render(root, params, query, ctx) {
  if (params.run) return ensembleRun(root, params.app, params.run, ctx);
  return definition(root, params.app, params.id, ctx);
}
