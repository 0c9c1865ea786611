// Each session's life on the virtual clock, as SVG: created, last activity, the
// idle deadline it is heading for (live) or the moment it ended (ended), and what
// renewed it. One shared time axis from the clock's start to past the latest deadline.
import { formatOffset } from './recorder.js';

const SVG = 'http://www.w3.org/2000/svg';
const ROW = 30;
const LABEL = 150;
const AXIS = 26;
const WIDTH = 900;

function el(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A tick step (ms) giving some 6-10 ticks over `span`. */
function tickStep(span) {
  const steps = [1e3, 5e3, 10e3, 30e3, 60e3, 300e3, 600e3, 1800e3, 3600e3, 6 * 3600e3, 24 * 3600e3];
  return steps.find((step) => span / step <= 10) ?? steps[steps.length - 1];
}

/**
 * Draws `rows` into `svg`. A row: { id, status, createdAt, lastActivity, deadline
 * (live: the idle deadline, null while a request is in flight), endedAt, reason,
 * renewedTo } with times in ms; `start` and `now` bound the axis.
 */
export function drawTimeline(svg, rows, { start, now }) {
  const latest = Math.max(now, ...rows.map((r) => r.deadline ?? r.endedAt ?? 0));
  const span = Math.max(latest - start, 10_000) * 1.08;
  const x = (t) => LABEL + ((t - start) / span) * (WIDTH - LABEL - 12);
  const height = AXIS + Math.max(rows.length, 1) * ROW + 8;
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${height}`);
  svg.setAttribute('height', String(height));

  // The largest fixed step gives a day: past some 10 days of span, ticks every tenth
  // of it instead, or a huge span (a year's idle timeout) would draw millions.
  const step = Math.max(tickStep(span), span / 10);
  for (let t = 0; t <= span; t += step) {
    svg.append(el('line', { x1: x(start + t), x2: x(start + t), y1: AXIS - 6, y2: height, class: 'grid' }));
    svg.append(el('text', { x: x(start + t), y: AXIS - 10, class: 'tick' }, `T+${formatOffset(t)}`));
  }
  if (rows.length === 0) {
    svg.append(el('text', { x: LABEL, y: AXIS + ROW / 2 + 4, class: 'empty' }, 'No sessions yet: create one.'));
  }
  rows.forEach((row, i) => {
    const y = AXIS + i * ROW + ROW / 2;
    const group = el('g', { class: `row ${row.status}`, 'data-id': row.id });
    group.append(el('text', { x: 8, y: y + 4, class: 'label' }, row.id.slice(0, 12)));
    const end = row.endedAt ?? now;
    group.append(el('rect', { x: x(row.createdAt), y: y - 7, width: Math.max(x(end) - x(row.createdAt), 2), height: 14, rx: 3, class: 'life' }));
    if (row.endedAt === null && row.deadline !== null) {
      group.append(el('line', { x1: x(now), x2: x(row.deadline), y1: y, y2: y, class: 'pending' }));
      group.append(el('line', { x1: x(row.deadline), x2: x(row.deadline), y1: y - 9, y2: y + 9, class: 'deadline' }));
      group.append(el('title', {}, `idle deadline T+${formatOffset(row.deadline - start)}`));
    }
    group.append(el('circle', { cx: x(row.lastActivity), cy: y, r: 3.5, class: 'activity' }));
    if (row.endedAt !== null) {
      const at = x(row.endedAt);
      group.append(el('path', { d: `M${at - 4},${y - 4}L${at + 4},${y + 4}M${at - 4},${y + 4}L${at + 4},${y - 4}`, class: 'ended' }));
      const note = row.renewedTo === null ? row.reason : `${row.reason} → renewed as ${row.renewedTo.slice(0, 8)}`;
      group.append(el('text', { x: at + 8, y: y + 4, class: 'note' }, note));
    }
    svg.append(group);
  });
  svg.append(el('line', { x1: x(now), x2: x(now), y1: AXIS - 6, y2: height, class: 'now' }));
  svg.append(el('text', { x: x(now) + 4, y: height - 4, class: 'now-label' }, 'now'));
}
