import type { SessionCore } from './core';
import { lookupStatuses, type Capabilities, type EndReason, type JsonObject } from '../generated/mcp_session_core';
import { SessionError } from './errors';
import { lazy } from './lazy';
import type { SessionInfo, SessionStatus } from './manager';

/** `status` and `endReason` for each status number `SessionCore.lookup` writes, by
 * number as the core gives them: a live session's status is its phase; an ended
 * one is `closed` if it was closed, else `expired` (the seed brief's statuses). */
const statuses = lazy((): readonly (readonly [SessionStatus, EndReason | null])[] =>
  lookupStatuses().map(([phase, reason]): readonly [SessionStatus, EndReason | null] => [
    phase ?? (reason === 'closed' ? 'closed' : 'expired'),
    reason,
  ]),
);

/** `clientInfo.name`, the seed API's `clientId`. */
export function clientIdOf(clientInfo: JsonObject | null): string | null {
  const name = clientInfo?.['name'];
  return typeof name === 'string' ? name : null;
}

interface Metadata {
  principal: string | null;
  protocolVersion: string;
  clientInfo: JsonObject | null;
  capabilities: Capabilities | null;
  renewedTo: string | null;
}

/**
 * What `getSession` answers: a session as it was when looked up. Its numbers
 * (status, version, times) come in one call as numbers, and its state with them
 * (an empty state is made here, without crossing): a caller that reads, then
 * writes with the version it read, must see the state of that version. The client
 * metadata (principal, protocol version, client info, capabilities) never changes
 * for a session, so it is read from the core the first time it is used. Dates are
 * made when read. Plain data through `toJSON()` (and so `JSON.stringify`).
 */
export class StoredSession implements SessionInfo {
  readonly id: string;
  readonly status: SessionStatus;
  readonly endReason: EndReason | null;
  readonly inFlight: number;
  /** The version of `state`. */
  readonly version: number;
  readonly state: JsonObject;
  readonly #core: SessionCore;
  readonly #slot: number;
  readonly #order: number;
  readonly #createdAt: number;
  readonly #lastActivity: number;
  readonly #expiresAt: number;
  #metadata: Metadata | undefined;

  /** `scratch` holds the numbers `core.lookup(id)` just wrote for `slot`. */
  constructor(core: SessionCore, id: string, slot: number, scratch: Float64Array) {
    const [status, endReason] = statuses()[scratch[0] as number] ?? ['closed', 'closed'];
    this.id = id;
    this.status = status;
    this.endReason = endReason;
    this.inFlight = scratch[5] as number;
    this.#core = core;
    this.#slot = slot;
    this.#order = scratch[1] as number;
    this.#createdAt = scratch[2] as number;
    this.#lastActivity = scratch[3] as number;
    this.#expiresAt = scratch[4] as number;
    this.version = scratch[7] as number;
    this.state =
      scratch[6] === 2 ? {} : (JSON.parse(this.#read((c) => c.stateText(slot, this.#order))) as JsonObject);
  }

  get createdAt(): Date {
    return new Date(this.#createdAt);
  }
  get lastActivity(): Date {
    return new Date(this.#lastActivity);
  }
  /** When the session ends (live), or ended (ended); null while a request is in flight. */
  get expiresAt(): Date | null {
    return Number.isNaN(this.#expiresAt) ? null : new Date(this.#expiresAt);
  }
  get principal(): string | null {
    return this.#meta().principal;
  }
  get protocolVersion(): string {
    return this.#meta().protocolVersion;
  }
  get clientInfo(): JsonObject | null {
    return this.#meta().clientInfo;
  }
  get capabilities(): Capabilities | null {
    return this.#meta().capabilities;
  }
  /** `clientInfo.name`, as the seed API's `clientId`. */
  get clientId(): string | null {
    return clientIdOf(this.#meta().clientInfo);
  }

  /** Every field as plain data. */
  toJSON(): SessionInfo {
    return {
      id: this.id,
      clientId: this.clientId,
      clientInfo: this.clientInfo,
      capabilities: this.capabilities,
      principal: this.principal,
      status: this.status,
      endReason: this.endReason,
      state: this.state,
      version: this.version,
      protocolVersion: this.protocolVersion,
      createdAt: this.createdAt,
      lastActivity: this.lastActivity,
      expiresAt: this.expiresAt,
      inFlight: this.inFlight,
    };
  }

  #meta(): Metadata {
    this.#metadata ??= JSON.parse(this.#read((core) => core.metadataText(this.#slot, this.#order))) as Metadata;
    return this.#metadata;
  }

  /** A lazy field's text, or a typed error if the session can no longer be read. */
  #read(from: (core: SessionCore) => string | undefined): string {
    if (this.#core.freed) {
      throw SessionError.invalidArgument('session', 'its session manager was disposed or reloaded before this field was read');
    }
    const text = from(this.#core);
    if (text === undefined) {
      throw SessionError.sessionNotFound(this.id);
    }
    return text;
  }
}
