// Create or edit a customer. An edit sends the ETag it was opened with: a change made meanwhile by someone
// else is reported (412), never overwritten. The API's field errors appear next to their fields.

import * as api from './api.js';
import { clearProblem, field, fill, formAlert, fullName, h, showProblem } from './dom.js';

const FIELDS = [
  ['first_name', 'First name', { autocomplete: 'off' }],
  ['last_name', 'Last name', { autocomplete: 'off' }],
  ['email', 'Email', { type: 'email', autocomplete: 'off' }],
  ['phone_number', 'Phone', { type: 'tel', autocomplete: 'off' }],
  ['client_member_id', 'Member id', { autocomplete: 'off' }],
  ['account_id', 'Account', { inputmode: 'numeric', autocomplete: 'off' }],
  ['document', 'CPF', { autocomplete: 'off' }],
  ['country', 'Country (two letters)', { autocomplete: 'off' }],
  ['language', 'Language (two letters)', { autocomplete: 'off' }],
];

function valueOf(name, text) {
  const value = text.trim();
  if (value === '') return null;
  // Whole numbers go as numbers; anything else goes as typed and the API says what is wrong with it.
  if (name === 'account_id' && /^\d+$/.test(value)) return Number(value);
  return value;
}

export async function customerFormView(main, { id, say, go }) {
  const editing = id !== undefined;
  const path = editing ? `/api/customers/${encodeURIComponent(id)}` : '/api/customers';
  let customer = null;
  let etag = null;
  if (editing) ({ data: customer, etag } = await api.get(path));
  const title = editing ? `Edit ${fullName(customer)}` : 'New customer';
  document.title = `${title} · Customer Interface`;
  const inputs = FIELDS.map(([name, label, attributes]) => field(label, name, attributes));
  const alert = formAlert();
  const reload = h('button', { type: 'button', hidden: true }, 'Load the current version');
  reload.addEventListener('click', () => customerFormView(main, { id, say, go }));
  const form = h(
    'form',
    { class: 'card', novalidate: true },
    inputs.map((input) => input.row),
    h('p', { class: 'hint' }, 'At least one of email, phone, member id or CPF.'),
    alert,
    reload,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, editing ? 'Save changes' : 'Create customer'),
      h('a', { class: 'button', href: editing ? `#/customers/${encodeURIComponent(id)}` : '#/customers' }, 'Cancel')),
  );
  if (editing) {
    for (const { input } of inputs) input.value = customer[input.name] === null ? '' : String(customer[input.name]);
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem(form);
    reload.hidden = true;
    const body = {};
    for (const { input } of inputs) {
      const value = valueOf(input.name, input.value);
      // A new customer leaves out what is empty; an edit clears it (PATCH: null = clear).
      if (value !== null || editing) body[input.name] = value;
    }
    try {
      const { data } = await api.request(editing ? 'PATCH' : 'POST', path, { body, etag: editing ? etag : undefined });
      say(editing ? `Saved ${fullName(data)}.` : `Created ${fullName(data)}.`);
      go(`#/customers/${encodeURIComponent(data.id)}`);
    } catch (error) {
      if (error.status === 412) {
        alert.textContent = 'Not saved: someone changed this customer after you opened the form. Load the current version, then make your change again.';
        reload.hidden = false;
        reload.focus();
      } else {
        showProblem(form, error);
      }
    }
  });
  fill(main, h('h1', { tabindex: '-1' }, title), form);
  inputs[0].input.focus();
}
