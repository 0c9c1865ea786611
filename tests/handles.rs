//! State handles (MCP 2026-07-28): every handle operation and error, and how
//! handles and sessions share one store without seeing each other.

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
    CapacityPolicy, Config, EndReason, Event, Lookup, RequestKind, SessionError, SessionStore,
    HANDLE_PREFIX,
};
use serde_json::json;

const IDLE: u64 = 30 * 60_000;
const LIFE: u64 = 24 * 60 * 60_000;

fn code<T: std::fmt::Debug>(r: Result<T, SessionError>) -> &'static str {
    r.unwrap_err().code()
}

#[test]
fn the_defaults_are_thirty_minutes_idle_a_day_of_life_and_caps_of_their_own() {
    let c = Config::default();
    assert_eq!(c.handle_idle_timeout_ms, IDLE);
    assert_eq!(c.handle_lifetime_ms, LIFE);
    assert_eq!(c.max_handles, 10_000);
    assert_eq!(c.max_handles_per_principal, Some(1_000));
    for bad in [
        Config {
            handle_idle_timeout_ms: 0,
            ..Config::default()
        },
        Config {
            handle_lifetime_ms: 0,
            ..Config::default()
        },
        Config {
            max_handles: 0,
            ..Config::default()
        },
        Config {
            max_handles_per_principal: Some(0),
            ..Config::default()
        },
    ] {
        assert_eq!(
            SessionStore::new(bad).err().map(|e| e.code()),
            Some("INVALID_CONFIG")
        );
    }
}

#[test]
fn a_handle_is_created_with_a_prefixed_id_state_and_deadlines() {
    let mut s = store(Config::default());
    let h = s
        .create_handle(Some("alice"), Some(json!({"items": []})), T0)
        .unwrap();
    assert!(h.handle_id.starts_with(HANDLE_PREFIX));
    // "h_" and 128 bits as 32 hex digits from the ID source.
    assert!(h.handle_id.len() >= HANDLE_PREFIX.len() + 32);
    assert_eq!(h.principal.as_deref(), Some("alice"));
    assert_eq!(h.state, json!({"items": []}));
    assert_eq!(h.version, 0);
    assert_eq!(h.expires_at, T0 + IDLE);
    assert_eq!(h.lifetime_ends_at, T0 + LIFE);
    assert_eq!(
        s.drain_events(),
        vec![Event::HandleCreated {
            handle_id: h.handle_id.clone(),
            principal: Some("alice".into()),
            at: T0
        }]
    );
    assert_eq!(s.next_deadline(), Some(T0 + IDLE));
    assert_eq!(
        s.get_handle(&h.handle_id, Some("alice"), T0 + 5).unwrap(),
        {
            let mut v = h.clone();
            v.last_activity = T0 + 5;
            v.expires_at = T0 + 5 + IDLE;
            v
        }
    );
}

#[test]
fn state_merges_and_replaces_with_compare_and_set() {
    let mut s = store(Config::default());
    let id = s.create_handle(None, None, T0).unwrap().handle_id;
    assert_eq!(
        s.update_handle(&id, None, json!({"a": 1}), Some(0), T0 + 1),
        Ok(1)
    );
    assert_eq!(
        s.update_handle(&id, None, json!({"b": 2}), None, T0 + 2),
        Ok(2)
    );
    let conflict = s
        .update_handle(&id, None, json!({"c": 3}), Some(1), T0 + 3)
        .unwrap_err();
    assert_eq!(
        conflict,
        SessionError::VersionConflict {
            session_id: id.clone(),
            expected_version: 1,
            actual_version: 2
        }
    );
    assert_eq!(
        s.get_handle(&id, None, T0 + 4).unwrap().state,
        json!({"a": 1, "b": 2})
    );
    assert_eq!(
        s.replace_handle_state(&id, None, json!({"z": true}), Some(2), T0 + 5),
        Ok(3)
    );
    assert_eq!(
        code(s.replace_handle_state(&id, None, json!([1]), None, T0 + 6)),
        "INVALID_STATE"
    );
    assert_eq!(
        s.get_handle(&id, None, T0 + 7).unwrap().state,
        json!({"z": true})
    );
}

#[test]
fn another_principals_handle_reads_exactly_as_an_unknown_one() {
    let mut s = store(Config::default());
    let id = s.create_handle(Some("alice"), None, T0).unwrap().handle_id;
    let unknown = format!("{HANDLE_PREFIX}00000000000000000000000000000000");
    for principal in [Some("bob"), None] {
        let theirs = s.get_handle(&id, principal, T0).unwrap_err();
        let missing = s.get_handle(&unknown, principal, T0).unwrap_err();
        assert_eq!(theirs.code(), "HANDLE_NOT_FOUND");
        assert_eq!(theirs.code(), missing.code());
        assert_eq!(theirs.client_answer(), missing.client_answer());
        assert_eq!(theirs.client_answer().message, "Handle not found");
        assert_eq!(
            code(s.update_handle(&id, principal, json!({}), None, T0)),
            "HANDLE_NOT_FOUND"
        );
        assert_eq!(
            code(s.destroy_handle(&id, principal, T0)),
            "HANDLE_NOT_FOUND"
        );
        assert!(s.list_handles(principal, T0).unwrap().is_empty());
    }
    // Ended, it still reads as unknown to anyone else.
    s.destroy_handle(&id, Some("alice"), T0 + 1).unwrap();
    assert_eq!(
        code(s.get_handle(&id, Some("bob"), T0 + 2)),
        "HANDLE_NOT_FOUND"
    );
    assert_eq!(
        code(s.get_handle(&id, Some("alice"), T0 + 2)),
        "HANDLE_DESTROYED"
    );
}

#[test]
fn an_expired_handle_says_so_with_its_reason_and_never_reads_as_unknown() {
    let config = Config {
        handle_idle_timeout_ms: 1_000,
        handle_lifetime_ms: 5_000,
        ..Config::default()
    };
    let mut s = store(config);
    let idle = s.create_handle(Some("u"), None, T0).unwrap().handle_id;
    let busy = s.create_handle(Some("u"), None, T0).unwrap().handle_id;
    s.drain_events();
    // `busy` is used every 900 ms: never idle, but its lifetime ends at T0 + 5 s.
    let mut t = T0;
    while t + 900 < T0 + 5_000 {
        t += 900;
        s.get_handle(&busy, Some("u"), t).unwrap();
    }
    let e = s.get_handle(&idle, Some("u"), t).unwrap_err();
    assert_eq!(
        e,
        SessionError::HandleExpired {
            handle_id: idle.clone(),
            reason: EndReason::Idle
        }
    );
    assert!(e.client_answer().message.contains("has expired"));
    assert_eq!(s.next_deadline(), Some(T0 + 5_000));
    assert!(
        s.sweep(T0 + 5_000).unwrap().is_empty(),
        "handles are not sessions"
    );
    assert_eq!(
        s.get_handle(&busy, Some("u"), T0 + 5_001).unwrap_err(),
        SessionError::HandleExpired {
            handle_id: busy.clone(),
            reason: EndReason::Lifetime
        }
    );
    assert_eq!(
        s.drain_events(),
        vec![
            Event::HandleExpired {
                handle_id: idle.clone(),
                reason: EndReason::Idle,
                at: T0 + 1_000
            },
            Event::HandleExpired {
                handle_id: busy.clone(),
                reason: EndReason::Lifetime,
                at: T0 + 5_000
            },
        ]
    );
    let stats = s.stats(T0 + 5_001).unwrap();
    assert_eq!((stats.handles_live, stats.handles_ended_remembered), (0, 2));
    assert_eq!((stats.live, stats.ended_remembered), (0, 0));
    // Past retention the ID is forgotten, and then it is unknown.
    let later = T0 + 5_000 + Config::default().ended_retention_ms + 1;
    assert_eq!(
        code(s.get_handle(&idle, Some("u"), later)),
        "HANDLE_NOT_FOUND"
    );
}

#[test]
fn destroy_ends_a_handle_with_its_own_error() {
    let mut s = store(Config::default());
    let id = s.create_handle(None, None, T0).unwrap().handle_id;
    s.drain_events();
    s.destroy_handle(&id, None, T0 + 1).unwrap();
    assert_eq!(
        s.drain_events(),
        vec![Event::HandleDestroyed {
            handle_id: id.clone(),
            at: T0 + 1
        }]
    );
    assert_eq!(
        s.get_handle(&id, None, T0 + 2).unwrap_err(),
        SessionError::HandleDestroyed {
            handle_id: id.clone()
        }
    );
    assert_eq!(
        code(s.destroy_handle(&id, None, T0 + 2)),
        "HANDLE_DESTROYED"
    );
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn list_answers_the_live_handles_of_one_principal_oldest_first() {
    let mut s = store(Config::default());
    let a1 = s.create_handle(Some("a"), None, T0).unwrap().handle_id;
    let b1 = s.create_handle(Some("b"), None, T0 + 1).unwrap().handle_id;
    let a2 = s.create_handle(Some("a"), None, T0 + 2).unwrap().handle_id;
    let anon = s.create_handle(None, None, T0 + 3).unwrap().handle_id;
    s.create(for_user("a"), T0 + 4).unwrap();
    let ids = |s: &SessionStore, p| -> Vec<String> {
        s.list_handles(p, T0 + 5)
            .unwrap()
            .into_iter()
            .map(|h| h.handle_id)
            .collect()
    };
    assert_eq!(ids(&s, Some("a")), vec![a1.clone(), a2.clone()]);
    assert_eq!(ids(&s, Some("b")), vec![b1.clone()]);
    assert_eq!(ids(&s, None), vec![anon.clone()]);
    s.destroy_handle(&a1, Some("a"), T0 + 5).unwrap();
    assert_eq!(ids(&s, Some("a")), vec![a2.clone()]);
    assert_eq!(s.list(T0 + 5).unwrap().len(), 1, "sessions list no handles");
    // The operator's view: every principal's live handles, oldest first, and no session.
    let all: Vec<String> = s
        .all_handles(T0 + 5)
        .unwrap()
        .into_iter()
        .map(|h| h.handle_id)
        .collect();
    assert_eq!(all, vec![b1, a2, anon]);
}

#[test]
fn handle_caps_are_their_own_and_refuse_with_a_retry_after() {
    let config = Config {
        max_sessions: 2,
        max_sessions_per_principal: Some(1),
        max_handles: 3,
        max_handles_per_principal: Some(2),
        handle_idle_timeout_ms: 10_000,
        ..Config::default()
    };
    let mut s = store(config);
    s.create_handle(Some("a"), None, T0).unwrap();
    s.create_handle(Some("a"), None, T0).unwrap();
    let per = s.create_handle(Some("a"), None, T0 + 100).unwrap_err();
    assert_eq!(
        per,
        SessionError::HandleLimitExceeded {
            limit: 2,
            retry_after_ms: 9_900
        }
    );
    assert_eq!(per.http_status(), 429);
    assert!(per.client_answer().message.contains("limit reached"));
    // Sessions' caps are untouched by handles.
    s.create(for_user("a"), T0 + 100).unwrap();
    s.create(for_user("b"), T0 + 100).unwrap();
    assert_eq!(code(s.create(for_user("c"), T0 + 100)), "CAPACITY_EXCEEDED");
    // And handles' caps by sessions.
    s.create_handle(Some("b"), None, T0 + 100).unwrap();
    assert_eq!(
        s.create_handle(Some("c"), None, T0 + 100).unwrap_err(),
        SessionError::HandleLimitExceeded {
            limit: 3,
            retry_after_ms: 9_900
        }
    );
    // Room comes back when one ends.
    let a = s.list_handles(Some("a"), T0 + 100).unwrap();
    s.destroy_handle(&a[0].handle_id, Some("a"), T0 + 100)
        .unwrap();
    s.create_handle(Some("c"), None, T0 + 100).unwrap();
}

#[test]
fn eviction_never_ends_a_handle() {
    let config = Config {
        max_sessions: 1,
        capacity_policy: CapacityPolicy::EvictIdlest,
        handle_idle_timeout_ms: 1_000,
        ..Config::default()
    };
    let mut s = store(config);
    let h = s.create_handle(None, None, T0).unwrap().handle_id;
    let first = s.create(plain(), T0 + 1).unwrap().id;
    s.create(plain(), T0 + 2).unwrap();
    assert_eq!(code(s.get(&first, T0 + 3)), "SESSION_EXPIRED");
    assert!(s.get_handle(&h, None, T0 + 3).is_ok());
}

#[test]
fn a_handle_is_not_a_session() {
    let mut s = store(Config::default());
    let h = s.create_handle(None, None, T0).unwrap().handle_id;
    let not_found = |r: Result<(), SessionError>| assert_eq!(code(r), "SESSION_NOT_FOUND");
    not_found(s.initialized(&h, T0).map(|_| ()));
    not_found(
        s.begin_request(&head(Some(&h), None, RequestKind::Other), T0)
            .map(|_| ()),
    );
    not_found(s.end_request(&h, T0));
    not_found(s.disconnect(&h, T0));
    not_found(s.resume(&h, None, T0).map(|_| ()));
    not_found(s.close(&h, T0));
    not_found(s.expire(&h, T0));
    not_found(s.get(&h, T0).map(|_| ()));
    not_found(s.peek(&h, T0).map(|_| ()));
    not_found(s.update_state(&h, &json!({}), None, T0).map(|_| ()));
    not_found(s.replace_state(&h, json!({}), None, T0).map(|_| ()));
    assert_eq!(s.find(&h, T0).unwrap(), Lookup::Unknown);
    assert_eq!(s.find_ref(&h, T0).unwrap(), None);
    assert_eq!(s.clear_all(T0).unwrap(), 0);
    assert!(s.list(T0).unwrap().is_empty());
    let stats = s.stats(T0).unwrap();
    assert_eq!((stats.live, stats.handles_live), (0, 1));
    // Ended, it is still no session's.
    s.destroy_handle(&h, None, T0).unwrap();
    not_found(s.renew(&h, None, T0).map(|_| ()));
    not_found(s.get(&h, T0).map(|_| ()));
    // And a session is no handle.
    let id = s.create(plain(), T0).unwrap().id;
    assert_eq!(code(s.get_handle(&id, None, T0)), "HANDLE_NOT_FOUND");
    assert_eq!(
        code(s.update_handle(&id, None, json!({}), None, T0)),
        "HANDLE_NOT_FOUND"
    );
    assert_eq!(code(s.destroy_handle(&id, None, T0)), "HANDLE_NOT_FOUND");
}

#[test]
fn bad_inputs_are_typed_errors_that_change_nothing() {
    let mut s = store(Config::default());
    let id = s.create_handle(None, None, T0).unwrap().handle_id;
    let before = s.snapshot(T0).unwrap();
    s.drain_events();
    assert_eq!(code(s.get_handle("", None, T0)), "INVALID_ARGUMENT");
    assert_eq!(code(s.get_handle("h\u{7f}", None, T0)), "INVALID_ARGUMENT");
    assert_eq!(
        code(s.get_handle(&"h".repeat(10_000), None, T0)),
        "INVALID_ARGUMENT"
    );
    assert_eq!(code(s.get_handle(&id, Some(""), T0)), "INVALID_ARGUMENT");
    assert_eq!(code(s.get_handle(&id, None, u64::MAX)), "INVALID_ARGUMENT");
    assert_eq!(
        code(s.create_handle(None, Some(json!(1)), T0)),
        "INVALID_STATE"
    );
    assert_eq!(code(s.list_handles(None, u64::MAX)), "INVALID_ARGUMENT");
    let big = json!({"x": "y".repeat(70_000)});
    assert_eq!(
        code(s.create_handle(None, Some(big.clone()), T0)),
        "STATE_TOO_LARGE"
    );
    assert_eq!(
        code(s.update_handle(&id, None, big, None, T0)),
        "STATE_TOO_LARGE"
    );
    assert_eq!(s.snapshot(T0).unwrap(), before);
    assert!(s.drain_events().is_empty());
}

#[test]
fn snapshots_carry_handles_and_old_snapshots_read_as_sessions() {
    let config = Config {
        handle_idle_timeout_ms: 1_000,
        ..Config::default()
    };
    let mut s = store(config.clone());
    let live = s
        .create_handle(Some("u"), Some(json!({"n": 1})), T0)
        .unwrap()
        .handle_id;
    let gone = s.create_handle(Some("u"), None, T0).unwrap().handle_id;
    let session = s.create(for_user("u"), T0).unwrap().id;
    s.destroy_handle(&gone, Some("u"), T0 + 1).unwrap();
    let text = s.snapshot(T0 + 2).unwrap();
    assert_eq!(text.matches("\"kind\":\"handle\"").count(), 2);
    assert!(
        !text.contains("\"kind\":\"session\""),
        "a session has no kind"
    );

    let mut back = store(config.clone());
    back.restore(&text, T0 + 3).unwrap();
    assert_eq!(back.snapshot(T0 + 3).unwrap(), s.snapshot(T0 + 3).unwrap());
    assert_eq!(
        back.get_handle(&live, Some("u"), T0 + 3).unwrap().state,
        json!({"n": 1})
    );
    assert_eq!(
        code(back.get_handle(&gone, Some("u"), T0 + 3)),
        "HANDLE_DESTROYED"
    );
    assert!(back.get(&session, T0 + 3).is_ok());
    assert_eq!(code(back.get(&live, T0 + 3)), "SESSION_NOT_FOUND");
    // Restored handles keep their deadlines and count against their caps.
    assert_eq!(back.next_deadline(), Some(T0 + 3 + 1_000));
    let stats = back.stats(T0 + 3).unwrap();
    assert_eq!((stats.live, stats.handles_live), (1, 1));
    // The lifetime is counted from creation, across the restore.
    let short = Config {
        handle_lifetime_ms: 2,
        ..config.clone()
    };
    let mut expired = store(short);
    let report = expired.restore(&text, T0 + 3).unwrap();
    assert_eq!(report.skipped_expired, 1);

    // Export (the journal's records) carries the kind too.
    let exported = s.export(std::slice::from_ref(&live), T0 + 3).unwrap();
    assert!(exported.contains("\"kind\":\"handle\""));

    // A record with no kind is a session (every snapshot from before handles).
    let old = text.replace(",\"kind\":\"handle\"", "");
    let mut old_store = store(config);
    old_store.restore(&old, T0 + 3).unwrap();
    assert!(old_store.get(&live, T0 + 3).is_ok());
    assert_eq!(
        code(old_store.get_handle(&live, Some("u"), T0 + 3)),
        "HANDLE_NOT_FOUND"
    );
}

#[test]
fn restore_refuses_handles_past_the_handle_cap_apart_from_sessions() {
    let mut s = store(Config::default());
    for _ in 0..3 {
        s.create_handle(None, None, T0).unwrap();
    }
    s.create(plain(), T0).unwrap();
    let text = s.snapshot(T0).unwrap();
    let mut small = store(Config {
        max_handles: 2,
        max_sessions: 1,
        ..Config::default()
    });
    let report = small.restore(&text, T0).unwrap();
    assert_eq!((report.restored, report.refused_capacity), (3, 1));
}

#[test]
fn a_refused_handle_waits_for_the_next_handle_to_end_not_the_next_session() {
    let config = Config {
        max_handles: 1,
        handle_idle_timeout_ms: 50_000,
        idle_timeout_ms: 1_000,
        ..Config::default()
    };
    let mut s = store(config);
    // A session ends in 1 s, but only a handle's end makes room for a handle.
    s.create(plain(), T0).unwrap();
    s.create_handle(None, None, T0).unwrap();
    assert_eq!(
        s.create_handle(None, None, T0 + 100).unwrap_err(),
        SessionError::HandleLimitExceeded {
            limit: 1,
            retry_after_ms: 49_900
        }
    );
    // And a refused session waits for a session, not the handle.
    let config = Config {
        max_sessions: 1,
        handle_idle_timeout_ms: 500,
        idle_timeout_ms: 60_000,
        ..Config::default()
    };
    let mut s = store(config);
    s.create_handle(None, None, T0).unwrap();
    s.create(plain(), T0).unwrap();
    assert_eq!(
        s.create(plain(), T0 + 100).unwrap_err(),
        SessionError::CapacityExceeded {
            limit: 1,
            retry_after_ms: 59_900
        }
    );
}

#[test]
fn listing_reads_only_the_principals_own_handles_and_follows_every_change() {
    let mut s = store(Config::default());
    let a1 = s.create_handle(Some("a"), None, T0).unwrap().handle_id;
    let b1 = s.create_handle(Some("b"), None, T0).unwrap().handle_id;
    let a2 = s.create_handle(Some("a"), None, T0 + 1).unwrap().handle_id;
    let anon = s.create_handle(None, None, T0 + 2).unwrap().handle_id;
    let ids = |s: &SessionStore, p: Option<&str>| -> Vec<String> {
        s.list_handles(p, T0 + 10)
            .unwrap()
            .into_iter()
            .map(|h| h.handle_id)
            .collect()
    };
    assert_eq!(ids(&s, Some("a")), vec![a1.clone(), a2.clone()]);
    assert_eq!(ids(&s, Some("b")), vec![b1]);
    assert_eq!(ids(&s, None), vec![anon]);
    assert!(ids(&s, Some("nobody")).is_empty());
    s.destroy_handle(&a1, Some("a"), T0 + 3).unwrap();
    assert_eq!(ids(&s, Some("a")), vec![a2]);
    // Through a snapshot and restore the index is built again.
    let mut restored = store(Config::default());
    restored
        .restore(&s.snapshot(T0 + 4).unwrap(), T0 + 4)
        .unwrap();
    assert_eq!(ids(&restored, Some("a")), ids(&s, Some("a")));
    assert_eq!(ids(&restored, None), ids(&s, None));
}

/// Two instances over one shared store: each adopts the records it is about,
/// works on them, and releases them; a record changed elsewhere replaces the
/// stale copy; one past its deadline is adopted and ends, expired, on first use.
#[test]
fn working_copies_are_adopted_in_place_of_stale_ones_and_released() {
    let config = Config {
        handle_idle_timeout_ms: 1_000,
        ..Config::default()
    };
    let mut a = store(config.clone());
    let mut b = store(config);
    let h = a
        .create_handle(Some("ann"), Some(json!({"n": 1})), T0)
        .unwrap()
        .handle_id;
    let shared = a.export(std::slice::from_ref(&h), T0).unwrap();
    let ids = vec![h.clone()];
    b.adopt(&ids, &shared, T0).unwrap();
    assert!(b.drain_events().is_empty(), "adopting announces nothing");
    b.update_handle(&h, Some("ann"), json!({"n": 2}), Some(0), T0 + 1)
        .unwrap();
    let newer = b.export(&ids, T0 + 1).unwrap();
    // A's copy is stale: adopting the newer record replaces it.
    a.adopt(&ids, &newer, T0 + 2).unwrap();
    let seen = a.get_handle(&h, Some("ann"), T0 + 2).unwrap();
    assert_eq!((seen.version, seen.state.clone()), (1, json!({"n": 2})));
    // Released, it is unknown here (the shared store still has it).
    a.release(&ids).unwrap();
    assert_eq!(
        code(a.get_handle(&h, Some("ann"), T0 + 3)),
        "HANDLE_NOT_FOUND"
    );
    assert_eq!(a.stats(T0 + 3).unwrap().handles_live, 0);
    // Fetched absent (gone fleet-wide): the local copy goes.
    b.adopt(&ids, &a.export(&[], T0 + 3).unwrap(), T0 + 3)
        .unwrap();
    assert_eq!(b.stats(T0 + 3).unwrap().handles_live, 0);
    // Past its deadline in the shared store: adopted, then ended on use, as expired.
    let mut c = store(Config {
        handle_idle_timeout_ms: 1_000,
        max_handles: 1,
        ..Config::default()
    });
    c.adopt(&ids, &newer, T0 + 5_000).unwrap();
    assert_eq!(
        code(c.get_handle(&h, Some("ann"), T0 + 5_000)),
        "HANDLE_EXPIRED"
    );
    // Adopting ignores the local caps (the shared store keeps the fleet's).
    let other = a.create_handle(None, None, T0 + 5_000).unwrap().handle_id;
    let both = vec![h.clone(), other.clone()];
    let mut d = store(Config {
        max_handles: 1,
        ..Config::default()
    });
    d.adopt(&both, &newer, T0 + 1).unwrap();
    d.adopt(
        std::slice::from_ref(&other),
        &a.export(std::slice::from_ref(&other), T0 + 5_000).unwrap(),
        T0 + 1,
    )
    .unwrap();
    assert_eq!(d.stats(T0 + 1).unwrap().handles_live, 2);
    assert_eq!(code(d.adopt(&ids, "not json", T0)), "INVALID_SNAPSHOT");
}
