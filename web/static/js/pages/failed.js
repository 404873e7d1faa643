// Failed records of one process (its failed queue, GET /api/processes/{id}/failed), with
// replay of the selected records or of all (POST /api/processes/{id}/replay). After a replay
// the page follows the process until the replay run has finished, then reloads the queue.
// Each record's attempts show what was sent to the target and what it answered
// (GET /api/outcomes/{id}). Dismissed records (?state=dismissed) are kept, listed apart and
// can be restored (POST /api/processes/{id}/restore).

import { api, seg } from '../api.js';
import {
  badge, clear, field, fmtNum, h, offsetPager, put, roleAtLeast, select, showError, table, timeEl,
} from '../ui.js';


const LIMIT = 50;

export async function render(ctx) {
  const processes = (await api.get('/api/processes')).items || [];
  if (!ctx.alive()) return undefined;
  const wanted = ctx.match[1] ? decodeURIComponent(ctx.match[1]) : '';
  const chosen = processes.find((x) => x.id === wanted)
    || (!wanted && (processes.find((x) => x.failed_count > 0) || processes[0]));

  const picker = select(processes.map((x) => [x.id, `${x.name || x.id} (${fmtNum(x.failed_count || 0)} failed)`]),
    chosen ? chosen.id : '', { 'data-test': 'failed-process' });
  picker.addEventListener('change', () => ctx.go(`/failed/${encodeURIComponent(picker.value)}`));

  put(ctx.main, h('h1', null, 'Failed records'),
    h('div', { class: 'panel filters' }, field('Process', picker)));

  if (!chosen) {
    put(ctx.main, h('p', { class: 'empty' }, wanted ? `There is no process "${wanted}".` : 'No processes are configured.'));
    return undefined;
  }
  ctx.setTitle(`Failed records of ${chosen.name || chosen.id}`);

  const offset = Math.max(0, Number(ctx.params.get('offset')) || 0);
  const dismissedView = ctx.params.get('state') === 'dismissed';
  const page = await api.get(`/api/processes/${seg(chosen.id)}/failed`,
    { limit: LIMIT, offset, ...(dismissedView ? { state: 'dismissed' } : {}) });
  if (!ctx.alive()) return undefined;
  const views = viewSwitch(chosen.id, dismissedView, dismissedView ? (chosen.failed_count || 0) : page.total, page.dismissed_total || 0);
  if (dismissedView) return renderDismissed(ctx, chosen, page, offset, views);
  const items = page.items || [];
  const total = page.total ?? items.length;
  const canOperate = roleAtLeast(ctx.user, 'operator');

  // ---- selection and replay ----
  let following = false; // a replay was started and the page waits for its run
  const status = h('p', { class: 'muted', 'aria-live': 'polite', 'data-test': 'replay-status' });
  const replaySelected = h('button', { type: 'button', disabled: true, 'data-test': 'replay-selected' }, 'Replay selected');
  const replayAll = h('button', { type: 'button', class: 'secondary', disabled: total === 0, 'data-test': 'replay-all' },
    `Replay all ${fmtNum(total)}`);
  const dismissSelected = h('button', { type: 'button', class: 'secondary', disabled: true, 'data-test': 'dismiss-selected' }, 'Dismiss selected…');
  const confirmDialog = makeConfirmDialog();
  const dismissDialog = makeDismissDialog();

  const refreshSelection = () => {
    replaySelected.disabled = selected.size === 0 || following;
    replaySelected.textContent = selected.size ? `Replay ${fmtNum(selected.size)} selected` : 'Replay selected';
    dismissSelected.disabled = selected.size === 0 || following;
    dismissSelected.textContent = selected.size ? `Dismiss ${fmtNum(selected.size)} selected…` : 'Dismiss selected…';
  };
  const picks = recordSelection(items, { box: 'select-record', all: 'select-all' }, refreshSelection);
  const { selected } = picks;

  let stopped = false;
  let timer = null;
  // Waits until the process has no run going and its last run is not the one before, then
  // reloads the page (the queue has changed).
  const follow = (beforeRunId) => {
    following = true;
    refreshSelection();
    replayAll.disabled = true;
    const started = Date.now();
    const tick = async () => {
      if (stopped) return;
      try {
        const pr = await api.get(`/api/processes/${seg(chosen.id)}`);
        if (stopped) return;
        const last = pr.last_run;
        if (pr.running) {
          status.textContent = `Replay running (run ${pr.running.run_id}): ${fmtNum(pr.running.counts.read)} read, ${fmtNum(pr.running.counts.failed)} failed…`;
        } else if (last && last.id !== beforeRunId) {
          ctx.go(`/failed/${encodeURIComponent(chosen.id)}`, { offset: offset || '' },
            `Replay finished (run ${last.id}, ${last.status}): ${fmtNum(last.counts.created + last.counts.updated)} written, ${fmtNum(last.counts.unchanged)} unchanged, ${fmtNum(last.counts.failed)} failed again.`);
          return;
        } else if (Date.now() - started > 60000) {
          status.textContent = 'The replay has not finished within a minute; reload the page to see the queue.';
          following = false;
          refreshSelection();
          return;
        }
      } catch (e) {
        showError(e);
      }
      timer = setTimeout(tick, 1000);
    };
    timer = setTimeout(tick, 300);
  };

  const replay = async (button, body, what) => {
    button.disabled = true;
    try {
      const before = (await api.get(`/api/processes/${seg(chosen.id)}`)).last_run;
      const r = await api.post(`/api/processes/${seg(chosen.id)}/replay`, body);
      status.textContent = `Replay of ${fmtNum(r && r.records !== undefined ? r.records : what)} records started…`;
      follow(before ? before.id : null);
    } catch (e) {
      showError(e);
      button.disabled = false;
    }
  };
  replaySelected.addEventListener('click', () => replay(replaySelected, { source_keys: [...selected] }, selected.size));
  replayAll.addEventListener('click', async () => {
    const yes = await confirmDialog.ask(`Replay all ${fmtNum(total)} failed records of ${chosen.name || chosen.id}?`,
      'Each runs again from its stored source record; those that succeed leave the queue, the others stay with their new reason.',
      `Replay ${fmtNum(total)}`, replayAll);
    if (yes) replay(replayAll, {}, total);
  });
  dismissSelected.addEventListener('click', async () => {
    const keys = [...selected];
    const reason = await dismissDialog.ask(keys.length, chosen.name || chosen.id, dismissSelected);
    if (!reason) return;
    dismissSelected.disabled = true;
    try {
      const r = await api.post(`/api/processes/${seg(chosen.id)}/dismiss`, { source_keys: keys, reason });
      ctx.go(`/failed/${encodeURIComponent(chosen.id)}`, { offset: offset || '' },
        `${fmtNum(r.dismissed)} records dismissed with your reason. They are listed under "Dismissed", where they can be restored.`);
    } catch (e) {
      showError(e);
      refreshSelection();
    }
  });

  // ---- table ----
  const rows = items.map((f) => h('tr', { 'data-test': 'failed-row', 'data-source-key': f.source_key },
      canOperate ? h('td', null, picks.box(f.source_key)) : null,
      h('td', { class: 'mono' }, f.source_key),
      h('td', null, f.error_class ? badge(f.error_class, 'failed') : ''),
      h('td', { class: 'message small' }, f.message || ''),
      h('td', { class: 'num', 'data-test': 'attempts' }, fmtNum(f.attempts)),
      h('td', { class: 'small nowrap' }, timeEl(f.first_failed)),
      h('td', { class: 'small nowrap' }, timeEl(f.last_failed)),
      h('td', null, f.record !== undefined && f.record !== null
        ? h('details', null, h('summary', null, 'record'), h('pre', { class: 'record' }, JSON.stringify(f.record.data !== undefined ? f.record.data : f.record, null, 2)))
        : '', attemptsDetails(chosen.id, f.source_key))));

  const headCheck = canOperate ? [{ label: '' }] : [];
  const t = table([...headCheck, { label: 'Source key' }, { label: 'Error class' }, { label: 'Message' },
    { label: 'Attempts', num: true }, { label: 'First failed' }, { label: 'Last failed' }, { label: 'Record' }],
  rows, { test: 'failed-table', empty: `${chosen.name || chosen.id} has no failed records.` });
  if (canOperate) t.querySelector('thead th').append(picks.all);

  // ---- reconciliation: the ledger compared with the target (GET/POST …/reconcile) ----
  const recon = reconcilePanel(chosen, canOperate, () => ctx.alive());

  const exportHref = (format) => `/api/export?${new URLSearchParams({ format, process: chosen.id, action: 'failed' })}`;
  const exports = h('p', { class: 'small' }, 'Export every failed attempt of this process: ',
    h('a', { href: exportHref('xlsx'), 'data-test': 'failed-export-xlsx', download: '' }, 'Excel'), ' · ',
    h('a', { href: exportHref('csv'), 'data-test': 'failed-export-csv', download: '' }, 'CSV'));

  // The queue changes while runs go on: reload when nothing is selected, else say so.
  const changed = h('p', { class: 'small warn-text', hidden: true, 'aria-live': 'polite', 'data-test': 'failed-changed' });
  const watch = async () => {
    if (stopped) return;
    try {
      const pr = await api.get(`/api/processes/${seg(chosen.id)}`);
      if (stopped) return;
      if (!following && pr.failed_count !== total) {
        if (selected.size === 0 && !document.querySelector('dialog[open]')) {
          ctx.go(`/failed/${encodeURIComponent(chosen.id)}`, { offset: offset || '' });
          return;
        }
        changed.hidden = false;
        changed.textContent = `The queue has changed: ${fmtNum(pr.failed_count)} records wait now. Reload the page to see them.`;
      }
    } catch { /* shown by the next action */ }
    watchTimer = setTimeout(watch, 5000);
  };
  let watchTimer = setTimeout(watch, 5000);

  put(ctx.main, views,
    h('p', { class: 'subtitle' }, `${fmtNum(total)} records of ${chosen.name || chosen.id} failed and wait for a replay. A replay runs them again from the stored source record; the ones that succeed leave the queue. Dismiss takes a record out without syncing it (with a reason); dismissed records are kept under "Dismissed" and can be restored.`),
    canOperate ? h('div', { class: 'button-row' }, replaySelected, replayAll, dismissSelected) : null,
    status,
    changed,
    exports,
    t,
    offsetPager({ total, limit: LIMIT, offset, count: items.length },
      (o) => ctx.go(`/failed/${encodeURIComponent(chosen.id)}`, { offset: o }), 'failed-pager'),
    recon.el,
    confirmDialog.el,
    dismissDialog.el);
  return () => { stopped = true; clearTimeout(timer); clearTimeout(watchTimer); recon.stop(); };
}

// The checkboxes of a page of records and the table head's "select all". `selected` holds
// the chosen source keys; box(key) makes a row's checkbox; onChange runs after every change.
// `test` names the data-test of the row boxes (box) and of the head's box (all).
function recordSelection(items, test, onChange) {
  const selected = new Set();
  const boxes = [];
  const all = h('input', { type: 'checkbox', 'aria-label': 'Select every record on this page', 'data-test': test.all, disabled: !items.length });
  const changed = () => {
    all.checked = items.length > 0 && selected.size === items.length;
    all.indeterminate = selected.size > 0 && selected.size < items.length;
    onChange();
  };
  all.addEventListener('change', () => {
    for (const b of boxes) {
      b.checked = all.checked;
      if (b.checked) selected.add(b.value); else selected.delete(b.value);
    }
    changed();
  });
  const box = (key) => {
    const b = h('input', { type: 'checkbox', value: key, 'aria-label': `Select record ${key}`, 'data-test': test.box });
    b.addEventListener('change', () => {
      if (b.checked) selected.add(key); else selected.delete(key);
      changed();
    });
    boxes.push(b);
    return b;
  };
  return { selected, all, box };
}

// "Waiting (N)" and "Dismissed (M)": the two lists of the page.
function viewSwitch(processId, dismissedView, waiting, dismissed) {
  const link = (label, state, current, test) => h('a', {
    href: `#/failed/${encodeURIComponent(processId)}${state ? `?state=${state}` : ''}`,
    class: `button small ${current ? '' : 'secondary'}`,
    'aria-current': current ? 'page' : null,
    'data-test': test,
  }, label);
  return h('nav', { class: 'button-row failed-views', 'aria-label': 'Failed records lists' },
    link(`Waiting (${fmtNum(waiting)})`, '', !dismissedView, 'failed-view-waiting'),
    link(`Dismissed (${fmtNum(dismissed)})`, 'dismissed', dismissedView, 'failed-view-dismissed'));
}

// The dismissed records: who took each out, when and why, and "Restore selected".
function renderDismissed(ctx, chosen, page, offset, views) {
  const items = page.items || [];
  const total = page.total ?? items.length;
  const canOperate = roleAtLeast(ctx.user, 'operator');
  const restore = h('button', { type: 'button', disabled: true, 'data-test': 'restore-selected' }, 'Restore selected');
  const refresh = () => {
    restore.disabled = selected.size === 0;
    restore.textContent = selected.size ? `Restore ${fmtNum(selected.size)} selected` : 'Restore selected';
  };
  const picks = recordSelection(items, { box: 'select-dismissed', all: 'select-all-dismissed' }, refresh);
  const { selected } = picks;
  restore.addEventListener('click', async () => {
    restore.disabled = true;
    try {
      const r = await api.post(`/api/processes/${seg(chosen.id)}/restore`, { source_keys: [...selected] });
      ctx.go(`/failed/${encodeURIComponent(chosen.id)}`, { state: 'dismissed', offset: offset || '' },
        `${fmtNum(r.restored)} records restored: they wait in the failed queue again and can be replayed.`);
    } catch (e) {
      showError(e);
      refresh();
    }
  });
  const rows = items.map((f) => h('tr', { 'data-test': 'dismissed-row', 'data-source-key': f.source_key },
      canOperate ? h('td', null, picks.box(f.source_key)) : null,
      h('td', { class: 'mono' }, f.source_key),
      h('td', { class: 'message small' }, f.error_class ? [badge(f.error_class, 'failed'), ' '] : '', f.message || ''),
      h('td', { class: 'small nowrap' }, timeEl(f.dismissed)),
      h('td', { class: 'small' }, f.dismissed_by || ''),
      h('td', { class: 'message small', 'data-test': 'dismiss-reason-shown' }, f.dismiss_reason || ''),
      h('td', null, attemptsDetails(chosen.id, f.source_key))));
  const t = table([...(canOperate ? [{ srLabel: 'Select' }] : []), { label: 'Source key' }, { label: 'Last failure' },
    { label: 'Dismissed' }, { label: 'By' }, { label: 'Reason' }, { label: 'Attempts' }],
  rows, { test: 'dismissed-table', empty: `No dismissed records of ${chosen.name || chosen.id}.` });
  if (canOperate) t.querySelector('thead th').append(picks.all);
  put(ctx.main, views,
    h('p', { class: 'subtitle' }, `${fmtNum(total)} record${total === 1 ? '' : 's'} of ${chosen.name || chosen.id} ${total === 1 ? 'was' : 'were'} dismissed: they are not replayed and not counted as failed. Restore puts a record back in the failed queue. A dismissed record that fails again (after it changed in the source) is back in the queue by itself; one that syncs leaves this list.`),
    canOperate ? h('div', { class: 'button-row' }, restore) : null,
    t,
    offsetPager({ total, limit: LIMIT, offset, count: items.length },
      (o) => ctx.go(`/failed/${encodeURIComponent(chosen.id)}`, { state: 'dismissed', offset: o }), 'dismissed-pager'));
  return undefined;
}

// Every attempt of one record (GET /api/outcomes?process=…&text=key, following next_after
// through the whole history): when, which run, and for a failure what was sent and what the
// target answered (attemptSent). Loaded when opened.
function attemptsDetails(processId, key) {
  const body = h('div', { class: 'small' }, 'Loading…');
  const d = h('details', { 'data-test': 'attempts-details' }, h('summary', null, 'attempts'), body);
  let loaded = false;
  d.addEventListener('toggle', async () => {
    if (!d.open || loaded) return;
    loaded = true;
    try {
      const mine = [];
      let after = 0;
      for (let i = 0; i < 40 && mine.length < 50; i++) {
        const r = await api.get('/api/outcomes', { process: processId, text: key, limit: 100, after });
        mine.push(...(r.items || []).filter((o) => o.source_key === key));
        if (r.next_after === null || r.next_after === undefined) break;
        after = r.next_after;
      }
      body.replaceChildren(mine.length
        ? h('ol', { class: 'attempts' }, mine.map((o) => h('li', { 'data-test': 'attempt', 'data-outcome-id': o.id },
          timeEl(o.started), ' ', h('a', { href: `#/runs/${o.run_id}`, 'data-test': 'attempt-run' }, `run ${o.run_id}`), ' ', badge(o.action),
          o.error_class ? [' ', badge(o.error_class, 'failed')] : '', o.message ? h('div', { class: 'message' }, o.message) : '',
          o.action === 'failed' ? attemptSent(o.id) : null)))
        : 'No attempts found in the kept outcomes.');
    } catch (e) {
      body.textContent = e.message;
    }
  });
  return d;
}

// What one failed attempt sent to the target and what the target answered
// (GET /api/outcomes/{id}: attempt.payload, secret values masked). Loaded when opened.
export function attemptSent(outcomeId) {
  const body = h('div', { class: 'small' }, 'Loading…');
  const d = h('details', { class: 'attempt-sent', 'data-test': 'attempt-sent' }, h('summary', null, 'what was sent, and the answer'), body);
  let loaded = false;
  d.addEventListener('toggle', async () => {
    if (!d.open || loaded) return;
    loaded = true;
    try {
      const o = await api.get(`/api/outcomes/${outcomeId}`);
      const a = o.attempt;
      if (!a) {
        body.replaceChildren('Not kept: this attempt was made before Plexus kept what failed attempts sent.');
        return;
      }
      const payload = typeof a.payload === 'string' ? a.payload : JSON.stringify(a.payload, null, 2);
      clear(body);
      put(body,
        a.sent
          ? [h('div', null, h('strong', null, a.operation === 'update' ? 'Sent as an update' : 'Sent as a create'),
            a.payload_truncated ? h('span', { class: 'muted' }, ` (the first ${fmtNum(payload.length)} of ${fmtNum(a.payload_bytes)} bytes)`) : ''),
          h('pre', { class: 'record', 'data-test': 'attempt-payload' }, payload)]
          : h('p', { 'data-test': 'attempt-not-sent' }, a.note || 'Nothing was sent.'),
        a.sent && a.note ? h('p', { class: 'muted' }, a.note) : null,
        h('div', null, h('strong', null, 'The target answered')),
        h('p', { class: 'message', 'data-test': 'attempt-answer' }, a.answer || (a.sent ? 'no message' : 'nothing: the target was not asked')));
    } catch (e) {
      body.textContent = e.message;
    }
  });
  return d;
}

// A yes/no question in a dialog; resolves true or false.
function makeConfirmDialog() {
  const title = h('h2');
  const text = h('p', { class: 'small' });
  const yes = h('button', { type: 'submit', 'data-test': 'confirm-yes' }, 'OK');
  const no = h('button', { type: 'button', class: 'secondary', 'data-test': 'confirm-no' }, 'Cancel');
  const form = h('form', { method: 'dialog' }, title, text, h('div', { class: 'button-row' }, yes, no));
  const el = h('dialog', { 'data-test': 'confirm-dialog' }, form);
  let resolve = null;
  let opener = null;
  const finish = (v) => { if (resolve) { resolve(v); resolve = null; } };
  no.addEventListener('click', () => el.close());
  el.addEventListener('close', () => { finish(false); if (opener) opener.focus(); });
  form.addEventListener('submit', (ev) => { ev.preventDefault(); finish(true); el.close(); });
  return {
    el,
    ask(question, detail, yesLabel, from) {
      opener = from;
      title.textContent = question;
      text.textContent = detail;
      yes.textContent = yesLabel;
      el.showModal();
      return new Promise((r) => { resolve = r; });
    },
  };
}

// Asks why records are dismissed; resolves to the reason, or null.
function makeDismissDialog() {
  const title = h('h2');
  const reason = h('textarea', { required: true, rows: 3, maxlength: 1000, 'data-test': 'dismiss-reason' });
  const ok = h('button', { type: 'submit', 'data-test': 'dismiss-ok' }, 'Dismiss');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const form = h('form', { method: 'dialog' }, title,
    h('p', { class: 'small muted' }, 'They leave the failed queue without being synced. The reason is kept in the audit log. A record syncs again when it changes in the source.'),
    field('Reason', reason), h('div', { class: 'button-row' }, ok, cancel));
  const el = h('dialog', { 'data-test': 'dismiss-dialog' }, form);
  let resolve = null;
  let opener = null;
  const finish = (v) => { if (resolve) { resolve(v); resolve = null; } };
  cancel.addEventListener('click', () => el.close());
  el.addEventListener('close', () => { finish(null); if (opener) opener.focus(); });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!reason.value.trim()) return;
    finish(reason.value.trim());
    el.close();
  });
  return {
    el,
    ask(n, processName, from) {
      opener = from;
      title.textContent = `Dismiss ${fmtNum(n)} failed record${n === 1 ? '' : 's'} of ${processName}`;
      reason.value = '';
      el.showModal();
      return new Promise((r) => { resolve = r; });
    },
  };
}

const FINDING_WORDS = {
  missing_in_target: 'gone from the target',
  duplicate: 'written twice',
  not_in_ledger: 'in the target, not recorded',
  unverifiable: 'could not be checked',
};

// "Check against the target": proves nothing was written twice (docs/operations.md).
function reconcilePanel(process, canOperate, alive) {
  const box = h('div', { 'data-test': 'reconcile-result', 'aria-live': 'polite' });
  const start = h('button', { type: 'button', class: 'secondary', 'data-test': 'reconcile-start' }, 'Check against the target');
  const adopt = h('input', { type: 'checkbox', 'data-test': 'reconcile-adopt' });
  let timer = null;
  let stopped = false;
  const show = (v) => {
    box.replaceChildren();
    if (v.running) {
      box.append(h('p', { class: 'muted' }, `Checking… ${fmtNum(v.checked)} records so far.`));
      return;
    }
    const r = v.report;
    if (!r) { box.append(h('p', { class: 'muted' }, 'Not checked since the hub started.')); return; }
    box.dataset.status = r.status;
    box.append(h('p', null, badge(r.status === 'clean' ? 'clean' : r.status, r.status === 'clean' ? 'ok' : r.status === 'findings' ? 'partial' : 'failed'), ' ', r.message));
    if ((r.findings || []).length) {
      box.append(table([{ label: 'Finding' }, { label: 'Source key' }, { label: 'Target key' }, { label: 'Detail' }],
        r.findings.slice(0, 200).map((f) => h('tr', { 'data-test': 'reconcile-finding', 'data-kind': f.kind },
          h('td', null, FINDING_WORDS[f.kind] || f.kind, f.adopted ? ' (adopted)' : ''),
          h('td', { class: 'mono' }, f.source_key), h('td', { class: 'mono' }, f.target_key || ''),
          h('td', { class: 'message small' }, f.detail))), { test: 'reconcile-table' }));
    }
  };
  const poll = async () => {
    if (stopped || !alive()) return;
    try {
      const v = await api.get(`/api/processes/${seg(process.id)}/reconcile`);
      if (stopped || !alive()) return;
      show(v);
      if (v.running) timer = setTimeout(poll, 1000);
    } catch (e) { showError(e); }
  };
  start.addEventListener('click', async () => {
    start.disabled = true;
    try {
      await api.post(`/api/processes/${seg(process.id)}/reconcile`, { adopt: adopt.checked });
      timer = setTimeout(poll, 300);
    } catch (e) { showError(e); } finally { start.disabled = false; }
  });
  poll();
  const el = h('section', { class: 'panel', 'data-test': 'reconcile-panel' },
    h('h2', null, 'Check against the target'),
    h('p', { class: 'small muted' }, 'Looks up every record this process wrote in the target: one that is gone, one written twice, or one in the target that Plexus has not recorded. Nothing is written unless you ask to link the records found in the target.'),
    canOperate ? h('div', { class: 'button-row' }, start, h('label', { class: 'small' }, adopt, ' link records found in the target')) : null,
    box);
  return { el, stop: () => { stopped = true; clearTimeout(timer); } };
}
