// Dead letters: failed and needs_migration workflows with their last error
// (`/v1/dead-letters`), retried or cancelled one by one or retried in bulk (a key with the
// `admin` scope, or the admin token). The list
// follows the event stream: it reloads when a workflow fails or leaves it (unless rows are
// selected, so a selection is never lost under the operator's hands).
import { api, query } from './api.js';
import { EventStream } from './events.js';
import { badge, errorBox, h, row, show, table, throttle, time, workflowLink } from './dom.js';

const DEAD = new Set(['failed', 'needs_migration']);

const KINDS = ['mint', 'mint_batch', 'payment', 'deployment'];
const HEADERS = ['select', 'id', 'kind', 'state', 'status', 'attempt', 'last error', 'updated', 'actions'];

export function render(root, params) {
  const kind = params.get('kind') ?? '';
  const list = h('div', { id: 'dead-letters' }, h('p', { class: 'muted' }, 'Loading…'));
  const message = h('div', { id: 'dead-letters-message' });
  const more = h('button', { type: 'button', id: 'dead-letters-next', hidden: true }, 'Next page');
  const bulk = h('button', { type: 'button', id: 'retry-selected', disabled: true }, 'Retry selected');
  const all = h('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'select all' });
  const kindSelect = h('select', { id: 'dl-kind', onchange: () => { location.hash = `#/dead-letters${query({ kind: kindSelect.value })}`; } },
    h('option', { value: '' }, 'every kind'),
    KINDS.map((k) => h('option', { value: k, selected: k === kind }, k)));
  root.append(h('section', { class: 'panel' },
    h('h2', {}, 'Dead letters'),
    h('p', { class: 'muted' }, 'Failed and needs-migration workflows. Retry resumes a workflow where it stopped; every action needs a key with the admin scope (or the admin token) and is recorded in the workflow\'s history.'),
    h('div', { class: 'row' }, h('label', {}, 'Kind', kindSelect), h('label', { class: 'check' }, all, 'all'), bulk),
    message, list, more));

  let cursor = null;
  let body = null;
  // A reload supersedes a page still loading, so rows are never appended twice.
  let generation = 0;
  const selected = () => [...list.querySelectorAll('input[data-select]:checked')].map((c) => c.dataset.select);
  const updateBulk = () => {
    const n = selected().length;
    bulk.disabled = n === 0;
    bulk.textContent = n ? `Retry selected (${n})` : 'Retry selected';
  };
  const reset = () => {
    all.checked = false;
    load(true);
  };

  const act = async (id, action) => {
    message.replaceChildren();
    try {
      const w = await api(`/v1/workflows/${encodeURIComponent(id)}/${action}`, { method: 'POST' });
      message.append(h('p', { class: 'ok', id: 'dead-letters-result' }, `${action} ${id.slice(0, 8)}: now ${show(w?.status)} in ${show(w?.state)}`));
      reset();
    } catch (e) {
      message.append(errorBox(e));
    }
  };

  async function load(fresh) {
    const gen = fresh ? ++generation : generation;
    try {
      const page = await api(`/v1/dead-letters${query({ kind, limit: 50, cursor: fresh ? null : cursor })}`);
      if (gen !== generation) return;
      const items = page?.items ?? [];
      if (fresh || !body) {
        const t = table(HEADERS, [], { id: 'dead-letters-table' });
        body = t.querySelector('tbody');
        list.replaceChildren(t);
      }
      body.append(...items.map((w) => row(HEADERS, [
        h('input', { type: 'checkbox', dataset: { select: w.id }, 'aria-label': `select ${w.id}`, onchange: updateBulk }),
        workflowLink(w.id), show(w.kind), show(w.state), badge(w.status), show(w.attempt),
        w.lastError ? h('span', { class: 'error-text' }, w.lastError) : show(null),
        time(w.updatedAt),
        h('span', { class: 'row' },
          h('button', { type: 'button', class: 'small', dataset: { retry: w.id }, onclick: () => act(w.id, 'retry') }, 'Retry'),
          // Only a parked workflow can be cancelled: a failed one is already final.
          w.status === 'needs_migration'
            ? h('button', { type: 'button', class: 'small danger', dataset: { cancel: w.id }, onclick: () => act(w.id, 'cancel') }, 'Cancel')
            : null),
      ], { dataset: { id: w.id, updated: w.updatedAt ?? '' } })));
      if (!body.children.length) list.replaceChildren(h('p', { class: 'muted' }, 'No dead letters.'));
      cursor = page?.nextCursor ?? null;
      more.hidden = !cursor;
      list.dataset.loaded = String(Date.now());
    } catch (e) {
      if (gen !== generation) return;
      list.replaceChildren(errorBox(e));
      list.dataset.loaded = 'error';
    }
    updateBulk();
  }

  all.addEventListener('change', () => {
    for (const c of list.querySelectorAll('input[data-select]')) c.checked = all.checked;
    updateBulk();
  });
  more.addEventListener('click', () => load(false));
  bulk.addEventListener('click', async () => {
    const ids = selected();
    if (!ids.length) return;
    message.replaceChildren();
    try {
      const r = await api('/v1/dead-letters/retry', { method: 'POST', body: { ids } });
      const skipped = r?.skipped ?? [];
      message.append(h('div', { class: 'ok', id: 'dead-letters-result' },
        h('p', {}, `Retried ${r?.retried?.length ?? 0} of ${ids.length}.`),
        skipped.length ? h('ul', {}, skipped.map((s) => h('li', {}, workflowLink(s.id), ` skipped: ${show(s.reason)}`))) : ''));
      reset();
    } catch (e) {
      message.append(errorBox(e));
    }
  });
  load(true);
  const refresh = throttle(() => {
    if (!selected().length) reset();
  }, 1000);
  const source = new EventStream(`/v1/events${query({ kind })}`);
  source.addEventListener('transition', (ev) => {
    let t = null;
    try {
      t = JSON.parse(ev.data);
    } catch {
      return;
    }
    const listed = t?.workflowId && list.querySelector(`tr[data-id="${CSS.escape(t.workflowId)}"]`);
    if (DEAD.has(t?.status) || listed) refresh();
  });
  return () => source.close();
}
