// The History-API router: route('/app/:app/run/:run', () => import('./pages/run.js')).
// A page module exports `default async function render(root, params, query, ctx)` and may return a
// cleanup function, called when the user navigates away (close EventSources, stop timers).

const routes = [];
let handler = null;

/** Register a page: `pattern` like "/app/:app/runs"; a trailing "*" matches the rest as params.rest. */
export function route(pattern, loader, options = {}) {
  const names = [];
  const source = pattern.replace(/\/$/, '').split('/').map((part) => {
    if (part.startsWith(':')) { names.push(part.slice(1)); return '([^/]+)'; }
    if (part === '*') { names.push('rest'); return '(.*)'; }
    return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }).join('/');
  routes.push({pattern, regex: new RegExp(`^${source || ''}/?$`), names, loader, options});
}

/** The route that `pathname` names, with its params; null when none. */
export function match(pathname) {
  for (const r of routes) {
    const m = r.regex.exec(pathname);
    if (m) {
      const params = {};
      r.names.forEach((name, i) => { params[name] = decodeURIComponent(m[i + 1]); });
      return {route: r, params};
    }
  }
  return null;
}

/** Go to `url` (same origin) and draw its page. */
export function navigate(url, {replace = false} = {}) {
  const target = new URL(url, location.href);
  if (replace) history.replaceState(null, '', target);
  else history.pushState(null, '', target);
  return dispatch({focus: true});
}

/** Change the query string without drawing the page again (a page reflecting its filters in the URL). */
export function setQuery(query, {push = false} = {}) {
  const url = new URL(location.href);
  url.search = '';
  for (const [k, v] of Object.entries(query)) {
    if (v === null || v === undefined || v === '') continue;
    for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(k, item);
  }
  if (url.href === location.href) return;
  if (push) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

/** The current query string as an object (repeated keys become arrays). */
export function currentQuery() {
  const out = {};
  for (const [k, v] of new URL(location.href).searchParams) {
    if (k in out) out[k] = [].concat(out[k], v);
    else out[k] = v;
  }
  return out;
}

function dispatch(options) {
  return handler ? handler(location.pathname, currentQuery(), options) : Promise.resolve();
}

function isConsoleLink(a, event) {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return false;
  if (a.target && a.target !== '_self') return false;
  if (a.hasAttribute('download') || a.getAttribute('rel') === 'external') return false;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return false;
  if (/^\/(v1|ui|docs|openapi\.json|healthz|metrics)(\/|$)/.test(url.pathname)) return false;
  return match(url.pathname) !== null;
}

/** Start routing: `onRoute(pathname, query, options)` draws a page (main.js does the layout and sign-in). */
export function start(onRoute) {
  handler = onRoute;
  document.addEventListener('click', (event) => {
    const a = event.target.closest && event.target.closest('a[href]');
    if (!a || !isConsoleLink(a, event)) return;
    event.preventDefault();
    const url = new URL(a.href, location.href);
    if (url.href === location.href) return;
    navigate(url.href);
  });
  window.addEventListener('popstate', () => dispatch({focus: true}));
  return dispatch({focus: false});
}
