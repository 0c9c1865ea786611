//! Arbitrary sequences of every store operation, at arbitrary times (including a
//! clock that goes back), on IDs that exist, ended or never did. Time moves without
//! a sweep, so operations themselves run into due deadlines (the store ends due
//! sessions first, then runs the operation), and sweeps happen only as operations.
//! No operation panics; each result agrees with the events it caused and with the
//! harness's model (see `mcp_session_core_fuzz`); a refused one ends nothing but
//! due sessions and changes no live session; the invariants hold after every step.
#![no_main]

use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_session_core::{
    Admission, CapacityPolicy, CreateParams, EndReason, Event, Expiry, Lookup, Phase, RequestHead,
    RequestKind, SessionError, SessionStore, SessionView, Status,
};
use mcp_session_core_fuzz::{check_invariants, config, reload, store, Life, Model, T0};
use serde_json::{json, Value};

#[derive(Debug, Arbitrary)]
enum Op {
    Create {
        principal: u8,
        idle_ms: Option<u16>,
        initialize: bool,
    },
    Initialized {
        target: u8,
    },
    Begin {
        target: u8,
        principal: u8,
        kind: u8,
    },
    End {
        target: u8,
    },
    Update {
        target: u8,
        value: i32,
        expected: Option<u8>,
    },
    Replace {
        target: u8,
        size: u16,
    },
    Disconnect {
        target: u8,
    },
    Resume {
        target: u8,
        principal: u8,
    },
    Close {
        target: u8,
    },
    Expire {
        target: u8,
    },
    Renew {
        target: u8,
        principal: u8,
    },
    /// A lookup as `getSession` makes it: `find_ref`, then fields through `record`.
    Touch {
        target: u8,
    },
    /// A lookup that copies the session out, live or ended.
    Find {
        target: u8,
    },
    ClearAll,
    Sweep,
    /// One timer turn: at most `limit` sessions end.
    SweepBatch {
        limit: u8,
    },
    Reload,
}

#[derive(Debug, Arbitrary)]
struct Step {
    op: Op,
    /// Milliseconds to move the clock before the operation; negative moves it back.
    /// Nothing sweeps in between: the operation meets whatever came due.
    dt: i16,
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// Evict the idlest session when full, instead of refusing.
    evict: bool,
    steps: Vec<Step>,
}

const PRINCIPALS: [Option<&str>; 3] = [None, Some("alice"), Some("bob")];

fn principal(i: u8) -> Option<&'static str> {
    PRINCIPALS[usize::from(i) % PRINCIPALS.len()]
}

/// An issued ID, newest first (live, due, ended or forgotten), or one never issued.
fn target(ids: &[String], i: u8) -> String {
    let i = usize::from(i) % (ids.len() + 1);
    ids.iter()
        .rev()
        .nth(i)
        .map_or("never-issued", String::as_str)
        .to_owned()
}

/// What a successful operation returned, to check against its events and the model.
#[derive(Debug)]
enum Done {
    Created {
        view: SessionView,
        initialize: bool,
        principal: Option<&'static str>,
        idle_ms: Option<u64>,
    },
    Initialized(String),
    Began(String, Admission),
    RequestEnded(String),
    Changed(String, u64),
    Disconnected(String),
    Resumed(String, SessionView),
    Closed(String),
    Expired(String),
    Renewed {
        from: String,
        view: SessionView,
        principal: Option<&'static str>,
    },
    /// What `record` read: status, in flight, version.
    Touched(String, Option<(Status, u32, u64)>),
    Found(String, Lookup),
    Cleared(usize),
    Swept(Vec<Expiry>),
    SweptBatch(usize),
    Reloaded,
}

fn apply(
    s: &mut SessionStore,
    model: &mut Model,
    ids: &mut Vec<String>,
    op: &Op,
    now: u64,
) -> Result<Done, SessionError> {
    Ok(match *op {
        Op::Create {
            principal: p,
            idle_ms,
            initialize,
        } => {
            let idle_ms = idle_ms.map(u64::from);
            let params = CreateParams {
                principal: principal(p).map(str::to_owned),
                idle_timeout_ms: idle_ms,
                requested_protocol_version: initialize.then(|| "2025-06-18".to_owned()),
                ..CreateParams::default()
            };
            let view = s.create(params, now)?;
            ids.push(view.id.clone());
            Done::Created {
                view,
                initialize,
                principal: principal(p),
                idle_ms,
            }
        }
        Op::Initialized { target: t } => {
            let id = target(ids, t);
            s.initialized(&id, now)?;
            Done::Initialized(id)
        }
        Op::Begin {
            target: t,
            principal: p,
            kind,
        } => {
            let id = target(ids, t);
            let head = RequestHead {
                session_id: Some(&id),
                principal: principal(p),
                kind: if kind % 2 == 0 {
                    RequestKind::Other
                } else {
                    RequestKind::Initialized
                },
                protocol_version: None,
            };
            let admission = s.begin_request(&head, now)?;
            Done::Began(id, admission)
        }
        Op::End { target: t } => {
            let id = target(ids, t);
            s.end_request(&id, now)?;
            Done::RequestEnded(id)
        }
        Op::Update {
            target: t,
            value,
            expected,
        } => {
            let id = target(ids, t);
            let v = s.update_state(&id, &json!({ "n": value }), expected.map(u64::from), now)?;
            Done::Changed(id, v)
        }
        Op::Replace { target: t, size } => {
            let id = target(ids, t);
            let state = json!({ "pad": "x".repeat(usize::from(size) % 3_000) });
            let v = s.replace_state(&id, state, None, now)?;
            Done::Changed(id, v)
        }
        Op::Disconnect { target: t } => {
            let id = target(ids, t);
            s.disconnect(&id, now)?;
            Done::Disconnected(id)
        }
        Op::Resume {
            target: t,
            principal: p,
        } => {
            let id = target(ids, t);
            let view = s.resume(&id, principal(p), now)?;
            Done::Resumed(id, view)
        }
        Op::Close { target: t } => {
            let id = target(ids, t);
            s.close(&id, now)?;
            Done::Closed(id)
        }
        Op::Expire { target: t } => {
            let id = target(ids, t);
            s.expire(&id, now)?;
            Done::Expired(id)
        }
        Op::Renew {
            target: t,
            principal: p,
        } => {
            let from = target(ids, t);
            let view = s.renew(&from, principal(p), now)?;
            ids.push(view.id.clone());
            Done::Renewed {
                from,
                view,
                principal: principal(p),
            }
        }
        Op::Touch { target: t } => {
            let id = target(ids, t);
            let found = s.find_ref(&id, now)?;
            let read = found.map(|found| {
                let record = s.record(found).expect("a reference just found reads");
                assert_eq!(record.id(), id);
                assert!(record.state().is_object());
                (record.status(), record.in_flight(), record.version())
            });
            Done::Touched(id, read)
        }
        Op::Find { target: t } => {
            let id = target(ids, t);
            let lookup = s.find(&id, now)?;
            Done::Found(id, lookup)
        }
        Op::ClearAll => Done::Cleared(s.clear_all(now)?),
        Op::SweepBatch { limit } => {
            s.sweep_batch_with(now, usize::from(limit), |_, _, _| {})?;
            Done::SweptBatch(usize::from(limit).max(1))
        }
        Op::Sweep => Done::Swept(s.sweep(now)?),
        Op::Reload => {
            reload(s, model, now);
            Done::Reloaded
        }
    })
}

fn has(events: &[Event], want: &Event) -> bool {
    events.iter().any(|e| same(e, want))
}

/// Events equal but for their time.
fn same(a: &Event, b: &Event) -> bool {
    let untimed = |e: &Event| {
        let mut v = serde_json::to_value(e).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.remove("at");
        }
        v
    };
    untimed(a) == untimed(b)
}

fn life(model: &Model, id: &str) -> Option<Life> {
    model.entry(id).map(|e| e.life)
}

/// A successful operation's result against the events it caused and the model.
fn check_done(s: &mut SessionStore, model: &mut Model, done: Done, events: &[Event], now: u64) {
    let config = s.config().clone();
    match done {
        Done::Created {
            view,
            initialize,
            principal,
            idle_ms,
        } => {
            let phase = if initialize {
                Phase::Initializing
            } else {
                Phase::Active
            };
            assert!(has(
                events,
                &Event::Created {
                    session_id: view.id.clone(),
                    phase,
                    at: 0
                }
            ));
            assert_eq!((view.phase, view.version, view.in_flight), (phase, 0, 0));
            assert_eq!(view.principal.as_deref(), principal);
            assert_eq!(
                view.idle_timeout_ms,
                idle_ms.unwrap_or(config.idle_timeout_ms)
            );
            let e = model.entry_mut(&view.id).expect("a created session");
            e.principal = Some(principal.map(str::to_owned));
            e.idle_timeout_ms = Some(view.idle_timeout_ms);
            if let Some(limit) = config.max_sessions_per_principal {
                assert!(model.held_by(principal) <= limit, "the per-principal limit");
            }
        }
        Done::Initialized(id) => {
            assert!(has(
                events,
                &Event::Initialized {
                    session_id: id,
                    at: 0
                }
            ));
        }
        Done::Began(id, admission) => {
            assert_eq!(
                admission,
                Admission::Admitted {
                    phase: Phase::Active
                }
            );
            model.request_began(&id);
        }
        Done::RequestEnded(id) => model.request_ended(&id),
        Done::Changed(id, version) => {
            assert!(has(
                events,
                &Event::StateChanged {
                    session_id: id.clone(),
                    version,
                    at: 0
                }
            ));
            assert_eq!(model.entry(&id).and_then(|e| e.version), Some(version));
        }
        Done::Disconnected(id) => {
            let e = model.entry(&id).expect("a disconnected session");
            assert_eq!(
                (e.life, e.phase, e.in_flight),
                (Life::Live, Some(Phase::Disconnected), 0)
            );
        }
        Done::Resumed(id, view) => {
            assert_eq!(view.phase, Phase::Active);
            let e = model.entry(&id).expect("a resumed session");
            assert_eq!((e.life, e.phase), (Life::Live, Some(Phase::Active)));
        }
        Done::Closed(id) => {
            assert!(has(
                events,
                &Event::Closed {
                    session_id: id.clone(),
                    at: 0
                }
            ));
            assert_eq!(life(model, &id), Some(Life::Ended(EndReason::Closed)));
        }
        Done::Expired(id) => {
            assert!(has(
                events,
                &Event::Expired {
                    session_id: id.clone(),
                    reason: mcp_session_core::EndReason::Requested,
                    at: 0
                }
            ));
            assert_eq!(life(model, &id), Some(Life::Ended(EndReason::Requested)));
        }
        Done::Renewed {
            from,
            view,
            principal,
        } => {
            assert!(has(
                events,
                &Event::Renewed {
                    session_id: view.id.clone(),
                    previous_session_id: from.clone(),
                    at: 0
                }
            ));
            assert_eq!(view.principal.as_deref(), principal);
            assert_eq!(view.in_flight, 0);
            assert!(model.entry(&from).is_some_and(|e| e.renewed));
            if let Some(limit) = config.max_sessions_per_principal {
                assert!(model.held_by(principal) <= limit, "the per-principal limit");
            }
        }
        Done::Touched(id, read) => {
            let e = model.entry(&id);
            match read {
                Some((Status::Live(phase), in_flight, version)) => {
                    let e = e.expect("a live session the model knows");
                    assert_eq!(e.life, Life::Live);
                    assert_eq!(Some(phase), e.phase);
                    assert_eq!(in_flight, e.in_flight);
                    assert_eq!(Some(version), e.version);
                }
                Some((Status::Ended(reason), _, _)) => {
                    assert_eq!(e.map(|e| e.life), Some(Life::Ended(reason)));
                }
                // Not stored: never was, or forgotten (perhaps only now).
                None => assert!(e.is_none_or(|e| matches!(e.life, Life::Gone | Life::Ended(_)))),
            }
        }
        Done::Found(id, lookup) => {
            let e = model.entry(&id);
            match lookup {
                Lookup::Live(v) => {
                    let e = e.expect("a live session the model knows");
                    assert_eq!(e.life, Life::Live);
                    assert_eq!(Some(v.phase), e.phase);
                    assert_eq!(v.in_flight, e.in_flight);
                    assert_eq!(Some(v.version), e.version);
                }
                Lookup::Ended(v) => {
                    assert_eq!(v.id, id);
                    assert_eq!(e.map(|e| e.life), Some(Life::Ended(v.reason)));
                }
                Lookup::Unknown => {
                    assert!(e.is_none_or(|e| matches!(e.life, Life::Gone | Life::Ended(_))))
                }
            }
        }
        Done::Cleared(n) => {
            let closed = events
                .iter()
                .filter(|e| matches!(e, Event::Closed { .. }))
                .count();
            assert_eq!(n, closed, "clear_all counts what it closed");
            assert!(model.live_ids().is_empty(), "clear_all leaves nothing live");
        }
        Done::Swept(expiries) => {
            let expired: Vec<Expiry> = events
                .iter()
                .filter_map(|e| match e {
                    Event::Expired {
                        session_id,
                        reason,
                        at,
                    } => Some(Expiry {
                        session_id: session_id.clone(),
                        reason: *reason,
                        at: *at,
                    }),
                    _ => None,
                })
                .collect();
            assert_eq!(expiries, expired, "sweep reports what it ended");
            for id in model.live_ids() {
                assert!(s.peek(&id, now).is_ok(), "{id} is still due after a sweep");
            }
        }
        Done::SweptBatch(limit) => {
            let ended = events
                .iter()
                .filter(|e| matches!(e, Event::Expired { .. }))
                .count();
            assert!(ended <= limit, "a batch of {limit} ended {ended}");
        }
        Done::Reloaded => {}
    }
}

/// The `sessions` and ended IDs of a snapshot.
fn parts(s: &SessionStore, now: u64) -> (Value, BTreeSet<String>) {
    let doc: Value = serde_json::from_str(&s.snapshot(now).expect("snapshot")).expect("JSON");
    let ended = doc["ended"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["session"]["id"].as_str().map(str::to_owned))
        .collect();
    (doc["sessions"].clone(), ended)
}

fuzz_target!(|input: Input| {
    let mut config = config();
    if input.evict {
        config.capacity_policy = CapacityPolicy::EvictIdlest;
    }
    let mut s = store(config);
    let mut model = Model::new();
    let mut ids = Vec::new();
    let mut now = T0;
    for step in input.steps.iter().take(128) {
        now = now.saturating_add_signed(i64::from(step.dt));
        let (live_before, ended_before) = parts(&s, now);
        let result = apply(&mut s, &mut model, &mut ids, &step.op, now);
        let events = model.observe(&mut s);
        match result {
            Ok(done) => check_done(&mut s, &mut model, done, &events, now),
            Err(e) => {
                assert!((400..600).contains(&e.http_status()), "{e:?}");
                assert!(!e.code().is_empty());
                // A refused operation may only end what was due.
                let mut expired = BTreeSet::new();
                for event in &events {
                    match event {
                        Event::Expired { session_id, .. } => {
                            expired.insert(session_id.clone());
                        }
                        Event::SweepPaused { .. } => {}
                        other => panic!("a refused {:?} caused {other:?}", step.op),
                    }
                }
                let (live_after, ended_after) = parts(&s, now);
                assert_eq!(
                    live_after, live_before,
                    "a refused {:?} changed a live session ({e:?})",
                    step.op
                );
                assert!(
                    ended_after.is_subset(&ended_before.union(&expired).cloned().collect()),
                    "a refused {:?} ended more than what was due",
                    step.op
                );
            }
        }
        check_invariants(&mut s, &mut model);
    }
});
