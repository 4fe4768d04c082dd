// A run or experiment status as a badge: a word and a shape, never colour alone.
import {h} from '../dom.js';

const SHAPES = {
  queued: '○', running: '◔', succeeded: '✓', completed: '✓', failed: '✕', canceled: '⊘', cancelled: '⊘',
  started: '◔', draft: '✎', error: '✕', unknown: '?',
};

/** <span class="badge status-succeeded">✓ succeeded</span>; `status` may be absent ("unknown"). */
export function statusBadge(status) {
  const s = String(status || 'unknown').toLowerCase();
  return h('span', {class: `badge status-${s}`, 'data-status': s},
    h('span', {class: 'badge-shape', 'aria-hidden': 'true'}, SHAPES[s] || '•'), ' ', s);
}

/** Update a badge made by statusBadge in place. */
export function setStatus(badge, status) {
  const fresh = statusBadge(status);
  badge.replaceWith(fresh);
  return fresh;
}

export const TERMINAL = new Set(['succeeded', 'failed', 'canceled', 'completed']);
