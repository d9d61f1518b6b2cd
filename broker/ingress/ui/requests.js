// Requests: the log as a live table, filtered and searched, with infinite scroll on the log's
// cursor, and a bulk replay of the failed ones in the window.

import { api, query } from './api.js';
import { h, fill, time, ms, num, usd, badge, problem } from './dom.js';

const LIVE_MS = 2000;
const FIELDS = ['status', 'model', 'provider', 'key', 'mode', 'q', 'since', 'until'];

function row(r) {
  const ttft = r.first_token_ms ? r.first_token_ms - r.created_ms : null;
  return h('tr', { 'data-id': r.id },
    h('td', {}, h('a', { href: `/ui/requests/${r.id}`, 'data-nav': true }, time(r.created_ms))),
    h('td', {}, badge(r.status)),
    h('td', {}, r.model || '–'),
    h('td', {}, r.provider || '–'),
    h('td', {}, r.key_id || '–'),
    h('td', { class: 'num' }, ms(r.duration_ms)),
    h('td', { class: 'num' }, ms(ttft)),
    h('td', { class: 'num' }, num(r.usage && r.usage.total_tokens)),
    h('td', { class: 'num' }, usd(r.cost_usd)),
    h('td', {}, r.cache || '–'));
}

function filtersFromUrl() {
  const p = new URLSearchParams(location.search);
  const f = {};
  for (const k of FIELDS) f[k] = p.get(k) || '';
  if (!p.has('since')) f.since = '24h';
  return f;
}

function input(name, value, placeholder) {
  return h('input', { name, value, placeholder, size: 12 });
}

function select(name, value, options) {
  const s = h('select', { name }, options.map(([v, label]) => h('option', { value: v }, label)));
  s.value = value;
  return s;
}

export async function requestsPage(main, session) {
  const f = filtersFromUrl();
  const form = h('form', { class: 'filters', id: 'filters' },
    select('status', f.status, [['', 'any status'], ['completed', 'completed'], ['failed', 'failed'], ['running', 'running'], ['queued', 'queued'], ['cancelled', 'cancelled']]),
    input('model', f.model, 'model'),
    input('provider', f.provider, 'provider'),
    session.admin ? input('key', f.key, 'key id') : null,
    select('mode', f.mode, [['', 'any mode'], ['sync', 'sync'], ['stream', 'stream'], ['queued', 'queued'], ['batch', 'batch']]),
    h('input', { name: 'q', value: f.q, placeholder: 'search prompts, answers, errors', size: 28, type: 'search' }),
    select('since', f.since, [['15m', 'last 15 min'], ['1h', 'last hour'], ['24h', 'last 24 h'], ['7d', 'last 7 days'], ['30d', 'last 30 days'], ['', 'all time']]),
    input('until', f.until, 'until'),
    h('button', { type: 'submit' }, 'Apply'));
  const body = h('tbody', { id: 'rows' });
  const table = h('table', { class: 'grid', id: 'requests' },
    h('thead', {}, h('tr', {}, ['Time', 'Status', 'Model', 'Provider', 'Key', 'Latency', 'TTFT', 'Tokens', 'Cost', 'Cache'].map((c) => h('th', {}, c)))),
    body);
  const status = h('p', { class: 'muted', id: 'status' });
  const sentinel = h('div', { class: 'sentinel' });
  const bulk = h('section', { class: 'bulk' });
  fill(main, h('h1', {}, 'Requests'), form, bulkPanel(bulk, f), table, sentinel, status);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    history.replaceState(null, '', `/ui${query(data)}`);
    window.dispatchEvent(new PopStateEvent('popstate'));
  });

  const seen = new Map();
  let cursor = null;
  let more = true;
  let loading = false;
  const params = { ...f, limit: 50 };

  async function page() {
    if (loading || !more) return;
    loading = true;
    try {
      const p = await api(`/v1/requests${query({ ...params, cursor })}`);
      for (const r of p.data) {
        if (seen.has(r.id)) continue;
        const tr = row(r);
        seen.set(r.id, tr);
        body.append(tr);
      }
      cursor = p.next_cursor;
      more = p.has_more && !!cursor;
      fill(status, seen.size ? `${num(seen.size)} requests${more ? ', scroll for more' : ''}` : 'No requests match.');
    } catch (e) {
      fill(status, problem(e));
      more = false;
    } finally {
      loading = false;
    }
  }

  async function live() {
    try {
      const p = await api(`/v1/requests${query(params)}`);
      for (const r of p.data.slice().reverse()) {
        const tr = row(r);
        const old = seen.get(r.id);
        if (old) old.replaceWith(tr);
        else body.prepend(tr);
        seen.set(r.id, tr);
      }
      if (seen.size) fill(status, `${num(seen.size)} requests${more ? ', scroll for more' : ''}`);
    } catch { /* the next tick tries again */ }
  }

  await page();
  const io = new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) page(); });
  io.observe(sentinel);
  const timer = setInterval(live, LIVE_MS);
  return () => { clearInterval(timer); io.disconnect(); };
}

/** Replays every failed request of the window (on another model if asked), with progress. */
function bulkPanel(el, f) {
  const model = h('input', { name: 'replay_model', placeholder: 'on model (optional)', size: 16 });
  const out = h('span', { class: 'muted' });
  const bar = h('progress', { max: 1, value: 0, hidden: true });
  const go = h('button', { type: 'button', class: 'quiet', id: 'bulk-replay' }, 'Replay failed in this window');
  go.addEventListener('click', async () => {
    if (!f.since) { fill(out, 'Pick a time window first.'); return; }
    const filter = { since: f.since };
    for (const k of ['until', 'model', 'provider', 'key', 'q']) if (f[k]) filter[k] = f[k];
    const body = { filter };
    if (model.value) body.model = model.value;
    go.disabled = true;
    try {
      let p = await api('/v1/requests/replay', { method: 'POST', body });
      bar.hidden = false;
      while (true) {
        bar.max = Math.max(p.total, 1);
        bar.value = p.replayed + p.errors;
        fill(out, `${p.replayed} of ${p.total} replayed, ${p.errors} errors`);
        if (p.status === 'completed') break;
        await new Promise((r) => setTimeout(r, 500));
        p = await api(`/v1/requests/replay/${p.id}`);
      }
    } catch (e) {
      fill(out, problem(e));
    } finally {
      go.disabled = false;
    }
  });
  return fill(el, go, model, bar, out);
}
