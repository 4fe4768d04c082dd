// Clone a run: a form prefilled with the run's name, instance and options submits a new run with the
// same input (as the official SDK's clone_run does), then opens it.
import {api} from '../api.js';
import {h, replace} from '../dom.js';
import {errorBox} from '../components/flash.js';
import {enc, runPage, runPath} from './bits.js';

const INLINE_MAX = 4 * 1024 * 1024; // larger JSON input goes through an upload URL, as the SDK's does
const ARCHIVES = new Set(['multi-file', 'csv-archive']);

function optionRow(name = '', value = '', index = 0) {
  const row = h('div', {class: 'option-row'},
    h('label', {for: `clone-opt-name-${index}`, class: 'visually-hidden'}, `Option ${index + 1} name`),
    h('input', {id: `clone-opt-name-${index}`, class: 'opt-name', value: name, placeholder: 'name'}),
    h('label', {for: `clone-opt-value-${index}`, class: 'visually-hidden'}, `Option ${index + 1} value`),
    h('input', {id: `clone-opt-value-${index}`, class: 'opt-value', value, placeholder: 'value'}),
    h('button', {type: 'button', class: 'button small', 'aria-label': `Remove option ${name || index + 1}`,
      onclick: () => row.remove()}, 'Remove'));
  return row;
}

async function upload(appId, body) {
  const {upload_id: uploadId, upload_url: url} = await api.post(`/v1/applications/${enc(appId)}/runs/uploadurl`, {});
  const response = await fetch(url, {method: 'PUT', body, credentials: 'omit'});
  if (!response.ok) throw new Error(`the input could not be uploaded (${response.status})`);
  return uploadId;
}

/** The new run's input as the create-run body wants it: {input} or {upload_id}. */
async function sameInput(appId, info) {
  const meta = info.metadata || {};
  const type = ((meta.format || {}).input || {}).type || 'json';
  const path = `${runPath(appId, info.id)}/input`;
  if (ARCHIVES.has(type)) {
    const {url} = await api.get(path, {format: 'url'});
    const blob = await (await fetch(url, {credentials: 'omit'})).blob();
    return {upload_id: await upload(appId, blob)};
  }
  const input = await api.get(path);
  if (type === 'text') return {upload_id: await upload(appId, new Blob([String(input ?? '')]))};
  const text = JSON.stringify(input);
  return text.length > INLINE_MAX ? {upload_id: await upload(appId, new Blob([text]))} : {input};
}

function configuration(meta) {
  const out = {format: meta.format || {input: {type: 'json'}, output: {type: 'json'}}};
  if (meta.execution_class) out.execution_class = meta.execution_class;
  if (meta.secrets_collection_id) out.secrets_collection_id = meta.secrets_collection_id;
  if (meta.queuing_priority) out.queuing = {priority: meta.queuing_priority};
  return out;
}

async function instanceChoices(appId, current) {
  let items = [];
  try {
    const found = await api.get(`/v1/applications/${enc(appId)}/instances`);
    items = (Array.isArray(found) ? found : found.items || []).map((i) => i.id);
  } catch { /* the run's own instance is still offered */ }
  if (current && !items.includes(current)) items.unshift(current);
  return items;
}

/** Open the clone dialog for the run; `go(url)` navigates to the new run. */
export async function openClone(appId, info, go) {
  const meta = info.metadata || {};
  const options = (meta.options || {}).options_summary || [];
  const instances = await instanceChoices(appId, meta.application_instance_id);
  const rows = h('div', {class: 'option-rows'}, options.map((o, i) => optionRow(o.name, String(o.value), i)));
  const problems = h('div', {});
  const name = h('input', {id: 'clone-name', value: `${info.name || info.id} clone`.slice(0, 128), maxlength: 128});
  const description = h('textarea', {id: 'clone-description', rows: 2, maxlength: 256},
    `Clone of ${info.description || info.name || info.id}`.slice(0, 256));
  const instance = h('select', {id: 'clone-instance'}, instances.map((id) =>
    h('option', {value: id, selected: id === meta.application_instance_id}, id)));
  const submit = h('button', {type: 'submit', class: 'button primary'}, 'Start the clone');
  const inType = ((meta.format || {}).input || {}).type || 'json';
  const form = h('form', {class: 'clone-form', method: 'dialog'},
    h('h2', {id: 'clone-title'}, 'Clone this run'),
    h('p', {class: 'muted'}, `The new run gets the same ${inType} input as ${info.id}, and the options below.`),
    problems,
    h('div', {class: 'field'}, h('label', {for: 'clone-name'}, 'Name'), name),
    h('div', {class: 'field'}, h('label', {for: 'clone-description'}, 'Description'), description),
    instances.length ? h('div', {class: 'field'}, h('label', {for: 'clone-instance'}, 'Instance'), instance) : null,
    h('fieldset', {}, h('legend', {}, 'Options'), rows,
      h('button', {type: 'button', class: 'button small', onclick: () => rows.append(optionRow('', '', rows.childElementCount))},
        'Add an option')),
    h('div', {class: 'dialog-actions'},
      h('button', {type: 'button', class: 'button', onclick: () => dialog.close()}, 'Close'), submit));
  const dialog = h('dialog', {class: 'dialog', 'aria-labelledby': 'clone-title'}, form);
  dialog.addEventListener('close', () => dialog.remove());
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    submit.textContent = 'Starting…';
    replace(problems);
    try {
      const opts = {};
      for (const row of rows.querySelectorAll('.option-row')) {
        const key = row.querySelector('.opt-name').value.trim();
        if (key) opts[key] = row.querySelector('.opt-value').value;
      }
      const body = {...await sameInput(appId, info), name: name.value, description: description.value, options: opts,
        configuration: configuration(meta), tracking: {cloned_run_id: info.id}};
      const query = instances.length && instance.value ? {instance_id: instance.value} : {};
      const {run_id: runId} = await api.post(`/v1/applications/${enc(appId)}/runs`, body, {query});
      dialog.close();
      go(runPage(appId, runId));
    } catch (err) {
      replace(problems, errorBox(err, {title: 'The clone could not be started'}));
      submit.disabled = false;
      submit.textContent = 'Start the clone';
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  name.focus();
}
