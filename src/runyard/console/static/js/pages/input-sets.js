// Input sets and managed inputs: lists per application, an input set with its inputs, and a managed
// input with its data to download (through a signed URL the API hands out).
import {api} from '../api.js';
import {errorBox, loading} from '../components/flash.js';
import {jsonTree} from '../components/json-tree.js';
import {tabs} from '../components/tabs.js';
import {facts, table} from '../components/table.js';
import {h, replace, timeEl} from '../dom.js';
import {appUrl} from '../links.js';
import {apiApp, appPicker, breadcrumbs, idCode, inputSetUrl, inputUrl, pagedTable, runUrl} from './exp-common.js';

const formatOf = (m) => ((m.format || {}).input || {}).type || 'json';
const PREVIEW_MAX = 1024 * 1024; // a larger input is downloaded, not drawn

/** A JSON input drawn as a tree, read through its signed URL when that is this server's (not an object store's). */
async function preview(el, app, m, ctx) {
  if (formatOf(m) !== 'json') { replace(el, h('p', {class: 'muted'}, `A ${formatOf(m)} input: download it to look inside.`)); return; }
  replace(el, loading('Loading the input…'));
  try {
    const {url} = await api.get(`${apiApp(app)}/inputs/${encodeURIComponent(m.id)}/download`, {}, {signal: ctx.signal});
    if (new URL(url, location.href).origin !== location.origin) { replace(el, h('p', {class: 'muted'}, 'Stored in object storage: download it to look inside.')); return; }
    const response = await fetch(url, {signal: ctx.signal});
    const size = Number(response.headers.get('content-length') || 0);
    if (!response.ok || size > PREVIEW_MAX) { replace(el, h('p', {class: 'muted'}, size > PREVIEW_MAX ? 'Too large to show here: download it.' : `The input could not be read (${response.status}).`)); return; }
    replace(el, jsonTree(await response.json(), {label: `Input ${m.name || m.id}`, openDepth: 2}));
  } catch (err) {
    if (err.name !== 'AbortError') replace(el, errorBox(err, {title: 'The input could not be shown'}));
  }
}

/** A button that asks the API for a signed download URL of `input` and follows it. */
function downloadButton(app, input, label = 'Download') {
  const managed = !(input.run_id && !input.upload_id && input.id === input.run_id);
  const path = managed ? `${apiApp(app)}/inputs/${encodeURIComponent(input.id)}/download`
    : `${apiApp(app)}/runs/${encodeURIComponent(input.run_id)}/input`;
  const button = h('button', {type: 'button', class: 'button small', 'aria-label': `${label} ${input.name || input.id}`, onclick: async () => {
    button.disabled = true;
    try {
      const answer = await api.get(path, managed ? {} : {format: 'url'});
      const a = h('a', {href: answer.url, download: `${input.id}`, hidden: true});
      document.body.appendChild(a);
      a.click();
      a.remove();
    } catch (err) {
      button.after(errorBox(err, {title: 'The download could not start'}));
    } finally {
      button.disabled = false;
    }
  }}, label);
  return button;
}

function lists(el, ctx, app, selected) {
  replace(el, tabs([
    {id: 'input-sets', label: 'Input sets', render: (panel) => {
      const body = h('div', {});
      panel.append(body);
      pagedTable(body, ctx, {path: `${apiApp(app)}/experiments/inputsets`, caption: 'Input sets',
        empty: 'No input sets yet. Create one with the SDK (new_input_set) from managed inputs or past runs.', columns: [
          {label: 'Name', render: (s) => h('a', {href: inputSetUrl(app, s.id)}, s.name || s.id)}, {label: 'ID', render: (s) => idCode(s.id)},
          {label: 'Inputs', numeric: true, render: (s) => (s.input_ids || []).length || (s.inputs || []).length},
          {label: 'Description', render: (s) => s.description || h('span', {class: 'muted'}, '—')},
          {label: 'Created', render: (s) => timeEl(s.created_at)}]});
    }},
    {id: 'inputs', label: 'Managed inputs', render: (panel) => {
      const body = h('div', {});
      panel.append(body);
      pagedTable(body, ctx, {path: `${apiApp(app)}/inputs`, caption: 'Managed inputs',
        empty: 'No managed inputs yet. Create one with the SDK (new_managed_input) from an upload or a run.', columns: [
          {label: 'Name', render: (m) => h('a', {href: inputUrl(app, m.id)}, m.name || m.id)}, {label: 'ID', render: (m) => idCode(m.id)},
          {label: 'Format', render: formatOf},
          {label: 'From', render: (m) => (m.run_id ? h('a', {href: runUrl(app, m.run_id)}, `run ${m.run_id}`) : 'upload')},
          {label: 'Created', render: (m) => timeEl(m.created_at)}, {label: 'Data', render: (m) => downloadButton(app, m)}]});
    }},
  ], {selected, label: 'Inputs', onChange: (id) => ctx.setQuery({...ctx.currentQuery(), tab: id})}));
}

async function inputSet(root, app, id, ctx) {
  ctx.setTitle(`Input set ${id}`);
  root.append(breadcrumbs([['Applications', '/apps'], [app, appUrl(app)], ['Input sets', `/app/${encodeURIComponent(app)}/input-sets`], [id]]));
  const s = await api.get(`${apiApp(app)}/experiments/inputsets/${encodeURIComponent(id)}`, {}, {signal: ctx.signal});
  root.append(h('h1', {}, s.name || s.id), s.description ? h('p', {}, s.description) : null,
    h('div', {class: 'card'}, facts([['ID', idCode(s.id)], ['Inputs', String((s.inputs || []).length)], ['Created', timeEl(s.created_at)],
      ['Updated', timeEl(s.updated_at)]])),
    h('h2', {}, 'Inputs'),
    table({caption: `Inputs of ${s.name || s.id}`, captionHidden: true, rows: s.inputs || [], rowKey: (m) => m.id, empty: 'This input set is empty.', columns: [
      {label: 'Name', render: (m) => (m.upload_id || m.id !== m.run_id ? h('a', {href: inputUrl(app, m.id)}, m.name || m.id) : h('a', {href: runUrl(app, m.run_id)}, m.name || m.id))},
      {label: 'ID', render: (m) => idCode(m.id)}, {label: 'Format', render: formatOf},
      {label: 'Kind', render: (m) => (m.upload_id || m.id !== m.run_id ? 'managed input' : 'input of a run')},
      {label: 'Created', render: (m) => timeEl(m.created_at)}, {label: 'Data', render: (m) => downloadButton(app, m)}]}));
}

async function managedInput(root, app, id, ctx) {
  ctx.setTitle(`Managed input ${id}`);
  root.append(breadcrumbs([['Applications', '/apps'], [app, appUrl(app)], ['Managed inputs', `/app/${encodeURIComponent(app)}/input-sets?tab=inputs`], [id]]));
  const m = await api.get(`${apiApp(app)}/inputs/${encodeURIComponent(id)}`, {}, {signal: ctx.signal});
  root.append(h('div', {class: 'page-head'}, h('h1', {}, m.name || m.id), h('div', {class: 'actions'}, downloadButton(app, m, 'Download the input'))),
    m.description ? h('p', {}, m.description) : null,
    h('div', {class: 'card'}, facts([['ID', idCode(m.id)], ['Format', formatOf(m)],
      ['From', m.run_id ? h('a', {href: runUrl(app, m.run_id)}, `run ${m.run_id}`) : m.upload_id ? `upload ${m.upload_id}` : '—'],
      ['Created', timeEl(m.created_at)], ['Updated', timeEl(m.updated_at)]])));
  const content = h('div', {class: 'card'});
  root.append(h('h2', {}, 'Content'), content);
  await preview(content, app, m, ctx);
}

export default async function render(root, params, query, ctx) {
  if (params.set) return inputSet(root, params.app, params.set, ctx);
  if (params.input) return managedInput(root, params.app, params.input, ctx);
  ctx.setTitle('Input sets');
  const body = h('div', {});
  if (params.app) {
    root.append(breadcrumbs([['Applications', '/apps'], [params.app, appUrl(params.app)], ['Input sets']]), h('h1', {}, 'Input sets and inputs'), body);
    lists(body, ctx, params.app, query.tab);
    return undefined;
  }
  root.append(h('h1', {}, 'Input sets and inputs'),
    h('p', {class: 'muted'}, 'Inputs kept for experiments: managed inputs, and input sets grouping them.'));
  const picker = await appPicker(ctx, query, (app) => lists(body, ctx, app, ctx.currentQuery().tab));
  root.append(picker.element, body);
  if (picker.app) lists(body, ctx, picker.app, query.tab);
  return undefined;
}
