// Processes: one row per process, refreshed every second from GET /api/processes so that a
// running run's counters move. Rows are built once and updated in place, so that a button
// keeps its focus across refreshes.

import { api, seg } from '../api.js';
import { attentionPanel } from './attention.js';
import {
  badge, browserZone, clear, countsEl, field, fmtNum, fmtRelative, formDialog, h, liveWords, put, roleAtLeast, select, showError, showInfo, timeEl,
  withButton, zonedTimeEl,
} from '../ui.js';

const POLL_MS = 1000;

export async function render(ctx) {
  const canOperate = roleAtLeast(ctx.user, 'operator');
  const [data, groupData] = await Promise.all([api.get('/api/processes'), api.get('/api/groups')]);
  if (!ctx.alive()) return undefined;

  const rows = new Map(); // id → row controller
  const tbody = h('tbody');
  const summary = h('p', { class: 'subtitle', 'aria-live': 'polite', 'data-test': 'processes-summary' });
  const scheduleDialog = makeScheduleDialog(ctx, (p) => update(p));
  const rewindDialog = makeRewindDialog(ctx, (p) => update(p));
  const fromDialog = makeFromDialog();
  const groupsBox = h('section', { class: 'groups', 'data-test': 'groups', 'aria-label': 'Groups' });
  const groupPanels = new Map(); // id → panel controller

  // "Run all in order": every enabled process once, prerequisites first (POST /api/run-all).
  let runAll = null;
  const runAllState = h('p', { class: 'small', 'aria-live': 'polite', 'data-test': 'run-all-state' });
  if (canOperate) {
    runAll = h('button', { type: 'button', 'data-test': 'run-all' }, 'Run all in order');
    runAll.addEventListener('click', () => withButton(runAll, async () => {
      const r = await api.post('/api/run-all');
      showInfo(r.accepted ? `Running ${r.order.length} processes in order: ${r.order.join(' → ')}.` : r.message);
      await poll();
    }));
  }

  const columns = ['Process', 'Schedule', 'Last run', 'Now', 'Failed', 'Enabled', ...(canOperate ? ['Actions'] : [])];
  put(ctx.main, 
    h('div', { class: 'page-head' }, h('h1', null, 'Processes'), runAll),
    attentionPanel(ctx),
    summary,
    runAllState,
    groupsBox,
    h('div', { class: 'table-scroll' },
      h('table', { class: 'cards-on-phone', 'data-test': 'processes-table' },
        h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col' }, c)))),
        tbody)),
    scheduleDialog.el,
    rewindDialog.el,
    fromDialog.el);

  function showGroups(items) {
    const ids = items.map((g) => g.id).join('\n');
    if (ids !== [...groupPanels.keys()].join('\n')) {
      groupPanels.clear();
      clear(groupsBox);
      for (const g of items) {
        const panel = groupPanel(g, { canOperate, refresh: poll, fromDialog });
        groupPanels.set(g.id, panel);
        groupsBox.append(panel.el);
      }
    } else {
      for (const g of items) groupPanels.get(g.id).update(g);
    }
    groupsBox.hidden = !items.length;
  }
  showGroups(groupData.items || []);

  function update(p) {
    const row = rows.get(p.id);
    if (row) row.update(p);
  }

  function show(items) {
    const ids = items.map((p) => p.id).join('\n');
    if (ids !== [...rows.keys()].join('\n')) {
      rows.clear();
      clear(tbody);
      for (const p of items) {
        const row = processRow(p, { canOperate, ctx, refresh: poll, scheduleDialog, rewindDialog });
        rows.set(p.id, row);
        tbody.append(row.el);
      }
      if (!items.length) {
        tbody.append(h('tr', null, h('td', { colspan: columns.length, class: 'empty' },
          'No processes are configured. Add them to the configuration file and restart plexus serve.')));
      }
    } else {
      for (const p of items) update(p);
    }
    const running = items.filter((p) => p.running).length;
    const enabled = items.filter((p) => p.enabled).length;
    summary.textContent = `${items.length} processes, ${enabled} enabled, ${running} running.`;
  }

  function showRunAll(ra) {
    clear(runAllState);
    if (!ra) { runAllState.hidden = true; return; }
    runAllState.hidden = false;
    const failed = Object.entries(ra.not_succeeded || {});
    if (ra.active) {
      runAllState.append(badge('running'), ` Run all in order (${ra.trigger === 'start' ? 'at start' : 'by hand'}): `
        + `${ra.succeeded.length} of ${ra.order.length} done.`);
    } else {
      runAllState.append(badge(failed.length ? 'partial' : 'succeeded'),
        ` Last run all in order (${ra.trigger === 'start' ? 'at start' : 'by hand'}) finished `, timeEl(ra.finished),
        `: ${ra.succeeded.length} of ${ra.order.length} completed.`);
    }
    for (const [pid, why] of failed) runAllState.append(h('br'), h('span', { class: 'mono' }, pid), `: ${why}`);
    if (runAll && !runAll.hasAttribute('aria-busy')) runAll.disabled = !!ra.active;
  }

  show(data.items || []);
  showRunAll(data.run_all);

  // Poll every second; one request at a time; an error is shown once until it clears.
  let timer = null;
  let stopped = false;
  let failing = false;
  async function poll() {
    clearTimeout(timer);
    try {
      const [fresh, groups] = await Promise.all([api.get('/api/processes'), api.get('/api/groups')]);
      if (stopped) return;
      failing = false;
      show(fresh.items || []);
      showRunAll(fresh.run_all);
      showGroups(groups.items || []);
    } catch (e) {
      if (stopped) return;
      if (!failing) showError(e);
      failing = true;
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }
  timer = setTimeout(poll, POLL_MS);
  return () => { stopped = true; clearTimeout(timer); };
}

// A group's panel: its "Active sync" switch (every process of the group on or off) and the
// action buttons the configuration gives it (POST /api/groups/{id}/actions/{action}).
function groupPanel(g, { canOperate, refresh, fromDialog }) {
  let current = g;
  const title = h('h2', null);
  const desc = h('p', { class: 'small muted' });
  const state = h('p', { class: 'small', 'data-test': 'group-state' });
  const el = h('div', { class: 'group-panel', 'data-test': 'group', 'data-group': g.id }, title, desc, state);
  let toggle = null;
  if (canOperate) {
    toggle = h('button', { type: 'button', role: 'switch', class: 'switch', 'data-test': 'group-active' });
    toggle.addEventListener('click', () => withButton(toggle, async () => {
      const action = current.active ? 'disable' : 'enable';
      await api.post(`/api/groups/${seg(g.id)}/${action}`);
      showInfo(`${current.name}: sync ${action === 'enable' ? 'active' : 'stopped'} for its ${current.processes.length} processes.`);
      await refresh();
    }));
    const buttons = g.actions.map((a) => {
      const b = h('button', { type: 'button', class: 'secondary small', 'data-test': 'group-action', 'data-action': a.id },
        a.from === 'ask' ? `${a.label}…` : a.label);
      b.addEventListener('click', async () => {
        let body = {};
        if (a.from === 'ask') {
          const from = await fromDialog.ask(`${a.label}`, a.from_default, b);
          if (!from) return;
          body = { from };
        }
        await withButton(b, async () => {
          const r = await api.post(`/api/groups/${seg(g.id)}/actions/${seg(a.id)}`, body);
          showInfo(`${a.label}: started ${r.started.join(' → ')}.`);
          await refresh();
        });
      });
      return b;
    });
    el.append(h('div', { class: 'button-row' }, h('label', { class: 'switch-row' }, toggle, h('span', null, 'Active sync')), ...buttons));
  }
  function update(fresh) {
    current = fresh;
    title.textContent = fresh.name;
    desc.textContent = fresh.description || '';
    desc.hidden = !fresh.description;
    const n = fresh.processes.length;
    state.textContent = `${fresh.enabled_count} of ${n} processes enabled`
      + (fresh.running.length ? ` · running: ${fresh.running.join(', ')}` : '');
    if (toggle) {
      toggle.setAttribute('aria-checked', String(!!fresh.active));
      toggle.setAttribute('aria-label', `${fresh.name}: active sync`);
    }
  }
  update(g);
  return { el, update };
}

// Asks for the time an action reads again from; resolves to an ISO time, or null.
function makeFromDialog() {
  const date = h('input', { type: 'date', required: true, 'data-test': 'action-from' });
  const title = h('h2');
  const ok = h('button', { type: 'submit', 'data-test': 'action-from-ok' }, 'Start');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const form = h('form', { method: 'dialog' }, title,
    h('p', { class: 'small muted' }, 'Records changed on or after this day (UTC) are read again. Those already written come out unchanged or updated, never created twice.'),
    field('Read again from', date), h('div', { class: 'button-row' }, ok, cancel));
  const el = h('dialog', { 'data-test': 'action-from-dialog', 'aria-label': 'Read again from' }, form);
  let resolve = null;
  let opener = null;
  const finish = (v) => { if (resolve) { resolve(v); resolve = null; } };
  cancel.addEventListener('click', () => { el.close(); });
  el.addEventListener('close', () => { finish(null); if (opener) opener.focus(); });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!date.value) return;
    finish(date.value);
    el.close();
  });
  return {
    el,
    ask(label, initial, from) {
      opener = from;
      title.textContent = label;
      date.value = initial ? initial.slice(0, 10) : '';
      el.showModal();
      return new Promise((r) => { resolve = r; });
    },
  };
}

function processRow(p, { canOperate, ctx, refresh, scheduleDialog, rewindDialog }) {
  let current = p;
  const id = p.id;
  // data-label: the column's name, shown before the value where rows become cards (phones).
  const cells = {
    name: h('td', { class: 'process-cell', 'data-label': 'Process' }),
    schedule: h('td', { class: 'small schedule-cell', 'data-test': 'schedule', 'data-label': 'Schedule' }),
    last: h('td', { class: 'last-cell', 'data-test': 'last-run', 'data-label': 'Last run' }),
    now: h('td', { class: 'progress-cell', 'data-test': 'progress', 'data-label': 'Now' }),
    failed: h('td', { class: 'num', 'data-test': 'failed-count', 'data-label': 'Failed' }),
    enabled: h('td', { class: 'nowrap', 'data-label': 'Enabled' }),
    actions: canOperate ? h('td', { class: 'actions', 'data-label': 'Actions' }) : null,
  };
  const el = h('tr', { 'data-test': 'process-row', 'data-process': id }, Object.values(cells));

  // Static parts.
  const nameText = h('strong', { 'data-test': 'process-name' });
  const route = h('div', { class: 'small route' });
  cells.name.append(nameText, h('div', { class: 'small' }, h('span', { class: 'mono muted' }, id), ' · ',
    h('a', { href: `#/runs?process=${encodeURIComponent(id)}`, 'data-test': 'history-link' }, 'history'), ' · ',
    h('a', { href: `#/mapping/${encodeURIComponent(id)}`, 'data-test': 'mapping-link' }, 'mapping')), route);
  const scheduleText = h('div');
  const next = h('div', { class: 'next', 'data-test': 'next-run' });
  cells.schedule.append(scheduleText, next);

  let toggle = null;
  const enabledText = h('span', { class: 'switch-label' });
  if (canOperate) {
    toggle = h('button', { type: 'button', role: 'switch', class: 'switch', 'data-test': 'enabled-toggle' });
    toggle.addEventListener('click', () => withButton(toggle, async () => {
      const action = current.enabled ? 'disable' : 'enable';
      const fresh = await api.post(`/api/processes/${seg(id)}/${action}`);
      update(fresh);
      showInfo(`${fresh.name}: ${fresh.enabled ? 'enabled' : 'disabled'}.`);
    }));
    cells.enabled.append(toggle, enabledText);
  } else {
    cells.enabled.append(enabledText);
  }

  let runNow = null;
  if (canOperate) {
    runNow = h('button', { type: 'button', class: 'small', 'data-test': 'run-now' }, 'Run now');
    runNow.addEventListener('click', async () => {
      await withButton(runNow, async () => {
        await api.post(`/api/processes/${seg(id)}/run`);
        showInfo(`${current.name}: run started.`);
        await refresh();
      });
      runNow.disabled = !!current.running; // withButton put back the state from before
    });
    const editSchedule = h('button', { type: 'button', class: 'secondary small', 'data-test': 'edit-schedule' }, 'Schedule…');
    editSchedule.addEventListener('click', () => scheduleDialog.open(current, editSchedule));
    const rewind = h('button', { type: 'button', class: 'secondary small', 'data-test': 'rewind' }, 'Read again…');
    rewind.addEventListener('click', () => rewindDialog.open(current, rewind));
    cells.actions.append(h('div', { class: 'action-stack' }, runNow, editSchedule, rewind));
  }

  // The live part of the "Now" cell, kept so the bar is not rebuilt every second.
  const bar = h('progress');
  const waitText = h('div', { class: 'wait-reason small', 'data-test': 'progress-wait', 'aria-live': 'polite' });
  const counter = h('div', { class: 'counter', 'data-test': 'progress-counter' });
  const runLink = h('a', { class: 'small' });
  const nowBox = h('div', { 'data-test': 'running' }, bar, waitText, counter, runLink);
  const idle = h('span', { class: 'muted small', 'data-test': 'idle' }, 'idle');

  function update(fresh) {
    current = fresh;
    const pr = fresh;
    el.dataset.enabled = String(!!pr.enabled);
    el.dataset.running = String(!!pr.running);
    nameText.textContent = pr.name || pr.id;
    route.textContent = `${pr.source.connection} · ${pr.source.entity} → ${pr.target.connection} · ${pr.target.entity}`;
    if (pr.mode === 'aggregate') route.append(' ', badge('aggregate', 'unchanged'));
    const sch = pr.schedule || {};
    // The server's words ("weekdays at 06:00 (Europe/Zurich)", "every 5 min"); the raw
    // expression in the tooltip for whoever needs it.
    scheduleText.textContent = sch.description === 'manual' || !sch.description
      ? (sch.cron || sch.interval ? scheduleWords(sch) : 'manual only') : sch.description;
    scheduleText.title = sch.cron ? `cron ${sch.cron}` : sch.interval ? `interval ${sch.interval}` : '';

    clear(next);
    // A cron schedule's next run in its own zone (and the browser's beside it when they
    // differ); an interval's in the browser's zone, named.
    if (pr.next_run) next.append('next ', zonedTimeEl(pr.next_run, sch.cron ? (sch.timezone || 'UTC') : browserZone()), ' ', h('span', { class: 'muted' }, `(${fmtRelative(pr.next_run)})`));
    else next.append(h('span', { class: 'muted' }, pr.enabled ? 'no next run' : 'disabled: no next run'));
    if (pr.waiting_for && pr.waiting_for.length) {
      next.append(h('div', { class: 'small warn-text', 'data-test': 'held' },
        `held until ${pr.waiting_for.join(', ')} ${pr.waiting_for.length > 1 ? 'have' : 'has'} completed a first run`));
    }

    clear(cells.last);
    const lr = pr.last_run;
    if (lr) {
      cells.last.dataset.runId = String(lr.id);
      cells.last.dataset.status = lr.status;
      cells.last.append(
        h('a', { href: `#/runs/${lr.id}`, 'data-test': 'last-run-link' }, `run ${lr.id}`), ' ',
        h('span', { 'data-test': 'last-status' }, badge(lr.status)), h('br'),
        countsEl(lr.counts), h('br'),
        h('span', { class: 'small muted' }, lr.finished ? 'finished ' : 'started ', timeEl(lr.finished || lr.started)));
    } else {
      delete cells.last.dataset.runId;
      delete cells.last.dataset.status;
      cells.last.append(h('span', { class: 'muted' }, 'never run'));
    }

    if (pr.running) {
      const c = pr.running.counts || {};
      const done = (c.created || 0) + (c.updated || 0) + (c.unchanged || 0) + (c.failed || 0);
      // The source's total is not known before the end, so the bar only says "busy"
      // (indeterminate); the counter says how far it is.
      bar.setAttribute('aria-label', `${pr.name || pr.id} is running: ${done} of ${c.read || 0} records read so far are done`);
      // Why it waits (a rate limit, a retry, another run), then how far it is.
      const words = liveWords(pr.running);
      waitText.textContent = words.wait;
      waitText.hidden = !words.wait;
      waitText.dataset.kind = pr.running.waiting ? pr.running.waiting.kind : '';
      counter.textContent = `${words.line}`
        + ` · ${fmtNum(c.created || 0)} created · ${fmtNum(c.updated || 0)} updated · ${fmtNum(c.failed || 0)} failed`;
      // run_id is 0 (and started null) until the run has its row in the store.
      if (pr.running.run_id > 0) {
        runLink.href = `#/runs/${pr.running.run_id}`;
        runLink.textContent = `run ${pr.running.run_id}${pr.running.started ? `, started ${fmtRelative(pr.running.started)}` : ''}`;
      } else {
        runLink.removeAttribute('href');
        runLink.textContent = 'starting…';
      }
      if (!nowBox.isConnected) { clear(cells.now); cells.now.append(nowBox); }
    } else {
      idle.textContent = pr.run_all ? `run all: ${pr.run_all}` : 'idle';
      if (!idle.isConnected) { clear(cells.now); cells.now.append(idle); }
    }

    clear(cells.failed);
    if (pr.failed_count > 0) {
      cells.failed.append(h('a', { href: `#/failed/${encodeURIComponent(pr.id)}`, 'data-test': 'failed-link' }, fmtNum(pr.failed_count)));
    } else {
      cells.failed.append(h('span', { class: 'muted' }, '0'));
    }

    enabledText.textContent = pr.enabled ? 'on' : 'off';
    if (toggle) {
      toggle.setAttribute('aria-checked', String(!!pr.enabled));
      toggle.setAttribute('aria-label', `${pr.name || pr.id} enabled`);
    }
    if (runNow) {
      // Disabled while a run is going (the server answers 409 then); withButton restores
      // the state it found, so only touch it when no request is in flight.
      if (!runNow.hasAttribute('aria-busy')) runNow.disabled = !!pr.running;
      runNow.setAttribute('aria-label', `Run ${pr.name || pr.id} now`);
    }
  }

  update(p);
  return { el, update };
}

// A schedule in words, from what the picker or the API holds: {cron, interval, timezone}.
// The server says the same for what it stores (schedule.description); this one also reads
// the picker while it is being filled in.
const DAY_NAMES = ['Sundays', 'Mondays', 'Tuesdays', 'Wednesdays', 'Thursdays', 'Fridays', 'Saturdays'];
export function scheduleWords(sch) {
  const zone = sch.timezone || 'UTC';
  if (sch.interval) {
    const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(sch.interval.trim());
    if (!m) return `every ${sch.interval}`;
    let secs = (+(m[1] || 0)) * 86400 + (+(m[2] || 0)) * 3600 + (+(m[3] || 0)) * 60 + (+(m[4] || 0));
    if (secs && secs % 86400 === 0) return secs === 86400 ? 'every day' : `every ${secs / 86400} days`;
    const parts = [];
    if (secs >= 3600) { parts.push(`${Math.floor(secs / 3600)} h`); secs %= 3600; }
    if (secs >= 60) { parts.push(`${Math.floor(secs / 60)} min`); secs %= 60; }
    if (secs) parts.push(`${secs} s`);
    return `every ${parts.join(' ')}`;
  }
  if (sch.cron) {
    const f = sch.cron.trim().split(/\s+/);
    const two = (n) => String(n).padStart(2, '0');
    if (f.length === 5 && /^\d+$/.test(f[0]) && /^\d+$/.test(f[1]) && f[2] === '*' && f[3] === '*') {
      const at = `${two(f[1])}:${two(f[0])}`;
      if (f[4] === '*') return `every day at ${at} (${zone})`;
      if (f[4] === '1-5') return `weekdays at ${at} (${zone})`;
      if (/^[0-6]$/.test(f[4])) return `${DAY_NAMES[+f[4]]} at ${at} (${zone})`;
    }
    return `cron ${sch.cron} (${zone})`;
  }
  return 'manual only';
}

// The picker's reading of a stored schedule: {mode, n, at, cron}.
function pickerState(sch) {
  const two = (n) => String(n).padStart(2, '0');
  if (sch.interval) {
    const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(sch.interval.trim());
    if (m) {
      const secs = (+(m[1] || 0)) * 3600 + (+(m[2] || 0)) * 60 + (+(m[3] || 0));
      if (secs && secs % 3600 === 0) return { mode: 'hours', n: secs / 3600 };
      if (secs && secs % 60 === 0) return { mode: 'minutes', n: secs / 60 };
    }
    return { mode: 'advanced', cron: '', interval: sch.interval };
  }
  if (sch.cron) {
    const f = sch.cron.trim().split(/\s+/);
    if (f.length === 5 && /^\d+$/.test(f[0]) && /^\d+$/.test(f[1]) && f[2] === '*' && f[3] === '*') {
      const at = `${two(f[1])}:${two(f[0])}`;
      if (f[4] === '*') return { mode: 'daily', at };
      if (f[4] === '1-5') return { mode: 'weekdays', at };
    }
    return { mode: 'advanced', cron: sch.cron };
  }
  return { mode: 'manual' };
}

// Edit a schedule with a picker: every N minutes or hours, daily at, weekdays at, or an
// advanced cron expression, in a time zone; writes PUT /api/processes/{id}/schedule with
// {interval} | {cron, timezone} | {}.
function makeScheduleDialog(ctx, onSaved) {
  const mode = select([
    ['minutes', 'Every N minutes'], ['hours', 'Every N hours'], ['daily', 'Every day at'],
    ['weekdays', 'Weekdays (Mon–Fri) at'], ['advanced', 'Advanced: cron expression'], ['manual', 'Only when started by hand'],
  ], 'minutes', { 'data-test': 'schedule-mode' });
  const n = h('input', { type: 'number', min: 1, step: 1, value: 15, inputmode: 'numeric', 'data-test': 'schedule-n' });
  const at = h('input', { type: 'time', value: '06:00', 'data-test': 'schedule-at' });
  const cron = h('input', { type: 'text', placeholder: '*/15 * * * *', 'data-test': 'schedule-cron', class: 'mono', spellcheck: 'false' });
  const zoneList = h('datalist', { id: 'zone-list' });
  try {
    for (const z of Intl.supportedValuesOf('timeZone')) zoneList.append(h('option', { value: z }));
  } catch { /* older browsers: type the zone */ }
  const tz = h('input', { type: 'text', list: 'zone-list', placeholder: 'Europe/Zurich', 'data-test': 'schedule-timezone', autocomplete: 'off', spellcheck: 'false' });
  const nField = field('How often', n);
  const atField = field('At (in the time zone below)', at);
  const cronField = field('Cron expression (minute hour day month weekday)', cron, 'For example 0 6 * * 1-5: weekdays at 06:00. In the time zone below.');
  const tzField = field('Time zone', tz, `The clock the times above are read on. Your browser's: ${browserZone()}.`);
  const preview = h('p', { class: 'schedule-preview', 'aria-live': 'polite', 'data-test': 'schedule-preview' });
  const error = h('p', { class: 'inline-error', role: 'alert', hidden: true, 'data-test': 'schedule-error' });
  const title = h('h2');
  const save = h('button', { type: 'submit', 'data-test': 'schedule-save' }, 'Save');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const form = h('form', { method: 'dialog' }, title, field('Runs', mode), nField, atField, cronField, tzField, zoneList, preview, error,
    h('div', { class: 'button-row' }, save, cancel));
  const el = h('dialog', { 'data-test': 'schedule-dialog', 'aria-label': 'Edit schedule' }, form);
  let process = null;
  let keptInterval = '';

  // What the picker says, as the API takes it.
  function body() {
    const m = mode.value;
    const zone = tz.value.trim() || 'UTC';
    const [hh, mm] = (at.value || '00:00').split(':').map(Number);
    if (m === 'minutes') return { interval: `${Math.max(1, Math.floor(+n.value || 0))}m` };
    if (m === 'hours') return { interval: `${Math.max(1, Math.floor(+n.value || 0))}h` };
    if (m === 'daily') return { cron: `${mm} ${hh} * * *`, timezone: zone };
    if (m === 'weekdays') return { cron: `${mm} ${hh} * * 1-5`, timezone: zone };
    if (m === 'advanced') return keptInterval && !cron.value.trim() ? { interval: keptInterval } : { cron: cron.value.trim(), timezone: zone };
    return {};
  }
  const sync = () => {
    const m = mode.value;
    nField.hidden = m !== 'minutes' && m !== 'hours';
    n.setAttribute('aria-label', m === 'hours' ? 'Every how many hours' : 'Every how many minutes');
    nField.querySelector('label').textContent = m === 'hours' ? 'Every how many hours' : 'Every how many minutes';
    atField.hidden = m !== 'daily' && m !== 'weekdays';
    cronField.hidden = m !== 'advanced';
    tzField.hidden = !(m === 'daily' || m === 'weekdays' || m === 'advanced');
    preview.textContent = `Runs ${scheduleWords(body())}.`;
  };
  for (const c of [mode, n, at, cron, tz]) c.addEventListener('input', sync);
  mode.addEventListener('change', sync);
  const dialog = formDialog({ el, form, error, save, cancel }, async () => {
    const fresh = await api.put(`/api/processes/${seg(process.id)}/schedule`, body());
    onSaved(fresh);
    el.close();
    showInfo(`${fresh.name}: runs ${fresh.schedule && fresh.schedule.description && fresh.schedule.description !== 'manual' ? fresh.schedule.description : 'only when started by hand'}.`);
  });

  return {
    el,
    open(p, from) {
      process = p;
      const sch = p.schedule || {};
      const st = pickerState(sch);
      title.textContent = `Schedule of ${p.name || p.id}`;
      mode.value = st.mode;
      n.value = String(st.n || 15);
      at.value = st.at || '06:00';
      cron.value = st.cron || '';
      keptInterval = st.interval || '';
      tz.value = sch.timezone || browserZone();
      sync();
      dialog.open(from);
    },
  };
}

// Read again from a time: POST /api/processes/{id}/rewind {"to": ISO time}.
function makeRewindDialog(ctx, onDone) {
  const to = h('input', { type: 'datetime-local', required: true, step: 1, 'data-test': 'rewind-to' });
  const error = h('p', { class: 'inline-error', role: 'alert', hidden: true });
  const title = h('h2');
  const save = h('button', { type: 'submit', 'data-test': 'rewind-save' }, 'Rewind');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const form = h('form', { method: 'dialog' }, title,
    h('p', { class: 'small muted' }, 'The next run reads again every source record changed at or after this time (your local time). Records already written come out unchanged or updated, never created twice.'),
    field('Read again from', to), error, h('div', { class: 'button-row' }, save, cancel));
  const el = h('dialog', { 'data-test': 'rewind-dialog', 'aria-label': 'Read again from' }, form);
  let process = null;
  const dialog = formDialog({ el, form, error, save, cancel }, async () => {
    const d = new Date(to.value);
    if (!to.value || Number.isNaN(d.getTime())) throw new Error('Give a date and time.');
    const iso = d.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const fresh = await api.post(`/api/processes/${seg(process.id)}/rewind`, { to: iso });
    if (fresh && fresh.id) onDone(fresh);
    el.close();
    showInfo(`${process.name}: the next run reads again from ${iso}.`);
  });
  return {
    el,
    open(p, from) {
      process = p;
      title.textContent = `Rewind ${p.name || p.id}`;
      dialog.open(from);
    },
  };
}
