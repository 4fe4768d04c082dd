// A decision workflow's flow graph (what nextpipe PUTs to …/runs/{id}/flow), drawn as an SVG of its
// steps in layers, each with the state of its nodes, and listed as a table for keyboard and screen readers.

import {h} from '../dom.js';
import {statusBadge} from './bits.js';

const W = 168;
const H = 58;
const GAP_X = 64;
const GAP_Y = 22;
const PAD = 12;

function stepStatus(nodes) {
  const states = nodes.map((n) => String(n.status || '').toLowerCase());
  if (!states.length) return 'pending';
  for (const s of ['failed', 'canceled', 'running']) if (states.includes(s)) return s;
  return states.every((s) => s === 'succeeded' || s === 'success' || s === 'done') ? 'succeeded' : states[0] || 'pending';
}

/** Steps as {id, preds, docs, app, nodes, status}; accepts nextpipe's {pipeline_graph: {steps, nodes}} and
 * a plain {steps: [{id, predecessors | successors}]}. */
export function normalize(doc) {
  const graph = (doc && (doc.pipeline_graph || doc)) || {};
  const raw = Array.isArray(graph.steps) ? graph.steps : [];
  const steps = new Map();
  for (const s of raw) {
    if (!s || s.id === undefined) continue;
    steps.set(String(s.id), {id: String(s.id), preds: new Set((s.predecessors || []).map(String)),
      docs: s.docs || '', app: s.app_id || '', nodes: []});
  }
  for (const s of raw) {
    for (const next of (s && s.successors) || []) steps.get(String(next))?.preds.add(String(s.id));
  }
  for (const node of Array.isArray(graph.nodes) ? graph.nodes : []) steps.get(String(node.parent_id))?.nodes.push(node);
  for (const step of steps.values()) {
    step.preds = [...step.preds].filter((p) => steps.has(p));
    step.status = stepStatus(step.nodes);
  }
  return [...steps.values()];
}

/** Each step's layer: the longest chain of predecessors before it (a cycle is cut where it closes). */
function layers(steps) {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const depth = new Map();
  const visiting = new Set();
  const visit = (step) => {
    if (depth.has(step.id)) return depth.get(step.id);
    if (visiting.has(step.id)) return 0;
    visiting.add(step.id);
    const d = step.preds.reduce((m, p) => Math.max(m, visit(byId.get(p)) + 1), 0);
    visiting.delete(step.id);
    depth.set(step.id, d);
    return d;
  };
  steps.forEach(visit);
  return depth;
}

function layout(steps) {
  const depth = layers(steps);
  const rows = new Map();
  const pos = new Map();
  for (const step of steps) {
    const d = depth.get(step.id);
    const row = rows.get(d) || 0;
    rows.set(d, row + 1);
    pos.set(step.id, {x: PAD + d * (W + GAP_X), y: PAD + row * (H + GAP_Y)});
  }
  const cols = Math.max(...depth.values()) + 1;
  const maxRows = Math.max(...rows.values());
  return {pos, width: PAD * 2 + cols * W + (cols - 1) * GAP_X, height: PAD * 2 + maxRows * H + (maxRows - 1) * GAP_Y};
}

function clip(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

function drawing(steps) {
  const {pos, width, height} = layout(steps);
  const edges = [];
  for (const step of steps) {
    const to = pos.get(step.id);
    for (const p of step.preds) {
      const from = pos.get(p);
      const x1 = from.x + W;
      const y1 = from.y + H / 2;
      const x2 = to.x - 4;
      const y2 = to.y + H / 2;
      const mid = (x1 + x2) / 2;
      edges.push(h('svg:path', {class: 'flow-edge', d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`,
        'marker-end': 'url(#flow-arrow)'}));
    }
  }
  const boxes = steps.map((step) => {
    const {x, y} = pos.get(step.id);
    const runs = step.nodes.length;
    return h('svg:g', {class: `flow-step flow-${step.status}`, 'data-step': step.id},
      h('svg:title', {}, `${step.id}: ${step.status}${step.docs ? ` — ${step.docs}` : ''}`),
      h('svg:rect', {x, y, width: W, height: H, rx: 6}),
      h('svg:text', {x: x + 10, y: y + 22, class: 'flow-name'}, clip(step.id, 22)),
      h('svg:text', {x: x + 10, y: y + 42, class: 'flow-meta'},
        clip(`${step.status}${runs > 1 ? ` · ${runs} nodes` : ''}${step.app ? ` · ${step.app}` : ''}`, 26)));
  });
  return h('svg:svg', {class: 'flow-graph', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `Flow graph: ${steps.length} steps`},
  h('svg:defs', {}, h('svg:marker', {id: 'flow-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 8,
    markerHeight: 8, orient: 'auto-start-reverse'}, h('svg:path', {d: 'M0,0 L10,5 L0,10 z', class: 'flow-arrowhead'}))),
  ...edges, ...boxes);
}

function runLinks(step, appId) {
  const runs = step.nodes.filter((n) => n.run_id);
  if (!runs.length) return '—';
  return runs.map((n, i) => [i ? ', ' : '', h('a', {href: `/app/${encodeURIComponent(step.app || appId)}/run/${encodeURIComponent(n.run_id)}?view=details`}, n.run_id)]);
}

/** The flow graph section for a run's flow document. */
export function flowView(doc, appId) {
  const steps = normalize(doc);
  if (!steps.length) return h('p', {class: 'empty'}, 'The flow graph has no steps yet.');
  const table = h('table', {class: 'data flow-table'},
    h('caption', {}, 'Steps of the workflow'),
    h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Step'), h('th', {scope: 'col'}, 'After'),
      h('th', {scope: 'col'}, 'Status'), h('th', {scope: 'col'}, 'App'), h('th', {scope: 'col'}, 'Runs'))),
    h('tbody', {}, steps.map((s) => h('tr', {},
      h('th', {scope: 'row'}, s.id, s.docs ? h('div', {class: 'muted small'}, clip(s.docs, 120)) : null),
      h('td', {}, s.preds.join(', ') || '—'), h('td', {}, statusBadge(s.status)), h('td', {}, s.app || '—'),
      h('td', {}, runLinks(s, appId))))));
  return h('div', {class: 'flow'}, h('div', {class: 'flow-canvas'}, drawing(steps)), table);
}
