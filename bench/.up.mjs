import { SessionCore, SessionManager } from 'mcp-session-core';
const T0 = 1_700_000_000_000, n = Number(process.argv[2] ?? 100000);
let now = T0;
const m = new SessionManager({ clock: () => now, maxSessions: 2 * n, maxEndedRemembered: 100_000 });
const ids = [];
for (let i = 0; i < n; i++) ids.push(m.createSession({ state: {}, ...(i % 100 === 0 ? { idleTimeoutMs: 2 } : {}) }));
for (const round of [1, 2, 3]) {
  let t = process.hrtime.bigint();
  for (let i = 0; i < 20000; i++) m.updateSessionState(ids[(i * 7919) % n | 1], { n: i });
  console.log('manager update ns', Number(process.hrtime.bigint() - t) / 20000);
  t = process.hrtime.bigint();
  for (let i = 0; i < 20000; i++) m.updateSessionState(ids[(i * 7919) % n | 1], { n: i });
  console.log('core update ns', Number(process.hrtime.bigint() - t) / 20000);
}
