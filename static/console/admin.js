// Administration (admins): people who sign in (create staff, change role, deactivate; one active admin always
// stays) and API keys for machine clients (the key is shown once, with a copy button; revoke).

import * as api from './api.js';
import { clearProblem, field, fill, formAlert, h, heading, showProblem, table, when } from './dom.js';

const ROLES = [['staff', 'Staff'], ['admin', 'Admin'], ['customer', 'Customer']];

export async function adminView(main, { say, me }) {
  const view = { say, me, usersBox: h('section', { 'aria-labelledby': 'users-title' }), keysBox: h('section', { 'aria-labelledby': 'keys-title' }) };
  view.notice = h('p', { class: 'form-alert', role: 'alert', id: 'admin-alert' });
  fill(
    main,
    heading('Administration'),
    view.notice,
    h('div', { class: 'forms' }, view.usersBox, userForm(view)),
    h('div', { class: 'forms' }, view.keysBox, keyForm(view)),
  );
  await Promise.all([loadUsers(view), loadKeys(view)]);
  main.querySelector('h1').focus();
}

async function loadUsers(view) {
  const users = [];
  for (const role of ['admin', 'staff']) users.push(...(await api.get(`/api/users?role=${role}&limit=100`)).data.items);
  fill(
    view.usersBox,
    h('h2', { id: 'users-title' }, 'Staff and admins'),
    h('p', { class: 'hint' }, 'There is always at least one active admin: the last one can be neither demoted nor deactivated.'),
    h(
      'div',
      { class: 'scroll' },
      table(
        'People who sign in to the console',
        ['Email', 'Role', 'Active', 'Change'],
        users.map((user) => [user.email, user.role, user.active ? 'yes' : 'no', userControls(view, user)]),
      ),
    ),
  );
}

function userControls(view, user) {
  const id = `role-${user.id}`;
  const role = h('select', { id, name: 'role' }, ROLES.map(([value, text]) => h('option', { value, selected: value === user.role }, text)));
  const save = h('button', { type: 'button', onclick: () => change(view, user, { role: role.value }) }, 'Change role');
  const active = user.active
    ? h('button', { type: 'button', class: 'danger', onclick: () => change(view, user, { active: false }) }, 'Deactivate')
    : h('button', { type: 'button', onclick: () => change(view, user, { active: true }) }, 'Reactivate');
  return h(
    'div',
    { class: 'row-controls', role: 'group', 'aria-label': `Change ${user.email}` },
    h('label', { for: id, class: 'visually-hidden' }, `Role of ${user.email}`),
    role,
    save,
    active,
  );
}

async function change(view, user, body) {
  view.notice.textContent = '';
  try {
    await api.request('PATCH', `/api/users/${encodeURIComponent(user.id)}`, { body });
    view.say(body.role ? `${user.email} is now ${body.role}.` : `${user.email} was ${body.active ? 'reactivated' : 'deactivated'}.`);
  } catch (error) {
    // The last-admin rule answers 409; its detail says what to do instead.
    view.notice.textContent = `Not changed: ${error.message}`;
  }
  await loadUsers(view);
}

function userForm(view) {
  const email = field('Email', 'email', { type: 'email', autocomplete: 'off', required: true });
  const password = field('Password (8 to 128 characters)', 'password', { type: 'password', autocomplete: 'new-password', required: true });
  const role = field('Role', 'role', { tag: 'select', options: [['staff', 'Staff'], ['admin', 'Admin']] });
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'new-user-title' },
    h('h2', { id: 'new-user-title' }, 'Add a person'),
    email.row,
    password.row,
    role.row,
    formAlert(),
    h('button', { type: 'submit' }, 'Create user'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem(form);
    const body = { email: email.input.value.trim(), password: password.input.value, role: role.input.value };
    try {
      await api.request('POST', '/api/users', { body });
      form.reset();
      view.say(`${body.email} can now sign in as ${body.role}.`);
      await loadUsers(view);
    } catch (error) {
      showProblem(form, error);
    }
  });
  return form;
}

async function loadKeys(view) {
  const keys = (await api.get('/api/api-keys')).data.items;
  fill(
    view.keysBox,
    h('h2', { id: 'keys-title' }, 'API keys'),
    keys.length
      ? h(
          'div',
          { class: 'scroll' },
          table(
            'Keys for machine clients, newest first',
            ['Name', 'Starts with', 'Created', 'Last used', 'Revoke'],
            keys.map((key) => [
              key.name,
              key.prefix,
              when(key.created_at),
              when(key.last_used_at) || 'never',
              key.revoked_at
                ? `revoked ${when(key.revoked_at)}`
                : h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke ${key.name}`, onclick: () => revoke(view, key) }, 'Revoke'),
            ]),
          ),
        )
      : h('p', {}, 'No keys yet.'),
  );
}

async function revoke(view, key) {
  try {
    await api.request('DELETE', `/api/api-keys/${encodeURIComponent(key.id)}`);
    view.say(`The key ${key.name} was revoked: it opens nothing any more.`);
  } catch (error) {
    view.notice.textContent = `Not revoked: ${error.message}`;
  }
  await loadKeys(view);
}

function keyForm(view) {
  const name = field('Name of the client', 'name', { autocomplete: 'off', required: true, maxlength: '64' });
  const shown = h('div', { class: 'secret', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'new-key-title' },
    h('h2', { id: 'new-key-title' }, 'Create an API key'),
    name.row,
    formAlert(),
    h('button', { type: 'submit' }, 'Create key'),
    shown,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem(form);
    try {
      const { data } = await api.request('POST', '/api/api-keys', { body: { name: name.input.value.trim() } });
      form.reset();
      fill(shown, ...secret(view, data));
      await loadKeys(view);
    } catch (error) {
      showProblem(form, error);
    }
  });
  return form;
}

function secret(view, key) {
  const value = h('code', { id: 'new-key' }, key.key);
  const copy = h('button', { type: 'button' }, 'Copy key');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(key.key);
      view.say('The key is on the clipboard.');
    } catch {
      // Clipboard refused (permissions): select the text so that it can be copied by hand.
      getSelection().selectAllChildren(value);
      view.say('Copy the selected key by hand.');
    }
  });
  return [
    h('p', {}, `The key for ${key.name}, shown this once: store it now; send it as the X-API-Key header.`),
    h('p', { class: 'key-line' }, value, copy),
  ];
}
