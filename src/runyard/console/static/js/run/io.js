// Input and output viewers: a JSON tree (lazy, with a text view), plain text, and for multi-file and
// csv-archive runs the archive's files, each to show or download.
import {api} from '../api.js';
import {fmtBytes, h, replace} from '../dom.js';
import {errorBox, loading} from '../components/flash.js';
import {jsonTree} from '../components/json-tree.js';
import {TERMINAL} from '../components/status.js';
import {blobLink, runPath} from './bits.js';
import {gunzip, untar} from './tar.js';

const SHOW_LIMIT = 2 * 1024 * 1024; // bigger documents wait for the user to ask
const PREVIEW_BYTES = 256 * 1024;
const ARCHIVES = new Set(['multi-file', 'csv-archive']);

async function signedUrl(path) {
  return (await api.get(path, {format: 'url'})).url;
}

function toggle(labels, onPick) {
  const buttons = labels.map((label, i) => h('button', {type: 'button', class: 'button small', 'aria-pressed': String(i === 0),
    onclick: () => { buttons.forEach((b, j) => b.setAttribute('aria-pressed', String(i === j))); onPick(i); }}, label));
  return h('div', {class: 'toggle', role: 'group', 'aria-label': 'How to show the document'}, buttons);
}

function jsonView(doc, title) {
  const body = h('div', {class: 'doc-body'}, jsonTree(doc, {label: title, openDepth: 2}));
  let text = null;
  const pick = (i) => {
    if (i === 0) replace(body, jsonTree(doc, {label: title, openDepth: 2}));
    else replace(body, text || (text = h('pre', {class: 'doc-text', tabindex: 0, 'aria-label': `${title} as text`}, JSON.stringify(doc, null, 2))));
  };
  return [toggle(['Tree', 'Text'], pick), body];
}

function textView(text, title) {
  return h('pre', {class: 'doc-text', tabindex: 0, 'aria-label': title}, text);
}

function previewable(name) {
  return /\.(json|csv|txt|tsv|md|yaml|yml|xml|log)$/i.test(name);
}

function fileRow(file, urls) {
  const row = h('tr', {},
    h('th', {scope: 'row'}, h('code', {}, file.name)),
    h('td', {class: 'num'}, fmtBytes(file.size)),
    h('td', {class: 'actions'}));
  const actions = row.lastChild;
  const base = file.name.split('/').pop();
  actions.append(blobLink(new Blob([file.data]), base, `Download ${base}`, urls));
  if (previewable(file.name)) {
    const preview = h('tr', {class: 'file-preview', hidden: true}, h('td', {colspan: 3}));
    const button = h('button', {type: 'button', class: 'button small', 'aria-expanded': 'false', onclick: () => {
      const open = preview.hidden;
      preview.hidden = !open;
      button.setAttribute('aria-expanded', String(open));
      if (open && !preview.firstChild.firstChild) {
        const text = new TextDecoder().decode(file.data.subarray(0, PREVIEW_BYTES));
        preview.firstChild.append(textView(file.size > PREVIEW_BYTES ? `${text}\n…` : text, file.name));
      }
    }}, `Show ${base}`);
    actions.append(' ', button);
    return [row, preview];
  }
  return [row];
}

async function archiveView(url, kind, runId, urls) {
  const blob = await (await fetch(url, {credentials: 'omit'})).blob();
  const whole = blobLink(blob, `${runId}-${kind}.tar.gz`, `Download all (${fmtBytes(blob.size)}, .tar.gz)`, urls);
  let files;
  try {
    files = untar(await gunzip(blob));
  } catch {
    return [whole, h('p', {class: 'muted'}, 'The archive could not be read in the browser; download it instead.')];
  }
  if (!files.length) return [whole, h('p', {class: 'empty-state'}, 'The archive holds no files.')];
  return [h('div', {class: 'toolbar'}, whole),
    h('div', {class: 'table-wrap'}, h('table', {class: 'data files'},
      h('caption', {}, `${files.length} file${files.length === 1 ? '' : 's'}`),
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'File'), h('th', {scope: 'col', class: 'num'}, 'Size'),
        h('th', {scope: 'col'}, h('span', {class: 'visually-hidden'}, 'Actions')))),
      h('tbody', {}, files.flatMap((f) => fileRow(f, urls)))))];
}

async function jsonDocument(path, kind, runId, size) {
  const title = `Run ${kind}`;
  const download = h('a', {class: 'button small', href: await signedUrl(path), download: `${runId}-${kind}.json`}, `Download ${kind} (${fmtBytes(size)})`);
  const slot = h('div', {});
  const show = async () => {
    replace(slot, loading(`Loading the ${kind}…`));
    try {
      replace(slot, ...jsonView(await api.get(path), title));
    } catch (err) {
      replace(slot, errorBox(err, {title: `The ${kind} could not be loaded`}));
    }
  };
  if (size > SHOW_LIMIT) {
    replace(slot, h('p', {}, `The ${kind} is ${fmtBytes(size)}; showing it may slow the browser down. `,
      h('button', {type: 'button', class: 'button small', onclick: show}, `Show the ${kind}`)));
  } else {
    await show();
  }
  return [h('div', {class: 'toolbar'}, download), slot];
}

async function fill(slot, {kind, appId, info, urls}) {
  const meta = info.metadata || {};
  const type = ((meta.format || {})[kind] || {}).type || 'json';
  const size = meta[`${kind}_size`] || 0;
  const path = `${runPath(appId, info.id)}/${kind}`;
  const format = h('p', {class: 'muted'}, `Format: ${type}`);
  if (kind === 'output' && !TERMINAL.has(meta.status_v2)) {
    return replace(slot, h('p', {class: 'empty-state'}, 'The output appears here when the run ends.'));
  }
  if (kind === 'output' && !size && meta.status_v2 !== 'succeeded') {
    return replace(slot, h('p', {class: 'empty-state'}, `The run ${meta.status_v2} without output.`));
  }
  if (ARCHIVES.has(type)) return replace(slot, format, ...await archiveView(await signedUrl(path), kind, info.id, urls));
  if (type === 'text') {
    const text = kind === 'input' ? await api.get(path) : await (await fetch(await signedUrl(path), {credentials: 'omit'})).text();
    return replace(slot, format, textView(typeof text === 'string' ? text : JSON.stringify(text), `Run ${kind}`));
  }
  return replace(slot, format, ...await jsonDocument(path, kind, info.id, size));
}

/** The input or output panel (`kind`), filled as the API answers. */
export function ioView(options) {
  const slot = h('div', {class: 'io'}, loading(`Loading the ${options.kind}…`));
  fill(slot, options).catch((err) => replace(slot, errorBox(err, {title: `The ${options.kind} could not be loaded`})));
  return slot;
}
