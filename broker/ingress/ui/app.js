// The dashboard's shell: who is logged in, the login form, and the pages by path.

import { api } from './api.js';
import { h, fill, problem } from './dom.js';
import { requestsPage } from './requests.js';
import { requestPage } from './request.js';
import { overviewPage } from './overview.js';
import { providersPage } from './providers.js';
import { keysPage } from './keys.js';
import { cachePage } from './cache.js';

const main = document.getElementById('main');
export const session = { who: '', admin: false, auth: false, signed_in: false, name: null };
let stopPage = null;

function route() {
  const path = location.pathname.replace(/\/+$/, '') || '/ui';
  const m = path.match(/^\/ui\/requests\/([0-9a-f-]{36})$/);
  if (m) return ['requests', () => requestPage(main, m[1], session)];
  if (path === '/ui/overview') return ['overview', () => overviewPage(main, session)];
  if (path === '/ui/providers') return ['providers', () => providersPage(main, session)];
  if (path === '/ui/keys') return ['keys', () => keysPage(main, session)];
  if (path === '/ui/cache') return ['cache', () => cachePage(main, session)];
  return ['requests', () => requestsPage(main, session)];
}

async function render() {
  if (stopPage) { stopPage(); stopPage = null; }
  if (!session.signed_in) return loginForm();
  const [name, page] = route();
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === name);
  try {
    stopPage = (await page()) || null;
  } catch (e) {
    fill(main, problem(e));
  }
}

/** Follows in-app links without reloading. */
export function go(path) {
  history.pushState(null, '', path);
  render();
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a[data-nav]');
  if (!a || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  go(a.getAttribute('href'));
});
window.addEventListener('popstate', render);
window.addEventListener('sy-unauthorized', async () => {
  await loadSession();
  if (!session.signed_in) render();
});

async function loadSession() {
  Object.assign(session, await api('/ui/session'));
  document.getElementById('nav').hidden = !session.signed_in;
  document.getElementById('logout').hidden = !(session.signed_in && session.auth);
  const who = session.who === 'open' ? 'open gateway (no master key)' : session.name ? `${session.name} (${session.who})` : session.who;
  fill(document.getElementById('who'), session.signed_in ? h('span', { class: 'muted' }, who) : '');
}

function loginForm() {
  const input = h('input', { type: 'password', name: 'key', placeholder: 'sy-… or the master key', autocomplete: 'current-password', required: true, id: 'login-key' });
  const out = h('div');
  const form = h('form', { class: 'login', id: 'login' },
    h('h1', {}, 'Log in'),
    h('p', { class: 'muted' }, 'With the master key you see everything; with a virtual key, its own requests, spend and limits. The key stays in an HttpOnly cookie.'),
    input,
    h('button', { type: 'submit' }, 'Log in'),
    out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('/ui/login', { method: 'POST', body: { key: input.value } });
      input.value = '';
      await loadSession();
      render();
    } catch (e) {
      fill(out, problem(e));
    }
  });
  fill(main, form);
  input.focus();
}

document.getElementById('logout').addEventListener('click', async () => {
  await api('/ui/logout', { method: 'POST' });
  await loadSession();
  render();
});

loadSession().then(render).catch((e) => fill(main, problem(e)));
