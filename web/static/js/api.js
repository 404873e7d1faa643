// The portal's only way to the server: JSON requests to /api (docs/api.md).
// Every state-changing request (POST, PUT, DELETE) carries the session's CSRF token, taken
// from /api/session or /api/login. Errors become ApiError with the server's error.message,
// so that pages can show it as it is.

let csrfToken = null;
let unauthenticatedHandler = null;

export class ApiError extends Error {
  // errors: a 400's problems by field, [{field, message}] (docs/api.md, "Connections").
  constructor(status, code, message, errors = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.errors = errors;
  }
}

export function setCsrfToken(token) {
  csrfToken = token || null;
}

// Called when any request other than login answers 401 (the session ended).
export function onUnauthenticated(handler) {
  unauthenticatedHandler = handler;
}

// Builds "/api/x?a=1&b=2", leaving out empty values.
export function apiPath(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  const changes = method !== 'GET' && method !== 'HEAD';
  // State-changing requests always send JSON (an empty object when there is nothing to
  // say): the server refuses other media types, and a body-less POST is ambiguous.
  let payload;
  if (changes && method !== 'DELETE') {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body === undefined ? {} : body);
  }
  if (changes && csrfToken) headers['X-CSRF-Token'] = csrfToken;

  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', `The server did not answer (${e.message}). Is plexus serve still running?`);
  }

  const text = res.status === 204 ? '' : await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      if (res.ok) throw new ApiError(res.status, 'bad_response', `${method} ${path}: the answer is not JSON`);
    }
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    const message = err.message || `${method} ${path}: HTTP ${res.status} ${res.statusText}`.trim();
    if (res.status === 401 && path !== '/api/login' && unauthenticatedHandler) unauthenticatedHandler();
    throw new ApiError(res.status, err.code || `http_${res.status}`, message, (data && Array.isArray(data.errors)) ? data.errors : null);
  }
  return data;
}

export const api = {
  get: (path, params) => request('GET', apiPath(path, params)),
  post: (path, body) => request('POST', path, body),
  put: (path, body) => request('PUT', path, body),
  del: (path) => request('DELETE', path),
};

// Path segment for an id taken from data (process ids, user names).
export const seg = (s) => encodeURIComponent(s);
