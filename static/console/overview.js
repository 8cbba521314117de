// The overview: customers per tier, and for each of the last 30 UTC days the orders, points earned and cashback
// credited, as charts with their totals (figures from GET /api/stats/overview).

import * as api from './api.js';
import { fill, h, heading, table } from './dom.js';
import { barChart } from './charts.js';

const DAYS = 30;

export async function overviewView(main) {
  const { data } = await api.get(`/api/stats/overview?days=${DAYS}`);
  const day = (label) => label.slice(8); // the day of the month under each bar
  const perDay = (key, text) => data.days.map((d) => ({ label: d.date, value: Number(d[key]), text: text(d[key]) }));
  fill(
    main,
    heading('Overview'),
    h('p', { class: 'hint' }, `The last ${DAYS} days in UTC, today last. A day counts the orders credited that day.`),
    h(
      'dl',
      { class: 'figures totals' },
      figure('Customers', data.customers, 'total-customers'),
      figure('Orders', data.totals.orders, 'total-orders'),
      figure('Points earned', data.totals.points, 'total-points'),
      figure('Cashback credited', data.totals.cashback, 'total-cashback'),
    ),
    section('tiers-chart', 'Customers per tier', barChart(
      'Customers per tier',
      data.tiers.map((t) => ({ label: t.tier || 'none', value: t.customers, text: String(t.customers) })),
    )),
    section('orders-chart', 'Orders per day', barChart('Orders per day', perDay('orders', String), { tick: day, every: 5 })),
    section('points-chart', 'Points earned per day', barChart('Points earned per day', perDay('points', String), { tick: day, every: 5 })),
    section('cashback-chart', 'Cashback credited per day', barChart('Cashback credited per day', perDay('cashback', (v) => v), { tick: day, every: 5 })),
    h(
      'details',
      {},
      h('summary', {}, 'The figures of each day'),
      h(
        'div',
        { class: 'scroll' },
        table('Each day, oldest first', ['Day', 'Orders', 'Points', 'Cashback'], data.days.map((d) => [d.date, String(d.orders), String(d.points), d.cashback])),
      ),
    ),
  );
  main.querySelector('h1').focus();
}

function figure(term, value, id) {
  return h('div', {}, h('dt', {}, term), h('dd', { id }, String(value)));
}

function section(id, title, chart) {
  return h('section', { class: 'card chart-card', id, 'aria-labelledby': `${id}-title` }, h('h2', { id: `${id}-title` }, title), chart);
}
