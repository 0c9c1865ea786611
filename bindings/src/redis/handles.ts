/**
 * State handles (MCP 2026-07-28) and the `requestState` single-use ledger shared
 * by several instances through Redis: `manager.handles`' calls, async, over a
 * `RedisShared` engine (see `shared.ts` for how a call runs). Any instance serves
 * any handle; compare-and-set loses no update across instances; the caps are exact
 * fleet-wide; each expiry happens once; an ended ID answers with its reason
 * everywhere while remembered (`endedRetentionMs`).
 */
import type { HandleView, Json, JsonObject, RequestStateCore } from '../../generated/mcp_session_core';
import type { CreateHandleOptions, HandleOwner, HandleUpdateOptions } from '../handles';
import { sealedCodec } from '../request-state';
import type { SealedRequestStateCodec, SealedRequestStateCodecOptions } from '../request-state';
import type { RedisShared } from './shared';

export class RedisHandleStore {
  readonly #shared: RedisShared;
  /** How long a handle lives unused, and at most, in ms (for tool descriptions). */
  readonly idleTimeoutMs: number;
  readonly lifetimeMs: number;

  constructor(shared: RedisShared) {
    this.#shared = shared;
    this.idleTimeoutMs = shared.config.handleIdleTimeoutMs;
    this.lifetimeMs = shared.config.handleLifetimeMs;
  }

  create(options?: CreateHandleOptions | null): Promise<HandleView> {
    return this.#shared.call([], (core, now) => core.createHandle(options?.principal, options?.state, now));
  }

  get(handleId: string, options?: HandleOwner | null): Promise<HandleView> {
    return this.#shared.call([handleId], (core, now) => core.getHandle(handleId, options?.principal, now));
  }

  update(handleId: string, patch: Json, options?: HandleUpdateOptions | null): Promise<number> {
    return this.#shared.call([handleId], (core, now) =>
      core.updateHandle(handleId, options?.principal, patch, options?.expectedVersion, now),
    );
  }

  replace(handleId: string, state: JsonObject, options?: HandleUpdateOptions | null): Promise<number> {
    return this.#shared.call([handleId], (core, now) =>
      core.replaceHandleState(handleId, options?.principal, state, options?.expectedVersion, now),
    );
  }

  destroy(handleId: string, options?: HandleOwner | null): Promise<void> {
    return this.#shared.call([handleId], (core, now) => core.destroyHandle(handleId, options?.principal, now));
  }

  /** The caller's live handles, fleet-wide, oldest first. */
  async list(options?: HandleOwner | null): Promise<HandleView[]> {
    const ids = await this.#shared.members('h', options?.principal);
    return this.#shared.call(ids, (core, now) => core.listHandles(options?.principal, now));
  }

  /**
   * A sealed `requestState` codec whose single-use ledger is in Redis: a token
   * redeemed on one instance is `replayed` on every other, until it expires.
   * `ledgerSize()` counts the tokens this instance redeemed and still remembers.
   */
  createRequestStateCodec<T = unknown, Ctx = unknown>(
    options: Omit<SealedRequestStateCodecOptions<Ctx>, 'maxLedgerEntries' | 'now'>,
  ): SealedRequestStateCodec<T, Ctx> {
    const shared = this.#shared;
    return sealedCodec(options, {
      now: () => shared.now(),
      // The core opens and checks the token and records it in its ledger; the
      // commit writes the entry only if no instance has (else: replayed).
      redeem: (codec: RequestStateCore, token, principal, request) =>
        shared.call([], (core, now) => core.redeemRequestState(codec, token, principal, request, now)),
      size: () => shared.core.stats(shared.now()).redeemedTokens,
    });
  }
}
