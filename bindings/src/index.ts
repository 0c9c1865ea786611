/**
 * mcp-session-core: session management for MCP servers.
 *
 * `SessionManager` is what servers use; `SessionCore` is the raw WebAssembly store
 * underneath (explicit `now` on every call), for hosts that run their own clock.
 */
import './platform';

export { SessionManager } from './manager';
export type {
  CreateSessionConfig,
  InitializeParams,
  PrincipalOptions,
  RecordFeed,
  SessionEvents,
  SessionInfo,
  SessionManagerOptions,
  SessionStatus,
  UpdateOptions,
} from './manager';
export { SessionError, isNotFound } from './errors';
export { HandleStore } from './handles';
export type { CreateHandleOptions, HandleOwner, HandleUpdateOptions } from './handles';
export type { SessionErrorBase, SessionErrorConstructor, SessionErrorDetailsOf, SessionErrorOf } from './errors';
export { FileSessionStore } from './file-store';
export type { FileSessionStoreOptions, FileStoreIo, FileStoreStatus } from './file-store';
export type {
  ChangeCause,
  LoadReport,
  SessionChanges,
  SessionStore,
  StoreContext,
  StoreOpened,
} from './persistence';
export { SessionCore, admitInitialize } from './core';
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
export type {
  RequestStateBinding,
  RequestStateKey,
  RequestStateRefusalReason,
  SealedRequestStateCodec,
  SealedRequestStateCodecOptions,
} from './request-state';
export { wasmMemoryBytes } from '../generated/mcp_session_core';
export type {
  Admission,
  Capabilities,
  CapacityPolicy,
  ClientAnswer,
  CoreConfig,
  CoreEvent,
  CreateParams,
  EndReason,
  ExpiryReason,
  EndedView,
  EventKind,
  Expiry,
  ForbiddenReason,
  HandleView,
  Handshake,
  InvalidIdReason,
  Json,
  JsonObject,
  Lookup,
  Phase,
  RequestHead,
  RequestKind,
  ResolvedConfig,
  RestoreReport,
  SessionErrorCode,
  SessionErrorDetails,
  SessionView,
  Stats,
} from '../generated/mcp_session_core';
