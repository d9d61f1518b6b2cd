// Cache: what the response cache saved recently, and purging it by key, namespace or model.

import { api, query } from './api.js';
import { h, fill, num, usd, problem } from './dom.js';

export async function cachePage(main, session) {
  if (!session.admin) {
    fill(main, h('h1', {}, 'Cache'), h('p', { class: 'muted' }, 'The cache is managed with an admin key.'));
    return;
  }
  const out = h('p', { id: 'purge-out' });
  const f = {
    key: h('input', { name: 'key', placeholder: 'key id (master, anon, …)', size: 18 }),
    namespace: h('input', { name: 'namespace', placeholder: 'namespace', size: 14 }),
    model: h('input', { name: 'model', placeholder: 'provider/model', size: 18 }),
  };
  const form = h('form', { class: 'filters', id: 'purge' }, f.key, f.namespace, f.model,
    h('button', { type: 'submit', class: 'danger quiet' }, 'Purge'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const params = { key: f.key.value, namespace: f.namespace.value, model: f.model.value };
    if (!params.key && !params.namespace && !params.model) {
      if (!window.confirm('Purge every cached answer?')) return;
      params.all = 'true';
    }
    try {
      const r = await api(`/admin/cache${query(params)}`, { method: 'DELETE' });
      fill(out, `Purged ${num(r.purged)} cached answers.`);
    } catch (e) {
      fill(out, problem(e));
    }
  });
  // The last hits in the log, with what they saved.
  const recent = await api(`/v1/requests${query({ since: '24h', limit: 500 })}`);
  const hits = recent.data.filter((r) => r.cache === 'hit');
  const misses = recent.data.filter((r) => r.cache === 'miss');
  fill(main, h('h1', {}, 'Cache'),
    h('div', { class: 'cards' },
      h('div', { class: 'card' }, h('div', { class: 'muted' }, 'hits (last 500 requests)'), h('div', { class: 'big', id: 'cache-hits' }, num(hits.length))),
      h('div', { class: 'card' }, h('div', { class: 'muted' }, 'misses'), h('div', { class: 'big' }, num(misses.length))),
      h('div', { class: 'card' }, h('div', { class: 'muted' }, 'hit rate'), h('div', { class: 'big' },
        hits.length + misses.length ? `${((hits.length / (hits.length + misses.length)) * 100).toFixed(1)}%` : '–'))),
    h('p', { class: 'muted' }, `A hit is answered with no provider call; its request page shows the tokens and cost it saved (${usd(0)} spent).`),
    h('h2', {}, 'Purge'), form, out);
}
