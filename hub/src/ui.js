// Small DOM helpers: the hub has no framework of its own (nebula.js brings React for the charts only).

/** h('div.card#x', {onclick}, child, 'text', [children]) -> Element */
export function h(spec, attrs, ...children) {
  const [, tag = 'div', rest = ''] = /^([a-z0-9]*)(.*)$/i.exec(spec);
  const el = document.createElement(tag || 'div');
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A readable message from anything enigma or fetch may reject with. */
export function errorText(err) {
  if (!err) return 'unknown error';
  if (typeof err === 'string') return err;
  if (err.code !== undefined && (err.message || err.parameter)) {
    return `${err.message || 'Error'} (${err.code})${err.parameter ? `: ${err.parameter}` : ''}`;
  }
  return err.message || String(err);
}

/** A status line that says what is happening or what went wrong. */
export function status(el, text, kind = 'info') {
  el.className = `status ${kind}`;
  el.textContent = text;
}

export function formatNumber(n) {
  return typeof n === 'number' ? n.toLocaleString('en-US') : String(n ?? '');
}

export function formatBytes(n) {
  if (!n) return '–';
  const units = ['B', 'kB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** Qlik timestamps (ISO strings or serial day numbers) as local text. */
export function formatTime(value) {
  if (!value) return '–';
  const date = typeof value === 'number' ? new Date(Date.UTC(1899, 11, 30) + value * 864e5) : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString('en-GB');
}
