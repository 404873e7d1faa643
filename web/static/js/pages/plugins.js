// Connector libraries loaded by the host, and files it refused with the reason
// (GET /api/plugins).

import { api } from '../api.js';
import { h, put, table } from '../ui.js';


export async function render(ctx) {
  const data = await api.get('/api/plugins');
  if (!ctx.alive()) return;
  const loaded = (data.loaded || []).map((p) => h('tr', { 'data-test': 'plugin-row', 'data-plugin': p.id },
    h('td', null, h('strong', null, p.id)),
    h('td', { class: 'mono' }, p.version),
    h('td', { class: 'small' }, (p.entities || []).join(', ') || h('span', { class: 'muted' }, 'from settings')),
    // The plugin interface version and the file: for whoever installs connectors.
    h('td', { class: 'small' }, h('details', { 'data-test': 'plugin-details' }, h('summary', null, 'Details'),
      h('dl', { class: 'settings' }, h('dt', null, 'Interface (ABI)'), h('dd', { class: 'mono' }, p.abi),
        h('dt', null, 'File'), h('dd', { class: 'mono' }, p.path))))));
  const refused = (data.refused || []).map((r) => h('tr', { 'data-test': 'refused-row' },
    h('td', { class: 'mono small' }, r.path),
    h('td', { class: 'message' }, r.reason)));
  put(ctx.main, 
    h('h1', null, 'Plugins'),
    h('h2', null, `Loaded (${loaded.length})`),
    table([{ label: 'Connector' }, { label: 'Version' }, { label: 'Entities' }, { label: 'Details' }],
      loaded, { test: 'plugins-table', empty: 'No connector is loaded.' }),
    h('h2', null, `Refused (${refused.length})`),
    table([{ label: 'File' }, { label: 'Reason' }], refused, { test: 'refused-table', empty: 'No file was refused.' }));
}
