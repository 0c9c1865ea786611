//! The seed API's five scenarios, on a manual clock.

#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;

use common::*;
use mcp_session_core::{Config, CreateParams, Phase};
use serde_json::json;

#[test]
fn a_new_session_is_active() {
    let mut s = store(Config::default());
    let v = s.create(plain(), T0).unwrap();
    assert_eq!(s.get(&v.id, T0 + 1).unwrap().phase, Phase::Active);
}

#[test]
fn state_persists_and_merges_across_updates() {
    let mut s = store(Config::default());
    let id = s.create(plain(), T0).unwrap().id;
    s.update_state(
        &id,
        &json!({"user": {"name": "ada"}, "count": 1}),
        None,
        T0 + 1,
    )
    .unwrap();
    s.update_state(
        &id,
        &json!({"user": {"lang": "en"}, "count": 2}),
        None,
        T0 + 2,
    )
    .unwrap();
    assert_eq!(
        s.get(&id, T0 + 3).unwrap().state,
        json!({"user": {"name": "ada", "lang": "en"}, "count": 2})
    );
}

#[test]
fn a_thousand_creations_give_a_thousand_unique_ids() {
    let mut seeded = store(Config::default());
    let mut secure = mcp_session_core::SessionStore::new(Config::default()).unwrap();
    for s in [&mut seeded, &mut secure] {
        let ids: HashSet<String> = (0..1_000)
            .map(|i| s.create(plain(), T0 + i).unwrap().id)
            .collect();
        assert_eq!(ids.len(), 1_000);
    }
}

#[test]
fn resuming_after_a_disconnect_keeps_the_state() {
    let mut s = store(Config::default());
    let id = s.create(for_user("u1"), T0).unwrap().id;
    s.update_state(&id, &json!({"cart": [1, 2]}), None, T0 + 1)
        .unwrap();
    s.disconnect(&id, T0 + 2).unwrap();
    assert_eq!(s.peek(&id, T0 + 3).unwrap().phase, Phase::Disconnected);
    let v = s.resume(&id, Some("u1"), T0 + 60_000).unwrap();
    assert_eq!((v.phase, v.state), (Phase::Active, json!({"cart": [1, 2]})));
}

#[test]
fn a_one_second_session_is_expired_after_one_and_a_half_and_renews() {
    let mut s = store(Config::default());
    let id = s
        .create(
            CreateParams {
                idle_timeout_ms: Some(1_000),
                ..plain()
            },
            T0,
        )
        .unwrap()
        .id;
    s.update_state(&id, &json!({"step": 3}), None, T0).unwrap();
    let err = s.get(&id, T0 + 1_500).unwrap_err();
    assert_eq!(err.code(), "SESSION_EXPIRED");
    assert_eq!(err.http_status(), 404);
    let renewed = s.renew(&id, None, T0 + 1_500).unwrap();
    assert_ne!(renewed.id, id);
    assert_eq!(renewed.state, json!({"step": 3}));
    assert_eq!(renewed.idle_timeout_ms, 1_000);
    assert_eq!(s.get(&renewed.id, T0 + 1_600).unwrap().phase, Phase::Active);
}

#[test]
fn the_seed_config_shape_is_kept_as_given() {
    let mut s = store(Config::default());
    let seed: CreateParams = serde_json::from_value(json!({
        "clientId": "test-client",
        "capabilities": ["tools", "resources"],
        "timeout": 1000
    }))
    .unwrap();
    let v = s.create(seed, T0).unwrap();
    assert_eq!(v.client_info, Some(json!({"name": "test-client"})));
    assert_eq!(v.capabilities, Some(json!(["tools", "resources"])));
    assert_eq!(v.idle_timeout_ms, 1_000);
    assert_eq!(v.phase, Phase::Active);
    let clash = CreateParams {
        timeout: Some(1_000),
        idle_timeout_ms: Some(2_000),
        ..plain()
    };
    assert_eq!(s.create(clash, T0).unwrap_err().code(), "INVALID_ARGUMENT");
    let not_names = CreateParams {
        capabilities: Some(json!(["tools", 1])),
        ..plain()
    };
    assert_eq!(
        s.create(not_names, T0).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    let info_wins = CreateParams {
        client_id: Some("ignored".into()),
        client_info: Some(json!({"name": "x", "version": "2"})),
        ..plain()
    };
    let v = s.create(info_wins, T0).unwrap();
    assert_eq!(v.client_info, Some(json!({"name": "x", "version": "2"})));
}

#[test]
fn the_named_create_keeps_the_same_values_as_the_json_one() {
    use mcp_session_core::Named;
    let mut s = store(Config::default());
    let named = Named {
        client_id: Some("test-client"),
        capability_names: Some("tools\0resources"),
        principal: Some("u1"),
        idle_timeout_ms: Some(1_000),
    };
    let a = s.create_id_named(named, T0).unwrap();
    let b = s
        .create_id_json(
            r#"{"clientId":"test-client","capabilities":["tools","resources"],"principal":"u1","timeout":1000}"#,
            T0,
        )
        .unwrap();
    let (a, b) = (s.peek(&a, T0).unwrap(), s.peek(&b, T0).unwrap());
    assert_eq!(a.client_info, Some(json!({"name": "test-client"})));
    assert_eq!(a.capabilities, Some(json!(["tools", "resources"])));
    assert_eq!(
        (
            &a.client_info,
            &a.capabilities,
            &a.principal,
            a.idle_timeout_ms
        ),
        (
            &b.client_info,
            &b.capabilities,
            &b.principal,
            b.idle_timeout_ms
        )
    );
    let one_empty_name = Named {
        capability_names: Some(""),
        ..Named::default()
    };
    let c = s.create_id_named(one_empty_name, T0).unwrap();
    assert_eq!(s.peek(&c, T0).unwrap().capabilities, Some(json!([""])));
    let bad = Named {
        idle_timeout_ms: Some(0),
        ..Named::default()
    };
    assert_eq!(
        s.create_id_named(bad, T0).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
}
