// Keys: create (the secret shown once), revoke, rotate; spend against budget and rate-limit
// use. A virtual key sees its own spend.

import { api, query } from './api.js';
import { h, fill, num, usd, time, problem } from './dom.js';

function limits(k) {
  const parts = [];
  if (k.admin) parts.push('admin');
  if (k.rpm) parts.push(`${num(k.rpm)} req/min`);
  if (k.tpm) parts.push(`${num(k.tpm)} tokens/min`);
  if (k.models && k.models.length) parts.push(`models ${k.models.join(', ')}`);
  if (k.expires_at) parts.push(`expires ${time(k.expires_at * 1000)}`);
  return parts.join(' · ') || '–';
}

function spend(k) {
  const u = k.usage || {};
  if (k.budget_usd === undefined || k.budget_usd === null) return usd(u.spend_usd ?? 0);
  const share = k.budget_usd ? Math.min(1, (u.spend_usd || 0) / k.budget_usd) : 1;
  return h('div', {}, `${usd(u.spend_usd || 0)} of ${usd(k.budget_usd)} / ${k.budget_period}`,
    h('progress', { max: 1, value: share }));
}

export async function keysPage(main, session) {
  if (!session.admin) {
    const u = await api(`/v1/usage${query({ group_by: 'key', since: '30d' })}`);
    const r = u.data[0] || { requests: 0, total_tokens: 0, cost_usd: 0 };
    fill(main, h('h1', {}, 'Your key'),
      h('dl', { class: 'facts' }, h('dt', {}, 'key'), h('dd', {}, session.who), h('dt', {}, 'name'), h('dd', {}, session.name || '–'),
        h('dt', {}, 'requests (30 days)'), h('dd', {}, num(r.requests)), h('dt', {}, 'tokens'), h('dd', {}, num(r.total_tokens)),
        h('dt', {}, 'spend'), h('dd', {}, usd(r.cost_usd))));
    return;
  }
  const secret = h('div', { id: 'secret' });
  const list = h('div');
  const form = createForm(secret, () => load());
  fill(main, h('h1', {}, 'Keys'), form, secret, list);

  async function load() {
    try {
      const keys = await api('/admin/keys');
      const full = await Promise.all(keys.data.map((k) => api(`/admin/keys/${k.id}`).catch(() => k)));
      fill(list, h('table', { class: 'grid', id: 'keys' },
        h('thead', {}, h('tr', {}, ['Key', 'Name', 'State', 'Spend', 'This minute', 'Limits', ''].map((c) => h('th', {}, c)))),
        h('tbody', {}, full.map((k) => h('tr', { 'data-id': k.id },
          h('td', {}, h('code', {}, k.prefix)), h('td', {}, k.name),
          h('td', {}, k.revoked_at ? 'revoked' : 'active'),
          h('td', {}, spend(k)),
          h('td', { class: 'num' }, k.usage ? `${num(k.usage.requests_this_minute)} req, ${num(k.usage.tokens_this_minute)} tok` : '–'),
          h('td', {}, limits(k)),
          h('td', {}, k.revoked_at ? '' : [
            h('button', { type: 'button', class: 'quiet', onclick: () => act(k, 'rotate') }, 'Rotate'), ' ',
            h('button', { type: 'button', class: 'quiet danger', onclick: () => act(k, 'revoke') }, 'Revoke')]))))));
    } catch (e) {
      fill(list, problem(e));
    }
  }

  async function act(k, what) {
    if (!window.confirm(`${what === 'revoke' ? 'Revoke' : 'Rotate'} the key "${k.name}"? ${what === 'revoke' ? 'It stops working everywhere.' : 'Its old secret stops working.'}`)) return;
    try {
      const r = what === 'revoke'
        ? await api(`/admin/keys/${k.id}`, { method: 'DELETE' })
        : await api(`/admin/keys/${k.id}/rotate`, { method: 'POST' });
      if (r.key) showSecret(secret, r);
      await load();
    } catch (e) {
      fill(secret, problem(e));
    }
  }
  await load();
}

function showSecret(el, k) {
  fill(el, h('div', { class: 'secret' },
    h('p', {}, `The secret of "${k.name}" (shown once; copy it now):`),
    h('code', { id: 'new-secret' }, k.key)));
}

function createForm(secret, done) {
  const f = {
    name: h('input', { name: 'name', placeholder: 'name', required: true, size: 16 }),
    models: h('input', { name: 'models', placeholder: 'models (comma-separated, mock/*)', size: 24 }),
    rpm: h('input', { name: 'rpm', type: 'number', min: 1, placeholder: 'req/min', size: 7 }),
    tpm: h('input', { name: 'tpm', type: 'number', min: 1, placeholder: 'tokens/min', size: 9 }),
    budget: h('input', { name: 'budget_usd', type: 'number', min: 0, step: '0.01', placeholder: 'budget $', size: 8 }),
    period: h('select', { name: 'budget_period' }, ['month', 'week', 'day'].map((p) => h('option', { value: p }, `per ${p}`))),
    admin: h('input', { name: 'admin', type: 'checkbox' }),
  };
  const form = h('form', { class: 'filters', id: 'create-key' }, f.name, f.models, f.rpm, f.tpm, f.budget, f.period,
    h('label', {}, f.admin, ' admin'), h('button', { type: 'submit' }, 'Create key'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: f.name.value };
    const models = f.models.value.split(',').map((m) => m.trim()).filter(Boolean);
    if (models.length) body.models = models;
    if (f.rpm.value) body.rpm = Number(f.rpm.value);
    if (f.tpm.value) body.tpm = Number(f.tpm.value);
    if (f.budget.value) { body.budget_usd = Number(f.budget.value); body.budget_period = f.period.value; }
    if (f.admin.checked) body.admin = true;
    try {
      const k = await api('/admin/keys', { method: 'POST', body });
      showSecret(secret, k);
      form.reset();
      await done();
    } catch (e) {
      fill(secret, problem(e));
    }
  });
  return form;
}
