//! What every fuzz target checks after it has driven the store, against a model the
//! harness keeps itself. A failed check panics, which libFuzzer reports as a crash
//! with the input that caused it.
//!
//! The store is never its own reference. The [`Model`] learns which sessions exist
//! from the event stream (created, renewed, restored, ended, with phase changes and
//! versions) and from what the harness did (requests begun and ended), never from a
//! listing. The checks then put the store's aggregate answers (`stats`, `list`,
//! `next_deadline`, `snapshot`) against figures recounted from the model, with each
//! session looked up one by one (`peek`), and deadlines against a formula written
//! here from the documented rules.

use std::collections::{BTreeMap, BTreeSet};

use mcp_session_core::{
    Config, EndReason, Event, InsecureSeededIds, Phase, SessionError, SessionStore, SessionView,
    MAX_SESSION_ID_BYTES,
};
use serde_json::Value;

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
        // The model learns from every event, so none may be dropped: the targets
        // drain after every call, and one call emits at most about 20 (8 sessions
        // ending one by one while a full store makes room, each with a
        // `sweepPaused`, then the create and an eviction).
        max_pending_events: 64,
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

/// A well-formed `Mcp-Session-Id` by the spec's rule (visible ASCII, 0x21-0x7E)
/// and the crate's documented bound, written here rather than taken from the crate.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_SESSION_ID_BYTES
        && id.bytes().all(|b| (0x21..=0x7E).contains(&b))
}

/// When a session with these fields ends, by the documented rules: an initializing
/// session at `createdAt + init_timeout_ms`, an idle one at `lastActivity + its idle
/// timeout`, a busy one never by idleness; an absolute lifetime caps all three.
pub fn deadline_of(v: &SessionView, config: &Config) -> Option<u64> {
    let phase = match v.phase {
        Phase::Initializing => Some(v.created_at.saturating_add(config.init_timeout_ms)),
        Phase::Active | Phase::Disconnected if v.in_flight == 0 => {
            Some(v.last_activity.saturating_add(v.idle_timeout_ms))
        }
        Phase::Active | Phase::Disconnected => None,
    };
    let lifetime = config
        .absolute_lifetime_ms
        .map(|l| v.created_at.saturating_add(l));
    phase.into_iter().chain(lifetime).min()
}

/// The error a request for a session that ended this way gets.
fn ended_error(id: &str, reason: EndReason) -> SessionError {
    let session_id = id.to_owned();
    match reason {
        EndReason::Closed => SessionError::SessionClosed { session_id },
        reason => SessionError::SessionExpired { session_id, reason },
    }
}

/// Where a session is in its life, as the model knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    /// Created, renewed or restored, and no event has ended it (it may be past its
    /// deadline, waiting for a call to end it).
    Live,
    /// Ended, as an event said; remembered until the store forgets it.
    Ended(EndReason),
    /// No longer stored: forgotten after it ended, or left out of a reload because
    /// it was due.
    Gone,
    /// An ID seen in a restored snapshot, not yet classified.
    Candidate,
}

/// One session as the model knows it. `None` fields are not known yet (a session
/// restored from outside the harness) and are taken from the first look at it;
/// from then on the store must agree with them.
#[derive(Debug, Clone)]
pub struct Entry {
    pub life: Life,
    pub phase: Option<Phase>,
    /// Requests the harness began and has not ended.
    pub in_flight: u32,
    pub version: Option<u64>,
    pub principal: Option<Option<String>>,
    pub idle_timeout_ms: Option<u64>,
    pub renewed: bool,
}

impl Entry {
    fn live(phase: Option<Phase>, version: Option<u64>) -> Self {
        Entry {
            life: Life::Live,
            phase,
            in_flight: 0,
            version,
            principal: None,
            idle_timeout_ms: None,
            renewed: false,
        }
    }

    /// The store's view of a session the model holds live and not due.
    fn check_view(&mut self, id: &str, v: &SessionView, config: &Config, clock: u64) {
        assert_eq!(v.id, id);
        let phase = *self.phase.get_or_insert(v.phase);
        assert_eq!(v.phase, phase, "{id}: phase against the events");
        let version = *self.version.get_or_insert(v.version);
        assert_eq!(v.version, version, "{id}: version against the events");
        assert_eq!(
            v.in_flight, self.in_flight,
            "{id}: in flight against the requests the harness began and ended"
        );
        let principal = self.principal.get_or_insert_with(|| v.principal.clone());
        assert_eq!(&v.principal, principal, "{id}: principal");
        let idle = *self.idle_timeout_ms.get_or_insert(v.idle_timeout_ms);
        assert_eq!(v.idle_timeout_ms, idle, "{id}: idle timeout");
        assert!(v.state.is_object(), "{id}: state is an object");
        assert!(
            v.created_at <= v.last_activity && v.last_activity <= clock,
            "{id}: created {} <= last active {} <= clock {clock}",
            v.created_at,
            v.last_activity
        );
        let deadline = deadline_of(v, config);
        assert_eq!(
            v.expires_at, deadline,
            "{id}: expiresAt against the deadline rules"
        );
        assert!(
            deadline.is_none_or(|at| at > clock),
            "{id}: peek shows a session past its deadline {deadline:?} at {clock}"
        );
    }
}

/// The harness's own account of the sessions: see the module docs.
#[derive(Debug, Default)]
pub struct Model {
    entries: BTreeMap<String, Entry>,
}

/// What one look at the store found, for the checks that follow it.
#[derive(Debug, Default)]
pub struct Seen {
    /// Live sessions not past their deadline, as `peek` shows them.
    pub live: BTreeMap<String, SessionView>,
    /// Sessions live by the events but past their deadline (a bounded sweep or a
    /// call has not ended them yet).
    pub due: BTreeSet<String>,
    /// Ended sessions the store still remembers.
    pub remembered: BTreeMap<String, EndReason>,
}

impl Model {
    pub fn new() -> Self {
        Model::default()
    }

    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }

    pub fn entry_mut(&mut self, id: &str) -> Option<&mut Entry> {
        self.entries.get_mut(id)
    }

    /// IDs the events left live (due ones included).
    pub fn live_ids(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| e.life == Life::Live)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Live sessions (due ones included: they still hold their place) of
    /// `principal`, where the model knows the principal.
    pub fn held_by(&self, principal: Option<&str>) -> usize {
        self.entries
            .values()
            .filter(|e| e.life == Life::Live)
            .filter(|e| {
                e.principal
                    .as_ref()
                    .is_some_and(|p| p.as_deref() == principal)
            })
            .count()
    }

    /// IDs found in a snapshot handed to `restore`: sessions the store may now hold
    /// without a `restored` event (ended records).
    pub fn candidates(&mut self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            if is_valid_id(&id) {
                self.entries.entry(id).or_insert(Entry {
                    life: Life::Candidate,
                    ..Entry::live(None, None)
                });
            }
        }
    }

    /// A request the harness began on `id` was admitted.
    pub fn request_began(&mut self, id: &str) {
        let e = self.live_mut(id, "a request admitted");
        e.in_flight += 1;
        assert_eq!(
            e.phase,
            Some(Phase::Active),
            "{id}: an admitted request leaves the session active"
        );
    }

    /// A request on `id` ended without error.
    pub fn request_ended(&mut self, id: &str) {
        let e = self.live_mut(id, "a request ended");
        assert!(
            e.in_flight > 0,
            "{id}: end_request succeeded with no request in flight"
        );
        e.in_flight -= 1;
    }

    /// Drains the store's events and applies them; returns them.
    pub fn observe(&mut self, store: &mut SessionStore) -> Vec<Event> {
        let events = store.drain_events();
        for e in &events {
            self.apply(e);
        }
        events
    }

    fn live_mut(&mut self, id: &str, what: &str) -> &mut Entry {
        match self.entries.get_mut(id) {
            Some(e) if e.life == Life::Live => e,
            other => panic!("{what} for {id}, which the model has as {other:?}"),
        }
    }

    /// A session begins: it must not be live already.
    fn begin_life(&mut self, id: &str, what: &str, entry: Entry) {
        if let Some(old) = self.entries.get(id) {
            assert_ne!(old.life, Life::Live, "{what} {id}, which is live");
        }
        self.entries.insert(id.to_owned(), entry);
    }

    fn end(&mut self, id: &str, reason: EndReason) {
        self.live_mut(id, "an end").life = Life::Ended(reason);
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::Created {
                session_id, phase, ..
            } => self.begin_life(session_id, "created", Entry::live(Some(*phase), Some(0))),
            Event::Restored { session_id, .. } => match self.entries.get_mut(session_id) {
                // A reload: the same session, and requests in flight do not survive.
                Some(e) if e.life == Life::Live => e.in_flight = 0,
                Some(e) if matches!(e.life, Life::Ended(_)) => {
                    panic!("{session_id} ended and was restored live")
                }
                _ => self.begin_life(session_id, "restored", Entry::live(None, None)),
            },
            Event::Renewed {
                session_id,
                previous_session_id,
                ..
            } => {
                let prev = match self.entries.get_mut(previous_session_id) {
                    Some(p) if matches!(p.life, Life::Ended(_)) => p,
                    other => panic!(
                        "{session_id} renewed from {previous_session_id}, which the model has as {other:?}"
                    ),
                };
                assert!(!prev.renewed, "{previous_session_id} renewed twice");
                prev.renewed = true;
                let entry = Entry {
                    phase: prev.phase.map(|p| match p {
                        Phase::Initializing => Phase::Initializing,
                        Phase::Active | Phase::Disconnected => Phase::Active,
                    }),
                    principal: prev.principal.clone(),
                    idle_timeout_ms: prev.idle_timeout_ms,
                    ..Entry::live(None, prev.version)
                };
                self.begin_life(session_id, "renewed", entry);
            }
            Event::Initialized { session_id, .. } => {
                let e = self.live_mut(session_id, "initialized");
                assert!(
                    e.phase.is_none_or(|p| p == Phase::Initializing),
                    "{session_id} initialized from {:?}",
                    e.phase
                );
                e.phase = Some(Phase::Active);
            }
            Event::Disconnected { session_id, .. } => {
                let e = self.live_mut(session_id, "disconnected");
                assert!(
                    e.phase.is_none_or(|p| p == Phase::Active),
                    "{session_id} disconnected from {:?}",
                    e.phase
                );
                e.phase = Some(Phase::Disconnected);
                e.in_flight = 0;
            }
            Event::Resumed { session_id, .. } => {
                let e = self.live_mut(session_id, "resumed");
                assert!(
                    e.phase.is_none_or(|p| p == Phase::Disconnected),
                    "{session_id} resumed from {:?}",
                    e.phase
                );
                e.phase = Some(Phase::Active);
            }
            Event::StateChanged {
                session_id,
                version,
                ..
            } => {
                let e = self.live_mut(session_id, "a state change");
                if let Some(v) = e.version {
                    assert_eq!(*version, v + 1, "{session_id}: versions go up by one");
                }
                e.version = Some(*version);
            }
            Event::Closed { session_id, .. } => self.end(session_id, EndReason::Closed),
            Event::Expired {
                session_id, reason, ..
            } => self.end(session_id, *reason),
            Event::Evicted { session_id, .. } => {
                let e = self.live_mut(session_id, "evicted");
                assert_eq!(e.in_flight, 0, "{session_id}: a busy session was evicted");
                e.life = Life::Ended(EndReason::Evicted);
            }
            Event::SweepPaused { .. } => {}
            // State handles are no sessions: the `handles` target checks them.
            Event::HandleCreated { .. }
            | Event::HandleDestroyed { .. }
            | Event::HandleExpired { .. } => {}
        }
    }

    /// Looks at every session the model knows, one by one with `peek` (which changes
    /// nothing), and checks each against the model.
    pub fn look(&mut self, store: &SessionStore, clock: u64) -> Seen {
        let config = store.config().clone();
        let mut seen = Seen::default();
        for (id, entry) in self.entries.iter_mut() {
            let found = store.peek(id, clock);
            match entry.life {
                Life::Live => match found {
                    Ok(view) => {
                        entry.check_view(id, &view, &config, clock);
                        seen.live.insert(id.clone(), view);
                    }
                    Err(SessionError::SessionExpired {
                        reason: EndReason::Init | EndReason::Idle | EndReason::Lifetime,
                        ..
                    }) => {
                        seen.due.insert(id.clone());
                    }
                    Err(e) => panic!("{id} is live by the events, but peek says {e:?}"),
                },
                Life::Ended(reason) => match found {
                    Ok(v) => panic!("{id} ended ({reason:?}) but peek finds it live: {v:?}"),
                    Err(SessionError::SessionNotFound { .. }) => entry.life = Life::Gone,
                    Err(e) => {
                        assert_eq!(
                            e,
                            ended_error(id, reason),
                            "{id}: the error for how it ended"
                        );
                        seen.remembered.insert(id.clone(), reason);
                    }
                },
                Life::Gone => assert!(
                    matches!(found, Err(SessionError::SessionNotFound { .. })),
                    "{id} was forgotten, and now peek says {found:?}"
                ),
                Life::Candidate => match found {
                    Err(SessionError::SessionNotFound { .. }) => entry.life = Life::Gone,
                    Err(SessionError::SessionClosed { .. }) => {
                        entry.life = Life::Ended(EndReason::Closed);
                        seen.remembered.insert(id.clone(), EndReason::Closed);
                    }
                    Err(SessionError::SessionExpired { reason, .. }) => {
                        entry.life = Life::Ended(reason);
                        seen.remembered.insert(id.clone(), reason);
                    }
                    other => panic!("{id} is stored but no event said so: {other:?}"),
                },
            }
        }
        seen
    }
}

/// The invariants, against the model: see the module docs. Drains the events first
/// (applying them to the model). Changes nothing else: sessions left due stay for
/// the next operation to meet.
///
/// Looks at the store's own time. A later `now` that the store has not reached (a
/// call refused before it moved the clock) is not the present: a record that would
/// be forgotten by then is still remembered, and a clock that goes back finds it.
pub fn check_invariants(store: &mut SessionStore, model: &mut Model) {
    model.observe(store);
    let config = store.config().clone();
    let clock = store.clock();
    let seen = model.look(store, clock);

    // Counts, recounted from the model's sessions looked up one by one.
    let stats = store.stats(clock).expect("stats at a valid time");
    assert_eq!(stats.live, seen.live.len(), "stats.live against the model");
    let in_phase = |p: Phase| {
        seen.live
            .keys()
            .filter(|id| model.entry(id).and_then(|e| e.phase) == Some(p))
            .count()
    };
    assert_eq!(
        stats.initializing,
        in_phase(Phase::Initializing),
        "initializing"
    );
    assert_eq!(stats.active, in_phase(Phase::Active), "active");
    assert_eq!(
        stats.disconnected,
        in_phase(Phase::Disconnected),
        "disconnected"
    );
    let in_flight: u64 = seen
        .live
        .keys()
        .filter_map(|id| model.entry(id))
        .map(|e| u64::from(e.in_flight))
        .sum();
    assert_eq!(
        stats.in_flight, in_flight,
        "in flight against the harness's requests"
    );
    assert_eq!(
        stats.ended_remembered,
        seen.remembered.len(),
        "remembered ended sessions against the model"
    );
    assert!(
        seen.remembered.len() <= config.max_ended_remembered,
        "the ended-record limit holds"
    );
    assert!(
        seen.live.len() + seen.due.len() <= config.max_sessions,
        "capacity holds, counting sessions not yet ended for being due"
    );
    assert_eq!(
        stats.total_bytes,
        store.recount_bytes(),
        "the running byte count against a recount"
    );
    assert_eq!(stats.pending_events, 0, "the events were just drained");
    assert_eq!(
        stats.dropped_events, 0,
        "no event dropped (the model would have missed it)"
    );

    // The listing: the same sessions, the same views, oldest first.
    let list = store.list(clock).expect("list at a valid time");
    let listed: BTreeSet<&str> = list.iter().map(|v| v.id.as_str()).collect();
    let expected: BTreeSet<&str> = seen.live.keys().map(String::as_str).collect();
    assert_eq!(listed, expected, "list against the model");
    assert_eq!(listed.len(), list.len(), "list names each session once");
    for v in &list {
        assert_eq!(
            Some(v),
            seen.live.get(&v.id),
            "list and peek agree on {}",
            v.id
        );
    }
    assert!(
        list.windows(2)
            .all(|w| (w[0].created_at, &w[0].id) < (w[1].created_at, &w[1].id)),
        "list is oldest first"
    );

    // The next deadline: the earliest by the rules, or already due while sessions
    // wait to be ended.
    let next = store.next_deadline();
    if seen.due.is_empty() {
        let earliest = seen
            .live
            .values()
            .filter_map(|v| deadline_of(v, &config))
            .min();
        assert_eq!(
            next, earliest,
            "next_deadline against the earliest deadline"
        );
    } else {
        assert!(
            next.is_some_and(|at| at <= clock),
            "{:?} are due but next_deadline is {next:?} (clock {clock})",
            seen.due
        );
    }

    // The snapshot holds exactly the live and remembered sessions, as the model has
    // them, and restores into an equal store.
    let text = store.snapshot(clock).expect("snapshot");
    let doc: Value = serde_json::from_str(&text).expect("a snapshot is JSON");
    let records = |key: &str| doc[key].as_array().cloned().unwrap_or_default();
    let mut snapped = BTreeSet::new();
    // State handles (which a restored snapshot may hold) are no sessions: the
    // `handles` target checks them.
    let is_handle = |r: &Value| r["kind"] == "handle";
    for r in records("sessions") {
        if is_handle(&r) {
            continue;
        }
        let id = r["id"]
            .as_str()
            .expect("a session record has an ID")
            .to_owned();
        let entry = model
            .entry(&id)
            .expect("a snapshot session the model knows");
        assert_eq!(
            r["phase"],
            serde_json::to_value(entry.phase).unwrap_or_default()
        );
        assert_eq!(
            r["version"],
            serde_json::to_value(entry.version).unwrap_or_default()
        );
        snapped.insert(id);
    }
    let live: BTreeSet<String> = seen.live.keys().cloned().collect();
    assert_eq!(snapped, live, "the snapshot's sessions against the model");
    let mut snapped_ended = BTreeMap::new();
    for r in records("ended") {
        if is_handle(&r["session"]) {
            continue;
        }
        let id = r["session"]["id"]
            .as_str()
            .expect("an ended record has an ID");
        let reason: EndReason = serde_json::from_value(r["reason"].clone()).expect("an end reason");
        snapped_ended.insert(id.to_owned(), reason);
    }
    assert_eq!(
        snapped_ended, seen.remembered,
        "the snapshot's ended records against the model"
    );
    let mut copy = self::store(config);
    copy.restore(&text, clock).expect("a snapshot restores");
    assert_eq!(
        copy.snapshot(clock).expect("snapshot"),
        text,
        "restore(snapshot) is the same store"
    );
}

/// Replaces `store` with a fresh one restored from its snapshot at `now` (a server
/// restart), checking the restore against the model: exactly the live sessions not
/// past their deadline come back (idle), and every remembered ended one.
pub fn reload(store: &mut SessionStore, model: &mut Model, now: u64) {
    model.observe(store);
    let clock = now.max(store.clock());
    let before = model.look(store, clock);
    let text = store.snapshot(now).expect("snapshot");
    let mut fresh = self::store(store.config().clone());
    let report = fresh.restore(&text, now).expect("a snapshot restores");
    *store = fresh;
    let restored: BTreeSet<String> = model
        .observe(store)
        .into_iter()
        .filter_map(|e| match e {
            Event::Restored { session_id, .. } => Some(session_id),
            _ => None,
        })
        .collect();
    let live: BTreeSet<String> = before.live.keys().cloned().collect();
    assert_eq!(
        restored, live,
        "a reload restores exactly the live sessions"
    );
    assert_eq!(report.restored, live.len());
    assert_eq!(
        report.skipped_expired + report.refused_existing + report.refused_capacity,
        0
    );
    assert_eq!(report.ended_restored, before.remembered.len());
    // Due sessions are not in the snapshot: the reload drops them unended.
    for id in &before.due {
        if let Some(e) = model.entry_mut(id) {
            e.life = Life::Gone;
        }
    }
}

/// Every string in a JSON text that could be a session ID.
pub fn ids_in(text: &str) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) if is_valid_id(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            Value::Object(m) => m.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        walk(&v, &mut out);
    }
    out
}
