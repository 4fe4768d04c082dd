// Building DOM without innerHTML: strings always become text nodes.

const BOOLEAN_PROPS = new Set(['disabled', 'checked', 'selected', 'hidden', 'open', 'required', 'readOnly', 'multiple']);

/** h('a', {href: '/apps', class: 'nav'}, 'Applications') -> <a class="nav" href="/apps">Applications</a> */
export function h(tag, attrs, ...children) {
  const el = tag.includes(':')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.split(':')[1])
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === 'class') {
      el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    } else if (name === 'style' && typeof value === 'object') {
      Object.assign(el.style, value);
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (BOOLEAN_PROPS.has(name)) {
      el[name] = Boolean(value);
    } else if (name === 'value' && 'value' in el) {
      el.value = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Append children (nodes, strings, numbers, arrays of them; null and false are skipped). */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Replace an element's children. */
export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

function parse(value) {
  if (value === null || value === undefined || value === '') return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

const pad = (n) => String(n).padStart(2, '0');

/** An absolute local time, "2026-12-05 14:03:07" ("" when unknown). */
export function fmtTime(value) {
  const d = parse(value);
  if (!d) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A time relative to now: "just now", "5 min ago", "in 2 h", "3 days ago". */
export function fmtRelative(value, now = Date.now()) {
  const d = parse(value);
  if (!d) return '';
  const seconds = Math.round((d.getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 10) return 'just now';
  const [n, unit] = abs < 60 ? [abs, 's'] : abs < 3600 ? [Math.round(abs / 60), 'min']
    : abs < 86400 ? [Math.round(abs / 3600), 'h'] : [Math.round(abs / 86400), abs < 172800 ? 'day' : 'days'];
  return seconds < 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`;
}

/** <time> showing the relative time, with the absolute one in its title (and to screen readers on hover). */
export function timeEl(value) {
  const d = parse(value);
  if (!d) return h('span', {class: 'muted'}, '—');
  return h('time', {datetime: d.toISOString(), title: fmtTime(d)}, fmtRelative(d));
}

/** A duration in milliseconds as "850 ms", "1.2 s", "3 min 4 s", "2 h 5 min". */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(Number(ms))) return '';
  ms = Number(ms);
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Bytes as "512 B", "1.5 KiB", "3.2 MiB". */
export function fmtBytes(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '';
  n = Number(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

/** A number for a table cell: integers as they are, others with up to 4 significant decimals. */
export function fmtNumber(value) {
  if (typeof value !== 'number') return value === null || value === undefined ? '' : String(value);
  return Number.isInteger(value) ? value.toLocaleString('en-US') : Number(value.toPrecision(6)).toString();
}

/** Set the page's title: "<name> · Runyard". */
export function setTitle(name) {
  document.title = name ? `${name} · Runyard` : 'Runyard';
}

/** Keep every <time> made by timeEl saying how long ago it was (called once, by main.js). */
export function refreshTimes(root = document, everyMs = 20000) {
  return setInterval(() => {
    for (const el of root.querySelectorAll('time[datetime]')) el.textContent = fmtRelative(el.getAttribute('datetime'));
  }, everyMs);
}
