// A live demo on the real clock with short timeouts: sessions are created, used,
// disconnected, resumed, and expire, and every lifecycle event is printed as the
// manager's one timer sweeps them.
import { setTimeout as sleep } from 'node:timers/promises';
import { SessionManager } from 'mcp-session-core';

const started = Date.now();
const t = () => `+${String(Date.now() - started).padStart(5)} ms`;
const sessions = new SessionManager({ idleTimeoutMs: 1_500, initTimeoutMs: 1_000 });
const short = (id) => `${id.slice(0, 8)}…`;

for (const type of ['created', 'initialized', 'stateChanged', 'disconnected', 'resumed', 'closed', 'expired', 'renewed']) {
  sessions.on(type, (e) => {
    const extra = e.reason ? ` (${e.reason})` : e.version ? ` (v${e.version})` : '';
    console.log(`${t()}  event  ${type.padEnd(12)} ${short(e.sessionId)}${extra}`);
  });
}
const allGone = new Promise((resolve) =>
  sessions.on('expired', () => sessions.stats().live === 0 && resolve()),
);

console.log(`${t()}  three sessions: alice's, bob's, and a client that never finishes initialize`);
const alice = sessions.createSession({ clientId: 'alice-laptop', principal: 'alice', state: { notes: [] } });
const bob = sessions.createSession({ clientId: 'bob-phone', principal: 'bob' });
const half = sessions.initialize({ protocolVersion: '2025-06-18', clientInfo: { name: 'flaky', version: '0.1' } });

await sleep(400);
console.log(`${t()}  alice writes notes (merge patches, compare-and-set)`);
const v1 = sessions.updateSessionState(alice, { notes: ['buy milk'] }, { expectedVersion: 0 });
try {
  sessions.updateSessionState(alice, { notes: ['stale write'] }, { expectedVersion: 0 });
} catch (error) {
  console.log(`${t()}  stale write refused: ${error.code} (HTTP ${error.httpStatus}), expected v${error.expectedVersion}, actual v${error.actualVersion}`);
}
sessions.updateSessionState(alice, { lastSeen: 'kitchen' }, { expectedVersion: v1 });

console.log(`${t()}  bob's transport drops: disconnected, state kept`);
sessions.disconnectSession(bob);

await sleep(800);
console.log(`${t()}  bob reconnects and resumes; mallory cannot`);
try {
  sessions.resumeSession(bob, { principal: 'mallory' });
} catch (error) {
  console.log(`${t()}  mallory gets ${error.httpStatus} (${error.code})`);
}
sessions.resumeSession(bob, { principal: 'bob' });

console.log(`${t()}  live sessions:`);
for (const s of sessions.getAllSessions()) {
  console.log(`           ${short(s.id)} ${s.status.padEnd(12)} principal=${s.principal} v${s.version} expires ${s.expiresAt.toISOString()}`);
}
console.log(`${t()}  now everyone goes quiet; the timer ends each session at its deadline`);

const guard = setTimeout(() => {
  console.error('demo: sessions did not expire in time');
  process.exit(1);
}, 10_000);
await allGone;
clearTimeout(guard);
const gone = sessions.getSession(alice);
console.log(`${t()}  alice's session is ${gone.status} (${gone.endReason}); renewing keeps her notes:`);
const renewed = sessions.renewSession(alice, { principal: 'alice' });
console.log(`${t()}  ${short(renewed)} state=${JSON.stringify(sessions.getSession(renewed).state)}`);
console.log(`${t()}  ${short(half.id)} (never initialized) is ${sessions.getSession(half.id).endReason === 'init' ? 'expired by the init timeout' : 'unexpected'}`);
console.log(`${t()}  stats: ${JSON.stringify(sessions.stats())}`);
sessions.dispose();
