// The live inspector: every live session and handle of this server (from GET
// /operator/sessions), the lifecycle events as they happen (GET /operator/events),
// charts, and filters. Read-only. Everything that changes the page is batched into
// one animation frame: events mark the model dirty, the frame filters, sorts and
// draws once, so a burst of a thousand expirations costs one redraw.

import { Charts } from './charts.js';
import { EventList } from './events.js';
import { count, countdown, duration } from './format.js';
import { Model } from './model.js';
import { VirtualTable } from './table.js';

const ROW_HEIGHT = 28;
/** A full snapshot this often: request activity moves deadlines without an event. */
const REFRESH_MS = 5_000;
/** After an event about a new record, a snapshot this soon (coalescing a burst). */
const SOON_MS = 400;
/** Above this many records a snapshot is costly for the server to build (a digest
 * and the JSON of each): events then bring one no sooner than REFRESH_MS after the
 * last, instead of SOON_MS after a burst. */
const LARGE_SNAPSHOT = 2_000;

const $ = (id) => document.getElementById(id);

const COLUMNS = [
  { key: 'kind', title: 'Kind', className: 'c-kind', text: (r) => r.kind },
  { key: 'id', title: 'ID', className: 'c-id mono', text: (r) => r.id },
  { key: 'phase', title: 'Phase', className: 'c-phase', text: (r) => (r.kind === 'handle' ? 'handle' : r.phase), tone: (r) => `phase-${r.phase}` },
  { key: 'principal', title: 'Principal', className: 'c-principal', text: (r) => r.principal ?? 'anonymous' },
  { key: 'protocol', title: 'Protocol', className: 'c-protocol num', text: (r) => r.protocolVersion ?? r.era },
  { key: 'client', title: 'Client', className: 'c-client', text: (r) => r.clientName ?? '—' },
  { key: 'age', title: 'Age', className: 'c-age num', text: (r, now) => duration(now - r.createdAt) },
  { key: 'expires', title: 'Deadline', className: 'c-expires num', text: (r, now) => countdown(r.expiresAt, now, r.inFlight > 0 ? 'busy' : '—') },
  { key: 'lifetime', title: 'Lifetime', className: 'c-lifetime num', text: (r, now) => countdown(r.lifetimeEndsAt, now) },
  { key: 'version', title: 'State v', className: 'c-version num', text: (r) => String(r.stateVersion) },
  { key: 'inflight', title: 'In flight', className: 'c-inflight num', text: (r) => String(r.inFlight) },
  { key: 'transport', title: 'Transport', className: 'c-transport', text: (r) => (r.transport ? 'held' : '—') },
];

/** Sort keys: a number or a string per record; ties by creation. */
const SORT_KEYS = {
  kind: (r) => r.kind,
  id: (r) => r.id,
  phase: (r) => r.phase,
  principal: (r) => r.principal ?? '',
  protocol: (r) => r.protocolVersion ?? r.era,
  client: (r) => r.clientName ?? '',
  age: (r) => -r.createdAt,
  expires: (r) => r.expiresAt ?? Number.MAX_SAFE_INTEGER,
  lifetime: (r) => r.lifetimeEndsAt ?? Number.MAX_SAFE_INTEGER,
  version: (r) => r.stateVersion,
  inflight: (r) => r.inFlight,
  transport: (r) => (r.transport ? 0 : 1),
};

const model = new Model();
const sort = { key: 'age', descending: false };
const filters = { principal: '', phase: '' };
/** Set when what the table shows must be filtered and sorted again. */
let dirty = true;
let frameRequested = false;
let shownRevision = -1;
let firstRowsMarked = false;
let principals = '';

const table = new VirtualTable({
  head: $('table-head'),
  scroller: $('scroller'),
  spacer: $('spacer'),
  columns: COLUMNS,
  rowHeight: ROW_HEIGHT,
  onSort: (key) => {
    sort.descending = sort.key === key ? !sort.descending : false;
    sort.key = key;
    table.showSort(sort.key, sort.descending);
    invalidate();
  },
});
table.showSort(sort.key, sort.descending);
const events = new EventList($('events'), $('events-count'));
let charts;

/** Asks for one frame; everything pending is drawn in it. */
function frame() {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(draw);
}

function invalidate() {
  dirty = true;
  frame();
}

function draw() {
  frameRequested = false;
  const now = model.now();
  if (dirty || shownRevision !== model.revision) {
    dirty = false;
    shownRevision = model.revision;
    const rows = visibleRecords();
    table.setRows(rows);
    showCounts(rows.length);
  }
  table.render(now);
  events.flush();
  if (!firstRowsMarked && model.records.size > 0) {
    firstRowsMarked = true;
    // The next frame begins once this one is painted.
    requestAnimationFrame(() => performance.mark('inspector:first-rows'));
  }
}

function visibleRecords() {
  const principal = filters.principal.toLowerCase();
  const rows = [];
  for (const record of model.records.values()) {
    if (filters.phase !== '' && record.phase !== filters.phase) continue;
    if (principal !== '' && !(record.principal ?? 'anonymous').toLowerCase().includes(principal)) continue;
    rows.push(record);
  }
  const key = SORT_KEYS[sort.key];
  const sign = sort.descending ? -1 : 1;
  rows.sort((a, b) => {
    const x = key(a);
    const y = key(b);
    if (x < y) return -sign;
    if (x > y) return sign;
    return b.createdAt - a.createdAt;
  });
  return rows;
}

function showCounts(shown) {
  let sessions = 0;
  let handles = 0;
  let inFlight = 0;
  const phases = { initializing: 0, active: 0, disconnected: 0 };
  const names = new Set();
  for (const r of model.records.values()) {
    if (r.kind === 'handle') handles++;
    else {
      sessions++;
      phases[r.phase]++;
    }
    inFlight += r.inFlight;
    names.add(r.principal ?? 'anonymous');
  }
  // A truncated snapshot lists the most recently active only: the totals are the server's.
  const stats = model.truncated && model.stats !== null && 'live' in model.stats ? model.stats : null;
  if (stats !== null) {
    sessions = stats.live;
    handles = stats.handlesLive;
    inFlight = stats.inFlight;
    phases.initializing = stats.initializing;
    phases.active = stats.active;
    phases.disconnected = stats.disconnected;
  }
  $('count-sessions').textContent = count(sessions);
  $('count-initializing').textContent = count(phases.initializing);
  $('count-active').textContent = count(phases.active);
  $('count-disconnected').textContent = count(phases.disconnected);
  $('count-handles').textContent = count(handles);
  $('count-inflight').textContent = count(inFlight);
  $('shown').textContent =
    stats === null
      ? `${count(shown)} of ${count(sessions + handles)} shown`
      : `${count(shown)} shown; showing ${count(model.records.size)} of ${count(sessions + handles)} (the most recently active)`;
  $('empty').hidden = model.records.size > 0;
  // The principal suggestions, rebuilt only when the set of names changed.
  const list = [...names].sort().slice(0, 500);
  const joined = list.join('\n');
  if (joined !== principals) {
    principals = joined;
    $('principals').replaceChildren(...list.map((name) => Object.assign(document.createElement('option'), { value: name })));
  }
}

// ----- the server -----

let refreshing = false;
let soon;
/** Page time the last snapshot was asked for, and how many records it held. */
let lastRefreshAt = 0;
let lastSnapshotSize = 0;

async function refresh() {
  if (refreshing) return;
  refreshing = true;
  const sentAt = Date.now();
  lastRefreshAt = sentAt;
  try {
    const res = await fetch('operator/sessions', { cache: 'no-store', credentials: 'same-origin' });
    if (!res.ok) throw new Error(`GET /operator/sessions: ${res.status}`);
    const view = await res.json();
    lastSnapshotSize = view.records.length;
    const start = performance.now();
    model.replace(view, sentAt);
    performance.measure('inspector:snapshot', { start, end: performance.now() });
    invalidate();
  } catch (error) {
    setLink('error', error.message);
  } finally {
    refreshing = false;
  }
}

function refreshSoon() {
  if (soon !== undefined) return;
  const delay = lastSnapshotSize > LARGE_SNAPSHOT ? Math.max(SOON_MS, lastRefreshAt + REFRESH_MS - Date.now()) : SOON_MS;
  soon = setTimeout(() => {
    soon = undefined;
    void refresh();
  }, delay);
}

function setLink(state, text = state) {
  const link = $('link');
  link.dataset.state = state;
  link.textContent = text;
}

/** How long after the stream was refused (EventSource gives up for good on an
 * answer other than a 200 stream: 404 under Redis, 403, a proxy's 5xx) a new one is tried. */
const RELISTEN_MS = 5_000;

/** `lost`: events may have been missed before this stream opens. */
function listen(lost = false) {
  const source = new EventSource('operator/events');
  source.onopen = () => {
    setLink('live');
    // Events may have been missed while the stream was away.
    if (lost) void refresh();
    lost = false;
  };
  source.onerror = () => {
    lost = true;
    if (source.readyState !== EventSource.CLOSED) {
      setLink('reconnecting');
      return;
    }
    source.close();
    setLink('error', `no event stream; retrying in ${RELISTEN_MS / 1000} s`);
    setTimeout(() => {
      setLink('reconnecting');
      listen(true);
    }, RELISTEN_MS);
  };
  source.onmessage = (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    if (model.apply(event)) refreshSoon();
    if (event.type === 'expired' || event.type === 'handleExpired') charts?.expired();
    events.push(event);
    frame();
  };
}

// ----- the page -----

$('filter-principal').addEventListener('input', (e) => {
  filters.principal = e.target.value.trim();
  invalidate();
});
$('filter-phase').addEventListener('change', (e) => {
  filters.phase = e.target.value;
  invalidate();
});
$('filters').addEventListener('submit', (e) => e.preventDefault());
$('scroller').addEventListener('scroll', frame, { passive: true });

// Countdowns tick four times a second (the rows in view only); charts once.
setInterval(frame, 250);
setInterval(() => {
  let handles = 0;
  for (const r of model.records.values()) if (r.kind === 'handle') handles++;
  let sessions = model.records.size - handles;
  if (model.truncated && model.stats !== null && 'live' in model.stats) {
    sessions = model.stats.live;
    handles = model.stats.handlesLive;
  }
  charts?.sample(sessions, handles);
  $('count-rate').textContent = count(charts?.rate() ?? 0);
}, 1_000);
setInterval(() => void refresh(), REFRESH_MS);

listen();
await refresh();
if (globalThis.uPlot !== undefined) charts = new Charts($('chart-live'), $('chart-expired'));
