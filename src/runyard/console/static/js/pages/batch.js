// A batch experiment or a scenario test: its summary per instance, version and option set for each
// metric (a box plot per group and a table), a scenarios × metrics grid for scenario tests, and its
// runs a page at a time. While it runs, counts and runs follow the account's event stream.
import {api} from '../api.js';
import {boxPlot} from '../components/charts.js';
import {errorBox, loading} from '../components/flash.js';
import {statusBadge} from '../components/status.js';
import {facts, table} from '../components/table.js';
import {h, replace, timeEl} from '../dom.js';
import {subscribe} from '../live.js';
import {appUrl} from '../links.js';
import {apiApp, breadcrumbs, distribution, drawAnalysis, experimentsUrl, groupLabel, groupValues, idCode, inputSetUrl, metricNames,
  num, runList, runValue} from './exp-common.js';

const STATISTICS = [['mean', 'Mean'], ['p50', 'Median'], ['p90', 'p90'], ['min', 'Min'], ['max', 'Max'], ['std', 'Std. dev.']];
export const statValue = (d, stat) => (d ? (stat.startsWith('p') ? (d.percentiles || {})[stat.length === 2 ? `p0${stat[1]}` : stat] : d[stat]) : null);

/** Summary rows of `metric`: one per group, with mean, median, p90, min, max and count. */
function summaryTable(groups, metric, scenario) {
  const columns = [
    {label: scenario ? 'Scenario' : 'Instance', render: (g) => (scenario ? groupValues(g).scenario_id : idCode(groupValues(g).instance_id))},
    scenario ? {label: 'Instance', render: (g) => idCode(groupValues(g).instance_id)} : null,
    {label: 'Version', render: (g) => idCode(groupValues(g).version_id)},
    {label: 'Option set', render: (g) => groupValues(g).option_set || h('span', {class: 'muted'}, '—')},
    {label: 'Runs (succeeded / total)', numeric: true, render: (g) => `${g.number_of_runs_succeeded ?? '—'} / ${g.number_of_runs_total ?? '—'}`},
    ...[['mean', 'Mean'], ['p50', 'Median'], ['p90', 'p90'], ['min', 'Min'], ['max', 'Max']].map(([stat, label]) =>
      ({label, numeric: true, render: (g) => num(statValue(distribution(g, metric), stat))})),
    {label: 'Count', numeric: true, render: (g) => num((distribution(g, metric) || {}).count)},
  ].filter(Boolean);
  return table({caption: `Summary of ${metric}`, columns, rows: groups, rowKey: (g) => (g.group_values || []).join('|'),
    empty: 'No group has values of this metric yet.'});
}

function boxesOf(groups, metric) {
  return groups.map((g) => ({g, d: distribution(g, metric)})).filter(({d}) => d && d.count > 0).map(({g, d}) => ({
    label: groupLabel(g, groups), min: d.min, q1: d.percentiles.p25, median: d.percentiles.p50, q3: d.percentiles.p75, max: d.max,
  }));
}

/** Scenarios × metrics: one row per scenario (and option set), one column per metric, cells of `stat`. */
function scenarioGrid(groups, metrics, stat) {
  const columns = [
    {label: 'Scenario', render: (g) => h('span', {}, groupValues(g).scenario_id || '—')},
    {label: 'Option set', render: (g) => groupValues(g).option_set || '—'},
    {label: 'Runs', numeric: true, render: (g) => `${g.number_of_runs_succeeded ?? '—'} / ${g.number_of_runs_total ?? '—'}`},
    ...metrics.map((m) => ({label: m, numeric: true, render: (g) => num(statValue(distribution(g, m), stat))})),
  ];
  return table({caption: `Scenarios × metrics (${(STATISTICS.find(([v]) => v === stat) || [stat, stat])[1].toLowerCase()} of each metric)`, columns, rows: groups, className: 'scenario-grid',
    rowKey: (g) => (g.group_values || []).join('|'), empty: 'No scenario has finished yet.'});
}

function labelled(id, label, control) {
  control.id = id;
  return h('div', {class: 'field'}, h('label', {for: id}, label), control);
}

function drawSummary(el, exp, kind) {
  const groups = exp.grouped_distributional_summaries || [];
  const metrics = metricNames(groups);
  if (!metrics.length) {
    replace(el, h('div', {class: 'empty-state'}, h('p', {}, exp.status === 'started'
      ? 'The summary appears when every run has ended.' : 'No run reported numeric statistics or metrics.')));
    return;
  }
  const metricSelect = h('select', {}, metrics.map((m) => h('option', {value: m}, m)));
  const statSelect = h('select', {}, STATISTICS.map(([v, l]) => h('option', {value: v}, l)));
  const chart = h('div', {});
  const summary = h('div', {});
  const grid = h('div', {});
  const draw = () => {
    const metric = metricSelect.value;
    const boxes = boxesOf(groups, metric);
    replace(chart, boxes.length ? boxPlot(boxes, {title: `${metric}: distribution per ${kind === 'scenario' ? 'scenario' : 'instance'} (box: p25–p75, line: median, whiskers: min–max)`, width: 900})
      : h('p', {class: 'muted'}, `No values of ${metric} yet.`));
    replace(summary, summaryTable(groups, metric, kind === 'scenario'));
    if (kind === 'scenario') replace(grid, h('h2', {}, 'Scenarios × metrics'), scenarioGrid(groups, metrics, statSelect.value));
  };
  metricSelect.addEventListener('change', draw);
  statSelect.addEventListener('change', draw);
  replace(el, h('div', {class: 'filters'}, labelled('metric-select', 'Metric', metricSelect),
    kind === 'scenario' ? labelled('stat-select', 'Statistic in the grid', statSelect) : null),
  kind === 'scenario' ? grid : null, h('h2', {}, 'Distribution'), chart, h('h2', {}, 'Summary'), summary);
  draw();
}

function optionSets(exp) {
  const sets = Object.entries(exp.option_sets || {});
  if (!sets.length) return null;
  return h('section', {}, h('h2', {}, 'Option sets'), table({caption: 'Option sets', captionHidden: true, rows: sets,
    columns: [{label: 'Option set', render: ([name]) => name},
      {label: 'Options', render: ([, opts]) => Object.entries(opts).map(([k, v]) => `${k} = ${v}`).join(', ') || '(defaults)'}]}));
}

export default async function render(root, params, query, ctx) {
  const {app, id} = params;
  const kind = ctx.kind || (location.pathname.includes('/experiments/scenario/') ? 'scenario' : 'batch');
  const noun = kind === 'scenario' ? 'Scenario test' : 'Batch experiment';
  ctx.setTitle(`${noun} ${id}`);
  const path = `${apiApp(app)}/experiments/batch/${encodeURIComponent(id)}`;
  const head = h('div', {}, loading(`Loading the ${noun.toLowerCase()}…`));
  const summaryEl = h('section', {'aria-label': 'Results'});
  const runsEl = h('div', {});
  root.append(breadcrumbs([['Applications', '/apps'], [app, appUrl(app)], ['Experiments', experimentsUrl(app, kind)], [id]]), head);
  // The run list's first page is asked for with the experiment, not after it: one round trip less.
  const firstRuns = api.get(`${path}/runs`, {pagereturn: 'true'}, {signal: ctx.signal});
  firstRuns.catch(() => {}); // (shown by the run list, if the experiment loads)
  let exp = await api.get(path, {}, {signal: ctx.signal});
  const headline = () => h('div', {},
    h('div', {class: 'page-head'}, h('h1', {}, exp.name || exp.id), statusBadge(exp.status)),
    exp.description ? h('p', {}, exp.description) : null,
    h('div', {class: 'card'}, facts([
      ['Kind', noun], ['ID', idCode(exp.id)],
      ['Input set', exp.input_set_id ? h('a', {href: inputSetUrl(app, exp.input_set_id)}, exp.input_set_id) : '—'],
      ['Instances', (exp.instance_ids || []).length ? exp.instance_ids.join(', ') : '—'],
      ['Runs', h('span', {class: 'exp-progress'}, `${exp.number_of_completed_runs ?? 0} of ${exp.number_of_runs ?? 0} ended · ${exp.number_of_succeeded_runs ?? 0} succeeded · ${exp.number_of_failed_runs ?? 0} failed`)],
      ['Created', timeEl(exp.created_at)], ['Completed', exp.completed_at ? timeEl(exp.completed_at) : '—'],
    ])));
  replace(head, headline());
  const compared = kind === 'batch' && (exp.instance_ids || []).length > 1;
  const analysisEl = h('div', {}, exp.status === 'started'
    ? h('p', {class: 'empty-state'}, 'The comparison appears when the runs have ended.') : loading('Analysing the runs…'));
  root.append(summaryEl, optionSets(exp) || '',
    compared ? h('section', {}, h('h2', {}, 'Against the baseline'),
      h('p', {class: 'muted'}, `Each instance against ${exp.instance_ids[0]}, runs paired by input, scenario and repetition.`),
      analysisEl) : '',
    h('h2', {}, 'Runs'), runsEl);
  drawSummary(summaryEl, exp, kind);
  if (compared && exp.status !== 'started') drawAnalysis(analysisEl, path, ctx);
  const metric = () => (root.querySelector('#metric-select') || {}).value;
  const runs = runList(runsEl, ctx, {path: `${path}/runs`, app, caption: `Runs of ${exp.name || exp.id}`, extraColumns: [
    {label: kind === 'scenario' ? 'Scenario' : 'Instance', render: (r) => (kind === 'scenario' ? r.scenario_id || '—' : idCode(r.application_instance_id))},
    {label: 'Version', render: (r) => idCode(r.application_version_id)},
    {label: 'Option set', render: (r) => r.option_set || '—'},
    {label: 'Input', render: (r) => (r.input_id ? idCode(r.input_id) : '—')},
    {label: metric() || 'Value', numeric: true, render: (r) => num(runValue(r, metric() || 'result.value'))},
  ], empty: 'This experiment has no runs.', first: firstRuns});
  if (exp.status !== 'started') return undefined;
  let timer = null;
  const refresh = () => {
    if (timer) return;
    timer = setTimeout(async () => {
      timer = null;
      try {
        exp = await api.get(path, {}, {signal: ctx.signal});
      } catch (err) {
        if (err.name !== 'AbortError') head.append(errorBox(err, {title: 'The experiment could not be refreshed'}));
        return;
      }
      replace(head, headline());
      if (exp.status !== 'started') drawSummary(summaryEl, exp, kind);
      runs.reload();
    }, 500);
  };
  const stop = subscribe(`/v1/events?application_id=${encodeURIComponent(app)}&event_type=run.status&event_type=experiment.status`, {
    'run.status': (event) => { if (((event && event.data) || {}).experiment_id === id) refresh(); },
    'experiment.status': (event) => { if (((event && event.data) || {}).experiment_id === id) refresh(); },
  });
  return () => { stop(); clearTimeout(timer); };
}
