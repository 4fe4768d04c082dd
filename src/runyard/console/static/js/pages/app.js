// One application: its details, versions, instances (configuration and lock) and recent runs.
import {api} from '../api.js';
import {jsonTree} from '../components/json-tree.js';
import {errorBox, loading} from '../components/flash.js';
import {followRuns, runColumns} from '../components/runs.js';
import {facts, table} from '../components/table.js';
import {h, replace, timeEl} from '../dom.js';
import {apiApp, appRunsUrl, appUrl} from '../links.js';
import {subscribe} from '../live.js';

const items = (page) => (Array.isArray(page) ? page : page.items || page.runs || []);

function section(title, id, ...children) {
  return h('section', {'aria-labelledby': id}, h('h2', {id}, title), ...children);
}

function lockBadge(locked) {
  return h('span', {class: 'badge neutral'}, locked ? 'locked' : 'unlocked');
}

function configuration(instance) {
  const config = instance.configuration || {};
  if (!Object.keys(config).length) return h('span', {class: 'muted'}, 'defaults');
  return jsonTree(config, {label: `Configuration of ${instance.id}`, openDepth: 3});
}

async function fill(container, load, draw, what) {
  try {
    replace(container, draw(await load()));
  } catch (err) {
    if (err.name !== 'AbortError') replace(container, errorBox(err, {title: `The ${what} could not be loaded`}));
  }
}

export default async function render(root, params, query, ctx) {
  const base = apiApp(params.app);
  const app = await api.get(base, {}, {signal: ctx.signal});
  ctx.setTitle(app.name || app.id);
  const versions = h('div', {}, loading('Loading versions…'));
  const instances = h('div', {}, loading('Loading instances…'));
  const runs = h('div', {}, loading('Loading recent runs…'));
  root.append(
    h('nav', {class: 'breadcrumbs', 'aria-label': 'Breadcrumbs'}, h('ol', {},
      h('li', {}, h('a', {href: '/apps'}, 'Applications')), h('li', {}, h('span', {'aria-current': 'page'}, app.id)))),
    h('div', {class: 'page-head'}, h('h1', {}, app.name || app.id),
      h('div', {class: 'actions'}, h('a', {href: appRunsUrl(app.id), class: 'button'}, 'All runs'),
        h('a', {href: `${appUrl(app.id)}/experiments`, class: 'button'}, 'Experiments'),
        h('a', {href: `${appUrl(app.id)}/input-sets`, class: 'button'}, 'Input sets'))),
    h('div', {class: 'card'}, facts([
      ['ID', h('code', {}, app.id)],
      ['Description', app.description],
      ['Type', app.type],
      ['Default instance', app.default_instance],
      ['Created', timeEl(app.created_at)],
      ['Updated', timeEl(app.updated_at)],
    ])),
    section('Recent runs', 'recent-runs', runs),
    h('div', {class: 'grid-2'},
      section('Versions', 'versions', versions),
      section('Instances', 'instances', instances)));

  // Recent runs follow the account's event stream: statuses move, new runs appear at the top.
  const shown = new Map();
  const columns = runColumns();
  const unsubscribe = subscribe(`/v1/events?application_id=${encodeURIComponent(app.id)}&event_type=run.status`, {
    'run.status': followRuns({columns, rows: shown, tbody: () => runs.querySelector('tbody'),
      accept: (run) => !run.experiment_id && run.status_v2 === 'queued'}),
  });
  await Promise.all([
    fill(runs, () => api.get(`${base}/runs`, {pagereturn: 'true', limit: 10}, {signal: ctx.signal}), (page) => {
      const rows = items(page).slice(0, 10);
      for (const r of rows) shown.set(r.id, r);
      return h('div', {},
        table({caption: 'Recent runs', captionHidden: true, columns, rows, rowKey: (r) => r.id,
          empty: 'No runs yet. Start one with the nextmv SDK or the runyard CLI.'}),
        rows.length ? h('p', {}, h('a', {href: appRunsUrl(app.id)}, 'See all runs, with filters →')) : null);
    }, 'runs'),
    fill(versions, () => api.get(`${base}/versions`, {}, {signal: ctx.signal}), (page) => table({
      caption: 'Versions', captionHidden: true, rowKey: (v) => v.id,
      rows: items(page).sort((a, b) => (a.created_at < b.created_at ? 1 : -1)),
      empty: 'No versions yet: a version freezes the pushed code so instances can point at it.',
      columns: [
        {label: 'ID', render: (v) => h('code', {}, v.id)},
        {label: 'Name', render: (v) => v.name || h('span', {class: 'muted'}, '—')},
        {label: 'Description', render: (v) => v.description || h('span', {class: 'muted'}, '—')},
        {label: 'Created', render: (v) => timeEl(v.created_at)},
      ]}), 'versions'),
    fill(instances, () => api.get(`${base}/instances`, {}, {signal: ctx.signal}), (page) => table({
      caption: 'Instances', captionHidden: true, rowKey: (i) => i.id, rows: items(page),
      empty: 'No instances yet: an instance points at a version with a configuration.',
      columns: [
        {label: 'ID', render: (i) => h('code', {}, i.id)},
        {label: 'Name', render: (i) => i.name || h('span', {class: 'muted'}, '—')},
        {label: 'Version', render: (i) => i.version_id ? h('code', {}, i.version_id) : h('span', {class: 'muted'}, '—')},
        {label: 'Configuration', render: configuration},
        {label: 'Lock', render: (i) => lockBadge(i.locked)},
      ]}), 'instances'),
  ]);
  return unsubscribe;
}
