import { SessionCore, SessionManager } from 'mcp-session-core';
const T0 = 1_700_000_000_000, n = 1_000_000;
for (const kind of (process.argv[2] ?? 'core,manager,core-events').split(',')) {
  let now = T0;
  const m = kind === 'manager' ? new SessionManager({ clock: () => now, maxSessions: 2 * n, maxEndedRemembered: 100_000 }) : null;
  const core = m ? null : new SessionCore({ maxSessions: 2 * n, maxEndedRemembered: 100_000 });
  if (core && kind === 'core') core.setEventFilter([]);
  let t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const p = i % 100 === 0 ? { state: {}, idleTimeoutMs: 2 } : { state: {} };
    if (m) m.createSession(p); else { core.createId(p, now); if (core.pendingEvents() > 0) core.drainEvents(); }
  }
  const create = Number(process.hrtime.bigint() - t) / n;
  now += 3;
  t = process.hrtime.bigint();
  const k = m ? m.cleanupExpiredSessions().length : core.sweepIds(now).length;
  if (core && core.pendingEvents() > 0) core.drainEvents();
  const sweep = Number(process.hrtime.bigint() - t) / 1e6;
  console.log(kind, 'create ns', create.toFixed(0), 'sweep ms', sweep.toFixed(2), k);
  m ? m.dispose() : core.free();
}
