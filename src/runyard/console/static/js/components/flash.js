// Errors and notices shown to the user: the server's own message and its request id.
import {h} from '../dom.js';

/** An alert box for `error` (an ApiError or any Error), with the request id when the server gave one. */
export function errorBox(error, {title = 'Something went wrong'} = {}) {
  const message = (error && error.message) || String(error);
  return h('div', {class: 'flash flash-error', role: 'alert'},
    h('strong', {}, title), h('p', {}, message),
    error && error.requestId ? h('p', {class: 'muted small'}, 'Request id: ', h('code', {}, error.requestId)) : null);
}

/** A short notice (role=status) that screen readers announce. */
export function notice(text, kind = 'info') {
  return h('div', {class: `flash flash-${kind}`, role: 'status'}, text);
}

/** Show `error` at the top of `container` (replacing an earlier one). */
export function flash(container, error, options) {
  const old = container.querySelector(':scope > .flash');
  if (old) old.remove();
  const box = errorBox(error, options);
  container.prepend(box);
  return box;
}

/** A loading line that says what is happening. */
export function loading(text = 'Loading…') {
  return h('p', {class: 'loading', role: 'status'}, text);
}
