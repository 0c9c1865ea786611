/**
 * The engine under `RedisSessions` and `RedisHandleStore`: records shared by
 * several instances through one Redis, every decision still made by each
 * instance's Rust core.
 *
 * A call runs in three steps:
 *
 * 1. **fetch** (one round trip): the records the call is about, each with its
 *    revision and its latest activity;
 * 2. the core `adopt`s them in place of any copy it held and runs the call as
 *    ever (principal check, expiry, the gate, compare-and-set on the state
 *    version, merge patch, size limits), journaling what it changed;
 * 3. **commit** (one round trip, only if something durable changed): one script
 *    writes every changed record if, and only if, each still has the revision the
 *    fetch saw, no token of the batch was redeemed already, and no new record
 *    passes the fleet-wide caps; it moves deadlines in sorted sets (one per kind)
 *    and members in per-principal sets, and publishes the IDs that ended. On a
 *    revision conflict the core's journal is reverted and the call runs again
 *    from a fresh fetch; on a cap it fails with the core's limit error; if Redis
 *    fails, with `STORAGE_FAILED`, and nothing is half-written.
 *
 * The copies are then released, so a stale one never answers, except the
 * sessions with requests in flight here (pinned): their requests are this
 * instance's own fact, kept through later adopts. While a session is pinned a
 * lease renews its idle deadline in Redis, so no instance expires a session that
 * is busy elsewhere; if this instance dies, the lease lapses and the session
 * idles out as usual.
 *
 * A pinned session's copy also serves the calls made *within* its requests (a
 * tool reading or changing the session's state, the request's end) without a
 * fetch: it is as fresh as the request's own gate, or this instance's last write.
 * A change is still committed with the revision that copy was fetched at, so an
 * update made meanwhile elsewhere is a conflict, then a fresh fetch and a retry:
 * no update is lost. So a request that changes nothing durable costs one round
 * trip (the gate's fetch) and a state change two (and the commit).
 *
 * Activity (a request moves the idle deadline) is a *touch*: the latest activity
 * and the later deadline, never conflicting, collected and written in one batch
 * every `activityFlushMs` (a deadline in Redis may lag by that much).
 *
 * The scripts guard atomicity only: they compare revisions, count, and store
 * what the core exported. Calls of one instance run one at a time (one core, one
 * journal).
 */
import type { CoreConfig, CoreEvent } from '../../generated/mcp_session_core';
import { SessionCore } from '../core';
import { SessionError } from '../errors';

/** What this package needs of a Redis client: node-redis's `eval` (v4 and later). */
export interface RedisEval {
  eval(script: string, options: { keys?: string[]; arguments?: string[] }): Promise<unknown>;
}

/** A subscriber connection (node-redis: `client.duplicate()`, connected). */
export interface RedisSubscriber {
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  unsubscribe(channel?: string, listener?: (message: string) => void): Promise<unknown>;
}

export interface RedisSharedOptions {
  /** A connected node-redis client. Recommended: `disableOfflineQueue: true` (calls
   * fail at once while Redis is away) and a `reconnectStrategy` that keeps trying
   * (they recover when it is back). */
  redis: RedisEval;
  /** A second, connected client for pub/sub: ended sessions' transports are then
   * closed on whichever instance holds them. */
  subscriber?: RedisSubscriber;
  /** The key prefix, so several servers can share one Redis. Default `mcp:`. */
  prefix?: string;
  /** The core's configuration: the same on every instance. The caps are counted
   * fleet-wide; at `maxSessions` a new session is refused (no eviction). */
  config?: Partial<CoreConfig>;
  /** The clock (ms since the epoch). Default `Date.now`. */
  clock?: () => number;
  /** Where what fails outside a call goes (a touch, a lease, a sweep). */
  onError?: (error: unknown) => void;
  /** How often the activity of the calls since the last batch is written, in ms
   * (default 100). */
  activityFlushMs?: number;
  /** Predictable IDs, for tests only. */
  insecureSeed?: number;
}

type Kind = 's' | 'h';

interface RecordJson {
  id: string;
  principal?: string | null;
  expiresAt?: number | null;
  lastActivity: number;
  kind?: string;
}

interface ExportDoc {
  takenAt: number;
  sessions: RecordJson[];
  ended: { session: RecordJson }[];
  redeemed?: { expiresAt: number; id: string }[];
}

/** What a fetch saw: each record's revision, and which were live. */
interface Fetched {
  revs: Map<string, string>;
  live: Set<string>;
}

/** A pinned session's copy: the revision it is at, and whether it is live. */
interface Cached {
  rev: string;
  live: boolean;
}

/** Every write, checked first: revisions, then redeemed tokens, then the caps.
 * ARGV: prefix, now, max sessions, per principal (0: none), max handles, per
 * principal, retention ms, record count; per record: id, expected revision, kind,
 * principal key, was live, is live, deadline, one-record document; per token: id,
 * expires at. */
const COMMIT = `
local p = ARGV[1]
local caps = { s = { tonumber(ARGV[3]), tonumber(ARGV[4]) }, h = { tonumber(ARGV[5]), tonumber(ARGV[6]) } }
local keep, n, base = tonumber(ARGV[7]), tonumber(ARGV[8]), 9
for i = 0, n - 1 do
  local at = base + i * 8
  local rev = redis.call('HGET', p .. 'r:' .. ARGV[at], 'rev') or '0'
  if rev ~= ARGV[at + 1] then return {'conflict', ARGV[at]} end
end
local tokens = base + n * 8
for t = tokens, #ARGV, 2 do
  if redis.call('EXISTS', p .. 't:' .. ARGV[t]) == 1 then return {'replayed', ARGV[t]} end
end
local adds, perAdds = { s = 0, h = 0 }, {}
for i = 0, n - 1 do
  local at = base + i * 8
  local k, who = ARGV[at + 2], ARGV[at + 3]
  local d = tonumber(ARGV[at + 5]) - tonumber(ARGV[at + 4])
  adds[k] = adds[k] + d
  perAdds[k .. ':' .. who] = (perAdds[k .. ':' .. who] or 0) + d
end
for k, d in pairs(adds) do
  if d > 0 and tonumber(redis.call('GET', p .. 'live:' .. k) or '0') + d > caps[k][1] then
    return {'cap', k, 'all', tostring(caps[k][1])}
  end
end
for key, d in pairs(perAdds) do
  local k = string.sub(key, 1, 1)
  if d > 0 and caps[k][2] > 0 and redis.call('SCARD', p .. 'by:' .. key) + d > caps[k][2] then
    return {'cap', k, 'per', tostring(caps[k][2])}
  end
end
for i = 0, n - 1 do
  local at = base + i * 8
  local id, k, who = ARGV[at], ARGV[at + 2], ARGV[at + 3]
  local key = p .. 'r:' .. id
  redis.call('HSET', key, 'doc', ARGV[at + 7])
  redis.call('HINCRBY', key, 'rev', 1)
  if ARGV[at + 5] == '1' then
    redis.call('PERSIST', key)
    redis.call('ZADD', p .. 'due:' .. k, ARGV[at + 6], id)
    redis.call('SADD', p .. 'by:' .. k .. ':' .. who, id)
  else
    redis.call('PEXPIRE', key, keep)
    redis.call('ZREM', p .. 'due:' .. k, id)
    redis.call('SREM', p .. 'by:' .. k .. ':' .. who, id)
    if ARGV[at + 4] == '1' then redis.call('PUBLISH', p .. 'ended', id) end
  end
end
for k, d in pairs(adds) do
  if d ~= 0 then redis.call('INCRBY', p .. 'live:' .. k, d) end
end
for t = tokens, #ARGV, 2 do
  redis.call('SET', p .. 't:' .. ARGV[t], '1', 'PXAT', ARGV[t + 1])
end
return {'ok'}
`;

/** ARGV: prefix, then IDs. Each record's revision, document ('' when absent) and
 * latest activity ('' when none was touched since its last write). */
const FETCH = `
local out = {}
for i = 2, #ARGV do
  local v = redis.call('HMGET', ARGV[1] .. 'r:' .. ARGV[i], 'rev', 'doc', 'act')
  out[#out + 1] = v[1] or '0'
  out[#out + 1] = v[2] or ''
  out[#out + 1] = v[3] or ''
end
return out
`;

/** ARGV: prefix, then per record: id, kind, activity, deadline. A live record
 * takes the later activity and the later deadline; an ended one nothing. */
const TOUCH = `
for i = 2, #ARGV, 4 do
  local due = ARGV[1] .. 'due:' .. ARGV[i + 1]
  if redis.call('ZSCORE', due, ARGV[i]) then
    local key = ARGV[1] .. 'r:' .. ARGV[i]
    local act = tonumber(redis.call('HGET', key, 'act') or '0')
    if tonumber(ARGV[i + 2]) > act then redis.call('HSET', key, 'act', ARGV[i + 2]) end
    redis.call('ZADD', due, 'GT', ARGV[i + 3], ARGV[i])
  end
end
return 1
`;

/** ARGV: prefix, set key. The members of one per-principal set. */
const MEMBERS = `return redis.call('SMEMBERS', ARGV[1] .. 'by:' .. ARGV[2])`;

/** ARGV: prefix, now, limit. The IDs due of both kinds, earliest first. */
const DUE = `
local out = {}
for _, k in ipairs({'s', 'h'}) do
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', ARGV[1] .. 'due:' .. k, '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))) do
    out[#out + 1] = id
  end
end
return out
`;

/** ARGV: prefix, kind. The earliest deadline of that kind ('' when none). */
const EARLIEST = `
local first = redis.call('ZRANGE', ARGV[1] .. 'due:' .. ARGV[2], 0, 0, 'WITHSCORES')
return first[2] or ''
`;

/** ARGV: prefix, channel, message. */
const PUBLISH = `return redis.call('PUBLISH', ARGV[1] .. ARGV[2], ARGV[3])`;

/** ARGV: prefix. Live sessions and handles, fleet-wide. */
const COUNTS = `return {redis.call('GET', ARGV[1] .. 'live:s') or '0', redis.call('GET', ARGV[1] .. 'live:h') or '0'}`;

/** A principal in key names: anonymous records count together, as one. */
const who = (principal: string | null | undefined): string => (principal == null ? '~' : `=${principal}`);

const kindOf = (record: RecordJson): Kind => (record.kind === 'handle' ? 'h' : 's');

function recordDoc(takenAt: number, live: unknown[], ended: unknown[]): string {
  return JSON.stringify({ format: 'mcp-session-core/snapshot', version: 1, takenAt, sessions: live, ended });
}

const CONFLICT = Symbol('conflict');

/** The requests a call starts or ends here (see `RedisShared.pin`). */
export interface Requests<T> {
  pin?: (result: T) => string | undefined;
  unpin?: string;
  refresh?: boolean;
}

/** See the module's comment. */
export class RedisShared {
  readonly #redis: RedisEval;
  readonly #subscriber: RedisSubscriber | undefined;
  readonly #prefix: string;
  readonly #clock: () => number;
  readonly #onError: (error: unknown) => void;
  readonly #listeners = new Set<(event: CoreEvent) => void>();
  readonly #endedListeners = new Set<(id: string) => void>();
  /** Sessions with requests in flight here, and how many. */
  readonly #pinned = new Map<string, number>();
  /** The revision of each pinned session's copy (see the module). */
  readonly #cached = new Map<string, Cached>();
  /** Activity not yet written: id -> touch arguments (kind, activity, deadline). */
  readonly #activity = new Map<string, [Kind, number, number]>();
  readonly #flushMs: number;
  #flush: NodeJS.Timeout | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #lease: NodeJS.Timeout | undefined;
  #subscribed: Promise<unknown> | undefined;
  readonly core: SessionCore;
  readonly config: Required<CoreConfig>;

  constructor(options: RedisSharedOptions) {
    this.#redis = options.redis;
    this.#subscriber = options.subscriber;
    this.#prefix = options.prefix ?? 'mcp:';
    this.#clock = options.clock ?? Date.now;
    this.#onError = options.onError ?? ((error) => process.emitWarning(error instanceof Error ? error : String(error)));
    this.core = new SessionCore(options.config ?? {}, { insecureSeed: options.insecureSeed });
    this.core.setJournaling(true);
    this.config = this.core.config();
    this.#flushMs = options.activityFlushMs ?? 100;
  }

  now(): number {
    return this.#clock();
  }

  /** Hears every event a committed call made (once each across the fleet). */
  onEvent(listener: (event: CoreEvent) => void): void {
    this.#listeners.add(listener);
  }

  /** Hears the ID of every record that ended anywhere in the fleet (needs the
   * subscriber): an instance closes the transport it holds for it. Resolves once
   * subscribed; a failure to subscribe goes to `onError`. */
  onEnded(listener: (id: string) => void): Promise<unknown> {
    this.#endedListeners.add(listener);
    this.#subscribed ??= this.#subscriber
      ?.subscribe(`${this.#prefix}ended`, (id) => {
        for (const l of this.#endedListeners) {
          try {
            l(id);
          } catch (error) {
            this.#onError(error);
          }
        }
      })
      .catch((error: unknown) => this.#onError(error));
    return this.#subscribed ?? Promise.resolve();
  }

  /** Sends `message` to whoever listens on `channel` (under the prefix), on any
   * instance. */
  publish(channel: string, message: string): Promise<unknown> {
    return this.eval(PUBLISH, [channel, message]);
  }

  /** Listens on `channel` (under the prefix) until the returned function is
   * called; nothing without a subscriber. A listener that throws goes to `onError`. */
  async listen(channel: string, listener: (message: string) => void): Promise<() => void> {
    const subscriber = this.#subscriber;
    if (subscriber === undefined) return () => {};
    const name = `${this.#prefix}${channel}`;
    const guarded = (message: string) => {
      try {
        listener(message);
      } catch (error) {
        this.#onError(error);
      }
    };
    await subscriber.subscribe(name, guarded);
    return () => void subscriber.unsubscribe(name, guarded).catch((error: unknown) => this.#onError(error));
  }

  eval(script: string, args: string[]): Promise<unknown> {
    return this.#redis.eval(script, { keys: [], arguments: [this.#prefix, ...args] });
  }

  /** The IDs in one per-principal set. */
  members(kind: Kind, principal: string | null | undefined): Promise<string[]> {
    return this.eval(MEMBERS, [`${kind}:${who(principal)}`]) as Promise<string[]>;
  }

  /** Live sessions and handles, fleet-wide. */
  async counts(): Promise<{ sessions: number; handles: number }> {
    const [s, h] = (await this.eval(COUNTS, [])) as [string, string];
    return { sessions: Number(s), handles: Number(h) };
  }

  /** One call about `ids`, after the calls before it on this instance. `pin`:
   * the session whose request the result admitted; `unpin`: the session whose
   * request this call ends (see `pin`); `refresh`: fetch even a pinned copy (the
   * gate of a new request). */
  call<T>(ids: string[], run: (core: SessionCore, now: number) => T, requests: Requests<T> = {}): Promise<T> {
    const next = this.#queue.then(() => this.#attempts(ids, run, requests));
    this.#queue = next.catch(() => {});
    return next;
  }

  /** A request of session `id` is in flight here from now on (its copy is kept
   * and its lease renewed until `unpin`). */
  pin(id: string): void {
    this.#pinned.set(id, (this.#pinned.get(id) ?? 0) + 1);
    if (this.#lease === undefined) {
      const every = Math.max(50, Math.min(10_000, Math.floor(this.config.idleTimeoutMs / 3)));
      this.#lease = setInterval(() => this.#renewLeases(), every);
      this.#lease.unref();
    }
  }

  /** One request of `id` is done here. */
  unpin(id: string): void {
    const n = (this.#pinned.get(id) ?? 1) - 1;
    if (n > 0) {
      this.#pinned.set(id, n);
      return;
    }
    this.#pinned.delete(id);
    this.#cached.delete(id);
    if (this.#pinned.size === 0 && this.#lease !== undefined) {
      clearInterval(this.#lease);
      this.#lease = undefined;
    }
  }

  /** Ends what is due fleet-wide (at most `limit` of each kind): each record on
   * exactly one instance, the one whose commit wins. Answers how many ended here. */
  async sweep(limit = 100): Promise<number> {
    const due = (await this.eval(DUE, [String(this.#clock()), String(limit)])) as string[];
    let ended = 0;
    for (const id of due) {
      try {
        ended += await this.call([id], (core, now) => {
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

  close(): void {
    if (this.#lease !== undefined) clearInterval(this.#lease);
    this.#lease = undefined;
    if (this.#flush !== undefined) clearTimeout(this.#flush);
    this.#writeActivity();
    void this.#subscriber?.unsubscribe(`${this.#prefix}ended`).catch(() => {});
  }

  async #attempts<T>(ids: string[], run: (core: SessionCore, now: number) => T, requests: Requests<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.#attempt(ids, run, requests);
      if (outcome !== CONFLICT) return outcome;
      if (attempt >= 32) throw SessionError.storageFailed(new Error('the record kept changing under this call'));
    }
  }

  /** Fetch, adopt, run, commit (see the module). */
  async #attempt<T>(
    ids: string[],
    run: (core: SessionCore, now: number) => T,
    requests: Requests<T>,
  ): Promise<T | typeof CONFLICT> {
    const core = this.core;
    const seen: Fetched = { revs: new Map(), live: new Set() };
    // A pinned copy serves the calls within its requests (see the module).
    const toFetch = ids.filter((id) => {
      const cached = requests.refresh ? undefined : this.#cached.get(id);
      if (cached === undefined) return true;
      seen.revs.set(id, cached.rev);
      if (cached.live) seen.live.add(id);
      return false;
    });
    let fetched: string[];
    try {
      fetched = toFetch.length === 0 ? [] : ((await this.eval(FETCH, toFetch)) as string[]);
    } catch (error) {
      throw SessionError.storageFailed(error);
    }
    const live: RecordJson[] = [];
    const ended: unknown[] = [];
    toFetch.forEach((id, i) => {
      seen.revs.set(id, fetched[3 * i] ?? '0');
      const doc = fetched[3 * i + 1];
      if (!doc) return;
      const parsed = JSON.parse(doc) as { sessions: RecordJson[]; ended: unknown[] };
      const act = Number(fetched[3 * i + 2] || 0);
      for (const record of parsed.sessions) {
        seen.live.add(id);
        // A touch since the last write: the latest activity wins.
        if (act > record.lastActivity) record.lastActivity = act;
        live.push(record);
      }
      ended.push(...parsed.ended);
    });
    const now = this.#clock();
    const held = new Set(ids);
    let again = false;
    try {
      if (toFetch.length > 0) core.adopt(toFetch, recordDoc(now, live, ended), now);
      let result: T;
      try {
        result = run(core, now);
      } catch (error) {
        // What was due ended on the way (an expiry): written like any change.
        if (core.journalPending() && (await this.#commit(core, seen, held, now)) === CONFLICT) {
          again = true;
          return CONFLICT;
        }
        this.#remember(seen, toFetch, new Map());
        throw error;
      }
      let written = new Map<string, boolean>();
      if (core.journalPending()) {
        const outcome = await this.#commit(core, seen, held, now);
        if (outcome === CONFLICT) {
          again = true;
          return CONFLICT;
        }
        written = outcome;
      }
      this.#touch(core, written, now);
      for (const event of core.drainEvents()) this.#deliver(event);
      const admitted = requests.pin?.(result);
      if (admitted !== undefined) this.pin(admitted);
      this.#remember(seen, toFetch, written);
      return result;
    } finally {
      // A conflict: the copies were stale; the next attempt fetches them all.
      if (again) for (const id of ids) this.#cached.delete(id);
      if (!again && requests.unpin !== undefined) this.unpin(requests.unpin);
      core.activityCommit();
      core.drainEvents();
      core.release([...held].filter((id) => !this.#pinned.has(id)));
    }
  }

  /** Notes the revision of the pinned copies this call fetched or wrote (a write
   * moved the revision on by one). */
  #remember(seen: Fetched, fetched: string[], written: Map<string, boolean>): void {
    for (const id of new Set([...fetched, ...written.keys()])) {
      if (!this.#pinned.has(id)) continue;
      const rev = Number(seen.revs.get(id) ?? '0') + (written.has(id) ? 1 : 0);
      this.#cached.set(id, { rev: String(rev), live: written.get(id) ?? seen.live.has(id) });
    }
  }

  /** Writes the journal and commits it; or reverts it, and answers CONFLICT or
   * throws why not. Answers the IDs written. */
  async #commit(
    core: SessionCore,
    seen: Fetched,
    held: Set<string>,
    now: number,
  ): Promise<Map<string, boolean> | typeof CONFLICT> {
    const doc = JSON.parse(core.journalExport(now)) as ExportDoc;
    const records: string[] = [];
    const written = new Map<string, boolean>();
    const add = (record: RecordJson, isLive: boolean, deadline: number, one: string) => {
      const { id } = record;
      held.add(id);
      written.set(id, isLive);
      const kind = kindOf(record);
      const was = seen.live.has(id) ? '1' : '0';
      records.push(id, seen.revs.get(id) ?? '0', kind, who(record.principal), was, isLive ? '1' : '0', String(deadline), one);
    };
    for (const s of doc.sessions) add(s, true, s.expiresAt ?? now, recordDoc(doc.takenAt, [s], []));
    for (const e of doc.ended) add(e.session, false, 0, recordDoc(doc.takenAt, [], [e]));
    const tokens = (doc.redeemed ?? []).flatMap((t) => [t.id, String(t.expiresAt)]);
    const c = this.config;
    const args = [
      String(now),
      String(c.maxSessions),
      String(c.maxSessionsPerPrincipal ?? 0),
      String(c.maxHandles),
      String(c.maxHandlesPerPrincipal ?? 0),
      String(c.endedRetentionMs),
      String(records.length / 8),
    ];
    let answer: string[];
    try {
      answer = (await this.eval(COMMIT, [...args, ...records, ...tokens])) as string[];
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
    if (answer[0] === 'replayed') {
      const error = new Error('replayed');
      error.name = 'RequestStateRefusal';
      throw error;
    }
    const [, kind, scope, limit] = answer as [string, Kind, 'all' | 'per', string];
    throw SessionError.limitExceeded(
      kind === 'h' ? 'handles' : scope === 'per' ? 'principal' : 'sessions',
      Number(limit),
      await this.#retryAfter(kind, now),
    );
  }

  /** Until the next record of `kind` ends fleet-wide (room may free up then). */
  async #retryAfter(kind: Kind, now: number): Promise<number> {
    const first = (await this.eval(EARLIEST, [kind])) as string;
    const idle = kind === 'h' ? this.config.handleIdleTimeoutMs : this.config.idleTimeoutMs;
    return first === '' ? idle : Math.max(1, Number(first) - now);
  }

  /** Activity moved idle deadlines: kept for the next batch (see the module). A
   * record this call committed already carries its activity. */
  #touch(core: SessionCore, written: Map<string, boolean>, now: number): void {
    const text = core.activityExport(now);
    if (text === undefined) return;
    const doc = JSON.parse(text) as ExportDoc;
    for (const s of doc.sessions) {
      if (!written.has(s.id)) this.#noteActivity(s, now);
    }
  }

  #noteActivity(record: RecordJson, now: number): void {
    const before = this.#activity.get(record.id);
    const act = Math.max(before?.[1] ?? 0, record.lastActivity);
    const due = Math.max(before?.[2] ?? 0, record.expiresAt ?? now);
    this.#activity.set(record.id, [kindOf(record), act, due]);
    this.#flush ??= setTimeout(() => this.#writeActivity(), this.#flushMs).unref();
  }

  /** One touch for every record used since the last batch. */
  #writeActivity(): void {
    this.#flush = undefined;
    const args = [...this.#activity].flatMap(([id, [kind, act, due]]) => [id, kind, String(act), String(due)]);
    this.#activity.clear();
    this.#send(TOUCH, args);
  }

  /** The leases of the sessions busy here: their activity is now (see the module). */
  #renewLeases(): void {
    const ids = [...this.#pinned.keys()];
    if (ids.length === 0) return;
    const now = this.#clock();
    let doc: ExportDoc;
    try {
      doc = JSON.parse(this.core.export(ids, now)) as ExportDoc;
    } catch (error) {
      this.#onError(error);
      return;
    }
    for (const record of doc.sessions) this.#noteActivity(record, now);
  }

  #send(script: string, args: string[]): void {
    if (args.length === 0) return;
    this.eval(script, args).catch((error: unknown) => this.#onError(SessionError.storageFailed(error)));
  }

  #deliver(event: CoreEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#onError(error);
      }
    }
  }
}
