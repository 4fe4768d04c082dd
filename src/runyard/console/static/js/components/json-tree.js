// A collapsible JSON tree built on <details>/<summary> (keyboard operable as they are): children are
// drawn only when a node is first opened, and long arrays/objects a page at a time.
import {h} from '../dom.js';

const PAGE = 200;

function preview(value) {
  if (Array.isArray(value)) return `[${value.length} item${value.length === 1 ? '' : 's'}]`;
  const n = Object.keys(value).length;
  return `{${n} key${n === 1 ? '' : 's'}}`;
}

function scalar(value) {
  const type = value === null ? 'null' : typeof value;
  const text = type === 'string' ? JSON.stringify(value) : String(value);
  return h('span', {class: `json-${type}`}, text);
}

function node(key, value, depth, openDepth) {
  const label = key === null ? null : h('span', {class: 'json-key'}, `${key}: `);
  if (value === null || typeof value !== 'object') {
    return h('li', {class: 'json-leaf'}, label, scalar(value));
  }
  const details = h('details', {class: 'json-node'}, h('summary', {}, label, h('span', {class: 'json-preview'}, preview(value))));
  let drawn = false;
  const draw = () => {
    if (drawn) return;
    drawn = true;
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    const list = h('ul', {class: 'json-children'});
    details.appendChild(list);
    let shown = 0;
    const more = () => {
      const next = entries.slice(shown, shown + PAGE);
      for (const [k, v] of next) list.appendChild(node(k, v, depth + 1, openDepth));
      shown += next.length;
      const old = list.querySelector(':scope > li.json-more');
      if (old) old.remove();
      if (shown < entries.length) {
        list.appendChild(h('li', {class: 'json-more'}, h('button', {type: 'button', class: 'button small', onclick: more},
          `Show ${Math.min(PAGE, entries.length - shown)} more of ${entries.length - shown}`)));
      }
    };
    more();
  };
  details.addEventListener('toggle', () => { if (details.open) draw(); });
  if (depth < openDepth) { details.open = true; draw(); }
  return h('li', {}, details);
}

/** jsonTree(value, {label, openDepth}) -> a tree; the first `openDepth` levels start open. */
export function jsonTree(value, {label = 'JSON document', openDepth = 1} = {}) {
  return h('ul', {class: 'json-tree', 'aria-label': label}, node(null, value, 0, openDepth));
}
