// The workflow list: `/v1/workflows` with every filter, newest first, a page at a time.
import { api, query } from './api.js';
import { badge, errorBox, h, row, short, show, table, time, workflowLink } from './dom.js';

const KINDS = ['mint', 'mint_batch', 'payment', 'deployment'];
const STATUSES = ['running', 'waiting', 'completed', 'failed', 'cancelled', 'needs_migration'];
/** Text filters, as the API names them. */
const TEXT = [
  ['state', 'State', 'pending, sent, confirmed…'],
  ['payer', 'Payer', '0x…'],
  ['token', 'Token', '0x…'],
  ['txHash', 'Tx hash', '0x…'],
  ['idempotencyKey', 'Idempotency key', ''],
];
const HEADERS = ['id', 'kind', 'state', 'status', 'attempt', 'payer', 'created', 'updated', 'last error'];

export function render(root, params) {
  const fields = {};
  const input = (name, attrs = {}) => {
    fields[name] = h('input', { name, id: `f-${name}`, value: params.get(name) ?? '', autocomplete: 'off', ...attrs });
    return fields[name];
  };
  const select = (name, options) => {
    fields[name] = h('select', { name, id: `f-${name}` },
      h('option', { value: '' }, 'any'),
      options.map((o) => h('option', { value: o, selected: params.get(name) === o }, o)));
    return fields[name];
  };
  const results = h('div', { id: 'workflow-results' });
  const more = h('button', { type: 'button', id: 'next-page', hidden: true }, 'Next page');
  const form = h('form', { id: 'workflow-filters', class: 'filters' },
    h('label', {}, 'Kind', input('kind', { list: 'kinds', placeholder: 'any' })),
    h('datalist', { id: 'kinds' }, KINDS.map((k) => h('option', { value: k }))),
    h('label', {}, 'Status', select('status', STATUSES)),
    TEXT.map(([name, label, placeholder]) => h('label', {}, label, input(name, { placeholder }))),
    h('label', {}, 'Older than (s)', input('olderThanSeconds', { type: 'number', min: 0 })),
    h('label', {}, 'Created after', input('createdAfter', { type: 'datetime-local', value: localValue(params.get('createdAfter')) })),
    h('label', {}, 'Created before', input('createdBefore', { type: 'datetime-local', value: localValue(params.get('createdBefore')) })),
    h('label', {}, 'Per page', input('limit', { type: 'number', min: 1, max: 500, placeholder: '50' })),
    h('div', { class: 'row' },
      h('button', { type: 'submit' }, 'Search'),
      h('a', { href: '#/workflows', class: 'button ghost' }, 'Clear')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = {};
    for (const [name, field] of Object.entries(fields)) {
      const v = field.value.trim();
      if (!v) continue;
      q[name] = name.startsWith('created_') ? new Date(v).toISOString() : v;
    }
    location.hash = `#/workflows${query(q)}`;
  });

  root.append(
    h('section', { class: 'panel' }, h('h2', {}, 'Workflows'), form),
    h('section', { class: 'panel' }, results, more),
  );

  const filters = {};
  for (const name of ['kind', 'status', 'olderThanSeconds', 'createdAfter', 'createdBefore', 'limit', ...TEXT.map(([n]) => n)]) {
    if (params.get(name)) filters[name] = params.get(name);
  }
  let cursor = null;
  let body = null;
  const load = async () => {
    more.disabled = true;
    try {
      const page = await api(`/v1/workflows${query({ ...filters, cursor })}`);
      const items = page?.items ?? [];
      if (!body) {
        const t = table(HEADERS, [], { id: 'workflow-table' });
        body = t.querySelector('tbody');
        results.replaceChildren(t);
      }
      body.append(...items.map((w) => row(HEADERS, [
        workflowLink(w.id), show(w.kind), show(w.state), badge(w.status), show(w.attempt),
        short(w.payer), time(w.createdAt), time(w.updatedAt), show(w.lastError),
      ], { dataset: { id: w.id, status: w.status ?? '' } })));
      if (!body.children.length) results.replaceChildren(h('p', { class: 'muted' }, 'No workflow matches.'));
      cursor = page?.nextCursor ?? null;
      more.hidden = !cursor;
      results.dataset.loaded = 'yes';
    } catch (e) {
      results.replaceChildren(errorBox(e));
      results.dataset.loaded = 'error';
      more.hidden = true;
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', load);
  load();
  return () => {};
}

/** An RFC 3339 time as a `datetime-local` value in the reader's zone. */
function localValue(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}
