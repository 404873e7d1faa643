// The webhook inbox (GET /api/inbox, /api/inbox/{connection}): per connection that takes
// webhooks, how many events are stored and how many wait for a process to consume them, and
// its latest events — topic, id, when received, which runs consumed them. Never a secret.
// An event's body may hold personal data: it is not in the lists, only fetched when asked
// for (GET /api/inbox/{connection}/events/{seq}, audited) and shown below its row.

import { api, apiPath, seg } from '../api.js';
import { badge, clear, fmtNum, h, put, table, timeEl, withButton } from '../ui.js';

function eventRow(conn, e) {
  const bodyCell = h('td', { class: 'small', colspan: 7 });
  const detail = h('tr', { class: 'detail-row', hidden: true }, bodyCell);
  const show = h('button', { type: 'button', class: 'secondary small', 'data-test': 'show-body' }, 'Body');
  show.setAttribute('aria-label', `Show the body of event ${e.id}`);
  show.addEventListener('click', () => withButton(show, async () => {
    const v = await api.get(`/api/inbox/${seg(conn)}/events/${e.seq}`);
    clear(bodyCell).append(h('pre', { class: 'mono small', 'data-test': 'event-body' },
      JSON.stringify(v.body, null, 2)));
    detail.hidden = false;
  }));
  const consumed = (e.consumed_by || []).map((r, i) => [i ? ', ' : '',
    h('a', { href: `#/runs/${r.run_id}` }, `${r.process} #${r.run_id}`)]);
  return [
    h('tr', { 'data-test': 'inbox-event', 'data-seq': e.seq },
      h('td', { class: 'mono num' }, String(e.seq)),
      h('td', { class: 'mono small' }, e.id),
      h('td', null, e.topic || h('span', { class: 'muted' }, '—')),
      h('td', null, timeEl(e.received)),
      h('td', null, badge(e.status, e.status === 'pending' ? 'partial' : e.status === 'consumed' ? 'succeeded' : 'unchanged')),
      h('td', { class: 'small' }, consumed.length ? consumed : h('span', { class: 'muted' }, (e.triggers || []).length ? `triggers ${(e.triggers || []).join(', ')}` : '—')),
      h('td', { class: 'actions' }, show)),
    detail,
  ];
}

export async function render(ctx) {
  const data = await api.get('/api/inbox');
  if (!ctx.alive()) return;
  const items = data.items || [];
  const selected = ctx.params.get('connection') || (items[0] && items[0].connection) || '';
  const rows = items.map((c) => h('tr', { 'data-test': 'inbox-row', 'data-connection': c.connection },
    h('td', null, h('a', { href: `#/inbox?connection=${encodeURIComponent(c.connection)}` }, h('strong', null, c.connection))),
    h('td', null, badge(c.connector, 'unchanged')),
    h('td', { class: 'mono small' }, c.path),
    h('td', null, c.accepting ? badge('accepting', 'ok') : badge('no secret set', 'failed')),
    h('td', { class: 'num', 'data-count': 'pending' }, fmtNum(c.pending), h('span', { class: 'muted small' }, ` / ${fmtNum(c.max_pending)}`)),
    h('td', { class: 'num', 'data-count': 'stored' }, fmtNum(c.stored)),
    h('td', null, timeEl(c.last_received)),
    h('td', { class: 'small' }, (c.readers || []).length ? c.readers.join(', ') : h('span', { class: 'muted' }, 'events trigger runs'))));
  put(ctx.main,
    h('h1', null, 'Inbox'),
    h('p', { class: 'subtitle' }, data.listening
      ? `Webhook events are verified, stored and de-duplicated before they are answered; consumed events are kept ${data.retention_days} day(s).`
      : 'The webhook listener is off: set "hooks": {"listen": …} in the configuration (docs/operations.md).'),
    table([{ label: 'Connection' }, { label: 'Connector' }, { label: 'Path' }, { label: 'State' },
      { label: 'Pending', num: true }, { label: 'Stored', num: true }, { label: 'Last event' }, { label: 'Read by' }],
    rows, { test: 'inbox-table', empty: 'No connection takes webhooks.' }));
  if (!selected) return;
  const before = ctx.params.get('before') || '';
  const events = await api.get(apiPath(`/api/inbox/${seg(selected)}`, { before, limit: 50 }));
  if (!ctx.alive()) return;
  put(ctx.main,
    h('h2', null, `Latest events of ${selected}`),
    table([{ label: 'Seq', num: true }, { label: 'Event id' }, { label: 'Topic' }, { label: 'Received' },
      { label: 'State' }, { label: 'Consumed by' }, { srLabel: 'Body' }],
    (events.items || []).map((e) => eventRow(selected, e)), { test: 'inbox-events', empty: 'No event stored.' }),
    events.next_before ? h('p', null, h('a', { href: `#/inbox?connection=${encodeURIComponent(selected)}&before=${events.next_before}`, 'data-test': 'older' }, 'Older events')) : null);
}
