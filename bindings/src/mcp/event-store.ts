import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface SessionEventStoreOptions {
  /** Events kept per stream; the oldest go first (default 200). */
  maxEventsPerStream?: number;
  /** Streams kept per session; the least recently written go first (default 32). */
  maxStreams?: number;
}

interface StoredEvent {
  seq: number;
  id: string;
  message: JSONRPCMessage;
}

/**
 * The SDK's resumability store for one session: it lives and dies with its session,
 * so events expire with it. Each stream keeps a bounded buffer. Event IDs are a
 * per-session sequence number; the stream an ID belongs to is kept in an index,
 * never recovered by splitting the ID, so no stream name can be mistaken for another.
 */
export class SessionEventStore implements EventStore {
  readonly #maxEvents: number;
  readonly #maxStreams: number;
  readonly #streams = new Map<string, StoredEvent[]>();
  readonly #streamOf = new Map<string, string>();
  #seq = 0;

  constructor(options: SessionEventStoreOptions = {}) {
    this.#maxEvents = options.maxEventsPerStream ?? 200;
    this.#maxStreams = options.maxStreams ?? 32;
  }

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    this.#seq += 1;
    const event: StoredEvent = { seq: this.#seq, id: String(this.#seq), message };
    const events = this.#streams.get(streamId) ?? [];
    this.#streams.delete(streamId); // re-inserted last: Map order is recency
    this.#streams.set(streamId, events);
    events.push(event);
    this.#streamOf.set(event.id, streamId);
    while (events.length > this.#maxEvents) {
      const dropped = events.shift();
      if (dropped !== undefined) this.#streamOf.delete(dropped.id);
    }
    while (this.#streams.size > this.#maxStreams) {
      const [oldest, gone] = this.#streams.entries().next().value as [string, StoredEvent[]];
      for (const e of gone) this.#streamOf.delete(e.id);
      this.#streams.delete(oldest);
    }
    return event.id;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return this.#streamOf.get(eventId);
  }

  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const streamId = this.#streamOf.get(lastEventId);
    if (streamId === undefined) return '';
    const last = Number(lastEventId);
    for (const event of this.#streams.get(streamId) ?? []) {
      if (event.seq > last) await send(event.id, event.message);
    }
    return streamId;
  }

  /** Events held, over all streams. */
  get size(): number {
    return this.#streamOf.size;
  }
}
