// Calls to the loyalty-ledger API with the signed-in key. The key lives in sessionStorage
// only: it is gone when the tab closes, and other tabs never see it.
const storageKey = 'loyalty-console.key';
const roleKey = 'loyalty-console.role';

export const session = {
  get key() { return sessionStorage.getItem(storageKey); },
  get role() { return sessionStorage.getItem(roleKey); },
  start(key, role) {
    sessionStorage.setItem(storageKey, key);
    sessionStorage.setItem(roleKey, role);
  },
  end() {
    sessionStorage.removeItem(storageKey);
    sessionStorage.removeItem(roleKey);
  },
};

// A refused call, carrying the API's RFC 9457 problem (`detail` is the sentence to show).
export class ApiError extends Error {
  constructor(status, problem, path) {
    const detail = (problem && problem.detail) || (status === 0 ? 'the service could not be reached' : `HTTP ${status}`);
    super(detail);
    this.status = status;
    this.code = (problem && problem.code) || '';
    this.detail = detail;
    this.errors = (problem && problem.errors) || [];
    this.requestId = (problem && problem.request_id) || '';
    this.path = path;
  }
  // The server has no such route (yet): an endpoint newer than this server, or a method it lacks.
  get unavailable() { return this.status === 404 || this.status === 405; }
}

// Any listener (main.js) hears of a 401 so that an expired or revoked key ends the session.
let onUnauthenticated = () => {};
export function whenUnauthenticated(callback) { onUnauthenticated = callback; }

// One call. `body` is sent as JSON; `key` overrides the session's (sign-in); `raw` returns
// the Response itself (files).
export async function api(path, { method = 'GET', body, headers = {}, key, raw = false } = {}) {
  const secret = key || session.key;
  const sent = { Accept: 'application/json', ...headers };
  if (secret) sent.Authorization = `Bearer ${secret}`;
  let payload;
  if (body !== undefined) {
    sent['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers: sent, body: payload, cache: 'no-store', credentials: 'omit' });
  } catch (error) {
    throw new ApiError(0, { detail: `the service could not be reached (${error.message})` }, path);
  }
  if (!response.ok) {
    let problem = null;
    try { problem = await response.json(); } catch { problem = null; }
    const error = new ApiError(response.status, problem, path);
    if (response.status === 401 && !key) onUnauthenticated(error);
    throw error;
  }
  if (raw) return response;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

// Builds "path?a=1&b=2" from the values that are set.
export function withQuery(path, values) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== '') query.set(name, String(value));
  }
  const text = query.toString();
  if (!text) return path;
  return path.includes('?') ? `${path}&${text}` : `${path}?${text}`;
}

export const encode = (segment) => encodeURIComponent(segment);

// The role of a key. The API has no "who am I" route, so the console asks one cheap question
// per role, in order of reach: a 403 means "not this role", any other answer (200, 404 for a
// made-up id, 422) means the role may call that route. A 401 is a wrong, revoked or expired key.
const roleProbes = [
  ['admin', '/v1/keys?limit=1'],
  ['finance', '/v1/exports/exp_console_role_probe'],
  ['mall', '/v1/members/mem_console_role_probe'],
  ['ingest', '/v1/events/evt_console_role_probe'],
];

export async function detectRole(key) {
  for (const [role, path] of roleProbes) {
    try {
      await api(path, { key });
      return role;
    } catch (error) {
      if (error.status === 403) continue;
      if (error.status === 401 || error.status === 429 || error.status === 0 || error.status >= 500) throw error;
      return role;
    }
  }
  throw new ApiError(403, { detail: 'this key has none of the roles the console knows', code: 'forbidden' }, '');
}

// Reads every page of a list, up to `limit_items` items (a guard against huge lists).
export async function readAll(path, limitItems = 2000) {
  const items = [];
  let cursor;
  do {
    const page = await api(withQuery(path, { cursor, limit: 500 }));
    items.push(...(page.items || []));
    cursor = page.next_cursor;
  } while (cursor && items.length < limitItems);
  return items;
}
