// The playground: a SessionManager from the web build on a virtual clock. Every
// button is one recorded call (recorder.js); after each, the page redraws from what
// the manager reports: live sessions from getAllSessions() and the ended ones it
// still remembers from its snapshot, neither of which counts as activity.
import { init, SessionManager } from '/web/index.mjs';
import { Recorder, formatOffset } from './recorder.js';
import { drawTimeline } from './timeline.js';

/** The virtual clock's start (2023-11-14T22:13:20Z) and the ID seed: fixed, so a
 * recording replays to the same IDs. Insecure IDs: this is a simulation. */
const START = 1_700_000_000_000;
const SEED = 1;
const EVENT_KINDS = ['created', 'initialized', 'stateChanged', 'disconnected', 'resumed', 'closed', 'expired', 'evicted', 'renewed', 'sweepPaused'];

const $ = (selector) => document.querySelector(selector);

let now;
let manager;
let recorder;
let events;

function start() {
  manager?.dispose();
  now = START;
  events = [];
  manager = new SessionManager({ clock: () => now, insecureSeed: SEED, onError: (error) => console.warn(error) });
  for (const kind of EVENT_KINDS) manager.on(kind, (event) => events.push(event));
  recorder = new Recorder({ start: START, seed: SEED });
  $('#export-code').value = '';
  $('#export-link').hidden = true;
  render();
}

/** One recorded call; shows its error, if any, then redraws. */
function call(method, ...args) {
  const answer = recorder.call(manager, method, args, now);
  showError(method, answer.error);
  render();
  return answer;
}

/** Moves the virtual clock, then sweeps: what is due ends now, as a server's timer would. */
function advance(ms) {
  now += ms;
  recorder.advance(ms, now);
  call('cleanupExpiredSessions');
}

/** The whole seconds in `input` (called `name`), from its `min` to its `max`, or
 * undefined once the error is shown. The inputs go up to a year: a far larger clock
 * advance or idle timeout says nothing more, and once froze the tab drawing the
 * timeline. The form's own checks let an empty field through (as 0). */
function seconds(input, method, name) {
  const value = Number(input.value);
  const min = Number(input.min);
  const max = Number(input.max);
  if (input.value.trim() !== '' && Number.isInteger(value) && value >= min && value <= max) return value;
  showError(method, { code: 'INVALID_INPUT', message: `${name} must be a whole number of seconds from ${min} to ${max.toLocaleString('en')}` });
  return undefined;
}

function showError(method, error) {
  const box = $('#last-error');
  box.hidden = error === undefined;
  if (error !== undefined) box.replaceChildren(text('strong', error.code), ` from ${method}: ${error.message}`);
}

function text(tag, content, className) {
  const node = document.createElement(tag);
  node.textContent = content;
  if (className) node.className = className;
  return node;
}

function button(label, onClick, disabled = false) {
  const node = text('button', label);
  node.type = 'button';
  node.disabled = disabled;
  node.addEventListener('click', onClick);
  return node;
}

const at = (ms) => (ms === null || ms === undefined ? '—' : `T+${formatOffset(ms - START)}`);

/** Live sessions and the ended ones still remembered, oldest first, as table and timeline rows. */
function sessionRows() {
  const snapshot = JSON.parse(manager.snapshot());
  const live = manager.getAllSessions().map((s) => ({
    id: s.id,
    principal: s.principal,
    status: s.status,
    version: s.version,
    inFlight: s.inFlight,
    createdAt: s.createdAt.getTime(),
    lastActivity: s.lastActivity.getTime(),
    deadline: s.expiresAt === null ? null : s.expiresAt.getTime(),
    endedAt: null,
    reason: null,
    renewedTo: null,
  }));
  const ended = snapshot.ended.map(({ session, reason, endedAt, renewedTo }) => ({
    id: session.id,
    principal: session.principal,
    status: reason === 'closed' ? 'closed' : reason === 'evicted' ? 'evicted' : 'expired',
    version: session.version,
    inFlight: 0,
    createdAt: session.createdAt,
    lastActivity: session.lastActivity,
    deadline: null,
    endedAt,
    reason,
    renewedTo,
  }));
  return [...live, ...ended].sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
}

function render() {
  $('#clock-offset').textContent = `T+${formatOffset(now - START)}`;
  $('#clock-iso').textContent = new Date(now).toISOString().replace('.000Z', 'Z');
  const rows = sessionRows();
  renderSessions(rows);
  renderUpdateChoices(rows);
  drawTimeline($('#timeline'), rows, { start: START, now });
  renderCalls();
  renderEvents();
  $('#snapshot').textContent = JSON.stringify(JSON.parse(manager.snapshot()), null, 2);
}

function renderSessions(rows) {
  const body = $('#sessions tbody');
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement('tr');
      tr.dataset.id = row.id;
      tr.className = row.status;
      const live = row.endedAt === null;
      const actions = document.createElement('td');
      actions.className = 'actions';
      actions.append(
        button('Begin request', () => call('beginRequest', { sessionId: row.id, principal: row.principal, kind: 'other' }), !live),
        button('End request', () => call('endRequest', row.id), !live || row.inFlight === 0),
        button('Close', () => call('closeSession', row.id), !live),
        button('Renew', () => call('renewSession', row.id, { principal: row.principal ?? undefined }), live || row.renewedTo !== null),
      );
      const idCell = text('td', `${row.id.slice(0, 12)}…`, 'id');
      idCell.title = row.id;
      tr.append(
        idCell,
        text('td', row.principal ?? '—'),
        Object.assign(document.createElement('td'), { className: 'status' }),
        text('td', String(row.version), 'num'),
        text('td', String(row.inFlight), 'num'),
        text('td', at(row.lastActivity), 'num'),
        text('td', live ? (row.deadline === null ? 'in flight' : at(row.deadline)) : `ended ${at(row.endedAt)}`, 'num'),
        actions,
      );
      tr.querySelector('.status').append(text('span', row.status, `pill ${row.status}`));
      return tr;
    }),
  );
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    const td = text('td', 'No sessions yet.', 'empty');
    td.colSpan = 8;
    tr.append(td);
    body.append(tr);
  }
}

function renderUpdateChoices(rows) {
  const select = $('#update-session');
  const chosen = select.value;
  select.replaceChildren(...rows.map((row) => Object.assign(document.createElement('option'), { value: row.id, textContent: `${row.id.slice(0, 12)}… (${row.status})` })));
  if (rows.some((row) => row.id === chosen)) select.value = chosen;
  else if (rows.length > 0) select.value = rows[rows.length - 1].id;
}

/** A call as people would write it: the method and its arguments as JSON. */
function describe(entry) {
  return `${entry.method}(${entry.args.map((a) => JSON.stringify(a)).join(', ')})`;
}

function renderCalls() {
  const body = $('#calls tbody');
  const calls = recorder.entries.filter((e) => e.kind === 'call');
  body.replaceChildren(
    ...calls.map((entry, i) => {
      const tr = document.createElement('tr');
      const { error } = entry.outcome;
      tr.className = error === undefined ? 'ok' : 'failed';
      const answer = error === undefined
        ? text('td', 'result' in entry.outcome ? JSON.stringify(entry.outcome.result) : 'ok', 'answer')
        : text('td', '', 'answer');
      if (error !== undefined) answer.append(text('strong', error.code), ` ${error.message}`);
      tr.append(text('td', String(i + 1), 'num'), text('td', at(entry.at), 'num'), text('td', describe(entry), 'call'), answer);
      return tr;
    }).reverse(),
  );
}

function renderEvents() {
  $('#events').replaceChildren(
    ...events.slice(-200).reverse().map((event) => {
      const { type, at: when, ...details } = event;
      const li = document.createElement('li');
      li.className = type;
      li.append(text('span', at(when), 'when'), text('span', type, 'type'), text('span', Object.values(details).join(' · '), 'details'));
      return li;
    }),
  );
}

function exportTest() {
  const code = recorder.exportTest(manager.snapshot());
  $('#export-code').value = code;
  const link = $('#export-link');
  if (link.href.startsWith('blob:')) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
  link.hidden = false;
}

function wire() {
  $('#create').addEventListener('submit', (event) => {
    event.preventDefault();
    const principal = $('#principal').value.trim();
    const idle = seconds($('#idle'), 'createSession', 'the idle timeout');
    if (idle === undefined) return;
    const config = { idleTimeoutMs: idle * 1000 };
    if (principal !== '') config.principal = principal;
    call('createSession', config);
  });
  $('#update').addEventListener('submit', (event) => {
    event.preventDefault();
    let patch;
    try {
      patch = JSON.parse($('#update-patch').value);
    } catch (error) {
      showError('updateSessionState', { code: 'INVALID_JSON', message: `the patch is not JSON: ${error.message}` });
      return;
    }
    const version = $('#update-version').value;
    const args = [$('#update-session').value, patch];
    if (version !== '') args.push({ expectedVersion: Number(version) });
    call('updateSessionState', ...args);
  });
  for (const node of document.querySelectorAll('[data-advance]')) {
    node.addEventListener('click', () => advance(Number(node.dataset.advance)));
  }
  $('#advance-custom').addEventListener('submit', (event) => {
    event.preventDefault();
    const custom = seconds($('#custom-seconds'), 'advance', 'the clock advance');
    if (custom !== undefined) advance(custom * 1000);
  });
  $('#reset').addEventListener('click', start);
  $('#export').addEventListener('click', exportTest);
}

await init();
wire();
start();
document.body.dataset.ready = 'true';
// Navigation start to the core loaded and the page drawn: what the tests report.
performance.mark('playground:ready');
