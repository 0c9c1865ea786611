//! Reading JS values into the core's types, and the core's results out as JS values.
//!
//! Inputs that are JSON-like (config, create parameters, state, patches) cross by
//! `JSON.stringify` inside the engine, and the core's `json` readers parse the text
//! (serde_json, instantiated once, in the core). That keeps a hostile value
//! harmless: a cyclic or absurdly deep object makes `JSON.stringify` throw (caught,
//! and answered as a typed error) and `serde_json` has a recursion limit, so nothing
//! recursive in wasm can overflow the stack. Outputs are plain JS objects
//! (JSON text parsed by the engine), typed by the TypeScript section in `types`.
//!
//! Every failure is a core [`SessionError`] (`INVALID_ARGUMENT`, `INVALID_STATE`,
//! `INVALID_CONFIG`), thrown as the methods' own errors are.

use js_sys::{Error, Object, Reflect, JSON};
use mcp_session_core::json::{self, Input};
use mcp_session_core::{Config, CreateParams, SessionError, MAX_TIME_MS};
use serde::Serialize;
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};

use crate::error::JsResult;

/// A JS number that must be a whole number from 0 to `max`.
pub fn whole(value: f64, argument: &str, max: f64) -> JsResult<u64> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= max {
        Ok(value as u64)
    } else {
        Err(SessionError::invalid_argument(
            argument,
            format!("must be a whole number from 0 to {max}, got {value}"),
        )
        .into())
    }
}

/// A JS time (ms since the epoch): a whole number from 0 to 2^53 - 1.
pub fn time(now: f64) -> JsResult<u64> {
    whole(now, "now", MAX_TIME_MS as f64)
}

/// The arguments of a step of a snapshot walk (`snapshotRecords`,
/// `snapshotPieces`): the time, the slot it starts at and the piece's size.
pub fn walk(now: f64, from: f64, max_bytes: f64) -> JsResult<(u64, usize, usize)> {
    let slot = |value, argument| {
        whole(value, argument, f64::from(u32::MAX))
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    };
    Ok((
        time(now)?,
        slot(from, "from")?,
        slot(max_bytes, "maxBytes")?,
    ))
}

/// The idle timeout and the time of a create in the seed's shape.
pub fn named_times(idle_timeout_ms: Option<f64>, now: f64) -> JsResult<(Option<u64>, u64)> {
    let idle = idle_timeout_ms
        .map(|ms| whole(ms, "idleTimeoutMs", MAX_TIME_MS as f64))
        .transpose()?;
    Ok((idle, time(now)?))
}

/// An optional version (`expectedVersion`): undefined/null, or a whole number.
pub fn version(value: Option<f64>) -> JsResult<Option<u64>> {
    value
        .map(|v| whole(v, "expectedVersion", MAX_TIME_MS as f64))
        .transpose()
}

/// The JSON text of a JS value, made by `JSON.stringify`; a value it cannot
/// serialize (a cycle, a BigInt, too deep for the engine) is `input`'s typed error.
pub fn json_text(value: &JsValue, input: Input) -> JsResult<String> {
    let text = JSON::stringify(value)
        .map_err(|e| {
            let why = e
                .dyn_ref::<Error>()
                .map(|e| String::from(e.message()))
                .unwrap_or_else(|| "it cannot be serialized as JSON".into());
            input.error(why)
        })?
        .as_string()
        .ok_or_else(|| input.error("it is not a JSON value".into()))?;
    Ok(text)
}

/// A state or a merge patch, as the state operations take it.
pub fn read_state(value: &JsValue) -> JsResult<Value> {
    Ok(json::state(&json_text(value, Input::State)?)?)
}

/// Results cross as JSON text parsed by the engine: one string copy and V8's
/// `JSON.parse`, several times faster than building the object property by
/// property across the boundary.
pub fn output<T: Serialize>(value: &T) -> JsResult<JsValue> {
    let text = serde_json::to_string(value)
        .map_err(|e| SessionError::invalid_argument("result", e.to_string()))?;
    // serde_json's text always parses; were it not to, the caller still gets a
    // typed error rather than the engine's `SyntaxError`.
    Ok(JSON::parse(&text).map_err(|_| SessionError::invalid_argument("result", "is not JSON"))?)
}

/// A fieldless enum (a request kind) as its name: a JS string, made without the
/// `JSON.parse` of `output`, as the request path asks for it on every POST.
pub fn name<T: Serialize>(value: &T) -> JsResult<JsValue> {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => Ok(JsValue::from_str(&name)),
        _ => output(value),
    }
}

/// Create parameters; undefined or null for none. The state is read on its own, as
/// `updateState` reads it, so what is wrong with it (JSON cannot hold it: a cycle,
/// a BigInt; or it is not an object) is `INVALID_STATE` by construction, and what is
/// wrong with the rest is `INVALID_ARGUMENT`.
pub fn create_params(value: &JsValue) -> JsResult<CreateParams> {
    if value.is_undefined() || value.is_null() {
        return Ok(CreateParams::default());
    }
    let Some(object) = value.dyn_ref::<Object>() else {
        // Not an object: the core's reader says what it is instead.
        return Ok(json::create_params(&json_text(
            value,
            Input::CreateParams,
        )?)?);
    };
    let key = JsValue::from_str("state");
    let unreadable = |_| Input::CreateParams.error("it cannot be read".into());
    let state = Reflect::get(object, &key).map_err(unreadable)?;
    // The rest: a shallow copy without the state (`JSON.stringify` sees the same
    // own enumerable properties).
    let rest = Object::assign(&Object::new(), object);
    Reflect::delete_property(&rest, &key).map_err(unreadable)?;
    let mut params = json::create_params(&json_text(&rest, Input::CreateParams)?)?;
    if !state.is_undefined() && !state.is_null() {
        params.state = Some(read_state(&state)?);
    }
    Ok(params)
}

/// A store's configuration; undefined or null for the defaults.
pub fn read_config(value: &JsValue) -> JsResult<Config> {
    if value.is_undefined() || value.is_null() {
        return Ok(Config::default());
    }
    Ok(json::config(&json_text(value, Input::Config)?)?)
}
