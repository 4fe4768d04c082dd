// A run: header with its status (live), the status timeline, and views of its details, input, output,
// log (following as it is written), custom asset tabs and flow graph; cancel and clone.
// The product's link /app/{app}/run/{run}?view=details lands here; ?view= names the open view.
import {api} from '../api.js';
import {h, replace, setTitle} from '../dom.js';
import {errorBox, notice} from '../components/flash.js';
import {TERMINAL} from '../components/status.js';
import {tabs} from '../components/tabs.js';
import {subscribe} from '../live.js';
import {assetTab, groupAssets, plainAssets} from '../run/assets.js';
import {ensureStyles, enc, runPath} from '../run/bits.js';
import {openClone} from '../run/clone.js';
import {detailsView} from '../run/details.js';
import {flowView} from '../run/flow.js';
import {applyStatusEvent, drawHeader, timesOf} from '../run/header.js';
import {ioView} from '../run/io.js';
import {LogView} from '../run/log.js';

const FLOW_POLL_MS = 5000;
const rank = (status) => (TERMINAL.has(status) ? 2 : status === 'running' ? 1 : 0);

async function optional(promise) {
  try { return await promise; } catch (err) { if (err.status === 404) return null; throw err; }
}

function confirmCancel(runId) {
  return new Promise((resolve) => {
    const dialog = h('dialog', {class: 'dialog', 'aria-labelledby': 'cancel-title', 'aria-describedby': 'cancel-text'},
      h('h2', {id: 'cancel-title'}, 'Cancel this run?'),
      h('p', {id: 'cancel-text'}, `Run ${runId} will be stopped; its process gets a moment to end. This cannot be undone.`),
      h('div', {class: 'dialog-actions'},
        h('button', {type: 'button', class: 'button', onclick: () => dialog.close('no')}, 'Keep it running'),
        h('button', {type: 'button', class: 'button danger', onclick: () => dialog.close('yes')}, 'Cancel the run')));
    dialog.addEventListener('close', () => { dialog.remove(); resolve(dialog.returnValue === 'yes'); });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector('button').focus();
  });
}

export default async function render(root, params, query, ctx) {
  ensureStyles();
  const appId = params.app;
  const runId = params.run;
  const base = runPath(appId, runId);
  setTitle(`Run ${runId}`);
  let info = await api.get(`${base}/metadata`);
  if (!ctx.session) await api.session();  // (api.can reads the cached session)
  const operator = api.can('operator');
  let status = info.metadata.status_v2;
  const times = timesOf(info);
  const cleanups = [];
  const urls = [];
  let flow = await optional(api.get(`${base}/flow`));
  let assets = TERMINAL.has(status) ? await api.get(`${base}/assets`).then((r) => r.items || []) : [];

  const slots = {badge: h('span', {class: 'run-status', role: 'status', 'aria-live': 'polite'}),
    facts: h('div', {class: 'run-facts'}), timeline: h('div', {class: 'run-timeline'})};
  const messages = h('div', {class: 'run-messages'});
  const cancel = h('button', {type: 'button', class: 'button danger', onclick: async () => {
    if (!await confirmCancel(runId)) return;
    cancel.disabled = true;
    try {
      await api.patch(`${base}/cancel`);
      replace(messages, notice('Cancel requested: the status changes here when the run has stopped.'));
    } catch (err) {
      cancel.disabled = false;
      replace(messages, errorBox(err, {title: 'The run could not be canceled'}));
    }
  }}, 'Cancel run');
  const clone = h('button', {type: 'button', class: 'button', onclick: () =>
    openClone(appId, info, ctx.navigate).catch((err) => replace(messages, errorBox(err, {title: 'The clone form could not be opened'})))},
  'Clone run');
  const actions = h('div', {class: 'actions'}, operator && !TERMINAL.has(status) ? cancel : null, operator ? clone : null);
  const title = h('h1', {}, info.name || runId);
  const log = new LogView(runId);
  const views = h('div', {class: 'run-views'});
  let viewsCleanup = () => {};

  const drawViews = () => {
    viewsCleanup();
    const hadFocus = views.contains(document.activeElement) && document.activeElement.getAttribute('role') === 'tab';
    const groups = groupAssets(assets);
    const tabCleanups = [];
    const items = [
      {id: 'details', label: 'Details', render: (p) => p.append(detailsView(info, status))},
      {id: 'input', label: 'Input', render: (p) => p.append(ioView({kind: 'input', appId, info, urls}))},
      {id: 'output', label: 'Output', render: (p) => p.append(ioView({kind: 'output', appId, info, urls}))},
      {id: 'logs', label: 'Log', render: (p) => { p.append(log.el); if (log.follow) log.scrollToEnd(); }},
      ...groups.tabs.map((g, i) => ({id: `asset-${i + 1}`, label: g.label, render: (p) => tabCleanups.push(assetTab(p, g, appId, runId))})),
    ];
    if (groups.plain.length) items.push({id: 'assets', label: 'Assets', render: (p) => plainAssets(p, groups.plain, appId, runId)});
    if (flow) items.push({id: 'flow', label: 'Flow', render: (p) => p.append(flowView(flow, appId))});
    const selected = currentView(items);
    const widget = tabs(items, {selected, label: 'Run views', onChange: (id) => ctx.setQuery({...ctx.currentQuery(), view: id})});
    replace(views, widget);
    if (hadFocus) widget.querySelector('[role=tab][aria-selected=true]').focus();
    viewsCleanup = () => tabCleanups.forEach((fn) => fn());
  };
  const currentView = (items) => {
    const view = ctx.currentQuery().view || query.view || 'details';
    return items.some((it) => it.id === view) ? view : 'details';
  };

  const refreshHeader = () => {
    drawHeader(slots, info, appId, status, times);
    if (TERMINAL.has(status)) cancel.remove();
  };

  replace(root,
    h('nav', {class: 'breadcrumbs', 'aria-label': 'Breadcrumb'}, h('ol', {},
      h('li', {}, h('a', {href: '/apps'}, 'Applications')),
      h('li', {}, h('a', {href: `/app/${enc(appId)}`}, appId)),
      h('li', {}, h('a', {href: `/app/${enc(appId)}/runs`}, 'Runs')),
      h('li', {}, h('span', {'aria-current': 'page'}, runId)))),
    h('div', {class: 'page-head'}, title, slots.badge, actions),
    messages,
    h('div', {class: 'run-top'}, h('div', {class: 'card'}, slots.facts), h('div', {class: 'card'}, h('h2', {}, 'Status timeline'), slots.timeline)),
    views);
  refreshHeader();
  drawViews();

  // When the run ends: its statistics, metrics, output and assets are read again and the views redrawn.
  let finishing = null;
  const finish = () => {
    finishing = finishing || (async () => {
      try {
        info = await api.get(`${base}/metadata`);
        status = info.metadata.status_v2;
        assets = await api.get(`${base}/assets`).then((r) => r.items || []);
        flow = await optional(api.get(`${base}/flow`)) || flow;
      } catch (err) {
        replace(messages, errorBox(err, {title: 'The finished run could not be read again'}));
      }
      refreshHeader();
      drawViews();
    })();
    return finishing;
  };

  const onStatus = (data) => {
    applyStatusEvent(times, data);
    const next = ((data && data.data) || {}).status_v2;
    // The stream replays the run's history first: an older status never takes a later one back.
    if (!next || rank(next) <= rank(status)) { refreshHeader(); return; }
    const ended = TERMINAL.has(next);
    status = next;
    info.metadata.status_v2 = next;
    if (!ended) info.metadata.initiated_at = times.started || info.metadata.initiated_at;
    refreshHeader();
    if (ended) finish();
  };
  const stop = subscribe(`${base}/events`, {
    open: () => log.setState(TERMINAL.has(status) ? 'Reading the log…' : 'Live: lines appear here as the run writes them.'),
    error: () => { if (!TERMINAL.has(status)) log.setState('The connection dropped; reconnecting…'); },
    status: onStatus,
    log: (data) => log.add(data),
    end: (data) => {
      stop();
      log.setState('The run has ended; this is its whole log.');
      if (data && data.status_v2 && data.status_v2 !== status) onStatus({data: {status_v2: data.status_v2}});
    },
  });
  cleanups.push(stop);
  if (!TERMINAL.has(status)) {
    const tick = setInterval(() => { if (status === 'running') refreshHeader(); }, 1000);
    cleanups.push(() => clearInterval(tick));
    const poll = setInterval(async () => {
      if (TERMINAL.has(status)) return;
      const fresh = await optional(api.get(`${base}/flow`)).catch(() => null);
      if (fresh && JSON.stringify(fresh) !== JSON.stringify(flow)) { flow = fresh; drawViews(); }
    }, FLOW_POLL_MS);
    cleanups.push(() => clearInterval(poll));
  }
  return () => {
    cleanups.forEach((fn) => fn());
    viewsCleanup();
    urls.forEach((u) => URL.revokeObjectURL(u));
    document.querySelectorAll('dialog.dialog').forEach((d) => d.remove());
  };
}
