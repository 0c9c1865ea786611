//! The TypeScript types of the values that cross as plain JS objects (the methods
//! take and return them as `JsValue`, named with `unchecked_param_type` and
//! `unchecked_return_type`): without them the generated `.d.ts` would say `any`.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export type CapacityPolicy = "reject" | "evict-idlest";

/** Core configuration; every field is optional and has a default. */
export interface CoreConfig {
  initTimeoutMs?: number;
  idleTimeoutMs?: number;
  absoluteLifetimeMs?: number | null;
  maxSessions?: number;
  capacityPolicy?: CapacityPolicy;
  maxSessionsPerPrincipal?: number | null;
  maxStateBytes?: number;
  supportedProtocolVersions?: string[];
  endedRetentionMs?: number;
  maxEndedRemembered?: number;
  maxPendingEvents?: number;
  /** The most sessions one call ends for their deadlines (10,000); the manager's
   * timer ends the rest in later turns of the event loop. */
  sweepBatchSize?: number;
  /** Requests one session may have in flight at once (32); one more is 429. */
  maxInFlightPerSession?: number;
  /** The largest clientInfo, and the largest capabilities, a session keeps (8 KiB). */
  maxClientMetadataBytes?: number;
  /** The most bytes all sessions may hold together (256 MiB; null: no limit). */
  maxTotalBytes?: number | null;
}

export type Phase = "initializing" | "active" | "disconnected";
/** Why a session ended (the core's one `EndReason`). */
export type EndReason = "closed" | "init" | "idle" | "lifetime" | "requested" | "evicted";
/** Every `EndReason` but `closed`: why a session expired (expired events and sweeps never say `closed`). */
export type ExpiryReason = Exclude<EndReason, "closed">;

export interface CreateParams {
  principal?: string | null;
  /** Set for an MCP `initialize`: the session starts `initializing`. */
  requestedProtocolVersion?: string | null;
  clientInfo?: JsonObject | null;
  /** The seed API's `clientId`: kept as `clientInfo: { name }` when no `clientInfo` is given. */
  clientId?: string | null;
  /** An MCP capabilities object, or a list of names (the seed API's form); kept as given. */
  capabilities?: Capabilities | null;
  idleTimeoutMs?: number | null;
  /** The seed API's name for `idleTimeoutMs`. */
  timeout?: number | null;
  state?: JsonObject | null;
}

/** Client capabilities: the MCP object, or a list of capability names. */
export type Capabilities = JsonObject | string[];

export interface SessionView {
  id: string;
  principal: string | null;
  protocolVersion: string;
  clientInfo: JsonObject | null;
  capabilities: Capabilities | null;
  phase: Phase;
  state: JsonObject;
  version: number;
  createdAt: number;
  lastActivity: number;
  /** null while a request is in flight and no absolute lifetime applies. */
  expiresAt: number | null;
  idleTimeoutMs: number;
  inFlight: number;
}

export interface EndedView {
  id: string;
  principal: string | null;
  protocolVersion: string;
  clientInfo: JsonObject | null;
  capabilities: Capabilities | null;
  state: JsonObject;
  version: number;
  createdAt: number;
  lastActivity: number;
  reason: EndReason;
  endedAt: number;
  renewedTo: string | null;
}

export type Lookup =
  | { status: "live"; session: SessionView }
  | { status: "ended"; session: EndedView }
  | { status: "unknown" };

export type RequestKind = "initialize" | "initialized" | "other";

export interface RequestHead {
  /** The raw `Mcp-Session-Id` header, undefined/null when absent. */
  sessionId?: string | null;
  principal?: string | null;
  kind: RequestKind;
  /** The raw `MCP-Protocol-Version` header, if present. */
  protocolVersion?: string | null;
}

export type Admission = { outcome: "initialize" } | { outcome: "admitted"; phase: Phase };

export interface Expiry { sessionId: string; reason: ExpiryReason; at: number }

export interface Stats {
  live: number;
  initializing: number;
  active: number;
  disconnected: number;
  inFlight: number;
  endedRemembered: number;
  pendingEvents: number;
  droppedEvents: number;
  approximateBytes: number;
  /** What the stored sessions hold, as `maxTotalBytes` counts it. */
  totalBytes: number;
}

export interface RestoreReport {
  restored: number;
  skippedExpired: number;
  refusedExisting: number;
  refusedCapacity: number;
  endedRestored: number;
}

export type CoreEvent =
  | { type: "created"; sessionId: string; phase: Phase; at: number }
  | { type: "initialized"; sessionId: string; at: number }
  | { type: "stateChanged"; sessionId: string; version: number; at: number }
  | { type: "disconnected"; sessionId: string; at: number }
  | { type: "resumed"; sessionId: string; at: number }
  | { type: "closed"; sessionId: string; at: number }
  | { type: "expired"; sessionId: string; reason: ExpiryReason; at: number }
  | { type: "evicted"; sessionId: string; at: number }
  | { type: "restored"; sessionId: string; at: number }
  | { type: "renewed"; sessionId: string; previousSessionId: string; at: number }
  /** A call ended `ended` sessions and stopped at `sweepBatchSize` with more due. */
  | { type: "sweepPaused"; ended: number; at: number };

export type SessionErrorCode =
  | "MISSING_SESSION_ID" | "INVALID_SESSION_ID" | "SESSION_NOT_FOUND" | "SESSION_EXPIRED"
  | "SESSION_CLOSED" | "PRINCIPAL_MISMATCH" | "NOT_INITIALIZED" | "ALREADY_INITIALIZED"
  | "UNSUPPORTED_PROTOCOL_VERSION" | "VERSION_CONFLICT" | "STATE_TOO_LARGE" | "INVALID_STATE"
  | "CAPACITY_EXCEEDED" | "PRINCIPAL_LIMIT_EXCEEDED" | "INVALID_SNAPSHOT" | "INVALID_CONFIG"
  | "INVALID_ARGUMENT" | "ID_SOURCE_FAILED" | "TOO_MANY_REQUESTS" | "NOT_ACCEPTABLE"
  | "UNSUPPORTED_MEDIA_TYPE" | "INVALID_REQUEST" | "STORAGE_LIMIT_EXCEEDED";

/** What a session keeps of a well-formed `initialize` request. */
export interface Handshake {
  protocolVersion: string;
  clientInfo: JsonObject;
  capabilities: JsonObject;
}
"#;
