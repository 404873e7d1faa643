// Browser test of the portal against a real `plexus serve` (docs/api.md): Debian's chromium
// driven by playwright-core. Run it through run.sh, which installs playwright-core first.
//
//   node portal.test.mjs --plexus PATH [--plugin-dir DIR] [--artifacts DIR] [--keep]
//
// Each step prints "ok N - what"; a failing step prints what was expected, saves a
// screenshot FAILED.png, the tail of the server's log, and the script exits 1. Screenshots
// of every step at 1280 px and at phone width go to the artifacts directory.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import {
  BAD_NUMBER_KEYS, BULK_RECORDS, MISSING_CUSTOMER_KEY, ORDER_KEYS, PROCESS_BULK, PROCESS_CUSTOMERS,
  PROCESS_ORDERS, SECRET_ENV, SECRET_VALUE, addUser, appendCustomerFour, freePort, makeTempDir, plexusCommand, startServe,
  stopServe, writeConfig,
} from './lib/fixture.mjs';
import {
  PHONE, Session, apiGetter, check, clearArtifacts, parseArgs, until,
} from './lib/kit.mjs';
import { readXlsx } from './lib/xlsx.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

const USAGE = 'run.sh --plexus PATH [--plugin-dir DIR] [--artifacts DIR] [--keep]';

const EXPORT_COLUMNS = ['outcome_id', 'run_id', 'process', 'source_key', 'target_key', 'action', 'error_class',
  'message', 'attempts', 'started_utc', 'finished_utc', 'duration_ms'];
const ADMIN = { name: 'ann', password: 'ann-password-123', role: 'admin' };
const SUPPORT = { name: 'sam', password: 'sam-password-123', role: 'support' };
const DESKTOP = { width: 1280, height: 800 };

async function main() {
  const opts = parseArgs(process.argv.slice(2), { artifacts: path.join(here, 'artifacts'), usage: USAGE });
  clearArtifacts(opts.artifacts, /\.(png|xlsx|csv|log)$/);
  process.env[SECRET_ENV] = SECRET_VALUE; // for plexus run and plexus serve, which inherit it
  const tmp = makeTempDir();
  const dataDir = path.join(tmp, 'data');
  fs.mkdirSync(dataDir);
  const serveLog = path.join(opts.artifacts, 'serve.log');
  console.log(`# plexus: ${opts.plexus}`);
  console.log(`# temporary directory: ${tmp}`);
  console.log(`# artifacts (screenshots, downloads, server log): ${opts.artifacts}`);

  const session = new Session(opts.artifacts, DESKTOP);
  const { pageErrors } = session;
  const snap = (name, p) => session.snap(name, p);
  const step = (name, fn) => session.step(name, fn);
  let server = null;
  let browser = null;
  let page = null;

  try {
    // ---- the world ----
    const { file: config, shop } = writeConfig(tmp);
    await step('plexus users add makes an admin and a support user', async () => {
      addUser(opts, dataDir, ADMIN.name, ADMIN.role, ADMIN.password);
      addUser(opts, dataDir, SUPPORT.name, SUPPORT.role, SUPPORT.password);
    });
    await step('the customers process syncs customers 1-3 from the command line first', async () => {
      const r = plexusCommand(opts, ['run', PROCESS_CUSTOMERS, '--config', config, '--data', dataDir]);
      check(/created\s+3/.test(r.stdout), `plexus run ${PROCESS_CUSTOMERS} should create 3 customers; it printed:\n${r.stdout}`);
    });
    const port = await freePort();
    server = await startServe(opts, { config, dataDir, port, logFile: serveLog });
    console.log(`# ${opts.plexus} ${server.args.join(' ')}`);
    const base = server.base;

    browser = await chromium.launch({ executablePath: opts.chromium, args: ['--no-sandbox'] });
    const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true });
    page = await context.newPage();
    session.watch(page);

    const row = (id) => page.locator(`tr[data-test="process-row"][data-process="${id}"]`);
    const apiGet = apiGetter(page, base);
    const lastRunId = async (id) => (await row(id).locator('[data-test="last-run"]').getAttribute('data-run-id')) || '';
    // Clicks "Run now" on a process row and waits until a new run of it has finished.
    async function runNow(id, timeout = 30000) {
      const before = await lastRunId(id);
      await row(id).locator('[data-test="run-now"]').click();
      await until(`a new finished run of ${id} in its row`, async () => {
        const r = row(id);
        const now = await lastRunId(id);
        return now && now !== before && (await r.getAttribute('data-running')) === 'false'
          && (await r.locator('[data-test="last-run"]').getAttribute('data-status')) !== 'running';
      }, { timeout });
      return lastRunId(id);
    }
    // At phone width (390 px) every one of these buttons must be on screen without
    // scrolling sideways: its box inside the viewport's width, and the page no wider.
    async function actionsFitPhone(selector, what) {
      const size = page.viewportSize();
      await page.setViewportSize(PHONE);
      await page.waitForTimeout(150);
      try {
        const boxes = await page.locator(selector).evaluateAll((els) => els.map((e) => {
          const r = e.getBoundingClientRect();
          return { left: r.left, right: r.right, width: r.width };
        }));
        check(boxes.length > 0, `there should be ${what} to check at phone width`);
        const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
        check(scrollWidth <= PHONE.width + 1, `at ${PHONE.width} px the page should not scroll sideways; it is ${scrollWidth} px wide`);
        for (const b of boxes) {
          check(b.width > 0 && b.left >= 0 && b.right <= PHONE.width + 0.5,
            `at ${PHONE.width} px every ${what} should be within the screen; one spans ${Math.round(b.left)}–${Math.round(b.right)} px`);
        }
      } finally {
        await page.setViewportSize(size || DESKTOP);
        await page.waitForTimeout(60);
      }
    }
    const count = async (scope, key) => Number((await scope.locator(`[data-count="${key}"]`).first().innerText()).replace(/[^0-9]/g, ''));

    // ---- log in ----
    await step('the portal asks for a login and shows a wrong password as an error', async () => {
      await page.goto(`${base}/`);
      await page.locator('[data-test="login-form"]').waitFor();
      check(await page.locator('#topbar').isHidden(), 'the navigation should be hidden before login');
      await snap('login');
      await page.fill('#login-name', ADMIN.name);
      await page.fill('#login-password', 'not-the-password');
      await page.click('[data-test="login-submit"]');
      const err = page.locator('[data-test="login-error"]');
      await err.waitFor({ state: 'visible' });
      check((await err.innerText()).trim().length > 0, 'a refused login should show the server\'s message');
      await snap('login-refused');
    });

    await step('an admin logs in and sees the processes', async () => {
      await page.fill('#login-password', ADMIN.password);
      await page.click('[data-test="login-submit"]');
      await page.locator('[data-test="processes-table"]').waitFor();
      await until('three process rows', async () => (await page.locator('tr[data-test="process-row"]').count()) === 3);
      const who = await page.locator('[data-test="who"]').innerText();
      check(who.includes(ADMIN.name) && who.includes('admin'), `the top bar should name the user and role, shows "${who}"`);
      check(await page.locator('[data-test="nav-users"]').isVisible(), 'an admin should see the Users page in the navigation');
      const customersLast = row(PROCESS_CUSTOMERS).locator('[data-test="last-run"]');
      check((await customersLast.getAttribute('data-status')) === 'succeeded', 'the command-line run of customers should show as the last run, succeeded');
      check(await count(customersLast, 'created') === 3, 'the customers row should count 3 created');
      check((await row(PROCESS_ORDERS).locator('[data-test="next-run"]').innerText()).match(/\d{4}-\d{2}-\d{2}/), 'the scheduled orders process should show its next run');
      await snap('processes');
    });

    // ---- disable and enable ----
    await step('disabling a process turns its switch off, drops its next run and is stored', async () => {
      const toggle = row(PROCESS_ORDERS).locator('[data-test="enabled-toggle"]');
      check((await toggle.getAttribute('aria-checked')) === 'true', 'orders should start enabled');
      await toggle.click();
      await until('the switch to be off', async () => (await toggle.getAttribute('aria-checked')) === 'false');
      await until('next run to read "disabled"', async () => /disabled/.test(await row(PROCESS_ORDERS).locator('[data-test="next-run"]').innerText()));
      const p = await apiGet(`/api/processes/${PROCESS_ORDERS}`);
      check(p.enabled === false && p.next_run === null, `GET /api/processes/${PROCESS_ORDERS} should say enabled false, next_run null; says ${JSON.stringify({ enabled: p.enabled, next_run: p.next_run })}`);
      await snap('process-disabled');
    });

    await step('enabling it again brings the next run back', async () => {
      const toggle = row(PROCESS_ORDERS).locator('[data-test="enabled-toggle"]');
      await toggle.click();
      await until('the switch to be on', async () => (await toggle.getAttribute('aria-checked')) === 'true');
      await until('a next run time', async () => /\d{4}-\d{2}-\d{2}/.test(await row(PROCESS_ORDERS).locator('[data-test="next-run"]').innerText()));
      check((await apiGet(`/api/processes/${PROCESS_ORDERS}`)).enabled === true, 'the API should say enabled after enabling');
      await snap('process-enabled');
    });

    await step('the schedule picker: a bad cron shows the server\'s error; every N minutes and weekdays at read as words, in their zone', async () => {
      const r = row(PROCESS_ORDERS);
      // Words, not "every 300s" or raw cron, in every row; the next run names its zone.
      const words = await page.locator('[data-test="schedule"]').allInnerTexts();
      check(!words.some((w) => /every \d+s\b|^cron /.test(w)), `schedules should read as words; read ${JSON.stringify(words)}`);
      await r.locator('[data-test="edit-schedule"]').click();
      const dialog = page.locator('[data-test="schedule-dialog"]');
      await dialog.waitFor();
      await page.selectOption('[data-test="schedule-mode"]', 'advanced');
      await page.fill('[data-test="schedule-cron"]', '*/5 * * *');
      await page.click('[data-test="schedule-save"]');
      const err = dialog.locator('[role="alert"]');
      await err.waitFor({ state: 'visible' });
      check(/4 fields/.test(await err.innerText()), `the dialog should show the server's message about the 4-field cron; shows "${await err.innerText()}"`);
      await snap('schedule-error');
      await page.selectOption('[data-test="schedule-mode"]', 'minutes');
      await page.fill('[data-test="schedule-n"]', '15');
      const preview = dialog.locator('[data-test="schedule-preview"]');
      check((await preview.innerText()).includes('every 15 min'), `the picker should say "every 15 min"; says "${await preview.innerText()}"`);
      await page.click('[data-test="schedule-save"]');
      await dialog.waitFor({ state: 'hidden' });
      let p = await apiGet(`/api/processes/${PROCESS_ORDERS}`);
      check(p.schedule.interval === '15m' && p.schedule.description === 'every 15 min', `the API should report interval 15m, "every 15 min"; reports ${JSON.stringify(p.schedule)}`);
      await until('"every 15 min" in the row', async () => (await r.locator('[data-test="schedule"]').innerText()).includes('every 15 min'));
      // Weekdays at 06:00 in Zurich: said so, and the next run shown in Zurich's time.
      await r.locator('[data-test="edit-schedule"]').click();
      await page.selectOption('[data-test="schedule-mode"]', 'weekdays');
      await page.fill('[data-test="schedule-at"]', '06:00');
      await page.fill('[data-test="schedule-timezone"]', 'Europe/Zurich');
      check((await preview.innerText()).includes('weekdays at 06:00 (Europe/Zurich)'), `the picker should say "weekdays at 06:00 (Europe/Zurich)"; says "${await preview.innerText()}"`);
      await snap('schedule-picker');
      await page.click('[data-test="schedule-save"]');
      await dialog.waitFor({ state: 'hidden' });
      p = await apiGet(`/api/processes/${PROCESS_ORDERS}`);
      check(p.schedule.cron === '0 6 * * 1-5' && p.schedule.timezone === 'Europe/Zurich', `the picker should save cron "0 6 * * 1-5" in Europe/Zurich; saved ${JSON.stringify(p.schedule)}`);
      await until('the weekday schedule in words', async () => (await r.locator('[data-test="schedule"]').innerText()).includes('weekdays at 06:00 (Europe/Zurich)'));
      await until('the next run at 06:00 Europe/Zurich', async () => / 06:00 Europe\/Zurich/.test(await r.locator('[data-test="next-run"]').innerText()));
      await snap('schedule-weekdays');
      // Back to the far-away cron, so that the scheduler stays out of the test.
      await r.locator('[data-test="edit-schedule"]').click();
      await page.selectOption('[data-test="schedule-mode"]', 'advanced');
      await page.fill('[data-test="schedule-cron"]', '0 3 1 1 *');
      await page.fill('[data-test="schedule-timezone"]', 'Europe/Zurich');
      await page.click('[data-test="schedule-save"]');
      await dialog.waitFor({ state: 'hidden' });
      check((await apiGet(`/api/processes/${PROCESS_ORDERS}`)).schedule.cron === '0 3 1 1 *', 'the cron schedule should be back');
      // On a phone the row's buttons stay on screen.
      await actionsFitPhone('[data-test="run-now"]', '"Run now" button');
    });

    // ---- run ----
    let ordersRun = '';
    await step('"Run now" runs the orders process: 8 read, 5 created, 3 failed', async () => {
      ordersRun = await runNow(PROCESS_ORDERS);
      const last = row(PROCESS_ORDERS).locator('[data-test="last-run"]');
      const got = {};
      for (const k of ['read', 'created', 'failed']) got[k] = await count(last, k);
      check(got.read === 8 && got.created === 5 && got.failed === 3, `orders run ${ordersRun} should count read 8, created 5, failed 3; shows ${JSON.stringify(got)}`);
      // A run with failed records is not a green "succeeded" (issue 8): its own amber badge.
      check((await last.getAttribute('data-status')) === 'succeeded_with_failures', `orders run ${ordersRun} should show status succeeded_with_failures; shows ${await last.getAttribute('data-status')}`);
      const badgeEl = last.locator('.badge.succeeded_with_failures');
      check((await badgeEl.count()) === 1 && (await badgeEl.innerText()).trim() === 'succeeded with failures', 'the last-run badge should read "succeeded with failures"');
      const colour = await badgeEl.evaluate((el) => getComputedStyle(el).color);
      const green = await page.evaluate(() => { const b = document.createElement('span'); b.className = 'badge succeeded'; document.body.append(b); const c = getComputedStyle(b).color; b.remove(); return c; });
      check(colour !== green, `the succeeded-with-failures badge should not be coloured like succeeded (${colour})`);
      await until('the failed count 3 in the row', async () => (await row(PROCESS_ORDERS).locator('[data-test="failed-count"]').innerText()).trim() === '3');
      await snap('orders-run-finished');
    });

    await step(`a long run (${BULK_RECORDS} records) shows a live progress bar and counter that move`, async () => {
      const r = row(PROCESS_BULK);
      const before = await lastRunId(PROCESS_BULK);
      await r.locator('[data-test="run-now"]').click();
      await until('the bulk row to show a running run', async () => (await r.getAttribute('data-running')) === 'true', { timeout: 10000, interval: 50 });
      check(await r.locator('[data-test="run-now"]').isDisabled(), '"Run now" should be disabled while the process runs');
      const counter = r.locator('[data-test="progress-counter"]');
      // The counter leaves the row when the run ends: read it without waiting for it.
      const counterText = async () => ((await counter.count()) ? counter.innerText({ timeout: 1000 }).catch(() => null) : null);
      const first = await counterText();
      if (first !== null) check(/\d+ pages? done · [\d,]+ records read/.test(first), `the progress counter should say pages done and records read; shows "${first}"`);
      // The counter must change while the run goes on (or the run must have finished).
      await until('the progress counter to move', async () => {
        if ((await r.getAttribute('data-running')) !== 'true') return true;
        const now = await counterText();
        return now === null || now !== first;
      }, { timeout: 5000 });
      await snap('bulk-running');
      await until('the bulk run to finish', async () => {
        const now = await lastRunId(PROCESS_BULK);
        return now && now !== before && (await r.getAttribute('data-running')) === 'false';
      }, { timeout: 180000, interval: 300 });
      const created = await count(r.locator('[data-test="last-run"]'), 'created');
      check(created === BULK_RECORDS, `the bulk run should create ${BULK_RECORDS} records; shows ${created}`);
    });

    await step('record outcomes page by key: "Next" shows the next 100 of the bulk run, "Previous" goes back', async () => {
      await row(PROCESS_BULK).locator('[data-test="last-run-link"]').click();
      await page.locator('[data-test="outcomes-table"]').waitFor();
      const keysOnPage = () => page.locator('tr[data-test="outcome-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.sourceKey));
      const first = await keysOnPage();
      check(first.length === 100, `the first page should show 100 outcomes; shows ${first.length}`);
      check(await page.locator('[data-test="prev-page"]').isDisabled(), '"Previous" should be disabled on the first page');
      await page.click('[data-test="next-page"]');
      await until('the second page', async () => page.url().includes('after='));
      await until('100 other outcomes', async () => {
        const second = await keysOnPage();
        return second.length === 100 && !second.some((k) => first.includes(k));
      });
      const position = await page.locator('[data-test="outcomes-position"]').innerText();
      check(/^page 2\b/.test(position), `the pager should say page 2; says "${position}"`);
      await snap('run-outcomes-page-2');
      await page.click('[data-test="prev-page"]');
      await until('the first page again', async () => JSON.stringify(await keysOnPage()) === JSON.stringify(first));
      await page.click('[data-test="nav-processes"]');
      await row(PROCESS_ORDERS).waitFor();
    });

    // ---- run detail ----
    await step('the run page shows the run\'s counts and its 8 record outcomes', async () => {
      await row(PROCESS_ORDERS).locator('[data-test="last-run-link"]').click();
      await page.locator('[data-test="outcomes-table"]').waitFor();
      check(page.url().endsWith(`#/runs/${ordersRun}`), `the link should open run ${ordersRun}; at ${page.url()}`);
      const tiles = page.locator('[data-test="run-counts"]');
      check(await count(tiles, 'read') === 8 && await count(tiles, 'failed') === 3, 'the run page should count read 8 and failed 3');
      const keys = await page.locator('tr[data-test="outcome-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.sourceKey).sort());
      check(JSON.stringify(keys) === JSON.stringify(ORDER_KEYS), `the outcomes should be orders ${ORDER_KEYS.join(',')}; are ${keys.join(',')}`);
      await snap('run-detail');
      await actionsFitPhone('[data-test="replay-outcome"]', '"Replay" button of a failed record');
    });

    const failedKeys = [...BAD_NUMBER_KEYS, MISSING_CUSTOMER_KEY].sort();
    await step('filtering by action "failed" leaves the 3 failed records, with their messages', async () => {
      await page.selectOption('[data-test="filter-action"]', 'failed');
      await page.click('[data-test="filter-apply"]');
      await until('only failed outcomes', async () => {
        const actions = await page.locator('tr[data-test="outcome-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.action));
        return actions.length === 3 && actions.every((a) => a === 'failed');
      });
      check(page.url().includes('action=failed'), `the filter should be in the address; at ${page.url()}`);
      const keys = await page.locator('tr[data-test="outcome-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.sourceKey).sort());
      check(JSON.stringify(keys) === JSON.stringify(failedKeys), `the failed outcomes should be ${failedKeys}; are ${keys}`);
      const msg = await page.locator(`tr[data-source-key="${BAD_NUMBER_KEYS[0]}"] td.message`).innerText();
      check(/n\/a/.test(msg), `the message of order ${BAD_NUMBER_KEYS[0]} should quote the bad number "n/a"; is "${msg}"`);
      await snap('run-filter-failed');
    });

    await step('a text filter narrows the failures to one record, and back', async () => {
      await page.fill('[data-test="filter-text"]', MISSING_CUSTOMER_KEY);
      await page.click('[data-test="filter-apply"]');
      await until(`only order ${MISSING_CUSTOMER_KEY}`, async () => {
        const keys = await page.locator('tr[data-test="outcome-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.sourceKey));
        return keys.length === 1 && keys[0] === MISSING_CUSTOMER_KEY;
      });
      await snap('run-filter-text');
      await page.fill('[data-test="filter-text"]', '');
      await page.click('[data-test="filter-apply"]');
      await until('the 3 failed outcomes again', async () => (await page.locator('tr[data-test="outcome-row"]').count()) === 3);
    });

    // ---- export ----
    await step('the .xlsx export carries the same filters: a header and one row per failed record', async () => {
      const href = await page.locator('[data-test="export-xlsx"]').getAttribute('href');
      check(href.includes('format=xlsx') && href.includes(`run=${ordersRun}`) && href.includes('action=failed'), `the export link should carry format, run and action; is ${href}`);
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-test="export-xlsx"]')]);
      const failure = await download.failure();
      check(!failure, `the download failed: ${failure}`);
      const file = path.join(opts.artifacts, 'export-failed.xlsx');
      await download.saveAs(file);
      check(/\.xlsx$/.test(download.suggestedFilename()), `the file name should end in .xlsx; is ${download.suggestedFilename()}`);
      const rows = readXlsx(file);
      check(rows.length === 1 + failedKeys.length, `the sheet should have a header and ${failedKeys.length} rows; has ${rows.length} rows: ${JSON.stringify(rows).slice(0, 400)}`);
      // docs/operations.md, "Exporting sync logs": stable columns, new ones only at the end.
      check(JSON.stringify(rows[0].slice(0, EXPORT_COLUMNS.length)) === JSON.stringify(EXPORT_COLUMNS),
        `the header should start with the documented columns ${EXPORT_COLUMNS.join(',')}; is ${rows[0].join(',')}`);
      const keyCol = rows[0].indexOf('source_key');
      const actionCol = rows[0].indexOf('action');
      check(rows.slice(1).every((r) => r[rows[0].indexOf('run_id')] === ordersRun), `every exported row should belong to run ${ordersRun}`);
      const keys = rows.slice(1).map((r) => r[keyCol]).sort();
      check(JSON.stringify(keys) === JSON.stringify(failedKeys), `the exported source keys should be ${failedKeys}; are ${keys}`);
      check(rows.slice(1).every((r) => r[actionCol] === 'failed'), 'every exported row should have action failed');
      console.log(`# xlsx header: ${rows[0].join(' | ')}`);
    });

    await step('the .csv export has the same header and rows', async () => {
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-test="export-csv"]')]);
      const file = path.join(opts.artifacts, 'export-failed.csv');
      await download.saveAs(file);
      const lines = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l.length);
      check(lines.length === 1 + failedKeys.length, `the CSV should have a header and ${failedKeys.length} lines; has ${lines.length}`);
      check(lines[0].startsWith(EXPORT_COLUMNS.join(',')), `the CSV header should start with the documented columns; is ${lines[0]}`);
      for (const k of failedKeys) check(lines.some((l) => l.includes(k)), `the CSV should hold record ${k}`);
    });

    // ---- mappings (tests/browser/lib/mapping_steps.mjs): view, edit, preview, revert ----
    await (await import('./lib/mapping_steps.mjs')).run(page, { base, step, check, until, snap, process: PROCESS_CUSTOMERS });

    // ---- replay ----
    await step('after customer 4 is synced, replaying order 1004 from the failed records page succeeds', async () => {
      appendCustomerFour(shop);
      await page.click('[data-test="nav-processes"]');
      await row(PROCESS_CUSTOMERS).waitFor();
      await runNow(PROCESS_CUSTOMERS);
      check(await count(row(PROCESS_CUSTOMERS).locator('[data-test="last-run"]'), 'created') === 1, 'the customers run should create customer 4');

      await page.click('[data-test="nav-failed"]');
      await page.locator('[data-test="failed-table"]').waitFor();
      await page.selectOption('[data-test="failed-process"]', PROCESS_ORDERS);
      await until('the 3 failed orders', async () => {
        const keys = await page.locator('tr[data-test="failed-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.sourceKey).sort());
        return JSON.stringify(keys) === JSON.stringify(failedKeys);
      });
      check(await page.locator('[data-test="replay-selected"]').isDisabled(), '"Replay selected" should wait for a selection');
      await page.locator(`tr[data-source-key="${MISSING_CUSTOMER_KEY}"] [data-test="select-record"]`).check();
      check(/1 selected/.test(await page.locator('[data-test="replay-selected"]').innerText()), 'the replay button should count 1 selected');
      await snap('failed-selected');
      await page.click('[data-test="replay-selected"]');
      await until(`order ${MISSING_CUSTOMER_KEY} to leave the failed queue`, async () => {
        const keys = await page.locator('tr[data-test="failed-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.sourceKey).sort());
        return JSON.stringify(keys) === JSON.stringify([...BAD_NUMBER_KEYS].sort());
      }, { timeout: 30000 });
      const notice = await page.locator('[data-test="flash-info"]').innerText();
      check(/Replay finished/.test(notice) && /1 written/.test(notice), `the page should say the replay finished and wrote 1 record; says "${notice}"`);
      const q = await apiGet(`/api/processes/${PROCESS_ORDERS}/failed`);
      check(q.items.length === 2 && !q.items.some((f) => f.source_key === MISSING_CUSTOMER_KEY), `the API's failed queue should hold ${BAD_NUMBER_KEYS}; holds ${q.items.map((f) => f.source_key)}`);
      await snap('failed-after-replay');
    });

    await step('"Check against the target" finds the orders ledger and the target in agreement', async () => {
      await page.click('[data-test="reconcile-start"]');
      const result = page.locator('[data-test="reconcile-result"]');
      await until('the reconciliation to finish', async () => (await result.getAttribute('data-status')) !== null, { timeout: 30000 });
      const status = await result.getAttribute('data-status');
      check(status === 'clean', `the orders process should reconcile clean; shows ${status}: ${await result.innerText()}`);
      check(/ledger entries/.test(await result.innerText()), 'the result should say how much it checked');
      await snap('reconcile-clean');
    });

    await step('the replay shows in the run history as a run with trigger "replay" that created 1 record', async () => {
      await page.click('[data-test="nav-runs"]');
      await page.locator('[data-test="runs-table"]').waitFor();
      await page.selectOption('[data-test="filter-process"]', PROCESS_ORDERS);
      await page.click('[data-test="filter-apply"]');
      await until('the orders runs only', async () => {
        const procs = await page.locator('tr[data-test="run-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.process));
        return procs.length >= 2 && procs.every((p) => p === PROCESS_ORDERS);
      });
      const newest = page.locator('tr[data-test="run-row"]').first();
      const cells = await newest.locator('td').allInnerTexts();
      check(cells[2] === 'replay', `the newest orders run should have trigger replay; row reads ${cells.join(' | ')}`);
      check(await count(newest, 'created') === 1, 'the replay run should count 1 created');
      const bars = await page.locator('[data-test="runs-chart"] a[data-run-id]').count();
      const rowsShown = await page.locator('tr[data-test="run-row"]').count();
      check(bars === rowsShown, `the chart should have one bar per run listed (${rowsShown}); has ${bars}`);
      await snap('run-history');
    });

    // ---- the other pages ----
    await step('connections show secrets masked; an admin tests one that works and one that fails', async () => {
      await page.click('[data-test="nav-connections"]');
      const shopRow = page.locator('tr[data-connection="shop"]');
      await shopRow.waitFor();
      const token = page.locator('tr[data-connection="webshop"] [data-setting="access_token"]');
      check((await token.innerText()).trim() === '••••••', `the shopify token should show as ••••••; shows "${await token.innerText()}"`);
      check(!(await page.content()).includes(SECRET_VALUE), 'the secret token must not be anywhere in the page');
      const raw = await (await page.request.get(`${base}/api/connections`)).text();
      check(!raw.includes(SECRET_VALUE), 'GET /api/connections must not contain the secret token');

      await shopRow.locator('[data-test="test-connection"]').click();
      const result = shopRow.locator('[data-test="test-result"]');
      await until('a test result for shop', async () => (await result.getAttribute('data-ok')) !== null);
      check((await result.getAttribute('data-ok')) === 'true', `testing connection shop should succeed; shows "${await result.innerText()}"`);

      const webshop = page.locator('tr[data-connection="webshop"]');
      await webshop.locator('[data-test="test-connection"]').click();
      const bad = webshop.locator('[data-test="test-result"]');
      await until('a test result for webshop', async () => (await bad.getAttribute('data-ok')) !== null, { timeout: 60000 });
      const badText = await bad.innerText();
      check((await bad.getAttribute('data-ok')) === 'false' && /Failed/.test(badText), `testing webshop (nothing listens) should fail with a message; shows "${badText}"`);
      check(!badText.includes(SECRET_VALUE), 'the failed test must not show the token');
      await snap('connections');
      // Settings labelled in words, not raw keys.
      const labels = await page.locator('tr[data-connection="webshop"] dt').allInnerTexts();
      check(labels.includes('Access token') && !labels.includes('access_token'), `settings should be labelled in words; are ${labels.join(', ')}`);
      await actionsFitPhone('[data-test="test-connection"]', '"Test" button');
    });

    await step('an admin creates a Shopify connection in the form, tests it, and its token never comes back', async () => {
      // The Shopify sandbox on a free port; it accepts the token "shpat_sandbox".
      const TOKEN = 'shpat_sandbox';
      const shopPort = await freePort();
      const sandbox = spawn(opts.plexus, ['sandbox', '--only', 'shopify', '--port', `shopify=${shopPort}`], { stdio: 'ignore' });
      try {
        await until('the Shopify sandbox', async () => {
          const r = await fetch(`http://127.0.0.1:${shopPort}/admin/api/2024-04/shop.json`).catch(() => null);
          return r && r.status === 401;
        });
        await page.click('[data-test="nav-connections"]');
        await page.click('[data-test="new-connection"]');
        await page.fill('[data-test="connection-id"]', 'shop-portal');
        await page.selectOption('[data-test="connection-connector"]', 'shopify');
        const token = page.locator('[data-setting-input="access_token"]');
        await token.waitFor();
        check((await token.getAttribute('type')) === 'password', 'a secret setting should be a password field');
        await page.fill('[data-setting-input="store_domain"]', 'plexus-sandbox.myshopify.com');
        await page.fill('[data-setting-input="base_url"]', `http://127.0.0.1:${shopPort}`);
        await page.fill('[data-setting-input="location_id"]', '');
        // Without the token: the error is shown at the field.
        await page.click('[data-test="connection-save"]');
        const fieldError = page.locator('[data-error-field="settings.access_token"]');
        await fieldError.waitFor();
        await snap('connection-form-error');
        // Test before save: the form's values, nothing stored yet.
        await token.fill('shpat_WRONG_before_save');
        await page.click('[data-test="connection-try"]');
        const tried = page.locator('[data-test="connection-try-result"]');
        await until('a test of the unsaved form', async () => (await tried.getAttribute('data-ok')) !== null);
        check((await tried.getAttribute('data-ok')) === 'false', `the wrong token should fail the test; shows "${await tried.innerText()}"`);
        check(!(await page.content()).includes('shpat_WRONG_before_save') || (await token.inputValue()) === 'shpat_WRONG_before_save',
          'the typed token may stay in its field, but nowhere else in the page');
        check(!(await tried.innerText()).includes('shpat_WRONG_before_save'), 'the test result must not echo the token');
        await token.fill(TOKEN);
        await page.click('[data-test="connection-try"]');
        await until('a passing test of the unsaved form', async () => (await tried.getAttribute('data-ok')) === 'true');
        check((await (await page.request.get(`${base}/api/connections/shop-portal`)).status()) === 404, 'testing must not save the connection');
        await snap('connection-test-before-save');
        await page.click('[data-test="connection-save"]');
        const row = page.locator('tr[data-connection="shop-portal"]');
        await row.waitFor();
        const shown = await row.locator('[data-setting="access_token"]').innerText();
        check(shown.trim() === '••••••', `the stored token should show as ••••••; shows "${shown}"`);
        await row.locator('[data-test="test-connection"]').click();
        const result = row.locator('[data-test="test-result"]');
        await until('a test result for shop-portal', async () => (await result.getAttribute('data-ok')) !== null);
        check((await result.getAttribute('data-ok')) === 'true', `testing shop-portal should succeed; shows "${await result.innerText()}"`);
        // Edit: the token field comes back empty (write-only) and saving keeps the stored one.
        await row.locator('[data-test="edit-connection"]').click();
        const again = page.locator('[data-setting-input="access_token"]');
        await again.waitFor();
        check((await again.inputValue()) === '', 'the token must not come back into the edit form');
        check(/stored/.test(await again.getAttribute('placeholder') || ''), 'the empty token field should say the stored one is kept');
        await page.fill('[data-test="connection-display-name"]', 'Shop from the portal');
        await page.click('[data-test="connection-save"]');
        await page.locator('tr[data-connection="shop-portal"]', { hasText: 'Shop from the portal' }).waitFor();
        const row2 = page.locator('tr[data-connection="shop-portal"]');
        await row2.locator('[data-test="test-connection"]').click();
        const result2 = row2.locator('[data-test="test-result"]');
        await until('a second test result', async () => (await result2.getAttribute('data-ok')) !== null);
        check((await result2.getAttribute('data-ok')) === 'true', 'after an edit without the token the test should still pass');
        check(!(await page.content()).includes(TOKEN), 'the token must not be anywhere in the page');
        const raw = await (await page.request.get(`${base}/api/connections`)).text();
        check(!raw.includes(TOKEN), 'GET /api/connections must not contain the token');
        const audit = await (await page.request.get(`${base}/api/audit?limit=500`)).text();
        check(audit.includes('connection.create') && !audit.includes(TOKEN), 'the creation is audited without the token');
        // Nor the database, in clear.
        let bytes = fs.readFileSync(path.join(dataDir, 'plexus.db'));
        const wal = path.join(dataDir, 'plexus.db-wal');
        if (fs.existsSync(wal)) bytes = Buffer.concat([bytes, fs.readFileSync(wal)]);
        check(!bytes.includes(Buffer.from(TOKEN)), 'the database file must not hold the token in clear');
        await snap('connection-created');
      } finally {
        sandbox.kill('SIGTERM');
      }
    });

    await step('support staff look a voucher\'s balance up through an e-guma connection', async () => {
      // The e-guma sandbox on a free port; an admin connects it in the portal.
      const egPort = await freePort();
      const sandbox = spawn(opts.plexus, ['sandbox', '--only', 'eguma', '--port', `eguma=${egPort}`], { stdio: 'ignore' });
      try {
        await until('the e-guma sandbox', async () => {
          const r = await fetch(`http://127.0.0.1:${egPort}/_sandbox/health`).catch(() => null);
          return r && r.ok;
        });
        await page.click('[data-test="nav-connections"]');
        await page.click('[data-test="new-connection"]');
        await page.fill('[data-test="connection-id"]', 'vouchers');
        await page.selectOption('[data-test="connection-connector"]', 'eguma');
        await page.locator('[data-setting-input="api_key"]').waitFor();
        await page.fill('[data-setting-input="api_key"]', 'eguma-sandbox-outlet-1');
        await page.fill('[data-setting-input="base_url"]', `http://127.0.0.1:${egPort}`);
        await page.click('[data-test="connection-save"]');
        await page.locator('tr[data-connection="vouchers"]').waitFor();
        // A support user: the Look up button, a voucher code typed with dashes.
        const ctx3 = await browser.newContext({ viewport: PHONE });
        const p3 = await ctx3.newPage();
        p3.on('pageerror', (e) => pageErrors.push(`(support) ${e.message}`));
        await p3.goto(`${base}/`);
        await p3.fill('#login-name', SUPPORT.name);
        await p3.fill('#login-password', SUPPORT.password);
        await p3.click('[data-test="login-submit"]');
        await p3.locator('tr[data-test="process-row"]').first().waitFor();
        await p3.goto(`${base}/#/connections`);
        const lookup = p3.locator('tr[data-connection="vouchers"] [data-test="lookup-connection"]');
        await lookup.waitFor();
        check(await p3.locator('[data-test="test-connection"]').count() === 0, 'support should not see "Test"');
        const box = await lookup.boundingBox();
        check(box && box.x >= 0 && box.x + box.width <= PHONE.width, `"Look up" should be on screen at ${PHONE.width} px`);
        await lookup.click();
        await p3.selectOption('[data-test="lookup-entity"]', 'voucher_balance');
        await p3.fill('[data-test="lookup-key"]', 'L4FU-5LQT-KJR3');
        await p3.click('[data-test="lookup-go"]');
        const result = p3.locator('[data-test="lookup-result"]');
        await until('an answer to the look-up', async () => (await result.getAttribute('data-found')) !== null);
        await p3.screenshot({ path: path.join(opts.artifacts, 'lookup-voucher-phone.png'), fullPage: true });
        const text = await result.innerText();
        check((await result.getAttribute('data-found')) === 'true', `the voucher should be found; the page says "${text}"`);
        check(/Balance\s+400\.00/.test(text) && /Is redeemable\s+yes/.test(text), `the look-up should show balance 400.00, redeemable; shows "${text}"`);
        await p3.fill('[data-test="lookup-key"]', 'AAAA-BBBB-CCCC');
        await p3.click('[data-test="lookup-go"]');
        await until('"not found"', async () => (await result.getAttribute('data-found')) === 'false');
        check(/no voucher_balance/.test(await result.innerText()), `an unknown voucher should say so; shows "${await result.innerText()}"`);
        check(!(await p3.content()).includes('eguma-sandbox-outlet-1'), 'the API key must not reach the page');
        await ctx3.close();
      } finally {
        // Gone before the next steps: a later step tests this connection against a stopped
        // sandbox. After SIGTERM the sandbox still answers a connection kept alive (serve's)
        // until its keep-alive ends, so wait for the process to exit (SIGKILL after 10 s).
        if (sandbox.exitCode === null && sandbox.signalCode === null) {
          const exited = new Promise((resolve) => sandbox.once('exit', resolve));
          sandbox.kill('SIGTERM');
          const timer = setTimeout(() => sandbox.kill('SIGKILL'), 10000);
          await exited;
          clearTimeout(timer);
        }
      }
    });

    await step('the inbox lists the Shopify connection, which takes no webhooks without its secret', async () => {
      await page.click('[data-test="nav-inbox"]');
      const row = page.locator('tr[data-test="inbox-row"][data-connection="webshop"]');
      await row.waitFor();
      check(/no secret set/.test(await row.innerText()), `webshop should show "no secret set"; shows "${await row.innerText()}"`);
      check(!(await page.content()).includes(SECRET_VALUE), 'the secret token must not be anywhere in the inbox page');
      // The events table gives each event a row and a detail row under it (an array per
      // event): the table helper must label cells of such rows, not throw.
      const label = await page.evaluate(async () => {
        const ui = await import('/js/ui.js');
        try {
          const t = ui.table([{ label: 'Seq' }], [[ui.h('tr', null, ui.h('td', null, '1')), ui.h('tr', null, ui.h('td', null, 'body'))]]);
          return t.querySelector('td').dataset.label;
        } catch (e) { return `threw: ${e.message}`; }
      });
      check(label === 'Seq', `a table of events (row + detail row) should label its cells; got ${label}`);
      await snap('inbox');
    });

    await step('plugins list the files connector', async () => {
      await page.click('[data-test="nav-plugins"]');
      await page.locator('tr[data-plugin="files"]').waitFor();
      // The interface version only under a details toggle.
      check(!(await page.locator('main').innerText()).includes('ABI'), 'the plugins page should not show "ABI" until details are opened');
      await page.locator('tr[data-plugin="files"] [data-test="plugin-details"] summary').click();
      check((await page.locator('tr[data-plugin="files"]').innerText()).includes('ABI'), 'the details should show the interface (ABI) version');
      await snap('plugins');
    });

    await step('an admin adds a user on the Users page', async () => {
      await page.click('[data-test="nav-users"]');
      await page.locator('[data-test="users-table"]').waitFor();
      await page.fill('[data-test="new-user-name"]', 'victor');
      await page.fill('[data-test="new-user-password"]', 'short');
      await page.click('[data-test="new-user-add"]');
      // The browser's own check (minlength) or the server's 400 must stop a short password.
      await page.waitForTimeout(300);
      check(await page.locator('tr[data-user="victor"]').count() === 0, 'a 5-character password should be refused');
      await page.fill('[data-test="new-user-password"]', 'victor-password-1');
      await page.selectOption('[data-test="new-user-role"]', 'operator');
      await page.click('[data-test="new-user-add"]');
      await page.locator('tr[data-user="victor"]').waitFor();
      check(await page.locator('tr[data-user="victor"] [data-test="user-role"]').inputValue() === 'operator', 'victor should be listed as operator');
      check(await page.locator(`tr[data-user="${ADMIN.name}"] [data-test="user-delete"]`).count() === 0, 'an admin should not be offered to delete themselves');
      await snap('users');
    });

    // The dialogs of ui.js's formDialog beside the schedule picker's: Cancel hands the focus
    // back to the button that opened it, Save does the change and closes.
    async function cancelGivesFocusBack(button, dialog, what) {
      await button.click();
      await dialog.waitFor();
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await dialog.waitFor({ state: 'hidden' });
      check(await button.evaluate((b) => b === document.activeElement), `closing ${what} should give the focus back to its button`);
    }

    await step('"Set password…" changes a user\'s password: the new one logs in, the old one no more', async () => {
      const button = page.locator('tr[data-user="victor"] [data-test="user-password"]');
      const dialog = page.locator('dialog[aria-label="Set password"]');
      await cancelGivesFocusBack(button, dialog, 'the password dialog');
      await button.click();
      await page.fill('[data-test="set-password"]', 'victor-password-2');
      await page.click('[data-test="set-password-save"]');
      await dialog.waitFor({ state: 'hidden' });
      check((await page.locator('[data-test="flash-info"]').innerText()).includes('Password of victor changed'), 'the page should say the password changed');
      const login = async (password) => (await fetch(`${base}/api/login`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'victor', password }),
      })).status;
      check(await login('victor-password-2') === 200, 'victor should log in with the new password');
      check(await login('victor-password-1') === 401, 'the old password should be refused');
    });

    await step('"Read again…" rewinds a process from a time given in the browser\'s zone, audited', async () => {
      await page.click('[data-test="nav-processes"]');
      await page.locator('[data-test="processes-table"]').waitFor();
      const button = row(PROCESS_BULK).locator('[data-test="rewind"]');
      const dialog = page.locator('[data-test="rewind-dialog"]');
      await cancelGivesFocusBack(button, dialog, 'the rewind dialog');
      await button.click();
      await page.fill('[data-test="rewind-to"]', '2024-05-01T10:00:00');
      await page.click('[data-test="rewind-save"]');
      await dialog.waitFor({ state: 'hidden' });
      const want = (await page.evaluate(() => new Date('2024-05-01T10:00:00').toISOString())).replace(/\.\d{3}Z$/, 'Z');
      check((await page.locator('[data-test="flash-info"]').innerText()).includes(`reads again from ${want}`), `the page should say the next run reads again from ${want}`);
      const audit = (await apiGet('/api/audit?limit=20')).items;
      const entry = audit.find((a) => a.action === 'cursor.rewind' && a.subject === PROCESS_BULK);
      check(entry && JSON.stringify(entry.detail).includes(want), `the audit log should hold the rewind of ${PROCESS_BULK} to ${want}; has ${JSON.stringify(audit.slice(0, 3))}`);
      await snap('rewound');
    });

    await step('the audit log records what was done', async () => {
      await page.click('[data-test="nav-audit"]');
      await page.locator('[data-test="audit-table"]').waitFor();
      const actions = await page.locator('tr[data-test="audit-row"]').evaluateAll((rows) => rows.map((r) => r.dataset.action));
      for (const a of ['process.disable', 'process.enable', 'process.schedule', 'process.run', 'process.replay', 'logs.export', 'user.add', 'connection.test']) {
        check(actions.includes(a), `the audit log should contain ${a}; has ${[...new Set(actions)].join(', ')}`);
      }
      await snap('audit');
    });

    // ---- a support user sees no actions ----
    // ---- attention and notifications (tests/browser/lib/attention_steps.mjs) ----
    await (await import('./lib/attention_steps.mjs')).run(page, { base, step, snap, check, until, apiGet });

    await step('a support user sees the processes but no actions and no Users page', async () => {
      const ctx2 = await browser.newContext({ viewport: DESKTOP });
      const p2 = await ctx2.newPage();
      p2.on('pageerror', (e) => pageErrors.push(`(support) ${e.message}`));
      await p2.goto(`${base}/`);
      await p2.fill('#login-name', SUPPORT.name);
      await p2.fill('#login-password', SUPPORT.password);
      await p2.click('[data-test="login-submit"]');
      await p2.locator('tr[data-test="process-row"]').first().waitFor();
      check(await p2.locator('[data-test="run-now"]').count() === 0, 'support should not see "Run now"');
      check(await p2.locator('[data-test="enabled-toggle"]').count() === 0, 'support should not see the enabled switches');
      check(await p2.locator('[data-test="nav-users"]').isHidden(), 'support should not see the Users page');
      await snap('support-processes', p2);
      await p2.goto(`${base}/#/failed/${PROCESS_ORDERS}`);
      await p2.locator('[data-test="failed-table"]').waitFor();
      check(await p2.locator('[data-test="replay-selected"], [data-test="replay-all"], [data-test="select-record"]').count() === 0, 'support should not see replay controls');
      await ctx2.close();
    });

    // ---- log out ----
    await step('logging out ends the session', async () => {
      await page.click('[data-test="nav-processes"]');
      await page.locator('[data-test="processes-table"]').waitFor();
      await snap('before-logout');
      await page.setViewportSize(PHONE);
      await page.click('[data-test="menu"]');
      await page.click('[data-test="logout"]');
      await page.locator('[data-test="login-form"]').waitFor();
      await page.setViewportSize(DESKTOP);
      const res = await page.request.get(`${base}/api/session`);
      check(res.status() === 401, `GET /api/session after logout should be 401; is ${res.status()}`);
      await snap('logged-out');
    });

    await (await import('./lib/failed_steps.mjs')).run(page, { base, step, snap, check, until, apiGet, artifacts: opts.artifacts, login: ADMIN, process: PROCESS_ORDERS, secret: SECRET_VALUE });

    return session.succeeded();
  } catch (e) {
    return session.failed(e, server && serveLog);
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopServe(server).catch(() => {});
    if (!opts.keep) fs.rmSync(tmp, { recursive: true, force: true });
    else console.log(`# kept ${tmp}`);
  }
}

main().then((code) => process.exit(code), (e) => {
  console.error(`portal browser test: ${e.message}`);
  process.exit(1);
});
