// A TypeScript server's use of the package, compiled with --strict against the
// published types. The @ts-expect-error lines prove the types are real, not `any`.
import {
  SessionManager,
  SessionError,
  type ClientAnswer,
  type ExpiryReason,
  type SessionErrorCode,
  type SessionErrorOf,
  type SessionInfo,
  type CoreEvent,
  type Stats,
  RedisEventStore,
  RedisServerEventBus,
  type RedisEval,
  type RedisPublisher,
  type RedisServerEvent,
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
  const reason: ExpiryReason = event.reason;
  // @ts-expect-error an expired event never says closed
  const closed: 'closed' = event.reason;
  void closed;
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
    const code: SessionErrorCode = error.code;
    const answer: ClientAnswer = error.clientAnswer;
    const retryAfter: number | null = answer.retryAfterSecs;
    void status;
    void code;
    void retryAfter;
    // @ts-expect-error only some codes carry versions: narrow by code first
    void error.actualVersion;
  }
  // Narrowing by code gives that code's details, typed.
  if (error instanceof SessionError && error.code === 'VERSION_CONFLICT') {
    const versions: [number, number, string] = [error.expectedVersion, error.actualVersion, error.sessionId];
    void versions;
  }
  if (error instanceof SessionError && error.code === 'CAPACITY_EXCEEDED') {
    const wait: number = error.retryAfterMs;
    // @ts-expect-error CAPACITY_EXCEEDED is about no one session
    void error.sessionId;
    void wait;
  }
}
const tooLarge: SessionErrorOf<'PAYLOAD_TOO_LARGE'> = SessionError.payloadTooLarge(1024);
const limit: number = tooLarge.limit;
void limit;
// @ts-expect-error codes are a closed set
const bogus: SessionErrorCode = 'NOT_A_CODE';
void bogus;
const events: CoreEvent[] = [];
void events;
void stats;
sessions.dispose();

// Cross-instance push: a node-redis client fits these shapes (checked when the
// package is built); here, that the published types are precise.
declare const evalClient: RedisEval;
declare const pubSubClient: RedisPublisher;
const eventStore = new RedisEventStore({ redis: evalClient, sessionId: id, maxEvents: 100, ttlMs: 60_000 });
const eventId: Promise<string> = eventStore.storeEvent('_GET_stream', { jsonrpc: '2.0', method: 'notifications/message' });
const streamOf: Promise<string | undefined> = eventStore.getStreamIdForEventId('x');
void eventId;
void streamOf;
// @ts-expect-error one store per session: the session is required
new RedisEventStore({ redis: evalClient });
const bus = new RedisServerEventBus({ redis: pubSubClient, prefix: 'app:', onError: (error: unknown) => void error });
const unsubscribe: () => void = bus.subscribe((event: RedisServerEvent) => {
  if (event.kind === 'resource_updated') {
    const uri: string = event.uri;
    void uri;
  }
});
bus.publish({ kind: 'resource_updated', uri: 'file:///notes.txt' });
// @ts-expect-error resource_updated carries its URI
bus.publish({ kind: 'resource_updated' });
// @ts-expect-error the event kinds are a closed set
bus.publish({ kind: 'everything_changed' });
unsubscribe();
const closed: Promise<void> = bus.close();
void closed;
