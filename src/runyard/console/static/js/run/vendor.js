// The chart and map libraries, loaded only when an asset tab needs them. They are built from npm into
// the package (vendor/, see hatch_build.py); a build without npm has none, and the tab says so.

const BASE = new URL('../../vendor/', import.meta.url);
const LIBRARIES = {
  plotly: {scripts: ['plotly/plotly.min.js'], global: 'Plotly', label: 'Plotly'},
  chartjs: {scripts: ['chartjs/chart.umd.min.js'], global: 'Chart', label: 'Chart.js'},
  leaflet: {scripts: ['leaflet/leaflet.js'], styles: ['leaflet/leaflet.css'], global: 'L', label: 'Leaflet'},
};
const loading = new Map();

/** Raised when this build of Runyard was made without the library. */
export class MissingLibrary extends Error {
  constructor(label) {
    super(`The chart library (${label}) is not installed in this build of Runyard (it comes from npm when the `
      + 'package is built, and npm was not available then), so the asset\'s content is shown as JSON.');
    this.name = 'MissingLibrary';
  }
}

function addScript(url) {
  return new Promise((resolve, reject) => {
    const el = document.createElement('script');
    el.src = url;
    el.async = true;
    el.onload = resolve;
    el.onerror = () => { el.remove(); reject(new Error(`could not load ${url}`)); };
    document.head.appendChild(el);
  });
}

function addStyle(url) {
  if (document.querySelector(`link[href="${url}"]`)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const el = document.createElement('link');
    el.rel = 'stylesheet';
    el.href = url;
    el.onload = resolve;
    el.onerror = () => reject(new Error(`could not load ${url}`));
    document.head.appendChild(el);
  });
}

async function fetchLibrary(name) {
  const lib = LIBRARIES[name];
  if (window[lib.global]) return window[lib.global];
  try {
    await Promise.all((lib.styles || []).map((p) => addStyle(new URL(p, BASE).href)));
    for (const path of lib.scripts) await addScript(new URL(path, BASE).href);
  } catch {
    throw new MissingLibrary(lib.label);
  }
  if (!window[lib.global]) throw new MissingLibrary(lib.label);
  return window[lib.global];
}

/** The library's global (Plotly, Chart, L), loading it the first time; MissingLibrary when not built in. */
export function load(name) {
  if (!LIBRARIES[name]) return Promise.reject(new Error(`unknown library ${name}`));
  if (!loading.has(name)) {
    const pending = fetchLibrary(name);
    pending.catch(() => loading.delete(name));
    loading.set(name, pending);
  }
  return loading.get(name);
}
