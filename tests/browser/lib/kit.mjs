// The small test kit both browser tests share (portal.test.mjs, runall.test.mjs): their
// command line, checks that fail with a message, waiting for a condition, and a session that
// numbers the steps ("ok N - what"), takes screenshots at desktop and phone width, collects
// errors thrown in the page and reports a failure with a screenshot and the server's log.

import fs from 'node:fs';
import path from 'node:path';
import { tail } from './fixture.mjs';

export const PHONE = { width: 390, height: 844 };

export class CheckFailed extends Error {}

export function check(cond, message) {
  if (!cond) throw new CheckFailed(message);
}

// Resolves to fn()'s first truthy answer; an exception from fn counts as "not yet". Fails
// with `what` (and the last error) after `timeout` ms.
export async function until(what, fn, { timeout = 10000, interval = 150 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new CheckFailed(`timed out after ${timeout / 1000} s waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

// The options every browser test takes: --plexus PATH [--plugin-dir DIR] [--artifacts DIR]
// [--keep], with PLEXUS_BIN, PLEXUS_PLUGIN_DIR, PLEXUS_ARTIFACTS and CHROMIUM from the
// environment. `extra` maps a further flag to (opts, value) => void; `usage` is the line a
// wrong argument prints.
export function parseArgs(argv, { artifacts, usage, extra = {}, defaults = {} }) {
  const opts = {
    plexus: process.env.PLEXUS_BIN || '',
    pluginDir: process.env.PLEXUS_PLUGIN_DIR || '',
    artifacts: process.env.PLEXUS_ARTIFACTS || artifacts,
    chromium: process.env.CHROMIUM || '/usr/bin/chromium',
    keep: false,
    ...defaults,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--plexus') opts.plexus = value();
    else if (a === '--plugin-dir') opts.pluginDir = value();
    else if (a === '--artifacts') opts.artifacts = value();
    else if (a === '--keep') opts.keep = true;
    else if (extra[a]) extra[a](opts, value());
    else throw new Error(`unknown argument ${a}; usage: ${usage}`);
  }
  if (!opts.plexus) throw new Error('say where the plexus executable is: --plexus build/bin/plexus (or PLEXUS_BIN)');
  opts.plexus = path.resolve(opts.plexus);
  if (!fs.existsSync(opts.plexus)) throw new Error(`${opts.plexus} does not exist; build first (cmake --build build)`);
  if (opts.pluginDir) opts.pluginDir = path.resolve(opts.pluginDir);
  opts.artifacts = path.resolve(opts.artifacts);
  return opts;
}

// Makes the artefacts directory and removes what an earlier run left there (files whose
// names match `leftovers`).
export function clearArtifacts(dir, leftovers) {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(dir)) {
    if (leftovers.test(f)) fs.rmSync(path.join(dir, f));
  }
}

// One test's run of steps. watch(page) makes `page` the one screenshots are taken of and
// records what it throws; step(name, fn) runs fn, fails if the page threw, prints "ok N";
// snap(name[, page]) saves NN-name-desktop.png and NN-name-phone.png; failed(e, serveLog)
// prints "not ok" with a screenshot, the page's errors and the server log's tail.
export class Session {
  constructor(artifacts, desktop) {
    this.artifacts = artifacts;
    this.desktop = desktop;
    this.passed = 0;
    this.shot = 0;
    this.pageErrors = [];
    this.page = null;
  }

  watch(page) {
    this.page = page;
    page.on('pageerror', (e) => this.pageErrors.push(e.message));
    page.setDefaultTimeout(10000);
  }

  async snap(name, p = this.page) {
    this.shot += 1;
    const base = `${String(this.shot).padStart(2, '0')}-${name}`;
    const size = p.viewportSize();
    await p.screenshot({ path: path.join(this.artifacts, `${base}-desktop.png`), fullPage: true });
    await p.setViewportSize(PHONE);
    await p.waitForTimeout(120);
    await p.screenshot({ path: path.join(this.artifacts, `${base}-phone.png`), fullPage: true });
    await p.setViewportSize(size || this.desktop);
    await p.waitForTimeout(60);
  }

  async step(name, fn) {
    await fn();
    check(this.pageErrors.length === 0, `the page threw: ${this.pageErrors.join('; ')}`);
    this.passed += 1;
    console.log(`ok ${this.passed} - ${name}`);
  }

  succeeded() {
    console.log(`${this.passed} passed, 0 failed`);
    return 0;
  }

  // `serveLog`: the server's log, or null when the server never started.
  async failed(e, serveLog) {
    const where = this.page ? path.join(this.artifacts, 'FAILED.png') : null;
    if (this.page) {
      try { await this.page.screenshot({ path: where, fullPage: true }); } catch { /* browser gone */ }
    }
    console.log(`not ok ${this.passed + 1} - ${e instanceof CheckFailed ? e.message : e.stack || e}`);
    if (where) console.log(`# screenshot of the failure: ${where}`);
    if (this.pageErrors.length) console.log(`# errors thrown in the page: ${this.pageErrors.join('; ')}`);
    if (serveLog) console.log(`# last lines of ${serveLog}:\n${tail(serveLog, 25).replace(/^/gm, '#   ')}`);
    console.log(`${this.passed} passed, 1 failed`);
    return 1;
  }
}

// GET `p` from the hub through the page's session (its cookie); fails on a non-2xx answer.
export function apiGetter(page, base) {
  return async (p) => {
    const res = await page.request.get(`${base}${p}`);
    check(res.ok(), `GET ${p}: HTTP ${res.status()} ${await res.text()}`);
    return res.json();
  };
}
