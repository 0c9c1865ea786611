//! What the core needs to know of an incoming HTTP request, and what it answers.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::SessionError;
use crate::session::Phase;

/// The longest principal accepted (user IDs, token subjects).
pub const MAX_PRINCIPAL_BYTES: usize = 1024;

/// Which kind of JSON-RPC message the request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
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

impl RequestKind {
    /// The kind of a POST body from the `method`s of its JSON-RPC messages (one
    /// message, or every message of a batch). An `initialize` anywhere makes it an
    /// `initialize`: the gate must then refuse it on an existing session, or create
    /// one for it. Otherwise a `notifications/initialized` anywhere activates the
    /// session; anything else needs an initialized one.
    pub fn of_methods<'a>(methods: impl IntoIterator<Item = &'a str>) -> RequestKind {
        let mut kind = RequestKind::Other;
        for method in methods {
            match method {
                "initialize" => return RequestKind::Initialize,
                "notifications/initialized" => kind = RequestKind::Initialized,
                _ => {}
            }
        }
        kind
    }
}

/// The parts of a request the gate looks at, raw from the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename_all = "camelCase", optional_fields = nullable))]
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
#[cfg_attr(test, derive(ts_rs::TS))]
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
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(optional_fields = nullable))]
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
    #[cfg_attr(test, ts(type = "JsonObject | null", optional))]
    pub client_info: Option<Value>,
    /// The seed API's `clientId`: kept as `clientInfo: { name }` when no
    /// `clientInfo` is given.
    pub client_id: Option<String>,
    /// The client's `capabilities` from `initialize` (a JSON object), or a list of
    /// capability names as the seed API passes them; kept as given.
    #[cfg_attr(test, ts(type = "Capabilities | null", optional))]
    pub capabilities: Option<Value>,
    /// This session's idle timeout, instead of the store's.
    pub idle_timeout_ms: Option<u64>,
    /// The seed API's name for `idle_timeout_ms` (ms).
    pub timeout: Option<u64>,
    /// The initial state (a JSON object); empty if absent.
    #[cfg_attr(test, ts(type = "JsonObject | null", optional))]
    pub state: Option<Value>,
}

/// [`CreateParams`] as JSON text, borrowed: metadata and state stay raw until
/// needed, so the state is read on its own (its errors are `INVALID_STATE`, as the
/// state operations answer) and metadata seen before need not be parsed at all.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawCreateParams<'a> {
    #[serde(borrow)]
    pub principal: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub requested_protocol_version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub client_info: Option<&'a RawValue>,
    #[serde(borrow)]
    pub client_id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub capabilities: Option<&'a RawValue>,
    pub idle_timeout_ms: Option<u64>,
    pub timeout: Option<u64>,
    #[serde(borrow)]
    pub state: Option<&'a RawValue>,
}

impl RawCreateParams<'_> {
    /// The parameters, each raw part read as what it is: the state by
    /// [`crate::json::state`] (`INVALID_STATE`), the rest as arguments.
    pub fn read(self) -> Result<CreateParams, SessionError> {
        fn argument<T: DeserializeOwned>(name: &str, raw: &RawValue) -> Result<T, SessionError> {
            serde_json::from_str(raw.get())
                .map_err(|e| SessionError::invalid_argument(name, e.to_string()))
        }
        Ok(CreateParams {
            principal: self.principal.map(Cow::into_owned),
            requested_protocol_version: self.requested_protocol_version.map(Cow::into_owned),
            client_info: self
                .client_info
                .map(|raw| argument("clientInfo", raw))
                .transpose()?,
            client_id: self
                .client_id
                .map(|raw| argument("clientId", raw))
                .transpose()?,
            capabilities: self
                .capabilities
                .map(|raw| argument("capabilities", raw))
                .transpose()?,
            idle_timeout_ms: self.idle_timeout_ms,
            timeout: self.timeout,
            state: self
                .state
                .map(|raw| crate::json::state(raw.get()))
                .transpose()?,
        })
    }
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

/// An `initialize` POST as the transport received it: what the core checks before
/// anything is allocated for it (see [`admit_initialize`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitializePost<'a> {
    /// The `Accept` header, as received.
    pub accept: Option<&'a str>,
    /// The `Content-Type` header, as received.
    pub content_type: Option<&'a str>,
    /// The body, as JSON text.
    pub body: &'a str,
}

/// What a session keeps of a well-formed `initialize` request: what a restarted
/// server needs to rebuild it, and no more.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    pub protocol_version: String,
    #[cfg_attr(test, ts(type = "JsonObject"))]
    pub client_info: Value,
    #[cfg_attr(test, ts(type = "JsonObject"))]
    pub capabilities: Value,
}

/// Admission before allocation: an `initialize` POST creates a session only if the
/// Streamable HTTP transport would serve it, so a request it would refuse costs
/// nothing (no session, no transport, no server). The rules are the transport's:
/// the client accepts both `application/json` and `text/event-stream` (else 406),
/// the body is `application/json` (else 415), and the body is one JSON-RPC request
/// `initialize` with an ID, a string `protocolVersion`, an object `capabilities` and
/// a `clientInfo` with a string `name` and `version` (else 400). Answers the parts a
/// session keeps.
pub fn admit_initialize(post: &InitializePost<'_>) -> Result<Handshake, SessionError> {
    let accept = post.accept.unwrap_or("");
    if !accept.contains("application/json") || !accept.contains("text/event-stream") {
        return Err(SessionError::NotAcceptable);
    }
    if !post
        .content_type
        .is_some_and(|t| t.contains("application/json"))
    {
        return Err(SessionError::UnsupportedMediaType);
    }
    let invalid = |reason: &str| SessionError::InvalidRequest {
        reason: reason.to_owned(),
    };
    let body: Value =
        serde_json::from_str(post.body).map_err(|_| invalid("the body is not JSON"))?;
    let message = match body {
        Value::Array(mut batch) if batch.len() == 1 => batch.pop().unwrap_or(Value::Null),
        Value::Array(_) => return Err(invalid("initialize must be the only message")),
        message => message,
    };
    let Value::Object(mut message) = message else {
        return Err(invalid("not a JSON-RPC request"));
    };
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0")
        || message.get("method").and_then(Value::as_str) != Some("initialize")
        || !message
            .get("id")
            .is_some_and(|id| id.is_string() || id.is_number())
    {
        return Err(invalid("not a JSON-RPC initialize request with an id"));
    }
    let Some(Value::Object(mut params)) = message.remove("params") else {
        return Err(invalid("initialize has no params object"));
    };
    let protocol_version = match params.remove("protocolVersion") {
        Some(Value::String(v)) => v,
        _ => return Err(invalid("params.protocolVersion must be a string")),
    };
    let capabilities = params.remove("capabilities").unwrap_or(Value::Null);
    if !capabilities.is_object() {
        return Err(invalid("params.capabilities must be an object"));
    }
    let client_info = params.remove("clientInfo").unwrap_or(Value::Null);
    let named = |field: &str| client_info.get(field).is_some_and(Value::is_string);
    if !client_info.is_object() || !named("name") || !named("version") {
        return Err(invalid(
            "params.clientInfo must have a string name and version",
        ));
    }
    Ok(Handshake {
        protocol_version,
        client_info,
        capabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;
    const BOTH: Option<&str> = Some("application/json, text/event-stream");
    const JSON: Option<&str> = Some("application/json");

    fn post<'a>(
        accept: Option<&'a str>,
        content_type: Option<&'a str>,
        body: &'a str,
    ) -> InitializePost<'a> {
        InitializePost {
            accept,
            content_type,
            body,
        }
    }

    #[test]
    fn a_well_formed_initialize_is_admitted_with_what_a_session_keeps() {
        let handshake = admit_initialize(&post(BOTH, JSON, INIT)).unwrap();
        assert_eq!(handshake.protocol_version, "2025-11-25");
        assert_eq!(handshake.client_info["name"], "c");
        let batch = format!("[{INIT}]");
        assert!(
            admit_initialize(&post(BOTH, Some("application/json; charset=utf-8"), &batch)).is_ok()
        );
    }

    #[test]
    fn a_batch_is_as_strong_as_its_strongest_message() {
        let kind = |methods: &[&str]| RequestKind::of_methods(methods.iter().copied());
        assert_eq!(kind(&[]), RequestKind::Other);
        assert_eq!(kind(&["tools/list"]), RequestKind::Other);
        assert_eq!(
            kind(&["tools/list", "notifications/initialized"]),
            RequestKind::Initialized
        );
        assert_eq!(
            kind(&["notifications/initialized", "initialize", "ping"]),
            RequestKind::Initialize
        );
        assert_eq!(kind(&["Initialize", "initialized"]), RequestKind::Other);
    }

    #[test]
    fn what_the_transport_would_refuse_is_refused_first() {
        let code = |p: InitializePost<'_>| admit_initialize(&p).unwrap_err().code();
        assert_eq!(code(post(JSON, JSON, INIT)), "NOT_ACCEPTABLE");
        assert_eq!(code(post(None, JSON, INIT)), "NOT_ACCEPTABLE");
        assert_eq!(
            code(post(BOTH, Some("text/plain"), INIT)),
            "UNSUPPORTED_MEDIA_TYPE"
        );
        assert_eq!(code(post(BOTH, None, INIT)), "UNSUPPORTED_MEDIA_TYPE");
        let two = format!("[{INIT},{INIT}]");
        for body in [
            two.as_str(),
            "[]",
            "{",
            "null",
            r#"{"jsonrpc":"2.0","method":"initialize","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1,"capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"x","capabilities":[],"clientInfo":{"name":"c","version":"1"}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"x","capabilities":{},"clientInfo":{"name":"c"}}}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"initialize","params":{}}"#,
        ] {
            assert_eq!(code(post(BOTH, JSON, body)), "INVALID_REQUEST", "{body}");
        }
    }
}
