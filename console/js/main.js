// The console's shell: sign-in, the navigation the key's role allows, and hash routing
// (#/member/mem_…): the server serves one page, so a reload keeps the place.
import { ApiError, detectRole, session, whenUnauthenticated } from './api.js';
import { announce, clear, field, h, problemNotice } from './ui.js';
import * as member from './pages/member.js';
import * as adjustments from './pages/adjustments.js';
import * as program from './pages/program.js';
import * as partners from './pages/partners.js';
import * as finance from './pages/finance.js';
import * as audit from './pages/audit.js';
import * as operations from './pages/operations.js';
import * as reference from './pages/reference.js';

// Each page names the roles that see it; the API enforces the same roles on every call.
const pages = [
  { id: 'member', title: 'Members', roles: ['admin', 'mall', 'finance'], module: member },
  { id: 'adjustments', title: 'Adjustments', roles: ['admin'], module: adjustments },
  { id: 'program', title: 'Program', roles: ['admin', 'finance'], module: program },
  { id: 'partners', title: 'Partners', roles: ['admin', 'finance'], module: partners },
  { id: 'finance', title: 'Finance', roles: ['finance'], module: finance },
  { id: 'audit', title: 'Audit and exports', roles: ['admin', 'finance'], module: audit },
  { id: 'operations', title: 'Operations', roles: ['admin'], module: operations },
  { id: 'reference', title: 'API reference', roles: ['admin', 'finance', 'mall', 'ingest'], module: reference },
];

const roleNames = {
  admin: 'Administrator', finance: 'Finance', mall: 'Member service (mall)', ingest: 'Event ingest',
};

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const navList = document.getElementById('nav-list');
const who = document.getElementById('who');

function allowedPages() {
  return pages.filter((p) => p.roles.includes(session.role));
}

function route() {
  const [id, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  return { id, args: rest.map(decodeURIComponent) };
}

export function go(id, ...args) {
  location.hash = `#/${[id, ...args.map(encodeURIComponent)].join('/')}`;
}

function showSignIn(message) {
  nav.hidden = true;
  who.hidden = true;
  document.title = 'Sign in · loyalty-ledger console';
  const input = h('input', {
    type: 'password', id: 'api-key', name: 'api-key', autocomplete: 'off', spellcheck: 'false', required: true,
    placeholder: 'key_…',
  });
  const error = h('div', { id: 'sign-in-error' });
  const button = h('button', { type: 'submit', text: 'Sign in' });
  const form = h('form', { class: 'signin', 'aria-labelledby': 'sign-in-title', novalidate: true },
    h('h1', { id: 'sign-in-title', text: 'Sign in' }),
    h('p', { class: 'muted', text: 'Use an API key (admin, finance or mall). It is kept in this tab only and forgotten when the tab closes.' }),
    field('API key', input), error, h('div', { class: 'row' }, button));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    clear(error);
    if (!key) {
      error.append(problemNotice(new Error('Enter an API key.')));
      input.focus();
      return;
    }
    button.disabled = true;
    button.textContent = 'Signing in…';
    try {
      const role = await detectRole(key);
      session.start(key, role);
      input.value = '';
      announce(`Signed in as ${roleNames[role] || role}.`);
      // A page the role may not see sends it to its first page (the hash change renders it).
      if (!allowedPages().some((p) => p.id === route().id)) go(allowedPages()[0].id);
      else render();
    } catch (failure) {
      const refused = failure instanceof ApiError && failure.status === 401;
      error.append(refused
        ? problemNotice(new ApiError(401, { detail: `The key was refused: ${failure.detail}.`, code: failure.code }))
        : problemNotice(failure, 'Sign-in failed'));
      input.focus();
    } finally {
      button.disabled = false;
      button.textContent = 'Sign in';
    }
  });
  clear(main).append(form);
  if (message) error.append(message);
  input.focus();
}

function renderNav(current) {
  clear(navList);
  for (const p of allowedPages()) {
    navList.append(h('li', {}, h('a', {
      href: `#/${p.id}`, 'aria-current': p.id === current ? 'page' : undefined, text: p.title,
    })));
  }
  nav.hidden = false;
  who.hidden = false;
  document.getElementById('who-role').textContent = roleNames[session.role] || session.role;
}

let renderCount = 0;
async function render() {
  if (!session.key) {
    showSignIn();
    return;
  }
  const allowed = allowedPages();
  let { id, args } = route();
  let current = allowed.find((p) => p.id === id);
  if (!current) {
    current = allowed[0];
    history.replaceState(null, '', `#/${current.id}`);
    args = [];
  }
  renderNav(current.id);
  document.title = `${current.title} · loyalty-ledger console`;
  const mine = ++renderCount;
  const container = h('div', { class: 'page', 'data-page': current.id });
  clear(main).append(container);
  try {
    await current.module.render(container, { role: session.role, args, go });
  } catch (error) {
    if (mine === renderCount) container.append(problemNotice(error, current.title));
  }
}

document.getElementById('sign-out').addEventListener('click', () => {
  session.end();
  announce('Signed out.');
  showSignIn();
});

whenUnauthenticated((error) => {
  session.end();
  showSignIn(problemNotice(new ApiError(401, { detail: `Your session ended: ${error.detail}. Sign in again.` })));
});

let lastPage = null;
window.addEventListener('hashchange', () => {
  const { id } = route();
  render().then(() => {
    // Moving to another page puts focus on its heading, as a page load would.
    if (id !== lastPage) {
      const heading = main.querySelector('h1');
      if (heading) { heading.setAttribute('tabindex', '-1'); heading.focus(); }
    }
    lastPage = id;
  });
});

lastPage = route().id;
render();
