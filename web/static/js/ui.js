// Small DOM and formatting helpers shared by the pages. No framework: h() builds elements,
// the pages keep references to what they update.

const SVG_NS = 'http://www.w3.org/2000/svg';

function applyAttrs(el, attrs, isSvg) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (!isSvg && (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'value' || k === 'hidden' || k === 'required')) {
      el[k] = v;
    } else if (k === 'class') {
      el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

function appendChildren(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// h('button', {class: 'x', onclick: f, 'data-test': 'y'}, 'text', child, [more])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs, false);
  appendChildren(el, children);
  return el;
}

export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttrs(el, attrs, true);
  appendChildren(el, children);
  return el;
}

// el.append() that skips null/false and flattens arrays, like h().
export function put(el, ...children) {
  appendChildren(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// ---- roles (docs/api.md "Roles": cumulative) ----
const RANK = { support: 1, operator: 2, admin: 3 };
export function roleAtLeast(user, role) {
  return !!user && (RANK[user.role] || 0) >= RANK[role];
}

// ---- formatting ----
const pad = (n) => String(n).padStart(2, '0');

// "2026-11-23 08:40:00" in the browser's time zone; the UTC original goes into a title.
export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// The browser's IANA zone ("Europe/Zurich"), and a zone's short name at a time ("CET", "UTC").
export const browserZone = () => {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; }
};
export function zoneAbbrev(iso, zone) {
  try {
    const parts = new Intl.DateTimeFormat('en-GB', { timeZone: zone || undefined, timeZoneName: 'short' }).formatToParts(new Date(iso));
    const z = parts.find((p) => p.type === 'timeZoneName');
    return z ? z.value : '';
  } catch { return ''; }
}

// "2026-11-23 08:40" in the IANA zone `zone`; null when the browser does not know the zone.
export function fmtTimeIn(iso, zone) {
  try {
    const d = new Date(iso);
    const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
      timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
    }).formatToParts(d).map((p) => [p.type, p.value]));
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
  } catch { return null; }
}

// A time in the browser's zone, with the zone's short name beside it ("… 08:40:00 CET").
export function timeEl(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const zone = zoneAbbrev(iso);
  return h('time', { datetime: iso, title: `${iso} (your time zone: ${browserZone()})` }, fmtTime(iso),
    zone ? h('span', { class: 'zone' }, ` ${zone}`) : null);
}

// A schedule's next run in the schedule's own zone, and in the browser's when that differs:
// "2026-12-07 06:00 Europe/Zurich (05:00 UTC here)".
export function zonedTimeEl(iso, zone) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const mine = browserZone();
  const z = zone || mine;
  const there = fmtTimeIn(iso, z);
  if (!there) return timeEl(iso);
  const here = z !== mine ? fmtTimeIn(iso, mine) : null;
  const sameDay = here && here.slice(0, 10) === there.slice(0, 10);
  return h('time', { datetime: iso, title: iso, 'data-zone': z }, `${there} ${z}`,
    here ? h('span', { class: 'zone muted' }, ` (${sameDay ? here.slice(11) : here} ${zoneAbbrev(iso, mine) || mine} your time)`) : null);
}

// A setting's or field's name in words: the manifest's label when there is one, else
// "store_domain" → "Store domain", "api_key" → "API key" (as the server labels settings).
const UPPER = new Set(['api', 'url', 'id', 'ssl', 'tls', 'ca', 'http', 'https', 'sku', 'vat', 'oauth', 'smtp']);
export function labelOf(name, label) {
  if (label) return label;
  const words = String(name).split('_').filter(Boolean).map((w) => (UPPER.has(w) ? w.toUpperCase() : w === 'ms' ? '(ms)' : w));
  const text = words.join(' ');
  return text ? text[0].toUpperCase() + text.slice(1) : String(name);
}

export function fmtRelative(iso, now = Date.now()) {
  if (!iso) return '';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return '';
  const sec = Math.round((t - now) / 1000);
  const abs = Math.abs(sec);
  if (abs < 5) return 'just now';
  let text;
  if (abs < 60) text = `${abs} s`;
  else if (abs < 3600) text = `${Math.round(abs / 60)} min`;
  else if (abs < 86400 * 2) text = `${Math.round(abs / 3600)} h`;
  else text = `${Math.round(abs / 86400)} d`;
  return sec >= 0 ? `in ${text}` : `${text} ago`;
}

// A time in words ("3 min ago", "in 2 min"), the full time and zone in its title
// ("2026-12-06 15:21:01 CET (your time zone: Europe/Zurich)"), as the lists that refresh
// themselves say it. `prefix` goes before the words ("first run ").
export function agoEl(iso, prefix = '') {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const zone = zoneAbbrev(iso);
  return h('time', { datetime: iso, class: 'ago', title: `${fmtTime(iso)}${zone ? ` ${zone}` : ''} (your time zone: ${browserZone()})` },
    `${prefix}${fmtRelative(iso)}`);
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  const sec = ms / 1000;
  if (sec < 60) return `${sec.toFixed(1)} s`;
  const m = Math.floor(sec / 60);
  if (m < 60) return `${m} min ${Math.round(sec - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export const fmtNum = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US'));

// A status word as a badge; "succeeded_with_failures" reads "succeeded with failures".
export function badge(text, kind = text) {
  return h('span', { class: ['badge', kind] }, String(text).replace(/_/g, ' '));
}

export const COUNT_KEYS = ['read', 'created', 'updated', 'unchanged', 'failed'];

// "read 12 · created 3 · … · failed 1"
export function countsEl(counts) {
  const c = counts || {};
  const parts = [];
  COUNT_KEYS.forEach((k, i) => {
    if (i) parts.push(' · ');
    parts.push(h('span', { class: k === 'failed' && c[k] ? 'failed-count' : null, 'data-count': k },
      `${k} `, h('b', null, fmtNum(c[k] ?? 0))));
  });
  return h('span', { class: 'counts' }, parts);
}

// What a running run is doing, in words (GET /api/processes → running, GET /api/runs/{id} →
// live): {wait: "retrying after HTTP 503 … (attempt 2 of 5)" or "", line: "2 pages done ·
// 500 records read · 41.7 records/s"}.
export function liveWords(live) {
  if (!live) return { wait: '', line: '' };
  const c = live.counts || {};
  const parts = [];
  const pages = live.pages || 0;
  parts.push(pages === 1 ? '1 page done' : `${fmtNum(pages)} pages done`);
  parts.push(`${fmtNum(c.read || 0)} records read`);
  if (typeof live.records_per_second === 'number') parts.push(`${live.records_per_second.toLocaleString('en-US')} records/s`);
  let wait = live.waiting && live.waiting.reason ? live.waiting.reason : '';
  if (!wait && !pages && !(c.read)) wait = 'reading the first page';
  return { wait, line: parts.join(' · ') };
}

// Gives each cell the name of its column (data-label), which a phone's card shows beside
// it. For rows added to a table() later, as a list that refreshes itself. A row may come as
// an array (a row and the detail row under it, as the inbox's events).
export function labelCells(columns, rows) {
  for (const tr of rows.flat(Infinity)) {
    if (!tr || !tr.children) continue;
    [...tr.children].forEach((td, i) => {
      if (td.dataset.label === undefined && columns[i]) td.dataset.label = columns[i].label || columns[i].srLabel || '';
    });
  }
  return rows;
}

// A table. columns: [{label, num?}]. On a wide screen it scrolls sideways inside its box;
// on a phone (cards, the default) each row becomes a card, every cell labelled with its
// column, so that a row's buttons (Replay, Test, Run) are on screen without scrolling.
export function table(columns, rows, { caption, empty = 'Nothing to show.', test, cards = true } = {}) {
  labelCells(columns, rows);
  const tbody = h('tbody', null, rows);
  const t = h('table', { 'data-test': test, class: cards ? 'cards-on-phone' : null },
    caption ? h('caption', null, caption) : null,
    h('thead', null, h('tr', null, columns.map((c) =>
      h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label ? c.label : h('span', { class: 'visually-hidden' }, c.srLabel || ''))))),
    tbody);
  const wrap = h('div', { class: 'table-scroll' }, t);
  if (!rows.length) tbody.append(h('tr', null, h('td', { colspan: columns.length, class: 'empty' }, empty)));
  return wrap;
}

// ---- messages ----
// One area under the top bar. Errors stay until closed or the next page; notices fade.
const flashArea = () => document.getElementById('flash');

export function clearFlash() {
  clear(flashArea());
}

export function flash(kind, message) {
  const area = flashArea();
  const close = h('button', { type: 'button', 'aria-label': 'Dismiss message' }, '×');
  const box = h('div', { class: ['flash', kind], role: kind === 'error' ? 'alert' : 'status', 'data-test': `flash-${kind}` },
    h('span', { 'data-test': 'flash-text' }, message), close);
  close.addEventListener('click', () => box.remove());
  // One message of each kind at a time: a newer one replaces the older.
  for (const old of area.querySelectorAll(`.flash.${kind}`)) old.remove();
  if (kind !== 'error') setTimeout(() => box.remove(), 8000);
  area.append(box);
  return box;
}

export const showError = (e) => flash('error', e && e.message ? e.message : String(e));
export const showInfo = (m) => flash('info', m);

// Runs an async action from a button: disables it meanwhile, shows the API's error.
export async function withButton(button, action) {
  const was = button.disabled;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await action();
  } catch (e) {
    showError(e);
    return undefined;
  } finally {
    button.removeAttribute('aria-busy');
    if (button.isConnected) button.disabled = was;
  }
}

// The plumbing of a modal form (a <dialog> around a <form>): Cancel closes it; closing gives
// the focus back to what opened it; a submit runs `submit()` with Save switched off and shows
// what it throws in `error`, under the form (submit closes the dialog itself when it is done).
// open(from) clears the error and shows the dialog, from the element `from`.
export function formDialog({ el, form, error, save, cancel }, submit) {
  let opener = null;
  cancel.addEventListener('click', () => el.close());
  el.addEventListener('close', () => opener && opener.focus());
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    save.disabled = true;
    try {
      await submit();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    } finally {
      save.disabled = false;
    }
  });
  return {
    open(from) {
      opener = from;
      error.hidden = true;
      el.showModal();
    },
  };
}

// A labelled form field. control gets the id.
export function field(labelText, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, labelText), control,
    hint ? h('span', { class: 'field-hint' }, hint) : null);
}

export function select(options, value, attrs = {}) {
  return h('select', attrs, options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

// Pager for limit/offset lists: {total, limit, offset, count} → prev/next buttons. Without a
// total (the server did not say), "Next" is offered while pages come back full.
export function offsetPager({ total, limit, offset, count }, go, test = 'pager') {
  const known = typeof total === 'number';
  const first = count === 0 ? 0 : offset + 1;
  const last = offset + count;
  const hasNext = known ? last < total : count >= limit;
  const prev = h('button', { type: 'button', class: 'secondary small', disabled: offset <= 0, 'data-test': `${test}-prev` }, '← Previous');
  const next = h('button', { type: 'button', class: 'secondary small', disabled: !hasNext, 'data-test': `${test}-next` }, 'Next →');
  prev.addEventListener('click', () => go(Math.max(0, offset - limit)));
  next.addEventListener('click', () => go(offset + limit));
  return h('div', { class: 'pager', 'data-test': test },
    h('span', { class: 'position' }, `${fmtNum(first)}–${fmtNum(last)}${known ? ` of ${fmtNum(total)}` : ''}`), prev, next);
}

// Text of a detail value from the API that may be a string or an object.
export function asText(v) {
  if (v === null || v === undefined) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}
