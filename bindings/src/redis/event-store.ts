/**
 * Resumability (`Last-Event-ID`, 2025-era sessions) through Redis Streams, so a
 * client whose SSE stream broke can resume on whichever instance the balancer
 * sends it to.
 *
 * One store per session, like `SessionEventStore`: every SSE stream of the
 * session shares one Redis stream, `<prefix>ev:<sessionId>`; each entry holds the
 * SDK stream it belongs to (`s`) and the JSON message (`m`). The key is bounded
 * by `XADD … MAXLEN ~ maxEvents` and expires `ttlMs` after its last write, so an
 * ended session's events do not stay in Redis for ever.
 *
 * **Event IDs** are `<tag>.<writer>-<n>`: `tag` is the first 16 characters of the
 * base64url SHA-256 of the session ID (so an ID says which session it was issued
 * in without showing the session ID in logs), `writer` is random per store object
 * and `n` counts its events. The ID is made here, so `storeEvent` answers at once
 * and the write goes out behind it, never on the response's path: the SDK awaits
 * `storeEvent` before it writes each SSE event, and a round trip there would be
 * one more per response. One connection sends one store's writes in order, so the
 * entries of a stream are in order. Each entry holds its ID (`e`); any instance
 * finds it by a scan of the session's (bounded) stream in one script, and the SDK
 * stream it belongs to is read from the entry, never recovered by splitting an ID.
 * The tag is checked before Redis is asked, so an ID from another session replays
 * nothing.
 *
 * **What replays**, as `SessionEventStore`: the events of the same SDK stream
 * written after the given one, in order. An ID that is not this session's, is
 * malformed, or whose entry was trimmed away (`MAXLEN`) or expired replays
 * nothing: `getStreamIdForEventId` answers `undefined` (the SDK answers 400) and
 * `replayEventsAfter` answers `''`. Resuming after a gap would hand the client a
 * stream with events silently missing; refusing tells it to start over.
 *
 * **Redis failing**: a read (resume) rejects, the SDK catches it and answers that
 * one GET with a 500; the transport lives on. A failed write does not fail the
 * message: it has gone out on the live stream already; only its resumability is
 * lost, and the error goes to `onError`. A resume that races the write of the
 * events just before it (another instance, within a round trip) may not see them.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { createClient } from 'redis';
import type { RedisEval } from './shared';

export interface RedisEventStoreOptions {
  /** A connected node-redis client (`createClient({ url }).connect()`); shared
   * by every session's store. */
  redis: RedisEval;
  /** The session whose events this store holds. */
  sessionId: string;
  /** The key prefix, so several servers can share one Redis. Default `mcp:`. */
  prefix?: string;
  /** Events kept for the session, over all its streams (`MAXLEN ~`: Redis trims
   * whole blocks, so up to about 100 more are kept). Default 1,000. */
  maxEvents?: number;
  /** The key expires this long after its last write. Keep it at least the
   * session idle timeout. Default 30 minutes (the core's default idle timeout). */
  ttlMs?: number;
  /** Where a write that failed goes (the message is still sent live). Default:
   * `process.emitWarning`. */
  onError?: (error: unknown) => void;
}

/** What `replayEventsAfter` hands each event to (the SDK's writer). A method, so
 * the SDK's `send` typed for its `JSONRPCMessage` is accepted as is. */
export interface ReplaySink {
  send(eventId: string, message: object): Promise<void>;
}

/** KEYS: the session's stream. ARGV: max events, SDK stream ID, message JSON, ttl.
 * Adds and renews the expiry in one round trip, atomically: a key never exists
 * without its expiry. */
const STORE = `
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[5], 's', ARGV[2], 'm', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`;

/** KEYS: the session's stream. ARGV: an event ID. The SDK stream of that event
 * and the events of the same stream after it: {stream, id, message, id, message,
 * …}; {} when the event is not there (never was, trimmed, expired). */
const AFTER = `
local entries = redis.call('XRANGE', KEYS[1], '-', '+')
local out, stream = {}, nil
for _, entry in ipairs(entries) do
  local f, e, s, m = entry[2], nil, nil, nil
  for i = 1, #f, 2 do
    if f[i] == 'e' then e = f[i + 1] elseif f[i] == 's' then s = f[i + 1] elseif f[i] == 'm' then m = f[i + 1] end
  end
  if stream == nil then
    if e == ARGV[1] then stream = s; out[1] = s end
  elseif s == stream then
    out[#out + 1] = e
    out[#out + 1] = m
  end
end
return out
`;

const LOCAL_ID = /^[A-Za-z0-9_-]{1,32}-\d{1,15}$/;

export class RedisEventStore {
  readonly #redis: RedisEval;
  readonly #key: string;
  readonly #tag: string;
  readonly #maxEvents: number;
  readonly #ttlMs: number;
  readonly #onError: (error: unknown) => void;
  /** This store object's part of its event IDs, and how many it has made. */
  readonly #writer = randomBytes(9).toString('base64url');
  #written = 0;
  /** The last write sent: one connection answers in order, so when it is done,
   * every earlier one is. */
  #last: Promise<unknown> = Promise.resolve();

  constructor(options: RedisEventStoreOptions) {
    if (typeof options.sessionId !== 'string' || options.sessionId === '') {
      throw new TypeError('RedisEventStore: sessionId must be a non-empty string');
    }
    this.#maxEvents = positiveInteger(options.maxEvents ?? 1_000, 'maxEvents');
    this.#ttlMs = positiveInteger(options.ttlMs ?? 30 * 60_000, 'ttlMs');
    this.#redis = options.redis;
    this.#key = `${options.prefix ?? 'mcp:'}ev:${options.sessionId}`;
    this.#tag = createHash('sha256')
      .update(`mcp-session-core/event-store\0${options.sessionId}`)
      .digest('base64url')
      .slice(0, 16);
    this.#onError = options.onError ?? ((error) => process.emitWarning(error instanceof Error ? error : String(error)));
  }

  /** The Redis key holding this session's events. */
  get key(): string {
    return this.#key;
  }

  /** Answers the event's ID at once; the write goes out behind it (see the module). */
  async storeEvent(streamId: string, message: object): Promise<string> {
    const id = `${this.#writer}-${++this.#written}`;
    const args = [String(this.#maxEvents), streamId, JSON.stringify(message), String(this.#ttlMs), id];
    this.#last = this.#redis.eval(STORE, { keys: [this.#key], arguments: args }).catch((error: unknown) => this.#onError(error));
    return `${this.#tag}.${id}`;
  }

  /** Resolves once every event stored so far is written (or its failure
   * reported): before a host closes the connection, and in tests. */
  async written(): Promise<void> {
    await this.#last;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    const after = await this.#after(eventId);
    return after[0];
  }

  async replayEventsAfter(lastEventId: string, { send }: ReplaySink): Promise<string> {
    // The given event must still be there (else it was trimmed or expired, and
    // what follows has a gap), and is not sent again.
    const [streamId, ...rest] = await this.#after(lastEventId);
    if (streamId === undefined) return '';
    for (let i = 0; i + 1 < rest.length; i += 2) {
      let message: unknown;
      try {
        message = JSON.parse(rest[i + 1] ?? '');
      } catch (error) {
        this.#onError(error);
        continue;
      }
      if (typeof message === 'object' && message !== null) await send(`${this.#tag}.${rest[i]}`, message);
    }
    return streamId;
  }

  /** Drops the session's events at once (when it ends), rather than at expiry. */
  async clear(): Promise<void> {
    await this.#redis.eval(`return redis.call('DEL', KEYS[1])`, { keys: [this.#key], arguments: [] });
  }

  /** The stream of the event `eventId` names and what followed it (see `AFTER`);
   * nothing for an ID that is not this session's or is malformed. */
  async #after(eventId: string): Promise<string[]> {
    if (typeof eventId !== 'string') return [];
    const dot = eventId.indexOf('.');
    if (dot < 0 || eventId.slice(0, dot) !== this.#tag) return [];
    const id = eventId.slice(dot + 1);
    if (!LOCAL_ID.test(id)) return [];
    const reply = await this.#redis.eval(AFTER, { keys: [this.#key], arguments: [id] });
    return Array.isArray(reply) ? (reply as string[]) : [];
  }
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`RedisEventStore: ${name} must be a positive integer`);
  return value;
}

// Compile-time checks, kept out of the published types (which must not need the
// SDK or node-redis): the store is the v1 SDK's `EventStore`, and a node-redis
// client is what it takes.
type Fits<T extends U, U> = T;
type _IsSdkEventStore = Fits<RedisEventStore, EventStore>;
type _TakesNodeRedis = Fits<ReturnType<typeof createClient>, RedisEval>;
