//! Arbitrary sequences of every store operation, at arbitrary times (including a
//! clock that goes back), on IDs that exist, ended or never did: no operation
//! panics, a refused one changes nothing, and the invariants hold after each.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_session_core::{CreateParams, RequestHead, RequestKind, SessionStore};
use mcp_session_core_fuzz::{check_invariants, config, store, T0};
use serde_json::json;

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
    /// Sweep fully before the operation, so that a refusal can be checked to change
    /// nothing; without it, sessions a bounded call left due carry over.
    settle: bool,
    /// Milliseconds to move the clock; negative moves it back.
    dt: i16,
}

const PRINCIPALS: [Option<&str>; 3] = [None, Some("alice"), Some("bob")];

fn principal(i: u8) -> Option<&'static str> {
    PRINCIPALS[usize::from(i) % PRINCIPALS.len()]
}

fn target(ids: &[String], i: u8) -> &str {
    ids.get(usize::from(i))
        .map_or("never-issued", String::as_str)
}

/// Runs one operation; answers whether it was refused.
fn apply(s: &mut SessionStore, ids: &mut Vec<String>, op: &Op, now: u64) -> bool {
    let result: Result<(), mcp_session_core::SessionError> = match *op {
        Op::Create {
            principal: p,
            idle_ms,
            initialize,
        } => {
            let params = CreateParams {
                principal: principal(p).map(str::to_owned),
                idle_timeout_ms: idle_ms.map(u64::from),
                requested_protocol_version: initialize.then(|| "2025-06-18".to_owned()),
                ..CreateParams::default()
            };
            s.create(params, now).map(|v| ids.push(v.id))
        }
        Op::Initialized { target: t } => s.initialized(target(ids, t), now),
        Op::Begin {
            target: t,
            principal: p,
            kind,
        } => {
            let head = RequestHead {
                session_id: Some(target(ids, t)),
                principal: principal(p),
                kind: if kind % 2 == 0 {
                    RequestKind::Other
                } else {
                    RequestKind::Initialized
                },
                protocol_version: None,
            };
            s.begin_request(&head, now).map(|_| ())
        }
        Op::End { target: t } => s.end_request(target(ids, t), now),
        Op::Update {
            target: t,
            value,
            expected,
        } => s
            .update_state(
                target(ids, t),
                &json!({ "n": value }),
                expected.map(u64::from),
                now,
            )
            .map(|_| ()),
        Op::Replace { target: t, size } => s
            .replace_state(
                target(ids, t),
                json!({ "pad": "x".repeat(usize::from(size) % 3_000) }),
                None,
                now,
            )
            .map(|_| ()),
        Op::Disconnect { target: t } => s.disconnect(target(ids, t), now),
        Op::Resume {
            target: t,
            principal: p,
        } => s.resume(target(ids, t), principal(p), now).map(|_| ()),
        Op::Close { target: t } => s.close(target(ids, t), now),
        Op::Expire { target: t } => s.expire(target(ids, t), now),
        Op::Renew {
            target: t,
            principal: p,
        } => s
            .renew(target(ids, t), principal(p), now)
            .map(|v| ids.push(v.id)),
        Op::Touch { target: t } => {
            let id = target(ids, t).to_owned();
            s.find_ref(&id, now).map(|found| {
                if let Some(found) = found {
                    let record = s.record(found).expect("a reference just found reads");
                    assert_eq!(record.id(), id);
                    let live = matches!(record.status(), mcp_session_core::Status::Live(_));
                    assert_eq!(live, s.peek(&id, now).is_ok(), "record and peek agree");
                    assert!(record.state().is_object());
                    if live {
                        assert!(record.expires_at().is_none_or(|at| at > now));
                    }
                }
            })
        }
        Op::ClearAll => s.clear_all(now).map(|_| ()),
        Op::SweepBatch { limit } => s
            .sweep_batch_with(now, usize::from(limit), |_, _, _| {})
            .map(|_| ()),
        Op::Sweep => s.sweep(now).map(|_| ()),
        Op::Reload => {
            let text = s.snapshot(now).expect("snapshot");
            let mut fresh = store(s.config().clone());
            fresh.restore(&text, now).expect("a snapshot restores");
            *s = fresh;
            Ok(())
        }
    };
    if let Err(e) = &result {
        assert!((400..600).contains(&e.http_status()), "{e:?}");
        assert!(!e.code().is_empty());
    }
    result.is_err()
}

fuzz_target!(|steps: Vec<Step>| {
    let mut s = store(config());
    let mut ids = Vec::new();
    let mut now = T0;
    for step in steps.iter().take(128) {
        now = now.saturating_add_signed(i64::from(step.dt));
        if step.settle {
            s.sweep(now).expect("sweep");
        }
        let before = s.snapshot(now).expect("snapshot");
        if apply(&mut s, &mut ids, &step.op, now) && step.settle {
            assert_eq!(
                s.snapshot(now).expect("snapshot"),
                before,
                "a refused {:?} changed the store",
                step.op
            );
        }
        check_invariants(&mut s, now);
    }
});
