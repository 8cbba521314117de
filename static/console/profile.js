// A customer's own profile: name and language, password, and email (moved by the link mailed to the new address).

import * as api from './api.js';
import { clearProblem, field, fill, formAlert, h, showProblem } from './dom.js';

function form(title, rows, button, submit) {
  const id = `${title.toLowerCase().replace(/\W+/g, '-')}-title`;
  const element = h('form', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), rows, formAlert(), h('button', { type: 'submit' }, button));
  element.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem(element);
    try {
      await submit(element);
    } catch (error) {
      showProblem(element, error);
    }
  });
  return element;
}

export async function profileView(main, { id, me, say }) {
  document.title = 'Profile · Customer Interface';
  const path = `/api/customers/${encodeURIComponent(id)}`;
  let { data: customer, etag } = await api.get(path);

  const first = field('First name', 'first_name', { autocomplete: 'given-name', value: customer.first_name || '' });
  const last = field('Last name', 'last_name', { autocomplete: 'family-name', value: customer.last_name || '' });
  const language = field('Language (two letters)', 'language', { autocomplete: 'off', value: customer.language || '' });
  const names = form('Name and language', [first.row, last.row, language.row], 'Save', async () => {
    const body = {};
    for (const { input } of [first, last, language]) body[input.name] = input.value.trim() || null;
    const answer = await api.request('PATCH', path, { body, etag });
    ({ data: customer, etag } = answer);
    say('Your name and language are saved.');
  });

  const current = field('Current password', 'current_password', { type: 'password', autocomplete: 'current-password' });
  const next = field('New password', 'new_password', { type: 'password', autocomplete: 'new-password' });
  const password = form('Password', [current.row, next.row], 'Change password', async (element) => {
    await api.request('POST', '/api/auth/password', {
      body: { current_password: current.input.value, new_password: next.input.value },
    });
    element.reset();
    say('Your password is changed; your other sessions have ended.');
  });

  const email = field('New email', 'email', { type: 'email', autocomplete: 'email' });
  const mail = form('Email', [h('p', {}, `You sign in as ${me.email}.`), email.row], 'Send confirmation link', async (element) => {
    const { data } = await api.request('POST', '/api/auth/email', { body: { email: email.input.value.trim() } });
    element.reset();
    say(data.detail);
  });

  fill(main, h('h1', { tabindex: '-1' }, 'Profile'), names, password, mail);
  main.querySelector('h1').focus();
}
