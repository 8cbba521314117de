// The console: signs in, keeps the person signed in across reloads, and routes #/... to its screens.

import * as api from './api.js';
import { fill, formAlert, h, field, showProblem } from './dom.js';
import { customersView } from './customers.js';
import { cardView } from './card.js';
import { customerFormView } from './customer_form.js';
import { profileView } from './profile.js';
import { tiersView } from './tiers.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const status = document.getElementById('status');
const notice = document.getElementById('notice');
const session = { me: null };

const STAFF = new Set(['admin', 'staff']);

/** Tell the person what just happened (a polite live region). */
export function say(text) {
  status.textContent = text;
}

function isStaff() {
  return session.me !== null && STAFF.has(session.me.role);
}

const ROUTES = [
  [/^#\/customers\/new$/, () => staffOnly(() => customerFormView(main, { say, go }))],
  [/^#\/customers\/([^/]+)\/edit$/, (id) => staffOnly(() => customerFormView(main, { id, say, go }))],
  [/^#\/customers\/([^/]+)$/, (id) => staffOnly(() => cardView(main, { id, staff: true, admin: isAdmin(), say, go }))],
  [/^#\/customers$/, () => staffOnly(() => customersView(main, { say }))],
  [/^#\/tiers$/, () => tiersView(main)],
  [/^#\/imports$/, () => staffOnly(() => screen('imports', 'importsView'))],
  [/^#\/activity$/, () => staffOnly(() => screen('activity', 'activityView'))],
  [/^#\/sales$/, () => staffOnly(() => screen('sales', 'salesView'))],
  [/^#\/overview$/, () => staffOnly(() => screen('overview', 'overviewView'))],
  [/^#\/admin$/, () => (isAdmin() ? screen('admin', 'adminView') : staffOnly(() => page('Not available', h('p', {}, 'This screen is for admins.'))))],
  [/^#\/me$/, () => ownOnly((id) => cardView(main, { id, staff: false, say, go }))],
  [/^#\/profile$/, () => ownOnly((id) => profileView(main, { id, me: session.me, say }))],
];

/** A screen whose module loads only when it is first opened, keeping the console's first load small. */
async function screen(name, view) {
  const module = await import(`./${name}.js`);
  return module[view](main, { say, go, me: session.me });
}

// Screens for people not signed in.
const OPEN_ROUTES = { '#/signup': 'signupView', '#/forgot': 'forgotView', '#/check-mail': 'checkMailView' };

function isAdmin() {
  return session.me !== null && session.me.role === 'admin';
}

function staffOnly(show) {
  if (isStaff()) return show();
  // Nothing is asked of the API for a screen the person may not use.
  return page('Not available', h('p', {}, 'This screen is for staff. ', h('a', { href: '#/me' }, 'Go to your card')));
}

function ownOnly(show) {
  const customer = session.me && session.me.customer;
  if (customer) return show(customer.id);
  return page('No customer card', h('p', {}, 'This account has no customer card of its own.'));
}

function page(title, ...content) {
  document.title = `${title} · Customer Interface`;
  fill(main, h('h1', { tabindex: '-1' }, title), ...content);
  main.querySelector('h1').focus();
}

/** Go to a screen (pushes a history entry, so Back returns). */
export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const hash = location.hash;
  if (hash && !hash.startsWith('#/')) return; // an in-page link such as the skip link
  if (!api.signedIn()) {
    const open = OPEN_ROUTES[hash];
    return open ? screen('account', open) : signInView();
  }
  renderChrome();
  if (!hash || hash === '#/' || hash === '#/signin') {
    return go(isStaff() ? '#/customers' : '#/me');
  }
  for (const [pattern, show] of ROUTES) {
    const match = hash.match(pattern);
    if (match) {
      try {
        await show(...match.slice(1).map(decodeURIComponent));
      } catch (error) {
        if (!api.signedIn()) return signInView();
        page('Something went wrong', h('p', { role: 'alert' }, error.message));
      }
      return undefined;
    }
  }
  return page('Not found', h('p', {}, 'There is no such screen. ', h('a', { href: '#/' }, 'Start again')));
}

function renderChrome() {
  const links = isStaff()
    ? [
        ['#/customers', 'Customers'],
        ['#/customers/new', 'New customer'],
        ['#/imports', 'Imports'],
        ['#/sales', 'ERP sales'],
        ['#/activity', 'Activity'],
        ['#/overview', 'Overview'],
        ['#/tiers', 'Tiers'],
        ...(isAdmin() ? [['#/admin', 'Administration']] : []),
      ]
    : [['#/me', 'My card'], ['#/profile', 'Profile'], ['#/tiers', 'Tiers']];
  fill(nav, h('ul', {}, links.map(([href, text]) => h('li', {}, h('a', { href }, text)))));
  notice.hidden = session.me.email_verified !== false;
  notice.textContent = `Your email address is not confirmed yet: open the link we mailed to ${session.me.email}.`;
  fill(
    who,
    h('span', { class: 'who' }, `${session.me.email} (${session.me.role})`),
    h('button', { type: 'button', onclick: signOut }, 'Sign out'),
  );
}

async function signOut() {
  try {
    await api.signOut();
  } finally {
    session.me = null;
    say('Signed out.');
    go('#/signin');
  }
}

function signInView() {
  fill(nav);
  fill(who);
  notice.hidden = true;
  const email = field('Email', 'email', { type: 'email', autocomplete: 'username', required: true });
  const password = field('Password', 'password', { type: 'password', autocomplete: 'current-password', required: true });
  const form = h(
    'form',
    { class: 'card narrow', onsubmit: (event) => signIn(event, form) },
    email.row,
    password.row,
    formAlert(),
    h('button', { type: 'submit' }, 'Sign in'),
    h('p', {}, h('a', { href: '#/signup' }, 'Create an account'), ' · ', h('a', { href: '#/forgot' }, 'Forgot your password?')),
  );
  page('Sign in', form);
  email.input.focus();
}

async function signIn(event, form) {
  event.preventDefault();
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    await api.signIn(form.elements.email.value, form.elements.password.value);
    session.me = (await api.get('/api/auth/me')).data;
    say(`Signed in as ${session.me.email}.`);
    if (location.hash === '#/signin' || OPEN_ROUTES[location.hash]) go('#/');
    else route();
  } catch (error) {
    showProblem(form, error);
  } finally {
    button.disabled = false;
  }
}

async function boot() {
  api.onSessionEnd(() => {
    session.me = null;
    say('Your session has ended: sign in again.');
    signInView();
  });
  window.addEventListener('hashchange', route);
  try {
    if (await api.resume()) session.me = (await api.get('/api/auth/me')).data;
  } catch (error) {
    say(error.message);
  }
  if (session.me === null && api.signedIn()) await api.signOut();
  route();
}

boot();
