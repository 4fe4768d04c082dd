// Small dependency-free SVG charts: box plots and bars, each an image with a text description.
import {h} from '../dom.js';

const svg = (tag, attrs, ...children) => h(`svg:${tag}`, attrs, ...children);

/** Five-number summary of `values` (sorted copy; linear interpolation between ranks). */
export function quartiles(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const q = (p) => {
    const i = (v.length - 1) * p;
    const lo = Math.floor(i);
    return v[lo] + (v[Math.ceil(i)] - v[lo]) * (i - lo);
  };
  return {min: v[0], q1: q(0.25), median: q(0.5), q3: q(0.75), max: v[v.length - 1], n: v.length};
}

function scale(lo, hi, a, b) {
  const span = hi - lo || 1;
  return (x) => a + ((x - lo) / span) * (b - a);
}

const fmt = (x) => Number(x.toPrecision(4)).toString();

/**
 * boxPlot([{label, values} | {label, min, q1, median, q3, max}], {title, width}) -> <figure>
 * One horizontal box per group, on a shared axis.
 */
export function boxPlot(groups, {title = 'Distribution', width = 640} = {}) {
  const stats = groups.map((g) => ({label: g.label, ...(g.values ? quartiles(g.values) : g)})).filter((g) => g.median !== undefined);
  const lo = Math.min(...stats.map((s) => s.min));
  const hi = Math.max(...stats.map((s) => s.max));
  const left = 160;
  const rowH = 36;
  const height = stats.length * rowH + 40;
  const x = scale(lo, hi, left, width - 20);
  const chart = svg('svg', {viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': title, class: 'chart box-plot'},
    svg('title', {}, title),
    ...stats.map((s, i) => {
      const y = 20 + i * rowH;
      const mid = y + rowH / 2;
      return svg('g', {class: 'box', 'data-label': s.label},
        svg('text', {x: left - 8, y: mid + 4, 'text-anchor': 'end', class: 'chart-label'}, String(s.label).slice(0, 24)),
        svg('line', {x1: x(s.min), x2: x(s.max), y1: mid, y2: mid, class: 'whisker'}),
        svg('line', {x1: x(s.min), x2: x(s.min), y1: mid - 6, y2: mid + 6, class: 'whisker'}),
        svg('line', {x1: x(s.max), x2: x(s.max), y1: mid - 6, y2: mid + 6, class: 'whisker'}),
        svg('rect', {x: x(s.q1), y: y + 6, width: Math.max(1, x(s.q3) - x(s.q1)), height: rowH - 12, class: 'box-body'}),
        svg('line', {x1: x(s.median), x2: x(s.median), y1: y + 6, y2: y + rowH - 6, class: 'median'}),
        svg('title', {}, `${s.label}: min ${fmt(s.min)}, q1 ${fmt(s.q1)}, median ${fmt(s.median)}, q3 ${fmt(s.q3)}, max ${fmt(s.max)}`));
    }),
    svg('text', {x: left, y: height - 6, class: 'chart-axis'}, fmt(lo)),
    svg('text', {x: width - 20, y: height - 6, 'text-anchor': 'end', class: 'chart-axis'}, fmt(hi)));
  return h('figure', {class: 'chart-figure'}, chart, h('figcaption', {class: 'visually-hidden'},
    stats.map((s) => `${s.label}: median ${fmt(s.median)} (from ${fmt(s.min)} to ${fmt(s.max)})`).join('; ')));
}

/** barChart([{label, value}], {title, width}) -> <figure> with horizontal bars. */
export function barChart(items, {title = 'Values', width = 640} = {}) {
  const left = 160;
  const rowH = 28;
  const height = items.length * rowH + 20;
  const hi = Math.max(0, ...items.map((it) => it.value));
  const lo = Math.min(0, ...items.map((it) => it.value));
  const x = scale(lo, hi, left, width - 60);
  const chart = svg('svg', {viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': title, class: 'chart bar-chart'},
    svg('title', {}, title),
    ...items.map((it, i) => {
      const y = 10 + i * rowH;
      return svg('g', {class: 'bar', 'data-label': it.label},
        svg('text', {x: left - 8, y: y + rowH / 2 + 4, 'text-anchor': 'end', class: 'chart-label'}, String(it.label).slice(0, 24)),
        svg('rect', {x: Math.min(x(0), x(it.value)), y: y + 4, width: Math.max(1, Math.abs(x(it.value) - x(0))), height: rowH - 8, class: 'bar-body'}),
        svg('text', {x: Math.max(x(0), x(it.value)) + 4, y: y + rowH / 2 + 4, class: 'chart-value'}, fmt(it.value)));
    }));
  return h('figure', {class: 'chart-figure'}, chart, h('figcaption', {class: 'visually-hidden'},
    items.map((it) => `${it.label}: ${fmt(it.value)}`).join('; ')));
}
