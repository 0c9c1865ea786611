//! Arbitrary sequences of state-handle operations mixed with session operations,
//! at arbitrary times (a clock that goes back too), on IDs of handles, sessions,
//! ended records and IDs that never existed, for arbitrary principals. No
//! operation panics, and after every step:
//! - a handle ID never answers a session operation but as unknown, and a session
//!   ID never answers a handle operation but as unknown;
//! - a handle answers only its owner: anyone else gets `HANDLE_NOT_FOUND`;
//! - an ended handle never answers its owner as unknown while it is remembered;
//! - the caps hold (`max_handles`, `max_handles_per_principal`), counted apart
//!   from sessions; `stats` agrees with the listings;
//! - a refused call changes no live record, and a snapshot restores byte for byte.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_session_core::{
    Config, CreateParams, InsecureSeededIds, RequestHead, RequestKind, SessionError, SessionStore,
};
use serde_json::json;

const T0: u64 = 1_700_000_000_000;
const PRINCIPALS: [Option<&str>; 3] = [None, Some("alice"), Some("bob")];

#[derive(Debug, Arbitrary)]
enum Op {
    CreateHandle {
        principal: u8,
        size: u8,
    },
    GetHandle {
        target: u8,
        principal: u8,
    },
    UpdateHandle {
        target: u8,
        principal: u8,
        value: i32,
        expected: Option<u8>,
    },
    ReplaceHandle {
        target: u8,
        principal: u8,
        size: u16,
    },
    DestroyHandle {
        target: u8,
        principal: u8,
    },
    CreateSession {
        principal: u8,
    },
    SessionOp {
        target: u8,
        which: u8,
    },
    Sweep,
    SweepBatch {
        limit: u8,
    },
    Wait {
        ms: u16,
    },
    Back {
        ms: u8,
    },
    Reload,
}

#[derive(Debug, Arbitrary)]
struct Input {
    idle: u16,
    life: u16,
    max_handles: u8,
    per_principal: Option<u8>,
    batch: u8,
    ops: Vec<Op>,
}

fn who(p: u8) -> Option<&'static str> {
    PRINCIPALS[usize::from(p) % PRINCIPALS.len()]
}

/// A store whose IDs come from `seed`: each reload takes a new one, as a restarted
/// server's random IDs never repeat an earlier process's (a seeded source that
/// started over would hand out again the IDs of forgotten records).
fn store(config: Config, seed: u64) -> SessionStore {
    SessionStore::with_id_source(config, Box::new(InsecureSeededIds::new(seed))).expect("a store")
}

/// What the harness knows of an ID it handed out.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Known {
    Handle(Option<&'static str>),
    Session,
}

fn is_unknown_session(e: &SessionError) -> bool {
    e.code() == "SESSION_NOT_FOUND"
}

fuzz_target!(|input: Input| {
    let config = Config {
        handle_idle_timeout_ms: u64::from(input.idle.max(1)),
        handle_lifetime_ms: u64::from(input.life.max(1)) * 4,
        max_handles: usize::from(input.max_handles % 8).max(1),
        max_handles_per_principal: input.per_principal.map(|n| usize::from(n % 4).max(1)),
        sweep_batch_size: usize::from(input.batch % 4).max(1),
        ended_retention_ms: 5_000,
        max_sessions: 4,
        ..Config::default()
    };
    let mut reloads = 0;
    let mut s = store(config.clone(), 3);
    let mut now = T0;
    let mut ids: Vec<(String, Known)> = vec![("h_never".into(), Known::Handle(None))];
    for op in input.ops.iter().take(200) {
        let pick = |t: u8| ids[usize::from(t) % ids.len()].clone();
        match *op {
            Op::CreateHandle { principal, size } => {
                let p = who(principal);
                let state = json!({ "x": "y".repeat(usize::from(size)) });
                match s.create_handle(p, Some(state), now) {
                    Ok(v) => {
                        assert!(v.handle_id.starts_with("h_"));
                        assert_eq!(v.principal.as_deref(), p);
                        ids.push((v.handle_id, Known::Handle(p)));
                    }
                    Err(e) => assert_eq!(e.code(), "HANDLE_LIMIT_EXCEEDED", "{e:?}"),
                }
            }
            Op::GetHandle { target, principal } => {
                let (id, known) = pick(target);
                let p = who(principal);
                let r = s.get_handle(&id, p, now);
                check_handle_answer(&r.map(|_| ()), known, p);
            }
            Op::UpdateHandle {
                target,
                principal,
                value,
                expected,
            } => {
                let (id, known) = pick(target);
                let p = who(principal);
                let r =
                    s.update_handle(&id, p, json!({ "v": value }), expected.map(u64::from), now);
                match &r {
                    Err(e) if e.code() == "VERSION_CONFLICT" => {
                        assert_eq!(known, Known::Handle(p))
                    }
                    _ => check_handle_answer(&r.map(|_| ()), known, p),
                }
            }
            Op::ReplaceHandle {
                target,
                principal,
                size,
            } => {
                let (id, known) = pick(target);
                let p = who(principal);
                let state = json!({ "r": "z".repeat(usize::from(size)) });
                let r = s.replace_handle_state(&id, p, state, None, now);
                match &r {
                    Err(e) if e.code() == "STATE_TOO_LARGE" => {}
                    _ => check_handle_answer(&r.map(|_| ()), known, p),
                }
            }
            Op::DestroyHandle { target, principal } => {
                let (id, known) = pick(target);
                let p = who(principal);
                let r = s.destroy_handle(&id, p, now);
                check_handle_answer(&r, known, p);
                if r.is_ok() {
                    assert_eq!(
                        s.get_handle(&id, p, now).map(|_| ()).unwrap_err().code(),
                        "HANDLE_DESTROYED"
                    );
                }
            }
            Op::CreateSession { principal } => {
                let params = CreateParams {
                    principal: who(principal).map(str::to_owned),
                    ..CreateParams::default()
                };
                if let Ok(id) = s.create_id(params, now) {
                    ids.push((id, Known::Session));
                }
            }
            Op::SessionOp { target, which } => {
                let (id, known) = pick(target);
                let r = match which % 8 {
                    0 => s.get(&id, now).map(|_| ()),
                    1 => s.close(&id, now),
                    2 => s.disconnect(&id, now),
                    3 => s.resume(&id, None, now).map(|_| ()),
                    4 => s.renew(&id, None, now).map(|_| ()),
                    5 => s.update_state(&id, &json!({"s": 1}), None, now).map(|_| ()),
                    6 => s
                        .begin_request(
                            &RequestHead {
                                session_id: Some(&id),
                                principal: None,
                                kind: RequestKind::Other,
                                protocol_version: None,
                            },
                            now,
                        )
                        .map(|_| ()),
                    _ => s.end_request(&id, now),
                };
                if let Known::Handle(_) = known {
                    let e = r.expect_err("a handle ID is no session");
                    assert!(is_unknown_session(&e), "a handle read as a session: {e:?}");
                }
                // A session's ID is no handle.
                if known == Known::Session {
                    for p in PRINCIPALS {
                        let e = s
                            .get_handle(&id, p, now)
                            .expect_err("a session is no handle");
                        assert_eq!(e.code(), "HANDLE_NOT_FOUND");
                    }
                }
            }
            Op::Sweep => {
                let ended = s.sweep(now).expect("sweep");
                for e in ended {
                    assert!(!e.session_id.starts_with("h_"), "a sweep reported a handle");
                }
            }
            Op::SweepBatch { limit } => {
                s.sweep_batch_with(now, usize::from(limit), |id, _, _| {
                    assert!(!id.starts_with("h_"), "a sweep reported a handle");
                })
                .expect("sweep");
            }
            Op::Wait { ms } => now += u64::from(ms),
            Op::Back { ms } => now = now.saturating_sub(u64::from(ms)),
            Op::Reload => {
                let clock = s.clock();
                let text = s.snapshot(clock).expect("snapshot");
                reloads += 1;
                let mut fresh = store(config.clone(), 3 + reloads);
                fresh.restore(&text, clock).expect("a snapshot restores");
                assert_eq!(fresh.snapshot(clock).expect("snapshot"), text);
                s = fresh;
            }
        }
        check(&mut s, &config);
    }
});

/// A handle call's answer, given what the ID is and who asked.
fn check_handle_answer(r: &Result<(), SessionError>, known: Known, asker: Option<&str>) {
    match (known, r) {
        (Known::Handle(owner), Ok(())) => assert_eq!(owner, asker, "a handle answered another"),
        (Known::Session, Ok(())) => panic!("a session answered as a handle"),
        (Known::Handle(owner), Err(e)) if owner == asker => assert!(
            matches!(
                e.code(),
                "HANDLE_EXPIRED" | "HANDLE_DESTROYED" | "HANDLE_NOT_FOUND" | "STATE_TOO_LARGE"
            ),
            "{e:?}"
        ),
        (_, Err(e)) => assert_eq!(e.code(), "HANDLE_NOT_FOUND", "{e:?}"),
    }
}

/// The caps and counts after every step.
fn check(s: &mut SessionStore, config: &Config) {
    let now = s.clock();
    let stats = s.stats(now).expect("stats");
    let mut total = 0;
    let mut per: BTreeMap<Option<&str>, usize> = BTreeMap::new();
    for p in PRINCIPALS {
        let list = s.list_handles(p, now).expect("list");
        for h in &list {
            assert_eq!(h.principal.as_deref(), p);
            assert!(h.expires_at > now && h.expires_at <= h.lifetime_ends_at);
        }
        per.insert(p, list.len());
        total += list.len();
    }
    assert_eq!(stats.handles_live, total, "stats count every live handle");
    assert!(total <= config.max_handles);
    if let Some(cap) = config.max_handles_per_principal {
        assert!(per.values().all(|n| *n <= cap));
    }
    assert_eq!(stats.live, s.list(now).expect("list").len());
    assert!(s
        .list(now)
        .expect("list")
        .iter()
        .all(|v| !v.id.starts_with("h_")));
    assert_eq!(stats.total_bytes, s.recount_bytes());
}
