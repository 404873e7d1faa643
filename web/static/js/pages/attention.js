// "What needs action": the panel at the top of the landing page (GET /api/attention). It says
// in operator words what failed and where it is put right, or "All clear". Failures come
// first, in full; notes (processes never run, switched off or waiting) fold into one line.
// Times are words ("3 min ago") with the full time and zone in their title. It refreshes
// itself every 5 s while the tab is visible (and at once when the tab comes back), and
// stops when the page is left. The list is only rebuilt when its content changed, so a
// link keeps its focus and the page its scroll.
//
// Also exports visiblePoller(), the polling rule of the lists that refresh themselves
// (Run history uses it too).

import { api } from '../api.js';
import { agoEl, clear, fmtNum, h } from '../ui.js';

export const POLL_MS = 5000;

// Calls fn() every ms (a number, or a function giving the next delay) while the page is
// visible and alive() holds; fn may be async (a slow answer delays the next call rather
// than stacking them). Returns stop().
export function visiblePoller(fn, ms, alive = () => true) {
  let timer = null;
  let stopped = false;
  const schedule = () => {
    clearTimeout(timer);
    if (!stopped && !document.hidden) timer = setTimeout(tick, typeof ms === 'function' ? ms() : ms);
  };
  const tick = async () => {
    if (stopped) return;
    if (!alive()) { stop(); return; }
    try { await fn(); } catch { /* the next tick tries again; the page shows its own errors */ }
    schedule();
  };
  const onVisibility = () => {
    if (document.hidden) clearTimeout(timer);
    else tick();
  };
  function stop() {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibility);
  }
  document.addEventListener('visibilitychange', onVisibility);
  schedule();
  return stop;
}

// Failures first, then the notes (the server sends them in this order too).
const KIND_ORDER = ['failed_runs', 'connection_test_failed', 'notification_failed', 'failed_records', 'held', 'never_run', 'disabled'];
const isNote = (item) => (item.group ? item.group === 'note' : item.severity === 'info');

// A failure: what is wrong, when, the commonest reasons, and the link where it is put right.
function itemEl(item) {
  const reasons = Array.isArray(item.reasons) && item.reasons.length
    ? h('ul', { class: 'attention-reasons', 'data-test': 'attention-reasons' },
      item.reasons.map((r) => h('li', null, h('span', { class: 'reason-text' }, r.reason), ' ',
        h('span', { class: 'reason-count', title: `${fmtNum(r.count)} records` }, `× ${fmtNum(r.count)}`))))
    : null;
  const when = item.at ? h('span', { class: 'muted small' }, ' · ', agoEl(item.at)) : null;
  return h('li', { class: ['attention-item', item.severity], 'data-test': 'attention-item', 'data-kind': item.kind, 'data-process': item.process || item.connection || item.channel || '' },
    h('div', { class: 'attention-title' }, h('strong', null, item.title), when),
    item.detail && !(reasons && item.kind === 'failed_records') ? h('div', { class: 'attention-detail small' }, item.detail) : null,
    reasons,
    item.link ? h('a', { href: item.link, class: 'attention-link', 'data-test': 'attention-link' }, `${item.link_label || 'Open'} →`) : null);
}

// A note, on one line: "Products Go→Shopify is switched off · Processes →".
function noteEl(item) {
  const when = item.next_run ? [' · ', agoEl(item.next_run, 'first run ')] : item.at ? [' · ', agoEl(item.at)] : null;
  return h('li', { class: 'attention-note', 'data-test': 'attention-item', 'data-kind': item.kind, 'data-process': item.process || item.connection || '', title: item.detail || null },
    h('span', null, item.title), when ? h('span', { class: 'muted' }, when) : null, ' ',
    item.link ? h('a', { href: item.link, class: 'attention-link small', 'data-test': 'attention-link' }, `${item.link_label || 'Open'} →`) : null);
}

const NOTE_WORDS = { held: ['waits for another process', 'wait for other processes'], never_run: ['never run', 'never run'], disabled: ['switched off', 'switched off'] };

// "9 notes: 3 never run, 5 switched off, 1 waits for another process"
function notesSummary(notes) {
  const by = {};
  for (const n of notes) by[n.kind] = (by[n.kind] || 0) + 1;
  const parts = Object.keys(NOTE_WORDS).filter((k) => by[k]).map((k) => `${by[k]} ${NOTE_WORDS[k][by[k] === 1 ? 0 : 1]}`);
  return [h('strong', null, `${notes.length} ${notes.length === 1 ? 'note' : 'notes'}`), parts.length ? h('span', { class: 'muted' }, `: ${parts.join(', ')}`) : null];
}

// The panel, filled now and kept fresh. ctx: the page's context (alive() ends the polling).
// Failures are listed in full, each with its link; the notes fold into one line ("9 notes")
// that opens their list; when nothing fails, the panel is one short line.
export function attentionPanel(ctx) {
  const heading = h('h2', { id: 'attention-title' }, 'What needs action');
  const summary = h('p', { class: 'attention-summary', 'aria-live': 'polite', 'data-test': 'attention-summary' }, 'Looking…');
  const list = h('ul', { class: 'attention-list', 'data-test': 'attention-list' });
  const notesSlot = h('div', { class: 'attention-notes-slot' });
  const box = h('section', { class: 'panel attention', 'aria-labelledby': 'attention-title', 'data-test': 'attention' }, h('div', { class: 'attention-head' }, heading, summary), list, notesSlot);
  let shown = '';
  let notesOpen = false; // kept across refreshes

  const load = async () => {
    const data = await api.get('/api/attention');
    if (!ctx.alive()) return;
    const text = JSON.stringify(data.items || []);
    box.dataset.allClear = String(!!data.all_clear);
    // The words ("3 min ago") age: rebuild at least every minute even when nothing changed.
    const minute = Math.floor(Date.now() / 60000);
    if (text === shown && box.dataset.minute === String(minute)) return;
    shown = text;
    box.dataset.minute = String(minute);
    const old = notesSlot.querySelector('details');
    if (old) notesOpen = old.open;
    const items = [...(data.items || [])].sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind));
    const failures = items.filter((i) => !isNote(i));
    const notes = items.filter(isNote);
    clear(list);
    clear(notesSlot);
    box.classList.toggle('clear', !!data.all_clear);
    box.classList.toggle('needs-action', failures.length > 0);
    box.classList.toggle('quiet', failures.length === 0);
    if (data.all_clear) {
      summary.textContent = 'All clear: every process has run and nothing is failing.';
      summary.dataset.test = 'attention-all-clear';
      return;
    }
    summary.dataset.test = 'attention-summary';
    summary.textContent = failures.length
      ? `${failures.length} ${failures.length === 1 ? 'thing needs' : 'things need'} action.`
      : 'Nothing needs action.';
    for (const item of failures) list.append(itemEl(item));
    if (notes.length) {
      const details = h('details', { class: 'attention-notes', 'data-test': 'attention-notes', open: notesOpen || null },
        h('summary', { 'data-test': 'attention-notes-summary' }, notesSummary(notes)),
        h('ul', { class: 'attention-note-list' }, notes.map(noteEl)));
      details.addEventListener('toggle', () => { notesOpen = details.open; });
      notesSlot.append(details);
    }
  };
  load().catch((e) => { summary.textContent = `Could not load what needs action: ${e.message}`; });
  visiblePoller(load, POLL_MS, ctx.alive);
  return box;
}
