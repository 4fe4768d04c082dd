// Tables: columns, rows, an empty state, numbers right-aligned, and a pager with previous/next.
import {h} from '../dom.js';

/**
 * table({caption, columns: [{key, label, numeric, render: (row) => node|string}], rows, empty, rowKey})
 * The caption names the table for screen readers (visually hidden with `captionHidden`).
 */
export function table({caption, captionHidden = false, columns, rows, empty = 'Nothing here yet.', rowKey, className = ''}) {
  if (!rows || rows.length === 0) {
    return h('div', {class: 'empty-state'}, h('p', {}, empty));
  }
  const head = h('thead', {}, h('tr', {}, columns.map((c) =>
    h('th', {scope: 'col', class: c.numeric ? 'num' : null}, c.label))));
  const body = h('tbody', {}, rows.map((row) => tableRow(columns, row, rowKey)));
  return h('div', {class: 'table-wrap'},
    h('table', {class: ['data', className]},
      caption ? h('caption', {class: captionHidden ? 'visually-hidden' : null}, caption) : null, head, body));
}

/** One <tr> for `row` (exported so live pages can redraw a single row). */
export function tableRow(columns, row, rowKey) {
  const tr = h('tr', {dataset: rowKey ? {key: rowKey(row)} : undefined});
  for (const c of columns) {
    const value = c.render ? c.render(row) : row[c.key];
    tr.appendChild(h('td', {class: c.numeric ? 'num' : null}, value === undefined || value === null ? '' : value));
  }
  return tr;
}

/** pager({onPrev, onNext, hasPrev, hasNext, label}) -> a nav with two buttons. */
export function pager({onPrev, onNext, hasPrev, hasNext, label = 'Pages', status = ''}) {
  return h('nav', {class: 'pager', 'aria-label': label},
    h('button', {type: 'button', class: 'button', disabled: !hasPrev, onclick: onPrev}, '← Previous'),
    status ? h('span', {class: 'muted'}, status) : null,
    h('button', {type: 'button', class: 'button', disabled: !hasNext, onclick: onNext}, 'Next →'));
}

/** A definition list of label/value pairs. */
export function facts(pairs) {
  return h('dl', {class: 'facts'}, pairs.filter(Boolean).flatMap(([label, value]) =>
    [h('dt', {}, label), h('dd', {}, value === undefined || value === null || value === '' ? '—' : value)]));
}
