// The persistence contract (SessionStore): the manager saves after the core
// decides and before anyone hears; a failed save undoes the change (no reload)
// and fails the call, or, on the timer, reaches onError and is retried; listeners
// are isolated from each other and from the call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionManager } from 'mcp-session-core';

/** A store in memory that fails while `failing` is set, and counts its opens. */
function memoryStore() {
  const store = {
    failing: false,
    opens: 0,
    saved: [],
    open() {
      store.opens += 1;
      return { found: false, replayed: 0, tornRecord: false };
    },
    save(changes) {
      if (store.failing) throw new Error('ENOSPC: no space left on device');
      store.saved.push(changes);
    },
  };
  return store;
}

function setUp(options = {}) {
  let now = 1_700_000_000_000;
  const errors = [];
  const m = new SessionManager({ clock: () => now, onError: (e) => errors.push(e), ...options });
  const store = memoryStore();
  m.attachStore(store);
  return { m, store, errors, advance: (ms) => (now += ms), now: () => now };
}

test('a save that fails on a call: typed STORAGE_FAILED, the change undone in the core, nobody hears of it', () => {
  const { m, store } = setUp();
  const heard = [];
  for (const type of ['created', 'stateChanged', 'closed']) m.on(type, (e) => heard.push(e.type));
  const id = m.createSession();
  m.updateSessionState(id, { n: 1 });
  const before = m.snapshot();
  heard.length = 0;
  store.failing = true;
  assert.throws(() => m.updateSessionState(id, { n: 2 }, { expectedVersion: 1 }), {
    code: 'STORAGE_FAILED',
    httpStatus: 503,
  });
  assert.throws(() => m.closeSession(id), { code: 'STORAGE_FAILED' });
  assert.throws(() => m.createSession(), { code: 'STORAGE_FAILED' });
  assert.equal(m.snapshot(), before, 'the core is as it was');
  assert.deepEqual(heard, [], 'no listener heard of changes that did not happen');
  assert.equal(store.opens, 1, 'undone without reading the store again');
  store.failing = false;
  assert.equal(m.updateSessionState(id, { n: 2 }, { expectedVersion: 1 }), 2, 'the same call succeeds once the store does');
  assert.deepEqual(heard, ['stateChanged']);
  const last = JSON.parse(store.saved.at(-1).records);
  assert.equal(store.saved.at(-1).cause, 'call');
  assert.deepEqual(last.sessions.map((s) => [s.id, s.state, s.version]), [[id, { n: 2 }, 2]]);
  m.dispose();
});

test('a store failing on the timer path: onError hears, the process lives, the core is unchanged, the expiry is retried', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'setImmediate'] });
  const { m, store, errors, advance } = setUp({ idleTimeoutMs: 1_000 });
  const expired = [];
  m.on('expired', (e) => expired.push(e.sessionId));
  const id = m.createSession();
  const deadline = m.nextDeadline();
  const saves = store.saved.length;
  store.failing = true;
  advance(1_000);
  assert.doesNotThrow(() => t.mock.timers.tick(1_000), 'nothing escapes the timer');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'STORAGE_FAILED');
  assert.match(errors[0].cause.message, /ENOSPC/);
  assert.deepEqual(expired, [], 'the expiry did not happen');
  assert.equal(m.nextDeadline(), deadline, 'the session is live and still due');
  assert.equal(store.saved.length, saves);
  // The timer tries again after a pause (1 s, then longer while it keeps failing).
  advance(1_000);
  t.mock.timers.tick(1_000);
  assert.equal(errors.length, 2, 'retried, and failed again');
  store.failing = false;
  advance(2_000);
  t.mock.timers.tick(2_000);
  assert.deepEqual(expired, [id], 'retried once the store works: one expiry, one event');
  const record = store.saved.at(-1);
  assert.equal(record.cause, 'timer');
  assert.deepEqual(JSON.parse(record.records).ended.map((e) => [e.session.id, e.reason]), [[id, 'idle']]);
  m.dispose();
});

test('activity is saved in batches on the activity timer; a failed batch reaches onError and is retried', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'setImmediate'] });
  const { m, store, errors, advance } = setUp();
  const id = m.createSession();
  const saves = store.saved.length;
  advance(500);
  m.getSession(id);
  assert.equal(store.saved.length, saves, 'a read writes nothing by itself');
  store.failing = true;
  t.mock.timers.tick(1_000);
  assert.equal(errors.length, 1);
  store.failing = false;
  t.mock.timers.tick(1_000);
  const batch = store.saved.at(-1);
  assert.equal(batch.cause, 'activity');
  assert.equal(JSON.parse(batch.records).sessions[0].lastActivity, 1_700_000_000_500);
  m.dispose();
});

test('under load, activity is saved every 512 calls, on the next turn: no batch holds more than that many sessions', async () => {
  const { m, store, errors } = setUp();
  const ids = Array.from({ length: 1_000 }, () => m.createSession());
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  await turn();
  store.saved.length = 0;
  for (const id of ids) m.getSession(id); // reads: activity only
  await turn();
  const batches = store.saved.filter((c) => c.cause === 'activity');
  assert.equal(batches.length, 1, 'one batch, the turn after the 512th call');
  assert.equal(JSON.parse(batches[0].records).sessions.length, 1_000, 'it holds every session touched so far');
  store.saved.length = 0;
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 512; i++) m.getSession(ids[(round * 512 + i) % ids.length]);
    await turn();
  }
  const sizes = store.saved.map((c) => JSON.parse(c.records).sessions.length);
  assert.deepEqual(sizes, [512, 512, 512, 512]);
  // While batches fail, only the timer tries again.
  store.failing = true;
  for (let i = 0; i < 2_000; i++) m.getSession(ids[i % ids.length]);
  await turn();
  for (let i = 0; i < 2_000; i++) m.getSession(ids[i % ids.length]);
  await turn();
  assert.equal(errors.length, 1);
  store.failing = false;
  m.dispose();
});

test('a listener that throws leaves the other listeners and the call unaffected', () => {
  const { m, errors } = setUp();
  const heard = [];
  m.on('closed', () => {
    throw new Error('first listener failed');
  });
  m.on('closed', (e) => heard.push(e.sessionId));
  m.once('created', () => {
    throw new Error('once listener failed');
  });
  const ids = [m.createSession(), m.createSession(), m.createSession()];
  assert.equal(m.clearAllSessions(), 3, 'the call answers as if nothing failed');
  assert.deepEqual(heard.sort(), [...ids].sort(), 'every event of the batch reached the other listener');
  assert.deepEqual(
    errors.map((e) => e.message),
    ['once listener failed', 'first listener failed', 'first listener failed', 'first listener failed'],
  );
  m.dispose();
});
