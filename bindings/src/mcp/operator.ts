import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import type {
  CoreEvent,
  ExpiryReason,
  ForbiddenReason,
  HandleView,
  Phase,
  SessionView,
  Stats,
} from '../../generated/mcp_session_core';
import type { SessionManager } from '../manager';

/**
 * The operator endpoints (`GET /operator/sessions`, `GET /operator/events`): what
 * is alive, for whom, until when, and what just happened, for the live inspector.
 * Read-only, and never a whole ID: an anonymous session or handle can be used by
 * anyone who knows its ID, so operators see the first 8 characters only.
 */

/** The first 8 characters of an ID and an ellipsis: enough to tell records apart
 * in a log or a table, not enough to use one. */
export function shortId(id: string): string {
  return `${id.slice(0, 8)}…`;
}

/** What tells one record from every other in a table (8 characters of an ID
 * collide about once in a hundred at 10,000 records): 24 hex digits of the
 * SHA-256 of the whole ID. It cannot be turned back into the ID, so it is as safe
 * to show as the short ID. */
export function rowKey(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 24);
}

/** The short ID and the row key of `id`. */
const named = (id: string) => ({ id: shortId(id), key: rowKey(id) });

/** A 2025-era session (protocol handshake, `Mcp-Session-Id`) or a 2026-07-28 state handle. */
export type OperatorRecordKind = 'session' | 'handle';

/** A record's phase: a session's, or `live` for a handle (handles have no handshake). */
export type OperatorPhase = Phase | 'live';

/** One live session or handle, as an operator sees it. Times are ms since the epoch. */
export interface OperatorRecord {
  kind: OperatorRecordKind;
  /** Shortened (`1a2b3c4d…`), never whole. */
  id: string;
  phase: OperatorPhase;
  principal: string | null;
  /** `2025` for sessions (whatever version they negotiated), `2026-07-28` for handles. */
  era: '2025' | '2026-07-28';
  /** The negotiated protocol version of a session; null for a handle (no handshake). */
  protocolVersion: string | null;
  /** `clientInfo.name` of a session; null for a handle. */
  clientName: string | null;
  createdAt: number;
  lastActivity: number;
  /** When it ends unless it is used again (idle or init timeout, or its lifetime if
   * that comes first); null while a session has a request in flight. */
  expiresAt: number | null;
  /** When its absolute lifetime ends, however busy; null without one. */
  lifetimeEndsAt: number | null;
  stateVersion: number;
  inFlight: number;
  /** Whether this process holds the session's SDK transport (always false for handles). */
  transport: boolean;
}

/** What `GET /operator/sessions` answers. */
export interface OperatorSessions {
  /** The server's clock when the view was taken: countdowns start from it. */
  serverTime: number;
  /** False for sessions shared through Redis: only `stats` is fleet-wide then. */
  listed: boolean;
  /** At most `?limit=` of them (see `operatorLimit`), the most recently active first. */
  records: OperatorRecord[];
  /** True when there were more live records than `records` holds: the totals are
   * in `stats` (`live` and `handlesLive`). */
  truncated: boolean;
  /** The core's counts; through Redis, the fleet-wide live counts only. */
  stats: Stats | { sessions: number; handles: number };
  transports: number;
  streams: number;
  bufferedEvents: number;
}

/** The lifecycle events the feed forwards (every `CoreEvent` about one record). */
export type OperatorEventType = Exclude<CoreEvent['type'], 'sweepPaused'>;

/** One lifecycle event on `GET /operator/events`. */
export interface OperatorEvent {
  type: OperatorEventType;
  /** When it happened (for an expiry, the deadline that passed), ms since the epoch. */
  at: number;
  kind: OperatorRecordKind;
  id: string;
  /** The record's `key` (see `rowKey`). */
  key: string;
  principal: string | null;
  /** Why a record ended (`idle`, `init`, `lifetime`, `closed`, `evicted`,
   * `destroyed`), or, for `renewed`, the short ID it carries the state of. */
  reason: string | null;
  /** The state version after a `stateChanged`. */
  stateVersion: number | null;
}

const FORWARDED: readonly OperatorEventType[] = [
  'created',
  'initialized',
  'stateChanged',
  'disconnected',
  'resumed',
  'closed',
  'expired',
  'evicted',
  'restored',
  'renewed',
  'handleCreated',
  'handleDestroyed',
  'handleExpired',
];

function sessionRecord(view: SessionView, transport: boolean): OperatorRecord {
  const name = view.clientInfo?.['name'];
  return {
    kind: 'session',
    ...named(view.id),
    phase: view.phase,
    principal: view.principal,
    era: '2025',
    protocolVersion: view.protocolVersion,
    clientName: typeof name === 'string' ? name : null,
    createdAt: view.createdAt,
    lastActivity: view.lastActivity,
    expiresAt: view.expiresAt,
    lifetimeEndsAt: view.lifetimeEndsAt,
    stateVersion: view.version,
    inFlight: view.inFlight,
    transport,
  };
}

function handleRecord(view: HandleView): OperatorRecord {
  return {
    kind: 'handle',
    ...named(view.handleId),
    phase: 'live',
    principal: view.principal,
    era: '2026-07-28',
    protocolVersion: null,
    clientName: null,
    createdAt: view.createdAt,
    lastActivity: view.lastActivity,
    expiresAt: view.expiresAt,
    lifetimeEndsAt: view.lifetimeEndsAt,
    stateVersion: view.version,
    inFlight: 0,
    transport: false,
  };
}

/** How many records `GET /operator/sessions` lists without `?limit=`, and the most
 * it lists with one. Each record costs a SHA-256 and its JSON in one synchronous
 * turn (about 1 s and 60 MB at 200,000), and the inspector asks every few seconds:
 * the bound keeps a large server responsive while someone watches it. */
const OPERATOR_LIMIT_DEFAULT = 20_000;
const OPERATOR_LIMIT_MAX = 100_000;

/** The `limit` query parameter of `url`: the default when absent, at most
 * `OPERATOR_LIMIT_MAX`; undefined unless it is a positive integer. */
export function operatorLimit(url: string | undefined): number | undefined {
  const value = new URL(url ?? '/', 'http://operator.invalid').searchParams.get('limit');
  if (value === null) return OPERATOR_LIMIT_DEFAULT;
  if (!/^[0-9]+$/.test(value) || Number(value) === 0) return undefined;
  return Math.min(Number(value), OPERATOR_LIMIT_MAX);
}

type LiveView = { kind: 'session'; view: SessionView } | { kind: 'handle'; view: HandleView };

/**
 * The `limit` most recently active live sessions and handles, the most recently
 * active first (ties: the newer first), and whether any were left out. The most
 * recent are what an operator of a large server most likely looks for; the views
 * are all read (and sorted, which is cheap), the records made of `limit` only.
 */
export function operatorRecords(
  manager: SessionManager,
  hasTransport: (id: string) => boolean,
  limit: number,
): { records: OperatorRecord[]; truncated: boolean } {
  const live: LiveView[] = manager.sessionViews().map((view) => ({ kind: 'session', view }));
  for (const view of manager.handles.listAll()) live.push({ kind: 'handle', view });
  live.sort((a, b) => b.view.lastActivity - a.view.lastActivity || b.view.createdAt - a.view.createdAt);
  const records = live
    .slice(0, limit)
    .map((entry) => (entry.kind === 'session' ? sessionRecord(entry.view, hasTransport(entry.view.id)) : handleRecord(entry.view)));
  return { records, truncated: live.length > limit };
}

/**
 * Why an operator request is refused on top of the MCP endpoint's Host check, or
 * undefined: a browser request (one with an `Origin`) from any page but the
 * server's own. The MCP endpoint lets loopback pages in (the MCP Inspector runs on
 * another port); the operator view is read by its own page only, so any other
 * page, loopback or not, is refused before it can read who is connected.
 */
export function foreignOrigin(req: IncomingMessage): ForbiddenReason | undefined {
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  try {
    return new URL(origin).host === req.headers.host?.toLowerCase() ? undefined : 'origin';
  } catch {
    return 'origin'; // the opaque "null" origin of sandboxed pages and files
  }
}

/** A client's SSE stream may hold this much unsent before it is dropped (its
 * EventSource reconnects and reloads the view): a stalled reader costs bounded memory. */
const MAX_BUFFERED_BYTES = 1 << 20;

/**
 * Lifecycle events as Server-Sent Events, to every connected operator. It listens
 * to the manager only while someone is connected, and then keeps the principal of
 * each live record (the core's events carry the ID only): an ended record can no
 * longer be looked up by an observer, so its principal is remembered from when it
 * was seen alive. Nothing here throws into the manager: a failed write drops that
 * one client.
 */
export class OperatorEventFeed {
  readonly #manager: SessionManager;
  readonly #keepAliveMs: number;
  readonly #clients = new Set<ServerResponse>();
  /** Whole ID -> principal, for the live records, while anyone listens. */
  readonly #principals = new Map<string, string | null>();
  readonly #listener = (event: CoreEvent): void => this.#forward(event);
  #keepAlive: NodeJS.Timeout | undefined;

  constructor(manager: SessionManager, keepAliveMs = 15_000) {
    this.#manager = manager;
    this.#keepAliveMs = keepAliveMs;
  }

  /** Connected operators. */
  get clients(): number {
    return this.#clients.size;
  }

  /**
   * Answers `req` with the event stream; it lasts until the client goes away.
   * Throws, before anything is written, if the manager cannot be read (it was
   * disposed): the caller can still answer with an error status.
   */
  open(req: IncomingMessage, res: ServerResponse): void {
    if (this.#clients.size === 0) this.#start();
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no', // a proxy in front must not hold events back
    });
    res.write(`retry: 2000\n: connected\n\n`);
    this.#clients.add(res);
    const drop = (): void => this.#drop(res);
    req.once('close', drop);
    res.once('close', drop);
    res.once('error', drop);
  }

  /** Ends every stream (a shutdown). */
  close(): void {
    for (const res of [...this.#clients]) {
      res.end();
      this.#drop(res);
    }
  }

  /** The reads that can throw come first, the listeners and the keep-alive last: a
   * failed start leaves nothing registered, so the next one does not register twice.
   * Nothing can happen between the reads and the registration (both synchronous). */
  #start(): void {
    try {
      for (const view of this.#manager.sessionViews()) this.#principals.set(view.id, view.principal);
      for (const view of this.#manager.handles.listAll()) this.#principals.set(view.handleId, view.principal);
    } catch (error) {
      this.#principals.clear();
      throw error;
    }
    for (const type of FORWARDED) this.#manager.on(type, this.#listener);
    this.#keepAlive = setInterval(() => this.#send(': keep-alive\n\n'), this.#keepAliveMs);
    this.#keepAlive.unref();
  }

  #drop(res: ServerResponse): void {
    if (!this.#clients.delete(res) || this.#clients.size > 0) return;
    for (const type of FORWARDED) this.#manager.off(type, this.#listener);
    this.#principals.clear();
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
  }

  #forward(event: CoreEvent): void {
    try {
      const described = this.#describe(event);
      if (described !== undefined) this.#send(`data: ${JSON.stringify(described)}\n\n`);
    } catch {
      // An event that cannot be described is not shown; the manager goes on.
    }
  }

  /** The principal of a live session: remembered, or peeked (not touched) once. */
  #principalOf(id: string): string | null {
    const known = this.#principals.get(id);
    if (known !== undefined) return known;
    const principal = this.#manager.peekSession(id)?.principal ?? null;
    this.#principals.set(id, principal);
    return principal;
  }

  /** The principal of a record that just ended, forgotten from now on. */
  #endedPrincipal(id: string): string | null {
    const principal = this.#principals.get(id) ?? null;
    this.#principals.delete(id);
    return principal;
  }

  #describe(event: CoreEvent): OperatorEvent | undefined {
    const base = { at: event.at, reason: null, stateVersion: null };
    switch (event.type) {
      case 'sweepPaused':
        return undefined;
      case 'handleCreated':
        this.#principals.set(event.handleId, event.principal);
        return { ...base, type: event.type, kind: 'handle', ...named(event.handleId), principal: event.principal };
      case 'handleDestroyed':
      case 'handleExpired': {
        const reason: ExpiryReason | 'destroyed' = event.type === 'handleExpired' ? event.reason : 'destroyed';
        const principal = this.#endedPrincipal(event.handleId);
        return { ...base, type: event.type, kind: 'handle', ...named(event.handleId), principal, reason };
      }
      case 'closed':
      case 'expired':
      case 'evicted': {
        const reason = event.type === 'expired' ? event.reason : event.type;
        const principal = this.#endedPrincipal(event.sessionId);
        return { ...base, type: event.type, kind: 'session', ...named(event.sessionId), principal, reason };
      }
      case 'renewed': {
        const principal = this.#principalOf(event.sessionId);
        const reason = shortId(event.previousSessionId);
        return { ...base, type: event.type, kind: 'session', ...named(event.sessionId), principal, reason };
      }
      case 'stateChanged': {
        const principal = this.#principalOf(event.sessionId);
        return { ...base, type: event.type, kind: 'session', ...named(event.sessionId), principal, stateVersion: event.version };
      }
      default: {
        const principal = this.#principalOf(event.sessionId);
        return { ...base, type: event.type, kind: 'session', ...named(event.sessionId), principal };
      }
    }
  }

  #send(text: string): void {
    for (const res of [...this.#clients]) {
      if (res.destroyed || res.writableEnded || res.writableLength > MAX_BUFFERED_BYTES) {
        res.destroy();
        this.#drop(res);
        continue;
      }
      res.write(text);
    }
  }
}
