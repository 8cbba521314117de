// ERP sales: forwards the partner refused, retried by hand; sales attached to no customer, attached by hand to a
// customer found by name, email or phone.

import * as api from './api.js';
import { fill, fullName, h, heading, table, when } from './dom.js';

const LIST = 50;
const WAIT_MS = 250;

export async function salesView(main, { say }) {
  const failedBox = h('section', { 'aria-labelledby': 'failed-title' });
  const pendingBox = h('section', { 'aria-labelledby': 'pending-title' });
  const view = { say, failedBox, pendingBox };
  fill(main, heading('ERP sales'), failedBox, pendingBox);
  await reload(view);
  main.querySelector('h1').focus();
}

async function reload(view) {
  const [failed, pending] = await Promise.all([
    api.get(`/api/cashback?status=failed&limit=${LIST}`),
    api.get(`/api/cashback?assigned=false&limit=${LIST}`),
  ]);
  fill(view.failedBox, h('h2', { id: 'failed-title' }, 'Failed forwards'), failedTable(view, failed.data.items));
  fill(view.pendingBox, h('h2', { id: 'pending-title' }, 'Sales attached to no customer'), pendingTable(view, pending.data.items));
}

function failedTable(view, sales) {
  if (!sales.length) return h('p', {}, 'Every sale reached the partner.');
  return h(
    'div',
    { class: 'scroll' },
    table(
      'Sales the partner cashback API did not accept',
      ['Sold', 'Document', 'Name', 'Total', 'Cashback', 'Attempts', 'Last error', 'Retry'],
      sales.map((sale) => [
        when(sale.sold_at),
        sale.document,
        sale.name,
        sale.total,
        sale.cashback,
        String(sale.attempts),
        sale.last_error || '',
        h('button', { type: 'button', 'aria-label': `Retry the sale of ${sale.name}`, onclick: () => retry(view, sale) }, 'Retry'),
      ]),
    ),
  );
}

async function retry(view, sale) {
  try {
    const { data } = await api.request('POST', `/api/cashback/${encodeURIComponent(sale.id)}/retry`);
    view.say(data.status === 'sent' ? `The sale of ${sale.name} reached the partner.` : `Still failing: ${data.last_error || data.status}.`);
  } catch (error) {
    view.say(`Not retried: ${error.message}`);
  }
  await reload(view);
}

function pendingTable(view, sales) {
  if (!sales.length) return h('p', {}, 'Every sale belongs to a customer.');
  return h(
    'div',
    { class: 'scroll' },
    table(
      'Sales whose document matches no customer',
      ['Sold', 'Document', 'Name', 'Total', 'Cashback', 'Attach'],
      sales.map((sale) => [when(sale.sold_at), sale.document, sale.name, sale.total, sale.cashback, attachControl(view, sale)]),
    ),
  );
}

function attachControl(view, sale) {
  const id = `attach-${sale.id}`;
  const search = h('input', { id, type: 'search', autocomplete: 'off', placeholder: 'Name, email or phone' });
  const found = h('ul', { class: 'choices', 'aria-live': 'polite' });
  let waiting = null;
  search.addEventListener('input', () => {
    clearTimeout(waiting);
    waiting = setTimeout(() => lookUp(view, sale, search.value, found), WAIT_MS);
  });
  return h('div', { class: 'attach' }, h('label', { for: id }, `Customer for ${sale.name}`), search, found);
}

async function lookUp(view, sale, text, found) {
  const value = text.trim();
  if (!value) return fill(found);
  try {
    const { data } = await api.get(`/api/customers?${new URLSearchParams({ q: value.slice(0, 64), limit: 5 })}`);
    if (!data.items.length) return fill(found, h('li', {}, 'No customer matches.'));
    return fill(
      found,
      data.items.map((customer) =>
        h(
          'li',
          {},
          h(
            'button',
            { type: 'button', onclick: () => attach(view, sale, customer) },
            `Attach to ${fullName(customer)}${customer.email ? ` (${customer.email})` : ''}`,
          ),
        ),
      ),
    );
  } catch (error) {
    return fill(found, h('li', {}, error.message));
  }
}

async function attach(view, sale, customer) {
  try {
    await api.request('POST', `/api/cashback/${encodeURIComponent(sale.id)}/assign`, { body: { customer: customer.id } });
    view.say(`The sale of ${sale.total} is now an order of ${fullName(customer)}.`);
  } catch (error) {
    view.say(`Not attached: ${error.message}`);
  }
  await reload(view);
}
