//! Reading the core's inputs from JSON text, for hosts that hold them as JSON (the
//! wasm facade makes it with `JSON.stringify`). Each reader answers the typed error
//! the operation would answer for a bad value (`INVALID_STATE` for a state,
//! `INVALID_CONFIG` for a configuration, ...), naming the path of the bad field.
//!
//! One concrete function per input rather than one generic: serde_json's parser is
//! then instantiated in this crate only. A binding crate that instantiated it for
//! itself would carry a second copy of it (measured: 52 KB more wasm).

use serde::Deserialize;
use serde_json::Value;

use crate::config::Config;
use crate::error::{ForbiddenReason, SessionError};
use crate::events::EventKind;
use crate::request::{CreateParams, RawCreateParams};

/// What a JSON input is, which decides the error a bad one answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A store's configuration: `INVALID_CONFIG`.
    Config,
    /// Create parameters: `INVALID_ARGUMENT` (their state is read on its own, as a
    /// [`Input::State`]).
    CreateParams,
    /// A state or a merge patch: `INVALID_STATE`.
    State,
    /// The event kinds a store records: `INVALID_ARGUMENT`.
    EventKinds,
    /// A list of session IDs: `INVALID_ARGUMENT`.
    SessionIds,
    /// Why a host refuses a request (a [`ForbiddenReason`]): `INVALID_ARGUMENT`.
    ForbiddenReason,
}

impl Input {
    /// The error for a bad input of this kind; `reason` names the bad field first
    /// (`state.a: ...`) when it is known.
    pub fn error(self, reason: String) -> SessionError {
        match self {
            Input::Config => SessionError::invalid_config("config", reason),
            Input::CreateParams => SessionError::invalid_argument("params", reason),
            Input::State => SessionError::InvalidState { reason },
            Input::EventKinds => SessionError::invalid_argument("kinds", reason),
            Input::SessionIds => SessionError::invalid_argument("ids", reason),
            Input::ForbiddenReason => SessionError::invalid_argument("reason", reason),
        }
    }
}

/// A [`Config`] (fields camelCase, every one optional).
pub fn config(text: &str) -> Result<Config, SessionError> {
    parse(text, Input::Config)
}

/// [`CreateParams`] (fields camelCase, every one optional). The state is read on its
/// own, so what is wrong with it is `INVALID_STATE`, with its path inside the state.
pub fn create_params(text: &str) -> Result<CreateParams, SessionError> {
    parse::<RawCreateParams<'_>>(text, Input::CreateParams)?.read()
}

/// A state or a merge patch: any JSON value (the operation checks its shape).
pub fn state(text: &str) -> Result<Value, SessionError> {
    parse(text, Input::State)
}

/// A list of [`EventKind`] names.
pub fn event_kinds(text: &str) -> Result<Vec<EventKind>, SessionError> {
    parse(text, Input::EventKinds)
}

/// A list of session IDs (strings; the operation checks them).
pub fn session_ids(text: &str) -> Result<Vec<String>, SessionError> {
    parse(text, Input::SessionIds)
}

/// A [`ForbiddenReason`] by its name (`"origin"`), for a host's `FORBIDDEN`.
pub fn forbidden_reason(text: &str) -> Result<ForbiddenReason, SessionError> {
    parse(text, Input::ForbiddenReason)
}

fn parse<'a, T: Deserialize<'a>>(text: &'a str, input: Input) -> Result<T, SessionError> {
    // The plain parser first: tracking the path costs on every call, and is only
    // needed to explain a failure.
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        input.error(match path.as_str() {
            "." | "" => inner.to_string(),
            path => format!("{path}: {inner}"),
        })
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code<T>(result: Result<T, SessionError>) -> Option<&'static str> {
        result.err().map(|e| e.code())
    }

    #[test]
    fn each_input_answers_its_own_error() {
        assert_eq!(code(config(r#"{"nope": 1}"#)), Some("INVALID_CONFIG"));
        assert_eq!(
            code(create_params(r#"{"bogus": 1}"#)),
            Some("INVALID_ARGUMENT")
        );
        assert_eq!(
            code(create_params(r#"{"state": {"a": 1e999}}"#)),
            Some("INVALID_STATE")
        );
        // Typed by where the fault is, not by how its message reads.
        assert_eq!(
            code(create_params(r#"{"state": {}, "stateless": 1}"#)),
            Some("INVALID_ARGUMENT")
        );
        assert_eq!(
            code(create_params(r#"{"clientInfo": {"state": 1e999}}"#)),
            Some("INVALID_ARGUMENT")
        );
        assert_eq!(code(state("{")), Some("INVALID_STATE"));
        assert_eq!(code(event_kinds(r#"["nope"]"#)), Some("INVALID_ARGUMENT"));
        assert_eq!(code(session_ids("[1]")), Some("INVALID_ARGUMENT"));
        assert_eq!(
            code(forbidden_reason(r#""nope""#)),
            Some("INVALID_ARGUMENT")
        );
    }

    #[test]
    fn errors_name_the_path_of_the_bad_field() {
        let Err(SessionError::InvalidArgument { argument, reason }) =
            create_params(r#"{"idleTimeoutMs": 1.5}"#)
        else {
            panic!("expected INVALID_ARGUMENT");
        };
        assert_eq!(argument, "params");
        assert!(reason.starts_with("idleTimeoutMs: "), "{reason}");
    }

    #[test]
    fn create_params_are_read_whole() {
        let params = create_params(
            r#"{"principal":"p","requestedProtocolVersion":"2025-06-18","clientInfo":{"name":"c"},
                "clientId":"c","capabilities":["tools"],"idleTimeoutMs":5,"timeout":5,"state":{"n":1}}"#,
        );
        assert_eq!(
            params.ok(),
            Some(CreateParams {
                principal: Some("p".into()),
                requested_protocol_version: Some("2025-06-18".into()),
                client_info: Some(serde_json::json!({"name": "c"})),
                client_id: Some("c".into()),
                capabilities: Some(serde_json::json!(["tools"])),
                idle_timeout_ms: Some(5),
                timeout: Some(5),
                state: Some(serde_json::json!({"n": 1})),
            })
        );
        assert_eq!(
            create_params(r#"{"state":null}"#).ok(),
            Some(CreateParams::default())
        );
    }

    #[test]
    fn good_inputs_are_read() {
        assert_eq!(config("{}").ok(), Some(Config::default()));
        assert_eq!(
            state(r#"{"n": 1.5}"#).ok(),
            Some(serde_json::json!({"n": 1.5}))
        );
        assert_eq!(
            event_kinds(r#"["created"]"#).ok(),
            Some(vec![EventKind::Created])
        );
        assert_eq!(session_ids(r#"["a"]"#).ok(), Some(vec!["a".to_owned()]));
        assert_eq!(
            forbidden_reason(r#""notOperator""#).ok(),
            Some(ForbiddenReason::NotOperator)
        );
    }
}
