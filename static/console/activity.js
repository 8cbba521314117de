// The activity trail by UTC day, actor and action, newest first; an order's entry offers to undo the order
// (the daily review and rollback).

import * as api from './api.js';
import { fill, h, heading, when } from './dom.js';

const PAGE = 50;
const COLUMNS = ['When', 'Actor', 'Action', 'Target', 'Details', 'Undo'];

export function activityView(main, { say }) {
  const today = new Date().toISOString().slice(0, 10);
  const inputs = {
    date: h('input', { id: 'activity-date', name: 'date', type: 'date', value: today }),
    actor: h('input', { id: 'activity-actor', name: 'actor', type: 'search', placeholder: 'user:AbC123', autocomplete: 'off' }),
    action: h('input', { id: 'activity-action', name: 'action', type: 'search', placeholder: 'order.created', autocomplete: 'off' }),
  };
  const view = {
    say,
    inputs,
    body: h('tbody'),
    count: h('p', { class: 'count', 'aria-live': 'polite' }),
    more: h('button', { type: 'button', class: 'more', hidden: true }, 'More entries'),
    cursor: null,
    shown: 0,
    generation: 0,
  };
  const form = h(
    'form',
    { class: 'toolbar', role: 'search' },
    fieldRow('Day (UTC)', inputs.date),
    fieldRow('Actor', inputs.actor),
    fieldRow('Action', inputs.action),
    h('button', { type: 'submit' }, 'Show'),
  );
  const grid = h(
    'table',
    { class: 'activity' },
    h('caption', { class: 'visually-hidden' }, 'Activity, newest first'),
    h('thead', {}, h('tr', {}, COLUMNS.map((c) => h('th', { scope: 'col' }, c)))),
    view.body,
  );
  fill(main, heading('Activity'), form, view.count, h('div', { class: 'scroll' }, grid), view.more);
  main.querySelector('h1').focus();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    load(view, false);
  });
  view.more.addEventListener('click', () => load(view, true));
  return load(view, false);
}

/** The first page for the filters (or, with `append`, the next one) into the table. */
async function load(view, append) {
  view.generation += 1;
  const mine = view.generation;
  const params = new URLSearchParams({ limit: PAGE });
  for (const [name, input] of Object.entries(view.inputs)) {
    if (input.value.trim()) params.set(name, input.value.trim());
  }
  if (append && view.cursor) params.set('cursor', view.cursor);
  let page;
  try {
    page = (await api.get(`/api/activity?${params}`)).data;
  } catch (error) {
    fill(view.body);
    view.count.textContent = error.message;
    return;
  }
  if (mine !== view.generation) return; // the filters changed while this page was on its way
  if (!append) {
    fill(view.body);
    view.shown = 0;
  }
  view.body.append(...page.items.map((entry) => row(entry, view)));
  view.shown += page.items.length;
  view.cursor = page.next_cursor;
  view.more.hidden = !view.cursor;
  view.count.textContent = view.shown ? `${view.shown} entr${view.shown === 1 ? 'y' : 'ies'} shown.` : 'Nothing was done that matches.';
}

function fieldRow(label, input) {
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input);
}

function details(entry) {
  const pairs = Object.entries(entry.details || {});
  return pairs.map(([key, value]) => `${key}: ${typeof value === 'object' ? JSON.stringify(value) : value}`).join(', ');
}

function row(entry, view) {
  const order = entry.action === 'order.created' && entry.target && entry.target.startsWith('order:') ? entry.target.slice(6) : null;
  const undo = order
    ? h('button', { type: 'button', 'aria-label': `Undo order ${order}`, onclick: () => undoOrder(order, view) }, 'Undo order')
    : '';
  const cells = [when(entry.at), entry.actor || '', entry.action, entry.target || '', details(entry), undo];
  return h('tr', {}, cells.map((cell, index) => h('td', { 'data-label': COLUMNS[index] }, cell)));
}

async function undoOrder(order, view) {
  try {
    const { data } = await api.request('POST', `/api/orders/${encodeURIComponent(order)}/reverse`);
    view.say(`Order ${order} of ${data.order.total} was undone: ${data.order.points} points taken back.`);
    await load(view, false);
  } catch (error) {
    view.say(error.status === 422 ? `Order ${order} was already undone.` : `Not undone: ${error.message}`);
  }
}
