//! What every fuzz target checks after it has driven the store: the invariants
//! that must hold whatever the input was. A failed check panics, which libFuzzer
//! reports as a crash with the input that caused it.

use mcp_session_core::{Config, InsecureSeededIds, SessionStore};

/// A start time, the same for every target.
pub const T0: u64 = 1_700_000_000_000;

/// A small store, so that limits, eviction and forgetting are reached quickly.
pub fn config() -> Config {
    Config {
        init_timeout_ms: 50,
        idle_timeout_ms: 200,
        absolute_lifetime_ms: Some(5_000),
        max_sessions: 8,
        max_sessions_per_principal: Some(4),
        max_state_bytes: 2_048,
        ended_retention_ms: 1_000,
        max_ended_remembered: 6,
        max_pending_events: 16,
        // Small batches: calls stop ending due sessions after two, so later calls
        // meet sessions past their deadline that a sweep has not reached.
        sweep_batch_size: 2,
        ..Config::default()
    }
}

pub fn store(config: Config) -> SessionStore {
    SessionStore::with_id_source(config, Box::new(InsecureSeededIds::new(7)))
        .expect("the fuzz configuration is valid")
}

/// Counts agree with the listing, limits hold, the next deadline is the earliest
/// live one (or already due, while a bounded sweep left sessions due), and a
/// snapshot restores into an equal store. Changes nothing: sessions left due stay
/// for the next operation to meet.
pub fn check_invariants(store: &mut SessionStore, now: u64) {
    let now = now.max(store.clock());
    let stats = store.stats(now).expect("stats at a valid time");
    let list = store.list(now).expect("list at a valid time");
    assert_eq!(stats.live, list.len(), "stats and list agree");
    assert_eq!(
        stats.initializing + stats.active + stats.disconnected,
        stats.live,
        "every live session is in one phase"
    );
    assert!(stats.live <= store.config().max_sessions, "capacity holds");
    assert!(
        stats.ended_remembered <= store.config().max_ended_remembered,
        "the ended-record limit holds"
    );
    let in_flight: u64 = list.iter().map(|s| u64::from(s.in_flight)).sum();
    assert_eq!(stats.in_flight, in_flight, "in-flight counts agree");
    for s in &list {
        assert!(s.state.is_object(), "state is an object");
        assert!(
            s.expires_at.is_none_or(|at| at > now),
            "no live session is past its deadline"
        );
    }
    let earliest = list.iter().filter_map(|s| s.expires_at).min();
    let next = store.next_deadline();
    if next.is_none_or(|at| at > now) {
        assert_eq!(
            next, earliest,
            "next_deadline is the earliest live deadline"
        );
    } else {
        assert!(
            earliest.is_none_or(|at| at > now),
            "sessions left due are not listed"
        );
    }
    let text = store.snapshot(now).expect("snapshot");
    let mut copy = self::store(store.config().clone());
    copy.restore(&text, now).expect("a snapshot restores");
    assert_eq!(
        copy.snapshot(now).expect("snapshot"),
        text,
        "restore(snapshot) is the same store"
    );
}
