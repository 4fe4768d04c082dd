// The frame around every page: product name, navigation, the signed-in account and "Sign out".
import {api} from './api.js';
import {h, replace} from './dom.js';
import {navigate} from './router.js';

export const NAV = [
  {href: '/apps', label: 'Applications', match: /^\/(apps|app)(\/|$)/},
  {href: '/runs', label: 'Runs', match: /^\/runs(\/|$)/},
  {href: '/experiments', label: 'Experiments', match: /^\/experiments(\/|$)/},
  {href: '/input-sets', label: 'Input sets', match: /^\/input-sets(\/|$)/},
  {href: '/queue', label: 'Queue', match: /^\/queue(\/|$)/},
  {href: '/webhooks', label: 'Webhooks', match: /^\/webhooks(\/|$)/},
  {href: '/admin', label: 'Admin', match: /^\/admin(\/|$)/, role: 'admin'},
];

/** Draw the header for `session` (null on the sign-in page) with `pathname`'s nav item current. */
export function renderHeader(header, session, pathname) {
  const brand = h('a', {href: session ? '/apps' : '/sign-in', class: 'brand'},
    h('span', {class: 'brand-mark', 'aria-hidden': 'true'}, '◆'), ' Runyard');
  if (!session) {
    replace(header, h('div', {class: 'header-inner'}, brand));
    return;
  }
  const items = NAV.filter((item) => !item.role || api.can(item.role)).map((item) =>
    h('li', {}, h('a', {href: item.href, 'aria-current': item.match.test(pathname) ? 'page' : null}, item.label)));
  const signOut = h('button', {type: 'button', class: 'button subtle', onclick: async () => {
    signOut.disabled = true;
    try { await api.signOut(); } catch { /* signed out locally either way */ }
    navigate('/sign-in', {replace: true});
  }}, 'Sign out');
  replace(header, h('div', {class: 'header-inner'},
    brand,
    h('nav', {'aria-label': 'Main'}, h('ul', {class: 'nav'}, items)),
    h('div', {class: 'who'},
      h('span', {class: 'who-account', title: `key ${session.key_name}`}, session.account_id),
      ' ', h('span', {class: 'badge role', 'data-role': session.role}, session.role),
      ' ', signOut)));
}
