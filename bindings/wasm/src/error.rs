//! What the facade throws: every failure is a core [`SessionError`], thrown to JS as
//! an `Error` named `SessionError` with `code`, `httpStatus`, `jsonRpcCode` and the
//! variant's details as properties.
//!
//! Methods return [`JsResult`], so a core call's error converts with `?`. The
//! conversion to `JsValue` needs a type of this crate: the orphan rule forbids
//! `From<SessionError> for JsValue` here, as both types are foreign.

use js_sys::{Error, Object, Reflect, JSON};
use mcp_session_core::SessionError;
use wasm_bindgen::{JsCast, JsValue};

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

/// The error thrown to JS: an `Error` named `SessionError` carrying the code, the
/// HTTP and JSON-RPC codes and the variant's details (camelCase).
impl From<JsSessionError> for JsValue {
    fn from(JsSessionError(error): JsSessionError) -> Self {
        let js = Error::new(&error.to_string());
        js.set_name("SessionError");
        let object: &Object = js.as_ref();
        if let Ok(details) = serde_json::to_string(&error).map(|text| JSON::parse(&text)) {
            if let Some(details) = details.ok().as_ref().and_then(|d| d.dyn_ref::<Object>()) {
                Object::assign(object, details);
            }
        }
        let _ = Reflect::set(object, &"code".into(), &error.code().into());
        let _ = Reflect::set(object, &"httpStatus".into(), &error.http_status().into());
        let _ = Reflect::set(object, &"jsonRpcCode".into(), &error.json_rpc_code().into());
        js.into()
    }
}
