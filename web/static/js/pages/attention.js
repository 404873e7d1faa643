// "What needs action": the panel at the top of the landing page (GET /api/attention). It says
// in operator words what failed and where it is put right, or "All clear". It refreshes
// itself every 5 s while the tab is visible (and at once when the tab comes back), and
// stops when the page is left. The list is only rebuilt when its content changed, so a
// link keeps its focus and the page its scroll.
//
// Also exports visiblePoller(), the polling rule of the lists that refresh themselves
// (Run history uses it too).

import { api } from '../api.js';
import { clear, fmtNum, fmtRelative, h } from '../ui.js';

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

const KIND_ORDER = ['failed_runs', 'connection_test_failed', 'notification_failed', 'failed_records', 'held', 'never_run', 'disabled'];

function itemEl(item) {
  const reasons = Array.isArray(item.reasons) && item.reasons.length
    ? h('ul', { class: 'attention-reasons', 'data-test': 'attention-reasons' },
      item.reasons.map((r) => h('li', null, h('span', { class: 'reason-text' }, r.reason), ' ',
        h('span', { class: 'reason-count', title: `${fmtNum(r.count)} records` }, `× ${fmtNum(r.count)}`))))
    : null;
  const when = item.at ? h('span', { class: 'muted small' }, ` · ${fmtRelative(item.at)}`) : null;
  return h('li', { class: ['attention-item', item.severity], 'data-test': 'attention-item', 'data-kind': item.kind, 'data-process': item.process || item.connection || item.channel || '' },
    h('div', { class: 'attention-title' }, h('strong', null, item.title), when),
    item.detail && !(reasons && item.kind === 'failed_records') ? h('div', { class: 'attention-detail small' }, item.detail) : null,
    reasons,
    item.link ? h('a', { href: item.link, class: 'attention-link', 'data-test': 'attention-link' }, `${item.link_label || 'Open'} →`) : null);
}

// The panel, filled now and kept fresh. ctx: the page's context (alive() ends the polling).
export function attentionPanel(ctx) {
  const heading = h('h2', { id: 'attention-title' }, 'What needs action');
  const summary = h('p', { class: 'attention-summary', 'aria-live': 'polite', 'data-test': 'attention-summary' }, 'Looking…');
  const list = h('ul', { class: 'attention-list', 'data-test': 'attention-list' });
  const box = h('section', { class: 'panel attention', 'aria-labelledby': 'attention-title', 'data-test': 'attention' }, heading, summary, list);
  let shown = '';

  const load = async () => {
    const data = await api.get('/api/attention');
    if (!ctx.alive()) return;
    const text = JSON.stringify(data.items || []);
    box.dataset.allClear = String(!!data.all_clear);
    if (text === shown) return;
    shown = text;
    const items = [...(data.items || [])].sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind));
    clear(list);
    box.classList.toggle('clear', !!data.all_clear);
    box.classList.toggle('needs-action', !!data.needs_action);
    if (data.all_clear) {
      summary.textContent = 'All clear: every process has run and nothing is failing.';
      summary.dataset.test = 'attention-all-clear';
      return;
    }
    summary.dataset.test = 'attention-summary';
    const errors = items.filter((i) => i.severity !== 'info').length;
    summary.textContent = errors
      ? `${errors} ${errors === 1 ? 'thing needs' : 'things need'} action${items.length > errors ? `, and ${items.length - errors} to know about` : ''}.`
      : 'Nothing is failing. To know about:';
    for (const item of items) list.append(itemEl(item));
  };
  load().catch((e) => { summary.textContent = `Could not load what needs action: ${e.message}`; });
  visiblePoller(load, POLL_MS, ctx.alive);
  return box;
}
