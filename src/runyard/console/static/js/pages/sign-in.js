// Sign in with an API key: the server opens a session and sets an HttpOnly cookie.
import {api} from '../api.js';
import {errorBox} from '../components/flash.js';
import {h} from '../dom.js';

function safeNext(next) {
  // Only a path of this console: never an absolute URL a crafted link could send the browser to.
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/sign-in') ? next : '/apps';
}

export default async function render(root, params, query, ctx) {
  ctx.setTitle('Sign in');
  const next = safeNext(query.next);
  if (ctx.session) {
    ctx.navigate(next, {replace: true});
    return;
  }
  const input = h('input', {id: 'api-key', name: 'api_key', type: 'password', autocomplete: 'off', required: true,
    spellcheck: 'false', 'aria-describedby': 'api-key-help'});
  const button = h('button', {type: 'submit', class: 'button primary'}, 'Sign in');
  const errors = h('div', {class: 'form-errors'});
  const form = h('form', {class: 'sign-in-form', novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    errors.replaceChildren();
    if (!input.value.trim()) {
      errors.append(errorBox(new Error('Enter an API key.'), {title: 'Cannot sign in'}));
      input.focus();
      return;
    }
    button.disabled = true;
    button.textContent = 'Signing in…';
    try {
      await api.signIn(input.value.trim());
      ctx.navigate(next, {replace: true});
    } catch (err) {
      errors.append(errorBox(err, {title: 'Cannot sign in'}));
      button.disabled = false;
      button.textContent = 'Sign in';
      input.select();
      input.focus();
    }
  }},
  h('label', {for: 'api-key'}, 'API key'),
  input,
  h('p', {id: 'api-key-help', class: 'muted small'},
    'The key “runyard serve” printed at its first start, or one made with “runyard keys create”.'),
  errors,
  button);
  root.append(h('section', {class: 'sign-in card'}, h('h1', {}, 'Sign in to Runyard'), form));
  input.focus();
}
