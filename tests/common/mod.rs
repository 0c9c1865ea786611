//! Helpers shared by the integration tests: a seeded store and short-hands.
#![allow(dead_code)]

use mcp_session_core::{
    Config, CreateParams, InsecureSeededIds, RequestHead, RequestKind, SessionStore,
};
use serde_json::{json, Value};

pub const T0: u64 = 1_700_000_000_000;

pub fn store(config: Config) -> SessionStore {
    SessionStore::with_id_source(config, Box::new(InsecureSeededIds::new(42))).unwrap()
}

pub fn plain() -> CreateParams {
    CreateParams::default()
}

pub fn for_user(principal: &str) -> CreateParams {
    CreateParams {
        principal: Some(principal.into()),
        ..CreateParams::default()
    }
}

pub fn handshake(version: &str) -> CreateParams {
    CreateParams {
        requested_protocol_version: Some(version.into()),
        client_info: Some(json!({"name": "test-client", "version": "1.0"})),
        capabilities: Some(json!({"roots": {}})),
        ..CreateParams::default()
    }
}

pub fn head<'a>(
    id: Option<&'a str>,
    principal: Option<&'a str>,
    kind: RequestKind,
) -> RequestHead<'a> {
    RequestHead {
        session_id: id,
        principal,
        kind,
        protocol_version: None,
    }
}

pub fn state_of(store: &SessionStore, id: &str, now: u64) -> Value {
    store.peek(id, now).unwrap().state
}
