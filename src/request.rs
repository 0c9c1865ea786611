//! What the core needs to know of an incoming HTTP request, and what it answers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::SessionError;
use crate::session::Phase;

/// The longest principal accepted (user IDs, token subjects).
pub const MAX_PRINCIPAL_BYTES: usize = 1024;

/// Which kind of JSON-RPC message the request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RequestKind {
    /// An `initialize` request: must come without a session ID.
    Initialize,
    /// The `notifications/initialized` notification: activates an initializing
    /// session.
    Initialized,
    /// Anything else: needs an initialized session.
    Other,
}

/// The parts of a request the gate looks at, raw from the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHead<'a> {
    /// The `Mcp-Session-Id` header value, as received (`None` if absent).
    pub session_id: Option<&'a str>,
    /// The authenticated user, from the host's auth (never from the client).
    pub principal: Option<&'a str>,
    pub kind: RequestKind,
    /// The `MCP-Protocol-Version` header value, if present.
    pub protocol_version: Option<&'a str>,
}

/// What the gate decided for a request that may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Admission {
    /// An `initialize` without a session: the host creates one (`create` with a
    /// handshake) and answers with its ID.
    Initialize,
    /// The request belongs to a live session, now counted in flight; the host calls
    /// `end_request` when the response (or stream) is done.
    Admitted { phase: Phase },
}

/// How to create a session.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateParams {
    /// The authenticated user the session is bound to.
    pub principal: Option<String>,
    /// Set for an MCP `initialize`: the version the client asked for. The session
    /// gets the negotiated version and starts `initializing` until
    /// `notifications/initialized`. Unset for a plain create (the seed's
    /// `createSession`): the session is `active` at once, on the newest version.
    pub requested_protocol_version: Option<String>,
    /// The client's `clientInfo` from `initialize` (a JSON object), kept so that a
    /// restarted server can rebuild the session.
    pub client_info: Option<Value>,
    /// The seed brief's `clientId`: kept as `clientInfo: { name }` when no
    /// `clientInfo` is given.
    pub client_id: Option<String>,
    /// The client's `capabilities` from `initialize` (a JSON object), or a list of
    /// capability names as the seed brief passes them; kept as given.
    pub capabilities: Option<Value>,
    /// This session's idle timeout, instead of the store's.
    pub idle_timeout_ms: Option<u64>,
    /// The seed brief's name for `idle_timeout_ms` (ms).
    pub timeout: Option<u64>,
    /// The initial state (a JSON object); empty if absent.
    pub state: Option<Value>,
}

/// A principal is a non-empty string of at most [`MAX_PRINCIPAL_BYTES`].
pub(crate) fn check_principal(principal: &str) -> Result<(), SessionError> {
    if principal.is_empty() {
        return Err(SessionError::invalid_argument("principal", "is empty"));
    }
    if principal.len() > MAX_PRINCIPAL_BYTES {
        return Err(SessionError::invalid_argument(
            "principal",
            format!("is over {MAX_PRINCIPAL_BYTES} bytes"),
        ));
    }
    Ok(())
}
