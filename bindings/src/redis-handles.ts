/**
 * State handles (MCP 2026-07-28) and the `requestState` single-use ledger shared
 * by several instances through Redis.
 *
 * Redis holds the records; each instance's core still makes every decision. A
 * call runs in three steps:
 *
 * 1. **fetch** (one round trip): the records the call is about, each with its
 *    revision;
 * 2. the core `adopt`s them in place of any copy it held and runs the call as
 *    ever (principal check, expiry, compare-and-set on the state version, merge
 *    patch, size limits), journaling what it changed;
 * 3. **commit** (one round trip, only if something durable changed): one script
 *    writes every changed record if, and only if, each still has the revision the
 *    fetch saw, no token of the batch was redeemed already, and no new handle
 *    passes the fleet-wide caps; it moves the deadlines in a sorted set and the
 *    per-principal sets. On a revision conflict the core's journal is reverted and
 *    the call runs again from a fresh fetch; on a cap it fails with
 *    `HANDLE_LIMIT_EXCEEDED`; if Redis fails, with `STORAGE_FAILED`, and nothing
 *    is half-written. The copies are then released: a stale one never answers.
 *
 * The script guards atomicity only: it compares revisions, counts and stores what
 * the core exported. Expiry is fleet-wide: `sweep()` takes the records due in the
 * sorted set, and each ends on exactly one instance (the one whose commit wins),
 * so `handleExpired` is announced once across the fleet.
 *
 * A read moves the idle deadline: that write is a `touch`, sent without waiting
 * (it never conflicts: it applies only while the revision is unchanged), so a
 * read costs one round trip. Calls of one instance run one at a time.
 */
import type { CoreConfig, CoreEvent, HandleView, Json, JsonObject } from '../generated/mcp_session_core';
import type { RequestStateCore } from '../generated/mcp_session_core';
import { SessionCore } from './core';
import { SessionError } from './errors';
import type { CreateHandleOptions, HandleOwner, HandleUpdateOptions } from './handles';
import { sealedCodec } from './request-state';
import type { SealedRequestStateCodec, SealedRequestStateCodecOptions } from './request-state';

/** What this module needs of a Redis client: node-redis's `eval` (v4 and later). */
export interface RedisEval {
  eval(script: string, options: { keys?: string[]; arguments?: string[] }): Promise<unknown>;
}

export interface RedisHandleStoreOptions {
  /** A connected node-redis client (`createClient({ url }).connect()`). */
  redis: RedisEval;
  /** The key prefix, so several servers can share one Redis. Default `mcp:`. */
  prefix?: string;
  /** The core's configuration (handle timeouts and caps, `maxRedeemedTokens` is
   * Redis's to bound: every instance must be given the same). */
  config?: Partial<CoreConfig>;
  /** The clock (ms since the epoch). Default `Date.now`. */
  clock?: () => number;
  /** Events (`handleCreated`, `handleExpired`, …), once each across the fleet. */
  onEvent?: (event: CoreEvent) => void;
  /** Where a touch that could not be written goes (it never fails a call). */
  onError?: (error: unknown) => void;
  /** Predictable IDs, for tests only. */
  insecureSeed?: number;
}

const FORMAT = { format: 'mcp-session-core/snapshot', version: 1 } as const;

interface ExportDoc {
  takenAt: number;
  sessions: { id: string; principal?: string | null; expiresAt?: number | null }[];
  ended: { session: { id: string; principal?: string | null } }[];
  redeemed?: { expiresAt: number; id: string }[];
}

/** Every write, checked first: revisions, then redeemed tokens, then the caps.
 * ARGV: prefix, now, max handles, max per principal (0: none), retention ms,
 * record count, then per record: id, expected revision, principal key, was live
 * (0/1), is live (0/1), deadline, one-record document; then per token: id,
 * expires at. */
const COMMIT = `
local p = ARGV[1]
local maxAll, maxPer, keep = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local n = tonumber(ARGV[6])
local base = 7
for i = 0, n - 1 do
  local at = base + i * 7
  local rev = redis.call('HGET', p .. 'r:' .. ARGV[at], 'rev') or '0'
  if rev ~= ARGV[at + 1] then return {'conflict', ARGV[at]} end
end
local tokens = base + n * 7
for t = tokens, #ARGV, 2 do
  if redis.call('EXISTS', p .. 't:' .. ARGV[t]) == 1 then return {'replayed', ARGV[t]} end
end
local adds, perAdds = 0, {}
for i = 0, n - 1 do
  local at = base + i * 7
  local delta = tonumber(ARGV[at + 4]) - tonumber(ARGV[at + 3])
  adds = adds + delta
  perAdds[ARGV[at + 2]] = (perAdds[ARGV[at + 2]] or 0) + delta
end
local live = tonumber(redis.call('GET', p .. 'live') or '0')
if adds > 0 and live + adds > maxAll then return {'cap', tostring(maxAll)} end
if maxPer > 0 then
  for who, d in pairs(perAdds) do
    if d > 0 and redis.call('SCARD', p .. 'by:' .. who) + d > maxPer then return {'cap', tostring(maxPer)} end
  end
end
for i = 0, n - 1 do
  local at = base + i * 7
  local id, who, isLive = ARGV[at], ARGV[at + 2], ARGV[at + 4] == '1'
  local key = p .. 'r:' .. id
  redis.call('HSET', key, 'doc', ARGV[at + 6])
  redis.call('HINCRBY', key, 'rev', 1)
  if isLive then
    redis.call('PERSIST', key)
    redis.call('ZADD', p .. 'due', ARGV[at + 5], id)
    redis.call('SADD', p .. 'by:' .. who, id)
  else
    redis.call('PEXPIRE', key, keep)
    redis.call('ZREM', p .. 'due', id)
    redis.call('SREM', p .. 'by:' .. who, id)
  end
end
if adds ~= 0 then redis.call('INCRBY', p .. 'live', adds) end
for t = tokens, #ARGV, 2 do
  redis.call('SET', p .. 't:' .. ARGV[t], '1', 'PXAT', ARGV[t + 1])
end
return {'ok'}
`;

/** ARGV: prefix, then IDs. Each record's revision and document ('' when absent). */
const FETCH = `
local out = {}
for i = 2, #ARGV do
  local v = redis.call('HMGET', ARGV[1] .. 'r:' .. ARGV[i], 'rev', 'doc')
  out[#out + 1] = v[1] or '0'
  out[#out + 1] = v[2] or ''
end
return out
`;

/** ARGV: prefix, then per record: id, revision, deadline, document. Activity: a
 * record still at that revision takes the later idle deadline. */
const TOUCH = `
for i = 2, #ARGV, 4 do
  local key = ARGV[1] .. 'r:' .. ARGV[i]
  if redis.call('HGET', key, 'rev') == ARGV[i + 1] then
    redis.call('HSET', key, 'doc', ARGV[i + 3])
    redis.call('ZADD', ARGV[1] .. 'due', 'GT', ARGV[i + 2], ARGV[i])
  end
end
return 1
`;

/** ARGV: prefix, principal key. The IDs of one principal's live handles. */
const MEMBERS = `return redis.call('SMEMBERS', ARGV[1] .. 'by:' .. ARGV[2])`;
/** ARGV: prefix, now, limit. The IDs due, earliest first; and the earliest deadline. */
const DUE = `
local due = redis.call('ZRANGEBYSCORE', ARGV[1] .. 'due', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local first = redis.call('ZRANGE', ARGV[1] .. 'due', 0, 0, 'WITHSCORES')
return {due, first[2] or ''}
`;

const principalKey = (principal: string | null | undefined): string => (principal == null ? '~' : `=${principal}`);

function oneRecordDoc(takenAt: number, live: unknown[], ended: unknown[]): string {
  return JSON.stringify({ ...FORMAT, takenAt, sessions: live, ended });
}

/**
 * `manager.handles`' calls, async, over Redis: any instance serves any handle;
 * compare-and-set loses no update across instances; the caps are exact
 * fleet-wide; each expiry happens once; an ended ID answers with its reason
 * everywhere while remembered (`endedRetentionMs`).
 */
export class RedisHandleStore {
  readonly #redis: RedisEval;
  readonly #prefix: string;
  readonly #core: SessionCore;
  readonly #clock: () => number;
  readonly #onEvent: (event: CoreEvent) => void;
  readonly #onError: (error: unknown) => void;
  readonly #limits: { maxHandles: number; maxPer: number; retention: number; idle: number };
  #queue: Promise<unknown> = Promise.resolve();
  /** How long a handle lives unused, and at most, in ms (for tool descriptions). */
  readonly idleTimeoutMs: number;
  readonly lifetimeMs: number;

  constructor(options: RedisHandleStoreOptions) {
    this.#redis = options.redis;
    this.#prefix = options.prefix ?? 'mcp:';
    this.#clock = options.clock ?? Date.now;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#onError = options.onError ?? ((error) => process.emitWarning(error instanceof Error ? error : String(error)));
    this.#core = new SessionCore(options.config ?? {}, { insecureSeed: options.insecureSeed });
    this.#core.setJournaling(true);
    const c = this.#core.config();
    this.#limits = {
      maxHandles: c.maxHandles,
      maxPer: c.maxHandlesPerPrincipal ?? 0,
      retention: c.endedRetentionMs,
      idle: c.handleIdleTimeoutMs,
    };
    this.idleTimeoutMs = c.handleIdleTimeoutMs;
    this.lifetimeMs = c.handleLifetimeMs;
  }

  create(options?: CreateHandleOptions | null): Promise<HandleView> {
    return this.#call([], (core, now) => core.createHandle(options?.principal, options?.state, now));
  }

  get(handleId: string, options?: HandleOwner | null): Promise<HandleView> {
    return this.#call([handleId], (core, now) => core.getHandle(handleId, options?.principal, now));
  }

  update(handleId: string, patch: Json, options?: HandleUpdateOptions | null): Promise<number> {
    return this.#call([handleId], (core, now) =>
      core.updateHandle(handleId, options?.principal, patch, options?.expectedVersion, now),
    );
  }

  replace(handleId: string, state: JsonObject, options?: HandleUpdateOptions | null): Promise<number> {
    return this.#call([handleId], (core, now) =>
      core.replaceHandleState(handleId, options?.principal, state, options?.expectedVersion, now),
    );
  }

  destroy(handleId: string, options?: HandleOwner | null): Promise<void> {
    return this.#call([handleId], (core, now) => core.destroyHandle(handleId, options?.principal, now));
  }

  /** The caller's live handles, fleet-wide, oldest first. */
  async list(options?: HandleOwner | null): Promise<HandleView[]> {
    const ids = (await this.#eval(MEMBERS, [principalKey(options?.principal)])) as string[];
    return this.#call(ids, (core, now) => core.listHandles(options?.principal, now));
  }

  /** Ends the handles due fleet-wide (at most `limit`): each on exactly one
   * instance. Returns how many ended here; call it from a timer. */
  async sweep(limit = 100): Promise<number> {
    const [due] = (await this.#eval(DUE, [String(this.#clock()), String(limit)])) as [string[], string];
    let ended = 0;
    for (const id of due) {
      try {
        // Adopted past its deadline, the handle ends when time advances here; if
        // another instance ended it (or it was used) first, the commit conflicts
        // and the fresh fetch finds nothing left to end.
        ended += await this.#call([id], (core, now) => {
          core.sweepIds(now);
          // Adopting journals nothing: a change pending is this sweep's end.
          return core.journalPending() ? 1 : 0;
        });
      } catch (error) {
        this.#onError(error);
      }
    }
    return ended;
  }

  /**
   * A sealed `requestState` codec whose single-use ledger is in Redis: a token
   * redeemed on one instance is `replayed` on every other, until it expires.
   * `ledgerSize()` counts the tokens this instance redeemed and still remembers.
   */
  createRequestStateCodec<T = unknown, Ctx = unknown>(
    options: Omit<SealedRequestStateCodecOptions<Ctx>, 'maxLedgerEntries' | 'now'>,
  ): SealedRequestStateCodec<T, Ctx> {
    return sealedCodec(options, {
      now: () => this.#clock(),
      // The core opens and checks the token and records it in its ledger; the
      // commit writes the entry only if no instance has (else: replayed).
      redeem: (codec: RequestStateCore, token, principal, request) =>
        this.#call([], (core, now) => core.redeemRequestState(codec, token, principal, request, now)),
      size: () => this.#core.stats(this.#clock()).redeemedTokens,
    });
  }

  #eval(script: string, args: string[]): Promise<unknown> {
    return this.#redis.eval(script, { keys: [], arguments: [this.#prefix, ...args] });
  }

  /** One call, after the calls before it on this instance. */
  #call<T>(ids: string[], run: (core: SessionCore, now: number) => T): Promise<T> {
    const next = this.#queue.then(() => this.#attempts(ids, run));
    this.#queue = next.catch(() => {});
    return next;
  }

  async #attempts<T>(ids: string[], run: (core: SessionCore, now: number) => T): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.#attempt(ids, run);
      if (outcome !== CONFLICT) return outcome;
      if (attempt >= 16) throw SessionError.storageFailed(new Error('the record kept changing under this call'));
    }
  }

  /** Fetch, adopt, run, commit (see the module). */
  async #attempt<T>(ids: string[], run: (core: SessionCore, now: number) => T): Promise<T | typeof CONFLICT> {
    const core = this.#core;
    let fetched: string[];
    try {
      fetched = ids.length === 0 ? [] : ((await this.#eval(FETCH, ids)) as string[]);
    } catch (error) {
      throw SessionError.storageFailed(error);
    }
    const seen: Fetched = { revs: new Map(), live: new Set() };
    const live: unknown[] = [];
    const ended: unknown[] = [];
    ids.forEach((id, i) => {
      seen.revs.set(id, fetched[2 * i] ?? '0');
      const doc = fetched[2 * i + 1];
      if (!doc) return;
      const parsed = JSON.parse(doc) as { sessions: unknown[]; ended: unknown[] };
      if (parsed.sessions.length > 0) seen.live.add(id);
      live.push(...parsed.sessions);
      ended.push(...parsed.ended);
    });
    const now = this.#clock();
    const held = new Set(ids);
    try {
      core.adopt(ids, oneRecordDoc(now, live, ended), now);
      let result: T;
      try {
        result = run(core, now);
      } catch (error) {
        // What was due ended on the way (an expiry): written like any change.
        if (core.journalPending() && (await this.#commit(core, seen, held, now)) === CONFLICT) return CONFLICT;
        throw error;
      }
      let written = new Set<string>();
      if (core.journalPending()) {
        const outcome = await this.#commit(core, seen, held, now);
        if (outcome === CONFLICT) return CONFLICT;
        written = outcome;
      }
      this.#touch(core, seen, written, now);
      for (const event of core.drainEvents()) this.#deliver(event);
      return result;
    } finally {
      core.activityCommit();
      core.drainEvents();
      core.release([...held]);
    }
  }

  /** Writes the journal and commits it; or reverts it, and answers CONFLICT or
   * throws why not. Answers the IDs written. */
  async #commit(core: SessionCore, seen: Fetched, held: Set<string>, now: number): Promise<Set<string> | typeof CONFLICT> {
    const doc = JSON.parse(core.journalExport(now)) as ExportDoc;
    const records: string[] = [];
    const written = new Set<string>();
    const add = (id: string, principal: string | null | undefined, isLive: boolean, deadline: number, one: string) => {
      held.add(id);
      written.add(id);
      const was = seen.live.has(id) ? '1' : '0';
      records.push(id, seen.revs.get(id) ?? '0', principalKey(principal), was, isLive ? '1' : '0', String(deadline), one);
    };
    for (const s of doc.sessions) add(s.id, s.principal, true, s.expiresAt ?? now, oneRecordDoc(doc.takenAt, [s], []));
    for (const e of doc.ended) add(e.session.id, e.session.principal, false, 0, oneRecordDoc(doc.takenAt, [], [e]));
    const tokens = (doc.redeemed ?? []).flatMap((t) => [t.id, String(t.expiresAt)]);
    const { maxHandles, maxPer, retention } = this.#limits;
    const args = [String(now), String(maxHandles), String(maxPer), String(retention), String(records.length / 7)];
    let answer: [string, string?];
    try {
      answer = (await this.#eval(COMMIT, [...args, ...records, ...tokens])) as [string, string?];
    } catch (error) {
      core.journalRevert();
      throw SessionError.storageFailed(error);
    }
    if (answer[0] === 'ok') {
      core.journalCommit();
      return written;
    }
    core.journalRevert();
    if (answer[0] === 'conflict') return CONFLICT;
    if (answer[0] === 'replayed') throw refusedReplay();
    throw SessionError.handleLimitExceeded(Number(answer[1]), await this.#retryAfter(now));
  }

  /** Until the next handle ends fleet-wide (room may free up then). */
  async #retryAfter(now: number): Promise<number> {
    const [, first] = (await this.#eval(DUE, [String(now), '0'])) as [string[], string];
    return first === '' ? this.#limits.idle : Math.max(1, Number(first) - now);
  }

  /** A read moved idle deadlines: written without waiting (see the module). A
   * record this call committed already carries its activity. */
  #touch(core: SessionCore, seen: Fetched, written: Set<string>, now: number): void {
    const text = core.activityExport(now);
    if (text === undefined) return;
    const doc = JSON.parse(text) as ExportDoc;
    const args: string[] = [];
    for (const s of doc.sessions) {
      const rev = seen.revs.get(s.id);
      if (rev === undefined || written.has(s.id)) continue;
      args.push(s.id, rev, String(s.expiresAt ?? now), oneRecordDoc(doc.takenAt, [s], []));
    }
    if (args.length > 0) this.#eval(TOUCH, args).catch((error: unknown) => this.#onError(SessionError.storageFailed(error)));
  }

  #deliver(event: CoreEvent): void {
    try {
      this.#onEvent(event);
    } catch (error) {
      this.#onError(error);
    }
  }
}

/** What a fetch saw: each record's revision, and which were live. */
interface Fetched {
  revs: Map<string, string>;
  live: Set<string>;
}

const CONFLICT = Symbol('conflict');

function refusedReplay(): Error {
  const error = new Error('replayed');
  error.name = 'RequestStateRefusal';
  return error;
}
