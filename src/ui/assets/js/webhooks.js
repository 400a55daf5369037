// Webhooks: the subscriptions, and one subscription's delivery log with a status filter
// (reads: a key with `read`), and redelivery of what was given up
// (`POST /v1/webhooks/{id}/redeliver`, a key with `admin`).
import { api, hasToken, query } from './api.js';
import { badge, errorBox, h, row, show, table, time, workflowLink } from './dom.js';

const LIST_HEADERS = ['url', 'kinds', 'states', 'description', 'position', 'created', 'old secret signs until'];
const LOG_HEADERS = ['id', 'position', 'workflow', 'status', 'attempts', 'last answer', 'last error', 'next attempt', 'delivered', 'actions'];
const STATUSES = ['pending', 'delivered', 'failed'];
/** How often the log is read again while page one is shown: deliveries move without events. */
const REFRESH_MS = 3000;
/** Delivery statuses as the engine-status colours of `badge`. */
const COLOUR = { pending: 'waiting', delivered: 'completed', failed: 'failed' };

export function render(root, params) {
  const id = params.get('id');
  return id ? deliveries(root, id, params.get('status') ?? '') : subscriptions(root);
}

function subscriptions(root) {
  const list = h('div', { id: 'webhooks' }, h('p', { class: 'muted' }, 'Loading…'));
  root.append(h('section', { class: 'panel' },
    h('h2', {}, 'Webhooks'),
    h('p', { class: 'muted' }, 'Signed callbacks for workflow transitions. Subscriptions are created and changed through the API (POST and PATCH /v1/webhooks); open one to see its deliveries.'),
    list));
  api('/v1/webhooks').then((hooks) => {
    if (!hooks?.length) {
      list.replaceChildren(h('p', { class: 'muted' }, 'No subscriptions.'));
    } else {
      list.replaceChildren(table(LIST_HEADERS, hooks.map((w) => row(LIST_HEADERS, [
        h('a', { href: `#/webhooks/${encodeURIComponent(w.id)}`, class: 'mono wrap' }, w.url),
        show(w.kinds?.join(', ') || 'all'), show(w.states?.join(', ') || 'all'), show(w.description),
        show(w.position), time(w.createdAt), time(w.previousSecretUntil),
      ], { dataset: { id: w.id } })), { id: 'webhooks-table' }));
    }
    list.dataset.loaded = 'yes';
  }, (e) => {
    list.replaceChildren(errorBox(e));
    list.dataset.loaded = 'error';
  });
  return () => {};
}

function deliveries(root, id, status) {
  const path = `/v1/webhooks/${encodeURIComponent(id)}`;
  const heading = h('p', { class: 'mono wrap', id: 'webhook-url' }, '…');
  const log = h('div', { id: 'deliveries' }, h('p', { class: 'muted' }, 'Loading…'));
  const message = h('div', { id: 'deliveries-message' });
  const more = h('button', { type: 'button', id: 'deliveries-next', hidden: true }, 'Next page');
  const redeliverAll = h('button', { type: 'button', id: 'redeliver-failed' }, 'Redeliver all failed');
  const filter = h('select', { id: 'delivery-status', onchange: () => { location.hash = `#/webhooks/${encodeURIComponent(id)}${query({ status: filter.value })}`; } },
    h('option', { value: '' }, 'every status'),
    STATUSES.map((s) => h('option', { value: s, selected: s === status }, s)));
  root.append(h('section', { class: 'panel' },
    h('h2', {}, 'Deliveries'),
    heading,
    h('p', { class: 'muted' }, 'Each event sent to this subscription, newest first. Failed ones ran out of webhook_max_attempts; redelivering gives them a fresh set of attempts and is recorded in the audit log.'),
    h('div', { class: 'row' }, h('label', {}, 'Status', filter), redeliverAll, h('a', { href: '#/webhooks', class: 'button ghost' }, 'All webhooks')),
    message, log, more));

  let cursor = null;
  let body = null;
  let paged = false;
  // A reload supersedes a page still loading, so rows are never appended twice.
  let generation = 0;

  const redeliver = async (ids) => {
    message.replaceChildren();
    try {
      const r = await api(`${path}/redeliver`, { method: 'POST', body: ids ? { deliveryIds: ids } : {} });
      message.append(h('p', { class: 'ok', id: 'deliveries-result' }, `Requeued ${r?.requeued ?? 0}.`));
      load(true);
    } catch (e) {
      message.append(errorBox(e));
    }
  };

  async function load(fresh) {
    const gen = fresh ? ++generation : generation;
    if (fresh) paged = false;
    try {
      const page = await api(`${path}/deliveries${query({ status, limit: 50, cursor: fresh ? null : cursor })}`);
      if (gen !== generation) return;
      if (fresh || !body) {
        const t = table(LOG_HEADERS, [], { id: 'deliveries-table' });
        body = t.querySelector('tbody');
        log.replaceChildren(t);
      }
      body.append(...(page?.items ?? []).map((d) => row(LOG_HEADERS, [
        show(d.id), show(d.position), workflowLink(d.workflowId), badge(d.status, COLOUR[d.status]),
        show(d.attempts), show(d.lastStatusCode),
        d.lastError ? h('span', { class: 'error-text' }, d.lastError) : show(null),
        time(d.nextAttemptAt), time(d.deliveredAt),
        d.status === 'failed'
          ? h('button', { type: 'button', class: 'small', dataset: { redeliver: d.id }, onclick: () => redeliver([d.id]) }, 'Redeliver')
          : '',
      ], { dataset: { id: String(d.id), status: d.status } })));
      if (!body.children.length) log.replaceChildren(h('p', { class: 'muted' }, 'No deliveries.'));
      cursor = page?.nextCursor ?? null;
      more.hidden = !cursor;
      log.dataset.loaded = String(Date.now());
    } catch (e) {
      if (gen !== generation) return;
      log.replaceChildren(errorBox(e));
      log.dataset.loaded = 'error';
    }
  }

  redeliverAll.addEventListener('click', () => redeliver(null));
  more.addEventListener('click', () => {
    paged = true;
    load(false);
  });
  // One request at a time until the key is known: each may be refused without it.
  load(true).then(() => api(path)).then(
    (w) => { heading.textContent = w?.url ?? id; },
    (e) => heading.replaceChildren(errorBox(e)),
  );
  // Without a kept key a refresh would be refused every few seconds.
  const timer = setInterval(() => {
    if (!paged && hasToken() && log.dataset.loaded !== 'error') load(true);
  }, REFRESH_MS);
  return () => clearInterval(timer);
}
