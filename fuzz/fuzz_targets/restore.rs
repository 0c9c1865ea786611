//! Restore from arbitrary bytes: a snapshot that does not validate is refused with
//! a typed error and changes nothing; one that does leaves a store whose invariants
//! hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_session_core::CreateParams;
use mcp_session_core_fuzz::{check_invariants, config, ids_in, store, Model, T0};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut s = store(config());
    let mut model = Model::new();
    s.create(CreateParams::default(), T0)
        .expect("a first session");
    model.observe(&mut s);
    // Ended records come back without events: the model learns their IDs from the
    // input and classifies them by looking each up.
    model.candidates(ids_in(text));
    let before = s.snapshot(T0).expect("snapshot");
    match s.restore(text, T0) {
        Ok(_) => check_invariants(&mut s, &mut model),
        Err(e) => {
            assert!(!e.code().is_empty());
            assert!(
                model.observe(&mut s).is_empty(),
                "a refused restore emitted events"
            );
            assert_eq!(
                s.snapshot(T0).expect("snapshot"),
                before,
                "a refused restore changed the store"
            );
        }
    }
});
