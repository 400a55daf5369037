// One workflow's timeline: `/v1/workflows/{id}/history` (transitions, transactions, parent and
// children), kept current by `/v1/workflows/{id}/events` until the workflow is terminal, with
// the operator's retry and cancel.
import { api } from './api.js';
import { EventStream } from './events.js';
import { TERMINAL, badge, detail, duration, errorBox, h, mono, row, short, show, table, throttle, time, workflowLink } from './dom.js';

const EVENT_HEADERS = ['at', 'event', 'from → to', 'status', 'in previous state', 'attempt', 'worker', 'error', 'detail'];
const TX_HEADERS = ['tx', 'purpose', 'nonce', 'status', 'hash', 'created', 'confirmed'];
const ATTEMPT_HEADERS = ['hash', 'kind', 'status', 'max fee (gwei)', 'priority fee (gwei)', 'created', 'broadcast'];

export function render(root, params) {
  const id = params.get('id');
  const head = h('section', { class: 'panel', id: 'timeline', dataset: { id } }, h('p', { class: 'muted' }, 'Loading…'));
  const live = h('span', { id: 'timeline-live', class: 'live', dataset: { state: 'connecting' } }, 'connecting…');
  const events = h('div', { id: 'timeline-events' });
  const txs = h('div', { id: 'timeline-txs' });
  const message = h('div', { id: 'timeline-message' });
  const actions = {
    reason: h('input', { id: 'action-reason', placeholder: 'reason (kept in its history)', autocomplete: 'off' }),
    retry: h('button', { type: 'button', id: 'retry-button', disabled: true, onclick: () => act('retry') }, 'Retry'),
    cancel: h('button', { type: 'button', id: 'cancel-button', class: 'danger', disabled: true, onclick: () => act('cancel') }, 'Cancel'),
  };
  root.append(head,
    h('section', { class: 'panel' },
      h('div', { class: 'row' }, h('label', { class: 'grow' }, 'Operator action', actions.reason), actions.retry, actions.cancel),
      message),
    h('section', { class: 'panel' }, h('h2', {}, 'Transitions ', live), events),
    h('section', { class: 'panel' }, h('h2', {}, 'Transactions'), txs));

  let source = null;
  let alive = true;
  /** The newest event id the page shows. */
  let known = -1;
  const reload = throttle(() => alive && load(), 500);

  const follow = () => {
    source?.close();
    source = new EventStream(`/v1/workflows/${encodeURIComponent(id)}/events`);
    source.onopen = () => setLive(live, 'open', 'live');
    source.onerror = (ev) => {
      // The stream ends after the terminal transition; the reader would reconnect for ever.
      if (head.dataset.status && TERMINAL.has(head.dataset.status)) stopFollowing('ended');
      else if (source.readyState === EventStream.CLOSED) setLive(live, 'closed', `stopped: ${ev.error?.code ?? 'error'}`);
      else setLive(live, 'error', 'reconnecting…');
    };
    source.addEventListener('transition', (ev) => {
      let t = null;
      try {
        t = JSON.parse(ev.data);
      } catch {
        t = null;
      }
      // The stream starts from the workflow's beginning: what the history showed is not news
      // (a retried workflow's old `failed` must not end the stream).
      if (Number(t?.eventId) <= known) return;
      if (TERMINAL.has(t?.status)) stopFollowing('ended');
      reload();
    });
  };
  const stopFollowing = (why) => {
    source?.close();
    source = null;
    setLive(live, why, why === 'ended' ? 'finished' : why);
  };

  const act = async (action) => {
    message.replaceChildren();
    const reason = actions.reason.value.trim();
    try {
      const q = reason ? `?reason=${encodeURIComponent(reason)}` : '';
      const w = await api(`/v1/workflows/${encodeURIComponent(id)}/${action}${q}`, { method: 'POST' });
      message.append(h('p', { class: 'ok', id: 'action-result' }, `${action}: now ${show(w?.status)} in ${show(w?.state)}`));
      await load();
      if (!TERMINAL.has(head.dataset.status)) follow();
    } catch (e) {
      message.append(errorBox(e));
    }
  };

  /** Loads started; only the latest may draw, so a slow answer never hides a newer one. */
  let loads = 0;
  async function load() {
    const mine = ++loads;
    try {
      const history = await api(`/v1/workflows/${encodeURIComponent(id)}/history`);
      // Older servers answer `{workflow_id, events}` only.
      const workflow = history?.workflow ?? await api(`/v1/workflows/${encodeURIComponent(id)}`);
      if (!alive || mine !== loads) return;
      drawHead(head, workflow, history, actions);
      drawEvents(events, history?.events ?? []);
      known = Math.max(known, ...(history?.events ?? []).map((e) => Number(e.id)).filter(Number.isFinite));
      drawTxs(txs, history?.txs);
    } catch (e) {
      if (mine !== loads) return;
      head.replaceChildren(errorBox(e));
      head.dataset.status = 'error';
    }
  }

  load().then(() => {
    if (!alive) return;
    if (TERMINAL.has(head.dataset.status)) setLive(live, 'ended', 'finished');
    else if (head.dataset.status !== 'error') follow();
  });
  return () => {
    alive = false;
    source?.close();
  };
}

function setLive(node, state, text) {
  node.dataset.state = state;
  node.textContent = text;
}

function drawHead(head, w, history, actions) {
  head.dataset.status = w?.status ?? '';
  head.dataset.state = w?.state ?? '';
  const facts = [
    ['kind', show(w?.kind)],
    ['status', badge(w?.status)],
    ['state', show(w?.state)],
    ['attempt', show(w?.attempt)],
    ['created', time(w?.createdAt)],
    ['updated', time(w?.updatedAt)],
    ['finished', time(w?.finishedAt)],
    ['next run', time(w?.runAt)],
    ['lease', w?.leaseOwner ? h('span', {}, `${w.leaseOwner} until `, time(w.leaseUntil)) : show(null)],
    ['payer', mono(w?.payer)],
    ['token', mono(w?.token)],
    ['tx hash', mono(w?.txHash)],
    ['idempotency key', mono(w?.idempotencyKey)],
    ['parent', parentLink(history?.parent, w?.parentId)],
    ['children', children(history?.children)],
    ['last error', w?.lastError ? h('span', { class: 'error-text' }, w.lastError) : show(null)],
  ];
  actions.retry.disabled = !['failed', 'cancelled', 'needs_migration'].includes(w?.status);
  actions.cancel.disabled = !['running', 'waiting'].includes(w?.status);
  head.replaceChildren(
    h('h2', {}, `Workflow `, h('span', { class: 'mono wrap' }, show(w?.id))),
    h('dl', { class: 'facts' }, facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('details', {}, h('summary', {}, 'checkpoint data'), h('pre', {}, JSON.stringify(w?.data ?? null, null, 2))));
}

function parentLink(parent, parentId) {
  if (parent?.id) return h('span', {}, workflowLink(parent.id), ` ${show(parent.kind)} `, badge(parent.state, parent.status));
  return parentId ? workflowLink(parentId) : show(null);
}

function children(list) {
  if (!Array.isArray(list) || !list.length) return show(null);
  return h('ul', { class: 'inline', id: 'children' }, list.map((c) =>
    h('li', {}, workflowLink(c.id), ` ${show(c.kind)} `, badge(c.state, c.status))));
}

function drawEvents(node, events) {
  if (!events.length) {
    node.replaceChildren(h('p', { class: 'muted' }, 'No transitions.'));
    return;
  }
  node.replaceChildren(table(EVENT_HEADERS, events.map((e) => {
    const error = e.error ?? e.detail?.error;
    return row(EVENT_HEADERS, [
      time(e.at), show(e.event), `${e.fromState ?? '∅'} → ${show(e.toState)}`, badge(e.status),
      duration(e.sincePreviousMs), show(e.attempt), show(e.worker),
      error ? h('span', { class: 'error-text' }, typeof error === 'string' ? error : JSON.stringify(error)) : show(null),
      detail(e.detail),
    ], { dataset: { event: e.event ?? '', id: e.id ?? '' } });
  }), { id: 'events-table' }));
  node.dataset.count = String(events.length);
}

function drawTxs(node, txs) {
  if (!Array.isArray(txs)) {
    node.replaceChildren(h('p', { class: 'muted' }, 'This server does not list transactions in histories.'));
    return;
  }
  if (!txs.length) {
    node.replaceChildren(h('p', { class: 'muted' }, 'No transactions.'));
    return;
  }
  // Each transaction's broadcasts (the first and every fee bump) on a full-width row below it.
  node.replaceChildren(table(TX_HEADERS, txs.flatMap((t) => [
    row(TX_HEADERS, [
      short(t.id), show(t.purpose), show(t.nonce), badge(t.status), short(t.hash),
      time(t.createdAt), time(t.confirmedAt),
    ], { dataset: { tx: t.id ?? '' } }),
    h('tr', { class: 'sub' }, h('td', { colspan: TX_HEADERS.length, 'data-label': 'attempts' }, attempts(t.attempts))),
  ]), { id: 'txs-table' }));
}

function attempts(list) {
  if (!Array.isArray(list) || !list.length) return h('span', { class: 'muted' }, 'no broadcast yet');
  return h('details', {}, h('summary', {}, `${list.length} broadcast(s): fees and hashes`),
    table(ATTEMPT_HEADERS, list.map((a) => row(ATTEMPT_HEADERS, [
      short(a.hash), show(a.kind), badge(a.status), gwei(a.maxFeePerGas), gwei(a.maxPriorityFeePerGas),
      time(a.createdAt), time(a.broadcastAt),
    ]))));
}

/** Wei (number or decimal string) in gwei, to 3 decimals. */
function gwei(wei) {
  if (wei === undefined || wei === null || wei === '') return show(null);
  try {
    const n = BigInt(wei);
    return `${n / 1_000_000_000n}.${String((n % 1_000_000_000n) / 1_000_000n).padStart(3, '0')}`;
  } catch {
    return show(wei);
  }
}
