import type { HandleView, Json, JsonObject } from '../generated/mcp_session_core';
import type { SessionCore } from './core';

/** Runs one core call at the manager's time, then delivers events and re-arms the
 * timer (the manager's `#run`). */
export type CoreRun = <T>(call: (core: SessionCore, now: number) => T) => T;

/** Whose handle a call is about: the authenticated user, taken from the token
 * (never from the client); absent for an anonymous handle, whose 128-bit ID is
 * then the only secret. */
export interface HandleOwner {
  principal?: string | null;
}

export interface CreateHandleOptions extends HandleOwner {
  /** The handle's first state (a JSON object; `{}` if absent). */
  state?: JsonObject;
}

export interface HandleUpdateOptions extends HandleOwner {
  /** Compare-and-set: change only if the state is still at this version. */
  expectedVersion?: number | null;
}

/**
 * State handles (MCP 2026-07-28): opaque, server-minted IDs that a tool returns
 * and later calls pass back as arguments, each bound to its principal, with an
 * idle timeout (`handleIdleTimeoutMs`) and a bounded lifetime (`handleLifetimeMs`)
 * and caps of their own (`maxHandles`, `maxHandlesPerPrincipal`). They live in
 * the manager's store beside its sessions: the same timer ends them, the same
 * snapshots and attached store keep them.
 *
 * Failures throw `SessionError`: `HANDLE_NOT_FOUND` (unknown, or another
 * principal's: the same answer), `HANDLE_EXPIRED` (with `reason`: `idle` or
 * `lifetime`), `HANDLE_DESTROYED`, `HANDLE_LIMIT_EXCEEDED` (with `retryAfterMs`),
 * `VERSION_CONFLICT`, `INVALID_STATE`, `STATE_TOO_LARGE`.
 */
export class HandleStore {
  readonly #run: CoreRun;
  /** How long a handle lives unused, in ms (for the creating tool's description). */
  readonly idleTimeoutMs: number;
  /** How long a handle lives at most, in ms (for the creating tool's description). */
  readonly lifetimeMs: number;

  constructor(run: CoreRun, limits: { handleIdleTimeoutMs: number; handleLifetimeMs: number }) {
    this.#run = run;
    this.idleTimeoutMs = limits.handleIdleTimeoutMs;
    this.lifetimeMs = limits.handleLifetimeMs;
  }

  /** Creates a handle; its `handleId` is what the tool returns. */
  create(options?: CreateHandleOptions | null): HandleView {
    return this.#run((core, now) => core.createHandle(options?.principal, options?.state, now));
  }

  /** The handle (a read is use: its idle deadline moves on). */
  get(handleId: string, options?: HandleOwner | null): HandleView {
    return this.#run((core, now) => core.getHandle(handleId, options?.principal, now));
  }

  /** Merges `patch` into the state (RFC 7396); returns the new version. */
  update(handleId: string, patch: Json, options?: HandleUpdateOptions | null): number {
    return this.#run((core, now) =>
      core.updateHandle(handleId, options?.principal, patch, options?.expectedVersion, now),
    );
  }

  /** Replaces the whole state; returns the new version. */
  replace(handleId: string, state: JsonObject, options?: HandleUpdateOptions | null): number {
    return this.#run((core, now) =>
      core.replaceHandleState(handleId, options?.principal, state, options?.expectedVersion, now),
    );
  }

  /** Ends the handle: its ID then answers `HANDLE_DESTROYED` while remembered. */
  destroy(handleId: string, options?: HandleOwner | null): void {
    this.#run((core, now) => core.destroyHandle(handleId, options?.principal, now));
  }

  /** The live handles of one principal (absent: the anonymous ones), oldest first. */
  list(options?: HandleOwner | null): HandleView[] {
    return this.#run((core, now) => core.listHandles(options?.principal, now));
  }

  /** Every live handle, whoever holds it, oldest first: for an operator's view
   * (O(store), so never on a request path). */
  listAll(): HandleView[] {
    return this.#run((core, now) => core.listAllHandles(now));
  }
}
