// Small DOM and formatting helpers shared by every view.

/** Creates an element: `h('a', {href: '#/', class: 'x', onclick: fn}, 'text', child)`. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      node.className = value;
    } else if (key === 'dataset') {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(key, '');
    } else {
      node.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** What is shown for a missing value. */
export const DASH = '—';

export function show(value) {
  return value === undefined || value === null || value === '' ? DASH : String(value);
}

/** A time as the reader's local `YYYY-MM-DD HH:MM:SS`; the full ISO string on hover. */
export function time(iso) {
  if (!iso) return h('span', {}, DASH);
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', {}, show(iso));
  const pad = (n) => String(n).padStart(2, '0');
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `
    + `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return h('time', { datetime: iso, title: iso }, text);
}

/** A duration in milliseconds, readable: `850 ms`, `3.2 s`, `4 min 3 s`, `2 h 5 min`. */
export function duration(ms) {
  if (ms === undefined || ms === null || !Number.isFinite(Number(ms))) return DASH;
  const n = Number(ms);
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60_000) return `${(n / 1000).toFixed(1)} s`;
  if (n < 3_600_000) return `${Math.floor(n / 60_000)} min ${Math.round((n % 60_000) / 1000)} s`;
  return `${Math.floor(n / 3_600_000)} h ${Math.round((n % 3_600_000) / 60_000)} min`;
}

/** A link to a workflow's timeline. Ids are UUIDv7, whose first digits are a timestamp shared
 * by neighbours: the link shows the start and the (random) end. */
export function workflowLink(id) {
  if (!id) return h('span', {}, DASH);
  const s = String(id);
  return h('a', { href: `#/workflows/${encodeURIComponent(s)}`, class: 'mono id', title: s }, `${s.slice(0, 8)}…${s.slice(-4)}`);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A transition's detail object as `key: value` lines, workflow ids as links. */
export function detail(value) {
  if (value === undefined || value === null) return h('span', {}, DASH);
  if (typeof value !== 'object' || Array.isArray(value)) return h('code', { class: 'wrap' }, JSON.stringify(value));
  return h('ul', { class: 'detail' }, Object.entries(value).map(([k, v]) => h('li', {},
    h('span', { class: 'muted' }, `${k}: `),
    typeof v === 'string' && UUID.test(v) ? workflowLink(v)
      : h('code', { class: 'wrap' }, typeof v === 'string' ? v : JSON.stringify(v)))));
}

/** A long hex value (hash, address) that wraps instead of widening the page. */
export function mono(value) {
  return h('span', { class: 'mono wrap', title: value ?? '' }, show(value));
}

/** A hash or id in a table: its ends, the whole on hover. */
export function short(value) {
  const s = show(value);
  if (s.length <= 20) return h('span', { class: 'mono' }, s);
  return h('span', { class: 'mono', title: s }, `${s.slice(0, 10)}…${s.slice(-8)}`);
}

/** A status or state badge, coloured by engine status. */
export function badge(text, status = text) {
  return h('span', { class: `badge s-${status ?? 'none'}` }, show(text));
}

/** A table with a header row; `rows` are arrays of cells (nodes or text). */
export function table(headers, rows, attrs = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', attrs,
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)));
}

/** A row whose cells carry their column name (the phone layout shows it). */
export function row(headers, cells, attrs = {}) {
  return h('tr', attrs, cells.map((c, i) => h('td', { 'data-label': headers[i] }, c instanceof Node ? c : show(c))));
}

/** An error from the API (`{code, message}`) or the network, shown in place. */
export function errorBox(err) {
  const code = err?.code ? `${err.code}: ` : '';
  const status = err?.status ? ` (HTTP ${err.status})` : '';
  return h('p', { class: 'error', role: 'alert' }, `${code}${err?.message ?? String(err)}${status}`);
}

/** Calls `fn` at most once per `ms`, the last call winning. */
export function throttle(fn, ms) {
  let timer = null;
  let again = false;
  return () => {
    if (timer) {
      again = true;
      return;
    }
    fn();
    timer = setTimeout(function tick() {
      timer = null;
      if (again) {
        again = false;
        fn();
        timer = setTimeout(tick, ms);
      }
    }, ms);
  };
}

/** Statuses after which a workflow moves no more. */
export const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
