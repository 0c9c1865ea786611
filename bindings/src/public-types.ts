/**
 * The types both entries export (the Node entry, `index.ts`, and the web build,
 * `web.ts`): one list, so that a type added for one is there for the other.
 */
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
export type { CreateHandleOptions, HandleOwner, HandleUpdateOptions } from './handles';
export type { SessionErrorBase, SessionErrorConstructor, SessionErrorDetailsOf, SessionErrorOf } from './errors';
export type { ChangeCause, LoadReport, SessionChanges, SessionStore, StoreContext, StoreOpened } from './persistence';
export type {
  RequestStateBinding,
  RequestStateKey,
  RequestStateRefusalReason,
  SealedRequestStateCodec,
  SealedRequestStateCodecOptions,
} from './request-state';
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
