// The account's queue: running and queued runs by execution class, in the order they will be served
// (priority 1 first, then age), following the event stream so it changes without a reload.
import {api} from '../api.js';
import {errorBox, loading} from '../components/flash.js';
import {statusBadge} from '../components/status.js';
import {table} from '../components/table.js';
import {h, replace, timeEl} from '../dom.js';
import {subscribe} from '../live.js';
import {idCode, runUrl} from './exp-common.js';

function classSection(name, runs) {
  const running = runs.filter((r) => r.status_v2 === 'running');
  const queued = runs.filter((r) => r.status_v2 === 'queued')
    .sort((a, b) => (a.queuing_priority - b.queuing_priority) || String(a.created_at).localeCompare(String(b.created_at)));
  const columns = (withPosition) => [
    withPosition ? {label: 'Position', numeric: true, render: (r) => String(queued.indexOf(r) + 1)} : null,
    {label: 'Run', render: (r) => h('a', {href: runUrl(r.application_id, r.id)}, r.name || r.id)},
    {label: 'Status', render: (r) => statusBadge(r.status_v2)},
    {label: 'Priority', numeric: true, render: (r) => String(r.queuing_priority ?? '—')},
    {label: 'Application', render: (r) => idCode(r.application_id)},
    {label: 'Instance', render: (r) => idCode(r.application_instance_id)},
    {label: 'Submitted', render: (r) => timeEl(r.created_at)},
  ].filter(Boolean);
  const id = `class-${name.replace(/[^a-z0-9]+/gi, '-')}`;
  return h('section', {class: 'queue-class', 'aria-labelledby': id, 'data-class': name},
    h('h2', {id}, 'Execution class ', h('code', {}, name), ` · ${running.length} running, ${queued.length} queued`),
    table({caption: `Running in ${name}`, columns: columns(false), rows: running, rowKey: (r) => r.id, empty: 'Nothing running in this class.'}),
    table({caption: `Queued in ${name}, in the order they will start`, columns: columns(true), rows: queued, rowKey: (r) => r.id,
      empty: 'Nothing waiting in this class.'}));
}

export default async function render(root, params, query, ctx) {
  ctx.setTitle('Queue');
  const indicator = h('span', {class: 'live-indicator', 'data-state': 'connecting', role: 'status'}, 'connecting…');
  const body = h('div', {}, loading('Loading the queue…'));
  const stamp = h('p', {class: 'muted small'});
  root.append(h('div', {class: 'page-head'}, h('h1', {}, 'Queue'), indicator),
    h('p', {class: 'muted'}, 'Runs waiting or executing in this account. Each execution class serves priority 1 first, then the oldest.'),
    body, stamp);
  const draw = async () => {
    let answer;
    try {
      answer = await api.get('/v1/account/queue', {}, {signal: ctx.signal});
    } catch (err) {
      if (err.name !== 'AbortError') replace(body, errorBox(err, {title: 'The queue could not be loaded'}));
      return;
    }
    const runs = answer.runs || [];
    const classes = new Map();
    for (const r of runs) {
      if (!classes.has(r.execution_class)) classes.set(r.execution_class, []);
      classes.get(r.execution_class).push(r);
    }
    replace(body, runs.length ? [...classes.keys()].sort().map((name) => classSection(name, classes.get(name)))
      : h('div', {class: 'empty-state'}, h('p', {}, 'The queue is empty: no run is waiting or running.')));
    replace(stamp, `Updated ${new Date().toLocaleTimeString()}.`);
  };
  await draw();
  let timer = null;
  const soon = () => { if (!timer) timer = setTimeout(() => { timer = null; draw(); }, 250); };
  const stop = subscribe('/v1/events?event_type=run.status', {
    open: () => { indicator.dataset.state = 'live'; indicator.textContent = 'live'; soon(); },
    error: () => { indicator.dataset.state = 'offline'; indicator.textContent = 'reconnecting…'; },
    'run.status': soon,
  });
  return () => { stop(); clearTimeout(timer); };
}
