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

mod adopting {
    use super::*;
    use mcp_session_core::SessionStore;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Create(bool),
        Update(usize, u8),
        Close(usize),
        HandleCreate(bool),
        HandleDestroy(usize),
        Wait(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => any::<bool>().prop_map(Op::Create),
            3 => (any::<usize>(), any::<u8>()).prop_map(|(i, n)| Op::Update(i, n)),
            1 => any::<usize>().prop_map(Op::Close),
            2 => any::<bool>().prop_map(Op::HandleCreate),
            1 => any::<usize>().prop_map(Op::HandleDestroy),
            2 => (1u32..3_000).prop_map(Op::Wait),
        ]
    }

    fn config() -> Config {
        Config {
            idle_timeout_ms: 2_000,
            handle_idle_timeout_ms: 2_500,
            ended_retention_ms: 4_000,
            ..Config::default()
        }
    }

    fn run(s: &mut SessionStore, ids: &mut Vec<String>, op: &Op, now: &mut u64) {
        let pick = |i: &usize| ids.get(i % ids.len().max(1)).cloned().unwrap_or_default();
        let _ = match op {
            Op::Create(user) => s
                .create_id(if *user { for_user("ann") } else { plain() }, *now)
                .map(|id| ids.push(id)),
            Op::Update(i, n) => s
                .update_state(&pick(i), &json!({ "n": n }), None, *now)
                .map(|_| ()),
            Op::Close(i) => s.close(&pick(i), *now),
            Op::HandleCreate(user) => s
                .create_handle(user.then_some("ann"), Some(json!({"h": 1})), *now)
                .map(|h| ids.push(h.handle_id)),
            Op::HandleDestroy(i) => s.destroy_handle(&pick(i), None, *now),
            Op::Wait(ms) => {
                *now += u64::from(*ms);
                Ok(())
            }
        };
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Another instance that adopts every record answers every query as the
        /// instance that wrote them: sessions, handles (both principals), and each
        /// ID live, ended with its reason, or unknown; and then behaves the same.
        #[test]
        fn an_adopted_copy_answers_as_the_original(ops in proptest::collection::vec(op(), 1..40)) {
            let mut a = store(config());
            let mut ids = Vec::new();
            let mut now = T0;
            for op in &ops {
                run(&mut a, &mut ids, op, &mut now);
            }
            // What is due has ended, as a shared store's records have after the
            // sweep or the call that found them due.
            a.sweep(now).unwrap();
            let mut b = store(config());
            b.adopt(&ids, &a.export(&ids, now).unwrap(), now).unwrap();
            prop_assert!(b.drain_events().is_empty());
            prop_assert_eq!(b.list(now).unwrap(), a.list(now).unwrap());
            for p in [None, Some("ann")] {
                prop_assert_eq!(b.list_handles(p, now).unwrap(), a.list_handles(p, now).unwrap());
            }
            for id in &ids {
                let (x, y) = (a.find(id, now + 1), b.find(id, now + 1));
                prop_assert_eq!(format!("{x:?}"), format!("{y:?}"), "{}", id);
            }
            prop_assert_eq!(a.next_deadline(), b.next_deadline());
            b.release(&ids).unwrap();
            prop_assert_eq!(b.stats(now).unwrap().live + b.stats(now).unwrap().handles_live, 0);
        }
    }
}
