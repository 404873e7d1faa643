// One run: its counts, and its record outcomes filtered by action, error class and text,
// paged by key (GET /api/runs/{id}/outcomes … after=next_after). Export links pass the same
// filters to GET /api/export.

import { api, apiPath, seg } from '../api.js';
import {
  badge, clear, put, field, fmtDuration, fmtNum, h, liveWords, roleAtLeast, select, showInfo, table,
  timeEl, withButton,
} from '../ui.js';
import { attemptSent } from './failed.js';

const LIMIT = 100;
const ACTIONS = ['created', 'updated', 'unchanged', 'failed'];
const ERROR_CLASSES = ['auth', 'rate_limit', 'validation', 'conflict', 'transient', 'plugin', 'mapping', 'dependency'];

// Keys of the pages before the current one, so that "Previous" can go back; keyed by the
// run and its filters, forgotten when they change.
let pageTrail = { key: '', afters: [] };

// One page of outcomes. A filtered request searches a bounded window of outcome ids and may
// come back short (docs/api.md, "Runs"): keep asking until the page is full, the run ends,
// or MAX_WINDOWS requests have searched (then "Next" goes on from where the search stopped).
const MAX_WINDOWS = 40;
async function fetchOutcomes(id, filters, after) {
  const items = [];
  let next = after;
  for (let i = 0; i < MAX_WINDOWS; i++) {
    const page = await api.get(`/api/runs/${id}/outcomes`, { ...filters, limit: LIMIT - items.length, after: next });
    items.push(...(page.items || []));
    next = page.next_after;
    if (next === null || next === undefined || items.length >= LIMIT) break;
  }
  return { items, next_after: next ?? null };
}

export async function render(ctx) {
  const id = Number(ctx.match[1]);
  const p = ctx.params;
  const filters = { action: p.get('action') || '', error_class: p.get('error_class') || '', text: p.get('text') || '' };
  const after = p.get('after') || '';
  const trailKey = JSON.stringify([id, filters]);
  if (pageTrail.key !== trailKey) pageTrail = { key: trailKey, afters: [] };
  if (!after) pageTrail.afters = [];

  const run = await api.get(`/api/runs/${id}`);
  const [outcomes, process] = await Promise.all([
    fetchOutcomes(id, filters, after),
    api.get(`/api/processes/${seg(run.process)}`).catch(() => null),
  ]);
  if (!ctx.alive()) return undefined;
  const canOperate = roleAtLeast(ctx.user, 'operator');
  ctx.setTitle(`Run ${id}`);

  // ---- summary ----
  const statusBox = h('span', { 'data-test': 'run-status' });
  const tiles = h('dl', { class: 'tiles', 'data-test': 'run-counts' });
  const facts = h('dl', { class: 'kv' });
  // While it runs: why it waits, pages done, records per second.
  const liveBox = h('div', { class: 'panel live-run', 'data-test': 'run-live', 'aria-live': 'polite', hidden: true });
  function showRun(r) {
    const words = liveWords(r.live);
    liveBox.hidden = !r.live;
    put(clear(liveBox),
      words.wait ? h('p', { class: 'wait-reason', 'data-test': 'run-wait' }, words.wait) : null,
      h('p', { class: 'small', 'data-test': 'run-live-line' }, words.line));
    clear(statusBox).append(badge(r.status));
    statusBox.dataset.status = r.status;
    clear(tiles);
    for (const k of ['read', 'created', 'updated', 'unchanged', 'failed']) {
      tiles.append(h('div', { class: ['tile', k], 'data-count': k }, h('dt', null, k), h('dd', null, fmtNum((r.counts || {})[k] ?? 0))));
    }
    put(clear(facts),
      h('dt', null, 'Process'), h('dd', null, h('a', { href: `#/runs?process=${encodeURIComponent(r.process)}` }, process ? process.name : r.process), ' ', h('span', { class: 'mono muted small' }, r.process)),
      h('dt', null, 'Trigger'), h('dd', null, r.trigger),
      h('dt', null, 'Started'), h('dd', null, timeEl(r.started)),
      h('dt', null, 'Finished'), h('dd', null, r.finished ? timeEl(r.finished) : 'still running'),
      h('dt', null, 'Duration'), h('dd', null, r.finished ? fmtDuration(r.duration_ms) : '…'),
      r.message ? [h('dt', null, 'Message'), h('dd', { 'data-test': 'run-message' }, r.message)] : null);
  }
  showRun(run);

  // ---- filters ----
  const fAction = select([['', 'Any action'], ...ACTIONS.map((a) => [a, a])], filters.action, { 'data-test': 'filter-action' });
  const fClass = select([['', 'Any error class'], ...ERROR_CLASSES.map((a) => [a, a])], filters.error_class, { 'data-test': 'filter-error-class' });
  const fText = h('input', { type: 'search', value: filters.text, placeholder: 'source key or message', 'data-test': 'filter-text' });
  const apply = h('button', { type: 'submit', 'data-test': 'filter-apply' }, 'Apply');
  const reset = h('button', { type: 'button', class: 'secondary', 'data-test': 'filter-reset' }, 'Reset');
  const form = h('form', { class: 'panel filters', 'aria-label': 'Filter record outcomes' },
    field('Action', fAction), field('Error class', fClass), field('Text', fText), h('div', { class: 'actions' }, apply, reset));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    ctx.go(`/runs/${id}`, { action: fAction.value, error_class: fClass.value, text: fText.value.trim() });
  });
  reset.addEventListener('click', () => ctx.go(`/runs/${id}`, {}));

  // ---- export ----
  const exportParams = { run: id, ...filters };
  const exportRow = h('div', { class: 'button-row', 'aria-label': 'Export' },
    h('span', { class: 'muted small' }, 'Export these outcomes (all pages):'),
    h('a', { class: 'button secondary small', href: apiPath('/api/export', { format: 'xlsx', ...exportParams }), download: '', 'data-test': 'export-xlsx' }, 'Excel (.xlsx)'),
    h('a', { class: 'button secondary small', href: apiPath('/api/export', { format: 'csv', ...exportParams }), download: '', 'data-test': 'export-csv' }, 'CSV (.csv)'),
    process && process.failed_count > 0
      ? h('a', { href: `#/failed/${encodeURIComponent(run.process)}`, class: 'small', 'data-test': 'failed-records-link' }, `${fmtNum(process.failed_count)} failed records of this process waiting for replay`)
      : null);

  // ---- outcomes ----
  const items = outcomes.items || [];
  const rows = items.map((o) => {
    let replay = null;
    if (canOperate && o.action === 'failed') {
      replay = h('button', { type: 'button', class: 'secondary small', 'data-test': 'replay-outcome' }, 'Replay');
      replay.setAttribute('aria-label', `Replay record ${o.source_key}`);
      replay.addEventListener('click', () => withButton(replay, async () => {
        const r = await api.post(`/api/processes/${seg(o.process || run.process)}/replay`, { source_keys: [o.source_key] });
        showInfo(`Replay of record ${o.source_key} started (${r && r.records !== undefined ? r.records : 1} record). Its outcome appears in a new run with trigger "replay".`);
      }));
    }
    return h('tr', { 'data-test': 'outcome-row', 'data-outcome-id': o.id, 'data-action': o.action, 'data-source-key': o.source_key },
      h('td', { class: 'mono' }, o.source_key,
        o.process && o.process !== run.process
          ? h('span', { class: 'outcome-process', 'data-test': 'outcome-process' }, `for process ${o.process}`) : null),
      h('td', { class: 'mono' }, o.target_key || ''),
      h('td', null, badge(o.action)),
      h('td', null, o.error_class || ''),
      h('td', { class: 'message small' }, o.message || '', o.action === 'failed' ? attemptSent(o.id) : null),
      h('td', { class: 'num' }, fmtNum(o.attempts)),
      h('td', { class: 'small nowrap' }, timeEl(o.finished || o.started)),
      canOperate ? h('td', { class: 'actions' }, replay) : null);
  });

  const nextAfter = outcomes.next_after;
  const first = h('button', { type: 'button', class: 'secondary small', disabled: !after, 'data-test': 'first-page' }, '⇤ First');
  const prev = h('button', { type: 'button', class: 'secondary small', disabled: !after, 'data-test': 'prev-page' }, '← Previous');
  const next = h('button', { type: 'button', class: 'secondary small', disabled: nextAfter === null || nextAfter === undefined, 'data-test': 'next-page' }, 'Next →');
  first.addEventListener('click', () => { pageTrail.afters = []; ctx.go(`/runs/${id}`, filters); });
  prev.addEventListener('click', () => {
    const back = pageTrail.afters.pop();
    ctx.go(`/runs/${id}`, { ...filters, after: back || '' });
  });
  next.addEventListener('click', () => {
    pageTrail.afters.push(after);
    ctx.go(`/runs/${id}`, { ...filters, after: nextAfter });
  });
  // The trail holds the `after` of every page before this one ('' for the first); a page
  // opened from a link has none, and its number is not known.
  const pageText = !after ? 'page 1' : pageTrail.afters.length ? `page ${pageTrail.afters.length + 1}` : 'a later page';
  const pager = h('div', { class: 'pager', 'data-test': 'outcomes-pager' },
    h('span', { class: 'position', 'data-test': 'outcomes-position' }, `${pageText} · ${fmtNum(items.length)} outcomes shown, ${LIMIT} per page`),
    first, prev, next);

  const filtered = filters.action || filters.error_class || filters.text;
  put(ctx.main, 
    h('h1', null, `Run ${id} `, statusBox),
    liveBox,
    facts,
    tiles,
    h('h2', null, 'Record outcomes'),
    form,
    exportRow,
    table([
      { label: 'Source key' }, { label: 'Target key' }, { label: 'Action' }, { label: 'Error class' },
      { label: 'Message' }, { label: 'Attempts', num: true }, { label: 'Finished' }, ...(canOperate ? [{ srLabel: 'Actions' }] : []),
    ], rows, { test: 'outcomes-table', empty: filtered ? 'No outcomes match these filters.' : 'This run has no record outcomes.' }),
    pager);

  // While the run is going, refresh its counts every second; reload once it has finished.
  if (run.status === 'running') {
    let stopped = false;
    let timer = null;
    const poll = async () => {
      try {
        const r = await api.get(`/api/runs/${id}`);
        if (stopped) return;
        showRun(r);
        if (r.status !== 'running') {
          ctx.go(`/runs/${id}`, { ...filters, after });
          return;
        }
      } catch { /* shown on the next navigation; keep polling */ }
      if (!stopped) timer = setTimeout(poll, 1000);
    };
    timer = setTimeout(poll, 1000);
    return () => { stopped = true; clearTimeout(timer); };
  }
  return undefined;
}
