// The Monitor tab: small SVG charts of the function's metrics, refreshed
// while the tab is open.
import { html, useState, useEffect } from './ui.js';
import { call, enc } from './api.js';

const RANGES = ['1h', '3h', '1d'];
const COLORS = ['#2563eb', '#d97706', '#dc2626'];

export function Chart({ title, points, series, unit = '' }) {
  const width = 360;
  const height = 140;
  const pad = { left: 44, right: 8, top: 8, bottom: 22 };
  const values = points.flatMap((p) => series.map((s) => p[s.field])).filter((v) => typeof v === 'number');
  const max = Math.max(1, ...values);
  const t0 = points.length ? points[0].time : 0;
  const t1 = points.length ? points[points.length - 1].time : 1;
  const x = (t) => pad.left + ((t - t0) / Math.max(1, t1 - t0)) * (width - pad.left - pad.right);
  const y = (v) => pad.top + (1 - v / max) * (height - pad.top - pad.bottom);
  const time = (t) => new Date(t).toISOString().slice(11, 16);
  const total = (field) => points.reduce((sum, p) => sum + (typeof p[field] === 'number' ? p[field] : 0), 0);
  return html`<figure class="chart">
    <figcaption>${title}</figcaption>
    <svg viewBox=${`0 0 ${width} ${height}`} role="img" aria-label=${title + ': ' + series.map((s) => `${s.label} max ${fmt(Math.max(0, ...points.map((p) => p[s.field] || 0)))}${unit}`).join(', ')}>
      <line x1=${pad.left} y1=${y(0)} x2=${width - pad.right} y2=${y(0)} class="axis" />
      <line x1=${pad.left} y1=${pad.top} x2=${pad.left} y2=${y(0)} class="axis" />
      <text x=${pad.left - 4} y=${pad.top + 8} text-anchor="end" class="tick">${fmt(max)}${unit}</text>
      <text x=${pad.left - 4} y=${y(0)} text-anchor="end" class="tick">0</text>
      ${points.length ? html`<text x=${pad.left} y=${height - 6} class="tick">${time(t0)}</text>
        <text x=${width - pad.right} y=${height - 6} text-anchor="end" class="tick">${time(t1)}</text>` : null}
      ${series.map((s, i) => {
        const defined = points.filter((p) => typeof p[s.field] === 'number');
        return html`<polyline fill="none" stroke=${COLORS[i % COLORS.length]} stroke-width="1.5"
          points=${defined.map((p) => `${x(p.time).toFixed(1)},${y(p[s.field]).toFixed(1)}`).join(' ')} />`;
      })}
    </svg>
    <ul class="legend">
      ${series.map((s, i) => html`<li><span class="swatch" style=${'background:' + COLORS[i % COLORS.length]}></span>${s.label}${s.sum ? html`: <strong data-metric=${s.field}>${fmt(total(s.field))}</strong>` : null}</li>`)}
    </ul>
  </figure>`;
}

function fmt(v) {
  if (typeof v !== 'number') return '—';
  return Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1);
}

export function MonitorTab({ name }) {
  const [range, setRange] = useState('1h');
  const [data, setData] = useState(null);
  const [missing, setMissing] = useState(false);
  const [live, setLive] = useState(true);
  useEffect(() => {
    let stopped = false;
    const load = () =>
      call('GET', `/metrics/functions/${enc(name)}?range=${range}`)
        .then((d) => !stopped && (setData(d), setMissing(false)))
        .catch((e) => !stopped && (e.status === 404 ? setMissing(true) : setData(null)));
    load();
    const timer = live ? setInterval(load, 5000) : null;
    return () => {
      stopped = true;
      if (timer) clearInterval(timer);
    };
  }, [name, range, live]);
  return html`<div class="monitor">
    <div class="row">
      <fieldset class="ranges">
        <legend>Time range</legend>
        ${RANGES.map((r) => html`<span class="radio"><input type="radio" id=${'range-' + r} name="range" value=${r} checked=${range === r} onChange=${() => setRange(r)} /><label for=${'range-' + r}>${r}</label></span>`)}
      </fieldset>
      <span class="radio"><input type="checkbox" id="live" checked=${live} onChange=${(e) => setLive(e.target.checked)} /><label for="live">Live refresh (5 s)</label></span>
    </div>
    ${missing
      ? html`<p class="notice" role="status" id="metrics-missing">Metrics are not available from this server (no metrics endpoint): counts show as —.</p>`
      : !data
        ? html`<p class="loading">Loading metrics…</p>`
        : html`<div class="charts">
            <${Chart} title="Invocations" points=${data.points} series=${[{ field: 'invocations', label: 'Invocations', sum: true }]} />
            <${Chart} title="Duration" unit=" ms" points=${data.points} series=${[
              { field: 'duration_p50_ms', label: 'p50' },
              { field: 'duration_p99_ms', label: 'p99' },
              { field: 'duration_max_ms', label: 'max' },
            ]} />
            <${Chart} title="Errors" points=${data.points} series=${[{ field: 'errors', label: 'Errors', sum: true }]} />
            <${Chart} title="Success rate" unit=" %" points=${data.points.map((p) => ({ ...p, success_pct: typeof p.success_rate === 'number' ? p.success_rate * (p.success_rate <= 1 ? 100 : 1) : null }))} series=${[{ field: 'success_pct', label: 'Success rate' }]} />
            <${Chart} title="Throttles" points=${data.points} series=${[{ field: 'throttles', label: 'Throttles', sum: true }]} />
            <${Chart} title="Concurrent executions" points=${data.points} series=${[{ field: 'concurrent_max', label: 'Max concurrent' }]} />
          </div>`}
  </div>`;
}
