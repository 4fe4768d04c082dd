// A run's assets as the product shows them: each custom-tab asset in a tab of its label, drawn with
// Plotly (plotly), Leaflet (geojson) or Chart.js (chartjs); everything else as JSON.
import {api} from '../api.js';
import {h, replace} from '../dom.js';
import {errorBox, loading} from '../components/flash.js';
import {jsonTree} from '../components/json-tree.js';
import {runPath} from './bits.js';
import {MissingLibrary, load} from './vendor.js';

export const SCHEMAS = new Set(['plotly', 'geojson', 'chartjs']);

/** Custom tabs by label (assets sharing a label share a tab), then the assets drawn as JSON. */
export function groupAssets(items) {
  const tabs = new Map();
  const plain = [];
  for (const asset of items || []) {
    const visual = asset.visual || {};
    const schema = String(visual.schema || '').toLowerCase();
    if (SCHEMAS.has(schema)) {
      const label = visual.label || asset.name || schema;
      if (!tabs.has(label)) tabs.set(label, []);
      tabs.get(label).push(asset);
    } else {
      plain.push(asset);
    }
  }
  return {tabs: [...tabs.entries()].map(([label, assets]) => ({label, assets})), plain};
}

async function content(appId, runId, asset) {
  const {download_url: url} = await api.get(`${runPath(appId, runId)}/assets/${encodeURIComponent(asset.id)}`);
  const response = await fetch(url, {credentials: 'omit'});
  if (!response.ok) throw new Error(`the asset's content could not be downloaded (${response.status})`);
  let doc = await response.json();
  if (typeof doc === 'string') {
    try { doc = JSON.parse(doc); } catch { /* a plain string */ }
  }
  return doc;
}

const list = (doc) => (Array.isArray(doc) ? doc : [doc]);

async function drawPlotly(box, doc, title) {
  const Plotly = await load('plotly');
  const plots = [];
  for (const [i, fig] of list(doc).entries()) {
    const target = h('div', {class: 'asset-plot', role: 'figure', 'aria-label': `${title}, chart ${i + 1}`});
    box.append(target);
    const figure = fig && typeof fig === 'object' ? fig : {};
    await Plotly.newPlot(target, figure.data || [], {autosize: true, ...(figure.layout || {})},
      {responsive: true, displaylogo: false, ...(figure.config || {})});
    plots.push(target);
    // The mode bar's buttons are links named only by a tooltip attribute: give them names.
    for (const a of target.querySelectorAll('.modebar-btn')) {
      if (!a.getAttribute('aria-label')) a.setAttribute('aria-label', a.getAttribute('data-title') || 'Chart tool');
      a.setAttribute('role', 'button');
    }
  }
  return () => plots.forEach((el) => Plotly.purge(el));  // (drops its window resize listeners)
}

async function drawChartjs(box, doc, title) {
  const Chart = await load('chartjs');
  const charts = [];
  for (const [i, config] of list(doc).entries()) {
    const canvas = h('canvas', {role: 'img', 'aria-label': `${title}, ${(config && config.type) || ''} chart ${i + 1}`});
    box.append(h('div', {class: 'asset-canvas'}, canvas));
    // (drawn at once unless the asset asks for animation: a calm page, and a picture that is final)
    const options = {responsive: true, maintainAspectRatio: false, animation: false, ...((config && config.options) || {})};
    charts.push(new Chart(canvas, {...config, options}));
  }
  return () => charts.forEach((c) => c.destroy());
}

function popup(feature) {
  const props = feature.properties || {};
  const rows = Array.isArray(props.metadata) ? props.metadata.map((m) => [m.key, m.value])
    : Object.entries(props).filter(([k, v]) => k !== 'style' && typeof v !== 'object');
  if (!rows.length && feature.id === undefined) return null;
  return h('div', {class: 'map-popup'},
    feature.id !== undefined ? h('strong', {}, String(feature.id)) : null,
    rows.length ? h('dl', {class: 'facts'}, rows.flatMap(([k, v]) => [h('dt', {}, String(k)), h('dd', {}, String(v))])) : null);
}

function counts(doc) {
  const tally = {};
  for (const f of (doc && doc.features) || []) {
    const type = (f.geometry && f.geometry.type) || 'unknown';
    tally[type] = (tally[type] || 0) + 1;
  }
  return Object.entries(tally).map(([t, n]) => `${n} ${t}${n === 1 ? '' : 's'}`).join(', ');
}

async function drawGeojson(box, doc, title) {
  const L = await load('leaflet');
  const target = h('div', {class: 'asset-map', role: 'region', 'aria-label': `${title}: map of ${counts(doc) || 'no features'}`});
  box.append(target, h('p', {class: 'muted small'},
    `${counts(doc) || 'No features'}. No base map is drawn: the console works offline, so the features are shown on a plain background.`));
  const map = L.map(target, {attributionControl: false, zoomSnap: 0.25});
  const layer = L.geoJSON(doc, {
    style: (f) => ({weight: 3, ...((f.properties || {}).style || {})}),
    pointToLayer: (f, latlng) => L.circleMarker(latlng, {radius: 7, weight: 2, fillOpacity: 0.8, ...((f.properties || {}).style || {})}),
    onEachFeature: (f, lyr) => { const p = popup(f); if (p) lyr.bindPopup(p); },
  }).addTo(map);
  const bounds = layer.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, {padding: [24, 24]});
  else map.setView([0, 0], 1);
  return () => map.remove();
}

const DRAW = {plotly: drawPlotly, chartjs: drawChartjs, geojson: drawGeojson};

function assetHead(asset) {
  return h('header', {class: 'asset-head'}, h('h3', {}, asset.name || asset.id),
    asset.description ? h('p', {class: 'muted'}, asset.description) : null);
}

/** One custom tab: its assets drawn one after the other. Returns a cleanup function. */
export function assetTab(panel, group, appId, runId) {
  const cleanups = [];
  for (const asset of group.assets) {
    const schema = String(asset.visual.schema).toLowerCase();
    const box = h('div', {class: `asset asset-${schema}`, 'data-asset': asset.id});
    const status = loading(`Drawing ${asset.name || asset.id}…`);
    panel.append(h('section', {class: 'asset-section'}, assetHead(asset), status, box));
    (async () => {
      let doc;
      try {
        doc = await content(appId, runId, asset);
        const undo = await DRAW[schema](box, doc, asset.name || group.label);
        if (undo) cleanups.push(undo);
        status.remove();
      } catch (err) {
        if (err instanceof MissingLibrary) {
          status.replaceWith(h('div', {class: 'flash flash-info', role: 'status'}, err.message));
          box.append(jsonTree(doc, {label: asset.name || 'Asset content', openDepth: 2}));
        } else {
          status.replaceWith(errorBox(err, {title: `${asset.name || asset.id} could not be drawn`}));
        }
      }
    })();
  }
  return () => cleanups.forEach((fn) => fn());
}

/** The assets that have no custom tab, each as a JSON tree loaded when opened. */
export function plainAssets(panel, assets, appId, runId) {
  if (!assets.length) return;
  panel.append(...assets.map((asset) => {
    const body = h('div', {class: 'asset-json'});
    const details = h('details', {class: 'asset-plain'}, h('summary', {}, asset.name || asset.id,
      asset.visual && asset.visual.schema ? h('span', {class: 'muted'}, ` (${asset.visual.schema})`) : null), body);
    details.addEventListener('toggle', async () => {
      if (!details.open || body.firstChild) return;
      body.append(loading('Loading…'));
      try { replace(body, jsonTree(await content(appId, runId, asset), {label: asset.name || 'Asset', openDepth: 1})); }
      catch (err) { replace(body, errorBox(err)); }
    });
    return details;
  }));
}
