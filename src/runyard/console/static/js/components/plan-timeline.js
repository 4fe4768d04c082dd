// A switchback plan as a timeline: one block per unit, coloured and labelled by arm (B = baseline,
// C = candidate), with the time each unit starts in its tooltip and a table as the text alternative.
import {fmtTime, h} from '../dom.js';

const svg = (tag, attrs, ...children) => h(`svg:${tag}`, attrs, ...children);

/** planTimeline(units, {start, baseline, candidate, width}) -> <figure> */
export function planTimeline(units, {start = null, baseline = '', candidate = '', width = 900} = {}) {
  const sorted = [...units].sort((a, b) => a.index - b.index);
  const total = sorted.reduce((sum, u) => sum + (Number(u.duration_minutes) || 0), 0) || 1;
  const perRow = Math.min(sorted.length, 48);
  const rows = Math.ceil(sorted.length / perRow) || 1;
  const cell = (width - 20) / perRow;
  const rowH = 34;
  const height = rows * (rowH + 6) + 34;
  const t0 = start ? new Date(start).getTime() : null;
  let offset = 0;
  const blocks = sorted.map((u, i) => {
    const arm = u.instance_id === candidate ? 'candidate' : u.instance_id === baseline ? 'baseline' : 'other';
    const at = t0 === null ? null : new Date(t0 + offset * 60000);
    offset += Number(u.duration_minutes) || 0;
    const x = 10 + (i % perRow) * cell;
    const y = 10 + Math.floor(i / perRow) * (rowH + 6);
    return svg('g', {class: `unit unit-${arm}`, 'data-arm': arm, 'data-index': u.index},
      svg('rect', {x, y, width: Math.max(1, cell - 2), height: rowH, rx: 3, class: `unit-${arm}`}),
      cell >= 14 ? svg('text', {x: x + (cell - 2) / 2, y: y + rowH / 2 + 4, 'text-anchor': 'middle', class: 'unit-label'},
        arm === 'candidate' ? 'C' : arm === 'baseline' ? 'B' : '?') : null,
      svg('title', {}, `Unit ${u.index}: ${arm} (${u.instance_id}), ${u.duration_minutes} min${at ? `, from ${fmtTime(at)}` : ''}`));
  });
  const legendY = height - 12;
  const end = t0 === null ? null : new Date(t0 + total * 60000);
  const counts = {baseline: 0, candidate: 0};
  for (const u of sorted) if (u.instance_id === baseline) counts.baseline += 1; else if (u.instance_id === candidate) counts.candidate += 1;
  const title = `Switchback plan: ${sorted.length} units over ${Math.round(total)} minutes; ${counts.baseline} baseline (B), ${counts.candidate} candidate (C)`;
  const chart = svg('svg', {viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': title, class: 'chart plan-timeline'},
    svg('title', {}, title), ...blocks,
    t0 === null ? null : svg('text', {x: width - 10, y: legendY, 'text-anchor': 'end', class: 'chart-axis'}, `${fmtTime(new Date(t0))} → ${fmtTime(end)}`),
    svg('rect', {x: 10, y: legendY - 10, width: 12, height: 12, class: 'unit-baseline'}),
    svg('text', {x: 28, y: legendY, class: 'chart-label'}, `B = baseline (${baseline})`),
    svg('rect', {x: 300, y: legendY - 10, width: 12, height: 12, class: 'unit-candidate'}),
    svg('text', {x: 318, y: legendY, class: 'chart-label'}, `C = candidate (${candidate})`));
  return h('figure', {class: 'chart-figure'}, chart, h('figcaption', {class: 'muted small'}, title));
}
