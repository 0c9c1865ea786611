// Text for the table and the event list: fixed shapes (h:mm:ss, HH:MM:SS.mmm) so
// columns of tabular numerals stay aligned as the values tick.

const pad = (n, width = 2) => String(n).padStart(width, '0');

/** A duration in ms as `m:ss` or `h:mm:ss` (never negative). */
export function duration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const s = total % 60;
  const m = Math.floor(total / 60) % 60;
  const h = Math.floor(total / 3600);
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** A deadline as a countdown from `now`: `due` once passed, `—` when there is none. */
export function countdown(at, now, none = '—') {
  if (at === null) return none;
  return at <= now ? 'due' : duration(at - now);
}

/** A time of day, local, to the millisecond: the order of events in a burst shows. */
export function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

const grouped = new Intl.NumberFormat('en');
/** A count with thousands separators. */
export function count(n) {
  return grouped.format(n);
}
