// Run history: filters (process, status, dates) kept in the route's query, a chart of records
// per run and the runs table, newest first, paged by limit/offset (GET /api/runs).
// The list refreshes itself (every 5 s, every 2 s while a run on it goes; paused while the
// tab is hidden) in place: the filters, the form being typed in and the scroll stay.

import { api } from '../api.js';
import { runsChart } from '../chart.js';
import { badge, clear, field, fmtDuration, fmtNum, h, labelCells, offsetPager, put, select, table, timeEl } from '../ui.js';
import { visiblePoller } from './attention.js';


const LIMIT = 50;
const STATUSES = ['running', 'succeeded', 'succeeded_with_failures', 'partial', 'failed', 'abandoned'];
let showUnchanged = true; // kept across visits of the page

const pad = (n) => String(n).padStart(2, '0');
// A date picked in the browser's zone → the UTC instant of that local time, without ms.
function localDayBound(day, endOfDay) {
  const [y, m, d] = day.split('-').map(Number);
  const t = endOfDay ? new Date(y, m - 1, d, 23, 59, 59) : new Date(y, m - 1, d, 0, 0, 0);
  return `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}T${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}Z`;
}

export async function render(ctx) {
  const p = ctx.params;
  const filters = {
    process: p.get('process') || '',
    status: p.get('status') || '',
    from: p.get('from') || '',
    to: p.get('to') || '',
  };
  const offset = Math.max(0, Number(p.get('offset')) || 0);
  const query = {
    process: filters.process,
    status: filters.status,
    from: filters.from && /^\d{4}-\d{2}-\d{2}$/.test(filters.from) ? localDayBound(filters.from, false) : filters.from,
    to: filters.to && /^\d{4}-\d{2}-\d{2}$/.test(filters.to) ? localDayBound(filters.to, true) : filters.to,
    limit: LIMIT,
    offset,
  };

  const [processes, runs] = await Promise.all([api.get('/api/processes'), api.get('/api/runs', query)]);
  if (!ctx.alive()) return undefined;
  const names = new Map((processes.items || []).map((x) => [x.id, x.name || x.id]));

  // ---- filters ----
  const fProcess = select([['', 'All processes'], ...(processes.items || []).map((x) => [x.id, x.name || x.id])], filters.process, { 'data-test': 'filter-process' });
  const fStatus = select([['', 'Any status'], ...STATUSES.map((x) => [x, x.replace(/_/g, ' ')])], filters.status, { 'data-test': 'filter-status' });
  const fFrom = h('input', { type: 'date', value: filters.from, 'data-test': 'filter-from' });
  const fTo = h('input', { type: 'date', value: filters.to, 'data-test': 'filter-to' });
  const apply = h('button', { type: 'submit', 'data-test': 'filter-apply' }, 'Apply');
  const reset = h('button', { type: 'button', class: 'secondary', 'data-test': 'filter-reset' }, 'Reset');
  const form = h('form', { class: 'panel filters', 'aria-label': 'Filter runs' },
    field('Process', fProcess), field('Status', fStatus), field('Started from', fFrom), field('Started until', fTo),
    h('div', { class: 'actions' }, apply, reset));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    ctx.go('/runs', { process: fProcess.value, status: fStatus.value, from: fFrom.value, to: fTo.value });
  });
  reset.addEventListener('click', () => ctx.go('/runs', {}));

  // ---- chart ----
  let items = runs.items || [];
  const chartBox = h('div', { class: 'chart' });
  const unchangedBox = h('input', { type: 'checkbox', checked: showUnchanged, 'data-test': 'chart-unchanged' });
  let drawnWidth = 0;
  const drawChart = () => {
    drawnWidth = chartBox.clientWidth;
    clear(chartBox);
    if (items.length) {
      chartBox.append(runsChart(items, { showUnchanged, width: drawnWidth || 800 }));
      chartBox.scrollLeft = chartBox.scrollWidth; // the newest runs are on the right
    }
    else chartBox.append(h('p', { class: 'empty' }, 'No runs to chart.'));
  };
  unchangedBox.addEventListener('change', () => { showUnchanged = unchangedBox.checked; drawChart(); });
  // Drawn for the box's width once it is on the page, and again when that width changes.
  const resize = new ResizeObserver(() => { if (chartBox.clientWidth !== drawnWidth) drawChart(); });
  resize.observe(chartBox);
  const legend = h('ul', { class: 'legend', 'aria-label': 'Legend' },
    ['created', 'updated', 'unchanged', 'failed'].map((k) => h('li', null, h('span', { class: ['swatch', k], 'aria-hidden': 'true' }), k)),
    h('li', null, h('span', { class: ['swatch', 'mark-warn'], 'aria-hidden': 'true' }), 'line under a run: succeeded with failures or partial'),
    h('li', null, h('span', { class: ['swatch', 'mark-bad'], 'aria-hidden': 'true' }), 'failed or abandoned'));

  // ---- table ----
  const rowEl = (r) => h('tr', { 'data-test': 'run-row', 'data-run-id': r.id, 'data-status': r.status, 'data-process': r.process },
    h('td', null, h('a', { href: `#/runs/${r.id}`, 'data-test': 'run-link' }, String(r.id))),
    h('td', { class: 'run-process', title: r.process }, names.get(r.process) || r.process),
    h('td', null, r.trigger),
    h('td', null, badge(r.status)),
    h('td', { class: 'small nowrap' }, timeEl(r.started)),
    h('td', { class: 'num nowrap' }, r.finished ? fmtDuration(r.duration_ms) : '…'),
    ['read', 'created', 'updated', 'unchanged', 'failed'].map((k) =>
      h('td', { class: ['num', k === 'failed' && r.counts && r.counts.failed ? 'failed-count' : null, (r.counts || {})[k] ? null : 'zero'], 'data-count': k }, fmtNum((r.counts || {})[k] ?? 0))),
    h('td', { class: 'message small' }, r.message || ''));
  const rows = items.map(rowEl);

  let total = runs.total ?? items.length;
  const makePager = () => offsetPager({ total, limit: LIMIT, offset, count: items.length },
    (o) => ctx.go('/runs', { ...filters, offset: o }), 'runs-pager');
  let pager = makePager();
  const runsTitle = h('h2', { 'data-test': 'runs-total' }, `Runs (${fmtNum(total)})`);
  const columns = [
    { label: 'Run' }, { label: 'Process' }, { label: 'Trigger' }, { label: 'Status' }, { label: 'Started' },
    { label: 'Duration', num: true }, { label: 'Read', num: true }, { label: 'Created', num: true },
    { label: 'Updated', num: true }, { label: 'Unchanged', num: true }, { label: 'Failed', num: true }, { label: 'Message' },
  ];
  const runsTable = table(columns, rows, { test: 'runs-table', empty: 'No runs match these filters.' });

  put(ctx.main, 
    h('h1', null, 'Run history'),
    form,
    h('section', { class: 'panel', 'aria-labelledby': 'chart-title' },
      h('div', { class: 'chart-head' },
        h('h2', { id: 'chart-title' }, 'Records per run'),
        h('label', { class: 'inline-check' }, unchangedBox, 'Show unchanged records')),
      chartBox, legend),
    runsTitle,
    runsTable,
    pager);

  // Refreshed in place: only the rows, the chart, the total and the pager change.
  let shown = JSON.stringify(items);
  const refresh = async () => {
    const fresh = await api.get('/api/runs', query);
    if (!ctx.alive()) return;
    const text = JSON.stringify(fresh.items || []);
    if (text === shown && (fresh.total ?? total) === total) return;
    shown = text;
    items = fresh.items || [];
    total = fresh.total ?? items.length;
    const tbody = runsTable.querySelector('tbody');
    clear(tbody);
    if (items.length) tbody.append(...labelCells(columns, items.map(rowEl)));
    else tbody.append(h('tr', null, h('td', { colspan: 12, class: 'empty' }, 'No runs match these filters.')));
    runsTitle.textContent = `Runs (${fmtNum(total)})`;
    const next = makePager();
    pager.replaceWith(next);
    pager = next;
    drawChart();
  };
  const stop = visiblePoller(refresh, () => (items.some((r) => r.status === 'running') ? 2000 : 5000), ctx.alive);
  return () => { stop(); resize.disconnect(); };
}
