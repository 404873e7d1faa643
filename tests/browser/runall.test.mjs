// Browser acceptance of issue 13's "Run all in order on a fresh demo gives zero dependency
// failures": the demo's six sandboxes (`plexus sandbox`, every one on a free loopback port),
// a fresh data directory, and `plexus serve` with config/demo.json's processes, dependencies
// and mappings unchanged (only the sandboxes' addresses, a free webhook port and no start-up
// pass, so that the button does the work). In Chromium: log in, click "Run all in order" on
// the Processes page, watch it (screenshot while it runs), wait until every member ended
// (bounded), and check through the page and the API that every enabled process ran once, no
// run failed, each started only after the runs of its prerequisites (`dependencies` and
// ref()) had ended, disabled ones did not run, and no record failed for a missing
// dependency. Run it through runall.sh.
//
//   node runall.test.mjs --plexus PATH [--size demo|small] [--plugin-dir DIR] [--artifacts DIR] [--keep]
//
// Volumes, every rate limit the sandboxes' real one:
// - `--size small` (ctest's "browser: run all in order"): `plexus sandbox --size small`, a
//   few records of each kind in every sandbox, cross-references kept (Intacct: 8 items, 10
//   customers, 8 invoices billing Shopify's orders #1001 … #1008; Go: 20 products; Gomag:
//   12 products). The first sync takes about a minute.
// - `--size demo` (the default; `make acceptance-runall`): the demo's own seeds, only the
//   Shopify store reseeded smaller through its seed route (POST /_sandbox/shopify {"seed":
//   …}); Intacct keeps 150 items, 200 customers and 150 invoices, Go 1200 customers and 700
//   products, Gomag 250 products. That first sync lasts 15 minutes and more.
// What each costs in time: docs/performance.md, "Run all in order on a fresh demo".

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { addUser, freePort, makeTempDir, startServe, stopServe, tail } from './lib/fixture.mjs';
import { Session, apiGetter, check, clearArtifacts, parseArgs, until } from './lib/kit.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const DEMO_CONFIG = path.resolve(here, '../../config/demo.json');
const SANDBOXES = ['shopify', 'intacct', 'eguma', 'opera', 'poweroffice_go', 'gomag'];
// config/demo.json names the sandboxes by their demo ports (scripts/demo); the test never
// binds those, it points the configuration at the free ports its sandboxes got.
const DEMO_PORTS = { 8081: 'shopify', 8082: 'intacct', 8083: 'eguma', 8084: 'opera', 8085: 'poweroffice_go', 8086: 'gomag' };
// The sandboxes' credentials, as scripts/demo exports them.
const CREDENTIALS = {
  SHOPIFY_TOKEN: 'shpat_sandbox',
  INTACCT_SENDER_PASSWORD: 'sandbox_sender_pw',
  INTACCT_USER_PASSWORD: 'sandbox_pw',
  EGUMA_API_KEY: 'eguma-sandbox-outlet-1',
  EGUMA_WEBHOOK_SECRET: 'runall-eguma-webhook-secret',
  SHOPIFY_WEBHOOK_SECRET: 'runall-shopify-webhook-secret',
  OPERA_CLIENT_SECRET: 'sandbox-client-secret',
  GO_APPLICATION_KEY: 'sandbox-application-key',
  GO_CLIENT_KEY: 'sandbox-client-key',
  GO_SUBSCRIPTION_KEY: 'sandbox-subscription-key',
  GOMAG_API_KEY: 'gomag-sandbox-key',
};
// The Shopify store's size (its seed route): few customers, a small catalogue, and the 150
// orders #1001 … #1150 that the Intacct sandbox's seeded invoices bill (fewer would fail
// those invoices as "no such order in Shopify", which is the data, not the order).
const SHOPIFY_SEED = {
  customers: Number(process.env.PLEXUS_RUNALL_SHOPIFY_CUSTOMERS || 12),
  products: Number(process.env.PLEXUS_RUNALL_SHOPIFY_PRODUCTS || 5),
  orders: Number(process.env.PLEXUS_RUNALL_SHOPIFY_ORDERS || 150),
};
// The longest the run-all may take before the test gives up (the real rate limits set the pace).
// (Default: 1500 s for the demo's seed, 300 s for the small one.)
const runAllTimeoutMs = (size) =>
  Number(process.env.PLEXUS_RUNALL_TIMEOUT_S || (size === 'small' ? 300 : 1500)) * 1000;
const ADMIN = { name: 'ann', password: 'ann-password-123', role: 'admin' };
const DESKTOP = { width: 1280, height: 900 };

const USAGE = 'runall.sh --plexus PATH [--size demo|small] [--plugin-dir DIR] [--artifacts DIR] [--keep]';

// `plexus sandbox` with every demo sandbox on a free port (--port ID=0); resolves to
// {child, urls: {id: base URL}} once each has printed its address.
async function startSandboxes(opts, logFile) {
  const args = ['sandbox', '--size', opts.size, ...SANDBOXES.flatMap((id) => ['--port', `${id}=0`])];
  const child = spawn(opts.plexus, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = fs.createWriteStream(logFile);
  child.stderr.pipe(log);
  const urls = {};
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the sandboxes did not all start within 20 s; their log:\n${tail(logFile)}`)), 20000);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`plexus sandbox exited (${code}); its log:\n${tail(logFile)}`)); });
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      log.write(`${line}\n`);
      const m = /^(\w+) sandbox: (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (m) urls[m[1]] = m[2];
      if (SANDBOXES.every((id) => urls[id])) { clearTimeout(timer); resolve(); }
    });
  });
  await ready;
  child.removeAllListeners('exit');
  return { child, urls };
}

async function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  await done;
  clearTimeout(timer);
}

// config/demo.json as it is, pointed at the test's sandboxes; no start-up pass (the button
// runs everything) and the webhook listener on a free port.
function writeConfig(dir, urls) {
  let text = fs.readFileSync(DEMO_CONFIG, 'utf8');
  for (const [port, id] of Object.entries(DEMO_PORTS)) text = text.split(`http://127.0.0.1:${port}`).join(urls[id]);
  const config = JSON.parse(text);
  check(!/127\.0\.0\.1:808\d/.test(JSON.stringify(config.connections)), 'every demo address should point at a test sandbox');
  config.hooks = { ...(config.hooks || {}), listen: '127.0.0.1:0' };
  config.serve = { ...(config.serve || {}), run_at_start: 'none' };
  const file = path.join(dir, 'demo-runall.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 1));
  return { file, config };
}

// What each process must wait for, read from the configuration as the hub reads it: its
// `dependencies` and the processes its mapping names in ref().
function prerequisitesOf(config) {
  const ids = new Set(config.processes.map((p) => p.id));
  const out = {};
  for (const p of config.processes) {
    const names = new Set((p.dependencies || []).map((d) => d.process));
    for (const m of JSON.stringify(p.mapping || {}).matchAll(/ref\(\\"([^"\\]+)\\"/g)) names.add(m[1]);
    out[p.id] = [...names].filter((n) => n !== p.id && ids.has(n));
  }
  return out;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2), {
    artifacts: path.join(here, 'artifacts', 'runall'),
    usage: USAGE,
    defaults: { size: process.env.PLEXUS_RUNALL_SIZE || 'demo' },
    extra: { '--size': (o, v) => { o.size = v; } },
  });
  if (opts.size !== 'demo' && opts.size !== 'small') throw new Error(`--size ${opts.size}: the sizes are demo and small`);
  clearArtifacts(opts.artifacts, /\.(png|log|json)$/);
  Object.assign(process.env, CREDENTIALS); // plexus serve inherits them
  const tmp = makeTempDir();
  const dataDir = path.join(tmp, 'data');
  fs.mkdirSync(dataDir);
  const serveLog = path.join(opts.artifacts, 'serve.log');
  const sandboxLog = path.join(opts.artifacts, 'sandbox.log');
  console.log(`# plexus: ${opts.plexus}`);
  console.log(`# temporary directory: ${tmp}`);
  console.log(`# artifacts (screenshots, server and sandbox logs): ${opts.artifacts}`);

  const session = new Session(opts.artifacts, DESKTOP);
  const snap = (name) => session.snap(name);
  const step = (name, fn) => session.step(name, fn);
  let sandboxes = null;
  let server = null;
  let browser = null;
  let page = null;
  const t0 = Date.now();
  const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

  try {
    let config;
    let base;
    const seeded = opts.size === 'small' ? 'every one seeded small (--size small)' : 'the Shopify store seeded small';
    await step(`the demo's six sandboxes start on free ports, ${seeded}`, async () => {
      sandboxes = await startSandboxes(opts, sandboxLog);
      // The small size is the sandboxes' own; the demo's Shopify is reseeded through its route.
      const want = opts.size === 'small' ? { customers: 6, products: 3, orders: 8 } : SHOPIFY_SEED;
      const res = await fetch(`${sandboxes.urls.shopify}/_sandbox/shopify`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(opts.size === 'small' ? {} : { seed: SHOPIFY_SEED }),
      });
      const body = await res.json();
      check(res.ok && body.seed.customers === want.customers && body.seed.orders === want.orders,
        `the Shopify sandbox should have ${JSON.stringify(want)}; HTTP ${res.status} ${JSON.stringify(body)}`);
      check(body.rate_limit === true, 'the Shopify sandbox keeps its real rate limit');
    });
    await step('plexus serve starts on a fresh data directory with the demo\'s processes, nothing run at start', async () => {
      ({ config } = writeConfig(tmp, sandboxes.urls));
      addUser(opts, dataDir, ADMIN.name, ADMIN.role, ADMIN.password);
      const port = await freePort();
      server = await startServe(opts, { config: path.join(tmp, 'demo-runall.json'), dataDir, port, logFile: serveLog });
      base = server.base;
      console.log(`# ${opts.plexus} ${server.args.join(' ')}`);
    });

    browser = await chromium.launch({ executablePath: opts.chromium, args: ['--no-sandbox'] });
    const context = await browser.newContext({ viewport: DESKTOP });
    page = await context.newPage();
    session.watch(page);
    const apiGet = apiGetter(page, base);
    const enabled = config.processes.filter((p) => p.enabled !== false).map((p) => p.id);
    const disabled = config.processes.filter((p) => p.enabled === false).map((p) => p.id);
    const needs = prerequisitesOf(config);

    await step('an admin logs in and sees every process of the demo, none run yet', async () => {
      await page.goto(`${base}/`);
      await page.locator('[data-test="login-form"]').waitFor();
      await page.fill('#login-name', ADMIN.name);
      await page.fill('#login-password', ADMIN.password);
      await page.click('[data-test="login-submit"]');
      await page.locator('[data-test="processes-table"]').waitFor();
      await until(`${config.processes.length} process rows`,
        async () => (await page.locator('tr[data-test="process-row"]').count()) === config.processes.length);
      const runs = await apiGet('/api/runs?limit=5');
      check((runs.items || []).length === 0, `a fresh hub with run_at_start "none" should have no runs; has ${JSON.stringify(runs.items)}`);
    });

    let runAllMs = 0;
    await step('"Run all in order" starts every enabled process in dependency order', async () => {
      const started = Date.now();
      await page.locator('[data-test="run-all"]').click();
      const state = page.locator('[data-test="run-all-state"]');
      await until('the run-all to show as running', async () => /Run all in order \(by hand\): \d+ of \d+ done/.test(await state.innerText()));
      const ra = (await apiGet('/api/run-all')).run_all;
      check(ra && ra.active && ra.trigger === 'run-all', `GET /api/run-all should show the run-all going; is ${JSON.stringify(ra)}`);
      check(JSON.stringify([...ra.order].sort()) === JSON.stringify([...enabled].sort()),
        `the run-all should hold every enabled process (${enabled.join(', ')}); holds ${ra.order.join(', ')}`);
      for (const [i, id] of ra.order.entries()) {
        for (const q of needs[id]) {
          if (!enabled.includes(q)) continue;
          check(ra.order.indexOf(q) < i, `${q} should come before ${id} in the order ${ra.order.join(' → ')}`);
        }
      }
      // A dependent waits while what it needs runs: its row says so.
      const waiting = page.locator('tr[data-test="process-row"][data-process="inventory-intacct-shopify"]');
      await until('inventory to wait for products in its row', async () => /run all: (waiting for|queued|running)/.test(await waiting.innerText()));
      await snap('run-all-running');
      await until('every member of the run-all to end', async () => {
        const r = (await apiGet('/api/run-all')).run_all;
        return r && !r.active;
      }, { timeout: runAllTimeoutMs(opts.size), interval: 1000 });
      runAllMs = Date.now() - started;
      console.log(`# run all in order took ${secs(runAllMs)} (${enabled.length} processes)`);
    });

    await step('the page says every process completed, and each row shows its run', async () => {
      const state = page.locator('[data-test="run-all-state"]');
      await until('the run-all to show as finished', async () => /Last run all in order \(by hand\) finished/.test(await state.innerText()), { timeout: 5000 });
      const text = await state.innerText();
      check(text.includes(`${enabled.length} of ${enabled.length} completed`),
        `the page should say ${enabled.length} of ${enabled.length} completed; says "${text}"`);
      for (const id of enabled) {
        const last = page.locator(`tr[data-test="process-row"][data-process="${id}"] [data-test="last-run"]`);
        await until(`${id}'s row to show a finished run`, async () => {
          const s = await last.getAttribute('data-status');
          return s && s !== 'running';
        }, { timeout: 5000 });
      }
      await snap('run-all-finished');
    });

    await step('through the API: the run-all ran every enabled process once, each after its prerequisites; no run failed; disabled ones did not run', async () => {
      const ra = (await apiGet('/api/run-all')).run_all;
      check(Object.keys(ra.not_succeeded).length === 0, `no member should have failed or been left out; not_succeeded: ${JSON.stringify(ra.not_succeeded)}`);
      check(ra.succeeded.length === enabled.length, `all ${enabled.length} should have completed; ${ra.succeeded.length} did`);
      const runs = {};
      const problems = [];
      for (const id of config.processes.map((p) => p.id)) {
        const items = (await apiGet(`/api/runs?process=${encodeURIComponent(id)}&limit=10`)).items || [];
        runs[id] = items;
        if (disabled.includes(id)) {
          if (items.length) problems.push(`${id} is disabled but ran ${items.length} time(s)`);
          continue;
        }
        // Once by the run-all; a schedule may run a process again once the run-all is done
        // with it (its due times before that are left to the run-all).
        const byRunAll = items.filter((r) => r.trigger === 'run-all');
        if (byRunAll.length !== 1) problems.push(`${id} should have been run once by the run-all; was ${byRunAll.length} time(s)`);
        for (const r of items) {
          if (!['succeeded', 'succeeded_with_failures'].includes(r.status)) problems.push(`${id}: run ${r.id} (${r.trigger}) ended ${r.status}: ${r.message}`);
        }
        runs[id] = byRunAll;
        const first = items[items.length - 1];
        if (first && first.trigger !== 'run-all') problems.push(`${id}: its first run ${first.id} was started by ${first.trigger}, before the run-all's`);
      }
      check(!problems.length, problems.join('\n'));
      for (const id of enabled) {
        const mine = runs[id][0];
        for (const q of needs[id]) {
          if (!enabled.includes(q)) continue;
          const theirs = runs[q][0];
          check(Date.parse(theirs.finished) <= Date.parse(mine.started),
            `${id} started at ${mine.started}, before its prerequisite ${q} finished at ${theirs.finished}`);
        }
      }
      fs.writeFileSync(path.join(opts.artifacts, 'runs.json'), JSON.stringify(runs, null, 1));
    });

    await step('no record failed for a missing dependency (and the failed ones are listed)', async () => {
      const byDependency = (await apiGet('/api/outcomes?action=failed&error_class=dependency&limit=20')).items || [];
      const notSynced = (await apiGet(`/api/outcomes?action=failed&text=${encodeURIComponent('has not been synced')}&limit=20`)).items || [];
      const show = (items) => items.map((o) => `${o.process} ${o.source_key}: ${o.message}`).join('\n  ');
      check(byDependency.length === 0, `records failed for a missing dependency:\n  ${show(byDependency)}`);
      check(notSynced.length === 0, `records failed because a ref() found nothing synced yet:\n  ${show(notSynced)}`);
      // Other failures are not about order; each is reported here (runs.json has the counts).
      const failed = (await apiGet('/api/outcomes?action=failed&limit=200')).items || [];
      const reasons = {};
      for (const o of failed) {
        const k = `${o.process} [${o.error_class}] ${o.message.replace(/\d+/g, 'N').slice(0, 160)}`;
        reasons[k] = (reasons[k] || 0) + 1;
      }
      for (const [k, n] of Object.entries(reasons)) console.log(`# failed record (not order): ${n} × ${k}`);
      fs.writeFileSync(path.join(opts.artifacts, 'failed-records.json'), JSON.stringify(failed, null, 1));
    });

    console.log(`# whole test: ${secs(Date.now() - t0)}; run all in order: ${secs(runAllMs)}`);
    return session.succeeded();
  } catch (e) {
    return session.failed(e, server && serveLog);
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopServe(server).catch(() => {});
    await stopChild(sandboxes && sandboxes.child).catch(() => {});
    if (!opts.keep) fs.rmSync(tmp, { recursive: true, force: true });
    else console.log(`# kept ${tmp}`);
  }
}

main().then((code) => process.exit(code), (e) => {
  console.error(`run-all browser test: ${e.message}`);
  process.exit(1);
});
