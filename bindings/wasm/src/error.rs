//! What the facade throws: every failure is a core [`SessionError`], thrown to JS as
//! an `Error` named `SessionError` whose properties are the error's fields (see
//! [`fields`]); and the errors the TypeScript layer makes for failures of its own,
//! made here by the core so that nothing about them is decided in TypeScript.
//!
//! Methods return [`JsResult`], so a core call's error converts with `?`. The
//! conversion to `JsValue` needs a type of this crate: the orphan rule forbids
//! `From<SessionError> for JsValue` here, as both types are foreign.

use js_sys::{Error, Object, Reflect, JSON};
use mcp_session_core::json::{self, Input};
use mcp_session_core::{SessionError, MAX_TIME_MS};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::convert::{json_text, output, whole};

/// A core error on its way to JS; wasm-bindgen throws it through `From<JsSessionError>
/// for JsValue` when a method returns it.
#[derive(Debug)]
pub struct JsSessionError(pub SessionError);

/// What every fallible method answers.
pub type JsResult<T> = Result<T, JsSessionError>;

impl From<SessionError> for JsSessionError {
    fn from(error: SessionError) -> Self {
        JsSessionError(error)
    }
}

/// The properties of a JS `SessionError` (`SessionErrorFields` in TypeScript): the
/// code and the variant's details (camelCase), the message, the HTTP and JSON-RPC
/// codes, and what a client is told (`clientAnswer`).
fn fields(error: &SessionError) -> Object {
    let object = serde_json::to_string(error)
        .ok()
        .and_then(|text| JSON::parse(&text).ok())
        .and_then(|details| details.dyn_into::<Object>().ok())
        .unwrap_or_default();
    let answer = output(&error.client_answer()).unwrap_or(JsValue::UNDEFINED);
    for (key, value) in [
        ("message", JsValue::from_str(&error.to_string())),
        ("httpStatus", error.http_status().into()),
        ("jsonRpcCode", error.json_rpc_code().into()),
        ("clientAnswer", answer),
    ] {
        let _ = Reflect::set(&object, &key.into(), &value);
    }
    object
}

/// The error thrown to JS: an `Error` named `SessionError` with its [`fields`].
impl From<JsSessionError> for JsValue {
    fn from(JsSessionError(error): JsSessionError) -> Self {
        let js = Error::new(&error.to_string());
        js.set_name("SessionError");
        Object::assign(js.as_ref(), &fields(&error));
        js.into()
    }
}

/// The fields of `INVALID_ARGUMENT`: an argument the TypeScript layer turned away
/// before it reached the core.
#[wasm_bindgen(
    js_name = invalidArgumentError,
    unchecked_return_type = "SessionErrorFieldsOf<\"INVALID_ARGUMENT\">"
)]
pub fn invalid_argument_error(argument: &str, reason: &str) -> JsValue {
    fields(&SessionError::invalid_argument(argument, reason)).into()
}

/// The fields of `SESSION_NOT_FOUND`: a session gone before the host could use it.
#[wasm_bindgen(
    js_name = sessionNotFoundError,
    unchecked_return_type = "SessionErrorFieldsOf<\"SESSION_NOT_FOUND\">"
)]
pub fn session_not_found_error(session_id: &str) -> JsValue {
    let error = SessionError::SessionNotFound {
        session_id: session_id.to_owned(),
    };
    fields(&error).into()
}

/// The fields of `STORAGE_FAILED`: the host's store could not write a change.
#[wasm_bindgen(
    js_name = storageFailedError,
    unchecked_return_type = "SessionErrorFieldsOf<\"STORAGE_FAILED\">"
)]
pub fn storage_failed_error(reason: &str, detail: &str) -> JsValue {
    let error = SessionError::StorageFailed {
        reason: reason.to_owned(),
        detail: detail.to_owned(),
    };
    fields(&error).into()
}

/// The fields of `PAYLOAD_TOO_LARGE`: a request body over `limit` bytes.
#[wasm_bindgen(
    js_name = payloadTooLargeError,
    unchecked_return_type = "SessionErrorFieldsOf<\"PAYLOAD_TOO_LARGE\">"
)]
pub fn payload_too_large_error(limit: f64) -> JsResult<JsValue> {
    let limit = whole(limit, "limit", f64::MAX)?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    Ok(fields(&SessionError::PayloadTooLarge { limit }).into())
}

/// The fields of a limit a shared store (Redis) counted fleet-wide: `sessions`
/// (`CAPACITY_EXCEEDED`), `principal` (`PRINCIPAL_LIMIT_EXCEEDED`) or `handles`
/// (`HANDLE_LIMIT_EXCEEDED`), at `limit`; retry after `retryAfterMs`.
#[wasm_bindgen(
    js_name = limitExceededError,
    unchecked_return_type = "SessionErrorFieldsOf<\"CAPACITY_EXCEEDED\" | \"PRINCIPAL_LIMIT_EXCEEDED\" | \"HANDLE_LIMIT_EXCEEDED\">"
)]
pub fn limit_exceeded_error(which: &str, limit: f64, retry_after_ms: f64) -> JsResult<JsValue> {
    let limit = usize::try_from(whole(limit, "limit", f64::MAX)?).unwrap_or(usize::MAX);
    let retry_after_ms = whole(retry_after_ms, "retryAfterMs", MAX_TIME_MS as f64)?;
    let error = match which {
        "sessions" => SessionError::CapacityExceeded {
            limit,
            retry_after_ms,
        },
        "principal" => SessionError::PrincipalLimitExceeded {
            limit,
            retry_after_ms,
        },
        "handles" => SessionError::HandleLimitExceeded {
            limit,
            retry_after_ms,
        },
        _ => {
            let error = SessionError::invalid_argument("which", "sessions, principal or handles");
            return Err(error.into());
        }
    };
    Ok(fields(&error).into())
}

/// The fields of `PARSE_ERROR`: a request body that is not JSON.
#[wasm_bindgen(
    js_name = parseError,
    unchecked_return_type = "SessionErrorFieldsOf<\"PARSE_ERROR\">"
)]
pub fn parse_error() -> JsValue {
    fields(&SessionError::ParseError).into()
}

/// The fields of `FORBIDDEN`: a request refused by the host's `Host`/`Origin` or
/// operator checks.
#[wasm_bindgen(
    js_name = forbiddenError,
    unchecked_return_type = "SessionErrorFieldsOf<\"FORBIDDEN\">"
)]
pub fn forbidden_error(
    #[wasm_bindgen(unchecked_param_type = "ForbiddenReason")] reason: JsValue,
) -> JsResult<JsValue> {
    let reason = json::forbidden_reason(&json_text(&reason, Input::ForbiddenReason)?)?;
    Ok(fields(&SessionError::Forbidden { reason }).into())
}
