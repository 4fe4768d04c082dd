// Runs: an application's (/app/{app}/runs) or the whole account's (/runs), filtered by status,
// instance, version and time (all in the URL), a page at a time, with statuses that change live.
import {api} from '../api.js';
import {errorBox, flash, loading} from '../components/flash.js';
import {followRuns, runColumns} from '../components/runs.js';
import {TERMINAL} from '../components/status.js';
import {pager, table} from '../components/table.js';
import {append, h, replace} from '../dom.js';
import {apiApp, appUrl} from '../links.js';
import {subscribe} from '../live.js';

const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'];
const FILTERS = ['app', 'status', 'instance', 'version', 'from', 'to'];
const PAGE_SIZE = 25;

const items = (page) => (Array.isArray(page) ? page : page.items || page.runs || []);

/** A datetime-local value ("2026-12-05T10:30") as an ISO time in UTC, for the API. */
function iso(local) {
  if (!local) return null;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** The API's query for the page's filters (the API of the runs list: see docs/console.md). */
export function apiQuery(filters, token, limit = PAGE_SIZE) {
  return {
    pagereturn: 'true', pagetoken: token || null, limit, application_id: filters.app || null,
    status: filters.status || null, instance_id: filters.instance || null, version_id: filters.version || null,
    created_after: iso(filters.from), created_before: iso(filters.to),
  };
}

function matches(run, filters, appId) {
  if ((appId || filters.app) && run.application_id !== (appId || filters.app)) return false;
  if (filters.status && run.status_v2 !== filters.status) return false;
  if (filters.instance && run.application_instance_id !== filters.instance) return false;
  if (filters.version && run.application_version_id !== filters.version) return false;
  return !filters.from && !filters.to; // a new run is "now": shown unless a time range is set
}

function select(id, label, value, options) {
  return h('div', {class: 'field'}, h('label', {for: id}, label),
    h('select', {id, name: id}, h('option', {value: ''}, 'Any'),
      options.map((o) => h('option', {value: o.value, selected: o.value === value}, o.label))));
}

function dateField(id, label, value) {
  return h('div', {class: 'field'}, h('label', {for: id}, label), h('input', {id, name: id, type: 'datetime-local', value: value || ''}));
}

export default async function render(root, params, query, ctx) {
  const appId = params.app || null;
  const filters = Object.fromEntries(FILTERS.map((k) => [k, typeof query[k] === 'string' ? query[k] : '']));
  const title = appId ? `Runs of ${appId}` : 'Runs';
  ctx.setTitle(title);
  const listUrl = appId ? `${apiApp(appId)}/runs` : '/v1/runs';
  const limit = Math.min(100, Math.max(1, Number.parseInt(query.limit, 10) || PAGE_SIZE));
  let instanceOptions = [];
  let versionOptions = [];
  let appOptions = [];
  if (!appId) {
    const apps = await api.get('/v1/applications', {pagereturn: 'true'}, {signal: ctx.signal});
    appOptions = items(apps).map((a) => ({value: a.id, label: a.name && a.name !== a.id ? `${a.name} (${a.id})` : a.id}));
    if (filters.app && !appOptions.some((o) => o.value === filters.app)) appOptions.push({value: filters.app, label: filters.app});
  }
  if (appId) {
    const [instances, versions] = await Promise.all([
      api.get(`${apiApp(appId)}/instances`, {}, {signal: ctx.signal}),
      api.get(`${apiApp(appId)}/versions`, {}, {signal: ctx.signal}),
    ]);
    instanceOptions = items(instances).map((i) => ({value: i.id, label: i.name && i.name !== i.id ? `${i.name} (${i.id})` : i.id}));
    for (const builtIn of ['latest', 'devint']) { // every app has these two, running its latest pushed code
      if (!instanceOptions.some((o) => o.value === builtIn)) instanceOptions.push({value: builtIn, label: `${builtIn} (built-in)`});
    }
    versionOptions = items(versions).map((v) => ({value: v.id, label: v.name && v.name !== v.id ? `${v.name} (${v.id})` : v.id}));
  }

  const form = h('form', {class: 'filters', role: 'search', 'aria-label': 'Filter runs'},
    appId ? null : select('app', 'Application', filters.app, appOptions),
    select('status', 'Status', filters.status, STATUSES.map((s) => ({value: s, label: s}))),
    appId ? select('instance', 'Instance', filters.instance, instanceOptions)
      : h('div', {class: 'field'}, h('label', {for: 'instance'}, 'Instance'), h('input', {id: 'instance', name: 'instance', value: filters.instance, size: 14})),
    appId ? select('version', 'Version', filters.version, versionOptions)
      : h('div', {class: 'field'}, h('label', {for: 'version'}, 'Version'), h('input', {id: 'version', name: 'version', value: filters.version, size: 14})),
    dateField('from', 'Created from', filters.from),
    dateField('to', 'Created until', filters.to),
    h('div', {class: 'field'}, h('button', {type: 'submit', class: 'button primary'}, 'Apply filters')),
    h('div', {class: 'field'}, h('button', {type: 'button', class: 'button', onclick: () => {
      for (const k of FILTERS) if (form.elements[k]) form.elements[k].value = '';
      apply();
    }}, 'Clear')));
  const live = h('span', {class: 'live-indicator', 'data-state': 'connecting', role: 'status'}, 'Connecting for live updates…');
  const body = h('div', {}, loading('Loading runs…'));
  append(root, [
    appId ? h('nav', {class: 'breadcrumbs', 'aria-label': 'Breadcrumbs'}, h('ol', {},
      h('li', {}, h('a', {href: '/apps'}, 'Applications')), h('li', {}, h('a', {href: appUrl(appId)}, appId)),
      h('li', {}, h('span', {'aria-current': 'page'}, 'Runs')))) : null,
    h('div', {class: 'page-head'}, h('h1', {}, title), live),
    form, body]);

  const tokens = [typeof query.page === 'string' ? query.page : null];
  const columns = runColumns({showApp: !appId});
  if (api.can('operator')) {
    columns.push({label: 'Actions', render: (r) => (TERMINAL.has(r.status_v2) ? '' : h('button', {
      type: 'button', class: 'button small danger', 'aria-label': `Cancel run ${r.id}`,
      onclick: async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        try {
          await api.patch(`${apiApp(r.application_id)}/runs/${encodeURIComponent(r.id)}/cancel`);
          button.textContent = 'Canceling…';
        } catch (err) {
          button.disabled = false;
          flash(body, err, {title: `Run ${r.id} could not be canceled`});
        }
      }}, 'Cancel'))});
  }
  let tbody = null;
  const rows = new Map(); // run id -> its row data, for live updates

  const show = async () => {
    replace(body, loading('Loading runs…'));
    let page;
    try {
      page = await api.get(listUrl, apiQuery(filters, tokens[tokens.length - 1], limit), {signal: ctx.signal});
    } catch (err) {
      if (err.name !== 'AbortError') replace(body, errorBox(err, {title: 'The runs could not be loaded'}));
      return;
    }
    rows.clear();
    const list = items(page);
    for (const r of list) rows.set(r.id, r);
    const filtered = FILTERS.some((k) => filters[k]);
    const view = table({caption: title, captionHidden: true, columns, rows: list, rowKey: (r) => r.id,
      empty: filtered ? 'No runs match these filters.' : 'No runs yet. They appear here as soon as they are submitted.'});
    tbody = view.querySelector('tbody');
    const pageNumber = tokens.length;
    replace(body, view, pager({
      label: 'Run pages', status: `Page ${pageNumber}`,
      hasPrev: tokens.length > 1, hasNext: Boolean(page.next_page_token),
      onPrev: () => { tokens.pop(); syncUrl(); show(); },
      onNext: () => { tokens.push(page.next_page_token); syncUrl(); show(); },
    }));
  };

  const syncUrl = () => ctx.setQuery({...filters, page: tokens[tokens.length - 1],
    limit: limit === PAGE_SIZE ? null : limit});

  const apply = () => {
    for (const k of FILTERS) filters[k] = form.elements[k] ? form.elements[k].value : '';
    tokens.length = 1;
    tokens[0] = null;
    syncUrl();
    show();
  };
  form.addEventListener('submit', (event) => { event.preventDefault(); apply(); });

  const onStatus = followRuns({
    columns, rows, tbody: () => tbody,
    accept: (run) => tokens.length === 1 && !run.experiment_id && matches(run, filters, appId),
    onMissingTable: () => show(), // the first run on an empty list: draw the table
  });
  const unsubscribe = subscribe(appId ? `/v1/events?application_id=${encodeURIComponent(appId)}&event_type=run.status`
    : '/v1/events?event_type=run.status', {
    'run.status': onStatus,
    open: () => { live.dataset.state = 'live'; live.textContent = 'Live'; },
    error: () => { live.dataset.state = 'offline'; live.textContent = 'Reconnecting…'; },
  });
  show(); // not awaited: the page is usable (and focusable) while the first page of runs loads
  return unsubscribe;
}
