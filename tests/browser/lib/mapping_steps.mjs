// Browser steps of the mapping page (issue 13; web/static/js/pages/mapping.js), run by
// portal.test.mjs after the customers process has synced customers 1-3, logged in as a user
// who may operate (admin or operator):
//
//   await (await import('./lib/mapping_steps.mjs')).run(page, { base, step, check, until, snap, process: PROCESS_CUSTOMERS });
//
// Steps: open the mapping from the Processes page; preview the source's first records (the
// synced customers show "no change"), a pasted record ("would create") and an unsaved change
// ("would update", with the changed field) — writing nothing (the process's runs and the
// target unchanged); an edit with a mistake refused beside its field, nothing saved; a valid
// edit saved as version 1; a revert to the file's mapping. The mapping ends as it began (the
// file's), so later steps see the same world. Screenshots at desktop and phone width (snap).

import { apiGetter } from './kit.mjs';

export async function run(page, ctx) {
  const { base, step, check, until, snap } = ctx;
  const pid = ctx.process;
  const apiGet = apiGetter(page, base);
  const rowOf = (field) => page.locator(`tr[data-test="mapping-row"][data-field="${field}"]`);
  const items = () => page.locator('[data-test="preview-item"]');
  const actions = async () => items().evaluateAll((els) => els.map((e) => [e.dataset.key, e.dataset.action]));
  const runsBefore = (await apiGet(`/api/runs?process=${encodeURIComponent(pid)}`)).total;
  const mappingBefore = (await apiGet(`/api/processes/${encodeURIComponent(pid)}/mapping`)).mapping;

  await step('the Processes page links to a process\'s mapping, shown as rows from the configuration file', async () => {
    await page.goto(`${base}/#/processes`);
    await page.locator(`tr[data-test="process-row"][data-process="${pid}"] [data-test="mapping-link"]`).click();
    await page.locator('[data-test="mapping-table"]').waitFor();
    await until('one row per target field', async () => (await page.locator('[data-test="mapping-row"]').count()) === Object.keys(mappingBefore).length);
    check(await page.locator('[data-test="mapping-origin"] [data-origin="file"]').count() === 1, 'the page should say the mapping comes from the configuration file');
    check((await rowOf('email').locator('[data-test="mapping-expression"]').inputValue()) === mappingBefore.email, 'the email row should show its expression');
    const text = (await page.locator('main').innerText()).toLowerCase();
    for (const word of ['cursor', 'ledger', 'intent']) check(!text.includes(word), `the mapping page should not say "${word}"`);
    await snap('mapping');
  });

  await step('a preview of the source\'s first records shows the synced customers as no change, and writes nothing', async () => {
    await page.selectOption('[data-test="preview-source"]', 'read');
    await page.fill('[data-test="preview-limit"]', '3');
    await page.click('[data-test="preview-run"]');
    await until('three previewed records', async () => (await items().count()) === 3);
    const got = await actions();
    check(got.every(([, a]) => a === 'skip'), `customers 1-3 were synced unchanged: every row should be "no change"; got ${JSON.stringify(got)}`);
    check((await page.locator('[data-test="preview-summary"]').innerText()).includes('Nothing was sent'), 'the summary should say nothing was sent');
    await snap('mapping-preview-skip');
  });

  await step('a pasted record previews as "would create", with what would be sent', async () => {
    await page.selectOption('[data-test="preview-source"]', 'record');
    await page.fill('[data-test="preview-record"]', JSON.stringify({ id: 77, name: '  Zora ', email: 'ZORA@EXAMPLE.COM' }));
    await page.click('[data-test="preview-run"]');
    await until('one previewed record', async () => (await items().count()) === 1 && (await actions())[0][1] === 'create');
    await items().first().locator('summary').click();
    const sent = JSON.parse(await items().first().locator('[data-test="preview-payload"]').innerText());
    check(sent.customer_id === 'C-77' && sent.email === 'zora@example.com' && sent.name === 'Zora', `the payload should be the mapped record; is ${JSON.stringify(sent)}`);
  });

  await step('an unsaved change previews as "would update" with the changed field', async () => {
    await rowOf('name').locator('[data-test="mapping-expression"]').fill('upper(trim(name))');
    await page.selectOption('[data-test="preview-source"]', 'read');
    await page.click('[data-test="preview-run"]');
    await until('three records that would be updated', async () => {
      const got = await actions();
      return got.length === 3 && got.every(([, a]) => a === 'update');
    });
    const changed = await page.locator('[data-test="preview-changed"]').allInnerTexts();
    check(changed.every((t) => t.trim() === 'name'), `only the name should change; got ${JSON.stringify(changed)}`);
    check((await page.locator('[data-test="preview-summary"]').innerText()).includes('unsaved changes'), 'the summary should say the unsaved changes were used');
    await snap('mapping-preview-update');
    const runsNow = (await apiGet(`/api/runs?process=${encodeURIComponent(pid)}`)).total;
    check(runsNow === runsBefore, `a preview must start no run (${runsBefore} before, ${runsNow} after)`);
    const versions = await apiGet(`/api/processes/${encodeURIComponent(pid)}/mapping/versions`);
    check(versions.items.length === 1, 'a preview must store no mapping version');
  });

  await step('an edit with a mistake is refused beside its field and nothing is saved', async () => {
    await rowOf('email').locator('[data-test="mapping-expression"]').fill('lower(email');
    await page.click('[data-test="mapping-save"]');
    const err = page.locator('[data-test="field-error"][data-error-field="email"]');
    await err.waitFor();
    check((await err.innerText()).length > 0, 'the email row should show the problem');
    const versions = await apiGet(`/api/processes/${encodeURIComponent(pid)}/mapping/versions`);
    check(versions.items.length === 1, 'a refused edit must store nothing');
    await snap('mapping-edit-refused');
  });

  await step('a valid edit is saved as version 1 and said to apply at the next run', async () => {
    await rowOf('email').locator('[data-test="mapping-expression"]').fill(mappingBefore.email);
    await page.fill('[data-test="mapping-note"]', 'names in capitals');
    await page.click('[data-test="mapping-save"]');
    await page.locator('[data-test="mapping-origin"] [data-origin="portal"]').waitFor();
    await until('two versions listed', async () => (await page.locator('[data-test="mapping-version"]').count()) === 2);
    const v = await apiGet(`/api/processes/${encodeURIComponent(pid)}/mapping`);
    check(v.source.version === 1 && v.mapping.name === 'upper(trim(name))', `version 1 with the new name expression should be in force; is ${JSON.stringify(v.source)}`);
    const audit = await apiGet('/api/audit?limit=20');
    check(audit.items.some((a) => a.action === 'mapping.edit' && a.subject === pid), 'the edit should be in the audit log');
    await snap('mapping-saved');
  });

  await step('reverting to the configuration file\'s mapping puts it back in force', async () => {
    page.once('dialog', (d) => d.accept());
    await page.locator('[data-test="mapping-revert"][data-version="0"]').click();
    await page.locator('[data-test="mapping-origin"] [data-origin="file"]').waitFor();
    await until('three versions listed', async () => (await page.locator('[data-test="mapping-version"]').count()) === 3);
    const v = await apiGet(`/api/processes/${encodeURIComponent(pid)}/mapping`);
    check(JSON.stringify(v.mapping) === JSON.stringify(mappingBefore), 'the file\'s mapping should be in force again');
  });
}
