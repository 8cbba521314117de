// A customer's card: tier and reward, the bar toward the next tier, points, cashback, orders (with undo),
// the ledger; for staff also the add-order and redeem forms, the statement mail, hide, edit and erase.

import * as api from './api.js';
import { field, fill, formAlert, fullName, h, showProblem, clearProblem, table, when } from './dom.js';
import { loadTiers, tierBadge, tierTable } from './tiers.js';

const LIST = 10;

export async function cardView(main, options) {
  const path = `/api/customers/${encodeURIComponent(options.id)}`;
  const [answer, tiers, types] = await Promise.all([
    api.get(path),
    loadTiers(),
    options.staff ? api.get('/api/product-types').then((r) => r.data.items) : [],
  ]);
  const card = { ...options, path, customer: answer.data, etag: answer.etag, types };
  const title = options.staff ? fullName(card.customer) : 'Your card';
  document.title = `${title} · Customer Interface`;

  card.rewardsBox = h('section', { class: 'rewards', 'aria-labelledby': 'rewards-title' });
  card.ordersBox = h('section', { 'aria-labelledby': 'orders-title' });
  card.ledgerBox = h('section', { 'aria-labelledby': 'ledger-title' });
  const body = h(
    'div',
    { id: 'card-body', class: 'card-body' },
    identity(card.customer),
    card.rewardsBox,
    options.staff ? h('div', { class: 'forms' }, orderForm(card), redeemForm(card)) : null,
    card.ordersBox,
    card.ledgerBox,
    h('details', { class: 'tiers' }, h('summary', {}, 'Tier table'), tierTable(tiers, card.customer.rewards.tier)),
  );
  const hiddenNote = h('p', { class: 'hidden-note', hidden: true }, 'The card is hidden. Use “Show card” to see it again.');
  fill(main, h('h1', { tabindex: '-1' }, title), actions(card, body, hiddenNote), hiddenNote, body);
  showRewards(card, card.customer.rewards);
  await reloadLists(card);
  main.querySelector('h1').focus();
}

function identity(customer) {
  const facts = [
    ['Email', customer.email],
    ['Phone', customer.phone_number],
    ['Account', customer.account_id],
    ['Member id', customer.client_member_id],
    ['Language', customer.language],
    ['Customer id', customer.id],
  ].filter(([, value]) => value !== null && value !== undefined && value !== '');
  return h('dl', { class: 'facts' }, facts.map(([term, value]) => [h('dt', {}, term), h('dd', {}, String(value))]));
}

function actions(card, body, hiddenNote) {
  const hide = h('button', { type: 'button', 'aria-pressed': 'false', 'aria-controls': 'card-body' }, 'Hide card');
  hide.addEventListener('click', () => {
    const hidden = !body.hidden;
    body.hidden = hidden;
    hiddenNote.hidden = !hidden;
    hide.setAttribute('aria-pressed', String(hidden));
    hide.textContent = hidden ? 'Show card' : 'Hide card';
  });
  const statement = h('button', { type: 'button', onclick: () => mailStatement(card) }, 'Mail statement');
  const buttons = [hide, statement];
  if (card.staff) {
    buttons.unshift(h('a', { class: 'button', href: `#/customers/${encodeURIComponent(card.customer.id)}/edit` }, 'Edit'));
  }
  const bar = h('div', { class: 'actions' }, buttons);
  if (card.admin) bar.append(eraseControl(card));
  return bar;
}

async function mailStatement(card) {
  try {
    const { data } = await api.request('POST', `${card.path}/statement`);
    card.say(data.detail || 'The statement is on its way.');
  } catch (error) {
    card.say(`No statement sent: ${error.message}`);
  }
}

function eraseControl(card) {
  const confirmBox = h(
    'div',
    { class: 'confirm', role: 'group', 'aria-label': 'Confirm erasure', hidden: true },
    h('p', {}, `Erase ${fullName(card.customer)}? Their personal data goes for good; orders and ledger stay without it.`),
    h('button', { type: 'button', class: 'danger', onclick: () => erase(card) }, 'Erase for good'),
    h('button', { type: 'button', onclick: () => { confirmBox.hidden = true; } }, 'Keep'),
  );
  const open = h('button', { type: 'button', class: 'danger', onclick: () => { confirmBox.hidden = false; confirmBox.querySelector('button').focus(); } }, 'Erase…');
  return h('span', {}, open, confirmBox);
}

async function erase(card) {
  try {
    await api.request('DELETE', card.path, { etag: card.etag });
    card.say(`${fullName(card.customer)} was erased.`);
    card.go('#/customers');
  } catch (error) {
    card.say(error.status === 412 ? 'Not erased: the customer changed meanwhile; look again first.' : `Not erased: ${error.message}`);
  }
}

function showRewards(card, rewards) {
  const toward = rewards.next_tier
    ? `${Math.floor(rewards.next_tier_progress * 100)}% of the way to tier ${rewards.next_tier} (${rewards.next_tier_name})`
    : 'Top tier: nothing more to reach';
  const value = rewards.next_tier ? Math.floor(rewards.next_tier_progress * 100) : 100;
  fill(
    card.rewardsBox,
    h('h2', { id: 'rewards-title' }, 'Rewards'),
    h(
      'p',
      { class: 'tier-line' },
      tierBadge(rewards),
      h('span', { id: 'tier-name' }, rewards.tier ? `Tier ${rewards.tier}: ${rewards.tier_name}` : 'No tier yet'),
    ),
    h('label', { for: 'progress', id: 'progress-label' }, toward),
    h('progress', { id: 'progress', max: '100', value: String(value) }, `${value}%`),
    h(
      'dl',
      { class: 'figures' },
      h('div', {}, h('dt', {}, 'Points'), h('dd', { id: 'points' }, String(rewards.points))),
      h('div', {}, h('dt', {}, 'Cashback balance'), h('dd', { id: 'balance' }, rewards.cashback_balance)),
    ),
  );
}

async function reloadLists(card) {
  const [orders, ledger] = await Promise.all([
    api.get(`${card.path}/orders?limit=${LIST}`),
    api.get(`${card.path}/ledger?limit=${LIST}`),
  ]);
  fill(card.ordersBox, h('h2', { id: 'orders-title' }, 'Orders'), ordersTable(card, orders.data.items));
  fill(card.ledgerBox, h('h2', { id: 'ledger-title' }, 'Ledger'), ledgerTable(ledger.data.items));
}

function ordersTable(card, orders) {
  if (!orders.length) return h('p', {}, 'No orders yet.');
  const columns = ['Sold', 'Total', 'Points', 'Cashback', 'Status'];
  if (card.staff) columns.push('Undo');
  return table(
    'Latest orders, newest first',
    columns,
    orders.map((order) => {
      const cells = [when(order.sold_at), order.total, String(order.points), order.cashback, order.status];
      if (card.staff) {
        cells.push(
          order.status === 'active'
            ? h('button', { type: 'button', 'aria-label': `Undo the order of ${order.total}`, onclick: () => undo(card, order) }, 'Undo')
            : '',
        );
      }
      return cells;
    }),
  );
}

async function undo(card, order) {
  try {
    const { data } = await api.request('POST', `/api/orders/${encodeURIComponent(order.id)}/reverse`);
    showRewards(card, data.rewards);
    await reloadLists(card);
    card.say(`The order of ${order.total} was undone: ${order.points} points taken back.`);
  } catch (error) {
    card.say(`Not undone: ${error.message}`);
  }
}

function ledgerTable(entries) {
  if (!entries.length) return h('p', {}, 'Nothing in the ledger yet.');
  return table(
    'Latest ledger entries, newest first',
    ['When', 'Kind', 'Points', 'Amount', 'Points after', 'Balance after'],
    entries.map((entry) => [
      when(entry.created_at),
      entry.kind.replace('_', ' '),
      String(entry.points),
      entry.amount,
      String(entry.points_balance),
      entry.cashback_balance,
    ]),
  );
}

function itemRow(types, index) {
  const type = field(`Item ${index} product type`, 'type', {
    tag: 'select',
    options: types.map((t) => [t.code, `${t.code} (${t.cashback_percent}% cashback)`]),
  });
  const value = field(`Item ${index} value`, 'value', { inputmode: 'decimal', autocomplete: 'off' });
  const qty = field(`Item ${index} quantity`, 'qty', { type: 'number', min: '1', step: '1', value: '1' });
  return h('fieldset', { class: 'item' }, h('legend', {}, `Item ${index}`), type.row, value.row, qty.row);
}

function orderForm(card) {
  const total = field('Order total', 'total', { inputmode: 'decimal', autocomplete: 'off', required: true });
  const items = h('div', { class: 'items' }, itemRow(card.types, 1));
  const addItem = h('button', { type: 'button' }, 'Add an item');
  addItem.addEventListener('click', () => items.append(itemRow(card.types, items.children.length + 1)));
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'order-title' },
    h('h2', { id: 'order-title' }, 'Add an order'),
    total.row,
    h('p', { class: 'hint' }, 'Items are optional; with them, their values times quantities must add up to the total.'),
    items,
    formAlert(),
    h('div', { class: 'actions' }, addItem, h('button', { type: 'submit' }, 'Record order')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem(form);
    const lines = [...items.querySelectorAll('fieldset')]
      .map((set) => ({ type: set.elements.type.value, value: set.elements.value.value.trim(), qty: Number(set.elements.qty.value) }))
      .filter((line) => line.value !== '');
    const body = { total: total.input.value.trim(), ...(lines.length ? { items: lines } : {}) };
    try {
      const { data } = await api.request('POST', `${card.path}/orders`, {
        body,
        headers: { 'Idempotency-Key': api.idempotencyKey() },
      });
      // Cleared first: the next sale may be typed while the lists below reload.
      form.reset();
      fill(items, itemRow(card.types, 1));
      showRewards(card, data.rewards);
      card.say(`Order of ${data.order.total} recorded: ${data.order.points} points, ${data.order.cashback} cashback.`);
      await reloadLists(card);
    } catch (error) {
      showProblem(form, error);
    }
  });
  return form;
}

function redeemForm(card) {
  const amount = field('Amount to redeem', 'amount', { inputmode: 'decimal', autocomplete: 'off', required: true });
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'redeem-title' },
    h('h2', { id: 'redeem-title' }, 'Redeem cashback'),
    amount.row,
    formAlert(),
    h('button', { type: 'submit' }, 'Redeem'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblem(form);
    try {
      const { data } = await api.request('POST', `${card.path}/redemptions`, {
        body: { amount: amount.input.value.trim() },
        headers: { 'Idempotency-Key': api.idempotencyKey() },
      });
      form.reset();
      showRewards(card, data.rewards);
      card.say(`Redeemed ${data.entry.amount.replace('-', '')}; the balance is ${data.rewards.cashback_balance}.`);
      await reloadLists(card);
    } catch (error) {
      if (error.status === 422) {
        form.querySelector('.form-alert').textContent = `Refused: ${error.message}.`;
      } else {
        showProblem(form, error);
      }
    }
  });
  return form;
}
