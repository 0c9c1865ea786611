//! Every store operation and every error variant, on a manual clock.

#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use mcp_session_core::{
    Admission, CapacityPolicy, Config, CreateParams, EndReason, Event, EventKind, IdSource,
    InvalidIdReason, Lookup, Phase, RequestHead, RequestKind, SessionError, SessionStore,
    MAX_TIME_MS,
};
use serde_json::json;

fn code<T: std::fmt::Debug>(r: Result<T, SessionError>) -> &'static str {
    r.unwrap_err().code()
}

/// Asserts that a failed call changed nothing observable.
fn unchanged(store: &mut SessionStore, before: &str, now: u64) {
    assert_eq!(store.snapshot(now).unwrap(), before);
    assert!(store.drain_events().is_empty());
}

#[test]
fn plain_create_is_active_with_an_idle_deadline() {
    let mut s = store(Config::default());
    let v = s.create(plain(), T0).unwrap();
    assert_eq!(v.phase, Phase::Active);
    assert_eq!(v.version, 0);
    assert_eq!(v.state, json!({}));
    assert_eq!(v.protocol_version, "2025-11-25");
    assert_eq!(v.expires_at, Some(T0 + 1_800_000));
    assert_eq!(
        s.drain_events(),
        vec![Event::Created {
            session_id: v.id.clone(),
            phase: Phase::Active,
            at: T0
        }]
    );
    assert_eq!(s.next_deadline(), Some(T0 + 1_800_000));
}

#[test]
fn handshake_create_negotiates_and_keeps_the_initialize_data() {
    let mut s = store(Config::default());
    let known = s.create(handshake("2025-06-18"), T0).unwrap();
    assert_eq!(known.phase, Phase::Initializing);
    assert_eq!(known.protocol_version, "2025-06-18");
    assert_eq!(
        known.client_info,
        Some(json!({"name": "test-client", "version": "1.0"}))
    );
    assert_eq!(known.capabilities, Some(json!({"roots": {}})));
    assert_eq!(known.expires_at, Some(T0 + 60_000));
    let unknown = s.create(handshake("2099-01-01"), T0).unwrap();
    assert_eq!(unknown.protocol_version, "2025-11-25");
}

#[test]
fn bad_create_arguments_are_typed_errors_that_change_nothing() {
    let mut s = store(Config {
        max_state_bytes: 32,
        ..Config::default()
    });
    s.create(plain(), T0).unwrap();
    s.drain_events();
    let before = s.snapshot(T0).unwrap();
    let cases: Vec<(CreateParams, &str)> = vec![
        (for_user(""), "INVALID_ARGUMENT"),
        (for_user(&"u".repeat(1025)), "INVALID_ARGUMENT"),
        (
            CreateParams {
                idle_timeout_ms: Some(0),
                ..plain()
            },
            "INVALID_ARGUMENT",
        ),
        (
            CreateParams {
                state: Some(json!([1])),
                ..plain()
            },
            "INVALID_STATE",
        ),
        (
            CreateParams {
                state: Some(json!({"k": "x".repeat(40)})),
                ..plain()
            },
            "STATE_TOO_LARGE",
        ),
        (handshake(""), "INVALID_ARGUMENT"),
        (handshake("a b"), "INVALID_ARGUMENT"),
        (
            {
                let mut p = handshake("2025-06-18");
                p.client_info = Some(json!("name"));
                p
            },
            "INVALID_ARGUMENT",
        ),
    ];
    for (params, want) in cases {
        // A later time proves that even the clock did not move.
        assert_eq!(
            code(s.create(params.clone(), T0 + 10_000_000)),
            want,
            "{params:?}"
        );
        unchanged(&mut s, &before, T0);
        assert_eq!(s.clock(), T0);
    }
    assert_eq!(code(s.create(plain(), MAX_TIME_MS + 1)), "INVALID_ARGUMENT");
}

#[test]
fn initialized_activates_once() {
    let mut s = store(Config::default());
    let id = s.create(handshake("2025-06-18"), T0).unwrap().id;
    s.drain_events();
    s.initialized(&id, T0 + 5).unwrap();
    let v = s.peek(&id, T0 + 5).unwrap();
    assert_eq!(v.phase, Phase::Active);
    assert_eq!(v.expires_at, Some(T0 + 5 + 1_800_000));
    assert_eq!(
        s.drain_events(),
        vec![Event::Initialized {
            session_id: id.clone(),
            at: T0 + 5
        }]
    );
    assert_eq!(code(s.initialized(&id, T0 + 6)), "ALREADY_INITIALIZED");
    assert_eq!(code(s.initialized("nope", T0 + 6)), "SESSION_NOT_FOUND");
    assert_eq!(code(s.initialized("", T0 + 6)), "INVALID_SESSION_ID");
}

#[test]
fn an_uninitialized_session_ends_at_the_init_timeout() {
    let mut s = store(Config {
        init_timeout_ms: 100,
        ..Config::default()
    });
    let id = s.create(handshake("2025-06-18"), T0).unwrap().id;
    assert!(s.sweep(T0 + 99).unwrap().is_empty());
    let ended = s.sweep(T0 + 100).unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].reason, EndReason::Init);
    assert_eq!(
        s.get(&id, T0 + 101).unwrap_err(),
        SessionError::SessionExpired {
            session_id: id,
            reason: EndReason::Init
        }
    );
}

#[test]
fn the_gate_rejects_malformed_headers_before_anything_else() {
    let mut s = store(Config::default());
    let other = RequestKind::Other;
    assert_eq!(
        s.begin_request(&head(None, None, other), T0).unwrap_err(),
        SessionError::MissingSessionId
    );
    assert_eq!(
        s.begin_request(&head(None, None, RequestKind::Initialize), T0)
            .unwrap(),
        Admission::Initialize
    );
    let long = "a".repeat(129);
    for (raw, reason) in [
        ("", InvalidIdReason::Empty),
        (long.as_str(), InvalidIdReason::TooLong),
        ("abc\r\nX-Injected: 1", InvalidIdReason::InvalidCharacter),
        ("sp ace", InvalidIdReason::InvalidCharacter),
        ("\u{0}", InvalidIdReason::InvalidCharacter),
        ("ünïcode", InvalidIdReason::InvalidCharacter),
    ] {
        assert_eq!(
            s.begin_request(&head(Some(raw), None, other), T0)
                .unwrap_err(),
            SessionError::InvalidSessionId { reason },
            "{raw:?}"
        );
    }
    assert_eq!(
        code(s.begin_request(&head(Some("unknown"), None, other), T0)),
        "SESSION_NOT_FOUND"
    );
}

#[test]
fn the_gate_checks_principal_protocol_version_and_phase() {
    let mut s = store(Config::default());
    let id = s
        .create(
            CreateParams {
                principal: Some("alice".into()),
                ..handshake("2025-06-18")
            },
            T0,
        )
        .unwrap()
        .id;
    let alice = Some("alice");
    let at = |kind| head(Some(id.as_str()), alice, kind);
    assert_eq!(
        code(s.begin_request(&head(Some(&id), Some("mallory"), RequestKind::Other), T0)),
        "PRINCIPAL_MISMATCH"
    );
    assert_eq!(
        code(s.begin_request(&head(Some(&id), None, RequestKind::Other), T0)),
        "PRINCIPAL_MISMATCH"
    );
    assert_eq!(
        code(s.begin_request(&at(RequestKind::Initialize), T0)),
        "ALREADY_INITIALIZED"
    );
    assert_eq!(
        code(s.begin_request(&at(RequestKind::Other), T0)),
        "NOT_INITIALIZED"
    );
    let wrong_version = RequestHead {
        protocol_version: Some("2025-03-26"),
        ..at(RequestKind::Initialized)
    };
    assert_eq!(
        s.begin_request(&wrong_version, T0).unwrap_err(),
        SessionError::UnsupportedProtocolVersion {
            requested: "2025-03-26".into(),
            supported: vec![
                "2025-03-26".into(),
                "2025-06-18".into(),
                "2025-11-25".into()
            ],
        }
    );
    s.drain_events();
    let right_version = RequestHead {
        protocol_version: Some("2025-06-18"),
        ..at(RequestKind::Initialized)
    };
    assert_eq!(
        s.begin_request(&right_version, T0 + 1).unwrap(),
        Admission::Admitted {
            phase: Phase::Active
        }
    );
    assert_eq!(
        s.drain_events(),
        vec![Event::Initialized {
            session_id: id.clone(),
            at: T0 + 1
        }]
    );
    s.end_request(&id, T0 + 2).unwrap();
    assert_eq!(
        code(s.begin_request(&at(RequestKind::Initialized), T0 + 3)),
        "ALREADY_INITIALIZED"
    );
    s.begin_request(&at(RequestKind::Other), T0 + 3).unwrap();
    s.end_request(&id, T0 + 4).unwrap();
}

#[test]
fn a_session_with_a_request_in_flight_is_never_idle() {
    let mut s = store(Config {
        idle_timeout_ms: 1_000,
        ..Config::default()
    });
    let id = s.create(plain(), T0).unwrap().id;
    s.begin_request(&head(Some(&id), None, RequestKind::Other), T0 + 10)
        .unwrap();
    s.begin_request(&head(Some(&id), None, RequestKind::Other), T0 + 20)
        .unwrap();
    assert_eq!(s.next_deadline(), None);
    assert!(s.sweep(T0 + 100_000).unwrap().is_empty());
    assert_eq!(s.peek(&id, T0 + 100_000).unwrap().in_flight, 2);
    s.end_request(&id, T0 + 100_000).unwrap();
    assert_eq!(s.next_deadline(), None, "one request is still in flight");
    s.end_request(&id, T0 + 100_500).unwrap();
    assert_eq!(s.next_deadline(), Some(T0 + 101_500));
    assert_eq!(code(s.end_request(&id, T0 + 100_600)), "INVALID_ARGUMENT");
    assert_eq!(s.sweep(T0 + 101_500).unwrap().len(), 1);
}

#[test]
fn a_request_to_a_disconnected_session_resumes_it() {
    let mut s = store(Config::default());
    let id = s.create(plain(), T0).unwrap().id;
    s.disconnect(&id, T0 + 1).unwrap();
    s.drain_events();
    s.begin_request(&head(Some(&id), None, RequestKind::Other), T0 + 2)
        .unwrap();
    assert_eq!(s.peek(&id, T0 + 2).unwrap().phase, Phase::Active);
    assert_eq!(
        s.drain_events(),
        vec![Event::Resumed {
            session_id: id,
            at: T0 + 2
        }]
    );
}

#[test]
fn get_touches_and_peek_has_no_side_effect() {
    let mut s = store(Config {
        idle_timeout_ms: 1_000,
        ..Config::default()
    });
    let id = s.create(plain(), T0).unwrap().id;
    assert_eq!(s.get(&id, T0 + 900).unwrap().last_activity, T0 + 900);
    assert_eq!(s.peek(&id, T0 + 1_800).unwrap().last_activity, T0 + 900);
    assert_eq!(s.clock(), T0 + 900, "peek does not move the clock");
    // Past the deadline, peek reports the expiry without ending the session.
    assert_eq!(
        s.peek(&id, T0 + 1_900).unwrap_err(),
        SessionError::SessionExpired {
            session_id: id.clone(),
            reason: EndReason::Idle
        }
    );
    assert!(s
        .drain_events()
        .iter()
        .all(|e| !matches!(e, Event::Expired { .. })));
    assert_eq!(
        s.stats(T0 + 1_900).unwrap().live,
        0,
        "stats never count it live"
    );
    assert!(s.list(T0 + 1_900).unwrap().is_empty());
    assert_eq!(code(s.get(&id, T0 + 1_900)), "SESSION_EXPIRED");
}

#[test]
fn list_and_stats_count_by_phase() {
    let mut s = store(Config::default());
    let a = s.create(plain(), T0).unwrap().id;
    let b = s.create(handshake("2025-06-18"), T0 + 1).unwrap().id;
    let c = s.create(for_user("carol"), T0 + 2).unwrap().id;
    s.disconnect(&c, T0 + 3).unwrap();
    s.begin_request(&head(Some(&a), None, RequestKind::Other), T0 + 4)
        .unwrap();
    s.close(&b, T0 + 5).unwrap();
    let ids: Vec<String> = s.list(T0 + 5).unwrap().into_iter().map(|v| v.id).collect();
    assert_eq!(ids, vec![a, c]);
    let stats = s.stats(T0 + 5).unwrap();
    assert_eq!(
        (
            stats.live,
            stats.initializing,
            stats.active,
            stats.disconnected,
            stats.in_flight,
            stats.ended_remembered
        ),
        (2, 0, 1, 1, 1, 1)
    );
    assert!(stats.approximate_bytes > 0);
    assert_eq!(stats.pending_events, s.drain_events().len());
}

#[test]
fn state_merges_with_compare_and_set() {
    let mut s = store(Config {
        max_state_bytes: 64,
        ..Config::default()
    });
    let id = s.create(plain(), T0).unwrap().id;
    assert_eq!(
        s.update_state(&id, &json!({"a": 1, "b": {"c": 2}}), Some(0), T0 + 1),
        Ok(1)
    );
    assert_eq!(
        s.update_state(&id, &json!({"b": {"d": 3}, "a": null}), None, T0 + 2),
        Ok(2)
    );
    assert_eq!(state_of(&s, &id, T0 + 2), json!({"b": {"c": 2, "d": 3}}));
    s.drain_events();
    let before = s.snapshot(T0 + 2).unwrap();
    assert_eq!(
        s.update_state(&id, &json!({"x": 1}), Some(1), T0 + 2)
            .unwrap_err(),
        SessionError::VersionConflict {
            session_id: id.clone(),
            expected_version: 1,
            actual_version: 2
        }
    );
    assert_eq!(
        code(s.update_state(&id, &json!({"x": "y".repeat(64)}), None, T0 + 2)),
        "STATE_TOO_LARGE"
    );
    assert_eq!(
        code(s.update_state(&id, &json!([1, 2]), None, T0 + 2)),
        "INVALID_STATE"
    );
    assert_eq!(
        code(s.update_state(&id, &json!(null), None, T0 + 2)),
        "INVALID_STATE"
    );
    unchanged(&mut s, &before, T0 + 2);
    assert_eq!(
        s.replace_state(&id, json!({"z": true}), Some(2), T0 + 3),
        Ok(3)
    );
    assert_eq!(state_of(&s, &id, T0 + 3), json!({"z": true}));
    assert_eq!(
        code(s.replace_state(&id, json!(5), None, T0 + 3)),
        "INVALID_STATE"
    );
    assert_eq!(
        code(s.replace_state(&id, json!({}), Some(9), T0 + 3)),
        "VERSION_CONFLICT"
    );
    assert_eq!(
        s.drain_events(),
        vec![Event::StateChanged {
            session_id: id.clone(),
            version: 3,
            at: T0 + 3
        }]
    );
    assert_eq!(
        code(s.update_state("gone", &json!({}), None, T0 + 3)),
        "SESSION_NOT_FOUND"
    );
}

#[test]
fn disconnect_and_resume_keep_state_for_the_same_principal_only() {
    let mut s = store(Config {
        idle_timeout_ms: 1_000,
        ..Config::default()
    });
    let id = s.create(for_user("alice"), T0).unwrap().id;
    s.update_state(&id, &json!({"k": 1}), None, T0).unwrap();
    s.begin_request(&head(Some(&id), Some("alice"), RequestKind::Other), T0)
        .unwrap();
    s.disconnect(&id, T0 + 10).unwrap();
    let v = s.peek(&id, T0 + 10).unwrap();
    assert_eq!((v.phase, v.in_flight), (Phase::Disconnected, 0));
    s.disconnect(&id, T0 + 20).unwrap();
    assert_eq!(
        s.peek(&id, T0 + 20).unwrap().last_activity,
        T0 + 10,
        "a second disconnect is a no-op"
    );
    assert_eq!(
        code(s.resume(&id, Some("bob"), T0 + 30)),
        "PRINCIPAL_MISMATCH"
    );
    assert_eq!(code(s.resume(&id, None, T0 + 30)), "PRINCIPAL_MISMATCH");
    let v = s.resume(&id, Some("alice"), T0 + 40).unwrap();
    assert_eq!((v.phase, v.state), (Phase::Active, json!({"k": 1})));
    let init = s.create(handshake("2025-06-18"), T0 + 40).unwrap().id;
    assert_eq!(code(s.disconnect(&init, T0 + 41)), "NOT_INITIALIZED");
    assert_eq!(code(s.resume(&init, None, T0 + 41)), "NOT_INITIALIZED");
    // A disconnected session still times out.
    s.disconnect(&id, T0 + 50).unwrap();
    assert_eq!(
        code(s.resume(&id, Some("alice"), T0 + 1_050)),
        "SESSION_EXPIRED"
    );
}

#[test]
fn an_ended_session_tells_how_it_ended_to_its_own_principal_only() {
    let mut s = store(Config::default());
    let id = s.create(for_user("alice"), T0).unwrap().id;
    s.close(&id, T0 + 1).unwrap();
    let gate = |s: &mut SessionStore, who| {
        code(s.begin_request(&head(Some(&id), who, RequestKind::Other), T0 + 2))
    };
    assert_eq!(gate(&mut s, Some("alice")), "SESSION_CLOSED");
    assert_eq!(gate(&mut s, Some("bob")), "PRINCIPAL_MISMATCH");
    assert_eq!(gate(&mut s, None), "PRINCIPAL_MISMATCH");
    assert_eq!(
        code(s.resume(&id, Some("bob"), T0 + 2)),
        "PRINCIPAL_MISMATCH"
    );
    assert_eq!(code(s.resume(&id, Some("alice"), T0 + 2)), "SESSION_CLOSED");
    let unknown = s
        .begin_request(&head(Some(&id), Some("bob"), RequestKind::Other), T0 + 2)
        .unwrap_err();
    assert_eq!(
        (unknown.http_status(), unknown.json_rpc_code()),
        (404, -32001),
        "to bob it answers like an unknown ID"
    );
}

#[test]
fn close_expire_and_clear_all_end_sessions_with_their_reason() {
    let mut s = store(Config::default());
    let a = s.create(plain(), T0).unwrap().id;
    let b = s.create(plain(), T0).unwrap().id;
    s.close(&a, T0 + 1).unwrap();
    assert_eq!(
        s.get(&a, T0 + 2).unwrap_err(),
        SessionError::SessionClosed {
            session_id: a.clone()
        }
    );
    assert_eq!(code(s.close(&a, T0 + 2)), "SESSION_CLOSED");
    s.expire(&b, T0 + 3).unwrap();
    assert_eq!(
        s.get(&b, T0 + 4).unwrap_err(),
        SessionError::SessionExpired {
            session_id: b.clone(),
            reason: EndReason::Requested
        }
    );
    let mut more: Vec<String> = (0..3)
        .map(|_| s.create(plain(), T0 + 5).unwrap().id)
        .collect();
    s.drain_events();
    assert_eq!(s.clear_all(T0 + 6), Ok(3));
    more.sort();
    let closed: Vec<String> = s
        .drain_events()
        .into_iter()
        .map(|e| match e {
            Event::Closed { session_id, .. } => session_id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(closed, more);
    assert_eq!(s.stats(T0 + 6).unwrap().live, 0);
}

#[test]
fn renew_carries_state_into_a_new_id_once() {
    let mut s = store(Config {
        idle_timeout_ms: 1_000,
        ..Config::default()
    });
    let old = s.create(for_user("alice"), T0).unwrap().id;
    s.update_state(&old, &json!({"notes": ["a"]}), None, T0)
        .unwrap();
    assert_eq!(
        code(s.renew(&old, Some("alice"), T0 + 1)),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(s.renew("never", Some("alice"), T0 + 1)),
        "SESSION_NOT_FOUND"
    );
    s.sweep(T0 + 1_000).unwrap();
    assert_eq!(
        code(s.renew(&old, Some("bob"), T0 + 1_001)),
        "PRINCIPAL_MISMATCH"
    );
    s.drain_events();
    let new = s.renew(&old, Some("alice"), T0 + 1_001).unwrap();
    assert_ne!(new.id, old);
    assert_eq!(
        (new.phase, new.version, new.state.clone()),
        (Phase::Active, 1, json!({"notes": ["a"]}))
    );
    assert_eq!(new.principal.as_deref(), Some("alice"));
    assert_eq!(
        s.drain_events(),
        vec![Event::Renewed {
            session_id: new.id.clone(),
            previous_session_id: old.clone(),
            at: T0 + 1_001
        }]
    );
    assert_eq!(
        code(s.renew(&old, Some("alice"), T0 + 1_002)),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(s.get(&old, T0 + 1_002)),
        "SESSION_EXPIRED",
        "the old ID is never live again"
    );
}

#[test]
fn sweep_reports_in_deadline_order_and_next_deadline_follows() {
    let mut s = store(Config {
        idle_timeout_ms: 1_000,
        ..Config::default()
    });
    let a = s.create(plain(), T0).unwrap().id;
    let b = s.create(plain(), T0 + 10).unwrap().id;
    let c = s.create(plain(), T0 + 20).unwrap().id;
    s.get(&a, T0 + 30).unwrap();
    assert_eq!(s.next_deadline(), Some(T0 + 1_010));
    let ended = s.sweep(T0 + 5_000).unwrap();
    let order: Vec<(String, u64)> = ended.into_iter().map(|e| (e.session_id, e.at)).collect();
    assert_eq!(
        order,
        vec![(b, T0 + 1_010), (c, T0 + 1_020), (a, T0 + 1_030)]
    );
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn capacity_rejects_with_retry_after_or_evicts_the_idlest() {
    let config = Config {
        max_sessions: 2,
        idle_timeout_ms: 1_000,
        ..Config::default()
    };
    let mut s = store(config.clone());
    s.create(plain(), T0).unwrap();
    s.create(plain(), T0 + 100).unwrap();
    let err = s.create(plain(), T0 + 300).unwrap_err();
    assert_eq!(
        err,
        SessionError::CapacityExceeded {
            limit: 2,
            retry_after_ms: 700
        }
    );
    assert_eq!((err.http_status(), err.retry_after_ms()), (503, Some(700)));

    let mut s = store(Config {
        capacity_policy: CapacityPolicy::EvictIdlest,
        ..config
    });
    let a = s.create(plain(), T0).unwrap().id;
    let b = s.create(plain(), T0 + 100).unwrap().id;
    s.begin_request(&head(Some(&a), None, RequestKind::Other), T0 + 150)
        .unwrap();
    s.drain_events();
    let c = s.create(plain(), T0 + 200).unwrap().id;
    assert_eq!(
        s.drain_events()[0],
        Event::Evicted {
            session_id: b.clone(),
            at: T0 + 200
        },
        "the busy session stays, the idle one goes"
    );
    assert_eq!(
        s.get(&b, T0 + 201).unwrap_err(),
        SessionError::SessionExpired {
            session_id: b,
            reason: EndReason::Evicted
        }
    );
    s.begin_request(&head(Some(&c), None, RequestKind::Other), T0 + 202)
        .unwrap();
    assert_eq!(
        code(s.create(plain(), T0 + 203)),
        "CAPACITY_EXCEEDED",
        "all busy"
    );
}

#[test]
fn the_per_principal_limit_counts_live_sessions_of_that_principal() {
    let mut s = store(Config {
        max_sessions_per_principal: Some(2),
        ..Config::default()
    });
    let a1 = s.create(for_user("alice"), T0).unwrap().id;
    s.create(for_user("alice"), T0).unwrap();
    let err = s.create(for_user("alice"), T0).unwrap_err();
    assert_eq!(
        (err.code(), err.http_status()),
        ("PRINCIPAL_LIMIT_EXCEEDED", 429)
    );
    s.create(for_user("bob"), T0).unwrap();
    s.create(plain(), T0).unwrap();
    s.close(&a1, T0 + 1).unwrap();
    s.create(for_user("alice"), T0 + 2).unwrap();
}

#[test]
fn ended_ids_are_remembered_for_a_bounded_time_and_count() {
    let mut s = store(Config {
        ended_retention_ms: 1_000,
        max_ended_remembered: 2,
        ..Config::default()
    });
    let ids: Vec<String> = (0..3).map(|_| s.create(plain(), T0).unwrap().id).collect();
    for id in &ids {
        s.close(id, T0 + 1).unwrap();
    }
    assert_eq!(s.stats(T0 + 1).unwrap().ended_remembered, 2);
    let closed = |s: &mut SessionStore, id: &str, now| code(s.get(id, now));
    // Equal end times: the first to end is forgotten first.
    assert_eq!(closed(&mut s, &ids[0], T0 + 2), "SESSION_NOT_FOUND");
    assert_eq!(closed(&mut s, &ids[1], T0 + 2), "SESSION_CLOSED");
    assert_eq!(closed(&mut s, &ids[2], T0 + 1_000), "SESSION_CLOSED");
    assert_eq!(closed(&mut s, &ids[2], T0 + 1_001), "SESSION_NOT_FOUND");
    assert_eq!(s.stats(T0 + 1_001).unwrap().ended_remembered, 0);
}

#[test]
fn a_clock_that_goes_backwards_never_un_expires() {
    let mut s = store(Config {
        idle_timeout_ms: 1_000,
        ..Config::default()
    });
    let id = s.create(plain(), T0).unwrap().id;
    s.sweep(T0 + 2_000).unwrap();
    assert_eq!(code(s.get(&id, T0 + 10)), "SESSION_EXPIRED");
    assert_eq!(s.clock(), T0 + 2_000);
    // Operations at an earlier time happen at the latest time seen.
    let v = s.create(plain(), T0).unwrap();
    assert_eq!(v.created_at, T0 + 2_000);
    assert_eq!(code(s.peek(&v.id, T0 + 3_000)), "SESSION_EXPIRED");
    assert!(s.peek(&v.id, T0).is_ok());
}

#[test]
fn the_absolute_lifetime_ends_even_a_busy_session() {
    let mut s = store(Config {
        absolute_lifetime_ms: Some(5_000),
        ..Config::default()
    });
    let id = s.create(plain(), T0).unwrap().id;
    s.begin_request(&head(Some(&id), None, RequestKind::Other), T0 + 1)
        .unwrap();
    assert_eq!(s.next_deadline(), Some(T0 + 5_000));
    let ended = s.sweep(T0 + 5_000).unwrap();
    assert_eq!(ended[0].reason, EndReason::Lifetime);
    assert_eq!(
        s.end_request(&id, T0 + 5_001).unwrap_err(),
        SessionError::SessionExpired {
            session_id: id,
            reason: EndReason::Lifetime
        }
    );
}

#[test]
fn undrained_events_are_bounded() {
    let mut s = store(Config {
        max_pending_events: 10,
        ..Config::default()
    });
    for _ in 0..25 {
        let id = s.create(plain(), T0).unwrap().id;
        s.close(&id, T0).unwrap();
    }
    let stats = s.stats(T0).unwrap();
    assert_eq!((stats.pending_events, stats.dropped_events), (10, 40));
}

#[test]
fn a_bad_configuration_is_rejected() {
    let err = SessionStore::new(Config {
        idle_timeout_ms: 0,
        ..Config::default()
    })
    .err()
    .unwrap();
    assert_eq!(
        (err.code(), err.http_status(), err.json_rpc_code()),
        ("INVALID_CONFIG", 500, -32603)
    );
}

struct Broken(Vec<&'static str>);
impl IdSource for Broken {
    fn next_id(&mut self) -> Result<String, SessionError> {
        Ok(self.0.pop().unwrap_or("same").to_owned())
    }

    fn hash_seed(&mut self) -> Result<u128, SessionError> {
        Ok(0)
    }

    fn fill_random(&mut self, bytes: &mut [u8]) -> Result<(), SessionError> {
        bytes.fill(0);
        Ok(())
    }
}

/// A source that cannot even seed the store's ID hash.
struct Empty;
impl IdSource for Empty {
    fn next_id(&mut self) -> Result<String, SessionError> {
        Ok("unused".to_owned())
    }

    fn hash_seed(&mut self) -> Result<u128, SessionError> {
        Err(SessionError::IdSourceFailed {
            reason: "no entropy".to_owned(),
        })
    }

    fn fill_random(&mut self, _bytes: &mut [u8]) -> Result<(), SessionError> {
        Err(SessionError::IdSourceFailed {
            reason: "no entropy".to_owned(),
        })
    }
}

#[test]
fn a_source_that_cannot_seed_the_hash_makes_no_store() {
    let err = SessionStore::with_id_source(Config::default(), Box::new(Empty))
        .err()
        .unwrap();
    assert_eq!((err.code(), err.http_status()), ("ID_SOURCE_FAILED", 500));
}

#[test]
fn a_misbehaving_id_source_fails_cleanly() {
    let mut s =
        SessionStore::with_id_source(Config::default(), Box::new(Broken(vec!["bad id"]))).unwrap();
    assert_eq!(code(s.create(plain(), T0)), "ID_SOURCE_FAILED");
    assert_eq!(s.stats(T0).unwrap().live, 0);
    s.create(plain(), T0).unwrap();
    let err = s.create(plain(), T0).unwrap_err();
    assert_eq!((err.code(), err.http_status()), ("ID_SOURCE_FAILED", 500));
    assert_eq!(s.stats(T0).unwrap().live, 1);
}

#[test]
fn every_time_argument_is_bounded() {
    let mut s = store(Config::default());
    let id = s.create(plain(), T0).unwrap().id;
    let t = MAX_TIME_MS + 1;
    let results = [
        s.get(&id, t).err(),
        s.peek(&id, t).err(),
        s.list(t).err(),
        s.stats(t).err(),
        s.sweep(t).err(),
        s.end_request(&id, t).err(),
        s.close(&id, t).err(),
        s.snapshot(t).err(),
        s.restore("{}", t).err(),
    ];
    for r in results {
        assert_eq!(r.unwrap().code(), "INVALID_ARGUMENT");
    }
    assert!(s.peek(&id, T0).is_ok());
}

#[test]
fn find_tells_live_ended_and_unknown_apart() {
    let mut s = store(Config {
        idle_timeout_ms: 1_000,
        ..Config::default()
    });
    let id = s.create(plain(), T0).unwrap().id;
    s.update_state(&id, &json!({"k": 1}), None, T0).unwrap();
    match s.find(&id, T0 + 500).unwrap() {
        Lookup::Live(v) => assert_eq!((v.last_activity, v.version), (T0 + 500, 1)),
        other => panic!("{other:?}"),
    }
    match s.find(&id, T0 + 1_500).unwrap() {
        Lookup::Ended(e) => {
            assert_eq!(
                (e.reason, e.ended_at, e.state),
                (EndReason::Idle, T0 + 1_500, json!({"k": 1}))
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.find("other", T0 + 1_600).unwrap(), Lookup::Unknown);
    assert_eq!(code(s.find("", T0 + 1_600)), "INVALID_SESSION_ID");
    let json = serde_json::to_value(s.find(&id, T0 + 1_600).unwrap()).unwrap();
    assert_eq!(
        (json["status"].as_str(), json["session"]["reason"].as_str()),
        (Some("ended"), Some("idle"))
    );
}

#[test]
fn only_the_event_kinds_asked_for_are_recorded() {
    let mut s = store(Config::default());
    s.set_event_filter(&[EventKind::Closed]);
    let id = s.create(plain(), T0).unwrap().id;
    s.update_state(&id, &json!({"a": 1}), None, T0).unwrap();
    s.close(&id, T0).unwrap();
    assert_eq!(
        s.drain_events(),
        vec![Event::Closed {
            session_id: id,
            at: T0
        }]
    );
    s.set_event_filter(&[]);
    s.create(plain(), T0).unwrap();
    assert_eq!(s.stats(T0).unwrap().pending_events, 0);
}

#[test]
fn next_deadline_before_answers_only_an_earlier_deadline() {
    let mut s = store(Config {
        idle_timeout_ms: 1_000,
        ..Config::default()
    });
    let a = s.create(plain(), T0).unwrap().id;
    assert_eq!(s.next_deadline_before(None), Some(T0 + 1_000));
    assert_eq!(s.next_deadline_before(Some(T0 + 1_000)), None);
    assert_eq!(s.next_deadline_before(Some(T0 + 1_001)), Some(T0 + 1_000));
    s.get(&a, T0 + 500).unwrap();
    // The filed deadline is early; the real one is later than the bound.
    assert_eq!(s.next_deadline_before(Some(T0 + 1_200)), None);
    assert_eq!(s.next_deadline(), Some(T0 + 1_500));
}

#[test]
fn max_total_bytes_refuses_what_does_not_fit_and_counts_every_change() {
    let mut s = store(Config {
        max_total_bytes: Some(4_000),
        max_sessions: 100,
        ..Config::default()
    });
    let big = json!({ "blob": "x".repeat(1_000) });
    let mut ids = vec![];
    let refused = loop {
        let params = CreateParams {
            state: Some(big.clone()),
            ..plain()
        };
        match s.create(params, T0) {
            Ok(v) => ids.push(v.id),
            Err(e) => break e,
        }
    };
    assert_eq!(refused.code(), "STORAGE_LIMIT_EXCEEDED");
    assert_eq!(refused.http_status(), 503);
    assert!(refused.retry_after_ms().is_some());
    assert_eq!(ids.len(), 3, "three sessions of ~1.3 KB fit in 4,000 bytes");
    let total = s.stats(T0).unwrap().total_bytes;
    assert!(total <= 4_000 && total == s.recount_bytes());
    let before = s.snapshot(T0).unwrap();
    let grow = s.update_state(&ids[0], &json!({ "more": "y".repeat(2_000) }), None, T0);
    assert_eq!(grow.unwrap_err().code(), "STORAGE_LIMIT_EXCEEDED");
    let replace = s.replace_state(&ids[0], json!({ "more": "y".repeat(2_000) }), None, T0);
    assert_eq!(replace.unwrap_err().code(), "STORAGE_LIMIT_EXCEEDED");
    assert_eq!(s.snapshot(T0).unwrap(), before, "a refusal changes nothing");
    // Shrinking makes room again; every change is counted.
    s.replace_state(&ids[0], json!({}), None, T0).unwrap();
    s.update_state(&ids[1], &json!({ "blob": null }), None, T0)
        .unwrap();
    assert_eq!(s.stats(T0).unwrap().total_bytes, s.recount_bytes());
    assert!(s
        .create(
            CreateParams {
                state: Some(big),
                ..plain()
            },
            T0
        )
        .is_ok());
}

#[test]
fn a_session_that_never_initialized_keeps_nothing_once_ended() {
    let mut s = store(Config::default());
    let v = s
        .create(
            CreateParams {
                requested_protocol_version: Some("2025-11-25".into()),
                client_info: Some(json!({ "name": "c", "version": "1", "pad": "z".repeat(4_000) })),
                capabilities: Some(json!({})),
                state: Some(json!({ "k": 1 })),
                ..plain()
            },
            T0,
        )
        .unwrap();
    let live = s.stats(T0).unwrap().total_bytes;
    s.close(&v.id, T0).unwrap();
    let ended = s.stats(T0).unwrap().total_bytes;
    assert!(ended + 4_000 < live, "{ended} vs {live}: its data is gone");
    assert_eq!(ended, s.recount_bytes());
    assert_eq!(s.renew(&v.id, None, T0).unwrap().state, json!({}));
}
