// The overview's last hour (`/v1/stats/activity`): mints requested, confirmed and failed per
// minute, the median wait from request to confirmation, and each signer's balance, as small
// SVG charts redrawn every few seconds while the overview is shown.
import { api } from './api.js';
import { legend, lineChart } from './charts.js';
import { duration, errorBox, h, time } from './dom.js';

const REFRESH_MS = 10_000;
const MINUTE_MS = 60_000;
const MINT_SERIES = ['requested', 'confirmed', 'failed'];

/** Fills `node` and keeps it current; returns the function that stops it. */
export function follow(node) {
  let alive = true;
  const load = async () => {
    try {
      const a = await api('/v1/stats/activity');
      if (alive) draw(node, a);
    } catch (e) {
      if (!alive) return;
      node.replaceChildren(errorBox(e));
      node.dataset.loaded = 'error';
    }
  };
  load();
  const timer = setInterval(load, REFRESH_MS);
  return () => {
    alive = false;
    clearInterval(timer);
  };
}

function draw(node, a) {
  const minutes = a?.minutes ?? [];
  const from = Date.parse(a?.from);
  const to = from + minutes.length * MINUTE_MS;
  // Each minute's point sits at its start, the current minute's at the right end.
  const at = (m) => Date.parse(m.minute);
  const total = (key) => minutes.reduce((n, m) => n + (Number(m[key]) || 0), 0);
  const charts = [
    figure('Mints per minute',
      `${total('requested')} requested · ${total('confirmed')} confirmed · ${total('failed')} failed in the hour`,
      lineChart({
        id: 'chart-mints',
        title: 'Mints requested, confirmed and failed per minute, last hour',
        from, to: to - MINUTE_MS,
        series: MINT_SERIES.map((name) => ({ name, points: minutes.map((m) => ({ t: at(m), v: Number(m[name]) || 0 })) })),
      }),
      legend(MINT_SERIES)),
    figure('Request → confirmed, median', medianText(minutes),
      lineChart({
        id: 'chart-p50',
        title: 'Median time from request to confirmation per minute, last hour',
        from, to: to - MINUTE_MS,
        series: [{ name: 'p50', points: minutes.map((m) => ({ t: at(m), v: m.p50ConfirmMs ?? null })) }],
        format: (ms) => (ms === 0 ? '0' : duration(ms)),
      })),
    ...(a?.signers ?? []).map((signer) => balanceFigure(signer, from, to - MINUTE_MS)),
  ];
  if (!a?.signers?.length) charts.push(h('figure', { class: 'chart-box' }, h('p', { class: 'muted' }, 'No signer balance samples in the hour (no chain, or no worker sampled yet).')));
  node.replaceChildren(h('div', { class: 'charts' }, charts),
    h('p', { class: 'muted' }, 'As of ', time(a?.generatedAt), '; dots are minutes with a value (hover for it).'));
  node.dataset.loaded = a?.generatedAt ?? 'yes';
}

function medianText(minutes) {
  const values = minutes.map((m) => m.p50ConfirmMs).filter((v) => v !== null && v !== undefined);
  return values.length ? `latest ${duration(values.at(-1))}` : 'no mint confirmed in the hour';
}

function balanceFigure(signer, from, to) {
  const points = signer.samples.map((p) => ({ t: Date.parse(p.minute), v: weiToEth(p.balanceWei) }));
  const latest = points.at(-1)?.v;
  return figure(`Signer ${signer.address.slice(0, 8)}…${signer.address.slice(-4)}`,
    latest === undefined ? 'no sample' : `${latest.toFixed(4)} ETH (chain ${signer.chainId})`,
    lineChart({
      id: `chart-balance-${signer.address.toLowerCase()}`,
      title: `Balance of signer ${signer.address} on chain ${signer.chainId}, last hour`,
      from, to,
      series: [{ name: 'ETH', points }],
      format: (eth) => eth.toFixed(eth >= 1000 ? 1 : 3),
      fromZero: false,
    }));
}

/** Wei as a number of ETH: precise enough for a chart, not for accounts. */
function weiToEth(wei) {
  try {
    const n = BigInt(wei);
    return Number(n / 10n ** 12n) / 1e6;
  } catch {
    return null;
  }
}

function figure(title, caption, ...content) {
  return h('figure', { class: 'chart-box' },
    h('figcaption', {}, h('strong', {}, title), ' ', h('span', { class: 'muted' }, caption)),
    content);
}
