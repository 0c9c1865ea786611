/**
 * A `requestState` codec with the shape of the v2 SDK's `RequestStateCodec`
 * (`mint(payload, ctx?)` / `verify(state, ctx)`, `@modelcontextprotocol/server`),
 * whose cryptography and single-use ledger are in the Rust core:
 *
 * - sealed with XChaCha20-Poly1305: the client can read neither the payload nor
 *   who it is bound to (the SDK's own helper signs only);
 * - bound to a principal and the originating request (from `bind(ctx)`), with a
 *   lifetime;
 * - key rotation by key ID (`rotate`, `removeKey`);
 * - single use: `verify` redeems the token, so a second `verify` of the same token
 *   is refused as `replayed` until it would have expired; the ledger's memory is
 *   bounded (`maxLedgerEntries`), and a full ledger refuses (`ledger_full`) rather
 *   than forget an unexpired token.
 *
 * `verify` throws an `Error` whose message is the reason code alone, as the SDK's
 * does: `malformed`, `mac`, `expired`, `bind`, or ours, `replayed` and
 * `ledger_full`. Drop it into `ServerOptions.requestState.verify`.
 */
import { RequestStateCore } from '../generated/mcp_session_core';
import type { RequestStateRefusalReason } from '../generated/mcp_session_core';

/** Why a token was refused: the SDK's four reasons, then ours (generated from the
 * core's `Refusal`). */
export type { RequestStateRefusalReason };

/** A key: 32 bytes from the host's secret store, and a short ID (`A-Za-z0-9_-`, up to 32). */
export interface RequestStateKey {
  id: string;
  key: Uint8Array;
}

/** What a token is bound to. `principal` comes from the host's auth, never from the
 * client; leave it out for an anonymous caller. `request` names the originating
 * request (for example its method and tool name and a digest of its arguments). */
export interface RequestStateBinding {
  principal?: string | null;
  request: string;
}

export interface SealedRequestStateCodecOptions<Ctx> {
  /** The current key: new tokens are sealed with it. */
  key: RequestStateKey;
  /** Older keys still accepted for verifying (for example before a rotation). */
  acceptedKeys?: RequestStateKey[];
  /** A token's lifetime, in seconds. Default 600, as the SDK's. */
  ttlSeconds?: number;
  /** The longest lifetime `mint` may be asked for, in seconds. Default 3600. */
  maxTtlSeconds?: number;
  /** The largest payload (its JSON text, in bytes). Default 64 KiB. */
  maxPayloadBytes?: number;
  /** How many redeemed, unexpired tokens are remembered. Default 100,000. */
  maxLedgerEntries?: number;
  /** The binding, from the handler's context, at mint and at verify. Without it
   * every token is anonymous and bound to the empty request. */
  bind?: (ctx: Ctx) => RequestStateBinding;
  /** The clock (ms since the epoch). Default `Date.now`. */
  now?: () => number;
  /** Predictable nonces and token IDs, for tests only. */
  insecureSeed?: number;
}

/** The SDK's `RequestStateCodec` shape, with key rotation and the ledger. */
export interface SealedRequestStateCodec<T = unknown, Ctx = unknown> {
  mint(payload: T, ctx?: Ctx): Promise<string>;
  verify(state: string, ctx: Ctx): Promise<T>;
  /** Makes `key` the current key; the previous current key is still accepted. */
  rotate(key: RequestStateKey): void;
  /** Stops accepting an older key: its tokens are refused (`mac`). */
  removeKey(id: string): void;
  /** The key IDs, the current one first. */
  keyIds(): string[];
  /** Forgets ledger entries whose tokens have expired (each `verify` does too). */
  sweep(): number;
  /** When the earliest ledger entry can be forgotten, if any. */
  nextDeadline(): number | undefined;
  /** How many redeemed, unexpired tokens the ledger holds. */
  ledgerSize(): number;
}

function refused(reason: RequestStateRefusalReason): Error {
  const error = new Error(reason);
  error.name = 'RequestStateRefusal';
  return error;
}

/** A sealed, bound, single-use `requestState` codec (see the module's comment). */
export function createSealedRequestStateCodec<T = unknown, Ctx = unknown>(
  options: SealedRequestStateCodecOptions<Ctx>,
): SealedRequestStateCodec<T, Ctx> {
  const seconds = (value: number | undefined): number | undefined =>
    value === undefined ? undefined : value * 1000;
  const core = new RequestStateCore(
    options.key.id,
    options.key.key,
    seconds(options.ttlSeconds),
    seconds(options.maxTtlSeconds),
    options.maxPayloadBytes,
    options.maxLedgerEntries,
    options.insecureSeed,
  );
  for (const k of options.acceptedKeys ?? []) core.accept(k.id, k.key);
  // Refused before it crosses into WebAssembly (where it would be copied whole).
  const maxTokenChars = core.maxTokenChars();
  const now = options.now ?? Date.now;
  const bind = options.bind;
  const binding = (ctx: Ctx | undefined, at: 'mint' | 'verify'): RequestStateBinding => {
    if (bind === undefined) return { request: '' };
    if (ctx === undefined) {
      throw new TypeError(`createSealedRequestStateCodec: ${at}() requires ctx when a bind callback is configured`);
    }
    const b = bind(ctx);
    const principal = b?.principal ?? undefined;
    if ((principal !== undefined && typeof principal !== 'string') || typeof b?.request !== 'string') {
      throw new TypeError('createSealedRequestStateCodec: bind() must return { principal?: string, request: string }');
    }
    return b;
  };

  return {
    async mint(payload, ctx) {
      const b = binding(ctx, 'mint');
      return core.mint(JSON.stringify(payload), b.principal ?? undefined, b.request, undefined, now());
    },
    async verify(state, ctx) {
      if (typeof state !== 'string' || state.length > maxTokenChars) throw refused('malformed');
      const b = binding(ctx, 'verify');
      // The core throws an Error whose message is the reason code.
      const text = core.redeem(state, b.principal ?? undefined, b.request, now());
      try {
        return JSON.parse(text) as T;
      } catch {
        throw refused('malformed');
      }
    },
    rotate(key) {
      core.rotate(key.id, key.key);
    },
    removeKey(id) {
      core.removeKey(id);
    },
    keyIds() {
      return core.keyIds();
    },
    sweep() {
      return core.sweep(now());
    },
    nextDeadline() {
      return core.nextDeadline();
    },
    ledgerSize() {
      return core.ledgerSize();
    },
  };
}
