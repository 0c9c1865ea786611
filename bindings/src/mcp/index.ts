/**
 * mcp-session-core/mcp: the session layer of Streamable HTTP servers built on the
 * official `@modelcontextprotocol/sdk` (a peer dependency of this subpath only).
 */
import '../platform';

export { McpSessionHandler } from './handler';
export type { McpSessionHandlerOptions, SessionSummary } from './handler';
export { OperatorEventFeed } from './operator';
export type {
  OperatorEvent,
  OperatorEventType,
  OperatorPhase,
  OperatorRecord,
  OperatorRecordKind,
  OperatorSessions,
} from './operator';
export { jsonRpcErrorHandler } from './express-errors';
export { isLoopbackAddress } from './request-guard';
export type { RequestGuardOptions } from './request-guard';
export { SessionEventStore } from './event-store';
export type { SessionEventStoreOptions } from './event-store';
export { FileSessionStore } from '../file-store';
export type { FileSessionStoreOptions, FileStoreIo, FileStoreStatus } from '../file-store';
export type { LoadReport, SessionStore } from '../persistence';
