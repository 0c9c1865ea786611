//! The request gate on arbitrary header values (session ID, principal, protocol
//! version) and kinds, against a store holding sessions of two principals: every
//! input is admitted or refused with a typed error and an HTTP status (a malformed
//! ID, by the harness's own rule, as `INVALID_SESSION_ID`), and a refusal changes
//! nothing.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_session_core::{Admission, CreateParams, RequestHead, RequestKind, SessionError};
use mcp_session_core_fuzz::{check_invariants, config, is_valid_id, store, Model, T0};

#[derive(Debug, Arbitrary)]
struct Request {
    /// Which existing session's ID to start from, if any.
    base: Option<u8>,
    /// Replaces the ID when set (a hostile header).
    raw_id: Option<String>,
    principal: Option<String>,
    kind: u8,
    protocol_version: Option<String>,
    later_ms: u16,
}

fuzz_target!(|requests: Vec<Request>| {
    let mut s = store(config());
    let mut model = Model::new();
    let ids: Vec<String> = ["alice", "bob"]
        .iter()
        .map(|p| {
            let params = CreateParams {
                principal: Some((*p).to_owned()),
                ..CreateParams::default()
            };
            s.create(params, T0).expect("a session").id
        })
        .collect();
    model.observe(&mut s);
    let mut now = T0;
    for r in requests.iter().take(64) {
        now += u64::from(r.later_ms);
        let id = match (&r.raw_id, r.base) {
            (Some(raw), _) => Some(raw.as_str()),
            (None, Some(i)) => ids.get(usize::from(i) % ids.len()).map(String::as_str),
            (None, None) => None,
        };
        let kind = match r.kind % 3 {
            0 => RequestKind::Initialize,
            1 => RequestKind::Initialized,
            _ => RequestKind::Other,
        };
        let head = RequestHead {
            session_id: id,
            principal: r.principal.as_deref(),
            kind,
            protocol_version: r.protocol_version.as_deref(),
        };
        // Due sessions end first, so that a refusal can be checked to change nothing.
        s.sweep(now).expect("sweep");
        model.observe(&mut s);
        let before = s.snapshot(now).expect("snapshot");
        match s.begin_request(&head, now) {
            Ok(admission) => {
                if let Some(id) = id {
                    assert!(
                        is_valid_id(id),
                        "{id:?} admitted, but it is not a valid session ID"
                    );
                    model.observe(&mut s);
                    model.request_began(id);
                    check_invariants(&mut s, &mut model);
                    s.end_request(id, now).expect("an admitted request ends");
                    model.request_ended(id);
                } else {
                    assert_eq!(admission, Admission::Initialize);
                }
            }
            Err(e) => {
                assert!((400..600).contains(&e.http_status()), "{e:?}");
                if let Some(raw) = id.filter(|raw| !is_valid_id(raw)) {
                    assert!(
                        matches!(e, SessionError::InvalidSessionId { .. }),
                        "{raw:?} is not a valid session ID, yet the gate answered {e:?}"
                    );
                }
                assert!(
                    model.observe(&mut s).is_empty(),
                    "a refusal emitted events: {e:?}"
                );
                assert_eq!(
                    s.snapshot(now).expect("snapshot"),
                    before,
                    "a refusal changed the store: {e:?}"
                );
            }
        }
    }
    check_invariants(&mut s, &mut model);
});
