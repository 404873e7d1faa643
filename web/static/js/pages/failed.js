// Failed records of one process (its failed queue, GET /api/processes/{id}/failed), with
// replay of the selected records or of all (POST /api/processes/{id}/replay). After a replay
// the page follows the process until the replay run has finished, then reloads the queue.

import { api, seg } from '../api.js';
import {
  badge, field, fmtNum, h, offsetPager, put, roleAtLeast, select, showError, table, timeEl,
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
  const page = await api.get(`/api/processes/${seg(chosen.id)}/failed`, { limit: LIMIT, offset });
  if (!ctx.alive()) return undefined;
  const items = page.items || [];
  const total = page.total ?? items.length;
  const canOperate = roleAtLeast(ctx.user, 'operator');

  // ---- selection and replay ----
  const selected = new Set();
  let following = false; // a replay was started and the page waits for its run
  const boxes = [];
  const status = h('p', { class: 'muted', 'aria-live': 'polite', 'data-test': 'replay-status' });
  const replaySelected = h('button', { type: 'button', disabled: true, 'data-test': 'replay-selected' }, 'Replay selected');
  const replayAll = h('button', { type: 'button', class: 'secondary', disabled: total === 0, 'data-test': 'replay-all' },
    `Replay all ${fmtNum(total)}`);
  const selectAll = h('input', { type: 'checkbox', 'aria-label': 'Select every record on this page', 'data-test': 'select-all', disabled: !items.length });

  const refreshSelection = () => {
    replaySelected.disabled = selected.size === 0 || following;
    replaySelected.textContent = selected.size ? `Replay ${fmtNum(selected.size)} selected` : 'Replay selected';
    selectAll.checked = items.length > 0 && selected.size === items.length;
    selectAll.indeterminate = selected.size > 0 && selected.size < items.length;
  };
  selectAll.addEventListener('change', () => {
    for (const b of boxes) {
      b.checked = selectAll.checked;
      if (b.checked) selected.add(b.value); else selected.delete(b.value);
    }
    refreshSelection();
  });

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
  replayAll.addEventListener('click', () => replay(replayAll, {}, total));

  // ---- table ----
  const rows = items.map((f) => {
    const box = h('input', { type: 'checkbox', value: f.source_key, 'aria-label': `Select record ${f.source_key}`, 'data-test': 'select-record' });
    box.addEventListener('change', () => {
      if (box.checked) selected.add(f.source_key); else selected.delete(f.source_key);
      refreshSelection();
    });
    boxes.push(box);
    return h('tr', { 'data-test': 'failed-row', 'data-source-key': f.source_key },
      canOperate ? h('td', null, box) : null,
      h('td', { class: 'mono' }, f.source_key),
      h('td', null, f.error_class ? badge(f.error_class, 'failed') : ''),
      h('td', { class: 'message small' }, f.message || ''),
      h('td', { class: 'num', 'data-test': 'attempts' }, fmtNum(f.attempts)),
      h('td', { class: 'small nowrap' }, timeEl(f.first_failed)),
      h('td', { class: 'small nowrap' }, timeEl(f.last_failed)),
      h('td', null, f.record !== undefined && f.record !== null
        ? h('details', null, h('summary', null, 'record'), h('pre', { class: 'record' }, JSON.stringify(f.record, null, 2)))
        : ''));
  });

  const headCheck = canOperate ? [{ label: '' }] : [];
  const t = table([...headCheck, { label: 'Source key' }, { label: 'Error class' }, { label: 'Message' },
    { label: 'Attempts', num: true }, { label: 'First failed' }, { label: 'Last failed' }, { label: 'Record' }],
  rows, { test: 'failed-table', empty: `${chosen.name || chosen.id} has no failed records.` });
  if (canOperate) {
    const th = t.querySelector('thead th');
    th.append(selectAll);
  }

  // ---- reconciliation: the ledger compared with the target (GET/POST …/reconcile) ----
  const recon = reconcilePanel(chosen, canOperate, () => ctx.alive());

  put(ctx.main, 
    h('p', { class: 'subtitle' }, `${fmtNum(total)} records of ${chosen.name || chosen.id} failed and wait for a replay. A replay runs them again from the stored source record; the ones that succeed leave the queue.`),
    canOperate ? h('div', { class: 'button-row' }, replaySelected, replayAll) : null,
    status,
    t,
    offsetPager({ total, limit: LIMIT, offset, count: items.length },
      (o) => ctx.go(`/failed/${encodeURIComponent(chosen.id)}`, { offset: o }), 'failed-pager'),
    recon.el);
  return () => { stopped = true; clearTimeout(timer); recon.stop(); };
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
