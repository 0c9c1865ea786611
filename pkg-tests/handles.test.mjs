// State handles (MCP 2026-07-28) through SessionManager.handles: principal-bound,
// compare-and-set state, idle and absolute lifetimes on the manager's own timer,
// caps of their own, and clear errors that never read an expired handle as unknown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionManager, SessionError } from 'mcp-session-core';
import { manualClock } from './clock.mjs';

const code = (fn) => {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof SessionError);
    return error;
  }
  assert.fail('expected a SessionError');
};

test('create, read, update with compare-and-set, list and destroy', () => {
  const m = new SessionManager({ clock: manualClock() });
  const h = m.handles.create({ principal: 'alice', state: { items: [] } });
  assert.match(h.handleId, /^h_[0-9a-f-]{32,}$/);
  assert.equal(h.principal, 'alice');
  assert.equal(m.handles.idleTimeoutMs, 30 * 60_000);
  assert.equal(m.handles.lifetimeMs, 24 * 60 * 60_000);
  assert.equal(m.handles.update(h.handleId, { items: ['apple'] }, { principal: 'alice', expectedVersion: 0 }), 1);
  const conflict = code(() => m.handles.update(h.handleId, { x: 1 }, { principal: 'alice', expectedVersion: 0 }));
  assert.equal(conflict.code, 'VERSION_CONFLICT');
  assert.deepEqual(m.handles.get(h.handleId, { principal: 'alice' }).state, { items: ['apple'] });
  assert.equal(m.handles.replace(h.handleId, { items: [] }, { principal: 'alice' }), 2);
  assert.deepEqual(
    m.handles.list({ principal: 'alice' }).map((v) => v.handleId),
    [h.handleId],
  );
  assert.deepEqual(m.handles.list({ principal: 'bob' }), []);
  m.handles.destroy(h.handleId, { principal: 'alice' });
  const destroyed = code(() => m.handles.get(h.handleId, { principal: 'alice' }));
  assert.equal(destroyed.code, 'HANDLE_DESTROYED');
  assert.equal(destroyed.httpStatus, 404);
  m.dispose();
});

test("another user's handle answers exactly as an unknown one", () => {
  const m = new SessionManager({ clock: manualClock() });
  const { handleId } = m.handles.create({ principal: 'alice' });
  const theirs = code(() => m.handles.get(handleId, { principal: 'bob' }));
  const unknown = code(() => m.handles.get('h_0123456789abcdef0123456789abcdef', { principal: 'bob' }));
  assert.equal(theirs.code, 'HANDLE_NOT_FOUND');
  assert.equal(theirs.code, unknown.code);
  assert.equal(theirs.httpStatus, unknown.httpStatus);
  assert.equal(code(() => m.handles.get(handleId)).code, 'HANDLE_NOT_FOUND');
  m.dispose();
});

test('the timer ends an idle handle; it then says it has expired', () => {
  const clock = manualClock();
  const m = new SessionManager({ clock, handleIdleTimeoutMs: 1_000, handleLifetimeMs: 60_000 });
  const expired = [];
  m.on('handleExpired', (event) => expired.push(event));
  const { handleId } = m.handles.create();
  clock.advance(1_500);
  assert.deepEqual(m.cleanupExpiredSessions(), [], 'sweeps report sessions only');
  assert.equal(expired.length, 1);
  assert.equal(expired[0].handleId, handleId);
  assert.equal(expired[0].reason, 'idle');
  const error = code(() => m.handles.get(handleId));
  assert.equal(error.code, 'HANDLE_EXPIRED');
  assert.equal(error.reason, 'idle');
  assert.match(error.message, /has expired/);
  m.dispose();
});

test('handle caps are their own, with a retry-after; a handle is not a session', () => {
  const m = new SessionManager({ clock: manualClock(), maxHandlesPerPrincipal: 1, maxSessions: 1 });
  const { handleId } = m.handles.create({ principal: 'alice' });
  const full = code(() => m.handles.create({ principal: 'alice' }));
  assert.equal(full.code, 'HANDLE_LIMIT_EXCEEDED');
  assert.equal(full.httpStatus, 429);
  assert.ok(full.retryAfterMs > 0);
  m.createSession();
  assert.equal(m.getSession(handleId), null);
  assert.equal(m.closeSession(handleId), false);
  assert.equal(m.getAllSessions().length, 1);
  const stats = m.stats();
  assert.equal(stats.live, 1);
  assert.equal(stats.handlesLive, 1);
  m.dispose();
});

test('handles survive a snapshot and restore', () => {
  const clock = manualClock();
  const a = new SessionManager({ clock });
  const { handleId } = a.handles.create({ principal: 'alice', state: { n: 1 } });
  const text = a.snapshot();
  a.dispose();
  const b = new SessionManager({ clock });
  b.restore(text);
  assert.deepEqual(b.handles.get(handleId, { principal: 'alice' }).state, { n: 1 });
  b.dispose();
});

test('handles survive a crash and restart through the file store', async () => {
  const { FileSessionStore } = await import('mcp-session-core');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const path = mkdtempSync(join(tmpdir(), 'mcp-handles-'));
  const clock = manualClock();
  const open = () => {
    const manager = new SessionManager({ clock });
    new FileSessionStore({ dir: path }).attach(manager);
    return manager;
  };
  const a = open();
  const { handleId } = a.handles.create({ principal: 'alice', state: { basket: [] } });
  a.handles.update(handleId, { basket: ['pear'] }, { principal: 'alice' });
  const gone = a.handles.create({ principal: 'alice' }).handleId;
  a.handles.destroy(gone, { principal: 'alice' });
  // A crash: the manager is dropped without a flush or a close.
  const b = open();
  const h = b.handles.get(handleId, { principal: 'alice' });
  assert.deepEqual([h.state, h.version], [{ basket: ['pear'] }, 1]);
  assert.equal(code(() => b.handles.get(gone, { principal: 'alice' })).code, 'HANDLE_DESTROYED');
  assert.equal(code(() => b.handles.get(handleId, { principal: 'bob' })).code, 'HANDLE_NOT_FOUND');
  b.dispose();
});

test('hostile inputs to the handle calls are typed errors that change nothing', () => {
  const m = new SessionManager({ clock: manualClock() });
  const { handleId } = m.handles.create({ principal: 'a' });
  const cyclic = {};
  cyclic.self = cyclic;
  let deep = {};
  for (let i = 0; i < 10_000; i++) deep = { deep };
  const cases = [
    ['INVALID_STATE', () => m.handles.create({ state: 5 })],
    ['INVALID_STATE', () => m.handles.create({ state: [1] })],
    ['INVALID_STATE', () => m.handles.create({ state: { a: 1n } })],
    ['INVALID_STATE', () => m.handles.create({ state: cyclic })],
    ['INVALID_STATE', () => m.handles.create({ state: deep })],
    ['INVALID_ARGUMENT', () => m.handles.create({ principal: 5 })],
    ['INVALID_ARGUMENT', () => m.handles.create({ principal: '' })],
    ['INVALID_ARGUMENT', () => m.handles.get(5, { principal: 'a' })],
    ['INVALID_ARGUMENT', () => m.handles.get('h_' + 'x'.repeat(1e6), { principal: 'a' })],
    ['INVALID_ARGUMENT', () => m.handles.get('h_\n', { principal: 'a' })],
    ['INVALID_STATE', () => m.handles.update(handleId, undefined, { principal: 'a' })],
    ['INVALID_STATE', () => m.handles.update(handleId, () => 1, { principal: 'a' })],
    ['INVALID_ARGUMENT', () => m.handles.update(handleId, {}, { principal: 'a', expectedVersion: 'x' })],
    ['INVALID_ARGUMENT', () => m.handles.update(handleId, {}, { principal: 'a', expectedVersion: NaN })],
    ['INVALID_ARGUMENT', () => m.handles.update(handleId, {}, { principal: 'a', expectedVersion: -1 })],
    ['INVALID_STATE', () => m.handles.replace(handleId, null, { principal: 'a' })],
    ['INVALID_ARGUMENT', () => m.handles.list({ principal: {} })],
    ['HANDLE_NOT_FOUND', () => m.handles.get(handleId, null)],
  ];
  const before = m.snapshot();
  for (const [expected, call] of cases) assert.equal(code(call).code, expected, call.toString());
  assert.equal(m.snapshot(), before);
  assert.equal(m.handles.get(handleId, { principal: 'a' }).version, 0);
  m.dispose();
});
