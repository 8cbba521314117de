// Opening an account and asking for a password reset, for people not signed in; both end on "check your mail",
// since the service answers the same whether or not it knows the address.

import * as api from './api.js';
import { clearProblem, field, fill, formAlert, h, heading, showProblem } from './dom.js';

// The address just written to, kept in this page's memory only (said on the next screen).
let mailed = null;

export function signupView(main, { go }) {
  const email = field('Email', 'email', { type: 'email', autocomplete: 'email', required: true });
  const password = field('Password (8 to 128 characters)', 'password', {
    type: 'password',
    autocomplete: 'new-password',
    minlength: '8',
    maxlength: '128',
    required: true,
  });
  const first = field('First name (optional)', 'first_name', { autocomplete: 'given-name', maxlength: '64' });
  const last = field('Last name (optional)', 'last_name', { autocomplete: 'family-name', maxlength: '64' });
  const form = h(
    'form',
    { class: 'card narrow' },
    email.row,
    password.row,
    first.row,
    last.row,
    formAlert(),
    h('button', { type: 'submit' }, 'Create my account'),
    h('p', {}, 'Have an account? ', h('a', { href: '#/signin' }, 'Sign in')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem(form);
    const body = { email: email.input.value.trim(), password: password.input.value };
    if (first.input.value.trim()) body.first_name = first.input.value.trim();
    if (last.input.value.trim()) body.last_name = last.input.value.trim();
    try {
      await api.request('POST', '/api/auth/signup', { body });
      mailed = body.email;
      go('#/check-mail');
    } catch (error) {
      showProblem(form, error);
    }
  });
  fill(main, heading('Create an account'), form);
  email.input.focus();
}

export function forgotView(main, { go }) {
  const email = field('Email', 'email', { type: 'email', autocomplete: 'username', required: true });
  const form = h(
    'form',
    { class: 'card narrow' },
    h('p', {}, 'We mail a link to choose a new password.'),
    email.row,
    formAlert(),
    h('button', { type: 'submit' }, 'Mail me a link'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem(form);
    try {
      await api.request('POST', '/api/auth/reset', { body: { email: email.input.value.trim() } });
      mailed = email.input.value.trim();
      go('#/check-mail');
    } catch (error) {
      showProblem(form, error);
    }
  });
  fill(main, heading('Forgot your password?'), form);
  email.input.focus();
}

export function checkMailView(main) {
  const address = mailed;
  fill(
    main,
    heading('Check your mail'),
    h(
      'div',
      { class: 'card narrow' },
      h('p', {}, address ? `We sent a message to ${address}.` : 'We sent you a message.'),
      h('p', {}, 'Open the link in it to go on. It may take a minute; look in the spam folder too.'),
      h('p', {}, h('a', { href: '#/signin' }, 'Back to sign in')),
    ),
  );
  main.querySelector('h1').focus();
}
