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

    await step('failures come first; the notes fold into one line; times are words with the zone', async () => {
      // A connection whose test fails: the e-guma connection made earlier, its sandbox gone.
      const conns = (await apiGet('/api/connections')).items;
      const eg = conns.find((c) => c.connector === 'eguma' && c.origin === 'portal');
      check(eg, 'an e-guma connection made in the portal is needed (the Look up step makes "vouchers")');
      const csrf = await page.evaluate(async () => (await (await fetch('/api/session')).json()).csrf_token);
      const res = await page.request.post(`${base}/api/connections/${encodeURIComponent(eg.id)}/test`, {
        headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/json' }, data: '{}',
      });
      const body = await res.text(); check(res.status() === 200 && JSON.parse(body).ok === false, `the test of ${eg.id} should fail (its sandbox is stopped); HTTP ${res.status()}: ${body.slice(0, 300)}`);
      await page.goto(`${base}/#/processes`);
      const panel = page.locator('[data-test="attention"]');
      const failed = panel.locator(`[data-test="attention-item"][data-kind="connection_test_failed"][data-process="${eg.id}"]`);
      await failed.waitFor();
      // Failures before notes, and the notes folded: one closed line "N notes: …".
      const kinds = await panel.locator('[data-test="attention-item"]').evaluateAll((els) => els.map((e) => e.dataset.kind));
      const firstNote = kinds.findIndex((k) => ['held', 'never_run', 'disabled'].includes(k));
      const lastFailure = kinds.map((k) => !['held', 'never_run', 'disabled'].includes(k)).lastIndexOf(true);
      check(firstNote === -1 || lastFailure < firstNote, `failures should come before notes: ${kinds.join(', ')}`);
      const notes = panel.locator('[data-test="attention-notes"]');
      const api = await apiGet('/api/attention');
      if (api.notes > 0) {
        check(await notes.count() === 1, 'the notes should be one folded line');
        check(!(await notes.evaluate((d) => d.open)), 'the notes should start folded');
        const line = await notes.locator('[data-test="attention-notes-summary"]').innerText();
        check(new RegExp(`^${api.notes} notes?\\b`).test(line), `the notes line should say "${api.notes} notes"; says "${line}"`);
        check(!(await notes.locator('[data-test="attention-item"]').first().isVisible()), 'folded notes should not show their items');
        await notes.locator('summary').click();
        check(await notes.locator('[data-test="attention-item"]').first().isVisible(), 'opening the notes line should list them');
        await notes.locator('summary').click();
      }
      // Times in words with the zone in the tooltip; no raw ISO time anywhere in the panel.
      const when = failed.locator('time.ago');
      const words = await when.innerText();
      check(/^(just now|\d+ s ago|\d+ min ago)$/.test(words), `the test's time should be in words; shows "${words}"`);
      const title = await when.getAttribute('title');
      check(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d .*your time zone: /.test(title), `the tooltip should give the full time and zone; gives "${title}"`);
      check(!/\d{4}-\d\d-\d\dT\d\d:/.test(await panel.innerText()), 'no raw ISO time in the panel');
      // The process list starts on the first screen at desktop width.
      const row = page.locator('tr[data-test="process-row"]').first();
      const box = await row.boundingBox();
      const view = page.viewportSize();
      check(box && box.y < view.height, `the first process should be on the first screen (at y=${box && Math.round(box.y)} of ${view.height})`);
      await snap('attention-folded');
    });

    await step('Look up opens on the entity looked up by its own key; a files connection has one too', async () => {
      await page.goto(`${base}/#/connections`);
      const conns = (await apiGet('/api/connections')).items;
      const eg = conns.find((c) => c.connector === 'eguma' && c.origin === 'portal');
      await page.locator(`tr[data-connection="${eg.id}"] [data-test="lookup-connection"]`).click();
      const entity = page.locator('[data-test="lookup-entity"]');
      await entity.waitFor({ state: 'attached' });
      check(await entity.inputValue() === 'voucher_balance', `e-guma's Look up should open on voucher_balance; opens on ${await entity.inputValue()}`);
      const files = conns.find((c) => c.connector === 'files');
      check(files && files.lookup_entities.length > 0, 'a files connection should list entities to look up');
      check(await page.locator(`tr[data-connection="${files.id}"] [data-test="lookup-connection"]`).count() === 1, `the files connection ${files.id} should have a Look up button`);
      check(await page.locator(`tr[data-connection="${eg.id}"] [data-test="connection-last-test"][data-ok="false"]`).count() === 1, 'the failed test should show on the connection');
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
