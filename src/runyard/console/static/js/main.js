// The console's entry point: routes each URL to its page, behind sign-in, inside the layout.
import {ApiError, api} from './api.js';
import {errorBox, loading} from './components/flash.js';
import {h, refreshTimes, replace, setTitle} from './dom.js';
import {renderHeader} from './layout.js';
import {currentQuery, match, navigate, setQuery, start} from './router.js';
import './routes.js';

const header = document.getElementById('header');
const main = document.getElementById('main');
let cleanup = null;
let generation = 0;

function runCleanup() {
  const fn = cleanup;
  cleanup = null;
  if (typeof fn === 'function') {
    try { fn(); } catch (err) { console.error(err); }
  }
}

function notFound(pathname) {
  setTitle('Not found');
  replace(main, h('h1', {tabindex: -1}, 'Page not found'),
    h('p', {}, 'Nothing lives at ', h('code', {}, pathname), '.'),
    h('p', {}, h('a', {href: '/apps'}, 'Go to the applications')));
}

async function onRoute(pathname, query, {focus}) {
  const mine = ++generation;
  runCleanup();
  const found = match(pathname);
  let session = null;
  try {
    session = await api.session();
  } catch (err) {
    replace(main, errorBox(err, {title: 'The console cannot reach the server'}));
    return;
  }
  if (mine !== generation) return;
  if (!session && !(found && found.route.options.public)) {
    navigate(`/sign-in?next=${encodeURIComponent(pathname + location.search)}`, {replace: true});
    return;
  }
  renderHeader(header, found && found.route.options.public ? null : session, pathname);
  if (!found) { notFound(pathname); return; }
  replace(main, loading());
  const controller = new AbortController();
  const ctx = {session, navigate, setQuery, currentQuery, signal: controller.signal, setTitle};
  try {
    const page = await found.route.loader();
    if (mine !== generation) return;
    replace(main);
    const result = await page.default(main, found.params, query, ctx);
    const pageCleanup = typeof result === 'function' ? result : null;
    if (mine !== generation) {
      controller.abort();
      if (pageCleanup) pageCleanup();
      return;
    }
    cleanup = () => { controller.abort(); if (pageCleanup) pageCleanup(); };
  } catch (err) {
    if (mine !== generation || (err && err.name === 'AbortError')) return;
    if (err instanceof ApiError && err.status === 401) return; // on its way to the sign-in page
    console.error(err);
    const title = err instanceof ApiError && err.status === 404 ? 'Not found' : 'This page could not be shown';
    setTitle(title);
    replace(main, h('h1', {tabindex: -1}, title), errorBox(err, {title: 'What the server said'}));
  }
  if (focus) {
    const heading = main.querySelector('h1');
    if (heading) {
      if (!heading.hasAttribute('tabindex')) heading.setAttribute('tabindex', '-1');
      heading.focus({preventScroll: false});
    }
  }
}

refreshTimes();
start(onRoute);
