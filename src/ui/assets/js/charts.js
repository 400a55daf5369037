// Small inline SVG line charts, drawn by hand (no chart library): one polyline per series
// over a fixed time range, a dot for every non-zero value (its value and minute on hover),
// and the largest value and the range's ends as labels.
const SVG = 'http://www.w3.org/2000/svg';
const W = 320;
const H = 110;
/** Room for the labels: left for the y maximum, bottom for the time axis. */
const PAD = { left: 44, right: 6, top: 8, bottom: 16 };

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

/**
 * A chart of `series` (`{name, points: [{t, v, label}]}`, `t` in ms, `v` a number or null for
 * no value) between `from` and `to` (ms). `format` writes a value for the labels. The y axis
 * starts at 0, or with `fromZero: false` (a balance's trend) spans the values' range. Each series
 * is a `<g data-series=name>` holding its polyline (its points with a value, in time order)
 * and a dot per non-zero value carrying `data-t` (ISO time) and `data-v`.
 */
export function lineChart({ id, title, from, to, series, format = String, fromZero = true }) {
  const values = series.flatMap((x) => x.points.map((p) => p.v)).filter((v) => v !== null && Number.isFinite(v));
  let low = fromZero || !values.length ? 0 : Math.min(...values);
  let high = Math.max(low, ...values);
  if (high === low) {
    // One value (or none): a band around it, so the line sits in the middle.
    const margin = fromZero ? 0 : Math.abs(low) * 0.01 || 1;
    low -= margin;
    high += fromZero ? 1 : margin;
  }
  const x = (t) => PAD.left + ((t - from) / Math.max(1, to - from)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - ((v - low) / (high - low)) * (H - PAD.top - PAD.bottom);
  const round = (n) => Math.round(n * 10) / 10;
  const svg = s('svg', { id, class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title },
    s('title', {}, title),
    s('line', { class: 'axis', x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom }),
    s('line', { class: 'grid', x1: PAD.left, y1: PAD.top, x2: W - PAD.right, y2: PAD.top }),
    s('text', { class: 'tick', x: PAD.left - 3, y: PAD.top + 4, 'text-anchor': 'end' }, format(high)),
    s('text', { class: 'tick', x: PAD.left - 3, y: H - PAD.bottom, 'text-anchor': 'end' }, format(low)),
    s('text', { class: 'tick', x: PAD.left, y: H - 3 }, '−60 min'),
    s('text', { class: 'tick', x: W - PAD.right, y: H - 3, 'text-anchor': 'end' }, 'now'));
  series.forEach((line, i) => {
    const shown = line.points.filter((p) => p.v !== null && Number.isFinite(p.v));
    const g = s('g', { class: `series c${i}`, 'data-series': line.name },
      s('polyline', { points: shown.map((p) => `${round(x(p.t))},${round(y(p.v))}`).join(' ') }));
    for (const p of shown) {
      if (p.v === 0) continue;
      g.append(s('circle', { cx: round(x(p.t)), cy: round(y(p.v)), r: 2.2, 'data-t': new Date(p.t).toISOString(), 'data-v': p.v },
        s('title', {}, `${p.label ?? new Date(p.t).toLocaleTimeString()}: ${line.name} ${format(p.v)}`)));
    }
    svg.append(g);
  });
  return svg;
}

/** The series' names in their colours, for beside a chart. */
export function legend(names) {
  const list = document.createElement('ul');
  list.className = 'legend';
  names.forEach((name, i) => {
    const item = document.createElement('li');
    item.className = `c${i}`;
    item.textContent = name;
    list.append(item);
  });
  return list;
}
