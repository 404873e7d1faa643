// Users (admin only): list, add, change role, set password, delete (GET/POST /api/users,
// PUT/DELETE /api/users/{name}). The server refuses an admin demoting or deleting
// themselves; the page does not offer it either.

import { api, seg } from '../api.js';
import { field, fmtNum, formDialog, h, put, select, showError, showInfo, table, timeEl, withButton } from '../ui.js';


const ROLES = [['support', 'support — read and export'], ['operator', 'operator — + run, replay, mappings'], ['admin', 'admin — + users, connections']];

export async function render(ctx) {
  const data = await api.get('/api/users');
  if (!ctx.alive()) return;
  const me = ctx.user.name;
  const reload = (notice) => ctx.go('/users', {}, notice);

  const passwordDialog = makePasswordDialog();

  const rows = (data.items || []).map((u) => {
    const self = u.name === me;
    const role = select(ROLES.map(([v]) => [v, v]), u.role, { 'data-test': 'user-role', disabled: self, 'aria-label': `Role of ${u.name}` });
    role.addEventListener('change', async () => {
      role.disabled = true;
      try {
        await api.put(`/api/users/${seg(u.name)}`, { role: role.value });
        showInfo(`${u.name} is now ${role.value}.`);
        u.role = role.value;
      } catch (e) {
        role.value = u.role;
        showError(e);
      } finally {
        role.disabled = false;
      }
    });
    const pw = h('button', { type: 'button', class: 'secondary small', 'data-test': 'user-password' }, 'Set password…');
    pw.setAttribute('aria-label', `Set the password of ${u.name}`);
    pw.addEventListener('click', () => passwordDialog.open(u.name, pw));
    let del = null;
    if (!self) {
      del = h('button', { type: 'button', class: 'danger small', 'data-test': 'user-delete' }, 'Delete');
      del.setAttribute('aria-label', `Delete user ${u.name}`);
      del.addEventListener('click', () => {
        // eslint-disable-next-line no-alert
        if (!window.confirm(`Delete user ${u.name}? Their sessions end at once.`)) return;
        withButton(del, async () => {
          await api.del(`/api/users/${seg(u.name)}`);
          reload(`User ${u.name} deleted.`);
        });
      });
    }
    return h('tr', { 'data-test': 'user-row', 'data-user': u.name },
      h('td', null, h('strong', null, u.name), self ? h('span', { class: 'muted small' }, ' (you)') : null),
      h('td', null, role),
      h('td', { class: 'small nowrap' }, timeEl(u.created)),
      h('td', { class: 'actions' }, pw, del));
  });

  // ---- add ----
  const name = h('input', { type: 'text', required: true, pattern: '[A-Za-z0-9._@\\-]{1,64}', autocomplete: 'off', 'data-test': 'new-user-name' });
  const password = h('input', { type: 'password', required: true, minlength: 10, autocomplete: 'new-password', 'data-test': 'new-user-password' });
  const role = select(ROLES, 'support', { 'data-test': 'new-user-role' });
  const add = h('button', { type: 'submit', 'data-test': 'new-user-add' }, 'Add user');
  const error = h('p', { class: 'inline-error', role: 'alert', hidden: true, 'data-test': 'new-user-error' });
  const form = h('form', { class: 'panel', 'aria-labelledby': 'add-user-title' },
    h('h2', { id: 'add-user-title' }, 'Add a user'),
    h('div', { class: 'form-grid' },
      field('Name', name, 'letters, digits, . _ @ -'),
      field('Password', password, 'at least 10 characters'),
      field('Role', role),
      h('div', { class: 'field submit' }, add)),
    error);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    add.disabled = true;
    try {
      await api.post('/api/users', { name: name.value.trim(), password: password.value, role: role.value });
      reload(`User ${name.value.trim()} added as ${role.value}.`);
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    } finally {
      add.disabled = false;
    }
  });

  put(ctx.main, 
    h('h1', null, 'Users'),
    h('p', { class: 'subtitle' }, `${fmtNum(rows.length)} user${rows.length === 1 ? '' : 's'}. Support reads, looks up and exports; operator also runs, schedules, replays and edits mappings; admin also manages users, connections and notifications.`),
    table([{ label: 'Name' }, { label: 'Role' }, { label: 'Created' }, { srLabel: 'Actions' }], rows, { test: 'users-table', empty: 'No users.' }),
    form,
    passwordDialog.el);
}

function makePasswordDialog() {
  const password = h('input', { type: 'password', required: true, minlength: 10, autocomplete: 'new-password', 'data-test': 'set-password' });
  const error = h('p', { class: 'inline-error', role: 'alert', hidden: true });
  const title = h('h2');
  const save = h('button', { type: 'submit', 'data-test': 'set-password-save' }, 'Save');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const form = h('form', { method: 'dialog' }, title, field('New password', password, 'at least 10 characters'), error,
    h('div', { class: 'button-row' }, save, cancel));
  const el = h('dialog', { 'aria-label': 'Set password' }, form);
  let user = null;
  const dialog = formDialog({ el, form, error, save, cancel }, async () => {
    await api.put(`/api/users/${seg(user)}`, { password: password.value });
    el.close();
    showInfo(`Password of ${user} changed.`);
  });
  return {
    el,
    open(name, from) {
      user = name;
      title.textContent = `New password for ${name}`;
      password.value = '';
      dialog.open(from);
    },
  };
}
