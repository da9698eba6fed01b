// Charts drawn as inline SVG by hand: grouped or stacked bars with optional budget marks, and
// lines over days. Each chart has a title and a description for assistive technology, and
// the caller puts the same figures in a table beside it.
import { h, uniqueId } from './ui.js';

const svgNS = 'http://www.w3.org/2000/svg';

function s(tag, attributes = {}, ...children) {
  const element = document.createElementNS(svgNS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// 0, and a "nice" top value and step for an axis that must reach `max`.
function niceScale(max, ticks = 5) {
  if (!(max > 0)) return { top: 1, step: 0.2 };
  const rough = max / ticks;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((candidate) => candidate >= rough);
  return { top: Math.ceil(max / step) * step, step };
}

const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
const full = new Intl.NumberFormat('en-US');

function frame(title, description, width, height) {
  const titleId = uniqueId('chart-title');
  const descId = uniqueId('chart-desc');
  const svg = s('svg', {
    viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': `${titleId} ${descId}`,
    preserveAspectRatio: 'xMidYMid meet',
  }, s('title', { id: titleId }, title), s('desc', { id: descId }, description));
  return svg;
}

function yAxis(svg, plot, scale, label) {
  const group = s('g', { class: 'axis' });
  for (let value = 0; value <= scale.top + scale.step / 2; value += scale.step) {
    const y = plot.bottom - (value / scale.top) * (plot.bottom - plot.top);
    group.append(s('line', { class: 'grid-line', x1: plot.left, x2: plot.right, y1: y, y2: y }));
    group.append(s('text', { x: plot.left - 6, y: y + 4, 'text-anchor': 'end' }, compact.format(value)));
  }
  group.append(s('line', { x1: plot.left, x2: plot.left, y1: plot.top, y2: plot.bottom }));
  group.append(s('line', { x1: plot.left, x2: plot.right, y1: plot.bottom, y2: plot.bottom }));
  if (label) {
    group.append(s('text', { x: 12, y: (plot.top + plot.bottom) / 2, transform: `rotate(-90 12 ${(plot.top + plot.bottom) / 2})`, 'text-anchor': 'middle' }, label));
  }
  svg.append(group);
}

function legend(series, budget) {
  return h('ul', { class: 'legend', 'aria-label': 'Legend' },
    series.map((item, index) => h('li', {}, h('span', { class: `swatch s${index + 1}`, 'aria-hidden': 'true' }), item.name)),
    budget ? h('li', {}, h('span', { class: 'swatch budget', 'aria-hidden': 'true' }), budget) : null);
}

// labels: category names; series: [{name, values}] stacked when `stacked`, side by side
// otherwise; budgets: per category (null where there is none), drawn as a red line across
// the category.
export function barChart({ title, description, labels, series, stacked = false, budgets, budgetName = 'Budget', yLabel }) {
  const width = 760;
  const height = 260;
  const plot = { left: 64, right: width - 12, top: 14, bottom: height - 40 };
  const svg = frame(title, description, width, height);
  const totals = labels.map((_, i) => (stacked
    ? series.reduce((sum, item) => sum + Math.max(0, Number(item.values[i] || 0)), 0)
    : Math.max(...series.map((item) => Number(item.values[i] || 0)))));
  const budgetMax = budgets ? Math.max(0, ...budgets.filter((b) => b !== null && b !== undefined).map(Number)) : 0;
  const scale = niceScale(Math.max(0, ...totals, budgetMax));
  yAxis(svg, plot, scale, yLabel);
  const slot = (plot.right - plot.left) / Math.max(labels.length, 1);
  const y = (value) => plot.bottom - (value / scale.top) * (plot.bottom - plot.top);
  const bars = s('g', { class: 'bars' });
  labels.forEach((label, i) => {
    // Bars keep a readable width: a few categories do not become slabs.
    const barWidth = Math.min(slot * 0.7, stacked ? 64 : 44 * series.length);
    const x0 = plot.left + i * slot + (slot - barWidth) / 2;
    let base = 0;
    series.forEach((item, k) => {
      const value = Math.max(0, Number(item.values[i] || 0));
      const w = stacked ? barWidth : barWidth / series.length;
      const x = stacked ? x0 : x0 + k * w;
      const top = stacked ? base + value : value;
      const rect = s('rect', {
        class: `bar-${k + 1}`, x: x.toFixed(1), y: y(top).toFixed(1), width: Math.max(w - 1, 1).toFixed(1),
        height: Math.max(y(stacked ? base : 0) - y(top), 0).toFixed(1),
      }, s('title', {}, `${label} — ${item.name}: ${full.format(value)}`));
      bars.append(rect);
      if (stacked) base += value;
    });
    if (budgets && budgets[i] !== null && budgets[i] !== undefined) {
      const by = y(Number(budgets[i]));
      bars.append(s('line', { class: 'budget', x1: (x0 - 4).toFixed(1), x2: (x0 + barWidth + 4).toFixed(1), y1: by.toFixed(1), y2: by.toFixed(1) },
        s('title', {}, `${label} — ${budgetName}: ${full.format(Number(budgets[i]))}`)));
    }
    const every = Math.ceil(labels.length / 14);
    if (i % every === 0) {
      bars.append(s('text', { x: (x0 + barWidth / 2).toFixed(1), y: plot.bottom + 16, 'text-anchor': 'middle' },
        label.length > 16 ? `${label.slice(0, 15)}…` : label));
    }
  });
  svg.append(bars);
  return h('figure', { class: 'chart' }, svg, legend(series, budgets ? budgetName : null));
}

// days: labels (yyyy-mm-dd); series: [{name, values}] drawn as lines.
export function lineChart({ title, description, labels, series, yLabel }) {
  const width = 760;
  const height = 260;
  const plot = { left: 64, right: width - 14, top: 14, bottom: height - 40 };
  const svg = frame(title, description, width, height);
  const max = Math.max(0, ...series.flatMap((item) => item.values.map(Number)));
  const scale = niceScale(max);
  yAxis(svg, plot, scale, yLabel);
  const step = labels.length > 1 ? (plot.right - plot.left) / (labels.length - 1) : 0;
  const x = (i) => plot.left + (labels.length > 1 ? i * step : (plot.right - plot.left) / 2);
  const y = (value) => plot.bottom - (Math.max(0, value) / scale.top) * (plot.bottom - plot.top);
  series.forEach((item, k) => {
    const points = item.values.map((value, i) => `${x(i).toFixed(1)},${y(Number(value)).toFixed(1)}`).join(' ');
    svg.append(s('polyline', { class: `line-${k + 1}`, points }, s('title', {}, item.name)));
    if (labels.length <= 62) {
      item.values.forEach((value, i) => svg.append(s('circle', { class: `bar-${k + 1}`, cx: x(i).toFixed(1), cy: y(Number(value)).toFixed(1), r: 2.5 },
        s('title', {}, `${labels[i]} — ${item.name}: ${full.format(Number(value))}`))));
    }
  });
  const every = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((label, i) => {
    // The last day is labelled too, unless the previous label is too close to it.
    if (i % every === 0 || (i === labels.length - 1 && i % every >= every / 2)) {
      svg.append(s('text', { x: x(i).toFixed(1), y: plot.bottom + 16, 'text-anchor': 'middle' }, label.slice(5)));
    }
  });
  return h('figure', { class: 'chart' }, svg, legend(series));
}
