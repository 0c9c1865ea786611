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

test('a deadline beyond 2^31-1 ms is clamped and does not fire early', () => {
  const m = new SessionManager({ idleTimeoutMs: 40 * 24 * 3600 * 1000 });
  const id = m.createSession();
  assert.ok(m.nextDeadline() > Date.now() + 2 ** 31);
  assert.equal(m.getSession(id).status, 'active');
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
