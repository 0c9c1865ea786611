//! The one error type of the crate.
//!
//! Every failure a host can meet is a variant here, and each variant carries what a
//! server needs to answer with: a stable string code (for logs and for JS, where it
//! becomes `error.code`), the HTTP status the MCP Streamable HTTP spec asks for, and a
//! JSON-RPC error code. The details are fields, so a host never parses a message.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a session ended: in its remembered record, its `expired`/`closed` event,
/// and the error its ID answers afterwards.
///
/// Closed sessions answer `SESSION_CLOSED`; every other cause answers
/// `SESSION_EXPIRED` with this cause in its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum EndReason {
    /// Ended by the client or the host (HTTP DELETE, `close`, `clear_all`).
    Closed,
    /// The client never sent `notifications/initialized` within the init timeout.
    Init,
    /// Nothing happened for the idle timeout after the last request ended.
    Idle,
    /// The absolute lifetime ran out, however busy the session was.
    Lifetime,
    /// The host expired it on purpose (`expire`).
    Requested,
    /// It was evicted to make room under the `evict-idlest` capacity policy.
    Evicted,
}

impl EndReason {
    /// Every reason, in declaration order (checked against the enum in
    /// `typescript`'s tests).
    pub const ALL: [EndReason; 6] = [
        EndReason::Closed,
        EndReason::Init,
        EndReason::Idle,
        EndReason::Lifetime,
        EndReason::Requested,
        EndReason::Evicted,
    ];

    /// The stable lower-case name used in messages, events and snapshots.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Closed => "closed",
            EndReason::Init => "init",
            EndReason::Idle => "idle",
            EndReason::Lifetime => "lifetime",
            EndReason::Requested => "requested",
            EndReason::Evicted => "evicted",
        }
    }

    /// The error a request for a session that ended this way gets.
    pub fn error(self, session_id: &str) -> SessionError {
        let session_id = session_id.to_owned();
        match self {
            EndReason::Closed => SessionError::SessionClosed { session_id },
            reason => SessionError::SessionExpired { session_id, reason },
        }
    }

    /// The error a call for a state handle that ended this way gets.
    pub fn handle_error(self, handle_id: &str) -> SessionError {
        let handle_id = handle_id.to_owned();
        match self {
            EndReason::Closed => SessionError::HandleDestroyed { handle_id },
            reason => SessionError::HandleExpired { handle_id, reason },
        }
    }
}

/// What is wrong with a raw `Mcp-Session-Id` header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum InvalidIdReason {
    /// The header was present but empty.
    Empty,
    /// Longer than [`crate::MAX_SESSION_ID_BYTES`].
    TooLong,
    /// A byte outside visible ASCII (0x21-0x7E), as the spec requires.
    InvalidCharacter,
}

/// Why a request was refused before anything else looked at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum ForbiddenReason {
    /// The `Host` header names a host this server does not answer to (DNS
    /// rebinding: a hostile page whose name was re-pointed at the server).
    Host,
    /// The `Origin` header names a page that may not call this server.
    Origin,
    /// An operator endpoint reached by someone who is not an operator.
    NotOperator,
}

/// How long a client is told to wait after a storage failure: the host's store
/// failing (a full disk) is usually brief or needs an operator, so a second is
/// enough not to hammer it and short enough not to stall a client for nothing.
const STORAGE_RETRY_MS: u64 = 1_000;

/// Every failure of the core. No operation panics; each returns one of these and
/// changes nothing.
///
/// Hosts make the failures of their own I/O and transport (storage, oversized or
/// unparsable bodies, refused origins) as variants here too, so that every code,
/// HTTP status and JSON-RPC code a client can see is decided in one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename = "SessionErrorDetails"))]
#[serde(
    tag = "code",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum SessionError {
    /// A non-initialize request came without an `Mcp-Session-Id` header.
    MissingSessionId,
    /// The header is malformed; the value is not echoed (it may be hostile).
    InvalidSessionId { reason: InvalidIdReason },
    /// No session with this ID exists or is remembered.
    SessionNotFound { session_id: String },
    /// The session ended by expiry or eviction.
    SessionExpired {
        session_id: String,
        /// Never `closed` (that is `SESSION_CLOSED`).
        #[cfg_attr(test, ts(type = "ExpiryReason"))]
        reason: EndReason,
    },
    /// The session was closed (DELETE, `close` or `clear_all`).
    SessionClosed { session_id: String },
    /// The session belongs to another principal. Clients get the same 404 as for an
    /// unknown ID, so IDs of other users cannot be probed; the code tells operators.
    PrincipalMismatch { session_id: String },
    /// A request other than `notifications/initialized` reached a session that has not
    /// finished its handshake.
    NotInitialized { session_id: String },
    /// `initialize` (or `initialized`) for a session that is already initialized.
    AlreadyInitialized { session_id: String },
    /// The `MCP-Protocol-Version` header names a version this session does not speak.
    UnsupportedProtocolVersion {
        requested: String,
        supported: Vec<String>,
    },
    /// Compare-and-set failed: the state changed since the caller read it.
    VersionConflict {
        session_id: String,
        expected_version: u64,
        actual_version: u64,
    },
    /// The state, serialized as JSON, is over the configured limit.
    StateTooLarge { size: usize, limit: usize },
    /// The state is not a JSON object (or is nested too deeply).
    InvalidState { reason: String },
    /// The store is full and nothing could be evicted.
    CapacityExceeded { limit: usize, retry_after_ms: u64 },
    /// This principal (or, together, every anonymous client) already holds its
    /// maximum number of sessions.
    PrincipalLimitExceeded { limit: usize, retry_after_ms: u64 },
    /// The sessions together hold `max_total_bytes`: no room for a new session or a
    /// larger state until some end.
    StorageLimitExceeded { limit: usize, retry_after_ms: u64 },
    /// The session already has its maximum number of requests in flight.
    TooManyRequests { limit: u32, retry_after_ms: u64 },
    /// An `initialize` POST that does not accept both `application/json` and
    /// `text/event-stream` (what the Streamable HTTP transport answers with).
    NotAcceptable,
    /// An `initialize` POST whose body is not `application/json`.
    UnsupportedMediaType,
    /// An `initialize` POST whose body is not one well-formed `initialize` request.
    InvalidRequest { reason: String },
    /// A snapshot could not be restored; `record` and `field` say where.
    InvalidSnapshot {
        record: Option<String>,
        field: String,
        reason: String,
    },
    /// A configuration value is out of range.
    InvalidConfig { field: String, reason: String },
    /// An argument is out of range (for example a time that is NaN in JS).
    InvalidArgument { argument: String, reason: String },
    /// The ID source could not produce a usable ID (no entropy, or bad output from a
    /// custom source).
    IdSourceFailed { reason: String },
    /// The host's durable store could not write a change (a full disk, an
    /// unwritable data directory): the change was undone, and the client may retry.
    /// `reason` is the system's code (`ENOSPC`), `detail` the host's message: for
    /// logs only, as it may name files ([`SessionError::client_answer`] leaves it out).
    StorageFailed { reason: String, detail: String },
    /// A request body over the host's limit, in bytes.
    PayloadTooLarge { limit: usize },
    /// A request body that is not JSON (JSON-RPC's parse error).
    ParseError,
    /// A request refused by the host's `Host`/`Origin` or operator checks.
    Forbidden { reason: ForbiddenReason },
    /// No state handle with this ID exists or is remembered, or it belongs to
    /// another principal (both read the same, so handles cannot be probed).
    HandleNotFound { handle_id: String },
    /// The state handle ended by its idle timeout or its lifetime.
    HandleExpired {
        handle_id: String,
        /// Never `closed` (that is `HANDLE_DESTROYED`).
        #[cfg_attr(test, ts(type = "ExpiryReason"))]
        reason: EndReason,
    },
    /// The state handle was destroyed.
    HandleDestroyed { handle_id: String },
    /// This principal, or the whole store, already holds its maximum number of
    /// state handles (`max_handles_per_principal`, `max_handles`).
    HandleLimitExceeded { limit: usize, retry_after_ms: u64 },
}

impl SessionError {
    /// The stable code, as in `SESSION_NOT_FOUND`.
    pub fn code(&self) -> &'static str {
        match self {
            SessionError::MissingSessionId => "MISSING_SESSION_ID",
            SessionError::InvalidSessionId { .. } => "INVALID_SESSION_ID",
            SessionError::SessionNotFound { .. } => "SESSION_NOT_FOUND",
            SessionError::SessionExpired { .. } => "SESSION_EXPIRED",
            SessionError::SessionClosed { .. } => "SESSION_CLOSED",
            SessionError::PrincipalMismatch { .. } => "PRINCIPAL_MISMATCH",
            SessionError::NotInitialized { .. } => "NOT_INITIALIZED",
            SessionError::AlreadyInitialized { .. } => "ALREADY_INITIALIZED",
            SessionError::UnsupportedProtocolVersion { .. } => "UNSUPPORTED_PROTOCOL_VERSION",
            SessionError::VersionConflict { .. } => "VERSION_CONFLICT",
            SessionError::StateTooLarge { .. } => "STATE_TOO_LARGE",
            SessionError::InvalidState { .. } => "INVALID_STATE",
            SessionError::CapacityExceeded { .. } => "CAPACITY_EXCEEDED",
            SessionError::PrincipalLimitExceeded { .. } => "PRINCIPAL_LIMIT_EXCEEDED",
            SessionError::TooManyRequests { .. } => "TOO_MANY_REQUESTS",
            SessionError::StorageLimitExceeded { .. } => "STORAGE_LIMIT_EXCEEDED",
            SessionError::NotAcceptable => "NOT_ACCEPTABLE",
            SessionError::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            SessionError::InvalidRequest { .. } => "INVALID_REQUEST",
            SessionError::InvalidSnapshot { .. } => "INVALID_SNAPSHOT",
            SessionError::InvalidConfig { .. } => "INVALID_CONFIG",
            SessionError::InvalidArgument { .. } => "INVALID_ARGUMENT",
            SessionError::IdSourceFailed { .. } => "ID_SOURCE_FAILED",
            SessionError::StorageFailed { .. } => "STORAGE_FAILED",
            SessionError::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            SessionError::ParseError => "PARSE_ERROR",
            SessionError::Forbidden { .. } => "FORBIDDEN",
            SessionError::HandleNotFound { .. } => "HANDLE_NOT_FOUND",
            SessionError::HandleExpired { .. } => "HANDLE_EXPIRED",
            SessionError::HandleDestroyed { .. } => "HANDLE_DESTROYED",
            SessionError::HandleLimitExceeded { .. } => "HANDLE_LIMIT_EXCEEDED",
        }
    }

    /// The HTTP status a Streamable HTTP server answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            SessionError::SessionNotFound { .. }
            | SessionError::SessionExpired { .. }
            | SessionError::SessionClosed { .. }
            | SessionError::PrincipalMismatch { .. }
            | SessionError::HandleNotFound { .. }
            | SessionError::HandleExpired { .. }
            | SessionError::HandleDestroyed { .. } => 404,
            SessionError::VersionConflict { .. } => 409,
            SessionError::Forbidden { .. } => 403,
            SessionError::StateTooLarge { .. } | SessionError::PayloadTooLarge { .. } => 413,
            SessionError::PrincipalLimitExceeded { .. }
            | SessionError::TooManyRequests { .. }
            | SessionError::HandleLimitExceeded { .. } => 429,
            SessionError::NotAcceptable => 406,
            SessionError::UnsupportedMediaType => 415,
            SessionError::CapacityExceeded { .. }
            | SessionError::StorageLimitExceeded { .. }
            | SessionError::StorageFailed { .. } => 503,
            SessionError::InvalidConfig { .. } | SessionError::IdSourceFailed { .. } => 500,
            SessionError::MissingSessionId
            | SessionError::InvalidSessionId { .. }
            | SessionError::NotInitialized { .. }
            | SessionError::AlreadyInitialized { .. }
            | SessionError::UnsupportedProtocolVersion { .. }
            | SessionError::InvalidState { .. }
            | SessionError::InvalidSnapshot { .. }
            | SessionError::InvalidRequest { .. }
            | SessionError::InvalidArgument { .. }
            | SessionError::ParseError => 400,
        }
    }

    /// The JSON-RPC error code for the response body. Session errors use the codes the
    /// official TypeScript SDK answers with (-32000 bad request, -32001 session not
    /// found, -32600 already initialized, -32700 parse error), so clients treat them
    /// alike.
    pub fn json_rpc_code(&self) -> i32 {
        match self {
            SessionError::SessionNotFound { .. }
            | SessionError::SessionExpired { .. }
            | SessionError::SessionClosed { .. }
            | SessionError::PrincipalMismatch { .. }
            | SessionError::HandleNotFound { .. }
            | SessionError::HandleExpired { .. }
            | SessionError::HandleDestroyed { .. } => -32001,
            SessionError::AlreadyInitialized { .. }
            | SessionError::InvalidRequest { .. }
            | SessionError::PayloadTooLarge { .. } => -32600,
            SessionError::ParseError => -32700,
            SessionError::StateTooLarge { .. }
            | SessionError::InvalidState { .. }
            | SessionError::InvalidSnapshot { .. }
            | SessionError::InvalidArgument { .. } => -32602,
            SessionError::InvalidConfig { .. }
            | SessionError::IdSourceFailed { .. }
            | SessionError::StorageFailed { .. } => -32603,
            SessionError::MissingSessionId
            | SessionError::InvalidSessionId { .. }
            | SessionError::NotInitialized { .. }
            | SessionError::UnsupportedProtocolVersion { .. }
            | SessionError::VersionConflict { .. }
            | SessionError::CapacityExceeded { .. }
            | SessionError::PrincipalLimitExceeded { .. }
            | SessionError::TooManyRequests { .. }
            | SessionError::StorageLimitExceeded { .. }
            | SessionError::HandleLimitExceeded { .. }
            | SessionError::NotAcceptable
            | SessionError::UnsupportedMediaType
            | SessionError::Forbidden { .. } => -32000,
        }
    }

    /// For the 429 and 503 answers: how long a client should wait (HTTP `Retry-After`).
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            SessionError::CapacityExceeded { retry_after_ms, .. }
            | SessionError::PrincipalLimitExceeded { retry_after_ms, .. }
            | SessionError::TooManyRequests { retry_after_ms, .. }
            | SessionError::StorageLimitExceeded { retry_after_ms, .. }
            | SessionError::HandleLimitExceeded { retry_after_ms, .. } => Some(*retry_after_ms),
            SessionError::StorageFailed { .. } => Some(STORAGE_RETRY_MS),
            _ => None,
        }
    }

    /// `INVALID_ARGUMENT` for `argument`. Public for the bindings, which answer
    /// with it for a value they cannot convert (a NaN time, an unknown field).
    pub fn invalid_argument(argument: &str, reason: impl Into<String>) -> Self {
        SessionError::InvalidArgument {
            argument: argument.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_config(field: &str, reason: impl Into<String>) -> Self {
        SessionError::InvalidConfig {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::MissingSessionId => {
                write!(f, "Bad Request: Mcp-Session-Id header is required")
            }
            SessionError::InvalidSessionId { reason } => {
                let why = match reason {
                    InvalidIdReason::Empty => "it is empty",
                    InvalidIdReason::TooLong => "it is too long",
                    InvalidIdReason::InvalidCharacter => "it has characters outside 0x21-0x7E",
                };
                write!(f, "Bad Request: Mcp-Session-Id is malformed: {why}")
            }
            SessionError::SessionNotFound { session_id }
            | SessionError::PrincipalMismatch { session_id } => {
                write!(f, "Session not found: {session_id}")
            }
            SessionError::SessionExpired { session_id, reason } => {
                write!(f, "Session expired ({}): {session_id}", reason.as_str())
            }
            SessionError::SessionClosed { session_id } => {
                write!(f, "Session closed: {session_id}")
            }
            SessionError::NotInitialized { session_id } => {
                write!(f, "Bad Request: session {session_id} is not initialized")
            }
            SessionError::AlreadyInitialized { session_id } => {
                write!(f, "Invalid Request: session {session_id} is already initialized")
            }
            SessionError::UnsupportedProtocolVersion {
                requested,
                supported,
            } => write!(
                f,
                "Bad Request: unsupported protocol version {requested:?} (supported: {})",
                supported.join(", ")
            ),
            SessionError::VersionConflict {
                session_id,
                expected_version,
                actual_version,
            } => write!(
                f,
                "Version conflict on session {session_id}: expected {expected_version}, actual {actual_version}"
            ),
            SessionError::StateTooLarge { size, limit } => {
                write!(f, "State too large: {size} bytes, limit {limit}")
            }
            SessionError::InvalidState { reason } => write!(f, "Invalid state: {reason}"),
            SessionError::CapacityExceeded {
                limit,
                retry_after_ms,
            } => write!(
                f,
                "Too many sessions (limit {limit}); retry after {retry_after_ms} ms"
            ),
            SessionError::PrincipalLimitExceeded {
                limit,
                retry_after_ms,
            } => write!(
                f,
                "Too many sessions for this user (limit {limit}); retry after {retry_after_ms} ms"
            ),
            SessionError::TooManyRequests {
                limit,
                retry_after_ms,
            } => write!(
                f,
                "Too many requests in flight on this session (limit {limit}); retry after {retry_after_ms} ms"
            ),
            SessionError::StorageLimitExceeded {
                limit,
                retry_after_ms,
            } => write!(
                f,
                "Session storage is full ({limit} bytes); retry after {retry_after_ms} ms"
            ),
            SessionError::NotAcceptable => write!(
                f,
                "Not Acceptable: the client must accept both application/json and text/event-stream"
            ),
            SessionError::UnsupportedMediaType => write!(
                f,
                "Unsupported Media Type: the body must be application/json"
            ),
            SessionError::InvalidRequest { reason } => write!(f, "Invalid Request: {reason}"),
            SessionError::InvalidSnapshot {
                record,
                field,
                reason,
            } => match record {
                Some(record) => write!(f, "Invalid snapshot at {record}, field {field}: {reason}"),
                None => write!(f, "Invalid snapshot, field {field}: {reason}"),
            },
            SessionError::InvalidConfig { field, reason } => {
                write!(f, "Invalid config {field}: {reason}")
            }
            SessionError::InvalidArgument { argument, reason } => {
                write!(f, "Invalid argument {argument}: {reason}")
            }
            SessionError::IdSourceFailed { reason } => write!(f, "ID source failed: {reason}"),
            SessionError::StorageFailed { detail, .. } => {
                write!(f, "Session storage failed: {detail}")
            }
            SessionError::PayloadTooLarge { limit } => {
                write!(f, "Request body too large (limit {limit} bytes)")
            }
            SessionError::ParseError => write!(f, "Parse error: the body is not JSON"),
            SessionError::Forbidden { reason } => match reason {
                ForbiddenReason::Host => write!(f, "Forbidden: host not allowed"),
                ForbiddenReason::Origin => write!(f, "Forbidden: origin not allowed"),
                ForbiddenReason::NotOperator => write!(f, "Forbidden: operators only"),
            },
            SessionError::HandleNotFound { handle_id } => {
                write!(f, "Handle not found: {handle_id}")
            }
            SessionError::HandleExpired { handle_id, reason } => {
                write!(f, "Handle has expired ({}): {handle_id}", reason.as_str())
            }
            SessionError::HandleDestroyed { handle_id } => {
                write!(f, "Handle was destroyed: {handle_id}")
            }
            SessionError::HandleLimitExceeded {
                limit,
                retry_after_ms,
            } => write!(
                f,
                "Handle limit reached (limit {limit}); retry after {retry_after_ms} ms"
            ),
        }
    }
}

impl std::error::Error for SessionError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<SessionError> {
        vec![
            SessionError::MissingSessionId,
            SessionError::InvalidSessionId {
                reason: InvalidIdReason::Empty,
            },
            SessionError::SessionNotFound {
                session_id: "a".into(),
            },
            SessionError::SessionExpired {
                session_id: "a".into(),
                reason: EndReason::Idle,
            },
            SessionError::SessionClosed {
                session_id: "a".into(),
            },
            SessionError::PrincipalMismatch {
                session_id: "a".into(),
            },
            SessionError::NotInitialized {
                session_id: "a".into(),
            },
            SessionError::AlreadyInitialized {
                session_id: "a".into(),
            },
            SessionError::UnsupportedProtocolVersion {
                requested: "1999-01-01".into(),
                supported: vec!["2025-06-18".into()],
            },
            SessionError::VersionConflict {
                session_id: "a".into(),
                expected_version: 1,
                actual_version: 2,
            },
            SessionError::StateTooLarge { size: 10, limit: 5 },
            SessionError::InvalidState {
                reason: "not an object".into(),
            },
            SessionError::CapacityExceeded {
                limit: 1,
                retry_after_ms: 500,
            },
            SessionError::PrincipalLimitExceeded {
                limit: 1,
                retry_after_ms: 500,
            },
            SessionError::TooManyRequests {
                limit: 2,
                retry_after_ms: 1_000,
            },
            SessionError::StorageLimitExceeded {
                limit: 1 << 20,
                retry_after_ms: 500,
            },
            SessionError::NotAcceptable,
            SessionError::UnsupportedMediaType,
            SessionError::InvalidRequest {
                reason: "two initialize requests".into(),
            },
            SessionError::InvalidSnapshot {
                record: Some("sessions[0]".into()),
                field: "id".into(),
                reason: "empty".into(),
            },
            SessionError::invalid_config("maxSessions", "must be at least 1"),
            SessionError::invalid_argument("now", "negative"),
            SessionError::IdSourceFailed {
                reason: "no entropy".into(),
            },
            SessionError::StorageFailed {
                reason: "ENOSPC".into(),
                detail: "no space left on device".into(),
            },
            SessionError::PayloadTooLarge { limit: 4 << 20 },
            SessionError::ParseError,
            SessionError::Forbidden {
                reason: ForbiddenReason::Origin,
            },
            SessionError::HandleNotFound {
                handle_id: "h_a".into(),
            },
            SessionError::HandleExpired {
                handle_id: "h_a".into(),
                reason: EndReason::Lifetime,
            },
            SessionError::HandleDestroyed {
                handle_id: "h_a".into(),
            },
            SessionError::HandleLimitExceeded {
                limit: 3,
                retry_after_ms: 500,
            },
        ]
    }

    #[test]
    fn every_variant_has_code_status_and_json_rpc_code() {
        let table: Vec<(&str, u16, i32)> = every_variant()
            .iter()
            .map(|e| (e.code(), e.http_status(), e.json_rpc_code()))
            .collect();
        assert_eq!(
            table,
            vec![
                ("MISSING_SESSION_ID", 400, -32000),
                ("INVALID_SESSION_ID", 400, -32000),
                ("SESSION_NOT_FOUND", 404, -32001),
                ("SESSION_EXPIRED", 404, -32001),
                ("SESSION_CLOSED", 404, -32001),
                ("PRINCIPAL_MISMATCH", 404, -32001),
                ("NOT_INITIALIZED", 400, -32000),
                ("ALREADY_INITIALIZED", 400, -32600),
                ("UNSUPPORTED_PROTOCOL_VERSION", 400, -32000),
                ("VERSION_CONFLICT", 409, -32000),
                ("STATE_TOO_LARGE", 413, -32602),
                ("INVALID_STATE", 400, -32602),
                ("CAPACITY_EXCEEDED", 503, -32000),
                ("PRINCIPAL_LIMIT_EXCEEDED", 429, -32000),
                ("TOO_MANY_REQUESTS", 429, -32000),
                ("STORAGE_LIMIT_EXCEEDED", 503, -32000),
                ("NOT_ACCEPTABLE", 406, -32000),
                ("UNSUPPORTED_MEDIA_TYPE", 415, -32000),
                ("INVALID_REQUEST", 400, -32600),
                ("INVALID_SNAPSHOT", 400, -32602),
                ("INVALID_CONFIG", 500, -32603),
                ("INVALID_ARGUMENT", 400, -32602),
                ("ID_SOURCE_FAILED", 500, -32603),
                ("STORAGE_FAILED", 503, -32603),
                ("PAYLOAD_TOO_LARGE", 413, -32600),
                ("PARSE_ERROR", 400, -32700),
                ("FORBIDDEN", 403, -32000),
                ("HANDLE_NOT_FOUND", 404, -32001),
                ("HANDLE_EXPIRED", 404, -32001),
                ("HANDLE_DESTROYED", 404, -32001),
                ("HANDLE_LIMIT_EXCEEDED", 429, -32000),
            ]
        );
    }

    #[test]
    fn serialized_code_matches_code_and_details_are_camel_case() {
        for e in every_variant() {
            let json = serde_json::to_value(&e).unwrap();
            assert_eq!(json["code"], e.code(), "{e:?}");
            assert!(!e.to_string().is_empty());
        }
        let conflict = serde_json::to_value(SessionError::VersionConflict {
            session_id: "s".into(),
            expected_version: 3,
            actual_version: 4,
        })
        .unwrap();
        assert_eq!(conflict["expectedVersion"], 3);
        assert_eq!(conflict["actualVersion"], 4);
        assert_eq!(conflict["sessionId"], "s");
    }

    #[test]
    fn a_principal_mismatch_reads_like_not_found_to_the_client() {
        let mismatch = SessionError::PrincipalMismatch {
            session_id: "x".into(),
        };
        let missing = SessionError::SessionNotFound {
            session_id: "x".into(),
        };
        assert_eq!(mismatch.to_string(), missing.to_string());
        assert_eq!(mismatch.http_status(), missing.http_status());
        assert_eq!(mismatch.json_rpc_code(), missing.json_rpc_code());
    }

    #[test]
    fn every_429_and_503_has_retry_after_and_nothing_else_does() {
        for e in every_variant() {
            assert_eq!(
                e.retry_after_ms().is_some(),
                matches!(e.http_status(), 429 | 503),
                "{}",
                e.code()
            );
        }
    }
}
