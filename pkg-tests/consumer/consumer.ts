// A TypeScript server's use of the package, compiled with --strict against the
// published types. The @ts-expect-error lines prove the types are real, not `any`.
import {
  SessionManager,
  SessionError,
  type SessionInfo,
  type CoreEvent,
  type Stats,
} from 'mcp-session-core';

const sessions = new SessionManager({ idleTimeoutMs: 30_000, capacityPolicy: 'evict-idlest' });
const id: string = sessions.createSession({ clientId: 'ts', state: { n: 1 } });
const info: SessionInfo | null = sessions.getSession(id);
if (info !== null) {
  const status: 'initializing' | 'active' | 'disconnected' | 'expired' | 'closed' = info.status;
  const when: Date = info.lastActivity;
  void status;
  void when;
  // @ts-expect-error status is a union of strings, not a number
  const wrong: number = info.status;
  void wrong;
}
const version: number = sessions.updateSessionState(id, { n: 2 }, { expectedVersion: 0 });
sessions.on('expired', (event) => {
  const reason: 'init' | 'idle' | 'lifetime' | 'requested' | 'evicted' = event.reason;
  void reason;
});
// @ts-expect-error there is no such event
sessions.on('exploded', () => {});
// @ts-expect-error the capacity policy is a closed set
new SessionManager({ capacityPolicy: 'drop-everything' });
const stats: Stats = sessions.stats();
try {
  sessions.updateSessionState(id, { n: 3 }, { expectedVersion: version - 1 });
} catch (error) {
  if (error instanceof SessionError) {
    const status: number = error.httpStatus;
    const code: string = error.code;
    void status;
    void code;
  }
}
const events: CoreEvent[] = [];
void events;
void stats;
sessions.dispose();
