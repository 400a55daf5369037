// The JSON API from the browser, and the key it is called with: an API key (`mf_…`) or the
// server's ADMIN_TOKEN, asked for in one dialog when a request is refused (401, or 403 for a
// key without the scope), checked with `/v1/whoami`, and kept in this tab's sessionStorage
// only. Every request sends it as `Authorization: Bearer …`, never in a URL.

const KEY = 'mintflow.key';
/** `/v1/whoami`'s answer for the kept key: what the header shows. */
const WHO = 'mintflow.keyWho';

/** A failed request: the API's `{code, message}` and the HTTP status (0: no answer). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Fetches `path` and parses the JSON answer; throws `ApiError` for any non-2xx. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** Fetches `path` with the kept key and answers the (2xx) `Response`; throws `ApiError`
 * otherwise. A 401 or 403 asks for another key and sends the request again with it, except
 * for reads after the operator dismissed the dialog: pages that refresh would ask every few
 * seconds. A request the operator made (any other method) always asks. */
export async function request(path, init = {}) {
  for (;;) {
    const key = sessionStorage.getItem(KEY);
    const headers = { ...init.headers };
    if (key) headers.authorization = `Bearer ${key}`;
    let res;
    try {
      res = await fetch(path, { ...init, headers });
    } catch (e) {
      if (init.signal?.aborted) throw e;
      throw new ApiError(0, 'network_error', `the server did not answer: ${e.message}`);
    }
    if (res.ok) return res;
    const error = await errorOf(res);
    if (error.status !== 401 && error.status !== 403) throw error;
    // Another request may have brought a new key while this one was under way.
    if (sessionStorage.getItem(KEY) !== key) continue;
    if (error.status === 401 && key) forgetKey();
    const action = (init.method ?? 'GET') !== 'GET';
    if (declined && !action) throw error;
    if (!await askKey(`${error.code}: ${error.message}`)) throw error;
  }
}

/** The `ApiError` a non-2xx response stands for. */
async function errorOf(res) {
  const text = await res.text().catch(() => '');
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return new ApiError(
    res.status,
    json?.code ?? `http_${res.status}`,
    json?.message ?? (text.slice(0, 200) || res.statusText),
  );
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
  return Boolean(sessionStorage.getItem(KEY));
}

/** Who the kept key is (`{name, keyId, scopes}`), or null. */
export function keptWho() {
  if (!hasToken()) return null;
  try {
    return JSON.parse(sessionStorage.getItem(WHO));
  } catch {
    return null;
  }
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(WHO);
  keyChanged();
}

/** True once the operator cancelled the dialog, until a key is entered. */
let declined = false;
/** The dialog on screen: every refused request waits for the same answer. */
let asking = null;

/** Shows the key dialog with `why` (or answers the one already shown); true when a key was
 * entered and kept, false on cancel. */
export function askKey(why = '') {
  asking ??= showDialog(why).finally(() => {
    asking = null;
  });
  return asking;
}

function showDialog(why) {
  const dialog = document.getElementById('token-dialog');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const error = document.getElementById('token-error');
  const cancel = document.getElementById('token-cancel');
  const ok = document.getElementById('token-ok');
  const explain = (text) => {
    error.hidden = !text;
    error.textContent = text ? `Refused: ${text}` : '';
  };
  explain(why);
  input.value = '';
  return new Promise((resolve) => {
    const done = (entered) => {
      form.removeEventListener('submit', onSubmit);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      declined = !entered;
      resolve(entered);
    };
    // The key is kept only once `/v1/whoami` accepts it; a wrong one is refused in place.
    const onSubmit = async (ev) => {
      ev.preventDefault();
      const key = input.value.trim();
      if (!key || ok.disabled) return;
      ok.disabled = true;
      try {
        const who = await whoami(key);
        sessionStorage.setItem(KEY, key);
        sessionStorage.setItem(WHO, JSON.stringify({ name: who?.name, keyId: who?.keyId ?? null, scopes: who?.scopes ?? [] }));
        keyChanged();
        done(true);
      } catch (e) {
        explain(`${e.code}: ${e.message}`);
        input.select();
      } finally {
        ok.disabled = false;
      }
    };
    const onCancel = (ev) => {
      ev.preventDefault();
      done(false);
    };
    form.addEventListener('submit', onSubmit);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    input.focus();
  });
}

/** What `key` may do, asked of the server without keeping it. */
async function whoami(key) {
  let res;
  try {
    res = await fetch('/v1/whoami', { headers: { accept: 'application/json', authorization: `Bearer ${key}` } });
  } catch (e) {
    throw new ApiError(0, 'network_error', `the server did not answer: ${e.message}`);
  }
  if (!res.ok) throw await errorOf(res);
  return res.json();
}

function keyChanged() {
  window.dispatchEvent(new Event('mintflow:token'));
}
