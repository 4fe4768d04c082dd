// The public HTTP API, from the browser: the session cookie authenticates, the CSRF header guards changes.
import {navigate} from './router.js';

export class ApiError extends Error {
  constructor(status, message, requestId = null, body = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.requestId = requestId;
    this.body = body;
  }
}

let current = null; // the session, once read: {account_id, role, key_name, csrf_token, expires_at}

function url(path, query) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v === null || v === undefined || v === '') continue;
    for (const item of Array.isArray(v) ? v : [v]) u.searchParams.append(k, item);
  }
  return u;
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  let requestId = response.headers.get('x-request-id');
  let body = null;
  try {
    body = await response.json();
    message = body.error || body.message || body.detail || message;
    requestId = body.request_id || requestId;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, typeof message === 'string' ? message : JSON.stringify(message), requestId, body);
}

function goSignIn() {
  if (location.pathname === '/sign-in') return;
  const next = location.pathname + location.search;
  navigate(`/sign-in?next=${encodeURIComponent(next)}`, {replace: true});
}

/** Call the API. `options`: query, body (JSON unless a Blob/FormData/string), signal, raw (the Response). */
export async function request(method, path, options = {}) {
  const headers = {Accept: 'application/json', ...(options.headers || {})};
  let body = options.body;
  if (body !== undefined && !(body instanceof Blob) && !(body instanceof FormData) && typeof body !== 'string') {
    body = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  if (!['GET', 'HEAD', 'OPTIONS'].includes(method)) {
    const s = await session();
    if (s) headers['X-CSRF-Token'] = s.csrf_token;
  }
  let response;
  try {
    response = await fetch(url(path, options.query), {method, headers, body, credentials: 'same-origin', signal: options.signal});
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'The server cannot be reached; check that it is running and try again.');
  }
  if (response.status === 401 && !options.noRedirect) {
    current = null;
    goSignIn();
  }
  if (!response.ok) throw await errorOf(response);
  if (options.raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.text();
}

/** The signed-in session (cached), or null when not signed in. */
export async function session({refresh = false} = {}) {
  if (current && !refresh) return current;
  try {
    const response = await fetch('/v1/console/session', {credentials: 'same-origin', headers: {Accept: 'application/json'}});
    if (response.status === 401) { current = null; return null; }
    if (!response.ok) throw await errorOf(response);
    current = await response.json();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(0, 'The server cannot be reached; check that it is running and try again.');
  }
  return current;
}

/** Whether the signed-in role is at least `role` (viewer < operator < developer < admin). */
export function can(role) {
  const ranks = ['viewer', 'operator', 'developer', 'admin'];
  return current !== null && ranks.indexOf(current.role) >= ranks.indexOf(role);
}

export async function signIn(apiKey) {
  const response = await fetch('/v1/console/session', {
    method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', Accept: 'application/json'},
    body: JSON.stringify({api_key: apiKey}),
  });
  if (!response.ok) throw await errorOf(response);
  current = await response.json();
  return current;
}

export async function signOut() {
  try {
    await request('DELETE', '/v1/console/session', {noRedirect: true});
  } finally {
    current = null;
  }
}

export const api = {
  get: (path, query, options = {}) => request('GET', path, {...options, query}),
  post: (path, body, options = {}) => request('POST', path, {...options, body}),
  put: (path, body, options = {}) => request('PUT', path, {...options, body}),
  patch: (path, body, options = {}) => request('PATCH', path, {...options, body}),
  del: (path, body, options = {}) => request('DELETE', path, {...options, body}),
  request,
  session,
  can,
  signIn,
  signOut,
};

export default api;
