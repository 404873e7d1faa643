// Browser steps of "Attention" (issue 13): the "What needs action" panel on the landing page,
// the Notifications page with a local SMTP sink and a local webhook receiver (both on
// loopback, written here with node's net and http), a failing run notified to both, and Run
// history refreshing itself without losing its filter.
//
// portal.test.mjs runs them once logged in as an admin, after runs with failed records:
//   await (await import('./lib/attention_steps.mjs')).run(page, { base, step, snap, check, until, apiGet });
// ctx: base (portal URL), step(name, fn), snap(name) (desktop and phone screenshots),
// check(cond, message), until(what, fn, {timeout}), apiGet(path) → JSON.

import http from 'node:http';
import net from 'node:net';

const PASSWORD = 'smtp-browser-PW-5d1c';

// A loopback SMTP server taking every message (EHLO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA).
export function smtpSink() {
  const mails = [];
  const server = net.createServer((sock) => {
    let buffer = '';
    let inData = false;
    let data = '';
    let pending = null; // a multi-step AUTH LOGIN
    const say = (s) => sock.write(`${s}\r\n`);
    say('220 sink.test ESMTP');
    sock.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      let i;
      while ((i = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (inData) {
          if (line === '.') { inData = false; mails.push(data); data = ''; say('250 queued'); }
          else data += `${line.startsWith('.') ? line.slice(1) : line}\n`;
          continue;
        }
        if (pending) { pending -= 1; say(pending ? '334 UGFzc3dvcmQ6' : '235 ok'); continue; }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') sock.write('250-sink.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n');
        else if (verb === 'HELO') say('250 sink.test');
        else if (verb === 'AUTH') {
          const parts = line.split(' ');
          if (parts[1].toUpperCase() === 'PLAIN') { if (parts[2]) say('235 ok'); else { pending = 1; say('334 '); } }
          else { pending = parts[2] ? 1 : 2; say(parts[2] ? '334 UGFzc3dvcmQ6' : '334 VXNlcm5hbWU6'); }
        } else if (verb === 'DATA') { inData = true; say('354 go on'); }
        else if (verb === 'QUIT') { say('221 bye'); sock.end(); }
        else say('250 ok');
      }
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: server.address().port, mails, close: () => server.close() })));
}

export function hookSink() {
  const posts = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { posts.push({ path: req.url, body }); res.end('ok'); });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    resolve({ port, url: `http://127.0.0.1:${port}/services/T1/B2/browserhook99`, posts, close: () => server.close() });
  }));
}

export async function run(page, ctx) {
  const { base, step, snap, check, until, apiGet } = ctx;
  const smtp = await smtpSink();
  const hook = await hookSink();
  try {
    await step('the landing page says what needs action, with the reasons and a link where it is fixed', async () => {
      await page.goto(`${base}/#/processes`);
      const panel = page.locator('[data-test="attention"]');
      await panel.waitFor();
      await until('items in "What needs action"', async () => (await panel.locator('[data-test="attention-item"]').count()) > 0);
      const records = panel.locator('[data-test="attention-item"][data-kind="failed_records"]').first();
      check(await records.count() === 1, 'failed records should be listed as needing action');
      check(await records.locator('[data-test="attention-reasons"] li').count() >= 1, 'the commonest reasons should be listed');
      const href = await records.locator('[data-test="attention-link"]').getAttribute('href');
      check(/^#\/failed\//.test(href), `the failed records item should link to Failed records, links to ${href}`);
      await snap('attention');
      await records.locator('[data-test="attention-link"]').click();
      await page.waitForURL(/#\/failed\//);
    });

    await step('the Notifications page shows a wrong setting beside its field', async () => {
      await page.click('[data-test="nav-notifications"]').catch(async () => {
        await page.goto(`${base}/#/notifications`);
      });
      await page.locator('[data-test="notify-save"]').waitFor();
      await page.check('[data-test="notify-email-enabled"]');
      await page.fill('[data-test="notify-server"]', '127.0.0.1');
      await page.fill('[data-test="notify-port"]', String(smtp.port));
      await page.selectOption('[data-test="notify-security"]', 'none');
      await page.fill('[data-test="notify-from"]', 'plexus@shop.test');
      await page.fill('[data-test="notify-to"]', 'ops@shop.test, not an address');
      await page.fill('[data-test="notify-username"]', 'plexus');
      await page.fill('[data-test="notify-password"]', PASSWORD);
      await page.check('[data-test="notify-webhook-enabled"]');
      await page.fill('[data-test="notify-url"]', hook.url);
      await page.fill('[data-test="notify-digest"]', '0');
      await page.click('[data-test="notify-save"]');
      const err = page.locator('[data-test="field-error"]:visible');
      await err.first().waitFor();
      check((await err.first().innerText()).includes('not an address'), 'the bad recipient should be named beside its field');
      await snap('notifications-error');
    });

    await step('saved notification settings keep the password and webhook address write-only; a test reaches both sinks', async () => {
      await page.fill('[data-test="notify-to"]', 'ops@shop.test');
      await page.fill('[data-test="notify-password"]', PASSWORD);
      await page.fill('[data-test="notify-url"]', hook.url);
      await page.click('[data-test="notify-save"]');
      await until('the settings saved', async () => (await apiGet('/api/notifications')).email.password_set === true);
      await page.locator('[data-test="notify-save"]').waitFor();
      const html = await page.content();
      check(!html.includes(PASSWORD), 'the SMTP password must not reach the page');
      check(!html.includes('browserhook99'), 'the webhook address must not reach the page');
      await page.click('[data-test="notify-test-email"]');
      await page.locator('[data-test="notify-result"][data-ok="true"]').waitFor();
      await until('a test e-mail in the SMTP sink', async () => smtp.mails.some((m) => m.includes('test message')));
      await page.click('[data-test="notify-test-webhook"]');
      await until('a test post at the webhook receiver', async () => hook.posts.length >= 1);
      await snap('notifications');
    });

    await step('a run with failed records is notified by e-mail and webhook, naming the process with a link', async () => {
      const processes = (await apiGet('/api/processes')).items;
      const failing = processes.find((p) => p.failed_count > 0);
      check(failing, 'a process with failed records is needed');
      const before = smtp.mails.length;
      // Replaying its failed records fails them again (their data is unchanged): a run that
      // leaves failed records.
      const res = await page.request.post(`${base}/api/processes/${encodeURIComponent(failing.id)}/replay`, {
        headers: { 'X-CSRF-Token': await page.evaluate(async () => (await (await fetch('/api/session')).json()).csrf_token), 'Content-Type': 'application/json' },
        data: '{}',
      });
      check(res.status() === 202, `replay: HTTP ${res.status()}`);
      await until('the notification e-mail', async () => smtp.mails.slice(before).some((m) => m.includes(failing.name) && m.includes(`#/failed/${failing.id}`)), { timeout: 20000 });
      await until('the notification post', async () => hook.posts.some((p) => JSON.parse(p.body).text.includes(failing.name)), { timeout: 20000 });
    });

    await step('Run history refreshes itself and keeps its filter', async () => {
      const processes = (await apiGet('/api/processes')).items;
      const p = processes.find((x) => x.failed_count > 0) || processes[0];
      await page.goto(`${base}/#/runs?process=${encodeURIComponent(p.id)}`);
      const rows = page.locator('tr[data-test="run-row"]');
      await rows.first().waitFor();
      const count = await rows.count();
      const url = page.url();
      const csrf = await page.evaluate(async () => (await (await fetch('/api/session')).json()).csrf_token);
      const res = await page.request.post(`${base}/api/processes/${encodeURIComponent(p.id)}/run`, {
        headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/json' }, data: '{}',
      });
      check(res.status() === 202, `run now: HTTP ${res.status()}`);
      await until('the new run in the list without reloading', async () => (await rows.count()) === Math.min(count + 1, 50), { timeout: 15000 });
      check(page.url() === url, 'the page should not navigate');
      check(await page.locator('[data-test="filter-process"]').inputValue() === p.id, 'the filter should stay');
      await snap('runs-refreshed');
    });
  } finally {
    smtp.close();
    hook.close();
  }
}
