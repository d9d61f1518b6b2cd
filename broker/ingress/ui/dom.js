// Small DOM and formatting helpers. Text always goes in as text (never as HTML), so nothing
// a request or a response holds can run in the page.

/** An element: h('a', {href: '/x', class: 'y', onclick: f}, 'text', child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    // Through the CSSOM: the page's policy refuses inline style attributes.
    else if (k === 'style') el.style.cssText = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  for (const c of children.flat(Infinity)) if (c !== undefined && c !== null && c !== false) el.append(c);
  return el;
}

export function time(ms) {
  if (!ms) return '–';
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function ms(v) {
  if (v === undefined || v === null) return '–';
  return v < 1000 ? `${v} ms` : `${(v / 1000).toFixed(v < 10000 ? 2 : 1)} s`;
}

export function num(v) {
  return v === undefined || v === null ? '–' : Number(v).toLocaleString('en-US');
}

export function usd(v) {
  if (v === undefined || v === null) return '–';
  return v === 0 ? '$0' : v < 0.01 ? `$${v.toFixed(6)}` : `$${v.toFixed(4)}`;
}

export function pct(v) {
  return v === undefined || v === null ? '–' : `${(v * 100).toFixed(1)}%`;
}

/** A status badge. */
export function badge(status) {
  return h('span', { class: `badge ${status}` }, status || '–');
}

/** A message that something went wrong, with what the API said. */
export function problem(e) {
  return h('p', { class: 'error', role: 'alert' }, e && e.message ? e.message : String(e));
}
