// Bar charts drawn as plain SVG (no library): one bar per value, the axis labelled, each bar with a title that
// names its figure, and the figures in a table beside for screen readers and exact reading.

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 640;
const HEIGHT = 200;
const MARGIN = { top: 12, right: 8, bottom: 28, left: 48 };

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

/** The smallest "nice" number (1, 2 or 5 times a power of ten) at or above `value`. */
function niceCeiling(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((step) => step * power).find((nice) => nice >= value);
}

/**
 * A bar chart of `bars` ([{label, value, text}]), `text` the figure as written (money keeps its cents).
 * `title` names the chart for assistive technology; `tick` shortens a bar's label under the axis.
 */
export function barChart(title, bars, { tick = (label) => label, every = 1 } = {}) {
  const top = niceCeiling(Math.max(0, ...bars.map((bar) => bar.value)));
  const inner = { width: WIDTH - MARGIN.left - MARGIN.right, height: HEIGHT - MARGIN.top - MARGIN.bottom };
  const slot = inner.width / Math.max(1, bars.length);
  const y = (value) => MARGIN.top + inner.height - (value / top) * inner.height;
  const chart = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': title, class: 'chart' });
  chart.append(svg('title', {}, title));
  // Counts get no gridline at a fraction (2.5 orders); money and larger tops get the half line too.
  const whole = bars.every((bar) => Number.isInteger(bar.value));
  for (const fraction of [0, 0.5, 1].filter((f) => !whole || Number.isInteger(top * f))) {
    const at = y(top * fraction);
    chart.append(svg('line', { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: at, y2: at, class: 'grid' }));
    chart.append(svg('text', { x: MARGIN.left - 6, y: at + 4, class: 'axis', 'text-anchor': 'end' }, String(top * fraction)));
  }
  bars.forEach((bar, index) => {
    const x = MARGIN.left + index * slot + slot * 0.15;
    const height = Math.max(0, y(0) - y(bar.value));
    const rect = svg('rect', { x, y: y(0) - height, width: Math.max(1, slot * 0.7), height, class: 'bar', 'data-value': bar.text });
    rect.append(svg('title', {}, `${bar.label}: ${bar.text}`));
    chart.append(rect);
    if (index % every === 0) {
      chart.append(svg('text', { x: x + slot * 0.35, y: HEIGHT - 8, class: 'axis', 'text-anchor': 'middle' }, tick(bar.label)));
    }
  });
  return chart;
}
