// Compare-and-set on the state version, and the MCP flow through the gate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionManager } from 'mcp-session-core';
import { manualClock } from './clock.mjs';

test('compare-and-set: exactly one of two writers at the same version wins', () => {
  const m = new SessionManager({ clock: manualClock() });
  const id = m.createSession({ state: { counter: 0 } });
  const { version } = m.getSession(id);
  const results = [1, 2].map((n) => {
    try {
      return m.updateSessionState(id, { counter: n }, { expectedVersion: version });
    } catch (error) {
      return error;
    }
  });
  assert.equal(results[0], 1);
  assert.equal(results[1].code, 'VERSION_CONFLICT');
  assert.equal(results[1].actualVersion, 1);
  assert.deepEqual(m.getSession(id).state, { counter: 1 });
  m.dispose();
});

test('a read-modify-write loop with retries loses no update', () => {
  const m = new SessionManager({ clock: manualClock() });
  const id = m.createSession({ state: { n: 0 } });
  let conflicts = 0;
  // Two interleaved "clients" that read, then write with the version they read.
  const reads = [m.getSession(id), m.getSession(id)];
  for (let round = 0; round < 100; round++) {
    for (let c = 0; c < 2; c++) {
      for (;;) {
        const seen = reads[c];
        try {
          m.updateSessionState(id, { n: seen.state.n + 1 }, { expectedVersion: seen.version });
          reads[c] = m.getSession(id);
          break;
        } catch (error) {
          assert.equal(error.code, 'VERSION_CONFLICT');
          conflicts++;
          reads[c] = m.getSession(id);
        }
      }
    }
  }
  assert.equal(m.getSession(id).state.n, 200);
  assert.ok(conflicts > 0);
  m.dispose();
});

test('the MCP flow: initialize, initialized, gated requests, DELETE', () => {
  const clock = manualClock();
  const m = new SessionManager({ clock, idleTimeoutMs: 1_000 });
  assert.deepEqual(m.beginRequest({ kind: 'initialize' }), { outcome: 'initialize' });
  const s = m.initialize({ protocolVersion: '2025-06-18', principal: 'alice', clientInfo: { name: 'cli', version: '2' } });
  assert.equal(s.status, 'initializing');
  assert.equal(s.protocolVersion, '2025-06-18');
  m.beginRequest({ sessionId: s.id, principal: 'alice', kind: 'initialized', protocolVersion: '2025-06-18' });
  m.endRequest(s.id);
  assert.equal(m.getSession(s.id).status, 'active');
  m.beginRequest({ sessionId: s.id, principal: 'alice', kind: 'other' });
  clock.advance(10_000);
  assert.equal(m.cleanupExpiredSessions().length, 0, 'a request in flight keeps the session');
  m.endRequest(s.id);
  assert.equal(m.nextDeadline(), clock() + 1_000);
  assert.equal(m.closeSession(s.id), true);
  assert.equal(m.stats().live, 0);
  m.dispose();
});

test('snapshot and restore carry sessions to a new manager', () => {
  const clock = manualClock();
  const a = new SessionManager({ clock });
  const id = a.createSession({ principal: 'p', state: { notes: ['x'] } });
  const text = a.snapshot();
  const b = new SessionManager({ clock });
  assert.deepEqual(b.restore(text), { restored: 1, skippedExpired: 0, refusedExisting: 0, refusedCapacity: 0, endedRestored: 0, redeemedRestored: 0 });
  assert.deepEqual(b.getSession(id).state, { notes: ['x'] });
  assert.equal(b.snapshot(), text);
  a.dispose();
  b.dispose();
});

test('sweepIds names the same sessions as sweep, in deadline order', async () => {
  const { SessionCore } = await import('mcp-session-core');
  const start = 1_700_000_000_000;
  const [a, b] = [new SessionCore({ idleTimeoutMs: 1_000 }), new SessionCore({ idleTimeoutMs: 1_000 })];
  const stores = [a, b].map((core) => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(core.createId({ idleTimeoutMs: 1_000 + 100 * (4 - i) }, start));
    return ids;
  });
  assert.deepEqual(a.sweepIds(start + 999), []);
  const expiries = a.sweep(start + 1_250);
  const ids = b.sweepIds(start + 1_250);
  assert.deepEqual(expiries.map((e) => e.reason), ['idle', 'idle', 'idle']);
  assert.deepEqual(expiries.map((e) => e.sessionId), [stores[0][4], stores[0][3], stores[0][2]]);
  assert.deepEqual(ids, [stores[1][4], stores[1][3], stores[1][2]]);
  assert.deepEqual(b.sweepIds(start + 10_000), [stores[1][1], stores[1][0]]);
});

test('cleanupExpiredSessions returns the IDs it ended, and they read as expired after', () => {
  const clock = manualClock();
  const m = new SessionManager({ clock, idleTimeoutMs: 1_000 });
  const old = [m.createSession(), m.createSession()];
  clock.advance(500);
  const young = m.createSession();
  clock.advance(600);
  assert.deepEqual(m.cleanupExpiredSessions().sort(), [...old].sort());
  assert.deepEqual(m.cleanupExpiredSessions(), []);
  assert.equal(m.getSession(old[0]).status, 'expired');
  assert.equal(m.getSession(old[0]).endReason, 'idle');
  assert.equal(m.getSession(young).status, 'active');
  m.dispose();
});

test('numbers in state come back exactly, through updates and a snapshot/restore', () => {
  const clock = manualClock();
  const m = new SessionManager({ clock });
  const numbers = { big: 3.3333333333333327e49, tenth: 0.1, sum: 0.1 + 0.2, tiny: 5e-324, max: Number.MAX_VALUE, neg: -123.456e-7 };
  const id = m.createSession({ state: numbers });
  m.updateSessionState(id, { more: 1 / 3 });
  const copy = new SessionManager({ clock });
  copy.restore(m.snapshot());
  assert.deepEqual(copy.getSession(id).state, { ...numbers, more: 1 / 3 });
  assert.equal(copy.snapshot(), m.snapshot());
});

test('the seed create shape and the general one give the same session, and bad seed values get typed errors', () => {
  const m = new SessionManager({ clock: manualClock() });
  const seedShape = m.getSession(m.createSession({ clientId: 'c', capabilities: ['tools', 'resources'], timeout: 500, principal: 'p' }));
  const general = m.getSession(m.createSession({ clientId: 'c', capabilities: ['tools', 'resources'], timeout: 500, principal: 'p', state: {} }));
  for (const s of [seedShape, general]) {
    assert.equal(s.clientId, 'c');
    assert.deepEqual(s.capabilities, ['tools', 'resources']);
    assert.equal(s.principal, 'p');
    assert.equal(s.expiresAt.getTime() - s.lastActivity.getTime(), 500);
  }
  assert.deepEqual(m.getSession(m.createSession({ capabilities: [] })).capabilities, []);
  assert.deepEqual(m.getSession(m.createSession({ capabilities: ['a\u0000b'] })).capabilities, ['a\u0000b']);
  const before = m.snapshot();
  for (const bad of [
    { capabilities: ['tools', 1] },
    { clientId: 7 },
    { timeout: 1.5 },
    { timeout: 0 },
    { timeout: 10, idleTimeoutMs: 20 },
  ]) {
    assert.throws(() => m.createSession(bad), { code: 'INVALID_ARGUMENT' }, JSON.stringify(bad));
  }
  assert.equal(m.snapshot(), before, 'refused creates change nothing');
  m.dispose();
});

test('distinct client IDs past the core\'s registered strings still create with the right values', () => {
  const m = new SessionManager({ clock: manualClock(), maxSessions: 5_000 });
  const ids = Array.from({ length: 1_500 }, (_, i) => m.createSession({ clientId: `client-${i}`, capabilities: [`cap-${i % 3}`] }));
  for (const i of [0, 1_023, 1_024, 1_499]) {
    const s = m.getSession(ids[i]);
    assert.equal(s.clientId, `client-${i}`);
    assert.deepEqual(s.capabilities, [`cap-${i % 3}`]);
  }
  m.dispose();
});
