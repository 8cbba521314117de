// The customers table: a filter as you type, three orders, and "More" for the next page (keyset cursor).

import * as api from './api.js';
import { attachmentName, fill, fullName, h, saveFile } from './dom.js';
import { tierBadge } from './tiers.js';

const SORTS = [
  ['-created_at', 'Newest first'],
  ['last_name', 'Name'],
  ['-points', 'Most points'],
];
const PAGE = 20;
const WAIT_MS = 250;
// Enough digits to be a whole number: the API refuses a partial one rather than matching its start.
const PHONE_LIKE = /^\+?[\d\s().-]+$/;
const PHONE_DIGITS = 10;

/** The query the filter text stands for: a phone number in any notation, else a name or email prefix. */
function filterParams(text) {
  const value = text.trim();
  if (!value) return {};
  const digits = value.replace(/\D/g, '').length;
  if (PHONE_LIKE.test(value) && digits >= (value.startsWith('+') ? 8 : PHONE_DIGITS)) return { phone_number: value };
  return { q: value.slice(0, 64) };
}

export function customersView(main) {
  document.title = 'Customers · Customer Interface';
  const filter = h('input', { id: 'filter', type: 'search', name: 'filter', autocomplete: 'off' });
  const sort = h('select', { id: 'sort', name: 'sort' }, SORTS.map(([value, text]) => h('option', { value }, text)));
  const body = h('tbody');
  const count = h('p', { class: 'count', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'More customers');
  const columns = ['Name', 'Email', 'Phone', 'Account', 'Tier', 'Points', 'Balance'];
  const grid = h(
    'table',
    { class: 'customers' },
    h('caption', { class: 'visually-hidden' }, 'Customers'),
    h('thead', {}, h('tr', {}, columns.map((column) => h('th', { scope: 'col' }, column)))),
    body,
  );
  fill(
    main,
    h('h1', { tabindex: '-1' }, 'Customers'),
    h(
      'div',
      { class: 'toolbar', role: 'search' },
      h('div', { class: 'field' }, h('label', { for: 'filter' }, 'Find by name, email or phone'), filter),
      h('div', { class: 'field' }, h('label', { for: 'sort' }, 'Order'), sort),
      h('a', { class: 'button', href: '#/customers/new' }, 'New customer'),
      h('button', { type: 'button', onclick: () => exportCsv(filter.value, count) }, 'Export CSV'),
    ),
    count,
    h('div', { class: 'scroll' }, grid),
    more,
  );
  main.querySelector('h1').focus();

  let generation = 0;
  let cursor = null;
  let shown = 0;

  async function load(append) {
    generation += 1;
    const mine = generation;
    const params = new URLSearchParams({ limit: PAGE, sort: sort.value, ...filterParams(filter.value) });
    if (append && cursor) params.set('cursor', cursor);
    let page;
    try {
      page = (await api.get(`/api/customers?${params}`)).data;
    } catch (error) {
      if (mine !== generation) return;
      fill(body);
      count.textContent = error.status === 400 ? `No match: ${error.message}` : error.message;
      more.hidden = true;
      return;
    }
    if (mine !== generation) return; // the filter changed while this page was on its way
    if (!append) {
      fill(body);
      shown = 0;
    }
    body.append(...page.items.map(row));
    shown += page.items.length;
    cursor = page.next_cursor;
    more.hidden = !cursor;
    count.textContent = shown ? `${shown} customer${shown === 1 ? '' : 's'} shown${cursor ? ', more below' : ''}.` : 'No customers match.';
  }

  let waiting = null;
  filter.addEventListener('input', () => {
    clearTimeout(waiting);
    waiting = setTimeout(() => load(false), WAIT_MS);
  });
  sort.addEventListener('change', () => load(false));
  more.addEventListener('click', () => load(true));
  return load(false);
}

function row(customer) {
  const rewards = customer.rewards;
  const cells = [
    h('a', { href: `#/customers/${encodeURIComponent(customer.id)}` }, fullName(customer)),
    customer.email || '',
    customer.phone_number || '',
    customer.account_id === null ? '' : String(customer.account_id),
    tierBadge(rewards),
    String(rewards.points),
    rewards.cashback_balance,
  ];
  const labels = ['Name', 'Email', 'Phone', 'Account', 'Tier', 'Points', 'Balance'];
  return h('tr', {}, cells.map((cell, index) => h('td', { 'data-label': labels[index] }, cell)));
}

/** The customers the filter shows, every page of them, as a CSV file. */
async function exportCsv(text, count) {
  try {
    const { data, headers } = await api.request('GET', `/api/customers/export?${new URLSearchParams(filterParams(text))}`, { blob: true });
    saveFile(data, attachmentName(headers, 'customers.csv'));
  } catch (error) {
    count.textContent = `No export: ${error.message}`;
  }
}
