// A shadow test or a switchback test: what it compares, its status (with start and stop for those who
// may), the summaries per instance, the paired/unpaired analysis, the switchback plan as a timeline,
// and its runs tagged baseline or candidate.
import {api} from '../api.js';
import {errorBox} from '../components/flash.js';
import {planTimeline} from '../components/plan-timeline.js';
import {statusBadge} from '../components/status.js';
import {facts, pager, table} from '../components/table.js';
import {fmtTime, h, replace, timeEl} from '../dom.js';
import {subscribe} from '../live.js';
import {appUrl} from '../links.js';
import {apiApp, breadcrumbs, distribution, drawAnalysis, experimentsUrl, groupValues, idCode, metricNames, num, runUrl} from './exp-common.js';

const PAGE = 50;

function summaries(groups) {
  const metrics = metricNames(groups);
  if (!metrics.length) return h('div', {class: 'empty-state'}, h('p', {}, 'No run has reported statistics yet.'));
  const rows = [];
  for (const m of metrics) for (const g of groups) rows.push({m, g, d: distribution(g, m)});
  return table({caption: 'Summary per instance and metric', rows, rowKey: (r) => `${r.m}|${(r.g.group_values || []).join('|')}`, columns: [
    {label: 'Metric', render: (r) => h('code', {}, r.m)},
    {label: 'Instance', render: (r) => idCode(groupValues(r.g).instance_id)},
    {label: 'Version', render: (r) => idCode(groupValues(r.g).version_id)},
    {label: 'Mean', numeric: true, render: (r) => num(r.d && r.d.mean)},
    {label: 'Median', numeric: true, render: (r) => num(r.d && r.d.percentiles.p50)},
    {label: 'p90', numeric: true, render: (r) => num(r.d && r.d.percentiles.p90)},
    {label: 'Min', numeric: true, render: (r) => num(r.d && r.d.min)},
    {label: 'Max', numeric: true, render: (r) => num(r.d && r.d.max)},
    {label: 'Count', numeric: true, render: (r) => num(r.d && r.d.count)},
  ]});
}

function runsTable(el, app, runs, switchback) {
  let page = 0;
  const draw = () => {
    const rows = runs.slice(page * PAGE, (page + 1) * PAGE);
    replace(el, table({caption: 'Runs of the test', captionHidden: true, rows, rowKey: (r) => r.id, empty: 'No runs yet.', columns: [
      {label: 'Run', render: (r) => h('a', {href: runUrl(app, r.id)}, r.name || r.id)},
      {label: 'Arm', render: (r) => h('span', {class: `badge arm-${r.arm}`}, r.arm)},
      switchback ? {label: 'Unit', numeric: true, render: (r) => num(r.unit_index)} : {label: 'Mirrors', render: (r) => (r.baseline_run_id ? idCode(r.baseline_run_id) : '—')},
      {label: 'Status', render: (r) => statusBadge(r.status_v2)},
      {label: 'Instance', render: (r) => idCode(r.application_instance_id)},
      {label: 'Created', render: (r) => timeEl(r.created_at)},
    ]}), runs.length > PAGE ? pager({label: 'Runs: pages', hasPrev: page > 0, hasNext: (page + 1) * PAGE < runs.length,
      status: `${page * PAGE + 1}–${Math.min(runs.length, (page + 1) * PAGE)} of ${runs.length}`,
      onPrev: () => { page -= 1; draw(); }, onNext: () => { page += 1; draw(); }}) : null);
  };
  draw();
}

function actions(t, path, reload) {
  if (!api.can('operator')) return null;
  const out = h('div', {class: 'actions'});
  const act = (label, method, suffix, body, cls = '') => h('button', {type: 'button', class: `button ${cls}`, onclick: async (event) => {
    event.target.disabled = true;
    try { await api.request(method, `${path}/${suffix}`, {body}); await reload(); } catch (err) { out.append(errorBox(err, {title: `${label} failed`})); event.target.disabled = false; }
  }}, label);
  if (t.status === 'draft') out.append(act('Start', 'PUT', 'start'));
  if (t.status === 'started') out.append(act('Complete', 'PUT', 'stop', {intent: 'complete'}), act('Cancel test', 'PUT', 'stop', {intent: 'cancel'}, 'danger'));
  return out;
}

export default async function render(root, params, query, ctx) {
  const {app, id} = params;
  const kind = location.pathname.includes('/experiments/switchback/') ? 'switchback' : 'shadow';
  const noun = kind === 'switchback' ? 'Switchback test' : 'Shadow test';
  ctx.setTitle(`${noun} ${id}`);
  const path = `${apiApp(app)}/experiments/${kind}/${encodeURIComponent(id)}`;
  const body = h('div', {});
  root.append(breadcrumbs([['Applications', '/apps'], [app, appUrl(app)], ['Experiments', experimentsUrl(app, kind)], [id]]), body);
  const load = async () => {
    const [t, runs] = await Promise.all([api.get(path, {}, {signal: ctx.signal}), api.get(`${path}/runs`, {}, {signal: ctx.signal})]);
    const compared = kind === 'switchback'
      ? [['Baseline', idCode((t.comparison || {}).baseline_instance_id)], ['Candidate', idCode((t.comparison || {}).candidate_instance_id)]]
      : (t.comparisons || []).flatMap((c) => [['Baseline', idCode(c.baseline_instance_id)],
        ['Candidates', (c.candidate_instance_ids || []).join(', ') || '—']]);
    const analysisEl = h('div', {});
    const runsEl = h('div', {});
    replace(body,
      h('div', {class: 'page-head'}, h('h1', {}, t.name || t.id), statusBadge(t.status), actions(t, path, load)),
      t.description ? h('p', {}, t.description) : null,
      h('div', {class: 'card'}, facts([
        ['Kind', noun], ['ID', idCode(t.id)], ...compared,
        kind === 'shadow' ? ['Ends after', `${(t.termination_events || {}).maximum_runs ?? '—'} runs${(t.termination_events || {}).time ? ` or at ${fmtTime(t.termination_events.time)}` : ''}`] : null,
        ['Runs', `${t.number_of_runs ?? 0} (${t.number_of_baseline_runs ?? 0} baseline, ${t.number_of_candidate_runs ?? 0} candidate), ${t.number_of_completed_runs ?? 0} ended`],
        ['Created', timeEl(t.created_at)], ['Started', t.started_at ? timeEl(t.started_at) : '—'], ['Completed', t.completed_at ? timeEl(t.completed_at) : '—'],
      ])),
      kind === 'switchback' ? [h('h2', {}, 'Plan'), (t.plan && (t.plan.units || []).length) ? planTimeline(t.plan.units, {
        start: t.plan.start, baseline: (t.comparison || {}).baseline_instance_id, candidate: (t.comparison || {}).candidate_instance_id})
        : h('p', {class: 'muted'}, 'No plan.')] : null,
      h('h2', {}, 'Summary'), summaries(t.grouped_distributional_summaries || []),
      h('h2', {}, 'Analysis'), analysisEl,
      h('h2', {}, 'Runs'), runsEl);
    runsTable(runsEl, app, runs.runs || [], kind === 'switchback');
    drawAnalysis(analysisEl, path, ctx);
    return t;
  };
  const t = await load();
  if (['completed', 'canceled', 'failed'].includes(t.status)) return undefined; // a draft may be started from here
  let timer = null;
  const stop = subscribe(`/v1/events?application_id=${encodeURIComponent(app)}&event_type=run.status`, {
    'run.status': () => { if (!timer) timer = setTimeout(() => { timer = null; load().catch(() => {}); }, 1000); },
  });
  return () => { stop(); clearTimeout(timer); };
}
