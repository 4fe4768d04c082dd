// Webhooks: the account's endpoints, and one webhook's delivery log (each delivery's attempts with
// status codes and latency), with "send a test event" and "redeliver" for the roles the API allows.
import {api} from '../api.js';
import {errorBox, loading, notice} from '../components/flash.js';
import {facts, pager, table} from '../components/table.js';
import {h, replace, timeEl} from '../dom.js';
import {subscribe} from '../live.js';
import {breadcrumbs, idCode, num} from './exp-common.js';

const EVENT_TYPES = ['run.status', 'version.pushed', 'experiment.status', 'ensemble.winner', 'queue.wait'];
const webhookUrl = (id) => `/webhooks/${encodeURIComponent(id)}`;
const STATE_BADGE = {succeeded: 'status-succeeded', failed: 'status-failed', pending: 'status-queued', canceled: 'status-canceled'};

function stateBadge(state) {
  const shape = {succeeded: '✓', failed: '✕', pending: '○', canceled: '⊘'}[state] || '•';
  return h('span', {class: `badge ${STATE_BADGE[state] || 'neutral'}`, 'data-state': state}, h('span', {'aria-hidden': 'true'}, `${shape} `), state);
}

function hookStatus(w) {
  return w.status === 'enabled' ? h('span', {class: 'badge status-succeeded'}, '✓ enabled')
    : h('span', {class: 'badge status-failed', title: w.disabled_reason || ''}, `✕ ${w.status}`);
}

function createForm(onCreated, messages) {
  const url = h('input', {type: 'url', required: true, placeholder: 'https://example.com/hooks/runyard', size: 50});
  url.id = 'new-webhook-url';
  const boxes = EVENT_TYPES.map((t) => h('label', {class: 'check'}, h('input', {type: 'checkbox', value: t, checked: t === 'run.status'}), ` ${t}`));
  const form = h('form', {'aria-label': 'New webhook', class: 'card'},
    h('div', {class: 'field'}, h('label', {for: 'new-webhook-url'}, 'Endpoint URL'), url),
    h('fieldset', {}, h('legend', {}, 'Events'), boxes),
    h('button', {type: 'submit', class: 'button primary'}, 'Create webhook'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const types = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    try {
      const w = await api.post('/v1/webhooks', {endpoint_url: url.value.trim(), event_types: types});
      replace(messages, notice(`Webhook ${w.id} created.`));
      url.value = '';
      onCreated();
    } catch (err) {
      replace(messages, errorBox(err, {title: 'The webhook could not be created'}));
    }
  });
  return form;
}

async function list(root, ctx) {
  ctx.setTitle('Webhooks');
  const body = h('div', {}, loading('Loading webhooks…'));
  const messages = h('div', {});
  root.append(h('h1', {}, 'Webhooks'),
    h('p', {class: 'muted'}, 'Endpoints that receive this account\'s events, signed, retried with backoff and logged.'), messages, body);
  const draw = async () => {
    const answer = await api.get('/v1/webhooks', {}, {signal: ctx.signal});
    replace(body, table({caption: 'Webhooks', captionHidden: true, rows: answer.items || [], rowKey: (w) => w.id,
      empty: 'No webhooks yet.', columns: [
        {label: 'Webhook', render: (w) => h('a', {href: webhookUrl(w.id)}, w.id)},
        {label: 'Endpoint', render: (w) => h('code', {}, w.endpoint_url)},
        {label: 'Events', render: (w) => (w.event_types || []).join(', ')},
        {label: 'State', render: hookStatus},
        {label: 'Failures in a row', numeric: true, render: (w) => num(w.consecutive_failures)},
        {label: 'Created', render: (w) => timeEl(w.created_at)}]}));
  };
  await draw();
  if (api.can('developer')) root.append(h('h2', {}, 'Add a webhook'), createForm(draw, messages));
}

function attemptsTable(d) {
  return table({caption: `Attempts of delivery ${d.id}`, captionHidden: true, rows: d.attempts || [], rowKey: (a) => String(a.number),
    empty: 'Not attempted yet.', columns: [
      {label: 'Attempt', numeric: true, render: (a) => num(a.number)}, {label: 'Started', render: (a) => timeEl(a.started_at)},
      {label: 'Status code', numeric: true, render: (a) => (a.status_code ? String(a.status_code) : '—')},
      {label: 'Latency', numeric: true, render: (a) => `${num(a.latency_ms)} ms`},
      {label: 'Response or error', render: (a) => a.error || a.response || ''}]});
}

async function detail(root, id, ctx) {
  ctx.setTitle(`Webhook ${id}`);
  const path = `/v1/webhooks/${encodeURIComponent(id)}`;
  const messages = h('div', {});
  const deliveriesEl = h('div', {}, loading('Loading deliveries…'));
  root.append(breadcrumbs([['Webhooks', '/webhooks'], [id]]));
  const w = await api.get(path, {}, {signal: ctx.signal});
  const mayAct = api.can('developer');
  const testButton = mayAct ? h('button', {type: 'button', class: 'button', onclick: async () => {
    try {
      const d = await api.post(`${path}/test`);
      replace(messages, notice(`Test event sent as delivery ${d.id}.`));
      await draw();
    } catch (err) { replace(messages, errorBox(err, {title: 'The test event could not be sent'})); }
  }}, 'Send a test event') : null;
  root.append(h('div', {class: 'page-head'}, h('h1', {}, `Webhook ${w.id}`), hookStatus(w), h('div', {class: 'actions'}, testButton)),
    h('div', {class: 'card'}, facts([['Endpoint', h('code', {}, w.endpoint_url)], ['Events', (w.event_types || []).join(', ')],
      ['Description', w.description], ['Failures in a row', num(w.consecutive_failures)],
      w.disabled_reason ? ['Disabled because', w.disabled_reason] : null, ['Created', timeEl(w.created_at)]])),
    messages, h('h2', {}, 'Deliveries'), deliveriesEl);
  const tokens = [null];
  const redeliver = (d) => h('button', {type: 'button', class: 'button small', 'aria-label': `Redeliver ${d.id}`, onclick: async (event) => {
    event.target.disabled = true;
    try {
      await api.post(`${path}/deliveries/${encodeURIComponent(d.id)}/redeliver`);
      replace(messages, notice(`Delivery ${d.id} queued again.`));
      await draw();
    } catch (err) { event.target.disabled = false; replace(messages, errorBox(err, {title: 'The delivery could not be sent again'})); }
  }}, 'Redeliver');
  let pending = false;
  async function draw() {
    let page;
    try {
      page = await api.get(`${path}/deliveries`, {pagetoken: tokens[tokens.length - 1]}, {signal: ctx.signal});
    } catch (err) {
      if (err.name !== 'AbortError') replace(deliveriesEl, errorBox(err, {title: 'The deliveries could not be loaded'}));
      return;
    }
    const rows = page.items || [];
    pending = rows.some((d) => d.state === 'pending');
    replace(deliveriesEl, table({caption: 'Deliveries, newest first', captionHidden: true, rows, rowKey: (d) => d.id,
      empty: 'No deliveries yet: they appear when a subscribed event happens (or "Send a test event").', columns: [
        {label: 'Delivery', render: (d) => h('details', {}, h('summary', {}, idCode(d.id)), attemptsTable(d))},
        {label: 'Event', render: (d) => d.event_type}, {label: 'Subject', render: (d) => (d.subject ? idCode(d.subject) : h('span', {class: 'muted'}, 'test event'))},
        {label: 'State', render: (d) => stateBadge(d.state)},
        {label: 'Attempts', numeric: true, render: (d) => num(d.attempt_count)},
        {label: 'Last status code', numeric: true, render: (d) => (d.last_status_code ? String(d.last_status_code) : '—')},
        {label: 'Created', render: (d) => timeEl(d.created_at)},
        mayAct ? {label: 'Actions', render: (d) => (d.state === 'pending' ? '' : redeliver(d))} : null,
      ].filter(Boolean)}),
    tokens.length > 1 || page.next_page_token ? pager({label: 'Deliveries: pages', hasPrev: tokens.length > 1, hasNext: Boolean(page.next_page_token),
      onPrev: () => { tokens.pop(); draw(); }, onNext: () => { tokens.push(page.next_page_token); draw(); }}) : null);
  }
  await draw();
  // New deliveries follow the account's events; a pending one is looked at again until it settles.
  let timer = null;
  const soon = (ms = 1000) => { if (!timer) timer = setTimeout(() => { timer = null; if (tokens.length === 1) draw(); }, ms); };
  const stop = subscribe('/v1/events', {message: () => soon(), 'run.status': () => soon(), 'experiment.status': () => soon()});
  const poll = setInterval(() => { if (pending) soon(0); }, 2000);
  return () => { stop(); clearTimeout(timer); clearInterval(poll); };
}

export default async function render(root, params, query, ctx) {
  if (params.id) return detail(root, params.id, ctx);
  return list(root, ctx);
}
