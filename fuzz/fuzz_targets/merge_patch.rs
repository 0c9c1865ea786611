//! Merge patches (RFC 7396) of arbitrary JSON, with and without compare-and-set: a
//! patch is applied whole, raising the version by one and leaving an object within
//! the size limit, or refused with a typed error, leaving state and version as
//! they were.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_session_core::CreateParams;
use mcp_session_core_fuzz::{check_invariants, config, store, Model, T0};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let mut s = store(config());
    let mut model = Model::new();
    let id = s.create(CreateParams::default(), T0).expect("a session").id;
    model.observe(&mut s);
    // Each line is a patch; a leading '=' replaces the whole state instead.
    for (i, line) in data.split(|b| *b == b'\n').take(16).enumerate() {
        let (replace, json) = match line.split_first() {
            Some((b'=', rest)) => (true, rest),
            _ => (false, line),
        };
        let Ok(value) = serde_json::from_slice::<Value>(json) else {
            continue;
        };
        let now = T0 + i as u64;
        let before = s.get(&id, now).expect("the session is live");
        let expected = (i % 3 == 0).then_some(before.version);
        let result = if replace {
            s.replace_state(&id, value, expected, now)
        } else {
            s.update_state(&id, &value, expected, now)
        };
        let after = s.peek(&id, now).expect("the session is live");
        // A change's event carries its version (the model checks it is one more).
        model.observe(&mut s);
        assert_eq!(
            model.entry(&id).and_then(|e| e.version),
            Some(after.version),
            "the events' version against the store's"
        );
        match result {
            Ok(version) => {
                assert_eq!(version, before.version + 1);
                assert_eq!(after.version, version);
                assert!(after.state.is_object());
                let size = serde_json::to_string(&after.state)
                    .expect("state serializes")
                    .len();
                assert!(size <= s.config().max_state_bytes, "state of {size} bytes");
            }
            Err(e) => {
                assert!((400..600).contains(&e.http_status()), "{e:?}");
                assert_eq!(
                    after.state, before.state,
                    "a refused patch changed the state"
                );
                assert_eq!(after.version, before.version);
            }
        }
    }
    check_invariants(&mut s, &mut model);
});
