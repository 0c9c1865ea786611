// Two uPlot charts (uPlot is served from the package, beside this page): live
// sessions and handles over time, and expirations per minute. One sample a
// second, the last ten minutes kept.

const KEEP = 600;
const MINUTE = 60_000;

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

function chart(element, series) {
  const { uPlot } = globalThis;
  const axis = { stroke: css('--muted'), grid: { stroke: css('--grid'), width: 1 }, ticks: { stroke: css('--grid') } };
  const plot = new uPlot(
    {
      width: Math.max(200, element.clientWidth),
      height: 140,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(5, Math.ceil(max * 1.15))] } },
      axes: [axis, { ...axis, size: 60 }],
      series: [{}, ...series.map((s) => ({ ...s, width: 1.5, points: { show: false } }))],
    },
    [[], ...series.map(() => [])],
    element,
  );
  new ResizeObserver(() => plot.setSize({ width: Math.max(200, element.clientWidth), height: 140 })).observe(element);
  return plot;
}

export class Charts {
  #live;
  #expired;
  #times = [];
  #sessions = [];
  #handles = [];
  #rates = [];
  /** Page times of the expirations of the last minute. */
  #recent = [];

  constructor(liveElement, expiredElement) {
    this.#live = chart(liveElement, [
      { label: 'sessions', stroke: css('--active'), fill: css('--active-fill') },
      { label: 'handles', stroke: css('--live') },
    ]);
    this.#expired = chart(expiredElement, [{ label: 'expired / min', stroke: css('--ended'), fill: css('--ended-fill') }]);
  }

  /** An expiration (session or handle) just arrived. */
  expired() {
    this.#recent.push(Date.now());
  }

  /** Expirations in the last minute. */
  rate() {
    const since = Date.now() - MINUTE;
    let drop = 0;
    while (drop < this.#recent.length && this.#recent[drop] < since) drop++;
    if (drop > 0) this.#recent.splice(0, drop);
    return this.#recent.length;
  }

  /** Takes one sample (once a second). */
  sample(sessions, handles) {
    this.#times.push(Date.now() / 1000);
    this.#sessions.push(sessions);
    this.#handles.push(handles);
    this.#rates.push(this.rate());
    if (this.#times.length > KEEP) for (const a of [this.#times, this.#sessions, this.#handles, this.#rates]) a.shift();
    this.#live.setData([this.#times, this.#sessions, this.#handles]);
    this.#expired.setData([this.#times, this.#rates]);
  }
}
