// The seed API's five scenarios, through the installed package, on a manual clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionManager } from 'mcp-session-core';
import { manualClock } from './clock.mjs';

test('a new session is active', async () => {
  const clock = manualClock();
  const sessions = new SessionManager({ clock });
  const id = await sessions.createSession({ clientId: 'client-1', capabilities: { tools: {} } });
  const session = await sessions.getSession(id);
  assert.equal(session.status, 'active');
  assert.equal(session.clientId, 'client-1');
  assert.deepEqual(session.capabilities, { tools: {} });
  assert.ok(session.createdAt instanceof Date);
  sessions.dispose();
});

test('state persists and merges across updates', async () => {
  const sessions = new SessionManager({ clock: manualClock() });
  const id = sessions.createSession();
  await sessions.updateSessionState(id, { user: { name: 'ada' }, step: 1 });
  await sessions.updateSessionState(id, { user: { lang: 'en' }, step: 2 });
  const { state, version } = sessions.getSession(id);
  assert.deepEqual(state, { user: { name: 'ada', lang: 'en' }, step: 2 });
  assert.equal(version, 2);
  sessions.dispose();
});

test('many concurrent creations give unique IDs', async () => {
  const sessions = new SessionManager({ maxSessions: 2_000 });
  const ids = await Promise.all(
    Array.from({ length: 1_000 }, async () => sessions.createSession({ clientId: 'c' })),
  );
  assert.equal(new Set(ids).size, 1_000);
  for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
  sessions.dispose();
});

test('after a disconnect, resuming keeps the state', async () => {
  const clock = manualClock();
  const sessions = new SessionManager({ clock });
  const id = sessions.createSession({ principal: 'u1', state: { cart: [1, 2] } });
  sessions.disconnectSession(id);
  assert.equal(sessions.getSession(id).status, 'disconnected');
  clock.advance(60_000);
  const resumed = sessions.resumeSession(id, { principal: 'u1' });
  assert.equal(resumed.status, 'active');
  assert.deepEqual(resumed.state, { cart: [1, 2] });
  sessions.dispose();
});

test('a 1 s session is expired after 1.5 s and renewal gives a fresh session', async () => {
  const clock = manualClock();
  const sessions = new SessionManager({ clock });
  const id = sessions.createSession({ idleTimeoutMs: 1_000, state: { step: 3 } });
  clock.advance(1_500);
  const expired = sessions.getSession(id);
  assert.equal(expired.status, 'expired');
  assert.equal(expired.endReason, 'idle');
  const newSessionId = sessions.renewSession(id);
  assert.notEqual(newSessionId, id);
  const renewed = sessions.getSession(newSessionId);
  assert.equal(renewed.status, 'active');
  assert.deepEqual(renewed.state, { step: 3 });
  sessions.dispose();
});
