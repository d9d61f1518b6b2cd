// Providers: each provider's queue, in-flight jobs against its cap, a pause after a 429, its
// targets' circuits and recent error rate; and every node with its last heartbeat.

import { api } from './api.js';
import { h, fill, num, pct, ms, time, badge } from './dom.js';

export async function providersPage(main, session) {
  if (!session.admin) {
    fill(main, h('h1', {}, 'Providers'), h('p', { class: 'muted' }, 'Providers and nodes are for admin keys.'));
    return;
  }
  async function load() {
    const [p, n] = await Promise.all([api('/admin/providers'), api('/admin/nodes')]);
    const now = Date.now();
    fill(main, h('h1', {}, 'Providers'),
      h('table', { class: 'grid', id: 'providers' },
        h('thead', {}, h('tr', {}, ['Provider', 'Kind', 'Queue', 'In flight', 'Paused', 'Errors (15 min)', 'Circuits'].map((c) => h('th', {}, c)))),
        h('tbody', {}, p.data.map((v) => h('tr', {},
          h('td', {}, v.name), h('td', {}, v.kind),
          h('td', { class: 'num' }, num(v.queue_depth)),
          h('td', { class: 'num' }, `${num(v.in_flight)} / ${num(v.max_in_flight)}`),
          h('td', {}, v.paused_for_ms ? `for ${ms(v.paused_for_ms)} (429)` : '–'),
          h('td', { class: 'num' }, v.recent_jobs === null || v.recent_jobs === undefined ? '–' : `${pct(v.recent_error_rate ?? 0)} of ${num(v.recent_jobs)}`),
          h('td', {}, Object.keys(v.circuits).length ? Object.entries(v.circuits).map(([t, c]) => h('div', {}, badge(c.state), ' ', t)) : h('span', { class: 'muted' }, 'no calls yet'))))),
      h('h2', {}, 'Nodes'),
      h('table', { class: 'grid', id: 'nodes' },
        h('thead', {}, h('tr', {}, ['Node', 'Roles', 'Version', 'Up since', 'Last heartbeat'].map((c) => h('th', {}, c)))),
        h('tbody', {}, n.data.map((b) => h('tr', {},
          h('td', {}, b.node), h('td', {}, b.roles.join(', ')), h('td', {}, b.version),
          h('td', {}, time(b.started_ms)), h('td', {}, `${Math.max(0, Math.round((now - b.ts_ms) / 1000))} s ago`)))))));
  }
  await load();
  const timer = setInterval(() => load().catch(() => {}), 5000);
  return () => clearInterval(timer);
}
