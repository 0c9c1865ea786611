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
 * **Event IDs** are `<tag>.<entry id>`: `tag` is the first 16 characters of the
 * base64url SHA-256 of the session ID (so an ID says which session it was issued
 * in without showing the session ID in logs), the entry ID is the one Redis gave
 * the entry (`<ms>-<seq>`). Any instance holding a store for that session finds
 * the entry with one `XRANGE`, and the stream it belongs to is read from the entry,
 * never recovered by splitting an ID, so no stream name can be mistaken for
 * another. The tag is checked before Redis is asked: entry IDs are only unique
 * per key, so without it an ID from another session could name an entry of this
 * one.
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
 * message: it is still sent on the live stream, under an ID that resumes nothing
 * (`<tag>.unstored`), and the error goes to `onError`. Losing resumability for an
 * event is better than losing the event, or the response it carries.
 */
import { createHash } from 'node:crypto';
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
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 's', ARGV[2], 'm', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return id
`;

/** KEYS: the session's stream. ARGV: first and last entry ID (inclusive). */
const RANGE = `return redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2])`;

const ENTRY_ID = /^\d{1,20}-\d{1,20}$/;

type Entry = [id: string, fields: string[]];

export class RedisEventStore {
  readonly #redis: RedisEval;
  readonly #key: string;
  readonly #tag: string;
  readonly #maxEvents: number;
  readonly #ttlMs: number;
  readonly #onError: (error: unknown) => void;

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

  async storeEvent(streamId: string, message: object): Promise<string> {
    try {
      const json = JSON.stringify(message);
      const args = [String(this.#maxEvents), streamId, json, String(this.#ttlMs)];
      const id = await this.#redis.eval(STORE, { keys: [this.#key], arguments: args });
      if (typeof id !== 'string' || !ENTRY_ID.test(id)) throw new Error(`XADD answered ${String(id)}`);
      return `${this.#tag}.${id}`;
    } catch (error) {
      this.#onError(error);
      return `${this.#tag}.unstored`;
    }
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    const id = this.#entryId(eventId);
    if (id === undefined) return undefined;
    const [entry] = await this.#range(id, id);
    return entry === undefined ? undefined : field(entry, 's');
  }

  async replayEventsAfter(lastEventId: string, { send }: ReplaySink): Promise<string> {
    const id = this.#entryId(lastEventId);
    if (id === undefined) return '';
    // One read from the given entry on: it must still be there (else it was
    // trimmed or expired, and what follows has a gap), and is not sent again.
    const entries = await this.#range(id, '+');
    const first = entries[0];
    const streamId = first === undefined || first[0] !== id ? undefined : field(first, 's');
    if (streamId === undefined) return '';
    for (const entry of entries.slice(1)) {
      if (field(entry, 's') !== streamId) continue;
      const json = field(entry, 'm');
      let message: unknown;
      try {
        message = JSON.parse(json ?? '');
      } catch (error) {
        this.#onError(error);
        continue;
      }
      if (typeof message === 'object' && message !== null) await send(`${this.#tag}.${entry[0]}`, message);
    }
    return streamId;
  }

  /** Drops the session's events at once (when it ends), rather than at expiry. */
  async clear(): Promise<void> {
    await this.#redis.eval(`return redis.call('DEL', KEYS[1])`, { keys: [this.#key], arguments: [] });
  }

  /** The Redis entry an event ID of this session names, or `undefined`. */
  #entryId(eventId: string): string | undefined {
    if (typeof eventId !== 'string') return undefined;
    const dot = eventId.indexOf('.');
    if (dot < 0 || eventId.slice(0, dot) !== this.#tag) return undefined;
    const id = eventId.slice(dot + 1);
    return ENTRY_ID.test(id) ? id : undefined;
  }

  async #range(from: string, to: string): Promise<Entry[]> {
    const reply = await this.#redis.eval(RANGE, { keys: [this.#key], arguments: [from, to] });
    return Array.isArray(reply) ? (reply as Entry[]) : [];
  }
}

function field(entry: Entry, name: string): string | undefined {
  const fields = entry[1];
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
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
