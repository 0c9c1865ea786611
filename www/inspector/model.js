// What the page knows of the server: the live records (from /operator/sessions),
// changed in place by the lifecycle events (from /operator/events) between two
// snapshots. Records are keyed by the server's row key (a digest of the whole ID:
// short IDs can collide), which events carry too.

/** Events that end a record: its row leaves at once. */
const ENDING = new Set(['closed', 'expired', 'evicted', 'handleDestroyed', 'handleExpired']);
/** Events about a record the page has no details of yet: a fresh snapshot fills them in. */
const STARTING = new Set(['created', 'restored', 'renewed', 'handleCreated']);
/** How long an ended record is kept from coming back with a snapshot taken before it ended. */
const TOMBSTONE_MS = 15_000;

export class Model {
  /** key -> record (as /operator/sessions answers it, changed by events). */
  records = new Map();
  /** key -> when (page time) the record ended: see TOMBSTONE_MS. */
  #ended = new Map();
  /** Server time minus page time, from the last snapshot: countdowns use the server's clock. */
  skew = 0;
  stats = null;
  /** Whether the last snapshot left records out (the server lists a bounded number). */
  truncated = false;
  /** Bumped on every change of which records exist or what they show. */
  revision = 0;

  /** Server time now, as far as the page can tell. */
  now() {
    return Date.now() + this.skew;
  }

  /** Replaces everything with a snapshot; `sentAt` is the page time of the request. */
  replace(view, sentAt) {
    const receivedAt = Date.now();
    // The server's clock at the midpoint of the round trip.
    this.skew = view.serverTime - (sentAt + receivedAt) / 2;
    for (const [key, at] of this.#ended) if (receivedAt - at > TOMBSTONE_MS) this.#ended.delete(key);
    const records = new Map();
    for (const record of view.records) {
      const { key } = record;
      if (this.#ended.has(key)) continue;
      records.set(key, record);
    }
    this.records = records;
    this.stats = view.stats;
    this.truncated = view.truncated === true;
    this.revision++;
  }

  /** Applies one event; answers true if a snapshot should fill in a new record. */
  apply(event) {
    const { key } = event;
    if (ENDING.has(event.type)) {
      this.#ended.set(key, Date.now());
      if (this.records.delete(key)) this.revision++;
      return false;
    }
    if (STARTING.has(event.type)) {
      this.#ended.delete(key);
      if (!this.records.has(key)) this.records.set(key, provisional(event, key));
      this.revision++;
      return true;
    }
    const record = this.records.get(key);
    if (record === undefined) return true;
    switch (event.type) {
      case 'initialized':
      case 'resumed':
        record.phase = 'active';
        break;
      case 'disconnected':
        record.phase = 'disconnected';
        break;
      case 'stateChanged':
        record.stateVersion = event.stateVersion ?? record.stateVersion;
        break;
      default:
        return false;
    }
    record.lastActivity = event.at;
    this.revision++;
    return false;
  }
}

/** A record known from its first event only, until the next snapshot. */
function provisional(event, key) {
  const handle = event.kind === 'handle';
  return {
    key,
    kind: event.kind,
    id: event.id,
    phase: handle ? 'live' : 'initializing',
    principal: event.principal,
    era: handle ? '2026-07-28' : '2025',
    protocolVersion: null,
    clientName: null,
    createdAt: event.at,
    lastActivity: event.at,
    expiresAt: null,
    lifetimeEndsAt: null,
    stateVersion: 0,
    inFlight: 0,
    transport: false,
  };
}
