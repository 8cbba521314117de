// The tier table (from GET /api/tiers) and the tier badge of a rewards summary.

import * as api from './api.js';
import { fill, h, table } from './dom.js';

let tiers = null;

/** The tiers, asked once per page load (they do not change while the console runs). */
export async function loadTiers() {
  if (tiers === null) tiers = (await api.get('/api/tiers')).data.items;
  return tiers;
}

export function tierBadge(rewards) {
  if (!rewards.tier) return h('span', { class: 'tier tier-none', title: 'No tier yet' }, '–');
  return h('span', { class: `tier tier-${rewards.tier}`, title: rewards.tier_name }, rewards.tier);
}

export function tierTable(items, current) {
  const grid = table(
    'Tiers and their rewards',
    ['Tier', 'From points', 'Reward'],
    items.map((tier) => [tier.tier, String(tier.points), tier.name]),
  );
  if (current) {
    const index = items.findIndex((tier) => tier.tier === current);
    if (index >= 0) grid.tBodies[0].rows[index].classList.add('current');
  }
  return grid;
}

export async function tiersView(main) {
  document.title = 'Tiers · Customer Interface';
  const items = await loadTiers();
  fill(main, h('h1', { tabindex: '-1' }, 'Tiers'), tierTable(items));
  main.querySelector('h1').focus();
}
