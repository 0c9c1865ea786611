// The one deadline timer, on the real clock with a short timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionManager } from 'mcp-session-core';

function within(ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return { deadline, done: () => clearTimeout(timer) };
}

test('the timer sweeps at the deadline and emits typed events', async () => {
  const m = new SessionManager({ idleTimeoutMs: 60 });
  const seen = [];
  for (const type of ['created', 'stateChanged', 'expired']) m.on(type, (e) => seen.push(e.type));
  const guard = within(5_000, 'expiry');
  const expired = new Promise((resolve) => m.once('expired', resolve));
  const id = m.createSession();
  m.updateSessionState(id, { touched: true });
  const event = await Promise.race([expired, guard.deadline]);
  guard.done();
  assert.equal(event.sessionId, id);
  assert.equal(event.reason, 'idle');
  assert.deepEqual(seen, ['created', 'stateChanged', 'expired']);
  assert.equal(m.getSession(id).status, 'expired');
  assert.equal(m.nextDeadline(), null, 'nothing left to wait for');
  m.dispose();
});

test('a deadline beyond 2^31-1 ms is clamped: the timer wakes at the clamp, sweeps nothing, and re-arms', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const mocked = globalThis.setTimeout;
  const delays = [];
  globalThis.setTimeout = (fn, ms, ...rest) => {
    delays.push(ms);
    return mocked(fn, ms, ...rest);
  };
  t.after(() => {
    globalThis.setTimeout = mocked;
  });
  let now = 1_700_000_000_000;
  const idle = 40 * 24 * 3600 * 1000; // 40 days: past what one Node timer can wait
  const m = new SessionManager({ clock: () => now, idleTimeoutMs: idle });
  const expired = [];
  m.on('expired', (e) => expired.push(e.sessionId));
  const id = m.createSession();
  assert.equal(m.nextDeadline(), now + idle);
  now += 2 ** 31 - 1;
  t.mock.timers.tick(2 ** 31 - 1); // the clamped timer fires long before the deadline
  assert.deepEqual(expired, [], 'nothing expired early');
  assert.equal(m.getSession(id).status, 'active');
  now += idle;
  t.mock.timers.tick(2 ** 31 - 1); // re-armed: fires again, now past the deadline
  assert.deepEqual(expired, [id]);
  assert.ok(delays.length >= 2, 'the timer was armed again after waking early');
  assert.ok(Math.max(...delays) <= 2 ** 31 - 1, `every delay within what Node can wait: ${delays}`);
  m.dispose();
});

test('dispose stops the timer and frees the core', () => {
  const m = new SessionManager({ idleTimeoutMs: 10 });
  m.createSession();
  m.dispose();
  assert.throws(() => m.stats(), { code: 'INVALID_ARGUMENT' });
});

test('using works with Symbol.dispose', () => {
  const m = new SessionManager();
  m[Symbol.dispose]();
  assert.throws(() => m.createSession(), { name: 'SessionError' });
});

test('a mass expiry ends in batches of sweepBatchSize, one turn of the event loop each, and says so', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let now = 1_700_000_000_000;
  const m = new SessionManager({ clock: () => now, idleTimeoutMs: 1_000, sweepBatchSize: 10, maxSessions: 100 });
  const expired = [];
  const paused = [];
  m.on('expired', (e) => expired.push(e.sessionId));
  m.on('sweepPaused', (e) => paused.push(e.ended));
  const ids = Array.from({ length: 25 }, () => m.createSession());
  now += 1_000;
  t.mock.timers.tick(1_000); // the manager's timer fires: the first batch, in this turn
  assert.equal(expired.length, 10, 'one batch in the timer turn');
  assert.deepEqual(paused, [10]);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(expired.length, 20, 'the next batch in the next turn');
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(expired.length, 25);
  assert.deepEqual(paused, [10, 10], 'the last batch left nothing due');
  assert.deepEqual(new Set(expired), new Set(ids));
  assert.equal(m.stats().live, 0);
  m.dispose();
});

test('a due session left by a paused sweep ends when it is used, and capacity makes room from due sessions', () => {
  let now = 1_700_000_000_000;
  const m = new SessionManager({ clock: () => now, idleTimeoutMs: 1_000, sweepBatchSize: 2, maxSessions: 5 });
  const ids = Array.from({ length: 5 }, () => m.createSession());
  now += 1_000;
  assert.equal(m.getSession(ids[4]).status, 'expired', 'used past its deadline: ended then');
  // The store is full of due sessions: a create makes room from them, not 503.
  const fresh = m.createSession();
  assert.equal(m.getSession(fresh).status, 'active');
  assert.deepEqual(m.cleanupExpiredSessions(), [], 'every due session has ended by now');
  assert.deepEqual(m.getAllSessions().map((s) => s.id), [fresh]);
  assert.equal(m.stats().live, 1);
  m.dispose();
});

test('a listener that throws on the timer path reaches onError; nothing escapes the timer and the manager goes on', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let now = 1_700_000_000_000;
  const errors = [];
  const m = new SessionManager({ clock: () => now, idleTimeoutMs: 1_000, onError: (e) => errors.push(e) });
  m.on('expired', () => {
    throw new Error('listener failed');
  });
  const id = m.createSession();
  const other = m.createSession({ idleTimeoutMs: 60_000 });
  now += 1_000;
  assert.doesNotThrow(() => t.mock.timers.tick(1_000), 'nothing escapes the timer');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].message, 'listener failed');
  assert.equal(m.getSession(id).status, 'expired', 'the sweep itself happened');
  assert.equal(m.getSession(other).status, 'active', 'the manager goes on');
  m.dispose();
});
