/**
 * The v2 SDK's `ServerEventBus` over Redis pub/sub, so a change event published
 * on one instance (`handler.notify.toolsChanged()`, …) reaches the
 * `subscriptions/listen` streams held by every instance. Give each
 * `createMcpHandler` its bus: `createMcpHandler(factory, { bus })`.
 *
 * - One channel per prefix, `<prefix>events`; each message is JSON,
 *   `{ "v": 1, "from": <bus id>, "event": <ServerEvent> }`.
 * - Listeners of the publishing bus get the event at once, synchronously, as
 *   with the SDK's in-memory bus; the copy that comes back from Redis is
 *   recognised by its `from` and dropped. So every listener gets each event
 *   exactly once, and a process whose Redis is away still serves its own
 *   listeners.
 * - The subscriber connection is `redis.duplicate()` (a subscribed connection can
 *   run no other command), made on the first `subscribe()` (or `ready()`): an
 *   instance that only publishes never opens it. node-redis subscribes again by
 *   itself after a reconnect.
 * - Pub/sub is at most once: an event published while an instance is cut off
 *   from Redis, or before its subscription is in place (`ready()`), does not
 *   reach it. Change notifications say "look again", so a later one makes up
 *   for a lost one.
 * - Nothing a listener throws, nothing malformed on the channel and no Redis
 *   failure escapes: each goes to `onError`.
 */
import { randomUUID } from 'node:crypto';
import type { ServerEventBus } from '@modelcontextprotocol/server';
import type { createClient } from 'redis';

/** A change event for `subscriptions/listen` streams: the v2 SDK's `ServerEvent`. */
export type RedisServerEvent = (
  | { kind: 'tools_list_changed' }
  | { kind: 'prompts_list_changed' }
  | { kind: 'resources_list_changed' }
  | { kind: 'resource_updated'; uri: string }
) & {
  /** Forwarded notification params (the SDK stamps its own subscription ID). */
  params?: { [key: string]: unknown };
};

/** What this module needs of a node-redis client (v5 and later): `publish`, and
 * `duplicate` for the subscriber connection. */
export interface RedisPublisher {
  publish(channel: string, message: string): Promise<unknown>;
  duplicate(): RedisSubscriberConnection;
}

/** The subscriber connection: a node-redis client made by `duplicate()`. */
export interface RedisSubscriberConnection {
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => unknown): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

export interface RedisServerEventBusOptions {
  /** A connected node-redis client; it publishes, and its `duplicate()`
   * subscribes. The bus never closes it. */
  redis: RedisPublisher;
  /** The channel is `<prefix>events`: servers sharing one Redis but not their
   * sessions use different prefixes. Default `mcp:`. */
  prefix?: string;
  /** Where a throwing listener, a malformed message or a Redis failure goes.
   * Default: `process.emitWarning`. */
  onError?: (error: unknown) => void;
}

type Listener = (event: RedisServerEvent) => void;

const KINDS = new Set(['tools_list_changed', 'prompts_list_changed', 'resources_list_changed', 'resource_updated']);

export class RedisServerEventBus {
  readonly #redis: RedisPublisher;
  readonly #channel: string;
  readonly #onError: (error: unknown) => void;
  /** Tells this bus's own messages apart when Redis sends them back. */
  readonly #id = randomUUID();
  readonly #listeners = new Set<Listener>();
  #subscriber: RedisSubscriberConnection | undefined;
  #subscribed: Promise<void> | undefined;
  #closed = false;

  constructor(options: RedisServerEventBusOptions) {
    this.#redis = options.redis;
    this.#channel = `${options.prefix ?? 'mcp:'}events`;
    this.#onError = options.onError ?? ((error) => process.emitWarning(error instanceof Error ? error : String(error)));
  }

  /** The Redis channel the events travel on. */
  get channel(): string {
    return this.#channel;
  }

  /** Delivers to this bus's listeners now, and to every other bus on the channel
   * through Redis. Never throws; after `close()`, does nothing. */
  publish(event: RedisServerEvent): void {
    if (this.#closed) return;
    let message: string | undefined;
    try {
      message = JSON.stringify({ v: 1, from: this.#id, event });
    } catch (error) {
      this.#onError(error);
    }
    if (message !== undefined) {
      try {
        this.#redis.publish(this.#channel, message).catch(this.#onError);
      } catch (error) {
        this.#onError(error);
      }
    }
    this.#deliver(event);
  }

  /** Registers a listener (opening the subscriber connection on first use);
   * returns an idempotent unsubscribe. After `close()`, registers nothing. */
  subscribe(listener: Listener): () => void {
    if (this.#closed) return () => {};
    this.#listeners.add(listener);
    this.#start().catch(() => {}); // reported by #start
    let live = true;
    return () => {
      if (!live) return;
      live = false;
      this.#listeners.delete(listener);
    };
  }

  /** Opens the subscriber connection if need be; resolves once the channel is
   * subscribed, so events published elsewhere from then on arrive here. Rejects
   * if that failed (a later `subscribe()` or `ready()` tries again). */
  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('RedisServerEventBus: closed'));
    return this.#start();
  }

  /** Stops delivery: drops the listeners, unsubscribes and closes the subscriber
   * connection (not the client it was given). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    const subscriber = this.#subscriber;
    const subscribed = this.#subscribed;
    this.#subscriber = undefined;
    this.#subscribed = undefined;
    if (subscriber === undefined) return;
    try {
      await subscribed;
      await subscriber.unsubscribe(this.#channel);
      await subscriber.close();
    } catch {
      // Not connected, or the connection failed: nothing is left to unsubscribe.
      try {
        subscriber.destroy();
      } catch {
        // Already gone.
      }
    }
  }

  #start(): Promise<void> {
    if (this.#subscribed !== undefined) return this.#subscribed;
    const subscriber = this.#redis.duplicate();
    // An 'error' event with no listener would throw in the process.
    subscriber.on('error', (error) => this.#onError(error));
    const subscribed = (async () => {
      await subscriber.connect();
      await subscriber.subscribe(this.#channel, (message) => this.#receive(message));
    })();
    this.#subscriber = subscriber;
    this.#subscribed = subscribed;
    subscribed.catch((error: unknown) => {
      if (this.#subscribed !== subscribed) return; // closed meanwhile
      this.#onError(error);
      this.#subscriber = undefined;
      this.#subscribed = undefined;
      try {
        subscriber.destroy();
      } catch {
        // Never connected.
      }
    });
    return subscribed;
  }

  #receive(raw: string): void {
    if (this.#closed) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      this.#onError(new Error(`RedisServerEventBus: a message on ${this.#channel} is not JSON`));
      return;
    }
    if (!isRecord(parsed) || parsed.v !== 1 || typeof parsed.from !== 'string') {
      this.#onError(new Error(`RedisServerEventBus: a message on ${this.#channel} is not an event`));
      return;
    }
    if (parsed.from === this.#id) return; // delivered here when published
    const event = toEvent(parsed.event);
    if (event === undefined) {
      this.#onError(new Error(`RedisServerEventBus: a message on ${this.#channel} holds no known event`));
      return;
    }
    this.#deliver(event);
  }

  #deliver(event: RedisServerEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#onError(error);
      }
    }
  }
}

function isRecord(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The event a message carries, rebuilt from its known fields only. */
function toEvent(value: unknown): RedisServerEvent | undefined {
  if (!isRecord(value) || typeof value.kind !== 'string' || !KINDS.has(value.kind)) return undefined;
  if (value.params !== undefined && !isRecord(value.params)) return undefined;
  const params = value.params === undefined ? {} : { params: value.params };
  if (value.kind === 'resource_updated') {
    return typeof value.uri === 'string' ? { kind: 'resource_updated', uri: value.uri, ...params } : undefined;
  }
  return { kind: value.kind as 'tools_list_changed' | 'prompts_list_changed' | 'resources_list_changed', ...params };
}

// Compile-time checks, kept out of the published types (which must not need the
// SDK or node-redis): the bus is the v2 SDK's `ServerEventBus`, and a node-redis
// client is what it takes.
type Fits<T extends U, U> = T;
type _IsSdkEventBus = Fits<RedisServerEventBus, ServerEventBus>;
type _TakesNodeRedis = Fits<ReturnType<typeof createClient>, RedisPublisher>;
