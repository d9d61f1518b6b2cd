// Overview: requests, errors, latency, tokens and cost over time (from the log's rollups),
// per model, provider and key, the top errors, and time to first token of recent streams.

import { api, query } from './api.js';
import { h, fill, ms, num, usd, pct, problem } from './dom.js';

const WINDOWS = { '1h': '1m', '24h': '15m', '7d': '1h', '30d': '6h' };

function chart(title, xs, series, fmt) {
  const el = h('div', { class: 'chart' }, h('h3', {}, title));
  const opts = {
    width: 460, height: 180, legend: { show: true },
    scales: { x: { time: true } },
    axes: [{}, { size: 70, values: (u, v) => v.map(fmt) }],
    series: [{}, ...series.map(([label, , stroke]) => ({ label, stroke, width: 1.5, value: (u, v) => (v === null ? '–' : fmt(v)) }))],
  };
  if (window.uPlot) new window.uPlot(opts, [xs, ...series.map(([, ys]) => ys)], el);
  return el;
}

function table(title, rows) {
  return h('div', { class: 'panel' }, h('h3', {}, title), h('table', { class: 'grid' },
    h('thead', {}, h('tr', {}, ['', 'Requests', 'Errors', 'p50', 'p95', 'Tokens', 'Cost'].map((c) => h('th', {}, c)))),
    h('tbody', {}, rows.sort((a, b) => b.count - a.count).slice(0, 15).map((a) => h('tr', {},
      h('td', {}, a.name), h('td', { class: 'num' }, num(a.count)), h('td', { class: 'num' }, pct(a.count ? a.failures / a.count : null)),
      h('td', { class: 'num' }, ms(a.latency_p50_ms)), h('td', { class: 'num' }, ms(a.latency_p95_ms)),
      h('td', { class: 'num' }, num(a.total_tokens)), h('td', { class: 'num' }, usd(a.cost_usd)))))));
}

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#ca8a04', '#7c3aed', '#0891b2', '#be185d', '#57534e'];

export async function overviewPage(main, session) {
  const params = new URLSearchParams(location.search);
  const win = params.get('window') || '24h';
  const by = params.get('by') || '';
  const picker = h('div', { class: 'filters' },
    Object.keys(WINDOWS).map((w) =>
      h('a', { href: `/ui/overview${query({ window: w, by })}`, 'data-nav': true, class: w === win ? 'active' : '' }, `last ${w}`)),
    h('span', { class: 'muted' }, ' · lines per '),
    [['', 'total'], ['model', 'model'], ['provider', 'provider'], ['key', 'key']].map(([g, label]) =>
      h('a', { href: `/ui/overview${query({ window: win, by: g })}`, 'data-nav': true, class: g === by ? 'active' : '', id: `by-${label}` }, label)));
  fill(main, h('h1', {}, 'Overview'), picker, h('p', { class: 'muted' }, 'Loading…'));
  if (!session.admin) {
    const u = await api(`/v1/usage${query({ group_by: 'key', since: win })}`);
    fill(main, h('h1', {}, 'Overview'), picker, h('p', { class: 'muted' }, 'Your key’s usage (an admin key sees every model, provider and key).'),
      table('Your key', u.data.map((r) => ({ ...r, count: r.requests }))));
    return;
  }
  const [stats, failed, recent] = await Promise.all([
    api(`/v1/requests/stats${query({ since: win, step: WINDOWS[win], group: by })}`),
    api(`/v1/requests${query({ status: 'failed', since: win, limit: 500 })}`),
    api(`/v1/requests${query({ mode: 'stream', since: win, limit: 500 })}`),
  ]);
  const pts = stats.series || [];
  const xs = pts.map((p) => p.ts_ms / 1000);
  const step = pts.length > 1 ? (pts[1].ts_ms - pts[0].ts_ms) / 1000 : 60;
  const t = stats.total;
  const head = h('div', { class: 'cards' },
    [['requests', num(t.count)], ['errors', pct(t.count ? t.failures / t.count : null)], ['p50', ms(t.latency_p50_ms)],
     ['p95', ms(t.latency_p95_ms)], ['tokens', num(t.total_tokens)], ['cost', usd(t.cost_usd)], ['cache hits', num(t.cache_hits)]]
      .map(([k, v]) => h('div', { class: 'card' }, h('div', { class: 'muted' }, k), h('div', { class: 'big' }, v))));
  // Time to first token of recent streamed requests, per step.
  const ttft = xs.map(() => []);
  for (const r of recent.data) {
    if (!r.first_token_ms) continue;
    const i = Math.floor((r.created_ms / 1000 - (xs[0] || 0)) / step);
    if (i >= 0 && i < ttft.length) ttft[i].push(r.first_token_ms - r.created_ms);
  }
  const median = (a) => (a.length ? a.sort((x, y) => x - y)[Math.floor(a.length / 2)] : null);
  // Lines per model, provider or key: one per busy name, or the total.
  const lines = (pick) => (by && stats.groups && stats.groups.length
    ? stats.groups.map((g, i) => [g.name, g.points.map(pick), PALETTE[i % PALETTE.length]])
    : null);
  const charts = by ? h('div', { class: 'charts', id: 'charts' },
    chart(`Requests per second by ${by}`, xs, lines((p) => p.count / step) || [], (v) => (v >= 10 ? v.toFixed(0) : v.toPrecision(2))),
    chart(`Error rate by ${by}`, xs, lines((p) => (p.count ? p.failures / p.count : null)) || [], (v) => `${(v * 100).toFixed(1)}%`),
    chart(`p95 latency by ${by}`, xs, lines((p) => p.latency_p95_ms ?? null) || [], (v) => ms(Math.round(v))),
    chart(`Tokens by ${by}`, xs, lines((p) => p.total_tokens) || [], (v) => num(Math.round(v))),
    chart(`Cost by ${by}`, xs, lines((p) => p.cost_usd) || [], (v) => usd(v))) : h('div', { class: 'charts', id: 'charts' },
    chart('Requests per second', xs, [['req/s', pts.map((p) => p.count / step), '#2563eb']], (v) => (v >= 10 ? v.toFixed(0) : v.toPrecision(2))),
    chart('Error rate', xs, [['errors', pts.map((p) => (p.count ? p.failures / p.count : null)), '#dc2626']], (v) => `${(v * 100).toFixed(1)}%`),
    chart('Latency', xs, [['p50', pts.map((p) => p.latency_p50_ms ?? null), '#16a34a'], ['p95', pts.map((p) => p.latency_p95_ms ?? null), '#ca8a04']], (v) => ms(Math.round(v))),
    chart('Time to first token (recent streams, median)', xs, [['TTFT', ttft.map(median), '#7c3aed']], (v) => ms(Math.round(v))),
    chart('Tokens', xs, [['tokens', pts.map((p) => p.total_tokens), '#0891b2']], (v) => num(Math.round(v))),
    chart('Cost', xs, [['USD', pts.map((p) => p.cost_usd), '#be185d']], (v) => usd(v)));
  const errs = new Map();
  for (const r of failed.data) {
    const k = (r.error || r.error_kind || 'unknown').slice(0, 160);
    errs.set(k, (errs.get(k) || 0) + 1);
  }
  const top = [...errs.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
  const words = (e) => e.split(/[^A-Za-z0-9]+/).filter((w) => w.length > 3).slice(0, 4).join(' ');
  fill(main, h('h1', {}, 'Overview'), picker, head, charts,
    h('div', { class: 'tables' }, table('Models', stats.models), table('Providers', stats.providers), table('Keys', stats.keys)),
    h('div', { class: 'panel' }, h('h3', {}, `Top errors (of the last ${failed.data.length} failures)`),
      top.length ? h('table', { class: 'grid', id: 'top-errors' }, h('tbody', {}, top.map(([e, n]) => h('tr', {},
        h('td', { class: 'num' }, num(n)),
        h('td', {}, h('a', { href: `/ui${query({ status: 'failed', since: win, q: words(e) })}`, 'data-nav': true }, e)))))) : h('p', { class: 'muted' }, 'No failures in this window.')));
}
