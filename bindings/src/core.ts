import {
  SessionCore as WasmCore,
  admitInitialize as wasmAdmitInitialize,
  maxSessionIdBytes,
  wasmMemory,
} from '../generated/mcp_session_core';
import type {
  RequestStateCore,
  CoreConfig,
  Handshake,
  CoreEvent,
  CreateParams,
  Expiry,
  HandleView,
  Json,
  JsonObject,
  Lookup,
  RestoreReport,
  SessionView,
  Stats,
} from '../generated/mcp_session_core';
import { SessionError } from './errors';
import { lazy } from './lazy';

/** The module's memory: the scratch areas are read in place from it. */
const memory = lazy(wasmMemory);

/** "No string" where `createIdNamedTexts` takes a registered string's number. */
const NO_TEXT = 2 ** 32 - 1;

/** The longest session ID (the core's `MAX_SESSION_ID_BYTES`). */
const maxIdBytes = lazy(maxSessionIdBytes);

/** Where a create call leaves the new ID's bytes, over one memory buffer (a new one
 * after the memory grows), and a reader of its first `length` bytes as a string. */
interface IdText {
  buffer: ArrayBuffer;
  read: (length: number) => string;
}

/** The ID area at `offset`: read through Node's Buffer where there is one (the
 * fastest way to make a short string there), else through a TextDecoder (browsers,
 * Deno, Workers). IDs are visible ASCII, which every Latin-1 decoder reads alike. */
function idText(buffer: ArrayBuffer, offset: number): IdText {
  if (typeof Buffer === 'function') {
    const bytes = Buffer.from(buffer, offset, maxIdBytes());
    return { buffer, read: (length) => bytes.toString('latin1', 0, length) };
  }
  const bytes = new Uint8Array(buffer, offset, maxIdBytes());
  const decoder = new TextDecoder('latin1');
  return { buffer, read: (length) => decoder.decode(bytes.subarray(0, length)) };
}

/** IDs and other strings cross into WebAssembly as strings; the generated glue
 * does not check, so anything else is turned away here as a typed error. */
export function str(value: unknown, argument: string): string {
  if (typeof value !== 'string') throw SessionError.invalidArgument(argument, 'must be a string');
  return value;
}

export function optionalStr(value: unknown, argument: string): string | undefined {
  return value === undefined || value === null ? undefined : str(value, argument);
}

/** Numbers cross as `f64`, which the generated glue takes from any value by
 * coercion (`'5'` would become 5): anything but a number is turned away here. */
export function num(value: unknown, argument: string): number {
  if (typeof value !== 'number') throw SessionError.invalidArgument(argument, 'must be a number');
  return value;
}

function optionalNum(value: unknown, argument: string): number | undefined {
  return value === undefined || value === null ? undefined : num(value, argument);
}

/** Create params as they may cross as JSON: both ways to the core stringify them,
 * and JSON would carry a NaN or infinite timeout as null, read as "none given". */
function checkedParams(params: CreateParams | undefined): CreateParams | undefined {
  for (const name of ['idleTimeoutMs', 'timeout'] as const) {
    const timeout = (params as Record<string, unknown> | null | undefined)?.[name];
    if (typeof timeout === 'number' && !Number.isFinite(timeout)) {
      throw SessionError.invalidArgument(name, `must be a finite number, got ${timeout}`);
    }
  }
  return params;
}

/** `value` as JSON text, made here rather than by a call out of WebAssembly; or
 * undefined when JSON cannot hold it (a cycle, a BigInt, a function), in which
 * case the caller passes the value itself and the core answers with its typed error. */
function jsonText(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

/**
 * Admission before allocation for an `initialize` POST (headers as received, the
 * body as parsed): the handshake a session keeps, or the typed error (406, 415,
 * 400) that the Streamable HTTP transport would answer, before anything exists.
 */
export function admitInitialize(accept: string | undefined, contentType: string | undefined, body: unknown): Handshake {
  // A body JSON cannot hold goes as no text at all, which the core reads as no JSON.
  const text = jsonText(body) ?? '';
  return wasmAdmitInitialize(optionalStr(accept, 'accept'), optionalStr(contentType, 'contentType'), text);
}

/**
 * The raw WebAssembly store: every core operation, with the time passed in as
 * milliseconds since the epoch. For hosts that run their own clock and timer;
 * servers normally use `SessionManager`. Arguments are checked before they cross
 * into WebAssembly, so no value from JS can reach the core in a form it cannot
 * read. The gate takes plain arguments and answers a number, as it runs on every
 * request: `kind` is the kind's place in `requestKinds()` (0 = initialize,
 * 1 = initialized, 2 = other); the answer is 0 (create a session) or 1 (admitted,
 * in flight until `endRequest`).
 */
export class SessionCore {
  readonly #wasm: WasmCore;
  #freed = false;
  /** The scratch area `lookup` writes, as 8 numbers over the module's memory. */
  #scratch: Float64Array | undefined;
  /** Where the create calls leave the new ID's bytes. */
  #idText: IdText | undefined;
  /** Strings registered with the core (client IDs, capability lists), by number. */
  readonly #texts = new Map<string, number>();

  constructor(config?: CoreConfig, options: { insecureSeed?: number } = {}) {
    this.#wasm =
      options.insecureSeed === undefined
        ? new WasmCore(config)
        : WasmCore.withInsecureSeed(config, options.insecureSeed);
  }

  config(): Required<CoreConfig> {
    return this.#wasm.config();
  }
  create(params: CreateParams | undefined, now: number): SessionView {
    return this.#wasm.create(checkedParams(params), num(now, 'now'));
  }
  /** `create`, answering only the new ID. */
  createId(params: CreateParams | undefined, now: number): string {
    const at = num(now, 'now');
    if (params === undefined || params === null) return this.#newId(this.#wasm.createIdFromJson(undefined, at));
    const text = jsonText(checkedParams(params));
    return text === undefined ? this.#wasm.createId(params, at) : this.#newId(this.#wasm.createIdFromJson(text, at));
  }
  /** `createId` in the seed API's shape, with no JSON: capability names are
   * separated by NUL (`'tools\0resources'`), which no name may contain. */
  createIdNamed(
    clientId: string | undefined,
    capabilityNames: string | undefined,
    principal: string | undefined,
    idleTimeoutMs: number | undefined,
    now: number,
  ): string {
    const client = optionalStr(clientId, 'clientId');
    const names = optionalStr(capabilityNames, 'capabilities');
    const who = optionalStr(principal, 'principal');
    const idle = optionalNum(idleTimeoutMs, 'idleTimeoutMs');
    const at = num(now, 'now');
    // Strings seen before go by number (the usual client sends the same ones).
    const clientText = client === undefined ? NO_TEXT : this.#text(client);
    const namesText = names === undefined ? NO_TEXT : this.#text(names);
    if (clientText === undefined || namesText === undefined) {
      return this.#newId(this.#wasm.createIdNamed(client, names, who, idle, at));
    }
    return this.#newId(this.#wasm.createIdNamedTexts(clientText, namesText, who, idle, at));
  }
  /** The number of a string registered with the core, registering it if there is
   * room; undefined when the core holds its limit. */
  #text(text: string): number | undefined {
    let n = this.#texts.get(text);
    if (n === undefined) {
      n = this.#wasm.registerText(text);
      if (n === NO_TEXT) return undefined;
      this.#texts.set(text, n);
    }
    return n;
  }
  /** The ID a create call left in memory (`length` bytes of visible ASCII). */
  #newId(length: number): string {
    const buffer = memory().buffer;
    if (this.#idText === undefined || this.#idText.buffer !== buffer) {
      this.#idText = idText(buffer, this.#wasm.idTextPtr());
    }
    return this.#idText.read(length);
  }
  initialized(id: string, now: number): void {
    this.#wasm.initialized(str(id, 'sessionId'), num(now, 'now'));
  }
  beginRequest(
    sessionId: string | null | undefined,
    principal: string | null | undefined,
    kind: number,
    protocolVersion: string | null | undefined,
    now: number,
  ): 0 | 1 {
    return this.#wasm.beginRequest(
      optionalStr(sessionId, 'sessionId'),
      optionalStr(principal, 'principal'),
      num(kind, 'kind'),
      optionalStr(protocolVersion, 'protocolVersion'),
      num(now, 'now'),
    );
  }
  endRequest(id: string, now: number): void {
    this.#wasm.endRequest(str(id, 'sessionId'), num(now, 'now'));
  }
  get(id: string, now: number): SessionView {
    return this.#wasm.get(str(id, 'sessionId'), num(now, 'now'));
  }
  peek(id: string, now: number): SessionView {
    return this.#wasm.peek(str(id, 'sessionId'), num(now, 'now'));
  }
  find(id: string, now: number): Lookup {
    return this.#wasm.find(str(id, 'sessionId'), num(now, 'now'));
  }
  /**
   * `find` without a copy: the session's slot, or -1 when no session has this ID
   * (an ID no session could have included). Its numbers are then in `scratch()`:
   * status (a number, whose phase or end reason `lookupStatuses()` gives: 0-2 the
   * phases initializing, active, disconnected, then the end reasons), order,
   * createdAt, lastActivity,
   * expiresAt (NaN: none), inFlight, stateBytes (2: the empty state), version.
   * Touches a live session.
   */
  lookup(id: string, now: number): number {
    return this.#wasm.lookup(str(id, 'sessionId'), num(now, 'now'));
  }
  /** The numbers the last `lookup` wrote (valid until the next call). */
  scratch(): Float64Array {
    const buffer = memory().buffer;
    if (this.#scratch === undefined || this.#scratch.buffer !== buffer) {
      this.#scratch = new Float64Array(buffer, this.#wasm.scratchPtr(), 8);
    }
    return this.#scratch;
  }
  /** The state of the session at (slot, order) as JSON text; undefined if that
   * session is no longer stored. */
  stateText(slot: number, order: number): string | undefined {
    return this.#wasm.stateText(num(slot, 'slot'), num(order, 'order'));
  }
  /** The principal, protocol version, client info, capabilities and successor of
   * the session at (slot, order), as JSON text; undefined if no longer stored. */
  metadataText(slot: number, order: number): string | undefined {
    return this.#wasm.metadataText(num(slot, 'slot'), num(order, 'order'));
  }
  /** True once `free` was called. */
  get freed(): boolean {
    return this.#freed;
  }
  list(now: number): SessionView[] {
    return this.#wasm.list(num(now, 'now'));
  }
  /** Opens, checks and redeems a sealed `requestState` token with `codec`, in
   * this store's single-use ledger; returns the payload text or throws the
   * refusal. */
  redeemRequestState(
    codec: RequestStateCore,
    token: string,
    principal: string | undefined,
    request: string,
    now: number,
  ): string {
    return codec.redeemIn(this.#wasm, token, principal, request, num(now, 'now'));
  }

  stats(now: number): Stats {
    return this.#wasm.stats(num(now, 'now'));
  }
  updateState(id: string, patch: Json, expectedVersion: number | null | undefined, now: number): number {
    const sessionId = str(id, 'sessionId');
    const expected = optionalNum(expectedVersion, 'expectedVersion');
    const at = num(now, 'now');
    const text = jsonText(patch);
    return text === undefined
      ? this.#wasm.updateState(sessionId, patch, expected, at)
      : this.#wasm.updateStateFromJson(sessionId, text, expected, at);
  }
  replaceState(id: string, state: JsonObject, expectedVersion: number | null | undefined, now: number): number {
    return this.#wasm.replaceState(str(id, 'sessionId'), state, optionalNum(expectedVersion, 'expectedVersion'), num(now, 'now'));
  }
  // ----- state handles (MCP 2026-07-28): see `HandleStore`

  createHandle(principal: string | null | undefined, state: JsonObject | undefined, now: number): HandleView {
    return this.#wasm.createHandle(optionalStr(principal, 'principal'), state, num(now, 'now'));
  }
  getHandle(id: string, principal: string | null | undefined, now: number): HandleView {
    return this.#wasm.getHandle(str(id, 'handleId'), optionalStr(principal, 'principal'), num(now, 'now'));
  }
  updateHandle(
    id: string,
    principal: string | null | undefined,
    patch: Json,
    expectedVersion: number | null | undefined,
    now: number,
  ): number {
    return this.#wasm.updateHandle(
      str(id, 'handleId'),
      optionalStr(principal, 'principal'),
      patch,
      optionalNum(expectedVersion, 'expectedVersion'),
      num(now, 'now'),
    );
  }
  replaceHandleState(
    id: string,
    principal: string | null | undefined,
    state: JsonObject,
    expectedVersion: number | null | undefined,
    now: number,
  ): number {
    return this.#wasm.replaceHandleState(
      str(id, 'handleId'),
      optionalStr(principal, 'principal'),
      state,
      optionalNum(expectedVersion, 'expectedVersion'),
      num(now, 'now'),
    );
  }
  destroyHandle(id: string, principal: string | null | undefined, now: number): void {
    this.#wasm.destroyHandle(str(id, 'handleId'), optionalStr(principal, 'principal'), num(now, 'now'));
  }
  listHandles(principal: string | null | undefined, now: number): HandleView[] {
    return this.#wasm.listHandles(optionalStr(principal, 'principal'), num(now, 'now'));
  }
  listAllHandles(now: number): HandleView[] {
    return this.#wasm.listAllHandles(num(now, 'now'));
  }

  disconnect(id: string, now: number): void {
    this.#wasm.disconnect(str(id, 'sessionId'), num(now, 'now'));
  }
  resume(id: string, principal: string | null | undefined, now: number): SessionView {
    return this.#wasm.resume(str(id, 'sessionId'), optionalStr(principal, 'principal'), num(now, 'now'));
  }
  close(id: string, now: number): void {
    this.#wasm.close(str(id, 'sessionId'), num(now, 'now'));
  }
  expire(id: string, now: number): void {
    this.#wasm.expire(str(id, 'sessionId'), num(now, 'now'));
  }
  clearAll(now: number): number {
    return this.#wasm.clearAll(num(now, 'now'));
  }
  renew(id: string, principal: string | null | undefined, now: number): SessionView {
    return this.#wasm.renew(str(id, 'sessionId'), optionalStr(principal, 'principal'), num(now, 'now'));
  }
  sweep(now: number): Expiry[] {
    return this.#wasm.sweep(num(now, 'now'));
  }
  /** `sweep` answering only the IDs of the sessions it ended, in deadline order;
   * with `limit`, ending at most that many (a `sweepPaused` event says if more are due). */
  sweepIds(now: number, limit?: number): string[] {
    const text = this.#wasm.sweepIds(num(now, 'now'), optionalNum(limit, 'limit'));
    return text === '' ? [] : text.slice(0, -1).split('\n');
  }
  nextDeadline(): number | undefined {
    return this.#wasm.nextDeadline();
  }
  /** The earliest deadline if before `bound` (any if `bound` is undefined). */
  nextDeadlineBefore(bound: number | undefined): number | undefined {
    return this.#wasm.nextDeadlineBefore(optionalNum(bound, 'bound'));
  }
  drainEvents(): CoreEvent[] {
    return this.#wasm.drainEvents();
  }
  pendingEvents(): number {
    return this.#wasm.pendingEvents();
  }
  clock(): number {
    return this.#wasm.clock();
  }
  snapshot(now: number): string {
    return this.#wasm.snapshot(num(now, 'now'));
  }
  export(ids: string[], now: number): string {
    return this.#wasm.export(ids, num(now, 'now'));
  }
  /** Takes records fetched from a shared store (an `export` document) in place of
   * local copies; drops the copies of the other `ids`. */
  adopt(ids: string[], text: string, now: number): RestoreReport {
    return this.#wasm.adopt(ids, str(text, 'text'), num(now, 'now'));
  }
  /** Drops the local copies of `ids`. */
  release(ids: string[]): void {
    this.#wasm.release(ids);
  }
  /** Journals durable changes from now on (see `persistence.ts`). */
  setJournaling(on: boolean): void {
    this.#wasm.setJournaling(on === true);
  }
  journalPending(): boolean {
    return this.#wasm.journalPending();
  }
  /** The records of the sessions changed since the last commit or revert. */
  journalExport(now: number): string {
    return this.#wasm.journalExport(num(now, 'now'));
  }
  journalCommit(): void {
    this.#wasm.journalCommit();
  }
  /** Undoes the journaled changes and takes back their events. */
  journalRevert(): void {
    this.#wasm.journalRevert();
  }
  /** The records of live sessions touched since the last activity commit. */
  activityExport(now: number): string | undefined {
    return this.#wasm.activityExport(num(now, 'now'));
  }
  activityCommit(): void {
    this.#wasm.activityCommit();
  }
  /** Starts a restore read line by line (`restoreAdd`, then `restoreCommit`). */
  restoreBegin(): void {
    this.#wasm.restoreBegin();
  }
  /** One line of a snapshot written as records, a whole snapshot, or (with
   * `newestWins`) a journal record, whose images replace earlier ones. */
  restoreAdd(line: string, newestWins: boolean): void {
    this.#wasm.restoreAdd(str(line, 'line'), newestWins === true);
  }
  /** One piece of a version 3 (binary) snapshot, as `snapshotPieces` gave it;
   * with `newestWins` (pieces taken across turns) a later image of a session
   * replaces an earlier one. */
  restoreAddPiece(piece: Uint8Array, newestWins: boolean): void {
    if (!(piece instanceof Uint8Array)) throw SessionError.invalidArgument('piece', 'must be a Uint8Array');
    this.#wasm.restoreAddPiece(piece, newestWins === true);
  }
  /** Validates and applies the lines and pieces added, all or nothing. */
  restoreCommit(now: number): RestoreReport {
    return this.#wasm.restoreCommit(num(now, 'now'));
  }
  restoreAbort(): void {
    this.#wasm.restoreAbort();
  }
  /** The snapshot as pieces of lines (about `maxBytes` each), the first with the
   * header, for a host that writes it as it comes: see `SessionStore::snapshot_records`. */
  *snapshotRecords(now: number, maxBytes: number): Generator<string> {
    yield* this.#walk((from) => this.#wasm.snapshotRecords(num(now, 'now'), from, num(maxBytes, 'maxBytes')));
  }
  /** The snapshot in version 3 (binary), in pieces of about `maxBytes`, the first
   * with the header: see `SessionStore::snapshot_pieces`. Several times smaller
   * and faster to read back than `snapshotRecords`. */
  *snapshotPieces(now: number, maxBytes: number): Generator<Uint8Array> {
    yield* this.#walk((from) => this.#wasm.snapshotPieces(num(now, 'now'), from, num(maxBytes, 'maxBytes')));
  }
  /** Takes pieces from slot 0 until the core says there are no more. */
  *#walk<T>(take: (from: number) => T): Generator<T> {
    let from = 0;
    do {
      const piece = take(from);
      // Read before yielding: whoever takes the pieces may let other calls (even
      // another walk) run between two of them.
      from = this.#wasm.snapshotNext();
      yield piece;
    } while (from >= 0);
  }
  restore(snapshot: string, now: number): RestoreReport {
    return this.#wasm.restore(str(snapshot, 'snapshot'), num(now, 'now'));
  }
  /** Records only these event kinds from now on (all by default). */
  setEventFilter(kinds: CoreEvent['type'][]): void {
    this.#wasm.setEventFilter(kinds);
  }
  /** Frees the WebAssembly memory of this store. */
  free(): void {
    this.#freed = true;
    this.#wasm.free();
  }
  [Symbol.dispose](): void {
    this.free();
  }
}
