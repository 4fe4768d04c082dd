// Applications: every app of the account, with its latest version.
import {api} from '../api.js';
import {errorBox, loading} from '../components/flash.js';
import {pager, table} from '../components/table.js';
import {h, replace, timeEl} from '../dom.js';
import {apiApp, appRunsUrl, appUrl} from '../links.js';

function latest(versions) {
  return versions.reduce((best, v) => (!best || v.created_at > best.created_at ? v : best), null);
}

export default async function render(root, params, query, ctx) {
  ctx.setTitle('Applications');
  const body = h('div', {}, loading('Loading applications…'));
  root.append(h('div', {class: 'page-head'}, h('h1', {}, 'Applications')),
    h('p', {class: 'muted'}, 'Decision models pushed to this account. Push one with ',
      h('code', {}, 'runyard app push'), ' or the nextmv SDK.'),
    body);
  const pages = [query.page || null]; // tokens of the pages seen, to go back
  const show = async () => {
    replace(body, loading('Loading applications…'));
    let page;
    try {
      page = await api.get('/v1/applications', {pagereturn: 'true', pagetoken: pages[pages.length - 1]}, {signal: ctx.signal});
    } catch (err) {
      if (err.name !== 'AbortError') replace(body, errorBox(err, {title: 'The applications could not be loaded'}));
      return;
    }
    const items = page.items || [];
    const versionCells = new Map();
    const columns = [
      {label: 'Name', render: (a) => h('a', {href: appUrl(a.id)}, a.name || a.id)},
      {label: 'ID', render: (a) => h('code', {}, a.id)},
      {label: 'Description', render: (a) => a.description || h('span', {class: 'muted'}, '—')},
      {label: 'Latest version', render: (a) => {
        const cell = h('span', {class: 'muted'}, '…');
        versionCells.set(a.id, cell);
        return cell;
      }},
      {label: 'Runs', render: (a) => h('a', {href: appRunsUrl(a.id), 'aria-label': `Runs of ${a.name || a.id}`}, 'Runs')},
      {label: 'Updated', render: (a) => timeEl(a.updated_at || a.created_at)},
    ];
    replace(body,
      table({caption: 'Applications', captionHidden: true, columns, rows: items, rowKey: (a) => a.id,
        empty: 'No applications yet. Push one with “runyard app push” or the nextmv SDK, and it appears here.'}),
      items.length || pages.length > 1 ? pager({
        label: 'Application pages',
        hasPrev: pages.length > 1, hasNext: Boolean(page.next_page_token),
        onPrev: () => { pages.pop(); show(); },
        onNext: () => { pages.push(page.next_page_token); show(); },
      }) : null);
    // The latest version of each app, filled in as the answers come (one small call per app shown).
    await Promise.all(items.map(async (a) => {
      const cell = versionCells.get(a.id);
      try {
        const versions = await api.get(`${apiApp(a.id)}/versions`, {}, {signal: ctx.signal});
        const v = latest(Array.isArray(versions) ? versions : versions.items || []);
        replace(cell, v ? h('span', {title: v.id}, v.name || v.id) : 'none yet');
        cell.className = v ? '' : 'muted';
      } catch (err) {
        if (err.name !== 'AbortError') replace(cell, 'unknown');
      }
    }));
  };
  await show();
}
