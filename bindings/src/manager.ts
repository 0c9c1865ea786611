import { EventEmitter } from 'node:events';

import { SessionCore } from './core';
import type {
  Admission,
  Capabilities,
  CoreConfig,
  CreateParams,
  CoreEvent,
  EndReason,
  JsonObject,
  Json,
  Phase,
  RequestHead,
  RestoreReport,
  SessionView,
  Stats,
} from '../generated/mcp_session_core';
import { SessionError } from './errors';
import { StoredSession, clientIdOf } from './stored-session';

/** The longest a Node timer can wait (2^31 - 1 ms); longer deadlines re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The core's request-kind codes (its gate takes numbers, on the hot path). */
const KIND_CODES = { initialize: 0, initialized: 1, other: 2 } as const;
const ADMISSIONS: readonly Admission[] = [
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
   * Hears what fails on the manager's own timer, where no caller could catch it (a
   * listener that throws while the timer ends sessions, a store that cannot write
   * an expiry): it never escapes the timer as an uncaught exception. Sessions a
   * failed sweep left due end on the next call or turn. Default `process.emitWarning`.
   */
  onError?: (error: unknown) => void;
}

export type SessionStatus = Phase | 'expired' | 'closed';

/** Hands lines to `add` one at a time (see `SessionManager.restoreRecords`). */
export type RecordFeed = (add: (line: string, newestWins: boolean) => void) => void;

/** Stages what `feed` hands over into `core` and applies it, or drops it all. */
function stageInto(core: SessionCore, feed: RecordFeed, now: number): RestoreReport {
  core.restoreBegin();
  try {
    feed((line, newestWins) => core.restoreAdd(line, newestWins));
  } catch (error) {
    core.restoreAbort();
    throw error;
  }
  return core.restoreCommit(now);
}

/** A session as the manager reports it (live, or ended and still remembered). */
export interface SessionInfo {
  id: string;
  /** `clientInfo.name`, as the seed brief's `clientId`. */
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

/** What `createSession` takes: the core's create parameters, with the seed brief's
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
 * Creates a session of the seed brief's shape (`{ clientId, capabilities:
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

function fromView(view: SessionView): SessionInfo {
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
    status: view.phase,
    endReason: null,
    expiresAt: view.expiresAt === null ? null : new Date(view.expiresAt),
    inFlight: view.inFlight,
  };
}

/**
 * Sessions for an MCP server: the WebAssembly core with the clock injected, one
 * timer armed from `nextDeadline()`, and lifecycle events. Every method is
 * synchronous; the method names follow the seed brief, so a hand-written manager
 * ports by changing an import.
 */
export class SessionManager {
  #core: SessionCore | undefined;
  readonly #config: CoreConfig;
  readonly #insecureSeed: number | undefined;
  readonly #clock: () => number;
  readonly #onError: (error: unknown) => void;
  readonly #events = new EventEmitter();
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  #timerIsImmediate = false;
  /** At most this many sessions end per timer turn (the core's `sweepBatchSize`). */
  readonly #sweepBatch: number;
  #armedFor: number | undefined;
  /** Whether anyone listens: if not, the core records no events to drain. */
  #listening = false;

  constructor(options: SessionManagerOptions = {}) {
    const { clock, insecureSeed, onError, ...config } = options;
    this.#clock = clock ?? Date.now;
    this.#onError = onError ?? ((error) => process.emitWarning(error instanceof Error ? error : String(error)));
    this.#config = config;
    this.#insecureSeed = insecureSeed;
    this.#core = new SessionCore(config, { insecureSeed });
    this.#sweepBatch = this.#core.config().sweepBatchSize;
    this.#filterEvents();
  }

  // ----- the seed brief's API -----

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
    const kind = KIND_CODES[head.kind];
    if (kind === undefined) throw SessionError.invalidArgument('kind', 'must be initialize, initialized or other');
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
   * comes: no string ever holds the whole of a large store. Nothing may change the
   * manager while the pieces are taken.
   */
  *snapshotRecords(maxBytes = 1 << 20): Generator<string> {
    const core = this.#live();
    yield* core.snapshotRecords(this.#now(), maxBytes);
  }

  /**
   * Restores from lines that `feed` hands over one at a time (a snapshot's lines,
   * then journal records with `newestWins`): validated as a whole first, so an
   * invalid line, or `feed` throwing, changes nothing.
   */
  restoreRecords(feed: RecordFeed): RestoreReport {
    return this.#run((core, now) => stageInto(core, feed, now));
  }

  /** `reload` from lines, as `restoreRecords` reads them. */
  reloadRecords(feed: RecordFeed): RestoreReport {
    return this.#replace((fresh, now) => stageInto(fresh, feed, now));
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
    this.#events.on(event, listener);
    this.#filterEvents();
    return this;
  }

  once<K extends keyof SessionEvents>(event: K, listener: (event: SessionEvents[K]) => void): this {
    this.#events.once(event, (e: SessionEvents[K]) => {
      listener(e);
      this.#filterEvents();
    });
    this.#filterEvents();
    return this;
  }

  off<K extends keyof SessionEvents>(event: K, listener: (event: SessionEvents[K]) => void): this {
    this.#events.off(event, listener);
    this.#filterEvents();
    return this;
  }

  /** The core records only the kinds someone listens to. */
  #filterEvents(): void {
    const names = this.#events.eventNames() as CoreEvent['type'][];
    this.#listening = names.length > 0;
    this.#core?.setEventFilter(names);
  }

  // ----- lifetime -----

  /**
   * Replaces every session with those of `snapshot` (nothing else survives, not
   * even requests in flight): what a durable store does when a write fails, to go
   * back to exactly what it holds. An invalid snapshot throws and changes nothing.
   */
  reload(snapshot: string): RestoreReport {
    return this.#replace((fresh, now) => fresh.restore(snapshot, now));
  }

  /** A fresh core with what `fill` restores into it, in place of the current one;
   * if `fill` throws, nothing changes. */
  #replace(fill: (fresh: SessionCore, now: number) => RestoreReport): RestoreReport {
    const previous = this.#live();
    const fresh = new SessionCore(this.#config, { insecureSeed: this.#insecureSeed });
    let report: RestoreReport;
    try {
      fresh.setEventFilter(this.#events.eventNames() as CoreEvent['type'][]);
      report = fill(fresh, this.#now());
    } catch (error) {
      fresh.free();
      throw error;
    }
    this.#disarm();
    this.#armedFor = undefined;
    this.#core = fresh;
    previous.free();
    this.#settle(fresh);
    return report;
  }

  /** Frees the WebAssembly memory and the timer. Later calls throw. */
  dispose(): void {
    this.#disarm();
    this.#core?.free();
    this.#core = undefined;
    this.#events.removeAllListeners();
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
    const next = core.nextDeadlineBefore(this.#armedFor);
    if (next !== undefined) {
      this.#disarm();
      this.#armedFor = next;
      const delay = next - this.#now();
      if (delay <= 0) {
        // Already due (a batch left more): the next turn of the event loop, after
        // whatever I/O waits, so a mass expiry never holds the loop for long.
        const immediate = setImmediate(() => this.#fire());
        immediate.unref();
        this.#timer = immediate;
        this.#timerIsImmediate = true;
      } else {
        const timeout = setTimeout(() => this.#fire(), Math.min(delay, MAX_TIMER_MS));
        timeout.unref();
        this.#timer = timeout;
        this.#timerIsImmediate = false;
      }
    }
    this.#emitPending(core);
  }

  #emitPending(core: SessionCore): void {
    if (this.#listening && core.pendingEvents() > 0) {
      for (const event of core.drainEvents()) this.#events.emit(event.type, event);
    }
  }

  #disarm(): void {
    if (this.#timer === undefined) return;
    if (this.#timerIsImmediate) clearImmediate(this.#timer as NodeJS.Immediate);
    else clearTimeout(this.#timer as NodeJS.Timeout);
    this.#timer = undefined;
  }

  /** The timer: ends at most `sweepBatchSize` due sessions; `#settle` re-arms for
   * the next turn if more are due. Nothing thrown here may escape a timer. */
  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = undefined;
    if (this.#core === undefined) return;
    try {
      this.#run((core, now) => core.sweepIds(now, this.#sweepBatch));
    } catch (error) {
      try {
        this.#onError(error);
      } catch {
        // An onError that throws too has nowhere left to report to.
      }
    }
  }
}
