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
 *   bounded, and a full ledger refuses (`ledger_full`) rather than forget an
 *   unexpired token.
 *
 * Where the ledger lives decides how far single use reaches.
 * `manager.createRequestStateCodec(options)` keeps it in the `SessionManager`'s
 * store: swept by its timer, bounded by `maxRedeemedTokens`, and saved with every
 * redemption by its attached store, so a token redeemed before a crash is
 * refused after the restart (and a redemption that cannot be saved is refused
 * with `STORAGE_FAILED`, not half-kept). `createSealedRequestStateCodec(options)`
 * keeps its own ledger in the process (`maxLedgerEntries`): a restart forgets it.
 *
 * `verify` throws an `Error` whose message is the reason code alone, as the SDK's
 * does: `malformed`, `mac`, `expired`, `bind`, or ours, `replayed` and
 * `ledger_full`. Drop it into `ServerOptions.requestState.verify`.
 */
import { RequestStateCore } from '../generated/mcp_session_core';
import type { SessionCore } from './core';
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
  /** How many redeemed, unexpired tokens the codec's own ledger remembers.
   * Default 100,000. (A manager's codec uses the store's `maxRedeemedTokens`.) */
  maxLedgerEntries?: number;
  /** The binding, from the handler's context, at mint and at verify. Without it
   * every token is anonymous and bound to the empty request. */
  bind?: (ctx: Ctx) => RequestStateBinding;
  /** The clock (ms since the epoch). Default `Date.now`; a manager's codec uses
   * the manager's clock. */
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
  /** How many redeemed, unexpired tokens the ledger holds. */
  ledgerSize(): number;
}

/** Where a codec's single-use ledger lives: the codec's own (in the process), or a
 * manager's store. */
export interface RequestStateLedger {
  now(): number;
  /** Opens, checks and redeems `token`; returns its payload text, or throws the
   * refusal (or the store's `STORAGE_FAILED`). */
  redeem(codec: RequestStateCore, token: string, principal: string | undefined, request: string): string | Promise<string>;
  size(codec: RequestStateCore): number;
}

/** A ledger in a session store, driven through the manager's `#run`. */
export function storeLedger(
  run: <T>(call: (core: SessionCore, now: number) => T) => T,
  now: () => number,
): RequestStateLedger {
  return {
    now,
    redeem: (codec, token, principal, request) =>
      run((core, at) => core.redeemRequestState(codec, token, principal, request, at)),
    size: () => run((core, at) => core.stats(at).redeemedTokens),
  };
}

function refused(reason: RequestStateRefusalReason): Error {
  const error = new Error(reason);
  error.name = 'RequestStateRefusal';
  return error;
}

/** A sealed, bound, single-use `requestState` codec with its own ledger, in this
 * process (see the module's comment; `manager.createRequestStateCodec` keeps the
 * ledger in the manager's store instead). */
export function createSealedRequestStateCodec<T = unknown, Ctx = unknown>(
  options: SealedRequestStateCodecOptions<Ctx>,
): SealedRequestStateCodec<T, Ctx> {
  const now = options.now ?? Date.now;
  return sealedCodec(options, {
    now,
    redeem: (codec, token, principal, request) => codec.redeem(token, principal, request, now()),
    size: (codec) => codec.ledgerSize(),
  });
}

/** The codec over either ledger. */
export function sealedCodec<T, Ctx>(
  options: SealedRequestStateCodecOptions<Ctx>,
  ledger: RequestStateLedger,
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
  const now = ledger.now;
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
      const text = await ledger.redeem(core, state, b.principal ?? undefined, b.request);
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
    ledgerSize() {
      return ledger.size(core);
    },
  };
}
