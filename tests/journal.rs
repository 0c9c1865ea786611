//! The journal: every durable change can be exported, then committed or undone.
//! Undoing gives back exactly the store before the change (its snapshot, its
//! counts, its next deadline, its byte count) and takes back the change's events;
//! the store then behaves as if the change never happened.

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
    CapacityPolicy, Config, EventKind, InsecureSeededIds, RequestKind, SessionStore, SingleUse,
};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
enum Op {
    Create(Option<u8>),
    Initialize,
    Initialized(usize),
    Begin(usize),
    End(usize),
    Get(usize),
    Update(usize, u8),
    Replace(usize, u8),
    Disconnect(usize),
    Resume(usize),
    Close(usize),
    Expire(usize),
    Renew(usize),
    ClearAll,
    Sweep,
    Restore,
    Wait(u32),
    HandleCreate(u8),
    HandleGet(usize, u8),
    HandleUpdate(usize, u8, u8),
    HandleReplace(usize, u8, u8),
    HandleDestroy(usize, u8),
    /// Redeems `requestState` token `n` (its ID `[n; 16]`, expiring at
    /// `T0 + (n + 1) * 1,000,000` ms): journaled, snapshotted, taken back on undo.
    Redeem(u8),
}

/// A handle's principal: none, or one of two users.
fn owner(p: u8) -> Option<&'static str> {
    [None, Some("ann"), Some("bob")][usize::from(p % 3)]
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0usize..12;
    prop_oneof![
        4 => proptest::option::of(0u8..3).prop_map(Op::Create),
        1 => Just(Op::Initialize),
        1 => i.clone().prop_map(Op::Initialized),
        2 => i.clone().prop_map(Op::Begin),
        2 => i.clone().prop_map(Op::End),
        2 => i.clone().prop_map(Op::Get),
        3 => (i.clone(), any::<u8>()).prop_map(|(i, n)| Op::Update(i, n)),
        1 => (i.clone(), any::<u8>()).prop_map(|(i, n)| Op::Replace(i, n)),
        1 => i.clone().prop_map(Op::Disconnect),
        1 => i.clone().prop_map(Op::Resume),
        1 => i.clone().prop_map(Op::Close),
        1 => i.clone().prop_map(Op::Expire),
        1 => i.clone().prop_map(Op::Renew),
        1 => Just(Op::ClearAll),
        1 => Just(Op::Sweep),
        1 => Just(Op::Restore),
        2 => (1u32..400_000).prop_map(Op::Wait),
        3 => (0u8..3).prop_map(Op::HandleCreate),
        2 => (i.clone(), 0u8..3).prop_map(|(i, p)| Op::HandleGet(i, p)),
        2 => (i.clone(), 0u8..3, any::<u8>()).prop_map(|(i, p, n)| Op::HandleUpdate(i, p, n)),
        1 => (i.clone(), 0u8..3, any::<u8>()).prop_map(|(i, p, n)| Op::HandleReplace(i, p, n)),
        1 => (i.clone(), 0u8..3).prop_map(|(i, p)| Op::HandleDestroy(i, p)),
        3 => (0u8..12).prop_map(Op::Redeem),
    ]
}

/// Runs `op` at `now` (advancing it for `Wait`); new IDs join `ids`.
fn run(s: &mut SessionStore, ids: &mut Vec<String>, op: &Op, now: &mut u64) {
    let pick = |i: &usize| ids.get(i % ids.len().max(1)).cloned().unwrap_or_default();
    let users = ["ann", "bob", "cy"];
    let _ = match op {
        Op::Create(user) => {
            let params = match user {
                Some(u) => for_user(users[usize::from(*u)]),
                None => plain(),
            };
            s.create_id(params, *now).map(|id| ids.push(id))
        }
        Op::Initialize => s
            .create_id(handshake("2025-06-18"), *now)
            .map(|id| ids.push(id)),
        Op::Initialized(i) => s.initialized(&pick(i), *now),
        Op::Begin(i) => s
            .begin_request(&head(Some(&pick(i)), None, RequestKind::Other), *now)
            .map(|_| ()),
        Op::End(i) => s.end_request(&pick(i), *now),
        Op::Get(i) => s.get(&pick(i), *now).map(|_| ()),
        Op::Update(i, n) => s
            .update_state(&pick(i), &json!({ "n": n, "k": { "m": n } }), None, *now)
            .map(|_| ()),
        Op::Replace(i, n) => s
            .replace_state(&pick(i), json!({ "r": n }), None, *now)
            .map(|_| ()),
        Op::Disconnect(i) => s.disconnect(&pick(i), *now),
        Op::Resume(i) => s.resume(&pick(i), None, *now).map(|_| ()),
        Op::Close(i) => s.close(&pick(i), *now),
        Op::Expire(i) => s.expire(&pick(i), *now),
        Op::Renew(i) => s.renew(&pick(i), None, *now).map(|v| ids.push(v.id)),
        Op::ClearAll => s.clear_all(*now).map(|_| ()),
        Op::Sweep => s.sweep(*now).map(|_| ()),
        Op::Restore => s.restore(&elsewhere(*now), *now).map(|_| ()),
        Op::Wait(ms) => {
            *now += u64::from(*ms);
            Ok(())
        }
        Op::HandleCreate(p) => s
            .create_handle(owner(*p), Some(json!({ "h": p })), *now)
            .map(|v| ids.push(v.handle_id)),
        Op::HandleGet(i, p) => s.get_handle(&pick(i), owner(*p), *now).map(|_| ()),
        Op::HandleUpdate(i, p, n) => s
            .update_handle(&pick(i), owner(*p), json!({ "n": n }), None, *now)
            .map(|_| ()),
        Op::HandleReplace(i, p, n) => s
            .replace_handle_state(&pick(i), owner(*p), json!({ "r": n }), None, *now)
            .map(|_| ()),
        Op::HandleDestroy(i, p) => s.destroy_handle(&pick(i), owner(*p), *now),
        Op::Redeem(n) => s
            .consume([*n; 16], T0 + (u64::from(*n) + 1) * 1_000_000, *now)
            .map_err(|_| mcp_session_core::SessionError::InvalidState {
                reason: String::new(),
            }),
    };
}

/// A snapshot from another store: a live session and an ended one.
fn elsewhere(now: u64) -> String {
    let mut other =
        SessionStore::with_id_source(config(), Box::new(InsecureSeededIds::new(7))).unwrap();
    let a = other.create_id(for_user("ann"), now).unwrap();
    other
        .update_state(&a, &json!({"from": "elsewhere"}), None, now)
        .unwrap();
    let b = other.create_id(plain(), now).unwrap();
    other.close(&b, now).unwrap();
    other
        .create_handle(Some("ann"), Some(json!({"handle": "elsewhere"})), now)
        .unwrap();
    let gone = other.create_handle(None, None, now).unwrap().handle_id;
    other.destroy_handle(&gone, None, now).unwrap();
    other.snapshot(now).unwrap()
}

fn config() -> Config {
    Config {
        max_sessions: 6,
        max_sessions_per_principal: Some(2),
        capacity_policy: CapacityPolicy::EvictIdlest,
        idle_timeout_ms: 600_000,
        init_timeout_ms: 200_000,
        absolute_lifetime_ms: Some(2_000_000),
        max_ended_remembered: 8,
        sweep_batch_size: 2,
        handle_idle_timeout_ms: 500_000,
        handle_lifetime_ms: 1_500_000,
        max_handles: 4,
        max_handles_per_principal: Some(2),
        max_redeemed_tokens: 3,
        ..Config::default()
    }
}

/// What undoing must give back.
fn observe(s: &mut SessionStore, now: u64) -> (String, String, Option<u64>) {
    let stats = s.stats(now).unwrap();
    assert_eq!(s.recount_bytes(), stats.total_bytes, "running byte count");
    let counts = format!(
        "{} {} {} {} {} {} {} {} {}",
        stats.live,
        stats.initializing,
        stats.active,
        stats.disconnected,
        stats.in_flight,
        stats.ended_remembered,
        stats.handles_live,
        stats.handles_ended_remembered,
        stats.redeemed_tokens
    );
    (s.snapshot(now).unwrap(), counts, s.next_deadline())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Each op is run; then, by the coin, its journal is committed, or (if it made a
    /// durable change) undone and checked against the store before it.
    #[test]
    fn undoing_a_batch_gives_back_the_store_before_it(
        ops in proptest::collection::vec((op(), any::<bool>()), 1..60)
    ) {
        let mut s = store(config());
        s.set_journaling(true);
        let mut ids = Vec::new();
        let mut now = T0;
        for (op, undo) in &ops {
            s.drain_events();
            let before = observe(&mut s, now);
            let mut after_now = now;
            let mut new_ids = ids.clone();
            run(&mut s, &mut new_ids, op, &mut after_now);
            let durable = s.journal_pending();
            if durable {
                let export = s.journal_export(after_now).unwrap();
                prop_assert!(export.contains("\"sessions\""));
            }
            // Only durable changes are journaled (and undone): activity is not.
            if *undo && durable {
                s.journal_revert();
                prop_assert!(s.drain_events().is_empty(), "undone changes are not announced");
                prop_assert!(!s.journal_pending());
                prop_assert_eq!(observe(&mut s, now), before, "after undoing {:?}", op);
            } else {
                s.journal_commit();
                ids = new_ids;
                now = after_now;
            }
        }
    }
}

#[test]
fn the_export_holds_exactly_the_changed_sessions_and_activity_is_batched_apart() {
    let mut s = store(Config::default());
    s.set_journaling(true);
    let a = s.create_id(plain(), T0).unwrap();
    let b = s.create_id(plain(), T0).unwrap();
    s.journal_commit();
    s.activity_commit();
    assert!(!s.journal_pending());

    s.get(&a, T0 + 1).unwrap();
    assert!(
        !s.journal_pending(),
        "a read is activity, not a durable change"
    );
    let activity = s.activity_export(T0 + 1).unwrap().unwrap();
    assert!(activity.contains(&a) && !activity.contains(&b));
    s.activity_commit();
    assert_eq!(s.activity_export(T0 + 1).unwrap(), None);

    s.update_state(&b, &json!({"x": 1}), None, T0 + 2).unwrap();
    let export = s.journal_export(T0 + 2).unwrap();
    assert!(export.contains(&b) && !export.contains(&a));
    assert!(export.contains(r#""x":1"#));

    s.close(&b, T0 + 3).unwrap();
    let export = s.journal_export(T0 + 3).unwrap();
    assert!(
        export.contains(r#""reason":"closed""#),
        "an ended session is journaled as ended: {export}"
    );
}

#[test]
fn an_undone_expiry_leaves_the_session_due_and_it_ends_on_the_next_call() {
    let mut s = store(Config {
        idle_timeout_ms: 1_000,
        ..Config::default()
    });
    s.set_journaling(true);
    s.set_event_filter(&[EventKind::Expired]);
    s.create_id(plain(), T0).unwrap();
    s.journal_commit();
    s.sweep(T0 + 5_000).unwrap();
    assert!(s.journal_pending());
    s.journal_revert();
    assert!(s.drain_events().is_empty());
    assert_eq!(s.next_deadline(), Some(T0 + 1_000), "still due");
    let ended = s.sweep(T0 + 5_000).unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(s.drain_events().len(), 1);
}

#[test]
fn handle_changes_are_journaled_and_an_undone_create_frees_its_place_under_the_caps() {
    let config = Config {
        max_handles_per_principal: Some(1),
        ..Config::default()
    };
    let mut s = store(config);
    s.set_journaling(true);
    let h = s.create_handle(Some("ann"), None, T0).unwrap().handle_id;
    let export = s.journal_export(T0).unwrap();
    assert!(export.contains(&h) && export.contains(r#""kind":"handle""#));
    s.journal_revert();
    assert!(s.list_handles(Some("ann"), T0).unwrap().is_empty());
    // The undone handle holds no place under the per-principal cap.
    let h = s.create_handle(Some("ann"), None, T0).unwrap().handle_id;
    s.journal_commit();
    s.update_handle(&h, Some("ann"), json!({"x": 1}), None, T0 + 1)
        .unwrap();
    assert!(s.journal_export(T0 + 1).unwrap().contains(r#""x":1"#));
    s.journal_commit();
    s.destroy_handle(&h, Some("ann"), T0 + 2).unwrap();
    assert!(s
        .journal_export(T0 + 2)
        .unwrap()
        .contains(r#""reason":"closed""#));
    s.journal_revert();
    // The undone destroy gives the live handle back, in its place under the cap.
    assert_eq!(
        s.get_handle(&h, Some("ann"), T0 + 3).unwrap().state,
        json!({"x": 1})
    );
    assert_eq!(
        s.create_handle(Some("ann"), None, T0 + 3)
            .unwrap_err()
            .code(),
        "HANDLE_LIMIT_EXCEEDED"
    );
}

#[test]
fn an_undone_batch_puts_back_the_ledger_entries_its_clock_forgot() {
    use mcp_session_core::SingleUse;
    let mut s = store(Config::default());
    s.set_journaling(true);
    s.consume([1; 16], T0 + 1_000, T0).unwrap();
    s.journal_commit();
    let before = observe(&mut s, T0 + 1_001);
    assert_eq!(
        before.2,
        Some(T0 + 1_000),
        "the entry is due, not yet forgotten"
    );
    // A create past the token's expiry: the clock forgets the entry, and the
    // create is undone: the entry is back, as before.
    s.create_id(plain(), T0 + 1_001).unwrap();
    assert!(s.journal_pending());
    s.journal_revert();
    assert_eq!(observe(&mut s, T0 + 1_001), before);
    // Committed, the forgetting stays.
    s.create_id(plain(), T0 + 1_002).unwrap();
    s.journal_commit();
    assert_eq!(s.stats(T0 + 1_002).unwrap().redeemed_tokens, 0);
}
