// A process's mapping (GET /api/processes/{id}/mapping): one row per target field with the
// expression that fills it. Operators edit it here (PUT …/mapping, checked exactly like
// `plexus check-config`; problems shown beside their field, nothing saved), revert to an
// earlier version (POST …/mapping/revert) and preview what a run would do with some records
// (POST …/preview): create, update, no change or an error, with what would be sent. A preview
// writes nothing anywhere. Support staff see the mapping and its versions.

import { api, ApiError, seg } from '../api.js';
import { badge, clear, field, fmtNum, h, put, roleAtLeast, select, showInfo, table, timeEl, withButton } from '../ui.js';

const ACTION_WORDS = { create: 'would create', update: 'would update', skip: 'no change', error: 'cannot be mapped' };
const ACTION_KIND = { create: 'created', update: 'updated', skip: 'unchanged', error: 'failed' };

// The text an operator edits for a spec: the expression itself, or JSON for the other kinds.
const specText = (spec) => (typeof spec === 'string' ? spec : JSON.stringify(spec, null, 2));

function parseSpec(text) {
  const t = text.trim();
  if (t.startsWith('{')) {
    try { return JSON.parse(t); } catch { return t; } // the server names the problem
  }
  return text;
}

export async function render(ctx) {
  const pid = decodeURIComponent(ctx.match[1]);
  const canEdit = roleAtLeast(ctx.user, 'operator');
  const head = h('div', { class: 'page-head' }, h('h1', { 'data-test': 'mapping-title' }, 'Mapping'));
  const subtitle = h('p', { class: 'subtitle', 'data-test': 'mapping-origin' });
  const problem = h('p', { class: 'inline-error', role: 'alert', hidden: true, 'data-test': 'mapping-problem' });
  const editor = h('section', { class: 'panel', 'aria-label': 'Fields', 'data-test': 'mapping-editor' });
  const help = h('details', { class: 'panel', 'data-test': 'mapping-functions' });
  const versionsBox = h('section', { class: 'panel', 'aria-label': 'Versions', 'data-test': 'mapping-versions' });
  const previewBox = h('section', { class: 'panel', 'aria-label': 'Preview', 'data-test': 'mapping-preview' });
  ctx.main.append(head, subtitle, problem, editor, canEdit ? previewBox : null, versionsBox, help);

  let view = null;
  let rows = []; // [{field: input, expr: input|textarea, tr, errorCell}]

  function draft() {
    const m = {};
    for (const r of rows) {
      const name = r.field.value.trim();
      if (name) m[name] = parseSpec(r.expr.value);
    }
    return m;
  }
  const dirty = () => view && JSON.stringify(draft()) !== JSON.stringify(view.mapping);

  function clearErrors() {
    for (const e of editor.querySelectorAll('.field-error')) e.remove();
    for (const i of editor.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
  }

  function showErrors(errors, message, errorBox) {
    clearErrors();
    const unplaced = [];
    for (const e of errors) {
      const r = rows.find((x) => x.field.value.trim() === e.field && e.field !== '');
      if (!r) {
        unplaced.push(e.path ? `${e.path}: ${e.message}` : e.message);
        continue;
      }
      r.expr.setAttribute('aria-invalid', 'true');
      r.errorCell.append(h('span', { class: 'inline-error field-error', 'data-test': 'field-error', 'data-error-field': e.field },
        e.path && e.path !== `/${e.field}` ? `${e.path}: ${e.message}` : e.message));
    }
    const text = unplaced.length ? unplaced.join('; ') : (errors.length ? '' : message);
    errorBox.textContent = text;
    errorBox.hidden = !text;
    const first = editor.querySelector('[aria-invalid="true"]');
    if (first) first.focus();
  }

  function fieldRow(name, spec) {
    const fieldInput = h('input', { type: 'text', value: name, size: 22, 'aria-label': 'Target field', spellcheck: 'false', autocomplete: 'off',
      class: 'mono', disabled: !canEdit, 'data-test': 'mapping-field-name' });
    const text = specText(spec);
    const multi = typeof spec !== 'string';
    const expr = multi
      ? h('textarea', { rows: Math.min(10, text.split('\n').length + 1), cols: 56, class: 'mono', spellcheck: 'false', 'aria-label': `Expression for ${name}`, disabled: !canEdit, 'data-test': 'mapping-expression' })
      : h('input', { type: 'text', value: text, size: 56, class: 'mono', spellcheck: 'false', autocomplete: 'off', 'aria-label': `Expression for ${name}`, disabled: !canEdit, 'data-test': 'mapping-expression' });
    if (multi) expr.value = text;
    const errorCell = h('div');
    const remove = canEdit ? h('button', { type: 'button', class: 'secondary small', 'data-test': 'mapping-remove' }, 'Remove') : null;
    const tr = h('tr', { 'data-test': 'mapping-row', 'data-field': name },
      h('td', { 'data-label': 'Target field' }, fieldInput),
      h('td', { class: 'expr', 'data-label': 'Filled from' }, expr, errorCell),
      canEdit ? h('td', { class: 'actions', 'data-label': '' }, remove) : null);
    const row = { field: fieldInput, expr, tr, errorCell };
    if (remove) remove.addEventListener('click', () => { rows = rows.filter((x) => x !== row); tr.remove(); });
    return row;
  }

  function renderEditor() {
    clear(editor);
    rows = Object.entries(view.mapping || {}).map(([k, v]) => fieldRow(k, v));
    const tbody = h('tbody', null, rows.map((r) => r.tr));
    const errorBox = h('p', { class: 'inline-error', role: 'alert', hidden: true, 'data-test': 'mapping-error' });
    editor.append(h('h2', null, 'Fields'),
      h('p', { class: 'small muted' }, `Each field of ${view.target.entity} in ${view.target.connection} is filled from the ${view.from.entity} record of ${view.from.connection}: a field name (customer.email), a function (see below), or JSON such as {"const": "CHF"} or {"each": …}.`),
      h('div', { class: 'table-scroll' }, h('table', { class: 'cards-on-phone', 'data-test': 'mapping-table' },
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Target field'), h('th', { scope: 'col' }, 'Filled from'),
          canEdit ? h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')) : null)),
        tbody)),
      errorBox);
    if (!canEdit) return;
    const add = h('button', { type: 'button', class: 'secondary small', 'data-test': 'mapping-add' }, 'Add field');
    add.addEventListener('click', () => {
      const r = fieldRow('', '');
      rows.push(r);
      tbody.append(r.tr);
      r.field.focus();
    });
    const note = h('input', { type: 'text', maxlength: 500, size: 48, placeholder: 'what changed and why (optional)', 'data-test': 'mapping-note' });
    const save = h('button', { type: 'button', 'data-test': 'mapping-save' }, 'Save');
    const reset = h('button', { type: 'button', class: 'secondary', 'data-test': 'mapping-reset' }, 'Undo changes');
    reset.addEventListener('click', () => renderEditor());
    save.addEventListener('click', () => withButton(save, async () => {
      errorBox.hidden = true;
      try {
        view = await api.put(`/api/processes/${seg(pid)}/mapping`, { mapping: draft(), note: note.value });
      } catch (e) {
        if (e instanceof ApiError && Array.isArray(e.errors) && e.errors.length) {
          showErrors(e.errors, e.message, errorBox);
          return;
        }
        throw e;
      }
      showInfo(`Saved as version ${view.source.version}. The next run uses it; a run going on now keeps the mapping it started with.`);
      show();
      await loadVersions();
    }));
    editor.append(add, field('Note', note), h('div', { class: 'button-row' }, save, reset));
  }

  function show() {
    head.firstChild.textContent = `Mapping: ${view.name}`;
    ctx.setTitle(`Mapping: ${view.name}`);
    const s = view.source;
    clear(subtitle).append(`${view.from.connection} ${view.from.entity} → ${view.target.connection} ${view.target.entity} · `,
      s.kind === 'portal'
        ? h('span', { 'data-origin': 'portal' }, `version ${s.version}, saved here by ${s.by || '?'} `, timeEl(s.at), s.note ? ` (${s.note})` : '')
        : h('span', { 'data-origin': 'file' }, `from the configuration file (${s.file})`, s.version > 0 ? ` again since version ${s.version}` : ''));
    problem.hidden = !view.problem;
    problem.textContent = view.problem || '';
    renderEditor();
  }

  async function loadVersions() {
    const v = await api.get(`/api/processes/${seg(pid)}/mapping/versions`);
    if (!ctx.alive()) return;
    clear(versionsBox).append(h('h2', null, 'Versions'),
      table([{ label: 'Version' }, { label: 'Saved by' }, { label: 'When' }, { label: 'Note' }, { label: '' }],
        v.items.map((it) => {
          let action = null;
          if (it.current) action = badge('in use', 'ok');
          else if (canEdit) {
            const b = h('button', { type: 'button', class: 'secondary small', 'data-test': 'mapping-revert', 'data-version': it.version }, 'Revert to this');
            b.addEventListener('click', () => {
              if (!window.confirm(`Use version ${it.version} of the mapping again? The next run uses it.`)) return;
              withButton(b, async () => {
                view = await api.post(`/api/processes/${seg(pid)}/mapping/revert`, { version: it.version });
                showInfo(`Version ${it.version} is in use again (saved as version ${view.source.version}).`);
                show();
                await loadVersions();
              });
            });
            action = b;
          }
          return h('tr', { 'data-test': 'mapping-version', 'data-version': it.version },
            h('td', { 'data-label': 'Version' }, it.version === 0 ? '0 (file)' : String(it.version)),
            h('td', { 'data-label': 'Saved by' }, it.by || '—'), h('td', { 'data-label': 'When' }, timeEl(it.at)),
            h('td', { 'data-label': 'Note' }, it.note || ''), h('td', { 'data-label': '' }, action));
        }), { test: 'mapping-versions-table' }));
    const vt = versionsBox.querySelector('table');
    if (vt) vt.classList.add('cards-on-phone');
  }

  function renderHelp() {
    clear(help).append(h('summary', null, 'Functions you can use'),
      h('p', { class: 'small' }, 'Functions nest: lower(trim(email)). A field name reads that field of the record; customer.email reads inside; lines[0].sku the first line.'),
      table([{ label: 'Function' }, { label: 'Does' }, { label: 'Example' }],
        (view.functions || []).map((f) => h('tr', null, h('td', { class: 'mono' }, f.usage), h('td', null, f.description), h('td', { class: 'mono small' }, f.example))),
        { test: 'mapping-functions-table' }));
  }

  function renderPreview() {
    const source = select([['read', 'First records of the source'], ['new', 'Records the next run would read'],
      ['failed', 'Records waiting for a retry'], ['record', 'A record I paste']], 'read', { 'data-test': 'preview-source' });
    const limit = h('input', { type: 'number', min: 1, max: 100, value: '5', inputmode: 'numeric', 'data-test': 'preview-limit' });
    const pasted = h('textarea', { rows: 6, class: 'mono', spellcheck: 'false', placeholder: '{"id": 1001, "email": "anna@example.com", …}', 'data-test': 'preview-record' });
    const pastedField = field('Record (JSON)', pasted, 'the record as the source gives it');
    pastedField.hidden = true;
    source.addEventListener('change', () => { pastedField.hidden = source.value !== 'record'; });
    const go = h('button', { type: 'button', 'data-test': 'preview-run' }, 'Preview');
    const result = h('div', { 'aria-live': 'polite', 'data-test': 'preview-result' });
    const errorBox = h('p', { class: 'inline-error', role: 'alert', hidden: true, 'data-test': 'preview-error' });
    go.addEventListener('click', () => withButton(go, async () => {
      errorBox.hidden = true;
      clear(result);
      const body = { source: source.value, limit: Number(limit.value) || 5 };
      if (source.value === 'record') {
        try { body.record = JSON.parse(pasted.value); } catch (e) {
          errorBox.textContent = `The record is not JSON: ${e.message}`;
          errorBox.hidden = false;
          return;
        }
      }
      const changed = dirty();
      if (changed) body.mapping = draft();
      let r;
      try {
        r = await api.post(`/api/processes/${seg(pid)}/preview`, body);
      } catch (e) {
        if (e instanceof ApiError && Array.isArray(e.errors) && e.errors.length) {
          showErrors(e.errors, e.message, errorBox);
          return;
        }
        throw e;
      }
      const c = r.counts || {};
      put(result,
        h('p', { 'data-test': 'preview-summary' },
          `${changed ? 'With your unsaved changes: ' : ''}${fmtNum(r.items.length)} record(s)${r.more ? ' (more follow)' : ''} · `,
          `create ${fmtNum(c.create)} · update ${fmtNum(c.update)} · no change ${fmtNum(c.skip)} · cannot be mapped ${fmtNum(c.error)}. Nothing was sent.`),
        r.message ? h('p', { class: 'muted' }, r.message) : null,
        table([{ label: 'Record' }, { label: 'What would happen' }, { label: 'Changed fields' }, { label: 'Would send' }],
          r.items.map((it) => h('tr', { 'data-test': 'preview-item', 'data-action': it.action, 'data-key': it.key },
            h('td', { class: 'mono', 'data-label': 'Record' }, it.key, it.target_key ? h('div', { class: 'small muted' }, `in target: ${it.target_key}`) : null),
            h('td', { 'data-label': 'Would' }, badge(ACTION_WORDS[it.action] || it.action, ACTION_KIND[it.action] || ''),
              it.action === 'error'
                ? h('div', { class: 'inline-error', 'data-test': 'preview-item-error', 'data-error-field': it.field || '' }, it.field ? `${it.field}: ${it.message}` : it.message)
                : (it.message ? h('div', { class: 'small muted' }, it.message) : null)),
            h('td', { 'data-label': 'Changed', 'data-test': 'preview-changed' },
              it.action !== 'update' ? '' : (Array.isArray(it.changed_fields) ? (it.changed_fields.join(', ') || 'none the target shows') : h('span', { class: 'muted' }, 'not known'))),
            h('td', { 'data-label': 'Send' }, it.payload === null || it.payload === undefined ? '' :
              h('details', null, h('summary', null, 'show'), h('pre', { class: 'mono small', 'data-test': 'preview-payload' }, JSON.stringify(it.payload, null, 2)))))),
          { test: 'preview-table', empty: 'No records.' }));
      const t = result.querySelector('table');
      if (t) t.classList.add('cards-on-phone');
    }));
    clear(previewBox).append(h('h2', null, 'Preview'),
      h('p', { class: 'small muted' }, 'See what a run would do with some records — create, update or leave them — and what it would send. Nothing is sent or changed. Unsaved changes above are used.'),
      h('div', { class: 'filters' }, field('Records', source), field('How many', limit)), pastedField,
      h('div', { class: 'button-row' }, go), errorBox, result);
  }

  view = await api.get(`/api/processes/${seg(pid)}/mapping`);
  if (!ctx.alive()) return;
  show();
  renderHelp();
  if (canEdit) renderPreview();
  await loadVersions();
}
