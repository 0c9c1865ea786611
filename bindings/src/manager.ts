import { SessionCore } from './core';
import type {
  Admission,
  Capabilities,
  CoreConfig,
  CreateParams,
  CoreEvent,
  EndReason,
  EndedView,
  JsonObject,
  Json,
  Phase,
  RequestHead,
  RestoreReport,
  SessionView,
  Stats,
} from '../generated/mcp_session_core';
import { requestKinds } from '../generated/mcp_session_core';
import { SessionError } from './errors';
import { HandleStore } from './handles';
import { lazy } from './lazy';
import { sealedCodec, storeLedger } from './request-state';
import type { SealedRequestStateCodec, SealedRequestStateCodecOptions } from './request-state';
import type { ChangeCause, LoadReport, SessionStore, StoreContext } from './persistence';
import { StoredSession, clientIdOf } from './stored-session';
import { after, every, nextTurn, type Cancel } from './timers';

/** The longest a Node timer can wait (2^31 - 1 ms); longer deadlines re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * With a store attached, once this many calls have run since the last activity
 * batch, the next batch is saved on the next turn rather than at the timer: a
 * batch holds every session touched since the last and is exported and written in
 * one turn, so under load it would grow with the traffic of a whole
 * `activityFlushMs` (some 25 ms of export for 4,000 sessions, in one turn).
 */
const ACTIVITY_BATCH_CALLS = 512;

/** The number the core's gate takes for each request kind (numbers, on the hot
 * path), in the order the core gives. */
const kindCodes = lazy((): ReadonlyMap<unknown, number> => new Map(requestKinds().map((kind, code) => [kind, code])));

/** The number the core's gate takes for a request head's `kind`; a typed error for
 * anything but a request kind. */
export function kindCode(kind: unknown): number {
  const code = kindCodes().get(kind);
  if (code === undefined) throw SessionError.invalidArgument('kind', `must be one of ${[...kindCodes().keys()].join(', ')}`);
  return code;
}
export const ADMISSIONS: readonly Admission[] = [
  Object.freeze({ outcome: 'initialize' }),
  Object.freeze({ outcome: 'admitted', phase: 'active' }),
];

export interface SessionManagerOptions extends CoreConfig {
  /** Milliseconds since the Unix epoch. Default `Date.now`; tests pass a manual clock. */
  clock?: () => number;
  /**
   * Makes session IDs predictable from this seed. For tests and simulations only:
   * anyone can guess such IDs. Without it, IDs come from `crypto.getRandomValues`.
   */
  insecureSeed?: number;
  /**
   * Hears what no caller could catch: a listener that throws, a store that cannot
   * write an expiry or a batch of activity on the manager's timer, a compaction
   * that failed. Nothing of that escapes a timer or fails a call. Default
   * `process.emitWarning` (the console where there is no `process`).
   */
  onError?: (error: unknown) => void;
}

export type SessionStatus = Phase | 'expired' | 'closed';

/** The default `onError`: a Node process warning, which the host's warning
 * settings govern; the console on hosts with no `process` (browsers, Workers). */
function warn(error: unknown): void {
  if (typeof process === 'object' && typeof process.emitWarning === 'function') {
    process.emitWarning(error instanceof Error ? error : String(error));
  } else {
    console.warn(error);
  }
}

/** Hands lines to `add` one at a time, and version 3 pieces to `addPiece` (see
 * `SessionManager.restoreRecords`). */
export type RecordFeed = (
  add: (line: string, newestWins: boolean) => void,
  addPiece: (piece: Uint8Array, newestWins: boolean) => void,
) => void;

/** Stages what `feed` hands over into `core` and applies it, or drops it all. */
function stageInto(core: SessionCore, feed: RecordFeed, now: number): RestoreReport {
  core.restoreBegin();
  try {
    feed(
      (line, newestWins) => core.restoreAdd(line, newestWins),
      (piece, newestWins) => core.restoreAddPiece(piece, newestWins),
    );
  } catch (error) {
    core.restoreAbort();
    throw error;
  }
  return core.restoreCommit(now);
}

/** A session as the manager reports it (live, or ended and still remembered). */
export interface SessionInfo {
  id: string;
  /** `clientInfo.name`, as the seed API's `clientId`. */
  clientId: string | null;
  clientInfo: JsonObject | null;
  /** As given at creation: an MCP capabilities object or a list of names. */
  capabilities: Capabilities | null;
  principal: string | null;
  status: SessionStatus;
  /** For ended sessions: why (`closed`, `idle`, `init`, `lifetime`, `requested`, `evicted`). */
  endReason: EndReason | null;
  state: JsonObject;
  version: number;
  protocolVersion: string;
  createdAt: Date;
  lastActivity: Date;
  /** When the session ends (live), or ended (ended); null while a request is in flight. */
  expiresAt: Date | null;
  inFlight: number;
}

/** What `createSession` takes: the core's create parameters, with the seed API's
 * names (`clientId`, `timeout`, capabilities as a list of names) accepted as well. */
export type CreateSessionConfig = Omit<CreateParams, 'requestedProtocolVersion'>;

export interface InitializeParams extends Omit<CreateSessionConfig, 'clientId' | 'timeout'> {
  /** The `protocolVersion` of the client's `initialize` request. */
  protocolVersion: string;
}

export interface UpdateOptions {
  /** Compare-and-set: apply only if the state is still at this version. */
  expectedVersion?: number;
}

export interface PrincipalOptions {
  principal?: string;
}

type Listener = (event: CoreEvent) => void;

/** Listener argument for each event name. */
export type SessionEvents = { [K in CoreEvent['type']]: Extract<CoreEvent, { type: K }> };

/** The last capability list seen (a copy) and its names as `createIdNamed` takes
 * them: servers give every session the same list, so it is joined once. */
let lastCapabilities: readonly string[] = [];
let lastNames = '';

/** `capabilities` as NUL-separated names, or undefined if it is not a non-empty
 * list of names without NUL. */
function capabilityNames(capabilities: unknown): string | undefined {
  if (!Array.isArray(capabilities) || capabilities.length === 0) return undefined;
  let equal = capabilities.length === lastCapabilities.length;
  for (let i = 0; i < capabilities.length; i++) {
    const name: unknown = capabilities[i];
    if (typeof name !== 'string') return undefined;
    if (equal && name !== lastCapabilities[i]) equal = false;
  }
  if (equal) return lastNames;
  for (const name of capabilities as string[]) if (name.includes('\0')) return undefined;
  lastCapabilities = [...(capabilities as string[])];
  lastNames = lastCapabilities.join('\0');
  return lastNames;
}

/**
 * Creates a session of the seed API's shape (`{ clientId, capabilities:
 * ['tools', ...] }`, perhaps with a principal and a timeout) through
 * `createIdNamed`, which crosses no JSON; undefined for any other config, which
 * goes as JSON text (and gets the core's errors for whatever is wrong with it).
 */
function createNamed(core: SessionCore, config: CreateSessionConfig, now: number): string | undefined {
  if (typeof config !== 'object' || config === null) return undefined;
  for (const key in config) {
    switch (key) {
      case 'clientId':
      case 'capabilities':
      case 'principal':
      case 'timeout':
      case 'idleTimeoutMs':
        continue;
      default:
        return undefined;
    }
  }
  const { clientId, capabilities, principal, timeout, idleTimeoutMs } = config;
  if (clientId !== undefined && typeof clientId !== 'string') return undefined;
  if (principal !== undefined && typeof principal !== 'string') return undefined;
  if (timeout !== undefined && idleTimeoutMs !== undefined) return undefined;
  const idle = idleTimeoutMs ?? timeout;
  if (idle !== undefined && (typeof idle !== 'number' || !Number.isInteger(idle))) return undefined;
  let names: string | undefined;
  if (capabilities !== undefined) {
    names = capabilityNames(capabilities);
    if (names === undefined) return undefined;
  }
  return core.createIdNamed(clientId, names, principal, idle, now);
}

/** What a live and an ended session report alike. */
function recordInfo(view: SessionView | EndedView): Omit<SessionInfo, 'status' | 'endReason' | 'expiresAt' | 'inFlight'> {
  return {
    id: view.id,
    clientId: clientIdOf(view.clientInfo),
    clientInfo: view.clientInfo,
    capabilities: view.capabilities,
    principal: view.principal,
    state: view.state,
    version: view.version,
    protocolVersion: view.protocolVersion,
    createdAt: new Date(view.createdAt),
    lastActivity: new Date(view.lastActivity),
  };
}

export function fromView(view: SessionView): SessionInfo {
  return {
    ...recordInfo(view),
    status: view.phase,
    endReason: null,
    expiresAt: view.expiresAt === null ? null : new Date(view.expiresAt),
    inFlight: view.inFlight,
  };
}

/** An ended session as `getSession` reports it: `closed` if it was closed, else
 * `expired` (the seed brief's statuses); `expiresAt` is when it ended. */
export function fromEnded(view: EndedView): SessionInfo {
  return {
    ...recordInfo(view),
    status: view.reason === 'closed' ? 'closed' : 'expired',
    endReason: view.reason,
    expiresAt: new Date(view.endedAt),
    inFlight: 0,
  };
}

/**
 * Sessions for an MCP server: the WebAssembly core with the clock injected, one
 * timer armed from `nextDeadline()`, and lifecycle events. Every method is
 * synchronous. The method names and data shapes follow the seed API: the
 * hand-written TypeScript `SessionManager` design this project started from
 * (`createSession`, `getSession`, `updateSessionState`, `closeSession`, ...), so a
 * manager written to it ports by changing an import.
 */
export class SessionManager {
  #core: SessionCore | undefined;
  readonly #clock: () => number;
  readonly #onError: (error: unknown) => void;
  /** Listeners by event kind. Each list is replaced, never changed in place, so
   * delivering events iterates a list that no listener can change under it. */
  readonly #listeners = new Map<string, readonly Listener[]>();
  /** The attached store, if any, and its activity timer. */
  #store: SessionStore | undefined;
  #activityTimer: Cancel | undefined;
  /** Calls since the last activity batch (counted with a store attached), and the
   * batch scheduled for the next turn once there were `ACTIVITY_BATCH_CALLS`. */
  #calls = 0;
  #activitySoon: Cancel | undefined;
  #activityFailing = false;
  /** The pause before the timer tries again after the store failed to save an
   * expiry: doubles from a second up to a minute, back to none once one succeeds. */
  #retryMs = 0;
  #timer: Cancel | undefined;
  /** At most this many sessions end per timer turn (the core's `sweepBatchSize`). */
  readonly #sweepBatch: number;
  #armedFor: number | undefined;
  /** Whether anyone listens: if not, the core records no events to drain. */
  #listening = false;
  /** State handles (MCP 2026-07-28) in this manager's store: see `HandleStore`. */
  readonly handles: HandleStore;

  constructor(options: SessionManagerOptions = {}) {
    const { clock, insecureSeed, onError, ...config } = options;
    this.#clock = clock ?? Date.now;
    this.#onError = onError ?? warn;
    this.#core = new SessionCore(config, { insecureSeed });
    const resolved = this.#core.config();
    this.#sweepBatch = resolved.sweepBatchSize;
    this.handles = new HandleStore((call) => this.#run(call), resolved);
    this.#filterEvents();
  }

  /**
   * A sealed, bound, single-use `requestState` codec (the v2 SDK's
   * `RequestStateCodec` shape) whose ledger is this manager's store: swept by its
   * timer, bounded by `maxRedeemedTokens`, and saved with each redemption by the
   * attached store, so a token redeemed before a crash is refused after the
   * restart. A redemption the store cannot save is refused with `STORAGE_FAILED`.
   * The manager's clock is the codec's.
   */
  createRequestStateCodec<T = unknown, Ctx = unknown>(
    options: Omit<SealedRequestStateCodecOptions<Ctx>, 'maxLedgerEntries' | 'now'>,
  ): SealedRequestStateCodec<T, Ctx> {
    return sealedCodec(options, storeLedger((call) => this.#run(call), () => this.#now()));
  }

  // ----- the seed API -----

  /** Creates an active session and returns its ID. */
  createSession(config: CreateSessionConfig = {}): string {
    // `#run` written out: the hot calls allocate no closure.
    const core = this.#live();
    try {
      const now = this.#now();
      return createNamed(core, config, now) ?? core.createId(config, now);
    } finally {
      this.#settle(core);
    }
  }

  /**
   * The session (counting as activity), an ended one still remembered (status
   * `expired` or `closed`), or null when there is no such session, including for an
   * ID that no session could have.
   */
  getSession(id: string): SessionInfo | null {
    if (typeof id !== 'string') return null;
    // A touching call (see `#touch`), written out: the hot calls allocate no closure.
    const core = this.#live();
    let slot: number;
    try {
      slot = core.lookup(id, this.#now());
    } finally {
      this.#emitPending(core);
    }
    return slot < 0 ? null : new StoredSession(core, id, slot, core.scratch());
  }

  /** Merges `patch` into the state (RFC 7396); returns the new version. */
  updateSessionState(id: string, patch: Json, options?: UpdateOptions): number {
    // A touching call (see `#touch`), written out as in `getSession`.
    const core = this.#live();
    try {
      return core.updateState(id, patch, options?.expectedVersion, this.#now());
    } finally {
      this.#emitPending(core);
    }
  }

  /** Replaces the whole state; returns the new version. */
  replaceSessionState(id: string, state: JsonObject, options: UpdateOptions = {}): number {
    return this.#touch((core, now) => core.replaceState(id, state, options.expectedVersion, now));
  }

  /** Ends a session (HTTP DELETE). False if it was not live. */
  closeSession(id: string): boolean {
    return this.#endIfLive(id, (core, now) => core.close(id, now));
  }

  /** Ends a session as expired. False if it was not live. */
  expireSession(id: string): boolean {
    return this.#endIfLive(id, (core, now) => core.expire(id, now));
  }

  /** Closes every session; returns how many. */
  clearAllSessions(): number {
    return this.#run((core, now) => core.clearAll(now));
  }

  /** Every live session, oldest first. */
  getAllSessions(): SessionInfo[] {
    return this.#run((core, now) => core.list(now)).map(fromView);
  }

  /**
   * Every live session as the core's view, oldest first: what `getAllSessions`
   * reports plus `idleTimeoutMs` and `lifetimeEndsAt`, for an operator's view.
   */
  sessionViews(): SessionView[] {
    return this.#run((core, now) => core.list(now));
  }

  /**
   * A live session as the core's view, or null if it is not live; unlike
   * `getSession`, not activity: an observer (an operator's event feed) must not
   * keep the sessions it looks at alive.
   */
  peekSession(id: string): SessionView | null {
    try {
      return this.#run((core, now) => core.peek(id, now));
    } catch (error) {
      if (error instanceof SessionError && error.httpStatus < 500) return null;
      throw error;
    }
  }

  /** Ends every session past its deadline now; returns their IDs. */
  cleanupExpiredSessions(): string[] {
    return this.#run((core, now) => core.sweepIds(now));
  }

  /** The transport is gone; the session keeps its state until its idle timeout. */
  disconnectSession(id: string): void {
    this.#run((core, now) => core.disconnect(id, now));
  }

  /** A disconnected session is active again (for its own principal only). */
  resumeSession(id: string, options: PrincipalOptions = {}): SessionInfo {
    return fromView(this.#run((core, now) => core.resume(id, options.principal, now)));
  }

  /** A new session, with a new ID, carrying the state of an ended one. */
  renewSession(id: string, options: PrincipalOptions = {}): string {
    return this.#run((core, now) => core.renew(id, options.principal, now)).id;
  }

  // ----- the MCP flow -----

  /** An MCP `initialize`: the session starts `initializing`, on the negotiated version. */
  initialize(params: InitializeParams): SessionInfo {
    const { protocolVersion, ...rest } = params;
    return fromView(
      this.#run((core, now) =>
        core.create({ ...rest, requestedProtocolVersion: protocolVersion }, now),
      ),
    );
  }

  /** `notifications/initialized`: the session becomes active. */
  initialized(id: string): void {
    this.#run((core, now) => core.initialized(id, now));
  }

  /** The per-request gate: see the core's `beginRequest`. Pair with `endRequest`. */
  beginRequest(head: RequestHead): Admission {
    if (typeof head !== 'object' || head === null) throw SessionError.invalidArgument('head', 'must be an object');
    const kind = kindCode(head.kind);
    const code = this.#run((core, now) =>
      core.beginRequest(head.sessionId, head.principal, kind, head.protocolVersion, now),
    );
    return ADMISSIONS[code] as Admission;
  }

  /** The response or stream of an admitted request is done. */
  endRequest(id: string): void {
    this.#run((core, now) => core.endRequest(id, now));
  }

  // ----- persistence and operations -----

  /** A JSON snapshot of every session (see the README for the format). */
  snapshot(): string {
    return this.#run((core, now) => core.snapshot(now));
  }

  /** A snapshot of just these sessions, live or ended: what a journal appends. */
  exportSessions(ids: string[]): string {
    return this.#run((core, now) => core.export(ids, now));
  }

  /**
   * The snapshot as pieces of lines (one line per session, about `maxBytes` a
   * piece, the first starting with a header), for a store that writes it as it
   * comes: no string ever holds the whole of a large store. Taken with no change
   * between the pieces, they make one snapshot. Taken across turns while sessions
   * change, they walk the sessions in slot order and make a fuzzy snapshot: each
   * line is a whole image of its session when its piece was taken, a session
   * made or moved meanwhile may be missed or written twice (the later line is the
   * later image); the `requestState` ledger comes whole in the last piece (its
   * order moves as entries expire). A store that walks while it journals (the file
   * store) replays every record saved since the walk began over such a snapshot.
   */
  *snapshotRecords(maxBytes = 1 << 20): Generator<string> {
    const core = this.#live();
    yield* core.snapshotRecords(this.#now(), maxBytes);
  }

  /**
   * The snapshot in version 3, binary, in pieces of about `maxBytes`: the same
   * records and the same walk as `snapshotRecords` (a fuzzy snapshot if taken
   * across turns while sessions change; `restoreRecords` then stages its pieces
   * with `newestWins`), several times smaller and faster to restore. What the file
   * store writes.
   */
  *snapshotPieces(maxBytes = 1 << 20): Generator<Uint8Array> {
    const core = this.#live();
    yield* core.snapshotPieces(this.#now(), maxBytes);
  }

  /**
   * Restores from what `feed` hands over one at a time: a snapshot's lines or
   * version 3 pieces, then journal records, with `newestWins` where a later image
   * of a session replaces an earlier one. Validated as a whole first, so an
   * invalid line or piece, or `feed` throwing, changes nothing.
   */
  restoreRecords(feed: RecordFeed): RestoreReport {
    return this.#run((core, now) => stageInto(core, feed, now));
  }

  /** Restores a snapshot (validated first: an invalid one changes nothing). */
  restore(snapshot: string): RestoreReport {
    return this.#run((core, now) => core.restore(snapshot, now));
  }

  stats(): Stats {
    return this.#run((core, now) => core.stats(now));
  }

  /** When the manager will next sweep (ms since the epoch), or null. */
  nextDeadline(): number | null {
    return this.#live().nextDeadline() ?? null;
  }

  /** The configuration in force, defaults filled in. */
  get config(): Required<CoreConfig> {
    return this.#live().config();
  }

  // ----- events -----

  on<K extends keyof SessionEvents>(event: K, listener: (event: SessionEvents[K]) => void): this {
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), listener as Listener]);
    this.#filterEvents();
    return this;
  }

  once<K extends keyof SessionEvents>(event: K, listener: (event: SessionEvents[K]) => void): this {
    const once = Object.assign(
      (e: SessionEvents[K]): void => {
        this.off(event, once);
        listener(e);
      },
      { listener },
    );
    return this.on(event, once);
  }

  off<K extends keyof SessionEvents>(event: K, listener: (event: SessionEvents[K]) => void): this {
    // A listener added with `once` is found by itself or by its wrapper.
    const list =
      this.#listeners.get(event)?.filter((l) => l !== listener && (l as { listener?: unknown }).listener !== listener) ?? [];
    if (list.length === 0) this.#listeners.delete(event);
    else this.#listeners.set(event, list);
    this.#filterEvents();
    return this;
  }

  /** The core records only the kinds someone listens to. */
  #filterEvents(): void {
    const names = [...this.#listeners.keys()] as CoreEvent['type'][];
    this.#listening = names.length > 0;
    this.#core?.setEventFilter(names);
  }

  // ----- persistence -----

  /**
   * Attaches a store (see `SessionStore`): what it holds is restored (validated as
   * a whole: if the store cannot be read, or holds anything invalid, this throws
   * and nothing changes), the store is compacted, and from then on every durable
   * change is saved before anyone hears of it.
   */
  attachStore(store: SessionStore): LoadReport {
    const core = this.#live();
    if (this.#store !== undefined) throw SessionError.invalidArgument('store', 'a store is already attached');
    let opened = { found: false, replayed: 0, tornRecord: false };
    const context: StoreContext = {
      snapshotRecords: (maxBytes) => this.snapshotRecords(maxBytes),
      snapshotPieces: (maxBytes) => this.snapshotPieces(maxBytes),
      onError: (error) => this.#report(error),
      detach: () => {
        if (this.#store === store) this.detachStore();
      },
    };
    const restore = this.restoreRecords((add, addPiece) => {
      opened = store.open(context, add, addPiece);
    });
    this.#store = store;
    core.setJournaling(true);
    this.#compactStore('attach');
    this.#activityTimer = every(store.activityFlushMs ?? 1_000, () => this.#saveActivity());
    return { replayed: opened.replayed, tornRecord: opened.tornRecord, restore: opened.found ? restore : null };
  }

  /**
   * Saves the request activity not yet saved (the attached store gets it every
   * `activityFlushMs` anyway): for a shutdown, or a test. Throws `STORAGE_FAILED`
   * if the store fails; the activity then waits for the next batch.
   */
  saveActivity(): void {
    const core = this.#live();
    const store = this.#store;
    if (store === undefined) return;
    this.#calls = 0;
    const records = core.activityExport(this.#now());
    if (records === undefined) return;
    try {
      store.save({ records, cause: 'activity' });
    } catch (error) {
      throw error instanceof SessionError && error.code === 'STORAGE_FAILED' ? error : SessionError.storageFailed(error);
    }
    core.activityCommit();
  }

  /**
   * Saves the activity not yet saved, compacts the store, and stops saving to it.
   * Never throws: what cannot be written goes to `onError` (every acknowledged
   * change is already in the store).
   */
  detachStore(): void {
    if (this.#store === undefined || this.#core === undefined) return;
    this.#saveActivity();
    this.#compactStore('detach');
    this.#activityTimer?.();
    this.#activityTimer = undefined;
    this.#activitySoon?.();
    this.#activitySoon = undefined;
    this.#store = undefined;
    this.#core.setJournaling(false);
  }

  // ----- lifetime -----

  /** Frees the WebAssembly memory and the timer. Later calls throw. */
  dispose(): void {
    this.detachStore();
    this.#disarm();
    this.#core?.free();
    this.#core = undefined;
    this.#listeners.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // ----- internals -----

  #live(): SessionCore {
    if (this.#core === undefined) {
      throw SessionError.invalidArgument('this', 'the session manager was disposed');
    }
    return this.#core;
  }

  #now(): number {
    const now = this.#clock();
    if (typeof now !== 'number') throw SessionError.invalidArgument('clock', `must return a number, got ${typeof now}`);
    return Math.floor(now);
  }

  /** Runs one core call at the injected time, then delivers events and re-arms the timer. */
  #run<T>(call: (core: SessionCore, now: number) => T): T {
    const core = this.#live();
    try {
      return call(core, this.#now());
    } finally {
      this.#settle(core);
    }
  }

  /**
   * `#run` for a call that only touches a session: it moves a deadline later or
   * ends due sessions, never brings one earlier, so the armed timer stays right
   * and only events may be pending.
   */
  #touch<T>(call: (core: SessionCore, now: number) => T): T {
    const core = this.#live();
    try {
      return call(core, this.#now());
    } finally {
      this.#emitPending(core);
    }
  }

  #endIfLive(id: string, end: (core: SessionCore, now: number) => void): boolean {
    try {
      this.#run(end);
      return true;
    } catch (error) {
      if (error instanceof SessionError && error.httpStatus === 404) return false;
      throw error;
    }
  }

  /**
   * Arms the timer for the earliest deadline, then emits pending events. Like the
   * core's deadline index, the timer only ever moves earlier: when deadlines move
   * later (every request does that), the armed timer is left alone, fires early,
   * sweeps nothing and re-arms for the deadline then in force. So a busy server
   * touches the timer about once per deadline, not once per request.
   */
  #settle(core: SessionCore): void {
    this.#emitPending(core);
    const next = core.nextDeadlineBefore(this.#armedFor);
    if (next !== undefined) this.#armAt(next);
  }

  /** Arms the timer for `at` (ms since the epoch), in place of any armed. */
  #armAt(at: number): void {
    this.#disarm();
    this.#armedFor = at;
    const delay = at - this.#now();
    // Already due (a batch left more): the next turn of the event loop, after
    // whatever I/O waits, so a mass expiry never holds the loop for long.
    this.#timer =
      delay <= 0 ? nextTurn(() => this.#fire()) : after(Math.min(delay, MAX_TIMER_MS), () => this.#fire());
  }

  /**
   * Saves what the last call changed (the store, if any, before anyone hears of
   * it), then delivers the events. If the save fails the change is undone and
   * this throws `STORAGE_FAILED`, for the call to fail with.
   */
  #emitPending(core: SessionCore, cause: ChangeCause = 'call'): void {
    if (this.#store !== undefined) {
      if (core.journalPending()) this.#save(core, cause);
      if (++this.#calls >= ACTIVITY_BATCH_CALLS && this.#activitySoon === undefined && !this.#activityFailing) {
        this.#activityNextTurn();
      }
    }
    if (this.#listening && core.pendingEvents() > 0) {
      for (const event of core.drainEvents()) {
        const listeners = this.#listeners.get(event.type);
        if (listeners === undefined) continue;
        for (const listener of listeners) {
          // A listener that throws fails neither the call nor the other listeners.
          try {
            listener(event);
          } catch (error) {
            this.#report(error);
          }
        }
      }
    }
  }

  #save(core: SessionCore, cause: ChangeCause): void {
    try {
      this.#store?.save({ records: core.journalExport(this.#now()), cause });
    } catch (cause) {
      core.journalRevert();
      throw cause instanceof SessionError && cause.code === 'STORAGE_FAILED' ? cause : SessionError.storageFailed(cause);
    }
    core.journalCommit();
    this.#retryMs = 0;
  }

  /** Saves the activity batch on the next turn (see `ACTIVITY_BATCH_CALLS`). */
  #activityNextTurn(): void {
    this.#activitySoon = nextTurn(() => {
      this.#activitySoon = undefined;
      if (this.#core !== undefined) this.#saveActivity();
    });
  }

  /** The activity timer's `saveActivity`: a failure goes to `onError`. While
   * batches fail, only the timer tries again (not every `ACTIVITY_BATCH_CALLS`). */
  #saveActivity(): void {
    try {
      this.saveActivity();
      this.#activityFailing = false;
    } catch (error) {
      this.#activityFailing = true;
      this.#report(error);
    }
  }

  #compactStore(reason: 'attach' | 'detach'): void {
    try {
      this.#store?.checkpoint?.(reason);
    } catch (error) {
      this.#report(error instanceof SessionError ? error : SessionError.storageFailed(error));
    }
  }

  /** Hands `error` to `onError`, which must not throw either. */
  #report(error: unknown): void {
    try {
      this.#onError(error);
    } catch {
      // An onError that throws has nowhere left to report to.
    }
  }

  #disarm(): void {
    this.#timer?.();
    this.#timer = undefined;
  }

  /** The timer: ends at most `sweepBatchSize` due sessions; `#settle` re-arms for
   * the next turn if more are due. Nothing thrown here may escape a timer. */
  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = undefined;
    const core = this.#core;
    if (core === undefined) return;
    try {
      core.sweepIds(this.#now(), this.#sweepBatch);
      this.#emitPending(core, 'timer');
      this.#retryMs = 0;
      this.#settle(core);
    } catch (error) {
      this.#report(error);
      // The store could not save the expiries (undone: the sessions are still
      // due): try again after a pause that grows while it keeps failing.
      this.#retryMs = Math.min(Math.max(this.#retryMs * 2, 1_000), 60_000);
      this.#armAt(this.#now() + this.#retryMs);
    }
  }
}
