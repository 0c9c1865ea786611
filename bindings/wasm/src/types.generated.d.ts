// Generated from the Rust types of mcp-session-core by the test in src/typescript.rs:
// do not edit. After changing a type, run `WRITE_TS_TYPES=1 cargo test --lib typescript`.
// Json, JsonObject and Capabilities are declared beside this (bindings/wasm/src/types.rs).

/**
 * Configuration of a [`crate::SessionStore`]. Every field has a default; JSON and JS
 * callers use the camelCase names and may give any subset.
 */
export type ResolvedConfig = { 
/**
 * A session that has not sent `notifications/initialized` ends this long after
 * it was created (rmcp's default: 60 s).
 */
initTimeoutMs: number, 
/**
 * A session ends this long after its last request ended (30 min, as n8n-mcp and
 * the python SDK). A session with a request or stream in flight is never idle.
 */
idleTimeoutMs: number, 
/**
 * If set, a session ends this long after it was created, however busy.
 */
absoluteLifetimeMs: number | null, 
/**
 * Live sessions at most (10,000, as the python and C# SDKs).
 */
maxSessions: number, 
/**
 * What happens at `max_sessions`.
 */
capacityPolicy: CapacityPolicy, 
/**
 * If set, live sessions one principal may hold.
 */
maxSessionsPerPrincipal: number | null, 
/**
 * Largest state, as serialized JSON bytes (64 KiB).
 */
maxStateBytes: number, 
/**
 * Protocol versions this server speaks, oldest first. A client asking for
 * another gets the newest (the last), as the spec's negotiation says.
 */
supportedProtocolVersions: Array<string>, 
/**
 * How long an ended session's ID is remembered, so that it answers 404 with its
 * reason, can be renewed, and is never handed out again.
 */
endedRetentionMs: number, 
/**
 * How many ended sessions are remembered at most (the oldest go first).
 */
maxEndedRemembered: number, 
/**
 * How many undrained events are kept; past that the oldest are dropped and
 * counted, so a host that never drains cannot make the store grow.
 */
maxPendingEvents: number, 
/**
 * The most sessions one call ends for their deadlines. More than that due at
 * once (a million sessions made together, expiring together) end over several
 * calls, so no call blocks the host for long: the manager's timer ends the
 * rest in later turns of the event loop. A due session that is used before its
 * turn ends when it is used.
 */
sweepBatchSize: number, 
/**
 * Requests (and streams) one session may have in flight at once; one more is
 * refused with `TOO_MANY_REQUESTS` (429), so one client cannot tie up the server
 * with slow calls on one session.
 */
maxInFlightPerSession: number, 
/**
 * The largest `clientInfo`, and the largest `capabilities`, a new session keeps
 * (serialized JSON; 8 KiB each, at most 64 KiB): what a rebuild after a restart
 * needs, and no more. A bigger one refuses the session (`INVALID_ARGUMENT`).
 */
maxClientMetadataBytes: number, 
/**
 * If set, the most bytes every session, live or remembered as ended, may hold
 * together: the size of their snapshot records, state and metadata included
 * (default 256 MiB, so a snapshot stays far below the 512 MB a JS string can
 * hold). Past it the oldest ended records are forgotten first; then a create or
 * a state change that needs room is refused with `STORAGE_LIMIT_EXCEEDED` (503).
 */
maxTotalBytes: number | null, 
/**
 * A state handle (a 2026-era record a tool creates) ends this long after it
 * was last used (30 min).
 */
handleIdleTimeoutMs: number, 
/**
 * A state handle ends this long after it was created, however busy (24 h):
 * the bounded lifetime the creating tool's description states.
 */
handleLifetimeMs: number, 
/**
 * Live state handles at most, counted apart from sessions (10,000).
 */
maxHandles: number, 
/**
 * If set, live state handles one principal may hold (anonymous handles count
 * together as one principal); counted apart from sessions (1,000).
 */
maxHandlesPerPrincipal: number | null, 
/**
 * How many redeemed, unexpired `requestState` tokens the store remembers
 * (100,000): the single-use ledger's bound. A full ledger refuses a redemption
 * (`ledger_full`) rather than forget a token that could then be replayed.
 */
maxRedeemedTokens: number, };

/**
 * What `create` does when `max_sessions` live sessions exist.
 */
export type CapacityPolicy = "reject" | "evict-idlest";

/**
 * How to create a session.
 */
export type CreateParams = { 
/**
 * The authenticated user the session is bound to.
 */
principal?: string | null, 
/**
 * Set for an MCP `initialize`: the version the client asked for. The session
 * gets the negotiated version and starts `initializing` until
 * `notifications/initialized`. Unset for a plain create (the seed's
 * `createSession`): the session is `active` at once, on the newest version.
 */
requestedProtocolVersion?: string | null, 
/**
 * The client's `clientInfo` from `initialize` (a JSON object), kept so that a
 * restarted server can rebuild the session.
 */
clientInfo?: JsonObject | null, 
/**
 * The seed API's `clientId`: kept as `clientInfo: { name }` when no
 * `clientInfo` is given.
 */
clientId?: string | null, 
/**
 * The client's `capabilities` from `initialize` (a JSON object), or a list of
 * capability names as the seed API passes them; kept as given.
 */
capabilities?: Capabilities | null, 
/**
 * This session's idle timeout, instead of the store's.
 */
idleTimeoutMs?: number | null, 
/**
 * The seed API's name for `idle_timeout_ms` (ms).
 */
timeout?: number | null, 
/**
 * The initial state (a JSON object); empty if absent.
 */
state?: JsonObject | null, };

/**
 * The phase of a live session.
 */
export type Phase = "initializing" | "active" | "disconnected";

/**
 * Why a session ended: in its remembered record, its `expired`/`closed` event,
 * and the error its ID answers afterwards.
 *
 * Closed sessions answer `SESSION_CLOSED`; every other cause answers
 * `SESSION_EXPIRED` with this cause in its details.
 */
export type EndReason = "closed" | "init" | "idle" | "lifetime" | "requested" | "evicted";

/**
 * A copy of a live session, as operations return it.
 */
export type SessionView = { id: string, principal: string | null, protocolVersion: string, clientInfo: JsonObject | null, capabilities: Capabilities | null, state: JsonObject, version: number, createdAt: number, lastActivity: number, phase: Phase, 
/**
 * When the session ends unless something happens; `None` while a request is
 * in flight and no absolute lifetime applies.
 */
expiresAt: number | null, idleTimeoutMs: number, inFlight: number, 
/**
 * When the absolute lifetime (`absoluteLifetimeMs`) ends, however busy the
 * session is; `None` without one. Operators see it beside `expires_at`,
 * which is only the nearer of the two.
 */
lifetimeEndsAt: number | null, };

/**
 * A copy of a remembered ended session.
 */
export type EndedView = { id: string, principal: string | null, protocolVersion: string, clientInfo: JsonObject | null, capabilities: Capabilities | null, state: JsonObject, version: number, createdAt: number, lastActivity: number, reason: EndReason, endedAt: number, 
/**
 * The session it was renewed into, if any.
 */
renewedTo: string | null, };

/**
 * What an ID refers to: see [`crate::SessionStore::find`].
 */
export type Lookup = { "status": "live", "session": SessionView } | { "status": "ended", "session": EndedView } | { "status": "unknown" };

/**
 * Which kind of JSON-RPC message the request carries.
 */
export type RequestKind = "initialize" | "initialized" | "other";

/**
 * The parts of a request the gate looks at, raw from the transport.
 */
export type RequestHead = { 
/**
 * The `Mcp-Session-Id` header value, as received (`None` if absent).
 */
sessionId?: string | null, 
/**
 * The authenticated user, from the host's auth (never from the client).
 */
principal?: string | null, kind: RequestKind, 
/**
 * The `MCP-Protocol-Version` header value, if present.
 */
protocolVersion?: string | null, };

/**
 * What the gate decided for a request that may go on.
 */
export type Admission = { "outcome": "initialize" } | { "outcome": "admitted", phase: Phase, };

/**
 * What a session keeps of a well-formed `initialize` request: what a restarted
 * server needs to rebuild it, and no more.
 */
export type Handshake = { protocolVersion: string, clientInfo: JsonObject, capabilities: JsonObject, };

/**
 * A session that ended because its deadline passed, as `sweep` reports it.
 */
export type Expiry = { sessionId: string, 
/**
 * Never `closed`: declared to TypeScript as `ExpiryReason`.
 */
reason: ExpiryReason, 
/**
 * The deadline that passed.
 */
at: number, };

/**
 * Counts for operators.
 */
export type Stats = { live: number, initializing: number, active: number, disconnected: number, 
/**
 * Requests and streams in flight, over all sessions.
 */
inFlight: number, 
/**
 * Ended sessions remembered (they answer 404 with a reason).
 */
endedRemembered: number, pendingEvents: number, droppedEvents: number, 
/**
 * An estimate of the memory the sessions and records take, in bytes.
 */
approximateBytes: number, 
/**
 * What every stored session (live or remembered) holds, as `max_total_bytes`
 * counts it: about the size of their snapshot records.
 */
totalBytes: number, 
/**
 * Live state handles (not counted in `live` or the phases).
 */
handlesLive: number, 
/**
 * Ended state handles remembered (they answer expired or destroyed).
 */
handlesEndedRemembered: number, 
/**
 * Redeemed `requestState` tokens the single-use ledger remembers.
 */
redeemedTokens: number, };

/**
 * What a restore did.
 */
export type RestoreReport = { 
/**
 * Sessions now live again.
 */
restored: number, 
/**
 * Sessions already past their deadline at the time of the restore.
 */
skippedExpired: number, 
/**
 * Sessions whose ID is already live or remembered as ended here.
 */
refusedExisting: number, 
/**
 * Sessions left out because the store was full (the most recently active are
 * restored first).
 */
refusedCapacity: number, 
/**
 * Ended sessions remembered again (for 404 reasons, renewal, no reuse).
 */
endedRestored: number, 
/**
 * Redeemed `requestState` tokens remembered again (still unexpired, and not
 * over `max_redeemed_tokens`): a replay after the restart is refused.
 */
redeemedRestored: number, };

/**
 * The kind of an [`Event`], for choosing which events a store records.
 */
export type EventKind = "created" | "initialized" | "stateChanged" | "disconnected" | "resumed" | "closed" | "expired" | "evicted" | "restored" | "renewed" | "sweepPaused" | "handleCreated" | "handleDestroyed" | "handleExpired";

/**
 * One lifecycle change. `at` is the store's time of the change; for an expiry, the
 * deadline that passed.
 */
export type CoreEvent = { "type": "created", sessionId: string, phase: Phase, at: number, } | { "type": "initialized", sessionId: string, at: number, } | { "type": "stateChanged", sessionId: string, version: number, at: number, } | { "type": "disconnected", sessionId: string, at: number, } | { "type": "resumed", sessionId: string, at: number, } | { "type": "closed", sessionId: string, at: number, } | { "type": "expired", sessionId: string, 
/**
 * Never `closed` (that is the `closed` event).
 */
reason: ExpiryReason, at: number, } | { "type": "evicted", sessionId: string, at: number, } | { "type": "restored", sessionId: string, at: number, } | { "type": "sweepPaused", ended: number, at: number, } | { "type": "renewed", sessionId: string, previousSessionId: string, at: number, } | { "type": "handleCreated", handleId: string, principal: string | null, at: number, } | { "type": "handleDestroyed", handleId: string, at: number, } | { "type": "handleExpired", handleId: string, reason: ExpiryReason, at: number, };

/**
 * Every failure of the core. No operation panics; each returns one of these and
 * changes nothing.
 *
 * Hosts make the failures of their own I/O and transport (storage, oversized or
 * unparsable bodies, refused origins) as variants here too, so that every code,
 * HTTP status and JSON-RPC code a client can see is decided in one place.
 */
export type SessionErrorDetails = { "code": "MISSING_SESSION_ID" } | { "code": "INVALID_SESSION_ID", reason: InvalidIdReason, } | { "code": "SESSION_NOT_FOUND", sessionId: string, } | { "code": "SESSION_EXPIRED", sessionId: string, 
/**
 * Never `closed` (that is `SESSION_CLOSED`).
 */
reason: ExpiryReason, } | { "code": "SESSION_CLOSED", sessionId: string, } | { "code": "PRINCIPAL_MISMATCH", sessionId: string, } | { "code": "NOT_INITIALIZED", sessionId: string, } | { "code": "ALREADY_INITIALIZED", sessionId: string, } | { "code": "UNSUPPORTED_PROTOCOL_VERSION", requested: string, supported: Array<string>, } | { "code": "VERSION_CONFLICT", sessionId: string, expectedVersion: number, actualVersion: number, } | { "code": "STATE_TOO_LARGE", size: number, limit: number, } | { "code": "INVALID_STATE", reason: string, } | { "code": "CAPACITY_EXCEEDED", limit: number, retryAfterMs: number, } | { "code": "PRINCIPAL_LIMIT_EXCEEDED", limit: number, retryAfterMs: number, } | { "code": "STORAGE_LIMIT_EXCEEDED", limit: number, retryAfterMs: number, } | { "code": "TOO_MANY_REQUESTS", limit: number, retryAfterMs: number, } | { "code": "NOT_ACCEPTABLE" } | { "code": "UNSUPPORTED_MEDIA_TYPE" } | { "code": "INVALID_REQUEST", reason: string, } | { "code": "INVALID_SNAPSHOT", record: string | null, field: string, reason: string, } | { "code": "INVALID_CONFIG", field: string, reason: string, } | { "code": "INVALID_ARGUMENT", argument: string, reason: string, } | { "code": "ID_SOURCE_FAILED", reason: string, } | { "code": "STORAGE_FAILED", reason: string, detail: string, } | { "code": "PAYLOAD_TOO_LARGE", limit: number, } | { "code": "PARSE_ERROR" } | { "code": "FORBIDDEN", reason: ForbiddenReason, } | { "code": "HANDLE_NOT_FOUND", handleId: string, } | { "code": "HANDLE_EXPIRED", handleId: string, 
/**
 * Never `closed` (that is `HANDLE_DESTROYED`).
 */
reason: ExpiryReason, } | { "code": "HANDLE_DESTROYED", handleId: string, } | { "code": "HANDLE_LIMIT_EXCEEDED", limit: number, retryAfterMs: number, };

/**
 * What is wrong with a raw `Mcp-Session-Id` header value.
 */
export type InvalidIdReason = "empty" | "tooLong" | "invalidCharacter";

/**
 * Why a request was refused before anything else looked at it.
 */
export type ForbiddenReason = "host" | "origin" | "notOperator";

/**
 * The response a server sends for a failed request: what a client may know of the
 * error, and nothing more.
 */
export type ClientAnswer = { httpStatus: number, 
/**
 * The `code` of the JSON-RPC error object.
 */
jsonRpcCode: number, 
/**
 * The `message` of the JSON-RPC error object.
 */
message: string, 
/**
 * The `Retry-After` header, in whole seconds, for the answers that have one.
 */
retryAfterSecs: number | null, };

/**
 * What a stored record is. Both kinds live in the same table, deadline index,
 * ended-ID memory and snapshots; they differ in what may be done with them and in
 * their limits.
 */
export type RecordKind = "session" | "handle";

/**
 * A copy of a live state handle.
 */
export type HandleView = { handleId: string, principal: string | null, state: JsonObject, version: number, createdAt: number, lastActivity: number, 
/**
 * When the handle ends unless it is used again: the earlier of its idle
 * deadline and its lifetime.
 */
expiresAt: number, 
/**
 * When its lifetime ends, however busy it is.
 */
lifetimeEndsAt: number, };

/**
 * Why a token was refused. The codes of the first four are the SDK's
 * `RequestStateCodec.verify` reasons, with the same meaning; `replayed` and
 * `ledger_full` are ours (single use).
 */
export type RequestStateRefusalReason = "malformed" | "mac" | "expired" | "bind" | "replayed" | "ledger_full";
