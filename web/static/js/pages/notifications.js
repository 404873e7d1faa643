// Notifications (admins): e-mail over SMTP and a webhook (Slack, Teams) for failed runs and
// failed records, sent as a digest (GET/PUT /api/notifications, POST /api/notifications/test).
// The SMTP password and the webhook address are write-only: the page shows only whether one
// is stored. Errors come back by field and are shown beside it. Others see the settings and
// how sending goes, read-only. A channel written in the configuration file ("notifications")
// is shown read-only with the file and JSON path it comes from.

import { api, ApiError } from '../api.js';
import { clear, field, fmtNum, fmtRelative, h, put, roleAtLeast, select, showError, showInfo, timeEl, withButton } from '../ui.js';
import { visiblePoller } from './attention.js';

function statusEl(name, st) {
  if (!st) return null;
  return h('div', { class: 'notify-channel', 'data-test': `notify-status-${name}` },
    h('strong', null, name === 'email' ? 'E-mail: ' : 'Webhook: '),
    st.enabled ? '' : 'off · ',
    st.last_sent ? h('span', null, 'last sent ', timeEl(st.last_sent)) : 'nothing sent yet',
    st.pending ? ` · ${fmtNum(st.pending)} ${st.pending === 1 ? 'run' : 'runs'} to tell${st.next_send ? ` (next message ${fmtRelative(st.next_send)})` : ''}` : '',
    st.last_error ? h('div', { class: 'bad', 'data-test': `notify-error-${name}` }, `Last try failed${st.last_error_at ? ` ${fmtRelative(st.last_error_at)}` : ''}: ${st.last_error}`) : null);
}

export async function render(ctx) {
  const admin = roleAtLeast(ctx.user, 'admin');
  let data = await api.get('/api/notifications');
  if (!ctx.alive()) return undefined;

  const statusBox = h('section', { class: 'panel notify-status', 'aria-label': 'Sending', 'data-test': 'notify-status', 'aria-live': 'polite' });
  const showStatus = (d) => {
    clear(statusBox);
    statusBox.append(h('h2', null, 'Sending'), statusEl('email', d.status && d.status.email), statusEl('webhook', d.status && d.status.webhook));
    if (d.error) statusBox.append(h('p', { class: 'bad' }, d.error));
  };
  showStatus(data);

  const e = data.email || {};
  const w = data.webhook || {};
  const dis = !admin;
  // Parts written in the configuration file are read-only here, with where they come from.
  const fileSet = new Set(data.file_settings || []);
  const emailFile = e.origin === 'file';
  const hookFile = w.origin === 'file';
  const howOftenFile = fileSet.has('digest_minutes') || fileSet.has('portal_url');
  const fromFile = (part) => h('p', { class: 'small muted', 'data-test': `notify-origin-${part}` },
    'From ', h('span', { class: 'mono' }, `${data.file || 'the configuration file'}`),
    ` (${part === 'email' ? e.json_path : part === 'webhook' ? w.json_path : '/notifications'}), read-only: change it there and restart plexus serve.`);
  const c = {
    emailOn: h('input', { type: 'checkbox', checked: !!e.enabled, disabled: dis || emailFile, 'data-test': 'notify-email-enabled' }),
    server: h('input', { type: 'text', value: e.server || '', disabled: dis || emailFile, autocomplete: 'off', placeholder: 'smtp.example.com', 'data-test': 'notify-server' }),
    port: h('input', { type: 'number', min: 1, max: 65535, value: e.port || 587, disabled: dis || emailFile, 'data-test': 'notify-port' }),
    security: select([['starttls', 'STARTTLS (usually port 587)'], ['tls', 'TLS (usually port 465)'], ['none', 'None — trusted networks only']], e.security || 'starttls', { disabled: dis || emailFile, 'data-test': 'notify-security' }),
    from: h('input', { type: 'email', value: e.from || '', disabled: dis || emailFile, placeholder: 'plexus@example.com', 'data-test': 'notify-from' }),
    to: h('input', { type: 'text', value: (e.to || []).join(', '), disabled: dis || emailFile, placeholder: 'ops@example.com, lead@example.com', 'data-test': 'notify-to' }),
    username: h('input', { type: 'text', value: e.username || '', disabled: dis || emailFile, autocomplete: 'off', 'data-test': 'notify-username' }),
    password: h('input', { type: 'password', value: '', disabled: dis || emailFile, autocomplete: 'new-password', placeholder: emailFile ? (e.password_set ? 'given in the file' : '') : e.password_set ? 'stored — leave empty to keep it' : '', 'data-test': 'notify-password' }),
    passwordRemove: h('input', { type: 'checkbox', disabled: dis || emailFile || !e.password_set, 'data-test': 'notify-password-remove' }),
    hookOn: h('input', { type: 'checkbox', checked: !!w.enabled, disabled: dis || hookFile, 'data-test': 'notify-webhook-enabled' }),
    url: h('input', { type: 'url', value: '', disabled: dis || hookFile, autocomplete: 'off', placeholder: hookFile ? `given in the file (${w.url_host || 'not set'})` : w.url_set ? `stored (${w.url_host}) — leave empty to keep it` : 'https://hooks.slack.com/services/…', 'data-test': 'notify-url' }),
    digest: h('input', { type: 'number', min: 0, max: 1440, step: 'any', value: data.digest_minutes ?? 15, disabled: dis || fileSet.has('digest_minutes'), 'data-test': 'notify-digest' }),
    portalUrl: h('input', { type: 'url', value: data.portal_url || '', disabled: dis || fileSet.has('portal_url'), placeholder: data.links_to || '', 'data-test': 'notify-portal-url' }),
  };
  // Field errors from the API ({field, message}) beside their field.
  const fieldOf = {
    'email.enabled': c.emailOn, 'email.server': c.server, 'email.port': c.port, 'email.security': c.security,
    'email.from': c.from, 'email.to': c.to, 'email.username': c.username, 'email.password': c.password,
    'webhook.enabled': c.hookOn, 'webhook.url': c.url, digest_minutes: c.digest, portal_url: c.portalUrl,
  };
  const wrap = (label, control, hint) => {
    const f = field(label, control, hint);
    f.append(h('span', { class: 'field-error', 'data-test': 'field-error', hidden: true }));
    return f;
  };
  const clearErrors = () => {
    for (const el of form.querySelectorAll('.field-error')) { el.hidden = true; el.textContent = ''; }
    for (const el of Object.values(fieldOf)) el.removeAttribute('aria-invalid');
  };
  const showErrors = (errors) => {
    for (const err of errors) {
      const control = fieldOf[err.field];
      const box = control && control.closest('.field') && control.closest('.field').querySelector('.field-error');
      if (box) {
        box.hidden = false;
        box.textContent = err.message;
        control.setAttribute('aria-invalid', 'true');
      }
    }
  };

  const save = h('button', { type: 'submit', 'data-test': 'notify-save', hidden: !admin }, 'Save');
  const testEmail = h('button', { type: 'button', class: 'secondary', 'data-test': 'notify-test-email', hidden: !admin }, 'Send a test e-mail');
  const testHook = h('button', { type: 'button', class: 'secondary', 'data-test': 'notify-test-webhook', hidden: !admin }, 'Send a test to the webhook');
  const results = h('ul', { class: 'notify-results', 'aria-live': 'polite', 'data-test': 'notify-results' });

  const form = h('form', { class: 'panel notify-form', 'aria-label': 'Notification settings' },
    h('fieldset', { 'data-origin': emailFile ? 'file' : 'portal', 'data-test': 'notify-email' }, h('legend', null, 'E-mail'),
      emailFile ? fromFile('email') : null,
      h('label', { class: 'inline-check' }, c.emailOn, 'Send e-mail when runs or records fail'),
      h('div', { class: 'form-grid' },
        wrap('SMTP server', c.server), wrap('Port', c.port), wrap('Encryption', c.security),
        wrap('From', c.from), wrap('To', c.to, 'One or more addresses, separated by commas'),
        wrap('User name', c.username, 'Empty when the server needs no login'),
        wrap('Password', c.password, emailFile ? (e.password_set ? 'Given in the file (or its environment); never shown.' : 'None given in the file.') : e.password_set ? 'A password is stored; it is never shown.' : 'Stored encrypted; never shown again.')),
      e.password_set && !emailFile ? h('label', { class: 'inline-check' }, c.passwordRemove, 'Remove the stored password') : null),
    h('fieldset', { 'data-origin': hookFile ? 'file' : 'portal', 'data-test': 'notify-webhook' }, h('legend', null, 'Webhook (Slack, Microsoft Teams)'),
      hookFile ? fromFile('webhook') : null,
      h('label', { class: 'inline-check' }, c.hookOn, 'Post to a webhook when runs or records fail'),
      h('div', { class: 'form-grid' },
        wrap('Webhook address', c.url, w.url_set ? `An address for ${w.url_host} is stored; it is never shown (it works like a password).` : 'The incoming webhook\u2019s address from Slack or Teams'))),
    h('fieldset', null, h('legend', null, 'How often'), howOftenFile ? fromFile('how-often') : null,
      h('div', { class: 'form-grid' },
        wrap('At most one message every (minutes)', c.digest, 'Failures in between are listed together in the next message; 0 sends each as it comes'),
        wrap('Portal address in links', c.portalUrl, `Empty: ${data.links_to || 'the address plexus serve listens on'}`))),
    h('div', { class: 'actions' }, save, testEmail, testHook),
    results);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    withButton(save, async () => {
      clearErrors();
      const email = {
        enabled: c.emailOn.checked, server: c.server.value.trim(), port: Number(c.port.value), security: c.security.value,
        from: c.from.value.trim(), to: c.to.value, username: c.username.value.trim(),
      };
      if (c.password.value) email.password = c.password.value;
      else if (c.passwordRemove.checked) email.password = null;
      const webhook = { enabled: c.hookOn.checked };
      if (c.url.value.trim()) webhook.url = c.url.value.trim();
      // What the file sets is not sent: the server refuses to change it.
      const body = {};
      if (!emailFile) body.email = email;
      if (!hookFile) body.webhook = webhook;
      if (!fileSet.has('digest_minutes')) body.digest_minutes = Number(c.digest.value);
      if (!fileSet.has('portal_url')) body.portal_url = c.portalUrl.value.trim();
      try {
        data = await api.put('/api/notifications', body);
      } catch (err) {
        if (err instanceof ApiError && err.errors) showErrors(err.errors);
        throw err;
      }
      c.password.value = '';
      c.url.value = '';
      showStatus(data);
      showInfo('Notification settings saved.');
      if (ctx.alive()) ctx.go('/notifications', {}, 'Notification settings saved.');
    });
  });
  const runTest = (button, channel) => withButton(button, async () => {
    const r = await api.post('/api/notifications/test', { channel });
    clear(results);
    for (const x of r.results || []) {
      results.append(h('li', { class: x.ok ? 'ok' : 'bad', 'data-test': 'notify-result', 'data-ok': String(!!x.ok) },
        `${x.channel === 'email' ? 'E-mail' : x.channel === 'webhook' ? 'Webhook' : 'Test'}: ${x.ok ? 'sent' : x.message}`));
    }
  });
  testEmail.addEventListener('click', () => runTest(testEmail, 'email'));
  testHook.addEventListener('click', () => runTest(testHook, 'webhook'));

  put(ctx.main,
    h('h1', null, 'Notifications'),
    h('p', { class: 'subtitle' }, 'When a run fails, stops early or leaves failed records, Plexus tells you by e-mail and/or in a chat channel. ',
      admin ? '' : 'Only admins can change these settings.'),
    statusBox,
    form);

  const stop = visiblePoller(async () => {
    const fresh = await api.get('/api/notifications');
    if (ctx.alive()) showStatus(fresh);
  }, 5000, ctx.alive);
  return () => { stop(); };
}
