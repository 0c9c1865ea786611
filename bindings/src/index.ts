/**
 * mcp-session-core: session management for MCP servers.
 *
 * `SessionManager` is what servers use; `SessionCore` is the raw WebAssembly store
 * underneath (explicit `now` on every call), for hosts that run their own clock.
 */
import './platform';

export { SessionManager } from './manager';
export { SessionError, isNotFound } from './errors';
export { HandleStore } from './handles';
export { FileSessionStore } from './file-store';
export type { FileSessionStoreOptions, FileStoreIo, FileStoreStatus } from './file-store';
export { SessionCore, admitInitialize } from './core';
export type * from './public-types';
export { createSealedRequestStateCodec } from './request-state';
export { RedisShared } from './redis/shared';
export type { RedisEval, RedisSubscriber, RedisSharedOptions } from './redis/shared';
export { RedisHandleStore } from './redis/handles';
export { RedisSessions } from './redis/sessions';
export { RedisEventStore } from './redis/event-store';
export type { RedisEventStoreOptions, ReplaySink } from './redis/event-store';
export { RedisServerEventBus } from './redis/event-bus';
export type {
  RedisPublisher,
  RedisServerEvent,
  RedisServerEventBusOptions,
  RedisSubscriberConnection,
} from './redis/event-bus';
export { wasmMemoryBytes } from '../generated/mcp_session_core';
