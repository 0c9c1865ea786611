import type { SessionErrorCode } from '../generated/mcp_session_core';

/** Codes of failures outside the core: the host's own I/O. */
export type HostErrorCode = 'STORAGE_FAILED';

/**
 * Every failure of the session core. The core throws plain `Error` objects named
 * `SessionError` with these properties; `instanceof SessionError` recognises them,
 * and the TypeScript layer throws instances of this class for its own checks.
 */
export class SessionError extends Error {
  /** Stable code, e.g. `SESSION_NOT_FOUND`. */
  readonly code!: SessionErrorCode | HostErrorCode;
  /** The HTTP status a Streamable HTTP server answers with. */
  readonly httpStatus!: number;
  /** The JSON-RPC error code for the response body. */
  readonly jsonRpcCode!: number;
  /** For `CAPACITY_EXCEEDED`, `STORAGE_LIMIT_EXCEEDED`, `PRINCIPAL_LIMIT_EXCEEDED`
   * and `TOO_MANY_REQUESTS` (the core's 503s and 429s): how long the client should wait. */
  readonly retryAfterMs?: number;
  /** For `VERSION_CONFLICT`. */
  readonly expectedVersion?: number;
  readonly actualVersion?: number;
  /** The session the error is about, where there is one. */
  readonly sessionId?: string;
  /** Why: for `SESSION_EXPIRED` the end reason (`idle`, `init`, ...), for
   * `INVALID_SESSION_ID` what is wrong with it, for `STORAGE_FAILED` the I/O error
   * code (`ENOSPC`), for the `INVALID_*` codes and `ID_SOURCE_FAILED` a description. */
  readonly reason?: string;
  /** For `INVALID_ARGUMENT`. */
  readonly argument?: string;

  constructor(
    code: SessionErrorCode | HostErrorCode,
    message: string,
    httpStatus: number,
    jsonRpcCode: number,
    details: Record<string, unknown> = {},
  ) {
    super(message);
    Object.assign(this, details, { code, httpStatus, jsonRpcCode });
    this.name = 'SessionError';
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return (
      value instanceof Error &&
      value.name === 'SessionError' &&
      typeof (value as { code?: unknown }).code === 'string'
    );
  }

  /** A bad argument caught in the TypeScript layer before it reaches the core. */
  static invalidArgument(argument: string, reason: string): SessionError {
    return new SessionError(
      'INVALID_ARGUMENT',
      `Invalid argument ${argument}: ${reason}`,
      400,
      -32602,
      { argument, reason },
    );
  }

  /**
   * The durable store could not write a change (a full disk, an unwritable data
   * directory): the change was undone and the call fails; the client may retry.
   */
  static storageFailed(cause: unknown): SessionError {
    const detail = cause instanceof Error ? cause.message : String(cause);
    const reason = (cause as { code?: unknown } | null)?.code;
    return new SessionError('STORAGE_FAILED', `Session storage failed: ${detail}`, 503, -32603, {
      reason: typeof reason === 'string' ? reason : 'unknown',
      cause,
    });
  }
}

/** True for the errors that mean "this session is not (or no longer) there". */
export function isNotFound(error: unknown): error is SessionError {
  return error instanceof SessionError && error.httpStatus === 404;
}
