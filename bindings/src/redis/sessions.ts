/**
 * 2025-era MCP sessions shared by several instances through Redis: the calls
 * `McpSessionHandler` and tools make of a `SessionManager`, async, over a
 * `RedisShared` engine (see `shared.ts`). Any instance serves any session: its
 * transport is rebuilt from the stored `initialize` wherever a request lands, as
 * after a restart. State compare-and-set loses no update across instances; the
 * caps (`maxSessions`, `maxSessionsPerPrincipal`) are exact fleet-wide (at the cap
 * a new session is refused: there is no fleet-wide eviction); each expiry happens
 * once, and every instance closes the transport it holds for an ended session.
 */
import type { Json, JsonObject, RequestHead, Admission } from '../../generated/mcp_session_core';
import { SessionError } from '../errors';
import { ADMISSIONS, fromEnded, fromView, kindCode } from '../manager';
import type { InitializeParams, SessionInfo, UpdateOptions } from '../manager';
import type { SealedRequestStateCodec, SealedRequestStateCodecOptions } from '../request-state';
import { RedisHandleStore } from './handles';
import type { RedisShared } from './shared';

export class RedisSessions {
  readonly #shared: RedisShared;
  /** State handles in the same Redis, through the same engine. */
  readonly handles: RedisHandleStore;

  constructor(shared: RedisShared) {
    this.#shared = shared;
    this.handles = new RedisHandleStore(shared);
  }

  /** The engine (for its events, `sweep` and `close`). */
  get shared(): RedisShared {
    return this.#shared;
  }

  /** The per-request gate (see `SessionManager.beginRequest`). An admitted
   * request is in flight here until `endRequest`. */
  beginRequest(head: RequestHead): Promise<Admission> {
    if (typeof head !== 'object' || head === null) throw SessionError.invalidArgument('head', 'must be an object');
    const kind = kindCode(head.kind);
    const id = head.sessionId;
    const ids = typeof id === 'string' ? [id] : [];
    return this.#shared.call(
      ids,
      (core, now) => ADMISSIONS[core.beginRequest(id, head.principal, kind, head.protocolVersion, now)] as Admission,
      {
        refresh: true,
        pin: (admission) => (admission.outcome === 'admitted' ? id ?? undefined : undefined),
      },
    );
  }

  /** The response or stream of an admitted request is done. */
  endRequest(id: string): Promise<void> {
    return this.#shared.call([id], (core, now) => core.endRequest(id, now), { unpin: id });
  }

  /** An MCP `initialize`: the session starts `initializing`, on the negotiated version. */
  async initialize(params: InitializeParams): Promise<SessionInfo> {
    const { protocolVersion, ...rest } = params;
    const view = await this.#shared.call([], (core, now) =>
      core.create({ ...rest, requestedProtocolVersion: protocolVersion }, now),
    );
    return fromView(view);
  }

  /** The session (counting as activity), an ended one still remembered, or null. */
  async getSession(id: string): Promise<SessionInfo | null> {
    if (typeof id !== 'string') return null;
    try {
      const found = await this.#shared.call([id], (core, now) => core.find(id, now));
      if (found.status === 'live') return fromView(found.session);
      if (found.status === 'ended') return fromEnded(found.session);
      return null;
    } catch (error) {
      if (error instanceof SessionError && error.code === 'INVALID_SESSION_ID') return null;
      throw error;
    }
  }

  /** Merges `patch` into the state (RFC 7396); returns the new version. */
  updateSessionState(id: string, patch: Json, options?: UpdateOptions): Promise<number> {
    return this.#shared.call([id], (core, now) => core.updateState(id, patch, options?.expectedVersion, now));
  }

  /** Replaces the whole state; returns the new version. */
  replaceSessionState(id: string, state: JsonObject, options: UpdateOptions = {}): Promise<number> {
    return this.#shared.call([id], (core, now) => core.replaceState(id, state, options.expectedVersion, now));
  }

  /** Ends a session (HTTP DELETE). False if it was not live. */
  async closeSession(id: string): Promise<boolean> {
    try {
      await this.#shared.call([id], (core, now) => core.close(id, now));
      return true;
    } catch (error) {
      if (error instanceof SessionError && error.httpStatus === 404) return false;
      throw error;
    }
  }

  /** A sealed `requestState` codec whose single-use ledger is in Redis (see
   * `RedisHandleStore.createRequestStateCodec`). */
  createRequestStateCodec<T = unknown, Ctx = unknown>(
    options: Omit<SealedRequestStateCodecOptions<Ctx>, 'maxLedgerEntries' | 'now'>,
  ): SealedRequestStateCodec<T, Ctx> {
    return this.handles.createRequestStateCodec(options);
  }

  /** Live sessions and handles, fleet-wide. */
  stats(): Promise<{ sessions: number; handles: number }> {
    return this.#shared.counts();
  }
}
