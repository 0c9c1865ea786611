//! Snapshot and restore: validation before application, skips and refusals, and
//! byte-identical round trips.

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
    Config, EndReason, Event, InsecureSeededIds, Phase, RequestKind, RestoreReport, SessionError,
    SessionStore, SingleUse, Staging,
};
use serde_json::{json, Value};

fn populated() -> (SessionStore, Vec<String>) {
    let mut s = store(Config {
        idle_timeout_ms: 10_000,
        ..Config::default()
    });
    let a = s.create(for_user("alice"), T0).unwrap().id;
    s.update_state(&a, &json!({"notes": ["x"], "n": 1}), None, T0 + 1)
        .unwrap();
    let b = s.create(handshake("2025-06-18"), T0 + 2).unwrap().id;
    s.initialized(&b, T0 + 3).unwrap();
    let c = s.create(plain(), T0 + 4).unwrap().id;
    s.disconnect(&c, T0 + 5).unwrap();
    let d = s.create(plain(), T0 + 6).unwrap().id;
    s.close(&d, T0 + 7).unwrap();
    (s, vec![a, b, c, d])
}

fn invalid_at(err: SessionError) -> (Option<String>, String) {
    match err {
        SessionError::InvalidSnapshot { record, field, .. } => (record, field),
        other => panic!("expected INVALID_SNAPSHOT, got {other:?}"),
    }
}

#[test]
fn snapshot_restore_snapshot_is_byte_identical_and_rebuilds_everything() {
    let (s, ids) = populated();
    let bytes = s.snapshot(T0 + 10).unwrap();
    let mut restored = SessionStore::new(Config {
        idle_timeout_ms: 10_000,
        ..Config::default()
    })
    .unwrap();
    let report = restored.restore(&bytes, T0 + 10).unwrap();
    assert_eq!(
        report,
        RestoreReport {
            restored: 3,
            ended_restored: 1,
            ..RestoreReport::default()
        }
    );
    assert_eq!(restored.snapshot(T0 + 10).unwrap(), bytes);
    let b = restored.peek(&ids[1], T0 + 10).unwrap();
    assert_eq!(
        (b.phase, b.protocol_version.as_str()),
        (Phase::Active, "2025-06-18")
    );
    assert_eq!(
        b.client_info,
        Some(json!({"name": "test-client", "version": "1.0"}))
    );
    assert_eq!(
        restored.peek(&ids[2], T0 + 10).unwrap().phase,
        Phase::Disconnected
    );
    let a = restored.peek(&ids[0], T0 + 10).unwrap();
    assert_eq!((a.version, a.principal.as_deref()), (1, Some("alice")));
    assert_eq!(
        restored.peek(&ids[3], T0 + 10).unwrap_err(),
        SessionError::SessionClosed {
            session_id: ids[3].clone()
        },
        "an ended ID still answers with its reason after a restart"
    );
    let events = restored.drain_events();
    assert_eq!(events.len(), 3);
    assert!(events
        .iter()
        .all(|e| matches!(e, Event::Restored { at, .. } if *at == T0 + 10)));
    // The restored session serves requests at once, with its principal.
    restored
        .begin_request(
            &head(Some(&ids[0]), Some("alice"), RequestKind::Other),
            T0 + 11,
        )
        .unwrap();
}

#[test]
fn same_seed_and_calls_give_the_same_bytes() {
    let (a, _) = populated();
    let (b, _) = populated();
    assert_eq!(a.snapshot(T0 + 10).unwrap(), b.snapshot(T0 + 10).unwrap());
    let other_seed = {
        let mut s =
            SessionStore::with_id_source(Config::default(), Box::new(InsecureSeededIds::new(1)))
                .unwrap();
        s.create(plain(), T0).unwrap();
        s.snapshot(T0).unwrap()
    };
    let same_calls = {
        let mut s = store(Config::default());
        s.create(plain(), T0).unwrap();
        s.snapshot(T0).unwrap()
    };
    assert_ne!(other_seed, same_calls);
}

#[test]
fn restore_skips_the_expired_refuses_the_existing_and_respects_capacity() {
    let (s, ids) = populated();
    let bytes = s.snapshot(T0 + 10).unwrap();
    // Later than a's and b's idle deadline, not c's (it was disconnected later).
    let mut late = store(Config {
        idle_timeout_ms: 10_000,
        ..Config::default()
    });
    let report = late.restore(&bytes, T0 + 10_004).unwrap();
    assert_eq!((report.restored, report.skipped_expired), (1, 2));
    assert!(late.peek(&ids[2], T0 + 10_004).is_ok());

    let mut twice = store(Config::default());
    twice.restore(&bytes, T0 + 10).unwrap();
    let again = twice.restore(&bytes, T0 + 10).unwrap();
    assert_eq!(
        (again.restored, again.refused_existing, again.ended_restored),
        (0, 3, 0)
    );

    let mut small = store(Config {
        max_sessions: 2,
        ..Config::default()
    });
    let report = small.restore(&bytes, T0 + 10).unwrap();
    assert_eq!((report.restored, report.refused_capacity), (2, 1));
    assert_eq!(
        small.peek(&ids[0], T0 + 10).unwrap_err().code(),
        "SESSION_NOT_FOUND",
        "the least recently active session is the one left out"
    );
}

#[test]
fn requests_in_flight_do_not_survive_a_restart() {
    let mut s = store(Config {
        idle_timeout_ms: 1_000,
        ..Config::default()
    });
    let id = s.create(plain(), T0).unwrap().id;
    s.begin_request(&head(Some(&id), None, RequestKind::Other), T0)
        .unwrap();
    let bytes = s.snapshot(T0 + 60_000).unwrap();
    let mut restored = store(Config {
        idle_timeout_ms: 1_000,
        ..Config::default()
    });
    assert_eq!(restored.restore(&bytes, T0 + 60_000).unwrap().restored, 1);
    let v = restored.peek(&id, T0 + 60_000).unwrap();
    assert_eq!((v.in_flight, v.expires_at), (0, Some(T0 + 61_000)));
    assert_eq!(
        restored.sweep(T0 + 61_000).unwrap()[0].reason,
        EndReason::Idle
    );
}

#[test]
fn an_invalid_snapshot_changes_nothing_and_names_record_and_field() {
    let (s, _) = populated();
    let good: Value = serde_json::from_str(&s.snapshot(T0 + 10).unwrap()).unwrap();
    let mut target = store(Config::default());
    let existing = target.create(plain(), T0).unwrap().id;
    target.drain_events();
    let before = target.snapshot(T0).unwrap();

    let edit = |f: &dyn Fn(&mut Value)| {
        let mut doc = good.clone();
        f(&mut doc);
        doc.to_string()
    };
    let cases: Vec<(String, Option<&str>, &str)> = vec![
        (edit(&|d| d["format"] = json!("other")), None, "format"),
        (edit(&|d| d["version"] = json!(2)), None, "version"),
        (
            edit(&|d| d["sessions"][1]["createdAt"] = json!("soon")),
            Some("sessions[1]"),
            "createdAt",
        ),
        (
            edit(&|d| d["sessions"][0]["surprise"] = json!(1)),
            Some("sessions[0]"),
            "surprise",
        ),
        (
            edit(&|d| d["sessions"][2]["id"] = json!("bad id")),
            Some("sessions[2]"),
            "id",
        ),
        (
            edit(&|d| d["sessions"][1]["id"] = d["sessions"][0]["id"].clone()),
            Some("sessions[1]"),
            "id",
        ),
        (
            edit(&|d| d["sessions"][0]["state"] = json!([1])),
            Some("sessions[0]"),
            "state",
        ),
        (
            edit(&|d| d["sessions"][0]["principal"] = json!("")),
            Some("sessions[0]"),
            "principal",
        ),
        (
            edit(&|d| d["sessions"][0]["lastActivity"] = json!(1)),
            Some("sessions[0]"),
            "lastActivity",
        ),
        (
            edit(&|d| d["sessions"][0]["idleTimeoutMs"] = json!(0)),
            Some("sessions[0]"),
            "idleTimeoutMs",
        ),
        (
            edit(&|d| d["sessions"][0]["protocolVersion"] = json!("")),
            Some("sessions[0]"),
            "protocolVersion",
        ),
        (
            edit(&|d| d["sessions"][1]["clientInfo"] = json!(3)),
            Some("sessions[1]"),
            "clientInfo",
        ),
        (
            edit(&|d| d["sessions"][0]["createdAt"] = json!(1u64 << 60)),
            Some("sessions[0]"),
            "createdAt",
        ),
        (
            edit(&|d| d["ended"][0]["session"]["id"] = json!("")),
            Some("ended[0]"),
            "session.id",
        ),
        (
            edit(&|d| d["ended"][0]["reason"] = json!("bored")),
            Some("ended[0]"),
            "reason",
        ),
        (
            edit(&|d| d["ended"][0]["renewedTo"] = json!("a b")),
            Some("ended[0]"),
            "renewedTo",
        ),
        (edit(&|d| d["takenAt"] = json!(-1)), None, "takenAt"),
    ];
    for (text, record, field) in cases {
        let err = target.restore(&text, T0 + 10).unwrap_err();
        assert_eq!(err.code(), "INVALID_SNAPSHOT");
        assert_eq!(
            invalid_at(err),
            (record.map(str::to_owned), field.to_owned()),
            "{text}"
        );
        assert_eq!(target.snapshot(T0).unwrap(), before);
        assert!(target.drain_events().is_empty());
        assert_eq!(target.clock(), T0);
    }
    let text = good.to_string();
    for broken in [
        &text[..text.len() / 2],
        "",
        "null",
        "[]",
        &format!("{text} x"),
    ] {
        assert_eq!(
            target.restore(broken, T0 + 10).unwrap_err().code(),
            "INVALID_SNAPSHOT"
        );
        assert_eq!(target.snapshot(T0).unwrap(), before);
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        target.restore(&deep, T0 + 10).unwrap_err().code(),
        "INVALID_SNAPSHOT"
    );
    assert!(target.peek(&existing, T0).is_ok());
}

#[test]
fn a_renewal_survives_a_restart() {
    let mut s = store(Config {
        idle_timeout_ms: 1_000,
        ..Config::default()
    });
    let id = s.create(plain(), T0).unwrap().id;
    s.update_state(&id, &json!({"k": 1}), None, T0).unwrap();
    s.sweep(T0 + 1_000).unwrap();
    let bytes = s.snapshot(T0 + 1_000).unwrap();
    let mut restored = store(Config {
        idle_timeout_ms: 1_000,
        ..Config::default()
    });
    restored.restore(&bytes, T0 + 1_000).unwrap();
    let renewed = restored.renew(&id, None, T0 + 1_001).unwrap();
    assert_eq!(renewed.state, json!({"k": 1}));
}

#[test]
fn export_holds_just_the_named_sessions_in_snapshot_form() {
    let (s, ids) = populated();
    let text = s
        .export(&[ids[0].clone(), ids[3].clone(), "unknown".into()], T0 + 10)
        .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(doc["sessions"][0]["id"], json!(ids[0]));
    assert_eq!(doc["ended"][0]["session"]["id"], json!(ids[3]));
    let mut restored = store(Config::default());
    let report = restored.restore(&text, T0 + 10).unwrap();
    assert_eq!((report.restored, report.ended_restored), (1, 1));
    assert_eq!(
        s.export(&["bad id".into()], T0).unwrap_err().code(),
        "INVALID_SESSION_ID"
    );
}

#[test]
fn a_snapshot_from_a_clock_ahead_is_brought_back_to_this_store_time() {
    // Found by the `operations` fuzz target: restored at an earlier time, sessions
    // kept their later times, the next activity was recorded before creation, and
    // the store then wrote a snapshot it would itself refuse.
    let (s, ids) = populated();
    let text = s.snapshot(T0 + 8).unwrap();
    let mut behind = store(Config {
        idle_timeout_ms: 10_000,
        ..Config::default()
    });
    let report = behind.restore(&text, T0).unwrap();
    assert_eq!((report.restored, report.ended_restored), (3, 1));
    for id in &ids[..3] {
        let view = behind.peek(id, T0).unwrap();
        assert_eq!((view.created_at, view.last_activity), (T0, T0));
    }
    behind.initialized(&ids[1], T0).unwrap_or(());
    behind
        .update_state(&ids[0], &json!({"n": 2}), None, T0)
        .unwrap();
    let again = behind.snapshot(T0).unwrap();
    let mut copy = store(behind.config().clone());
    copy.restore(&again, T0).unwrap();
    assert_eq!(copy.snapshot(T0).unwrap(), again);
}

/// The lines of `s`'s snapshot as `snapshot_records` writes them, in pieces of
/// about `max_bytes`.
fn record_lines(s: &SessionStore, now: u64, max_bytes: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut from = Some(0);
    while let Some(start) = from {
        let (piece, next) = s.snapshot_records(now, start, max_bytes).unwrap();
        lines.extend(piece.lines().map(str::to_owned));
        from = next;
    }
    lines
}

#[test]
fn a_snapshot_written_as_records_restores_the_same_store_with_journal_records_over_it() {
    let (mut s, ids) = populated();
    for max_bytes in [1, 200, 1 << 20] {
        let lines = record_lines(&s, T0 + 8, max_bytes);
        assert!(lines[0].contains("\"version\":2"), "a header first");
        let mut staging = Staging::default();
        for line in &lines {
            staging.add(line, false).unwrap();
        }
        let mut copy = store(s.config().clone());
        copy.restore_staged(staging, T0 + 8).unwrap();
        assert_eq!(
            copy.snapshot(T0 + 8).unwrap(),
            s.snapshot(T0 + 8).unwrap(),
            "pieces of {max_bytes}"
        );
    }
    // Journal records (exports) replayed over the snapshot: the newest image wins.
    let base = record_lines(&s, T0 + 8, 64);
    let mut changes = Vec::new();
    s.update_state(&ids[0], &json!({"n": 2}), None, T0 + 10)
        .unwrap();
    changes.push(s.export(&[ids[0].clone()], T0 + 10).unwrap());
    s.close(&ids[2], T0 + 10).unwrap();
    changes.push(s.export(&[ids[2].clone()], T0 + 10).unwrap());
    let e = s.create(plain(), T0 + 10).unwrap().id;
    changes.push(s.export(std::slice::from_ref(&e), T0 + 10).unwrap());
    s.update_state(&ids[0], &json!({"n": 3}), None, T0 + 10)
        .unwrap();
    changes.push(s.export(&[ids[0].clone()], T0 + 10).unwrap());
    let mut staging = Staging::default();
    for line in &base {
        staging.add(line, false).unwrap();
    }
    for change in &changes {
        staging.add(change, true).unwrap();
    }
    let mut rebuilt = store(s.config().clone());
    rebuilt.restore_staged(staging, T0 + 10).unwrap();
    assert_eq!(
        rebuilt.snapshot(T0 + 10).unwrap(),
        s.snapshot(T0 + 10).unwrap()
    );
}

#[test]
fn staged_lines_are_checked_and_a_bad_one_is_named() {
    let (s, _) = populated();
    let lines = record_lines(&s, T0 + 8, 1 << 20);
    let mut twice = Staging::default();
    twice.add(&lines[1], false).unwrap();
    let err = twice.add(&lines[1], false).unwrap_err();
    assert_eq!(
        invalid_at(err).0.as_deref(),
        Some("line 2"),
        "an ID twice in one snapshot"
    );
    for bad in [
        "{",
        r#"{"format":"other","version":2,"takenAt":1}"#,
        r#"{"format":"mcp-session-core/snapshot","version":3,"takenAt":1}"#,
        r#"{"unknown":1}"#,
        "{}",
    ] {
        let mut staging = Staging::default();
        assert_eq!(
            staging.add(bad, false).unwrap_err().code(),
            "INVALID_SNAPSHOT",
            "{bad}"
        );
    }
    // A record that parses but is invalid is refused as it is added, by line and
    // field.
    let mut staging = Staging::default();
    staging.add(&lines[0], false).unwrap();
    staging
        .add(&lines[1].replace("\"version\":", "\"version\":-"), false)
        .unwrap_err();
    let mut bad_state = Staging::default();
    let err = bad_state
        .add(
            &lines[1].replace("\"state\":{", "\"state\":[{").replacen(
                "},\"version",
                "}],\"version",
                1,
            ),
            false,
        )
        .unwrap_err();
    assert_eq!(
        invalid_at(err),
        (Some("line 1".to_owned()), "state".to_owned())
    );
    // A state over the limit of the store it is restored into is refused there,
    // whole: nothing is applied.
    let mut staging = Staging::default();
    for line in &lines {
        staging.add(line, false).unwrap();
    }
    let mut target = store(Config {
        max_state_bytes: 10,
        ..s.config().clone()
    });
    let err = target.restore_staged(staging, T0).unwrap_err();
    assert_eq!(err.code(), "INVALID_SNAPSHOT");
    assert_eq!(invalid_at(err).1, "state");
    assert_eq!(target.stats(T0).unwrap().live, 0, "nothing was applied");
}

#[test]
fn numbers_in_state_survive_snapshot_and_restore_exactly() {
    // Found by the `merge_patch` fuzz target: without serde_json's exact float
    // parsing, 3.3333333333333327e49 came back one ULP off after a restore.
    let mut s = store(Config::default());
    let id = s.create(plain(), T0).unwrap().id;
    let patch: Value = serde_json::from_str(
        r#"{"x": 33333333333333333333333333333333333333333333333333, "y": 0.1}"#,
    )
    .unwrap();
    s.update_state(&id, &patch, None, T0).unwrap();
    let text = s.snapshot(T0).unwrap();
    let mut copy = store(Config::default());
    copy.restore(&text, T0).unwrap();
    assert_eq!(state_of(&copy, &id, T0), state_of(&s, &id, T0));
    assert_eq!(copy.snapshot(T0).unwrap(), text);
}

/// The pieces of `s`'s version 3 snapshot, `max_bytes` or so each.
fn pieces(s: &SessionStore, now: u64, max_bytes: usize) -> Vec<Vec<u8>> {
    let mut pieces = Vec::new();
    let mut from = Some(0);
    while let Some(start) = from {
        let (piece, next) = s.snapshot_pieces(now, start, max_bytes).unwrap();
        pieces.push(piece);
        from = next;
    }
    pieces
}

/// A new store (`s`'s configuration) restored from `pieces`.
fn from_pieces(s: &SessionStore, pieces: &[Vec<u8>], now: u64) -> SessionStore {
    let mut staging = Staging::default();
    for piece in pieces {
        staging.add_piece(piece, false).unwrap();
    }
    let mut copy = store(s.config().clone());
    copy.restore_staged(staging, now).unwrap();
    copy
}

/// `populated`, with what else a snapshot carries: a busy session, a renewed one,
/// a live state handle, a destroyed one, and a redeemed token.
fn everything() -> (SessionStore, Vec<String>) {
    let (mut s, mut ids) = populated();
    let busy = s.create(for_user("bob"), T0 + 6).unwrap().id;
    s.begin_request(&head(Some(&busy), Some("bob"), RequestKind::Other), T0 + 6)
        .unwrap();
    let renewed = s.renew(&ids[3], None, T0 + 7).unwrap().id;
    let handle = s
        .create_handle(Some("alice"), Some(json!({"h": [1, 2.5]})), T0 + 7)
        .unwrap()
        .handle_id;
    let gone = s.create_handle(None, None, T0 + 7).unwrap().handle_id;
    s.destroy_handle(&gone, None, T0 + 7).unwrap();
    s.consume([9; 16], T0 + 60_000, T0 + 7).unwrap();
    ids.extend([busy, renewed, handle, gone]);
    (s, ids)
}

#[test]
fn version_3_pieces_restore_the_same_store() {
    let (s, ids) = everything();
    let whole = s.snapshot(T0 + 8).unwrap();
    assert!(
        whole.contains("renewedTo\":\""),
        "a renewed session is in it"
    );
    for max_bytes in [1, 100, 1 << 20] {
        let written = pieces(&s, T0 + 8, max_bytes);
        assert!(written.len() > 1 || max_bytes == 1 << 20);
        let mut copy = from_pieces(&s, &written, T0 + 8);
        assert_eq!(
            copy.snapshot(T0 + 8).unwrap(),
            whole,
            "pieces of {max_bytes}"
        );
        // And again from the copy (its slots in the order it restored them).
        let again = from_pieces(&copy, &pieces(&copy, T0 + 8, max_bytes), T0 + 8);
        assert_eq!(again.snapshot(T0 + 8).unwrap(), whole);
        assert!(copy.redeemed(&[9; 16]), "the redeemed token is remembered");
        assert_eq!(
            copy.get_handle(&ids[6], Some("alice"), T0 + 8)
                .unwrap()
                .state,
            json!({"h": [1, 2.5]})
        );
        assert_eq!(
            copy.peek(&ids[3], T0 + 8).unwrap_err().code(),
            "SESSION_CLOSED"
        );
    }
    // Smaller than version 2's lines.
    let v3: usize = pieces(&s, T0 + 8, 1 << 20).iter().map(Vec::len).sum();
    assert!(v3 * 2 < record_lines(&s, T0 + 8, 1 << 20).concat().len());
}

#[test]
fn version_3_pieces_under_journal_lines() {
    let (mut s, ids) = populated();
    let base = pieces(&s, T0 + 8, 64);
    s.update_state(&ids[0], &json!({"n": 2}), None, T0 + 10)
        .unwrap();
    let change = s.export(&[ids[0].clone()], T0 + 10).unwrap();
    let mut staging = Staging::default();
    for piece in &base {
        staging.add_piece(piece, false).unwrap();
    }
    staging.add(&change, true).unwrap();
    let mut rebuilt = store(s.config().clone());
    rebuilt.restore_staged(staging, T0 + 10).unwrap();
    assert_eq!(
        rebuilt.snapshot(T0 + 10).unwrap(),
        s.snapshot(T0 + 10).unwrap()
    );
}

#[test]
fn version_3_pieces_taken_across_changes_keep_the_later_image_with_newest_wins() {
    // A snapshot taken a piece at a time while sessions change meets a session
    // twice if it moved: the later piece holds the later image.
    let (mut s, ids) = populated();
    let early = pieces(&s, T0 + 8, 1);
    // A live session whose record is not in the first piece (with the header)
    // changes.
    let bytes = |id: &str| -> Vec<u8> {
        (0..16)
            .map(|i| u8::from_str_radix(&id[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    };
    let changed = ids
        .iter()
        .filter(|id| !early[0].windows(16).any(|w| w == bytes(id.as_str())))
        .find(|id| s.update_state(id, &json!({"n": 3}), None, T0 + 9).is_ok());
    assert!(changed.is_some());
    let later = pieces(&s, T0 + 9, 1);
    let mut staging = Staging::default();
    for piece in early.iter().chain(later.iter().skip(1)) {
        staging.add_piece(piece, true).unwrap();
    }
    let mut rebuilt = store(s.config().clone());
    rebuilt.restore_staged(staging, T0 + 9).unwrap();
    assert_eq!(
        rebuilt.snapshot(T0 + 9).unwrap(),
        s.snapshot(T0 + 9).unwrap()
    );
    // Without it, the second image is refused.
    let mut strict = Staging::default();
    let err = early
        .iter()
        .chain(later.iter().skip(1))
        .try_for_each(|p| strict.add_piece(p, false))
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_SNAPSHOT", "{err:?}");
}

/// `bytes` with the first `from` replaced by `to`.
fn replaced(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{from:?} is in the piece"));
    [&bytes[..at], to, &bytes[at + from.len()..]].concat()
}

/// The error a restore of `pieces` into `target` gives, with `target` unchanged.
fn refused(target: &mut SessionStore, pieces: &[Vec<u8>]) -> (Option<String>, String) {
    let before = target.snapshot(T0).unwrap();
    let mut staging = Staging::default();
    let err = pieces
        .iter()
        .try_for_each(|p| staging.add_piece(p, false))
        .and_then(|()| target.restore_staged(staging, T0 + 10).map(|_| ()))
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_SNAPSHOT", "{err:?}");
    assert_eq!(target.snapshot(T0).unwrap(), before, "nothing was applied");
    invalid_at(err)
}

#[test]
fn a_hostile_version_3_piece_is_refused_by_record_and_field() {
    let (s, _) = populated();
    let whole = pieces(&s, T0 + 8, 1 << 20).concat();
    let mut target = store(Config::default());
    target.create(plain(), T0).unwrap();
    let one = |bytes: Vec<u8>| vec![bytes];
    let at = |record: &str| Some(format!("piece 1 record {record}"));
    let cases: Vec<(Vec<u8>, Option<String>, &str)> = vec![
        (
            replaced(&whole, b"snapshot", b"snapshoT"),
            at("1"),
            "format",
        ),
        (
            replaced(&whole, b"snapshot\x03", b"snapshot\x04"),
            at("1"),
            "version",
        ),
        (
            replaced(&whole, b"2025-06-18", b"2025 06-18"),
            at("5"),
            "protocolVersion",
        ),
        (
            replaced(&whole, b"alice", b"al\xffce"),
            at("2"),
            "principal",
        ),
        (
            replaced(
                &whole,
                br#"{"n":1,"notes":["x"]}"#,
                br#"["n",1,"notes","x",1]"#,
            ),
            at("2"),
            "state",
        ),
        (
            replaced(
                &whole,
                br#"{"n":1,"notes":["x"]}"#,
                br#"{"n":1,"notes":["x"]"#,
            ),
            at("2"),
            "state",
        ),
        (
            replaced(
                &whole,
                br#"{"name":"test-client""#,
                br#"["name","test-client""#,
            ),
            at("5"),
            "clientInfo",
        ),
    ];
    for (piece, record, field) in cases {
        assert_eq!(
            refused(&mut target, &one(piece)),
            (record, field.to_owned())
        );
    }
    // The header first, once.
    let records = pieces(&s, T0 + 8, 1);
    let (record, field) = refused(&mut target, &records[1..]);
    assert_eq!(
        (record.as_deref(), field.as_str()),
        (Some("piece 1 record 1"), "")
    );
    let twice = [records.clone(), records.clone()].concat();
    assert_eq!(
        refused(&mut target, &twice).0,
        Some(format!("piece {} record 1", records.len() + 1))
    );
    // A session twice.
    let again = [records.clone(), vec![records[1].clone()]].concat();
    assert_eq!(refused(&mut target, &again).1, "id");
    // A metadata number its piece does not hold: the value's record left out.
    let with_metadata = records.iter().find(|p| p.starts_with(&[1])).unwrap();
    let text_len = usize::from(with_metadata[1]);
    let orphan = with_metadata[2 + text_len..].to_vec();
    let (_, field) = refused(&mut target, &[records[0].clone(), orphan]);
    assert!(field == "clientInfo" || field == "capabilities", "{field}");
    // Truncated anywhere: refused, or (cut between records) fewer records.
    for cut in 0..whole.len() {
        let mut staging = Staging::default();
        if let Err(e) = staging.add_piece(&whole[..cut], false) {
            assert_eq!(e.code(), "INVALID_SNAPSHOT");
        }
    }
    let (_, reason) = match Staging::default().add_piece(&whole[..whole.len() - 3], false) {
        Err(SessionError::InvalidSnapshot { field, reason, .. }) => (field, reason),
        other => panic!("expected INVALID_SNAPSHOT, got {other:?}"),
    };
    assert_eq!(reason, "the piece ends inside it");
    // Not version 3 at all: a JSON line, an empty header.
    for junk in [&b"{\"format\":1}"[..], &[0][..], &[9, 9, 9][..]] {
        assert_eq!(
            Staging::default()
                .add_piece(junk, false)
                .unwrap_err()
                .code(),
            "INVALID_SNAPSHOT"
        );
    }
}

#[test]
fn a_version_3_state_over_the_store_s_limit_is_refused_when_applied() {
    let (s, _) = populated();
    let mut target = store(Config {
        max_state_bytes: 10,
        ..Config::default()
    });
    let (record, field) = refused(&mut target, &pieces(&s, T0 + 8, 1 << 20));
    assert_eq!(
        (record.as_deref(), field.as_str()),
        (Some("piece 1 record 2"), "state")
    );
}
