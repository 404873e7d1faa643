// Log in: POST /api/login {name, password} → {user, csrf_token} and a session cookie.

import { api } from '../api.js';
import { field, h, put } from '../ui.js';


export function render(ctx) {
  const name = h('input', { type: 'text', name: 'name', autocomplete: 'username', required: true, 'data-test': 'login-name' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, 'data-test': 'login-password' });
  const error = h('p', { class: 'inline-error', role: 'alert', 'data-test': 'login-error', hidden: true });
  const submit = h('button', { type: 'submit', 'data-test': 'login-submit' }, 'Log in');
  name.id = 'login-name';
  password.id = 'login-password';

  const form = h('form', { class: 'panel', 'data-test': 'login-form', novalidate: false },
    field('User name', name),
    field('Password', password),
    submit,
    error);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    try {
      const data = await api.post('/api/login', { name: name.value.trim(), password: password.value });
      ctx.loggedIn(data);
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      password.select();
    } finally {
      submit.disabled = false;
    }
  });

  put(ctx.main, h('div', { class: 'login-box' },
    h('h1', null, 'Plexus'),
    h('p', { class: 'muted' }, 'Log in to see and run the sync processes.'),
    form));
  name.focus();
}
