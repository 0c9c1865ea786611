//! Working copies of a shared store: what an instance holds of records another
//! instance may change (see `store::shared`).

#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use mcp_session_core::{Config, RequestKind};
use serde_json::json;

#[test]
fn an_adopted_copy_keeps_this_instances_requests_in_flight() {
    let config = Config {
        idle_timeout_ms: 1_000,
        ..Config::default()
    };
    let mut a = store(config.clone());
    let mut b = store(config);
    let id = a.create_id(plain(), T0).unwrap();
    let ids = vec![id.clone()];
    a.begin_request(&head(Some(&id), None, RequestKind::Other), T0)
        .unwrap();
    assert_eq!(a.next_deadline(), None, "busy: no idle deadline");
    // Another instance changes the state meanwhile.
    b.adopt(&ids, &a.export(&ids, T0).unwrap(), T0).unwrap();
    b.update_state(&id, &json!({"n": 1}), None, T0 + 10)
        .unwrap();
    let newer = b.export(&ids, T0 + 10).unwrap();
    // This instance takes the newer copy; its request is still in flight here.
    a.adopt(&ids, &newer, T0 + 20).unwrap();
    let seen = a.peek(&id, T0 + 20).unwrap();
    assert_eq!((seen.version, seen.in_flight), (1, 1));
    assert_eq!(a.next_deadline(), None, "still busy after the adopt");
    a.end_request(&id, T0 + 30).unwrap();
    assert_eq!(a.next_deadline(), Some(T0 + 1_030));
    // Adopted where nothing is in flight: a copy with none.
    let mut c = store(Config::default());
    c.adopt(&ids, &newer, T0 + 20).unwrap();
    assert_eq!(c.peek(&id, T0 + 20).unwrap().in_flight, 0);
    assert_eq!(
        c.end_request(&id, T0 + 21).unwrap_err().code(),
        "INVALID_ARGUMENT",
        "nothing in flight here"
    );
}
