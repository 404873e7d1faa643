// Browser steps of "Failed records" (issue 13; web/static/js/pages/failed.js and run.js): what
// a failed attempt sent and what the target answered, dismissing with a reason and restoring,
// the failed-records export, and run detail and failed records at phone width.
//
// portal.test.mjs runs them last (the session may have been logged out), when the orders
// process has orders 1003 and 1007 in its failed queue (their total "n/a" fails the mapping,
// so nothing of them was ever sent):
//   await (await import('./lib/failed_steps.mjs')).run(page, { base, step, snap, check, until,
//     apiGet, artifacts: opts.artifacts, login: ADMIN, process: PROCESS_ORDERS, secret: SECRET_VALUE });
// To have an attempt that reached the target, the orders mapping is edited for one replay of
// 1003 so that it maps, but with a key the target refuses (a list), then reverted to the
// file's mapping: the world ends as it began, apart from one more failed attempt of 1003.

import path from 'node:path';
import fs from 'node:fs';
import { readXlsx } from './xlsx.mjs';

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

export async function run(page, ctx) {
  const { base, step, snap, check, until, apiGet } = ctx;
  const pid = ctx.process;
  const p = encodeURIComponent(pid);
  const keysShown = (sel) => page.locator(sel).evaluateAll((rows) => rows.map((r) => r.dataset.sourceKey).sort());
  const send = async (method, url, body) => {
    const csrf = await page.evaluate(async () => (await (await fetch('/api/session')).json()).csrf_token);
    const res = await page.request.fetch(`${base}${url}`, {
      method, headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/json' }, data: JSON.stringify(body || {}),
    });
    check(res.status() < 300, `${method} ${url}: HTTP ${res.status()} ${await res.text()}`);
    return res.json();
  };
  // Every failed outcome of the process, following next_after through the whole history.
  const failedOutcomes = async () => {
    const out = [];
    let after = 0;
    for (let i = 0; i < 100; i++) {
      const r = await apiGet(`/api/outcomes?process=${p}&action=failed&limit=500&after=${after}`);
      out.push(...r.items);
      if (r.next_after === null) break;
      after = r.next_after;
    }
    return out;
  };
  let replayRun = '';

  await step('a failed attempt that reached the target shows the payload sent and the target\'s answer', async () => {
    if ((await page.request.get(`${base}/api/session`)).status() !== 200) {
      await page.goto(`${base}/`);
      await page.fill('#login-name', ctx.login.name);
      await page.fill('#login-password', ctx.login.password);
      await page.click('[data-test="login-submit"]');
      await page.locator('[data-test="processes-table"]').waitFor();
    }
    const queue = (await apiGet(`/api/processes/${p}/failed`)).items.map((f) => f.source_key).sort();
    check(JSON.stringify(queue) === '["1003","1007"]', `orders 1003 and 1007 should wait in the failed queue; it holds ${queue}`);
    const file = (await apiGet(`/api/processes/${p}/mapping`)).mapping;
    await send('PUT', `/api/processes/${p}/mapping`, { mapping: { ...file, reference: 'list(id)', total: 'total' }, note: 'browser test: a key the target refuses' });
    const before = (await apiGet(`/api/processes/${p}`)).last_run.id;
    await send('POST', `/api/processes/${p}/replay`, { source_keys: ['1003'] });
    await until('the replay of 1003 to finish', async () => {
      const v = await apiGet(`/api/processes/${p}`);
      return !v.running && v.last_run && v.last_run.id !== before && v.last_run;
    }, { timeout: 20000 });
    replayRun = String((await apiGet(`/api/processes/${p}`)).last_run.id);
    await send('POST', `/api/processes/${p}/mapping/revert`, { version: 0 });

    await page.goto(`${base}/#/failed/${p}`);
    const row = page.locator('tr[data-test="failed-row"][data-source-key="1003"]');
    await row.waitFor();
    await row.locator('[data-test="attempts-details"] > summary').click();
    const attempts = row.locator('[data-test="attempt"]');
    await until('the attempts of 1003', async () => (await attempts.count()) >= 2);
    const last = attempts.last();
    check(await last.locator(`[data-test="attempt-run"][href="#/runs/${replayRun}"]`).count() === 1, `the newest attempt should link to run ${replayRun}`);
    await last.locator('[data-test="attempt-sent"] > summary').click();
    const payload = last.locator('[data-test="attempt-payload"]');
    await payload.waitFor();
    const sent = JSON.parse(await payload.innerText());
    check(JSON.stringify(sent.reference) === '[1003]' && sent.total === 'n/a', `the payload should be what the mapping made of 1003 (reference [1003], total "n/a"); is ${JSON.stringify(sent)}`);
    const answer = await last.locator('[data-test="attempt-answer"]').innerText();
    check(/reference/.test(answer) && /array/.test(answer), `the answer should be the target's refusal of the list as a key; is "${answer}"`);
    // An attempt the mapping stopped: nothing was sent, and it says why.
    const first = attempts.first();
    await first.locator('[data-test="attempt-sent"] > summary').click();
    await first.locator('[data-test="attempt-not-sent"]').waitFor();
    check(/mapping/.test(await first.locator('[data-test="attempt-not-sent"]').innerText()), 'an attempt stopped by the mapping should say nothing was sent, and why');
    check(!(await page.content()).includes(ctx.secret), 'the secret token must not be anywhere in the page');
    await snap('failed-attempt-sent');
  });

  await step('"Dismiss selected…" with a reason moves a record to Dismissed, not counted; Restore brings it back', async () => {
    await page.locator('tr[data-source-key="1007"] [data-test="select-record"]').check();
    await page.click('[data-test="dismiss-selected"]');
    await page.fill('[data-test="dismiss-reason"]', 'order cancelled by the customer');
    await page.click('[data-test="dismiss-ok"]');
    await until('1007 to leave the queue', async () => JSON.stringify(await keysShown('tr[data-test="failed-row"]')) === '["1003"]');
    const v = await apiGet(`/api/processes/${p}`);
    check(v.failed_count === 1 && v.dismissed_count === 1, `the process should count 1 failed and 1 dismissed; counts ${v.failed_count} and ${v.dismissed_count}`);
    check(/Dismissed \(1\)/.test(await page.locator('[data-test="failed-view-dismissed"]').innerText()), 'the Dismissed link should count 1');
    await page.click('[data-test="failed-view-dismissed"]');
    const row = page.locator('tr[data-test="dismissed-row"][data-source-key="1007"]');
    await row.waitFor();
    check((await row.locator('[data-test="dismiss-reason-shown"]').innerText()).includes('order cancelled by the customer'), 'the dismissed record should show its reason');
    check((await row.innerText()).includes(ctx.login.name), 'the dismissed record should say who dismissed it');
    await snap('failed-dismissed');
    // The row's box, then the head's "select all" (one record: the same selection).
    await row.locator('[data-test="select-dismissed"]').check();
    await row.locator('[data-test="select-dismissed"]').uncheck();
    check(await page.locator('[data-test="restore-selected"]').isDisabled(), 'Restore should be off with nothing selected');
    await page.locator('[data-test="select-all-dismissed"]').check();
    check(await row.locator('[data-test="select-dismissed"]').isChecked(), '"select all" should tick the dismissed record\'s box');
    check((await page.locator('[data-test="restore-selected"]').innerText()) === 'Restore 1 selected', `the button should say "Restore 1 selected"; says "${await page.locator('[data-test="restore-selected"]').innerText()}"`);
    await page.click('[data-test="restore-selected"]');
    await until('the dismissed list to empty', async () => (await page.locator('tr[data-test="dismissed-row"]').count()) === 0);
    const after = await apiGet(`/api/processes/${p}`);
    check(after.failed_count === 2 && after.dismissed_count === 0, `after the restore the process should count 2 failed, 0 dismissed; counts ${after.failed_count} and ${after.dismissed_count}`);
    const audit = (await apiGet('/api/audit?limit=50')).items.map((a) => a.action);
    check(audit.includes('failed.dismiss') && audit.includes('failed.restore'), `dismiss and restore should be audited; the log has ${[...new Set(audit)].join(', ')}`);
    await page.click('[data-test="failed-view-waiting"]');
    await until('1003 and 1007 waiting again', async () => JSON.stringify(await keysShown('tr[data-test="failed-row"]')) === '["1003","1007"]');
  });

  await step('the failed-records export (.xlsx and .csv) holds every failed attempt of the process', async () => {
    const expected = await failedOutcomes();
    const keys = [...new Set(expected.map((o) => o.source_key))].sort();
    const [xdl] = await Promise.all([page.waitForEvent('download'), page.click('[data-test="failed-export-xlsx"]')]);
    const xfile = path.join(ctx.artifacts, 'failed-records.xlsx');
    await xdl.saveAs(xfile);
    const rows = readXlsx(xfile);
    const col = (name) => rows[0].indexOf(name);
    check(col('source_key') >= 0 && col('action') >= 0 && col('message') >= 0, `the sheet's header should name source_key, action and message; is ${rows[0].join(',')}`);
    check(rows.length === 1 + expected.length, `the sheet should have a header and ${expected.length} rows (one per failed attempt); has ${rows.length}`);
    check(rows.slice(1).every((r) => r[col('action')] === 'failed' && keys.includes(r[col('source_key')])), `every row should be a failed attempt of ${keys}`);
    check(rows.slice(1).some((r) => r[col('source_key')] === '1003' && /array/.test(r[col('message')])), 'the export should hold the attempt the target refused, with its answer');
    const [cdl] = await Promise.all([page.waitForEvent('download'), page.click('[data-test="failed-export-csv"]')]);
    const cfile = path.join(ctx.artifacts, 'failed-records.csv');
    await cdl.saveAs(cfile);
    const lines = fs.readFileSync(cfile, 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l.length);
    check(lines.length === 1 + expected.length, `the CSV should have a header and ${expected.length} lines; has ${lines.length}`);
  });

  // At phone width: the page never scrolls sideways and every action is on screen.
  const fitsPhone = async (selectors, what) => {
    const width = await page.evaluate(() => window.innerWidth);
    const scroll = await page.evaluate(() => document.scrollingElement.scrollWidth);
    check(scroll <= width, `${what}: at ${width} px the page should not scroll sideways; it is ${scroll} px wide`);
    for (const sel of selectors) {
      const boxes = await page.locator(sel).evaluateAll((els) => els.map((e) => { const r = e.getBoundingClientRect(); return [r.left, r.right, r.width]; }));
      check(boxes.length > 0, `${what}: ${sel} should be on the page`);
      for (const [left, right, w] of boxes) {
        check(w > 0 && left >= 0 && right <= width + 0.5, `${what}: every ${sel} should be within the screen; one spans ${Math.round(left)}–${Math.round(right)} px`);
      }
    }
  };

  await step('at phone width run detail and failed records fit the screen, with Replay, Dismiss and Restore on it', async () => {
    await page.setViewportSize(PHONE);
    try {
      await page.goto(`${base}/#/runs/${replayRun}`);
      await page.locator('[data-test="outcomes-table"]').waitFor();
      await page.locator('[data-test="outcome-row"] [data-test="attempt-sent"] > summary').first().click();
      await page.locator('[data-test="attempt-payload"]').first().waitFor();
      await page.screenshot({ path: path.join(ctx.artifacts, 'phone-run-detail.png'), fullPage: true });
      await fitsPhone(['[data-test="replay-outcome"]'], 'run detail');

      await page.goto(`${base}/#/failed/${p}`);
      const row = page.locator('tr[data-test="failed-row"][data-source-key="1003"]');
      await row.waitFor();
      await row.locator('[data-test="attempts-details"] > summary').click();
      await row.locator('[data-test="attempt"]').last().locator('[data-test="attempt-sent"] > summary').click();
      await row.locator('[data-test="attempt-payload"]').waitFor();
      await page.screenshot({ path: path.join(ctx.artifacts, 'phone-failed-records.png'), fullPage: true });
      await fitsPhone(['[data-test="replay-selected"]', '[data-test="replay-all"]', '[data-test="dismiss-selected"]', '[data-test="select-record"]'], 'failed records');

      await page.click('[data-test="failed-view-dismissed"]');
      await page.locator('[data-test="dismissed-table"]').waitFor();
      await page.screenshot({ path: path.join(ctx.artifacts, 'phone-failed-dismissed.png'), fullPage: true });
      await fitsPhone(['[data-test="restore-selected"]', '[data-test="failed-view-waiting"]'], 'dismissed records');
    } finally {
      await page.setViewportSize(DESKTOP);
    }
  });
}
