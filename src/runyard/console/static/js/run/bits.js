// Small pieces shared by the run page's parts.
import {h} from '../dom.js';

export {statusBadge} from '../components/status.js';

export const enc = encodeURIComponent;

/** The API path of a run: /v1/applications/{app}/runs/{run}. */
export function runPath(appId, runId) {
  return `/v1/applications/${enc(appId)}/runs/${enc(runId)}`;
}

/** The console path of a run's page. */
export function runPage(appId, runId, view = 'details') {
  return `/app/${enc(appId)}/run/${enc(runId)}?view=${enc(view)}`;
}

/** Load the run page's own style sheet once (next to console.css, same version prefix). */
export function ensureStyles() {
  const href = new URL('../../css/run.css', import.meta.url).href;
  if (!document.querySelector(`link[href="${href}"]`)) {
    document.head.appendChild(h('link', {rel: 'stylesheet', href}));
  }
}

/** A link that saves `blob` as `name` (an object URL, released when the page is left via `release`). */
export function blobLink(blob, name, label, urls) {
  const href = URL.createObjectURL(blob);
  if (urls) urls.push(href);
  return h('a', {href, download: name, class: 'button small'}, label);
}

/** Scalar leaves of a nested document as [dotted name, value] pairs. */
export function flatten(doc, prefix = '', out = []) {
  if (doc === null || typeof doc !== 'object') {
    out.push([prefix || 'value', doc]);
    return out;
  }
  for (const [key, value] of Object.entries(doc)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) flatten(value, name, out);
    else out.push([name, value]);
  }
  return out;
}

/** A section with an <h2> (or <h3>) heading that names it for screen readers. */
export function section(title, id, ...children) {
  const level = id.startsWith('sub-') ? 'h3' : 'h2';
  return h('section', {class: 'run-section', 'aria-labelledby': id}, h(level, {id}, title), ...children);
}
