// The portal's shell: session, navigation and hash routes.
//
// Routes (the part after '#'; query parameters hold a page's filters so that a view can be
// bookmarked and reloaded):
//   /login                      log in
//   /processes                  processes, live progress of running runs
//   /runs?process=&status=&from=&to=&offset=     run history and chart
//   /runs/ID?action=&error_class=&text=&after=   one run's record outcomes
//   /failed/PROCESS?offset=     failed records of a process, replay
//   /connections  /inbox?connection=&before=  /plugins  /users  /audit?offset=
//
// A page module exports render(ctx) (may be async) and may return a cleanup function,
// called when the page is left (pollers stop there).

import { api, ApiError, setCsrfToken, onUnauthenticated } from './api.js';
import { clear, clearFlash, h, roleAtLeast, showError, showInfo } from './ui.js';
import * as loginPage from './pages/login.js';
import * as processesPage from './pages/processes.js';
import * as runsPage from './pages/runs.js';
import * as runPage from './pages/run.js';
import * as failedPage from './pages/failed.js';
import * as connectionsPage from './pages/connections.js';
import * as inboxPage from './pages/inbox.js';
import * as pluginsPage from './pages/plugins.js';
import * as usersPage from './pages/users.js';
import * as auditPage from './pages/audit.js';
import * as mappingPage from './pages/mapping.js';
import * as notificationsPage from './pages/notifications.js';

const routes = [
  { re: /^\/login$/, page: loginPage, public: true, title: 'Log in' },
  { re: /^\/processes$/, page: processesPage, nav: 'processes', title: 'Processes' },
  { re: /^\/runs$/, page: runsPage, nav: 'runs', title: 'Run history' },
  { re: /^\/runs\/(\d+)$/, page: runPage, nav: 'runs', title: 'Run' },
  { re: /^\/failed(?:\/([^/]+))?$/, page: failedPage, nav: 'failed', title: 'Failed records' },
  { re: /^\/connections$/, page: connectionsPage, nav: 'connections', title: 'Connections' },
  { re: /^\/inbox$/, page: inboxPage, nav: 'inbox', title: 'Inbox' },
  { re: /^\/plugins$/, page: pluginsPage, nav: 'plugins', title: 'Plugins' },
  { re: /^\/users$/, page: usersPage, nav: 'users', title: 'Users', role: 'admin' },
  { re: /^\/audit$/, page: auditPage, nav: 'audit', title: 'Audit log' },
  { re: /^\/mapping\/([^/]+)$/, page: mappingPage, nav: 'processes', title: 'Mapping' },
  { re: /^\/notifications$/, page: notificationsPage, nav: 'notifications', title: 'Notifications' },
];

const state = {
  user: null, // {name, role}
  cleanup: null,
  generation: 0, // bumps on every navigation; a page checks it before touching the DOM late
  afterLogin: '#/processes',
  notice: null, // shown once by the next route()
};

export function currentUser() {
  return state.user;
}

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/processes';
  const [path, query = ''] = raw.split('?');
  return { path, params: new URLSearchParams(query) };
}

// Navigates to path with params (empty values are dropped). notice: a message shown on
// the page navigated to (messages are otherwise cleared on navigation).
export function go(path, params = {}, notice = null) {
  state.notice = notice;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  const target = `#${path}${s ? `?${s}` : ''}`;
  if (location.hash === target) route();
  else location.hash = target;
}

function setSession(data) {
  state.user = data ? data.user : null;
  setCsrfToken(data ? data.csrf_token : null);
  updateShell();
}

function updateShell() {
  const bar = document.getElementById('topbar');
  bar.hidden = !state.user;
  if (!state.user) return;
  document.getElementById('who').textContent = `${state.user.name} (${state.user.role})`;
  document.getElementById('who').setAttribute('data-role', state.user.role);
  for (const li of bar.querySelectorAll('[data-min-role]')) li.hidden = !roleAtLeast(state.user, li.dataset.minRole);
}

function markNav(nav) {
  for (const a of document.querySelectorAll('#nav a[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  const gen = ++state.generation;
  if (state.cleanup) {
    try { state.cleanup(); } catch { /* a page's cleanup must not block navigation */ }
    state.cleanup = null;
  }
  closeMenu();
  clearFlash();
  if (state.notice) {
    showInfo(state.notice);
    state.notice = null;
  }
  const { path, params } = parseHash();
  const found = routes.find((r) => r.re.test(path));
  if (!found) {
    go('/processes');
    return;
  }
  if (!found.public && !state.user) {
    state.afterLogin = location.hash || '#/processes';
    go('/login');
    return;
  }
  if (found.public && state.user) {
    go('/processes');
    return;
  }
  const main = document.getElementById('main');
  clear(main);
  markNav(found.nav);
  document.title = `${found.title} · Plexus`;
  if (found.role && !roleAtLeast(state.user, found.role)) {
    main.append(h('h1', null, found.title), h('p', null, `This page is for the role ${found.role}; you are ${state.user.role}.`));
    return;
  }
  const ctx = {
    main,
    params,
    match: path.match(found.re),
    user: state.user,
    go,
    alive: () => gen === state.generation,
    setTitle: (t) => { document.title = `${t} · Plexus`; },
    loggedIn: (data) => {
      setSession(data);
      const target = state.afterLogin;
      state.afterLogin = '#/processes';
      location.hash = target;
    },
  };
  try {
    const cleanup = await found.page.render(ctx);
    if (typeof cleanup === 'function') {
      if (gen === state.generation) state.cleanup = cleanup;
      else cleanup();
    }
  } catch (e) {
    if (gen !== state.generation) return;
    if (e instanceof ApiError && e.status === 401) return; // handled: back to login
    showError(e);
  }
  if (gen === state.generation && document.activeElement === document.body) {
    const h1 = main.querySelector('h1');
    if (h1) { h1.tabIndex = -1; h1.focus({ preventScroll: true }); }
  }
}

function closeMenu() {
  document.getElementById('nav').classList.remove('open');
  document.getElementById('menu-button').setAttribute('aria-expanded', 'false');
}

async function logout(button) {
  button.disabled = true;
  try {
    await api.post('/api/logout');
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) showError(e);
  } finally {
    button.disabled = false;
  }
  setSession(null);
  state.afterLogin = '#/processes';
  go('/login');
}

async function start() {
  onUnauthenticated(() => {
    if (!state.user) return;
    setSession(null);
    state.afterLogin = location.hash || '#/processes';
    go('/login');
  });
  document.getElementById('logout').addEventListener('click', (ev) => logout(ev.currentTarget));
  document.getElementById('menu-button').addEventListener('click', (ev) => {
    const nav = document.getElementById('nav');
    const open = nav.classList.toggle('open');
    ev.currentTarget.setAttribute('aria-expanded', String(open));
  });
  let bootError = null;
  try {
    setSession(await api.get('/api/session'));
  } catch (e) {
    setSession(null);
    if (!(e instanceof ApiError && e.status === 401)) bootError = e;
  }
  window.addEventListener('hashchange', route);
  await route();
  if (bootError) showError(bootError);
}

start();
