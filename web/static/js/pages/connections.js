// Connections (GET /api/connections): the configuration file's, read-only, with the file they
// come from, and those created here by admins (POST/PUT/DELETE /api/connections). The form is
// generated from the connector's settings schema (GET /api/plugins/{id}/settings-schema):
// its types, required settings and secrets. Secrets are write-only: the server never sends
// them back (a stored one reads {"set": true}); leaving a secret empty on edit keeps it.
// Admins test any connection (POST /api/connections/{id}/test).

import { api, ApiError, seg } from '../api.js';
import { agoEl, asText, badge, clear, field, fmtDuration, h, labelOf, put, roleAtLeast, select, showError, table, timeEl, withButton } from '../ui.js';

const MASK = '••••••';

const isSecretState = (v) => v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && 'set' in v;

// Settings as a definition list; an object value (such as the files connector's entities)
// becomes a nested list, one line per member, so that it stays readable. A portal secret
// shows as set or not set, never as a value.
function settingsList(settings, nested = false) {
  const entries = Object.entries(settings || {});
  if (!entries.length) return h('span', { class: 'muted' }, 'none');
  return h('dl', { class: nested ? 'settings nested' : 'settings' }, entries.map(([k, v]) => {
    let dd;
    if (isSecretState(v)) {
      dd = h('dd', { 'data-setting': k, 'data-secret': v.set ? 'set' : 'unset' }, v.set ? MASK : h('span', { class: 'muted' }, 'not set'));
    } else if (v && typeof v === 'object' && !Array.isArray(v) && !nested) {
      dd = h('dd', { 'data-setting': k }, settingsList(v, true));
    } else {
      dd = h('dd', { class: typeof v === 'string' ? null : 'mono', 'data-setting': k }, asText(v));
    }
    return [h('dt', { title: k }, labelOf(k)), dd];
  }));
}

function testButton(c) {
  const result = h('span', { class: 'inline-result', 'aria-live': 'polite', 'data-test': 'test-result' });
  const test = h('button', { type: 'button', class: 'secondary small', 'data-test': 'test-connection' }, 'Test');
  test.setAttribute('aria-label', `Test connection ${c.id}`);
  test.addEventListener('click', () => withButton(test, async () => {
    clear(result).className = 'inline-result';
    delete result.dataset.ok;
    result.textContent = 'testing…';
    try {
      const r = await api.post(`/api/connections/${seg(c.id)}/test`);
      clear(result);
      result.className = `inline-result ${r.ok ? 'ok' : 'bad'}`;
      result.dataset.ok = String(!!r.ok);
      result.append(r.ok ? `OK${r.duration_ms !== undefined ? ` in ${fmtDuration(r.duration_ms)}` : ''}` : `Failed${r.error_class ? ` (${r.error_class})` : ''}`,
        r.message ? `: ${r.message}` : '');
    } catch (e) {
      result.textContent = '';
      throw e;
    }
  }));
  return [test, result];
}

// One input for a setting of the schema: {name, type, required, secret, default, description}.
// current: the stored value (undefined when none); for a secret, {"set": bool}.
function settingControl(spec, current) {
  const attrs = { name: spec.name, 'data-setting-input': spec.name, 'data-type': spec.type };
  let control;
  if (spec.secret) {
    const set = isSecretState(current) && current.set;
    control = h('input', { ...attrs, type: 'password', autocomplete: 'new-password', spellcheck: 'false',
      placeholder: set ? 'stored — leave empty to keep' : '', required: spec.required && !set });
  } else if (spec.type === 'boolean') {
    const v = current === undefined || current === null ? '' : String(current);
    control = select([['', spec.default === null || spec.default === undefined ? '(not set)' : `(default: ${spec.default})`], ['true', 'yes'], ['false', 'no']], v, attrs);
  } else if (spec.type === 'integer' || spec.type === 'number') {
    control = h('input', { ...attrs, type: 'number', step: spec.type === 'integer' ? '1' : 'any', inputmode: spec.type === 'integer' ? 'numeric' : 'decimal',
      value: current === undefined || current === null ? '' : String(current), required: spec.required && spec.default === null,
      placeholder: spec.default === null || spec.default === undefined ? '' : String(spec.default) });
  } else if (spec.type === 'object' || spec.type === 'array') {
    control = h('textarea', { ...attrs, rows: 4, spellcheck: 'false', class: 'mono',
      placeholder: spec.default === null || spec.default === undefined ? `JSON ${spec.type}` : JSON.stringify(spec.default) });
    control.value = current === undefined || current === null ? '' : JSON.stringify(current, null, 2);
  } else {
    control = h('input', { ...attrs, type: 'text', autocomplete: 'off', spellcheck: 'false',
      value: current === undefined || current === null ? '' : String(current), required: spec.required && (spec.default === null || spec.default === undefined),
      placeholder: spec.default === null || spec.default === undefined ? '' : String(spec.default) });
  }
  const hint = [spec.description, spec.secret ? 'Secret: stored encrypted, never shown again.' : null].filter(Boolean).join(' ');
  const label = `${labelOf(spec.name, spec.label)}${spec.required ? ' *' : ''}`;
  const f = field(label, control, hint || null);
  f.dataset.field = `settings.${spec.name}`;
  f.querySelector('label').title = spec.name;
  return { f, control };
}

// The value a control holds, typed per the schema; undefined when left empty.
function controlValue(spec, control) {
  const raw = control.value;
  if (raw === '' || raw === undefined) return undefined;
  if (spec.secret) return raw;
  if (spec.type === 'boolean') return raw === 'true';
  if (spec.type === 'integer' || spec.type === 'number') {
    const n = Number(raw);
    return Number.isFinite(n) ? n : raw; // the server names a non-number
  }
  if (spec.type === 'object' || spec.type === 'array') {
    try { return JSON.parse(raw); } catch { return raw; }
  }
  return raw;
}

// The create/edit form. existing: the connection's view (edit) or null (create).
function connectionForm(ctx, plugins, existing, onDone) {
  const el = h('form', { class: 'panel connection-form', 'data-test': 'connection-form', novalidate: true });
  const title = h('h2', null, existing ? `Edit connection ${existing.id}` : 'New connection');
  const id = h('input', { type: 'text', name: 'id', autocomplete: 'off', spellcheck: 'false', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}',
    value: existing ? existing.id : '', disabled: !!existing, 'data-test': 'connection-id' });
  const connector = select([['', 'Choose a connector…'], ...plugins.map((p) => [p.id, `${p.id}${p.version ? ` ${p.version}` : ''}`])],
    existing ? existing.connector : '', { name: 'connector', disabled: !!existing, 'data-test': 'connection-connector' });
  const display = h('input', { type: 'text', name: 'display_name', autocomplete: 'off', value: existing ? existing.display_name || '' : '', 'data-test': 'connection-display-name' });
  const idField = field('Id *', id, 'letters, digits, . _ -; processes in the configuration file name it');
  idField.dataset.field = 'id';
  const connectorField = field('Connector *', connector);
  connectorField.dataset.field = 'connector';
  const displayField = field('Display name', display);
  displayField.dataset.field = 'display_name';
  const settingsBox = h('div', { class: 'form-grid settings-form', 'data-test': 'connection-settings' });
  const errorBox = h('p', { class: 'inline-error', role: 'alert', hidden: true, 'data-test': 'connection-error' });
  const save = h('button', { type: 'submit', 'data-test': 'connection-save' }, existing ? 'Save changes' : 'Create connection');
  // "Test" on the values in the form, before anything is saved (POST /api/connections/test).
  const tryIt = h('button', { type: 'button', class: 'secondary', 'data-test': 'connection-try' }, 'Test these settings');
  const tryResult = h('span', { class: 'inline-result', 'aria-live': 'polite', 'data-test': 'connection-try-result' });
  const cancel = h('button', { type: 'button', class: 'secondary', 'data-test': 'connection-cancel' }, 'Cancel');
  cancel.addEventListener('click', () => onDone(null));
  let specs = [];
  let controls = {};

  async function loadSchema() {
    clear(settingsBox);
    specs = [];
    controls = {};
    if (!connector.value) return;
    const schema = await api.get(`/api/plugins/${seg(connector.value)}/settings-schema`);
    if (!ctx.alive()) return;
    specs = schema.settings || [];
    for (const spec of specs) {
      const { f, control } = settingControl(spec, existing ? (existing.settings || {})[spec.name] : undefined);
      controls[spec.name] = control;
      settingsBox.append(f);
    }
    if (!specs.length) settingsBox.append(h('p', { class: 'muted' }, 'This connector has no settings.'));
  }
  connector.addEventListener('change', () => loadSchema().catch(showError));

  function clearErrors() {
    errorBox.hidden = true;
    for (const e of el.querySelectorAll('.field-error')) e.remove();
    for (const i of el.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
  }
  function showErrors(errors, message) {
    const unplaced = [];
    for (const e of errors) {
      const f = el.querySelector(`[data-field="${CSS.escape(e.field)}"]`);
      if (!f) { unplaced.push(`${e.field}: ${e.message}`); continue; }
      const control = f.querySelector('input, select, textarea');
      if (control) control.setAttribute('aria-invalid', 'true');
      f.append(h('span', { class: 'inline-error field-error', 'data-test': 'field-error', 'data-error-field': e.field }, e.message));
    }
    const text = unplaced.length ? unplaced.join('; ') : (errors.length ? '' : message);
    if (text) {
      errorBox.textContent = text;
      errorBox.hidden = false;
    }
    const first = el.querySelector('[aria-invalid="true"]');
    if (first) first.focus();
  }

  function formSettings() {
    const settings = {};
    for (const spec of specs) {
      const v = controlValue(spec, controls[spec.name]);
      if (v !== undefined) settings[spec.name] = v;
    }
    return settings;
  }
  tryIt.addEventListener('click', () => withButton(tryIt, async () => {
    clear(tryResult).className = 'inline-result';
    delete tryResult.dataset.ok;
    if (!connector.value) { tryResult.textContent = 'Choose a connector first.'; return; }
    tryResult.textContent = 'testing…';
    const body = { connector: connector.value, settings: formSettings() };
    if (existing) body.id = existing.id;
    const r = await api.post('/api/connections/test', body);
    clear(tryResult);
    tryResult.className = `inline-result ${r.ok ? 'ok' : 'bad'}`;
    tryResult.dataset.ok = String(!!r.ok);
    tryResult.append(r.ok ? `OK${r.duration_ms !== undefined ? ` in ${fmtDuration(r.duration_ms)}` : ''} (not saved yet)` : `Failed${r.error_class ? ` (${r.error_class})` : ''}`,
      r.message ? `: ${r.message}` : '');
  }));

  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors();
    const settings = formSettings();
    const body = { display_name: display.value.trim(), settings };
    save.disabled = true;
    try {
      let saved;
      if (existing) saved = await api.put(`/api/connections/${seg(existing.id)}`, body);
      else saved = await api.post('/api/connections', { id: id.value.trim(), connector: connector.value, ...body });
      // Secret inputs are emptied at once: the value goes nowhere else.
      for (const spec of specs) if (spec.secret) controls[spec.name].value = '';
      onDone(saved);
    } catch (e) {
      if (e instanceof ApiError && Array.isArray(e.errors) && e.errors.length) showErrors(e.errors, e.message);
      else showErrors([], e.message);
    } finally {
      save.disabled = false;
    }
  });

  put(el, title,
    h('div', { class: 'form-grid' }, idField, connectorField, displayField),
    h('h3', { class: 'settings-title' }, 'Settings'),
    settingsBox, errorBox,
    h('div', { class: 'button-row' }, save, tryIt, cancel, tryResult));
  return { el, ready: loadSchema() };
}

// Look up one record through a connection (POST /api/connections/{id}/lookup), for support
// staff: e-guma's voucher balance, a customer, an order. The answer's fields are listed with
// their names in words; nothing is written anywhere.
function lookupPanel(c, onClose) {
  const entities = c.lookup_entities || [];
  // The server lists the entities looked up by their own key (read and lookup) first: open on
  // that one (e-guma: the voucher balance, not redemptions).
  const entity = select(entities.map((e) => [e.name, labelOf(e.name)]), entities[0].name, { 'data-test': 'lookup-entity' });
  const key = h('input', { type: 'search', required: true, autocomplete: 'off', spellcheck: 'false', 'data-test': 'lookup-key' });
  const keyField = field('Key', key);
  const go = h('button', { type: 'submit', 'data-test': 'lookup-go' }, 'Look up');
  const close = h('button', { type: 'button', class: 'secondary' }, 'Close');
  const result = h('div', { class: 'lookup-result', 'aria-live': 'polite', 'data-test': 'lookup-result' });
  const entityField = field('What', entity);
  entityField.hidden = entities.length < 2;
  const sync = () => {
    const e = entities.find((x) => x.name === entity.value) || entities[0];
    keyField.querySelector('label').textContent = `${labelOf(e.key || 'key')} (${labelOf(e.name).toLowerCase()})`;
    key.placeholder = e.name === 'voucher_balance' ? 'L4FU-5LQT-KJR3' : '';
  };
  entity.addEventListener('change', sync);
  sync();
  const form = h('form', { class: 'panel lookup-panel', 'data-test': 'lookup-panel', 'data-connection': c.id },
    h('h2', null, `Look up through ${c.display_name || c.id}`),
    h('div', { class: 'form-grid' }, entityField, keyField),
    h('div', { class: 'button-row' }, go, close), result);
  close.addEventListener('click', onClose);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!key.value.trim()) { key.focus(); return; }
    withButton(go, async () => {
      clear(result);
      delete result.dataset.found;
      try {
        const r = await api.post(`/api/connections/${seg(c.id)}/lookup`, { entity: entity.value, key: key.value });
        result.dataset.found = 'true';
        const data = (r.record && r.record.data) || {};
        result.append(h('p', { class: 'inline-result ok' }, `Found ${r.record.key}.`),
          h('dl', { class: 'settings lookup-fields' }, Object.entries(data).map(([k, v]) => [
            h('dt', { title: k }, labelOf(k)),
            h('dd', { 'data-field': k }, typeof v === 'boolean' ? (v ? 'yes' : 'no') : asText(v)),
          ])));
      } catch (e) {
        result.dataset.found = 'false';
        result.append(h('p', { class: 'inline-result bad', 'data-test': 'lookup-error' }, e.message));
      }
    });
  });
  return { el: form, focus: () => key.focus() };
}

export async function render(ctx) {
  const [data, plugins] = await Promise.all([api.get('/api/connections'), api.get('/api/plugins')]);
  if (!ctx.alive()) return;
  const isAdmin = roleAtLeast(ctx.user, 'admin');
  const formSlot = h('div', { 'data-test': 'connection-form-slot' });
  const lookupSlot = h('div', { 'data-test': 'lookup-slot' });
  const anyLookup = (data.items || []).some((c) => (c.lookup_entities || []).length);
  const reload = (notice) => ctx.go('/connections', {}, notice);
  const loaded = (plugins.loaded || []).map((p) => ({ id: p.id, version: p.version }));

  async function openForm(existing) {
    clear(formSlot);
    const form = connectionForm(ctx, loaded, existing, (saved) => {
      clear(formSlot);
      if (saved) reload(existing ? `Connection ${saved.id} saved.` : `Connection ${saved.id} created. Test it below.`);
    });
    formSlot.append(form.el);
    try {
      await form.ready;
    } catch (e) {
      showError(e);
    }
    form.el.scrollIntoView({ block: 'start' });
    const first = form.el.querySelector('input:not([disabled]), select:not([disabled])');
    if (first) first.focus();
  }

  const rows = (data.items || []).map((c) => {
    const portal = c.origin === 'portal';
    const origin = portal
      ? h('div', { class: 'small muted', 'data-test': 'connection-origin' }, 'created in the portal', c.updated ? [' · changed ', timeEl(c.updated)] : null)
      : h('div', { class: 'small muted', 'data-test': 'connection-origin' }, 'from ', h('span', { class: 'mono' }, c.file || 'the configuration file'), ' (read-only)');
    // The last test (kept by the hub across restarts), and why there is no Look up where the
    // connector has lookups but this connection cannot list them.
    const lt = c.last_test;
    const lastTest = lt ? h('div', { class: ['small', 'last-test', lt.ok ? 'muted' : 'bad'], 'data-test': 'connection-last-test', 'data-ok': String(!!lt.ok), title: lt.message || null },
      lt.ok ? 'last test OK ' : `last test failed${lt.error_class ? ` (${lt.error_class})` : ''} `, agoEl(lt.at), !lt.ok && lt.message ? `: ${lt.message}` : '') : null;
    const noLookup = !(c.lookup_entities || []).length && c.lookup_unavailable && c.lookup_unavailable !== 'its connector looks nothing up'
      ? h('div', { class: 'small muted', 'data-test': 'lookup-unavailable' }, `No Look up: ${c.lookup_unavailable}.`) : null;
    let actions = null;
    // "Look up" for any role, where the connector can look something up.
    let lookup = null;
    if ((c.lookup_entities || []).length) {
      lookup = h('button', { type: 'button', class: 'small', 'data-test': 'lookup-connection' }, 'Look up');
      lookup.setAttribute('aria-label', `Look up through connection ${c.id}`);
      lookup.addEventListener('click', () => {
        clear(lookupSlot);
        const panel = lookupPanel(c, () => { clear(lookupSlot); lookup.focus(); });
        lookupSlot.append(panel.el);
        panel.el.scrollIntoView({ block: 'start' });
        panel.focus();
      });
    }
    if (!isAdmin && lookup) actions = h('td', { class: 'actions', 'data-label': 'Actions' }, h('div', { class: 'action-stack' }, lookup));
    if (isAdmin) {
      const [test, result] = testButton(c);
      let edit = null;
      let del = null;
      if (portal) {
        edit = h('button', { type: 'button', class: 'secondary small', 'data-test': 'edit-connection' }, 'Edit');
        edit.setAttribute('aria-label', `Edit connection ${c.id}`);
        edit.addEventListener('click', () => openForm(c));
        del = h('button', { type: 'button', class: 'danger small', 'data-test': 'delete-connection', disabled: (c.processes || []).length > 0 });
        del.textContent = 'Delete';
        del.setAttribute('aria-label', `Delete connection ${c.id}`);
        if ((c.processes || []).length) del.title = 'Used by a process: remove it from the configuration file first';
        del.addEventListener('click', () => {
          // eslint-disable-next-line no-alert
          if (!window.confirm(`Delete connection ${c.id}? Its stored secrets are erased.`)) return;
          withButton(del, async () => {
            await api.del(`/api/connections/${seg(c.id)}`);
            reload(`Connection ${c.id} deleted.`);
          });
        });
      }
      actions = h('td', { class: 'actions', 'data-label': 'Actions' }, h('div', { class: 'action-stack' }, lookup, test, edit, del), result);
    }
    return h('tr', { 'data-test': 'connection-row', 'data-connection': c.id, 'data-origin': c.origin || 'file' },
      h('td', { class: 'process-cell' }, h('strong', null, c.id), c.display_name ? h('div', null, c.display_name) : null, origin, lastTest, noLookup),
      h('td', { 'data-label': 'Connector' }, badge(c.connector, 'unchanged')),
      h('td', { class: 'settings-cell', 'data-label': 'Settings' }, settingsList(c.settings)),
      h('td', { class: 'small', 'data-label': 'Used by' }, (c.processes || []).length
        ? (c.processes).map((p, i) => [i ? ', ' : '', h('a', { href: `#/runs?process=${encodeURIComponent(p)}` }, p)])
        : h('span', { class: 'muted' }, 'none')),
      actions);
  });

  let newButton = null;
  if (isAdmin) {
    newButton = h('button', { type: 'button', 'data-test': 'new-connection' }, 'New connection');
    newButton.addEventListener('click', () => openForm(null));
  }
  const t = table([{ label: 'Connection' }, { label: 'Connector' }, { label: 'Settings' }, { label: 'Used by' },
    ...(isAdmin || anyLookup ? [{ label: 'Actions' }] : [])], rows, { test: 'connections-table', empty: 'No connections yet.' });
  t.querySelector('table').classList.add('cards-on-phone');
  put(ctx.main,
    h('h1', null, 'Connections'),
    h('p', { class: 'subtitle' }, 'Connections from the configuration file are read-only here. Admins create connections from an installed connector; their secrets are stored encrypted and never sent to the browser again (they show as ••••••).'),
    newButton ? h('div', { class: 'button-row' }, newButton) : null,
    formSlot,
    lookupSlot,
    t);
}
