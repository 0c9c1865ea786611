import { SessionManager } from 'mcp-session-core';
const T0 = 1_700_000_000_000, n = Number(process.argv[2] ?? 1000000);
let now = T0;
const m = new SessionManager({ clock: () => now, maxSessions: 2 * n, maxEndedRemembered: 100_000 });
const ids = new Array(n);
let t = process.hrtime.bigint();
for (let i = 0; i < n; i++) ids[i] = m.createSession({ state: {}, ...(i % 100 === 0 ? { idleTimeoutMs: 2 } : {}) });
console.log('manager create ns', Number(process.hrtime.bigint() - t) / n);
