// Connections with their settings as the API gives them (secret values come masked as
// "••••••" and are shown as they come), the processes using each, and for admins a "Test"
// button (POST /api/connections/{id}/test).

import { api, seg } from '../api.js';
import { asText, badge, clear, fmtDuration, h, put, roleAtLeast, table, withButton } from '../ui.js';


// Settings as a definition list; an object value (such as the files connector's entities)
// becomes a nested list, one line per member, so that it stays readable.
function settingsList(settings, nested = false) {
  const entries = Object.entries(settings || {});
  if (!entries.length) return h('span', { class: 'muted' }, 'none');
  return h('dl', { class: nested ? 'settings nested' : 'settings' }, entries.map(([k, v]) => [
    h('dt', null, k),
    v && typeof v === 'object' && !Array.isArray(v) && !nested
      ? h('dd', { 'data-setting': k }, settingsList(v, true))
      : h('dd', { class: typeof v === 'string' ? null : 'mono', 'data-setting': k }, asText(v)),
  ]));
}

export async function render(ctx) {
  const data = await api.get('/api/connections');
  if (!ctx.alive()) return;
  const isAdmin = roleAtLeast(ctx.user, 'admin');
  const rows = (data.items || []).map((c) => {
    const result = h('span', { class: 'inline-result', 'aria-live': 'polite', 'data-test': 'test-result' });
    let test = null;
    if (isAdmin) {
      test = h('button', { type: 'button', class: 'secondary small', 'data-test': 'test-connection' }, 'Test');
      test.setAttribute('aria-label', `Test connection ${c.id}`);
      test.addEventListener('click', () => withButton(test, async () => {
        clear(result).className = 'inline-result';
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
    }
    return h('tr', { 'data-test': 'connection-row', 'data-connection': c.id },
      h('td', null, h('strong', null, c.id)),
      h('td', null, badge(c.connector, 'unchanged')),
      h('td', { class: 'settings-cell' }, settingsList(c.settings)),
      h('td', { class: 'small' }, (c.processes || []).length
        ? (c.processes).map((p, i) => [i ? ', ' : '', h('a', { href: `#/runs?process=${encodeURIComponent(p)}` }, p)])
        : h('span', { class: 'muted' }, 'none')),
      isAdmin ? h('td', { class: 'actions' }, test, result) : null);
  });
  put(ctx.main, 
    h('h1', null, 'Connections'),
    h('p', { class: 'subtitle' }, 'Connections are defined in the configuration file. Secret settings are never sent to the browser; they show as ••••••.'),
    table([{ label: 'Connection' }, { label: 'Connector' }, { label: 'Settings' }, { label: 'Used by' },
      ...(isAdmin ? [{ label: 'Check' }] : [])], rows, { test: 'connections-table', empty: 'No connections are configured.' }));
}
