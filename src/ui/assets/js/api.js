// The JSON API from the browser, and the admin token: asked for in a dialog when an action
// needs it, kept in this tab's sessionStorage only, asked again after a 401.

const TOKEN_KEY = 'mintflow.adminToken';

/** A failed request: the API's `{code, message}` and the HTTP status (0: no answer). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Fetches `path` and parses the JSON answer; throws `ApiError` for any non-2xx. */
export async function api(path, { method = 'GET', body, token } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network_error', `the server did not answer: ${e.message}`);
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    throw new ApiError(
      res.status,
      json?.code ?? `http_${res.status}`,
      json?.message ?? (text.slice(0, 200) || res.statusText),
    );
  }
  return json;
}

/** A query string of the non-empty values of `params` (with its leading `?`, or ''). */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function hasToken() {
  return Boolean(sessionStorage.getItem(TOKEN_KEY));
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  tokenChanged();
}

/** Runs an admin request: asks for the token when none is kept, and again (showing why)
 * after a 401. Throws `ApiError` with code `cancelled` if the operator gives up. */
export async function admin(path, options = {}) {
  let why = '';
  for (;;) {
    let token = sessionStorage.getItem(TOKEN_KEY);
    if (!token || why) {
      token = await askToken(why);
      if (token === null) throw new ApiError(0, 'cancelled', 'no admin token given; nothing was done');
    }
    try {
      return await api(path, { ...options, token });
    } catch (e) {
      if (e.status !== 401) throw e;
      forgetToken();
      why = `${e.code}: ${e.message}`;
    }
  }
}

/** Shows the token dialog; the token typed (and kept), or null on cancel. */
function askToken(why) {
  const dialog = document.getElementById('token-dialog');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const error = document.getElementById('token-error');
  const cancel = document.getElementById('token-cancel');
  error.hidden = !why;
  error.textContent = why ? `Refused: ${why}` : '';
  input.value = '';
  return new Promise((resolve) => {
    const done = (value) => {
      form.removeEventListener('submit', onSubmit);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onSubmit = (ev) => {
      ev.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      tokenChanged();
      done(token);
    };
    const onCancel = (ev) => {
      ev.preventDefault();
      done(null);
    };
    form.addEventListener('submit', onSubmit);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    input.focus();
  });
}

function tokenChanged() {
  window.dispatchEvent(new Event('mintflow:token'));
}
