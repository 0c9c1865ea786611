//! What the facade throws: every failure is a core [`SessionError`], thrown to JS as
//! an `Error` named `SessionError` whose properties are the error's fields (see
//! [`Fields`]).
//!
//! Methods return [`JsResult`], so a core call's error converts with `?`. The
//! conversion to `JsValue` needs a type of this crate: the orphan rule forbids
//! `From<SessionError> for JsValue` here, as both types are foreign.

use js_sys::{Error, Object, JSON};
use mcp_session_core::{ClientAnswer, SessionError};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::convert::json_text;
use mcp_session_core::json::Input;

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

/// The properties of a JS `SessionError`: the code and the variant's details
/// (camelCase), the message, the HTTP and JSON-RPC codes, and what a client is told.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Fields<'a> {
    #[serde(flatten)]
    details: &'a SessionError,
    message: String,
    http_status: u16,
    json_rpc_code: i32,
    client_answer: ClientAnswer,
}

/// `error`'s fields as a JS object; an empty one in the (impossible) case that
/// serde_json's own text does not parse.
fn fields(error: &SessionError) -> Object {
    let fields = Fields {
        details: error,
        message: error.to_string(),
        http_status: error.http_status(),
        json_rpc_code: error.json_rpc_code(),
        client_answer: error.client_answer(),
    };
    serde_json::to_string(&fields)
        .ok()
        .and_then(|text| JSON::parse(&text).ok())
        .and_then(|value| value.dyn_into::<Object>().ok())
        .unwrap_or_default()
}

/// The error thrown to JS: an `Error` named `SessionError` with [`Fields`].
impl From<JsSessionError> for JsValue {
    fn from(JsSessionError(error): JsSessionError) -> Self {
        let js = Error::new(&error.to_string());
        js.set_name("SessionError");
        Object::assign(js.as_ref(), &fields(&error));
        js.into()
    }
}

/// The fields of the error with this code and these details, as the core makes it
/// (message, HTTP and JSON-RPC codes, client answer): how the TypeScript layer's
/// `new SessionError(details)` makes an error for a failure of its own, with
/// nothing decided in TypeScript. Details the core cannot read are `INVALID_ARGUMENT`.
#[wasm_bindgen(js_name = sessionErrorFields, unchecked_return_type = "SessionErrorFields")]
pub fn session_error_fields(
    #[wasm_bindgen(unchecked_param_type = "SessionErrorDetails")] details: JsValue,
) -> JsResult<JsValue> {
    let text = json_text(&details, Input::ErrorDetails)?;
    let error = mcp_session_core::json::error_details(&text)?;
    Ok(fields(&error).into())
}
