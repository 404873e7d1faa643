// The audit log, newest first (GET /api/audit?limit=&offset=).

import { api } from '../api.js';
import { asText, h, offsetPager, put, table, timeEl } from '../ui.js';


const LIMIT = 50;

// {"records":1,"source_keys":["1004"]} → "records 1 · source_keys ["1004"]"; {} → "".
function detailText(d) {
  if (d && typeof d === 'object' && !Array.isArray(d)) {
    return Object.entries(d).map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' · ');
  }
  return asText(d);
}

export async function render(ctx) {
  const offset = Math.max(0, Number(ctx.params.get('offset')) || 0);
  const data = await api.get('/api/audit', { limit: LIMIT, offset });
  if (!ctx.alive()) return;
  const items = data.items || [];
  const rows = items.map((a) => h('tr', { 'data-test': 'audit-row', 'data-action': a.action },
    h('td', { class: 'small nowrap' }, timeEl(a.at)),
    h('td', null, a.actor),
    h('td', { class: 'mono small' }, a.action),
    h('td', null, asText(a.subject)),
    h('td', { class: 'message small mono' }, detailText(a.detail))));
  put(ctx.main, 
    h('h1', null, 'Audit log'),
    table([{ label: 'When' }, { label: 'Who' }, { label: 'Action' }, { label: 'Subject' }, { label: 'Detail' }],
      rows, { test: 'audit-table', empty: 'Nothing has been audited yet.' }),
    offsetPager({ total: data.total, limit: LIMIT, offset, count: items.length },
      (o) => ctx.go('/audit', { offset: o }), 'audit-pager'));
}
