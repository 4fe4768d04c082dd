// Experiments of an application: batch experiments, acceptance, scenario, shadow and switchback tests,
// and ensemble definitions, one tab each. At /experiments an application picker comes first.
import {statusBadge} from '../components/status.js';
import {tabs} from '../components/tabs.js';
import {h, replace, timeEl} from '../dom.js';
import {appUrl} from '../links.js';
import {apiApp, appPicker, breadcrumbs, ensembleUrl, expUrl, idCode, pagedTable} from './exp-common.js';

const nameCell = (app, kind) => (e) => h('a', {href: expUrl(app, kind, e.id)}, e.name || e.id);
const progress = (e) => (e.number_of_runs === undefined ? '—'
  : `${e.number_of_completed_runs ?? 0} / ${e.number_of_requested_runs || e.number_of_runs}`);

function verdict(t) {
  const passed = t.results && t.results.passed;
  if (!t.results) return h('span', {class: 'muted'}, 'not yet');
  return h('span', {class: `badge ${passed ? 'status-succeeded' : 'status-failed'}`}, passed ? '✓ passed' : '✕ failed');
}

export const TABS = [
  {id: 'batch', label: 'Batch experiments', path: (a) => `${apiApp(a)}/experiments/batch`, query: {type: 'batch'},
    empty: 'No batch experiments yet. Start one with the SDK (new_batch_experiment) or `runyard experiment batch`.',
    columns: (a) => [{label: 'Name', render: nameCell(a, 'batch')}, {label: 'ID', render: (e) => idCode(e.id)},
      {label: 'Status', render: (e) => statusBadge(e.status)}, {label: 'Runs ended', numeric: true, render: progress},
      {label: 'Created', render: (e) => timeEl(e.created_at)}]},
  {id: 'acceptance', label: 'Acceptance tests', path: (a) => `${apiApp(a)}/experiments/acceptance`,
    empty: 'No acceptance tests yet. Create one with the SDK (new_acceptance_test).',
    columns: (a) => [{label: 'Name', render: nameCell(a, 'acceptance')}, {label: 'ID', render: (e) => idCode(e.id)},
      {label: 'Status', render: (e) => statusBadge(e.status)}, {label: 'Verdict', render: verdict},
      {label: 'Control', render: (t) => idCode((t.control || {}).instance_id)},
      {label: 'Candidate', render: (t) => idCode((t.candidate || {}).instance_id)},
      {label: 'Created', render: (e) => timeEl(e.created_at)}]},
  {id: 'scenario', label: 'Scenario tests', path: (a) => `${apiApp(a)}/experiments/batch`, query: {type: 'scenario'},
    empty: 'No scenario tests yet. Create one with the SDK (new_scenario_test).',
    columns: (a) => [{label: 'Name', render: nameCell(a, 'scenario')}, {label: 'ID', render: (e) => idCode(e.id)},
      {label: 'Status', render: (e) => statusBadge(e.status)}, {label: 'Runs ended', numeric: true, render: progress},
      {label: 'Created', render: (e) => timeEl(e.created_at)}]},
  {id: 'shadow', label: 'Shadow tests', path: (a) => `${apiApp(a)}/experiments/shadow`,
    empty: 'No shadow tests yet. Create one with the SDK (new_shadow_test).',
    columns: (a) => [{label: 'Name', render: nameCell(a, 'shadow')}, {label: 'ID', render: (e) => idCode(e.id)},
      {label: 'Status', render: (e) => statusBadge(e.status)}, {label: 'Created', render: (e) => timeEl(e.created_at)}]},
  {id: 'switchback', label: 'Switchback tests', path: (a) => `${apiApp(a)}/experiments/switchback`,
    empty: 'No switchback tests yet. Create one with the SDK (new_switchback_test).',
    columns: (a) => [{label: 'Name', render: nameCell(a, 'switchback')}, {label: 'ID', render: (e) => idCode(e.id)},
      {label: 'Status', render: (e) => statusBadge(e.status)}, {label: 'Created', render: (e) => timeEl(e.created_at)}]},
  {id: 'ensembles', label: 'Ensembles', path: (a) => `${apiApp(a)}/ensembles`,
    empty: 'No ensemble definitions yet. Create one with the SDK (new_ensemble_definition).',
    columns: (a) => [{label: 'Name', render: (d) => h('a', {href: ensembleUrl(a, d.id)}, d.name || d.id)},
      {label: 'ID', render: (d) => idCode(d.id)}, {label: 'Run groups', numeric: true, render: (d) => (d.run_groups || []).length},
      {label: 'Rules', numeric: true, render: (d) => (d.rules || []).length}, {label: 'Created', render: (d) => timeEl(d.created_at)}]},
];

function drawTabs(el, ctx, app, selected) {
  replace(el, tabs(TABS.map((t) => ({id: t.id, label: t.label, render: (panel) => {
    const body = h('div', {});
    panel.append(h('h2', {class: 'visually-hidden'}, t.label), body);
    pagedTable(body, ctx, {path: t.path(app), query: t.query, columns: t.columns(app), caption: t.label, empty: t.empty});
  }})), {selected, label: 'Kinds of experiment', onChange: (id) => ctx.setQuery({...ctx.currentQuery(), tab: id})}));
}

export default async function render(root, params, query, ctx) {
  ctx.setTitle(params.app ? `Experiments · ${params.app}` : 'Experiments');
  const body = h('div', {});
  if (params.app) {
    root.append(breadcrumbs([['Applications', '/apps'], [params.app, appUrl(params.app)], ['Experiments']]),
      h('h1', {}, 'Experiments'), body);
    drawTabs(body, ctx, params.app, query.tab);
    return;
  }
  root.append(h('h1', {}, 'Experiments'),
    h('p', {class: 'muted'}, 'Batch experiments and tests compare instances of an application on the same inputs.'));
  const picker = await appPicker(ctx, query, (app) => drawTabs(body, ctx, app, ctx.currentQuery().tab));
  root.append(picker.element, body);
  if (picker.app) drawTabs(body, ctx, picker.app, query.tab);
}
