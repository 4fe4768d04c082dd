// The details view: the options the run used and where each value came from, its statistics and metrics.
import {fmtNumber, h} from '../dom.js';
import {table} from '../components/table.js';
import {TERMINAL} from '../components/status.js';
import {flatten, section} from './bits.js';

const SOURCES = {
  version: 'App version (manifest default)',
  instance: 'Instance configuration',
  run: 'This run',
};

function value(v) {
  if (v === null || v === undefined) return '';
  return typeof v === 'object' ? JSON.stringify(v) : typeof v === 'number' ? fmtNumber(v) : String(v);
}

function optionsTable(meta) {
  const opts = meta.options || {};
  let rows = (opts.options_summary || []).map((o) => ({name: o.name, value: o.value, source: o.source}));
  if (!rows.length) rows = Object.entries(opts.request_options || {}).map(([name, v]) => ({name, value: v, source: 'run'}));
  return table({
    caption: 'Options and where each value came from', captionHidden: true, rows,
    empty: 'This run used no options.',
    columns: [
      {key: 'name', label: 'Option', render: (r) => h('code', {}, r.name)},
      {key: 'value', label: 'Value', render: (r) => value(r.value)},
      {key: 'source', label: 'Source', render: (r) => h('span', {class: `source source-${r.source}`}, SOURCES[r.source] || r.source)},
    ],
  });
}

function pairsTable(caption, pairs, empty) {
  return table({
    caption, captionHidden: true, rows: pairs.map(([name, v]) => ({name, v})), empty,
    columns: [
      {key: 'name', label: 'Name', render: (r) => h('code', {}, r.name)},
      {key: 'v', label: 'Value', numeric: true, render: (r) => value(r.v)},
    ],
  });
}

/** run, result and custom statistics, and anything else the app put there (series data left out). */
function statisticsParts(stats) {
  const parts = {run: [], result: [], custom: [], other: []};
  for (const [key, doc] of Object.entries(stats || {})) {
    if (key === 'schema' || key === 'series_data') continue;
    if ((key === 'run' || key === 'result') && doc && typeof doc === 'object') {
      for (const [k, v] of Object.entries(doc)) {
        if (k === 'custom') parts.custom.push(...flatten(v, `${key}.custom`));
        else parts[key].push(...flatten(v, k));
      }
    } else {
      parts.other.push(...flatten(doc, key));
    }
  }
  return parts;
}

/** The details panel. */
export function detailsView(info, status) {
  const meta = info.metadata || {};
  // The whole documents (metadata.metrics holds them flattened to scalars, for the SDKs' compare_runs).
  const docs = meta.documents || {};
  const metrics = docs.metrics || (docs.statistics ? null : meta.metrics);
  const ended = TERMINAL.has(status);
  const waiting = ended ? 'The app reported none.' : 'They appear when the run ends.';
  const stats = statisticsParts(docs.statistics || meta.statistics);
  const statSections = [
    ['Run statistics', 'sub-stats-run', stats.run],
    ['Result statistics', 'sub-stats-result', stats.result],
    ['Custom statistics', 'sub-stats-custom', stats.custom],
  ];
  if (stats.other.length) statSections.push(['Other statistics', 'sub-stats-other', stats.other]);
  const anyStats = statSections.some(([, , rows]) => rows.length);
  return h('div', {class: 'run-details'},
    section('Options', 'run-options', optionsTable(meta)),
    section('Statistics', 'run-statistics', anyStats
      ? h('div', {class: 'stat-grid'}, statSections.map(([title, id, rows]) =>
        section(title, id, pairsTable(title, rows, 'None.'))))
      : h('p', {class: 'empty-state'}, `No statistics. ${waiting}`)),
    section('Metrics', 'run-metrics', metrics && Object.keys(metrics).length
      ? pairsTable('Metrics', flatten(metrics), 'None.')
      : h('p', {class: 'empty-state'}, `No metrics. ${waiting}`)));
}
