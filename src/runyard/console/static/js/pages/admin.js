// Accounts and API keys, for admins: list accounts, create one (the default account's admins), list an
// account's keys, issue a key (shown once) and revoke one. Other roles are told so; the API refuses them too.
import {api} from '../api.js';
import {errorBox, notice} from '../components/flash.js';
import {table} from '../components/table.js';
import {h, replace, timeEl} from '../dom.js';
import {breadcrumbs, idCode} from './exp-common.js';

const ROLES = ['viewer', 'operator', 'developer', 'admin'];
const accountUrl = (id) => `/admin/accounts/${encodeURIComponent(id)}`;

function refused(root, role) {
  root.append(h('h1', {}, 'Admin'), h('div', {class: 'flash flash-error', role: 'alert'},
    h('strong', {}, 'Admins only. '), 'Keys and accounts are managed with an admin key; this key has the role ',
    h('code', {}, role || 'unknown'), '.'));
}

function field(id, label, control) {
  control.id = id;
  return h('div', {class: 'field'}, h('label', {for: id}, label), control);
}

/** A button that asks once more before `action` (keyboard friendly, no modal). */
function confirmButton(label, confirmLabel, action) {
  const button = h('button', {type: 'button', class: 'button danger small'}, label);
  let armed = false;
  button.addEventListener('click', async () => {
    if (!armed) { armed = true; button.textContent = confirmLabel; return; }
    button.disabled = true;
    await action(button);
  });
  button.addEventListener('blur', () => { if (!button.disabled) { armed = false; button.textContent = label; } });
  return button;
}

async function accounts(root, ctx) {
  ctx.setTitle('Admin · Accounts');
  const list = h('div', {});
  const messages = h('div', {});
  root.append(h('h1', {}, 'Accounts'), h('p', {class: 'muted'}, 'Each account (team) has its own applications, runs and keys.'), messages, list);
  const draw = async () => {
    const rows = await api.get('/v1/admin/accounts', {}, {signal: ctx.signal});
    replace(list, table({caption: 'Accounts', captionHidden: true, rows, rowKey: (a) => a.id, columns: [
      {label: 'Account', render: (a) => h('a', {href: accountUrl(a.id)}, a.name || a.id)}, {label: 'ID', render: (a) => idCode(a.id)},
      {label: 'Created', render: (a) => timeEl(a.created_at)}, {label: 'Keys', render: (a) => h('a', {href: accountUrl(a.id)}, 'Manage keys', h('span', {class: 'visually-hidden'}, ` of ${a.name || a.id}`))}]}));
  };
  await draw();
  if (ctx.session.account_id !== 'default') return;
  const name = h('input', {type: 'text', required: true, autocomplete: 'off'});
  const form = h('form', {class: 'filters', 'aria-label': 'New account'}, field('new-account-name', 'New account name', name),
    h('button', {type: 'submit', class: 'button primary'}, 'Create account'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const a = await api.post('/v1/admin/accounts', {name: name.value.trim()});
      replace(messages, notice(`Account ${a.name} (${a.id}) created.`, 'info'));
      name.value = '';
      await draw();
    } catch (err) {
      replace(messages, errorBox(err, {title: 'The account could not be created'}));
    }
  });
  root.append(h('h2', {}, 'Create an account'), form);
}

async function keys(root, account, ctx) {
  ctx.setTitle(`Admin · Keys of ${account}`);
  const path = `/v1/admin/accounts/${encodeURIComponent(account)}/keys`;
  const list = h('div', {});
  const messages = h('div', {});
  root.append(breadcrumbs([['Accounts', '/admin'], [account]]), h('h1', {}, `API keys of ${account}`), messages);
  const draw = async () => {
    const rows = await api.get(path, {}, {signal: ctx.signal});
    replace(list, table({caption: 'API keys', captionHidden: true, rows, rowKey: (k) => k.id, columns: [
      {label: 'Name', render: (k) => k.name || '—'}, {label: 'Key id', render: (k) => idCode(k.id)},
      {label: 'Role', render: (k) => h('span', {class: 'badge role'}, k.role)},
      {label: 'Created', render: (k) => timeEl(k.created_at)},
      {label: 'State', render: (k) => (k.revoked_at ? h('span', {class: 'badge status-canceled'}, '⊘ revoked') : h('span', {class: 'badge status-succeeded'}, '✓ active'))},
      {label: 'Actions', render: (k) => (k.revoked_at ? '' : confirmButton(`Revoke ${k.name || k.id}`, `Confirm: revoke ${k.name || k.id}`, async (button) => {
        try {
          await api.del(`${path}/${encodeURIComponent(k.id)}`);
          replace(messages, notice(`Key ${k.name || k.id} revoked: it no longer works, and its console sessions ended.`, 'info'));
          await draw();
        } catch (err) {
          button.disabled = false;
          replace(messages, errorBox(err, {title: 'The key could not be revoked'}));
        }
      }))},
    ], empty: 'This account has no keys.'}));
  };
  const name = h('input', {type: 'text', required: true, autocomplete: 'off'});
  const roleSelect = h('select', {}, ROLES.map((r) => h('option', {value: r, selected: r === 'viewer'}, r)));
  const form = h('form', {class: 'filters', 'aria-label': 'Create an API key'}, field('new-key-name', 'Key name', name),
    field('new-key-role', 'Role', roleSelect), h('button', {type: 'submit', class: 'button primary'}, 'Create key'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const issued = await api.post(path, {name: name.value.trim(), role: roleSelect.value});
      replace(messages, h('div', {class: 'flash flash-info', role: 'status'},
        h('strong', {}, `Key ${issued.name} (${issued.role}) created. `), 'Copy it now: it is not shown again.',
        h('p', {}, h('label', {for: 'issued-key'}, 'New API key'), h('input', {id: 'issued-key', type: 'text', readOnly: true, value: issued.key, size: 60}))));
      name.value = '';
      await draw();
    } catch (err) {
      replace(messages, errorBox(err, {title: 'The key could not be created'}));
    }
  });
  root.append(list, h('h2', {}, 'Create a key'), form);
  await draw();
}

export default async function render(root, params, query, ctx) {
  if (!api.can('admin')) {
    ctx.setTitle('Admin');
    refused(root, ctx.session && ctx.session.role);
    return;
  }
  if (params.account) await keys(root, params.account, ctx);
  else await accounts(root, ctx);
}
