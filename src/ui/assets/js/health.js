// Signer and nonce health (`/v1/stats` `signer`), readiness checks (`/ready`) and liveness
// (`/health`), refreshed every few seconds while shown.
import { ApiError, api } from './api.js';
import { DASH, badge, duration, errorBox, h, mono, row, show, table, time } from './dom.js';

const REFRESH_MS = 5000;

export function render(root) {
  const signer = h('div', { id: 'signer' }, h('p', { class: 'muted' }, 'Loading…'));
  const ready = h('div', { id: 'ready' }, h('p', { class: 'muted' }, 'Loading…'));
  const health = h('div', { id: 'health' }, h('p', { class: 'muted' }, 'Loading…'));
  root.append(
    h('section', { class: 'panel' }, h('h2', {}, 'Signer and nonces'), signer),
    h('div', { class: 'split' },
      h('section', { class: 'panel' }, h('h2', {}, 'Readiness'), ready),
      h('section', { class: 'panel' }, h('h2', {}, 'Liveness'), health)),
  );
  const load = () => {
    loadSigner(signer);
    loadProbe('/ready', ready, drawReady);
    loadProbe('/health', health, drawHealth);
  };
  load();
  const timer = setInterval(load, REFRESH_MS);
  return () => clearInterval(timer);
}

async function loadSigner(node) {
  try {
    const stats = await api('/v1/stats');
    const s = stats?.signer;
    if (!s) {
      node.replaceChildren(h('p', { class: 'muted' }, 'No signer: this server runs without a chain.'));
    } else {
      const drift = Number(s.nonceDrift);
      node.replaceChildren(h('dl', { class: 'facts' },
        fact('address', mono(s.address)),
        fact('chain id', show(s.chainId)),
        fact('balance', eth(s.balanceWei)),
        fact('next nonce', show(s.nextNonce)),
        fact('chain pending nonce', show(s.chainPendingNonce)),
        fact('nonce drift', h('span', { id: 'nonce-drift', class: Number.isFinite(drift) && drift !== 0 ? 'error-text' : 'ok' }, show(s.nonceDrift))),
        fact('open transactions', show(s.openTxs)),
        fact('oldest unconfirmed', s.oldestUnconfirmedAgeMs == null ? DASH : duration(s.oldestUnconfirmedAgeMs)),
        fact('as of', time(stats.generatedAt))),
        signerPool(stats.signers ?? []));
    }
    node.dataset.loaded = 'yes';
  } catch (e) {
    node.replaceChildren(errorBox(e));
    node.dataset.loaded = 'error';
  }
}

/** Every signer of the pool: its load and whether new work may go to it. */
function signerPool(signers) {
  const headers = ['signer', 'in flight', 'balance', 'new work'];
  return h('section', { id: 'signer-pool' }, h('h3', {}, `Signer pool (${signers.length})`),
    table(headers, signers.map((s) => row(headers, [
      mono(s.address),
      show(s.inFlight),
      eth(s.balanceWei),
      badge(s.healthy ? 'healthy' : s.unfunded ? 'unfunded' : 'stuck', s.healthy ? 'completed' : 'failed'),
    ], { 'data-signer': s.address.toLowerCase() }))));
}

/** Probes answer 503 with a body when unhealthy: both are shown, not thrown. */
async function loadProbe(path, node, draw) {
  try {
    const res = await fetch(path, { headers: { accept: 'application/json' } });
    const body = await res.json().catch(() => null);
    if (res.status === 404 || !body) {
      throw new ApiError(res.status, body?.code ?? `http_${res.status}`, body?.message ?? `${path} did not answer with JSON`);
    }
    node.replaceChildren(draw(body, res.status));
    node.dataset.loaded = 'yes';
  } catch (e) {
    node.replaceChildren(errorBox(e instanceof ApiError ? e : new ApiError(0, 'network_error', e.message)));
    node.dataset.loaded = 'error';
  }
}

function drawReady(body, status) {
  const checks = Array.isArray(body.checks) ? body.checks : [];
  return h('div', {},
    h('p', {}, badge(body.ready ? 'ready' : 'not ready', body.ready ? 'completed' : 'failed'), ` HTTP ${status}`),
    h('ul', { class: 'checks' }, checks.map((c) => h('li', { dataset: { check: c.name ?? '', ok: String(Boolean(c.ok)) } },
      badge(c.ok ? 'ok' : 'failing', c.ok ? 'completed' : 'failed'), ' ', h('strong', {}, show(c.name))))));
}

/** Whatever `/health` reports: its status, then every other field (one level of nesting). */
function drawHealth(body, status) {
  const ok = body.status === 'ok';
  const facts = [fact('status', h('span', {}, badge(show(body.status), ok ? 'completed' : 'failed'), ` HTTP ${status}`))];
  const value = (v) => show(v !== null && typeof v === 'object' ? JSON.stringify(v) : v);
  for (const [key, v] of Object.entries(body)) {
    if (key === 'status') continue;
    const name = key.replaceAll('_', ' ');
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [inner, w] of Object.entries(v)) facts.push(fact(`${name} ${inner.replaceAll('_', ' ')}`, value(w)));
    } else {
      facts.push(fact(name, value(v)));
    }
  }
  return h('dl', { class: 'facts' }, facts);
}

function fact(name, value) {
  return h('div', { class: 'fact' }, h('dt', {}, name), h('dd', {}, value));
}

/** Wei (decimal string or number) as ETH with 6 decimals, exact (BigInt). */
function eth(wei) {
  if (wei === undefined || wei === null || wei === '') return DASH;
  try {
    const n = BigInt(wei);
    const whole = n / 10n ** 18n;
    const frac = String((n % 10n ** 18n) / 10n ** 12n).padStart(6, '0');
    return h('span', { title: `${n} wei` }, `${whole}.${frac} ETH`);
  } catch {
    return show(wei);
  }
}
