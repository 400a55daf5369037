// Queue overview: workflows by kind and state (`/v1/stats`), kept current by the event stream
// (`/v1/events`), the last hour's charts (`activity.js`), a feed of the latest transitions,
// recent batches (`/v1/queue`), and a form that queues a test mint (a key with the `mint`
// scope) and follows it live.
import { follow as followActivity } from './activity.js';
import { api } from './api.js';
import { EventStream } from './events.js';
import { DASH, badge, duration, errorBox, h, row, short, show, table, throttle, time, workflowLink } from './dom.js';

const FEED_SIZE = 15;
/** States in a card: what is moving first, then what needs an operator, then what is done. */
const STATUS_ORDER = ['running', 'waiting', 'needs_migration', 'failed', 'completed', 'cancelled'];
const rank = (status) => (STATUS_ORDER.includes(status) ? STATUS_ORDER.indexOf(status) : STATUS_ORDER.length);
const REFRESH_MS = 1000;
/** Mints queued from this page (id -> last state), kept across views in this tab. */
const tracked = new Map();
/** The latest transition seen per workflow, so a mint whose events beat its 202 is current. */
const latest = new Map();
/** The feed's transitions, newest first, kept across views in this tab. */
const recent = [];

export function render(root) {
  const stats = h('div', { id: 'stats', class: 'cards' }, h('p', { class: 'muted' }, 'Loading…'));
  const queue = h('div', { id: 'mint-queue' });
  const batches = h('div', { id: 'batches' });
  const live = h('span', { id: 'live', class: 'live', dataset: { state: 'connecting' } }, 'connecting…');
  const feed = h('ol', { id: 'feed', class: 'feed', 'data-empty': 'Waiting for transitions…' }, recent.map(feedItem));
  const trackedList = h('ul', { id: 'tracked', class: 'tracked' });
  const mintResult = h('div', { id: 'mint-result' });
  const activity = h('div', { id: 'activity' }, h('p', { class: 'muted' }, 'Loading…'));

  root.append(
    h('section', { class: 'panel' },
      h('h2', {}, 'Workflows by kind and state'),
      stats, queue),
    h('section', { class: 'panel' }, h('h2', {}, 'Last hour'), activity),
    h('div', { class: 'split' },
      h('section', { class: 'panel' },
        h('h2', {}, 'Live transitions ', live),
        feed),
      h('section', { class: 'panel' },
        h('h2', {}, 'Queue a test mint'),
        mintForm(mintResult, trackedList),
        mintResult, trackedList)),
    h('section', { class: 'panel' }, h('h2', {}, 'Recent batches'), batches),
  );
  drawTracked(trackedList);
  const stopActivity = followActivity(activity);

  let alive = true;
  const refresh = throttle(() => {
    if (!alive) return;
    loadStats(stats, queue);
    loadBatches(batches);
  }, REFRESH_MS);
  refresh();

  const source = new EventStream('/v1/events');
  source.onopen = () => setLive(live, 'open', 'live');
  source.onerror = (ev) => {
    if (source.readyState === EventStream.CLOSED) setLive(live, 'closed', `stopped: ${ev.error?.code ?? 'error'}`);
    else setLive(live, 'error', 'reconnecting…');
  };
  source.addEventListener('transition', (ev) => {
    let t;
    try {
      t = JSON.parse(ev.data);
    } catch {
      return;
    }
    remember(t);
    recent.unshift(t);
    recent.splice(FEED_SIZE);
    feed.prepend(feedItem(t));
    while (feed.children.length > FEED_SIZE) feed.lastChild.remove();
    if (tracked.has(t.workflowId)) drawTracked(trackedList);
    refresh();
  });

  return () => {
    alive = false;
    stopActivity();
    source.close();
  };
}

function setLive(node, state, text) {
  node.dataset.state = state;
  node.textContent = text;
}

function remember(t) {
  if (!t?.workflowId) return;
  latest.delete(t.workflowId);
  latest.set(t.workflowId, { state: t.toState, status: t.status });
  if (latest.size > 1000) latest.delete(latest.keys().next().value);
  if (tracked.has(t.workflowId)) tracked.set(t.workflowId, { state: t.toState, status: t.status });
}

function feedItem(t) {
  return h('li', { dataset: { workflow: t.workflowId ?? '', state: t.toState ?? '' } },
    time(t.at), ' ',
    h('span', { class: 'kind' }, show(t.kind)), ' ',
    workflowLink(t.workflowId), ' ',
    h('span', { class: 'muted' }, show(t.event)), ' ',
    t.fromState ? h('span', {}, `${t.fromState} → `) : '',
    badge(t.toState, t.status),
    t.attempt ? h('span', { class: 'muted' }, ` attempt ${t.attempt}`) : '',
    t.worker ? h('span', { class: 'muted' }, ` · ${t.worker}`) : '');
}

async function loadStats(stats, queue) {
  try {
    const s = await api('/v1/stats');
    const byKind = new Map();
    for (const w of s?.workflows ?? []) {
      if (!byKind.has(w.kind)) byKind.set(w.kind, []);
      byKind.get(w.kind).push(w);
    }
    const cards = [...byKind.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([kind, rows]) => {
      const total = rows.reduce((n, r) => n + (Number(r.count) || 0), 0);
      rows.sort((a, b) => rank(a.status) - rank(b.status) || String(a.state).localeCompare(String(b.state)));
      return h('article', { class: 'card', dataset: { kind } },
        h('h3', {}, h('a', { href: `#/workflows?kind=${encodeURIComponent(kind)}` }, kind), h('span', { class: 'count' }, total)),
        h('ul', { class: 'states' }, rows.map((r) => h('li', { dataset: { state: r.state, count: r.count } },
          h('a', { href: `#/workflows?kind=${encodeURIComponent(kind)}&state=${encodeURIComponent(r.state)}` }, badge(r.state, r.status)),
          h('span', { class: 'count' }, show(r.count))))));
    });
    stats.replaceChildren(...(cards.length ? cards : [h('p', { class: 'muted' }, 'No workflows yet.')]));
    stats.dataset.loaded = s?.generatedAt ?? 'yes';
    const q = s?.mintQueue;
    queue.replaceChildren(h('p', { class: 'muted' },
      `Mints pending: ${show(q?.pending)} · oldest pending for ${q?.oldestPendingAgeMs == null ? DASH : duration(q.oldestPendingAgeMs)}`,
      s?.generatedAt ? ' · as of ' : '', s?.generatedAt ? time(s.generatedAt) : ''));
  } catch (e) {
    stats.replaceChildren(errorBox(e));
    stats.dataset.loaded = 'error';
  }
}

const BATCH_HEADERS = ['batch', 'state', 'mints', 'tx', 'block', 'gas', 'created', 'error'];

async function loadBatches(node) {
  try {
    const q = await api('/v1/queue');
    const batches = q?.recentBatches ?? [];
    node.replaceChildren(
      h('p', { class: 'muted' }, `Mints by status: ${Object.entries(q?.counts ?? {}).map(([k, v]) => `${k} ${v}`).join(' · ') || DASH}`),
      batches.length
        ? table(BATCH_HEADERS, batches.map((b) => row(BATCH_HEADERS, [
          workflowLink(b.id), badge(b.state, b.status), show(b.size), short(b.txHash),
          show(b.blockNumber), show(b.gasUsed), time(b.createdAt), show(b.error),
        ], { dataset: { id: b.id } })))
        : h('p', { class: 'muted' }, 'No batches yet.'));
  } catch (e) {
    node.replaceChildren(errorBox(e));
  }
}

function mintForm(result, trackedList) {
  const payer = h('input', { name: 'payer', id: 'mint-payer', required: true, placeholder: '0x… payer address', pattern: '0x[0-9a-fA-F]{40}', autocomplete: 'off' });
  const recipient = h('input', { name: 'recipient', id: 'mint-recipient', placeholder: 'recipient (default: payer)', pattern: '0x[0-9a-fA-F]{40}', autocomplete: 'off' });
  const token = h('input', { name: 'token', id: 'mint-token', placeholder: 'token (default token)', pattern: '0x[0-9a-fA-F]{40}', autocomplete: 'off' });
  const quantity = h('input', { name: 'quantity', id: 'mint-quantity', type: 'number', min: 1, max: 100, value: 1, required: true });
  const submit = h('button', { type: 'submit', id: 'mint-submit' }, 'Queue mint');
  return h('form', {
    id: 'mint-form',
    class: 'stack',
    onsubmit: async (ev) => {
      ev.preventDefault();
      submit.disabled = true;
      result.replaceChildren();
      delete result.dataset.id;
      const body = { payer: payer.value.trim(), quantity: Number(quantity.value) };
      if (recipient.value.trim()) body.recipient = recipient.value.trim();
      if (token.value.trim()) body.token = token.value.trim();
      try {
        const r = await api('/v1/mints', { method: 'POST', body });
        for (const id of r?.ids ?? [r?.id]) {
          if (id) tracked.set(id, latest.get(id) ?? { state: show(r.status), status: 'waiting' });
        }
        result.dataset.id = r?.id ?? '';
        result.append(h('p', { class: 'ok' }, `Queued ${r?.ids?.length ?? 1} mint(s), position ${show(r?.queuePosition)}, about ${show(r?.estimatedWaitSeconds)} s.`));
        drawTracked(trackedList);
      } catch (e) {
        result.append(errorBox(e));
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('label', {}, 'Payer', payer),
  h('div', { class: 'row' }, h('label', { class: 'grow' }, 'Recipient', recipient), h('label', { class: 'narrow' }, 'Quantity', quantity)),
  h('label', {}, 'Token', token),
  h('div', { class: 'row' }, submit, h('span', { class: 'muted' }, 'POST /v1/mints with the key (it needs the mint scope); the state below follows the event stream.')));
}

function drawTracked(list) {
  const items = [...tracked.entries()].reverse().slice(0, 10).map(([id, s]) =>
    h('li', { dataset: { id, state: s.state ?? '' } }, workflowLink(id), ' ', badge(s.state, s.status)));
  list.replaceChildren(...items);
}
