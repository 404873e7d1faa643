// The world the browser test runs in: a temporary directory with a shop's JSON Lines
// export, a configuration using the files connector, users made with `plexus users add`,
// and `plexus serve` on a free loopback port.
//
// The data is chosen so that the portal has something to show, filter and replay:
//   orders 1001…1008; 1003 and 1007 carry total "n/a", which number() refuses (mapping
//   error, fails again on every replay); 1004 belongs to customer 4, whom the customers
//   process has not synced yet, so ref() fails it until customer 4 is added to the shop's
//   file and synced: then a replay of 1004 succeeds.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const PROCESS_CUSTOMERS = 'customers-shop-backoffice';
export const PROCESS_ORDERS = 'orders-shop-backoffice';
export const PROCESS_BULK = 'bulk-items';
export const ORDER_KEYS = ['1001', '1002', '1003', '1004', '1005', '1006', '1007', '1008'];
export const BAD_NUMBER_KEYS = ['1003', '1007'];
export const MISSING_CUSTOMER_KEY = '1004';
// The shopify connection's token comes from this environment variable; the portal must
// never show its value.
export const SECRET_ENV = 'PLEXUS_BROWSER_SHOP_TOKEN';
export const SECRET_VALUE = 'shpat_browser_test_secret_4711';
// Enough records for a run that lasts a few seconds, so that its progress can be watched.
export const BULK_RECORDS = Number(process.env.PLEXUS_BROWSER_BULK || 60000);

const jsonl = (records) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

function customer(id) {
  return { id, name: ` Customer ${id} `, email: `c${id}@example.com`, updated_at: `2026-05-01T08:0${id}:00Z` };
}

export function customerFour() {
  return { id: 4, name: 'Customer 4', email: 'c4@example.com', updated_at: '2026-05-02T09:00:00Z' };
}

function orders() {
  return ORDER_KEYS.map((key, i) => ({
    id: Number(key),
    customer_id: key === MISSING_CUSTOMER_KEY ? 4 : (i % 3) + 1,
    total: BAD_NUMBER_KEYS.includes(key) ? 'n/a' : `${(19.5 + i * 10).toFixed(2)}`,
    created_at: `2026-05-01T10:${String(i).padStart(2, '0')}:00Z`,
    updated_at: `2026-05-01T10:${String(i).padStart(2, '0')}:00Z`,
  }));
}

function bulkItems(n) {
  const lines = [];
  for (let i = 1; i <= n; i++) {
    const id = String(i).padStart(7, '0');
    lines.push(JSON.stringify({ id, sku: `sku-${id}`, qty: i % 7, updated_at: '2026-05-01T00:00:00Z' }));
  }
  return lines.join('\n') + '\n';
}

export function writeConfig(dir) {
  const shop = path.join(dir, 'shop');
  const backoffice = path.join(dir, 'backoffice');
  fs.mkdirSync(shop, { recursive: true });
  fs.mkdirSync(backoffice, { recursive: true });
  fs.writeFileSync(path.join(shop, 'customers.jsonl'), jsonl([1, 2, 3].map(customer)));
  fs.writeFileSync(path.join(shop, 'orders.jsonl'), jsonl(orders()));
  fs.writeFileSync(path.join(shop, 'items.jsonl'), bulkItems(BULK_RECORDS));

  const config = {
    _comment: 'Written by tests/browser/run.sh for the portal browser test.',
    connections: {
      shop: {
        connector: 'files',
        settings: {
          directory: shop,
          entities: {
            customers: { path: 'customers.jsonl', key: 'id', cursor: 'updated_at' },
            orders: { path: 'orders.jsonl', key: 'id', cursor: 'updated_at' },
            items: { path: 'items.jsonl', key: 'id', cursor: 'updated_at' },
          },
        },
      },
      webshop: {
        connector: 'shopify',
        settings: {
          store_domain: 'plexus-browser-test.myshopify.com',
          access_token: `\${${SECRET_ENV}}`,
          base_url: 'http://127.0.0.1:9',
        },
      },
      backoffice: {
        connector: 'files',
        settings: {
          directory: backoffice,
          entities: {
            customers: { path: 'customers.jsonl', key: 'customer_id' },
            sales_orders: { path: 'sales_orders.jsonl', key: 'reference' },
            items: { path: 'items.jsonl', key: 'item' },
          },
        },
      },
    },
    // The test starts every run itself (a first sync at start would race its "Run now" clicks).
    serve: { run_at_start: 'none' },
    processes: [
      {
        id: PROCESS_CUSTOMERS,
        name: 'Customers Shop→Back office',
        source: { connection: 'shop', entity: 'customers' },
        target: { connection: 'backoffice', entity: 'customers' },
        mapping: { customer_id: 'concat("C-", id)', name: 'trim(name)', email: 'lower(email)' },
      },
      {
        id: PROCESS_ORDERS,
        name: 'Orders Shop→Back office',
        source: { connection: 'shop', entity: 'orders' },
        target: { connection: 'backoffice', entity: 'sales_orders' },
        mapping: {
          reference: 'concat("SO-", id)',
          customer: `ref("${PROCESS_CUSTOMERS}", customer_id)`,
          date: 'date(created_at, "%Y-%m-%d")',
          total: 'format_number(number(total), 2)',
        },
        // Far away, so that the scheduler never starts it during the test, but next_run
        // shows (and disappears while the process is disabled).
        schedule: { cron: '0 3 1 1 *', timezone: 'Europe/Zurich' },
      },
      {
        id: PROCESS_BULK,
        name: 'Items Shop→Back office (bulk)',
        source: { connection: 'shop', entity: 'items' },
        target: { connection: 'backoffice', entity: 'items' },
        mapping: { item: 'upper(sku)', quantity: 'qty' },
        // Small pages and batches: many commits, so that the run lasts long enough for the
        // portal's one-second poll to show its progress.
        page_size: 100,
        batch_size: 50,
      },
    ],
  };
  const file = path.join(dir, 'plexus.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, shop, backoffice };
}

export function appendCustomerFour(shopDir) {
  fs.appendFileSync(path.join(shopDir, 'customers.jsonl'), jsonl([customerFour()]));
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function makeTempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-browser-'));
}

// Runs a plexus command to completion; throws with its output when the exit status is not
// one of okStatuses.
// plugins: the command loads connectors and takes --plugin-dir (run does, users does not).
export function plexusCommand(opts, args, { input, env = {}, okStatuses = [0], plugins = true } = {}) {
  const full = [...args, ...(plugins && opts.pluginDir ? ['--plugin-dir', opts.pluginDir] : [])];
  const r = spawnSync(opts.plexus, full, {
    input, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60000,
  });
  if (r.error) throw new Error(`${opts.plexus} ${full.join(' ')}: ${r.error.message}`);
  if (!okStatuses.includes(r.status)) {
    throw new Error(`${opts.plexus} ${full.join(' ')} exited with ${r.status}:\n${r.stdout}${r.stderr}`);
  }
  return r;
}

export function addUser(opts, dataDir, name, role, password) {
  // The password goes through the environment, never through the command line.
  return plexusCommand(opts, ['users', 'add', name, '--role', role, '--data', dataDir],
    { env: { PLEXUS_PASSWORD: password }, plugins: false });
}

// Starts plexus serve; resolves once GET /api/health answers 200. The log goes to logFile.
export async function startServe(opts, { config, dataDir, port, logFile }) {
  const args = ['serve', '--config', config, '--data', dataDir, '--listen', `127.0.0.1:${port}`,
    ...(opts.pluginDir ? ['--plugin-dir', opts.pluginDir] : [])];
  const log = fs.openSync(logFile, 'w');
  const child = spawn(opts.plexus, args, { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if (exited) {
      throw new Error(`plexus serve exited (${exited.code ?? exited.signal}) before answering; its log:\n${tail(logFile)}`);
    }
    try {
      const res = await fetch(`${base}/api/health`);
      if (res.status === 200) return { child, base, args };
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGTERM');
  throw new Error(`plexus serve did not answer GET ${base}/api/health within 30 s; its log:\n${tail(logFile)}`);
}

export async function stopServe(server) {
  if (!server || server.child.exitCode !== null) return;
  const done = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 15000);
  await done;
  clearTimeout(timer);
}

export function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
