import {
  forbiddenError,
  limitExceededError,
  invalidArgumentError,
  parseError,
  payloadTooLargeError,
  sessionNotFoundError,
  storageFailedError,
  type ClientAnswer,
  type ForbiddenReason,
  type SessionErrorCode,
  type SessionErrorDetails,
  type SessionErrorFields,
} from '../generated/mcp_session_core';

/** The details the core sends with an error of code `C` (its `code` included). */
export type SessionErrorDetailsOf<C extends SessionErrorCode> = Extract<SessionErrorDetails, { code: C }>;

/** What every `SessionError` carries, whatever its code. */
export interface SessionErrorBase extends Error {
  readonly name: 'SessionError';
  /** Stable code, e.g. `SESSION_NOT_FOUND`. */
  readonly code: SessionErrorCode;
  /** The HTTP status a Streamable HTTP server answers with. */
  readonly httpStatus: number;
  /** The JSON-RPC error code for the response body. */
  readonly jsonRpcCode: number;
  /**
   * What a client is told: the status and JSON-RPC code, a message that reveals
   * nothing a client may not know (another user's session reads as not found, a
   * storage failure names no file) and `Retry-After` in whole seconds. Servers
   * answer with this; `message` and the details are for logs.
   */
  readonly clientAnswer: ClientAnswer;
}

/** A `SessionError` of code `C`, with that code's details. */
export type SessionErrorOf<C extends SessionErrorCode> = SessionErrorBase & Readonly<SessionErrorDetailsOf<C>>;

/**
 * Any failure of the session core: a union discriminated by `code`, so that
 * `if (e instanceof SessionError && e.code === 'VERSION_CONFLICT') e.actualVersion`
 * type-checks.
 */
export type SessionError = { [C in SessionErrorCode]: SessionErrorOf<C> }[SessionErrorCode];

/**
 * The `SessionError` class, as its users see it (see `SessionError` below). Its
 * instances are made by the core, whichever side failed: the static methods are
 * the failures of this package's own checks, I/O and transport.
 */
export interface SessionErrorConstructor {
  /** An error with the fields the core made for it (what the static methods do). */
  new <F extends SessionErrorFields>(fields: F): SessionErrorOf<F['code']>;
  readonly prototype: SessionError;
  /** True for the errors the core throws as well as for instances of this class. */
  [Symbol.hasInstance](value: unknown): value is SessionError;
  /** A bad argument caught in the TypeScript layer before it reaches the core. */
  invalidArgument(argument: string, reason: string): SessionErrorOf<'INVALID_ARGUMENT'>;
  /** A session gone before the host could use it (ended meanwhile, or forgotten). */
  sessionNotFound(sessionId: string): SessionErrorOf<'SESSION_NOT_FOUND'>;
  /**
   * The durable store could not write a change (a full disk, an unwritable data
   * directory): `reason` is the system's code (`ENOSPC`), `detail` its message,
   * and `cause` the error itself.
   */
  storageFailed(cause: unknown): SessionErrorOf<'STORAGE_FAILED'>;
  /** A request body over `limit` bytes. */
  payloadTooLarge(limit: number): SessionErrorOf<'PAYLOAD_TOO_LARGE'>;
  /** A new session or state handle refused at a cap a shared store counts
   * fleet-wide: `sessions` (`maxSessions`), `principal` (`maxSessionsPerPrincipal`)
   * or `handles` (either handle cap). */
  limitExceeded(
    which: 'sessions' | 'principal' | 'handles',
    limit: number,
    retryAfterMs: number,
  ): SessionErrorOf<'CAPACITY_EXCEEDED' | 'PRINCIPAL_LIMIT_EXCEEDED' | 'HANDLE_LIMIT_EXCEEDED'>;
  /** A request body that is not JSON. */
  parseError(): SessionErrorOf<'PARSE_ERROR'>;
  /** A request refused by the `Host`/`Origin` checks, or an operator view by its auth. */
  forbidden(reason: ForbiddenReason): SessionErrorOf<'FORBIDDEN'>;
}

class CoreSessionError extends Error {
  constructor(fields: SessionErrorFields) {
    super(fields.message);
    Object.assign(this, fields);
    this.name = 'SessionError';
  }

  /** The core throws plain `Error` objects named `SessionError` with these fields:
   * they are `SessionError`s as much as instances of this class are. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (!(value instanceof Error) || value.name !== 'SessionError') return false;
    const { code, clientAnswer } = value as { code?: unknown; clientAnswer?: unknown };
    return typeof code === 'string' && typeof clientAnswer === 'object' && clientAnswer !== null;
  }

  static invalidArgument(argument: string, reason: string): SessionErrorOf<'INVALID_ARGUMENT'> {
    return new SessionError(invalidArgumentError(argument, reason));
  }

  static sessionNotFound(sessionId: string): SessionErrorOf<'SESSION_NOT_FOUND'> {
    return new SessionError(sessionNotFoundError(sessionId));
  }

  static storageFailed(cause: unknown): SessionErrorOf<'STORAGE_FAILED'> {
    const code = (cause as { code?: unknown } | null | undefined)?.code;
    const reason = typeof code === 'string' ? code : 'unknown';
    const detail = cause instanceof Error ? cause.message : String(cause);
    return Object.assign(new SessionError(storageFailedError(reason, detail)), { cause });
  }

  static payloadTooLarge(limit: number): SessionErrorOf<'PAYLOAD_TOO_LARGE'> {
    return new SessionError(payloadTooLargeError(limit));
  }

  static limitExceeded(
    which: 'sessions' | 'principal' | 'handles',
    limit: number,
    retryAfterMs: number,
  ): SessionErrorOf<'CAPACITY_EXCEEDED' | 'PRINCIPAL_LIMIT_EXCEEDED' | 'HANDLE_LIMIT_EXCEEDED'> {
    return new SessionError(limitExceededError(which, limit, retryAfterMs));
  }

  static parseError(): SessionErrorOf<'PARSE_ERROR'> {
    return new SessionError(parseError());
  }

  static forbidden(reason: ForbiddenReason): SessionErrorOf<'FORBIDDEN'> {
    return new SessionError(forbiddenError(reason));
  }
}

/**
 * Every failure of the session core, and of this package's own I/O and transport
 * (storage, request bodies, refused origins), made by the core whichever side
 * fails: its code, status, JSON-RPC code and client answer come from one place.
 * `instanceof SessionError` recognises the core's errors and this class's
 * instances alike, and narrows by `code`.
 */
export const SessionError = CoreSessionError as unknown as SessionErrorConstructor;

/** True for the errors that mean "this session is not (or no longer) there". */
export function isNotFound(error: unknown): error is SessionError {
  return error instanceof SessionError && error.httpStatus === 404;
}
