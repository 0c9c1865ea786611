//! The wasm-bindgen facade of `mcp-session-core`: converts between JS values and the
//! core, never decides. Its own crate, so that the core stays pure Rust (no
//! wasm-bindgen, no allocator, no JS) and this one holds everything that exists only
//! because the core runs as a WebAssembly module under JS:
//!
//! - `store`: the session store as JS sees it (`SessionCore`); the module-wide
//!   functions are below;
//! - `convert`: JS values in (`JSON.stringify`, then the core's `json` readers),
//!   results out;
//! - `error`: every failure thrown as a JS `Error` named `SessionError`, and the
//!   errors the TypeScript layer makes for failures of its own (`parseError`, ...);
//! - `types`: the TypeScript types of the values that cross as plain objects;
//! - `request_state`: the sealed `requestState` codec (`RequestStateCore`);
//! - `heap`: the global allocator, which grows linear memory in large steps.
//!
//! It also picks the core's source of randomness for this target: getrandom's
//! `wasm_js` backend (`crypto.getRandomValues`), see `Cargo.toml`.
//!
//! Everything here is for `wasm32` only; on other targets the crate is empty, so
//! workspace-wide native commands (`cargo test --workspace`) pass over it.

#![cfg(target_arch = "wasm32")]

mod convert;
mod error;
#[cfg(not(target_feature = "atomics"))]
mod heap;
mod request_state;
mod store;
mod types;

use wasm_bindgen::prelude::*;

use mcp_session_core::{EventKind, RequestKind};

use crate::convert::{name, output};
pub use crate::error::{
    forbidden_error, invalid_argument_error, parse_error, payload_too_large_error,
    session_not_found_error, storage_failed_error, JsResult, JsSessionError,
};
pub use crate::request_state::WasmRequestStateCodec;
pub use crate::store::WasmSessionStore;

/// The longest session ID accepted, in bytes.
#[wasm_bindgen(js_name = maxSessionIdBytes)]
pub fn max_session_id_bytes() -> u32 {
    u32::try_from(mcp_session_core::MAX_SESSION_ID_BYTES).unwrap_or(u32::MAX)
}

/// The module's memory, for reading a store's scratch area in place.
#[wasm_bindgen(js_name = wasmMemory, unchecked_return_type = "{ readonly buffer: ArrayBuffer }")]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// Admission before allocation for an `initialize` POST: the parts a session keeps,
/// or the 406, 415 or 400 the transport would answer (see `admit_initialize`).
#[wasm_bindgen(js_name = admitInitialize, unchecked_return_type = "Handshake")]
pub fn admit_initialize_js(
    accept: Option<String>,
    content_type: Option<String>,
    body: &str,
) -> JsResult<JsValue> {
    let post = mcp_session_core::InitializePost {
        accept: accept.as_deref(),
        content_type: content_type.as_deref(),
        body,
    };
    output(&mcp_session_core::admit_initialize(&post)?)
}

/// The request kind of a POST body, from the `method` of each of its JSON-RPC
/// messages (see `RequestKind::of_methods`); a method that is not a string names
/// none.
#[wasm_bindgen(js_name = requestKindOf, unchecked_return_type = "RequestKind")]
pub fn request_kind_of(
    #[wasm_bindgen(unchecked_param_type = "unknown[]")] methods: Vec<JsValue>,
) -> JsResult<JsValue> {
    let methods: Vec<String> = methods.iter().filter_map(JsValue::as_string).collect();
    name(&RequestKind::of_methods(methods.iter().map(String::as_str)))
}

/// The request kinds in the order of their numbers, as `beginRequest` takes them.
#[wasm_bindgen(js_name = requestKinds, unchecked_return_type = "RequestKind[]")]
pub fn request_kinds() -> JsResult<JsValue> {
    output(&store::REQUEST_KINDS)
}

/// What each status number that `lookup` writes means, by number: `[phase, null]`
/// for a live session, `[null, endReason]` for an ended one.
#[wasm_bindgen(
    js_name = lookupStatuses,
    unchecked_return_type = "([Phase, null] | [null, EndReason])[]"
)]
pub fn lookup_statuses() -> JsResult<JsValue> {
    output(&store::statuses())
}

/// The event kinds that say a session ended (see `EventKind::ends_session`): what a
/// host listens to, to drop what it holds for a session.
#[wasm_bindgen(
    js_name = sessionEndingEvents,
    unchecked_return_type = "Extract<CoreEvent, { sessionId: string }>[\"type\"][]"
)]
pub fn session_ending_events() -> JsResult<JsValue> {
    let kinds: Vec<EventKind> = EventKind::ALL
        .into_iter()
        .filter(|kind| kind.ends_session())
        .collect();
    output(&kinds)
}

/// The size of this module's linear memory in bytes: what a leak check watches.
/// WebAssembly memory only grows, so a flat figure under load means no leak.
#[wasm_bindgen(js_name = wasmMemoryBytes)]
pub fn wasm_memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) as f64) * 65_536.0
}
