// The console's client of the JSON API. The access token lives in this module's memory only; the refresh
// token is an HttpOnly cookie the browser sends to /api/auth, which no script here can read.

const MODE = { 'X-Refresh-Cookie': '1' };
let access = null;
let refreshing = null;
let timer = null;
const endListeners = new Set();

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `The service answered ${status}.`);
    this.status = status;
    this.problem = problem || {};
    this.fields = (problem && problem.errors) || [];
  }
}

/** Called when the session ends without the person asking (expired, or ended elsewhere). */
export function onSessionEnd(listener) {
  endListeners.add(listener);
}

function ended() {
  forget();
  endListeners.forEach((listener) => listener());
}

function forget() {
  access = null;
  clearTimeout(timer);
}

async function parse(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text };
  }
}

function accept(body) {
  access = body.access_token;
  clearTimeout(timer);
  // Renew before the access token runs out, so requests do not meet a 401 first.
  const seconds = Math.max(5, Math.floor(body.expires_in * 0.8));
  timer = setTimeout(() => refresh().catch(() => ended()), seconds * 1000);
}

async function post(path, body, headers = {}) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...MODE, ...headers },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
  const data = await parse(response);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export async function signIn(email, password) {
  accept(await post('/api/auth/login', { email, password }));
}

/** Swap the cookie for a new pair; one refresh at a time in this tab (other tabs share the server's grace). */
export function refresh() {
  if (!refreshing) {
    refreshing = post('/api/auth/refresh', {})
      .then(accept, (error) => {
        forget();
        throw error;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

// Set beside the HttpOnly refresh cookie (and removed with it): it holds no secret, only "there may be one".
const HINT = 'signed_in=1';

function hinted() {
  return document.cookie.split(';').some((cookie) => cookie.trim() === HINT);
}

/** At page load: sign back in from the cookie, if there is a live one (nobody signed in: no request at all). */
export async function resume() {
  if (!hinted()) return false;
  try {
    await refresh();
    return true;
  } catch (error) {
    if (error.status !== 401) throw error;
    document.cookie = 'signed_in=; Path=/; Max-Age=0; SameSite=Strict'; // the session ended meanwhile
    return false;
  }
}

export async function signOut() {
  try {
    if (access) await request('POST', '/api/auth/logout', { headers: MODE });
  } finally {
    forget();
  }
}

export function signedIn() {
  return access !== null;
}

function send(method, path, { body, headers = {}, etag } = {}) {
  const sent = { ...headers };
  // A FormData body (a file upload) sets its own multipart Content-Type.
  const form = typeof FormData !== 'undefined' && body instanceof FormData;
  if (body !== undefined && !form) sent['Content-Type'] = 'application/json';
  if (access) sent.Authorization = `Bearer ${access}`;
  if (etag) sent['If-Match'] = etag;
  return fetch(path, {
    method,
    headers: sent,
    body: body === undefined || form ? body : JSON.stringify(body),
    credentials: 'same-origin',
  });
}

/** One API call; answers {data, etag, status} or throws ApiError with the problem's detail and field errors. */
export async function request(method, path, options = {}) {
  let response = await send(method, path, options);
  if (response.status === 401 && access) {
    try {
      await refresh();
    } catch (error) {
      ended();
      throw error;
    }
    response = await send(method, path, options);
  }
  if (response.ok && options.blob) return { data: await response.blob(), status: response.status, headers: response.headers };
  const data = await parse(response);
  if (!response.ok) {
    if (response.status === 401) ended();
    throw new ApiError(response.status, data);
  }
  return { data, etag: response.headers.get('ETag'), status: response.status, headers: response.headers };
}

export const get = (path) => request('GET', path);

/** A fresh Idempotency-Key: a form sent twice (double click, retry) records the sale once. */
export function idempotencyKey() {
  // getRandomValues works outside secure contexts too (plain http on a shop's network).
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
