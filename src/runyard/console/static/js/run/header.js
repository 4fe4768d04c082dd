// The run's header: what it is, where it ran, its status (live), its times, and the status timeline.
import {fmtBytes, fmtDuration, fmtTime, h, replace, timeEl} from '../dom.js';
import {facts} from '../components/table.js';
import {statusBadge, TERMINAL} from '../components/status.js';
import {enc, runPage} from './bits.js';

/** The run's known times, refined by each status event: {created, started, ended, durationMs}. */
export function timesOf(info) {
  const m = info.metadata || {};
  const started = m.initiated_at || null;
  const ended = TERMINAL.has(m.status_v2) && started && m.duration ? new Date(Date.parse(started) + m.duration).toISOString() : null;
  return {created: m.created_at || null, started, ended, durationMs: TERMINAL.has(m.status_v2) ? m.duration : null};
}

/** Fold a run stream status event's data into `times`. */
export function applyStatusEvent(times, data) {
  const d = (data && data.data) || data || {};
  if (d.created_at) times.created = d.created_at;
  if (d.started_at) times.started = d.started_at;
  if (d.finished_at) times.ended = d.finished_at;
  if (d.duration_ms !== null && d.duration_ms !== undefined) times.durationMs = d.duration_ms;
  if (TERMINAL.has(d.status_v2) && !times.ended) times.ended = (data && data.created_at) || null;
}

function elapsed(times, status) {
  if (times.durationMs !== null && times.durationMs !== undefined && TERMINAL.has(status)) return fmtDuration(times.durationMs);
  if (status === 'running' && times.started) return `${fmtDuration(Date.now() - Date.parse(times.started))} so far`;
  return '';
}

/** The facts list under the title. */
export function summary(info, appId, status, times) {
  const m = info.metadata || {};
  const fmt = m.format || {};
  const inType = (fmt.input || {}).type || 'json';
  const outType = (fmt.output || {}).type || 'json';
  const cloned = (m.tracking || {}).cloned_run_id;
  return facts([
    ['Run ID', h('code', {}, info.id)],
    ['Application', h('a', {href: `/app/${enc(appId)}`}, appId)],
    ['Instance', m.application_instance_id || '—'],
    ['Version', m.application_version_id || '—'],
    ['Execution class', m.execution_class || '—'],
    ['Run type', (m.run_type || {}).type || 'standard'],
    ['Created', timeEl(times.created)],
    ['Started', timeEl(times.started)],
    ['Ended', timeEl(times.ended)],
    ['Duration', elapsed(times, status) || '—'],
    ['Input', `${inType} · ${fmtBytes(m.input_size || 0)}`],
    ['Output', TERMINAL.has(status) ? `${outType} · ${fmtBytes(m.output_size || 0)}` : outType],
    m.experiment_id ? ['Experiment', m.experiment_id] : null,
    cloned ? ['Cloned from', h('a', {href: runPage(appId, cloned)}, cloned)] : null,
    info.user_email ? ['Submitted by', info.user_email] : null,
    info.description ? ['Description', info.description] : null,
    m.error ? ['Error', h('span', {class: 'run-error'}, m.error)] : null,
  ]);
}

const STEPS = [
  {key: 'queued', label: 'Queued', time: (t) => t.created},
  {key: 'running', label: 'Running', time: (t) => t.started},
];

/** queued → running → the terminal state, each with its time; the current step is marked. */
export function timeline(status, times) {
  const reached = {queued: true, running: Boolean(times.started) || status !== 'queued', end: TERMINAL.has(status)};
  const items = STEPS.map((step) => {
    const done = reached[step.key];
    const current = status === step.key;
    return {label: step.label, time: step.time(times), state: current ? 'current' : done ? 'done' : 'pending', key: step.key};
  });
  const endKey = TERMINAL.has(status) ? status : 'ended';
  items.push({label: TERMINAL.has(status) ? status[0].toUpperCase() + status.slice(1) : 'Succeeded, failed or canceled',
    time: times.ended, state: reached.end ? 'current' : 'pending', key: endKey});
  if (status === 'canceled' && !times.started) items[1].state = 'skipped';
  return h('ol', {class: 'timeline', 'aria-label': 'Status timeline'}, items.map((item) =>
    h('li', {class: `timeline-step timeline-${item.state} timeline-${item.key}`,
      'aria-current': item.state === 'current' ? 'step' : null},
    h('span', {class: 'timeline-dot', 'aria-hidden': 'true'}),
    h('span', {class: 'timeline-label'}, item.label),
    h('span', {class: 'timeline-time'}, item.time ? h('time', {datetime: item.time, title: fmtTime(item.time)}, fmtTime(item.time))
      : item.state === 'skipped' ? 'never started' : item.state === 'pending' ? 'not yet' : '—'))));
}

/** Draw (or redraw) the header parts into their slots. */
export function drawHeader(slots, info, appId, status, times) {
  if (slots.badge.dataset.status !== status) {  // (a live region: announced only when the status changes)
    slots.badge.dataset.status = status;
    replace(slots.badge, statusBadge(status));
  }
  replace(slots.facts, summary(info, appId, status, times));
  replace(slots.timeline, timeline(status, times));
}
