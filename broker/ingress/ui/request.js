// Request: the lifecycle as a waterfall, the conversation, the raw JSON, the trace id, and
// Replay (optionally on another model) with the two answers side by side.

import { api } from './api.js';
import { h, fill, time, ms, num, usd, badge, problem } from './dom.js';

/** Spans of the waterfall: [label, start offset, end offset, class, detail]. */
function spans(events, total) {
  const out = [];
  let queued = null;
  const attempts = new Map();
  for (const e of events) {
    const at = e.offset_ms;
    const where = e.node ? ` on ${e.node}` : '';
    switch (e.kind) {
      case 'received': out.push(['received' + where, at, at, 'mark', e.mode || '']); break;
      case 'authenticated': out.push([`key ${e.key_id || ''}`, at, at, 'mark', '']); break;
      case 'queued':
        queued = at;
        out.push([e.error ? `fallback to ${e.provider}` : `queued for ${e.provider || '?'}`, at, at, e.error ? 'warn mark' : 'mark', e.error || '']);
        break;
      case 'dequeued':
        out.push([`queue wait${where}`, queued ?? at, at, 'queue', `delivery ${e.delivery || 1}`]);
        break;
      case 'attempt_started': attempts.set(e.attempt, e); break;
      case 'attempt_failed': {
        const s = attempts.get(e.attempt);
        const start = s ? s.offset_ms : at - (e.duration_ms || 0);
        const id = e.upstream_request_id ? ` · upstream id ${e.upstream_request_id}` : '';
        out.push([`attempt ${e.attempt} on ${e.provider}/${e.model || ''} failed${where}`, start, at, 'fail', `${e.status || ''} ${e.error_kind || ''}: ${e.error || ''}${e.retry_in_ms ? ` · retry in ${e.retry_in_ms} ms` : ''}${id}`]);
        attempts.delete(e.attempt);
        break;
      }
      case 'first_token': out.push([`first token (${ms(e.duration_ms)})`, at, at, 'mark', '']); break;
      case 'completed':
      case 'failed':
      case 'cancelled': {
        for (const [n, s] of attempts) {
          out.push([`attempt ${n} on ${s.provider}/${s.model || ''}${s.node ? ` on ${s.node}` : ''}`, s.offset_ms, at, e.kind === 'completed' ? 'ok' : 'fail', e.upstream_request_id ? `upstream id ${e.upstream_request_id}` : '']);
        }
        attempts.clear();
        out.push([e.kind + where, at, at, e.kind === 'completed' ? 'ok mark' : 'fail mark', e.error || (e.usage ? `${num(e.usage.total_tokens)} tokens` : '')]);
        break;
      }
      case 'delivered': out.push(['delivered' + where, at, at, 'mark', '']); break;
      case 'replayed': out.push([`replayed as ${e.related_job}`, at, at, 'mark', e.model || '']); break;
      default: out.push([e.kind + where, at, at, 'mark', e.error || '']);
    }
  }
  return out.map(([label, a, b, cls, detail]) => ({ label, a: Math.max(0, a), b: Math.max(0, Math.min(b, total)), cls, detail }));
}

function waterfall(rec) {
  const events = rec.events || [];
  const total = Math.max(1, ...events.map((e) => e.offset_ms));
  const rows = spans(events, total).map((s) => {
    const left = (s.a / total) * 100;
    const width = Math.max(0.6, ((s.b - s.a) / total) * 100);
    return h('div', { class: `wf-row ${s.cls}` },
      h('div', { class: 'wf-label' }, s.label, s.detail ? h('div', { class: 'muted small' }, s.detail) : null),
      h('div', { class: 'wf-track' }, h('div', { class: 'wf-bar', style: `left:${left}%;width:${width}%` })),
      h('div', { class: 'wf-time num' }, s.b > s.a ? `+${s.a} → +${s.b} ms` : `+${s.a} ms`));
  });
  return h('div', { class: 'waterfall', id: 'waterfall' }, rows);
}

function content(c) {
  if (c === null || c === undefined) return [];
  if (typeof c === 'string') return [h('div', { class: 'text' }, c)];
  if (Array.isArray(c)) {
    return c.map((p) => {
      if (p.type === 'text') return h('div', { class: 'text' }, p.text || '');
      if (p.type === 'image_url') {
        const url = (p.image_url && p.image_url.url) || '';
        return /^(data:image\/|https:)/.test(url) ? h('img', { class: 'thumb', src: url, alt: 'image' }) : h('div', { class: 'muted' }, '[image]');
      }
      return h('pre', { class: 'small' }, JSON.stringify(p, null, 2));
    });
  }
  return [h('pre', { class: 'small' }, JSON.stringify(c, null, 2))];
}

function message(m) {
  const calls = (m.tool_calls || []).map((t) => h('div', { class: 'tool' },
    h('b', {}, `→ ${t.function ? t.function.name : t.type}`), h('pre', { class: 'small' }, t.function ? t.function.arguments : JSON.stringify(t))));
  return h('div', { class: `msg ${m.role}` },
    h('div', { class: 'role' }, m.role + (m.tool_call_id ? ` (${m.tool_call_id})` : '')),
    m.reasoning_content ? h('details', {}, h('summary', {}, 'reasoning'), h('div', { class: 'text muted' }, m.reasoning_content)) : null,
    content(m.content), calls);
}

/** The request and response as a conversation. */
export function conversation(req, resp) {
  const msgs = ((req && req.messages) || []).map(message);
  const answers = ((resp && resp.choices) || []).map((c) => message(c.message || { role: 'assistant', content: '' }));
  const err = resp && resp.error ? h('div', { class: 'msg error' }, h('div', { class: 'role' }, 'error'), h('div', { class: 'text' }, resp.error.message || JSON.stringify(resp.error))) : null;
  const emb = resp && resp.object === 'list' ? h('div', { class: 'muted' }, `${(resp.data || []).length} embeddings`) : null;
  return h('div', { class: 'conversation' }, msgs, answers, err, emb);
}

function traceId(rec) {
  const tp = (rec.events || []).map((e) => e.traceparent).find(Boolean);
  return tp ? tp.split('-')[1] : null;
}

function facts(rec) {
  const ttft = rec.first_token_ms ? rec.first_token_ms - rec.created_ms : null;
  const link = (id) => h('a', { href: `/ui/requests/${id}`, 'data-nav': true }, id);
  const pairs = [
    ['status', badge(rec.status)], ['model', rec.model], ['provider', rec.provider ? `${rec.provider}/${rec.provider_model || ''}` : null],
    ['mode', rec.mode], ['key', rec.key_id], ['received', time(rec.created_ms)], ['latency', ms(rec.duration_ms)],
    ['queue wait', ms(rec.queue_wait_ms)], ['time to first token', ms(ttft)], ['attempts', rec.attempts],
    ['tokens', rec.usage ? `${num(rec.usage.prompt_tokens)} in, ${num(rec.usage.completion_tokens)} out` : null],
    ['cost', usd(rec.cost_usd)], ['nodes', (rec.nodes || []).join(', ')], ['trace id', traceId(rec)],
    ['error', rec.error], ['replay of', rec.replay_of ? link(rec.replay_of) : null],
    ['replayed as', (rec.replayed_as || []).length ? rec.replayed_as.map((id) => [link(id), ' ']) : null],
  ];
  return h('dl', { class: 'facts', id: 'facts' }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== '').map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export async function requestPage(main, id) {
  const rec = await api(`/v1/requests/${id}`);
  const raw = h('pre', { class: 'raw', hidden: true, id: 'raw' }, JSON.stringify({ request: rec.request, response: rec.response }, null, 2));
  const toggle = h('button', { type: 'button', class: 'quiet', id: 'raw-toggle' }, 'Raw JSON');
  const talk = conversation(rec.request, rec.response);
  toggle.addEventListener('click', () => { raw.hidden = !raw.hidden; talk.hidden = !raw.hidden; });
  const replayOut = h('div', { id: 'replay-out' });
  fill(main,
    h('p', {}, h('a', { href: '/ui', 'data-nav': true }, '← Requests')),
    h('h1', {}, 'Request ', h('code', {}, id)),
    facts(rec),
    h('h2', {}, 'Lifecycle'), waterfall(rec),
    h('h2', {}, 'Conversation ', toggle), talk, raw,
    h('h2', {}, 'Replay'), replayForm(rec, replayOut), replayOut);
}

function replayForm(rec, out) {
  const model = h('input', { name: 'model', placeholder: `model (default ${rec.model || 'the same'})`, size: 28, id: 'replay-model' });
  const button = h('button', { type: 'submit', id: 'replay' }, 'Replay');
  const form = h('form', { class: 'replay' }, model, button,
    rec.has_request ? null : h('span', { class: 'muted' }, ' The request body is not in the log, so it cannot be replayed.'));
  button.disabled = !rec.has_request;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    try {
      const body = model.value ? { model: model.value } : {};
      const job = await api(`/v1/requests/${rec.id}/replay`, { method: 'POST', body });
      fill(out, h('p', {}, 'Queued as ', h('a', { href: `/ui/requests/${job.id}`, 'data-nav': true, id: 'replay-link' }, job.id), ' …'));
      let done = job;
      for (let i = 0; i < 600 && !['completed', 'failed', 'cancelled'].includes(done.status); i++) {
        await new Promise((r) => setTimeout(r, 300));
        done = await api(`/v1/jobs/${job.id}`);
      }
      const answer = done.result || (done.error ? { error: done.error } : null);
      fill(out,
        h('p', {}, 'Replayed as ', h('a', { href: `/ui/requests/${job.id}`, 'data-nav': true, id: 'replay-link' }, job.id), ' ', badge(done.status), ` on ${done.model || ''}`),
        h('div', { class: 'side-by-side', id: 'side-by-side' },
          h('div', {}, h('h3', {}, `Original · ${rec.model || ''}`), conversation(null, rec.response)),
          h('div', {}, h('h3', {}, `Replay · ${done.model || ''}`), conversation(null, answer))));
    } catch (e) {
      fill(out, problem(e));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
