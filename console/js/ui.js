// Small DOM helpers: elements, tables with headers, notices built from API problems,
// number and time formats, and paged lists.
import { ApiError, api, withQuery } from './api.js';

// h('p', {class: 'x', onclick: fn}, 'text', child, [more children])
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.className = value;
    else if (name === 'text') element.textContent = value;
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(element) {
  while (element.firstChild) element.firstChild.remove();
  return element;
}

let uniqueCounter = 0;
export const uniqueId = (prefix) => `${prefix}-${++uniqueCounter}`;

// A labelled control: field('Amount', h('input', {...}), 'hint').
export function field(label, control, hint) {
  const id = control.id || uniqueId('f');
  control.id = id;
  const hintId = hint ? `${id}-hint` : undefined;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field' }, h('label', { for: id, text: label }), control,
    hint ? h('span', { class: 'hint', id: hintId, text: hint }) : null);
}

export function select(options, attributes = {}) {
  return h('select', attributes, options.map((option) => {
    const [value, label] = Array.isArray(option) ? option : [option, option];
    return h('option', { value, text: label });
  }));
}

// A section with its own heading (a landmark-friendly region).
export function section(title, ...children) {
  const id = uniqueId('s');
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id, text: title }), children);
}

export function page(title, lead, ...children) {
  return [h('h1', { text: title }), lead ? h('p', { class: 'lead', text: lead }) : null, ...children].filter(Boolean);
}

// Formats. int64 amounts arrive as JSON numbers; beyond 2^53 they lose digits in JavaScript,
// which only the display sees (the console never computes a write from a read).
const integer = new Intl.NumberFormat('en-US');
export const fmt = {
  int: (value) => (value === undefined || value === null || value === '' ? '—' : integer.format(Number(value))),
  signed: (value) => (Number(value) > 0 ? `+${integer.format(Number(value))}` : integer.format(Number(value || 0))),
  cents: (value, currency = 'CNY') => (value === undefined || value === null ? '—'
    : `${currency} ${(Number(value) / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`),
  // A no-break space keeps a time on one line in narrow columns.
  time: (value) => (value ? String(value).replace('T', '\u00a0').replace(/(\.\d+)?Z$/, '\u00a0UTC') : '—'),
  date: (value) => (value ? String(value).slice(0, 10) : '—'),
  text: (value) => (value === undefined || value === null || value === '' ? '—' : String(value)),
};

// columns: [{label, value: (row) => text|Node, numeric?, wrap?}]
export function table(columns, rows, { caption, empty = 'Nothing to show.', rowClass } = {}) {
  if (!rows || rows.length === 0) return h('p', { class: 'muted', text: empty });
  const body = h('tbody', {}, rows.map((row) => tableRow(columns, row, rowClass)));
  const wrap = h('div', { class: 'table-wrap' });
  keyboardScrollable(wrap, caption);
  return append(wrap, [h('table', {},
    caption ? h('caption', { text: caption }) : null,
    h('thead', {}, h('tr', {}, columns.map((column) =>
      h('th', { scope: 'col', class: column.numeric ? 'num' : undefined, text: column.label })))),
    body)]);
}

// A table wider than its column scrolls sideways; keyboard users must be able to scroll it
// too, so the wrapper takes focus (and names itself) only while it overflows.
const overflowWatch = typeof ResizeObserver === 'function' ? new ResizeObserver((entries) => {
  for (const { target } of entries) {
    if (!target.isConnected) { overflowWatch.unobserve(target); continue; }
    if (target.scrollWidth > target.clientWidth + 1) {
      target.setAttribute('tabindex', '0');
      target.setAttribute('role', 'region');
      target.setAttribute('aria-label', target.dataset.label || 'Table');
    } else {
      target.removeAttribute('tabindex');
      target.removeAttribute('role');
      target.removeAttribute('aria-label');
    }
  }
}) : null;

function keyboardScrollable(wrap, caption) {
  wrap.dataset.label = caption ? `${caption} (scrolls sideways)` : 'Table (scrolls sideways)';
  if (overflowWatch) overflowWatch.observe(wrap);
}

export function tableRow(columns, row, rowClass) {
  return h('tr', { class: rowClass ? rowClass(row) : undefined }, columns.map((column, index) => {
    const value = column.value(row);
    const cell = value instanceof Node ? value : fmt.text(value);
    const cls = [column.numeric ? 'num' : '', column.wrap ? 'wrap' : ''].join(' ').trim() || undefined;
    return index === 0 && column.header ? h('th', { scope: 'row', class: cls }, cell) : h('td', { class: cls }, cell);
  }));
}

export function pill(text, kind) {
  return h('span', { class: `pill ${kind || ''}`.trim(), text });
}

export function notice(kind, ...children) {
  return h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, children);
}

// What a failed call shows: the problem's detail, or "not available" for a route this server
// does not have (a newer console against an older service).
export function problemNotice(error, what) {
  if (!(error instanceof ApiError)) {
    return notice('error', `${what ? `${what}: ` : ''}${error && error.message ? error.message : String(error)}`);
  }
  if (error.unavailable && error.code !== 'member_not_found') {
    return notice('unavailable', h('strong', { text: 'Not available. ' }),
      `${what || 'This part'} is not offered by this server (${error.path ? error.path.split('?')[0] : 'the route'}: ${error.detail}).`);
  }
  if (error.status === 403) {
    return notice('unavailable', h('strong', { text: 'Not for this role. ' }), `${what ? `${what}: ` : ''}${error.detail}`);
  }
  const fields = error.errors.length
    ? h('ul', {}, error.errors.map((e) => h('li', { text: `${e.field}: ${e.detail}` }))) : null;
  return notice('error', `${what ? `${what}: ` : ''}${error.detail}`,
    error.code ? h('span', { class: 'code', text: ` (${error.code}${error.requestId ? `, ${error.requestId}` : ''})` }) : null, fields);
}

// Renders `render(await load())` into `container`, with a loading line and any error.
export async function fill(container, load, render, what) {
  clear(container).append(h('p', { class: 'loading', text: 'Loading…' }));
  try {
    const data = await load();
    clear(container);
    append(container, [render(data)]);
  } catch (error) {
    clear(container).append(problemNotice(error, what));
  }
  return container;
}

// A list read page by page: the table grows with each "Load more".
export function pagedTable(path, columns, { caption, empty, limit = 50, rowClass, what } = {}) {
  const holder = h('div', {});
  let tbody = null;
  let cursor;
  const more = h('button', { type: 'button', class: 'secondary', text: 'Load more' });
  const status = h('p', { class: 'muted' });
  async function next() {
    more.disabled = true;
    try {
      const page = await api(withQuery(path, { cursor, limit }));
      const items = page.items || [];
      if (!tbody) {
        clear(holder);
        const built = table(columns, items, { caption, empty, rowClass });
        holder.append(built);
        tbody = built.querySelector('tbody');
        holder.append(status, more);
      } else {
        for (const row of items) tbody.append(tableRow(columns, row, rowClass));
      }
      cursor = page.next_cursor;
      const shown = tbody ? tbody.rows.length : 0;
      status.textContent = cursor ? `${shown} shown; more are available.` : (shown ? `${shown} shown; that is all.` : '');
      more.hidden = !cursor;
    } catch (error) {
      if (!tbody) clear(holder);
      holder.append(problemNotice(error, what));
      more.hidden = true;
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', next);
  holder.append(h('p', { class: 'loading', text: 'Loading…' }));
  next();
  return holder;
}

export function stats(items) {
  return h('ul', { class: 'stats' }, items.map(([label, value]) =>
    h('li', {}, h('span', { class: 'label', text: label }), h('span', { class: 'value', text: value }))));
}

export function announce(text) {
  const live = document.getElementById('live');
  if (live) live.textContent = text;
}

// A download of a body the API answers with the key (a plain link could not send it).
export async function download(path, filename) {
  const response = await api(path, { raw: true, headers: { Accept: '*/*' } });
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// Today and N days ago as yyyy-mm-dd (UTC).
export function isoDay(offsetDays = 0) {
  return new Date(Date.now() + offsetDays * 86400000).toISOString().slice(0, 10);
}
