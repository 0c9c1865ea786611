//! Restore from arbitrary bytes: a snapshot that does not validate is refused with
//! a typed error and changes nothing; one that does leaves a store whose invariants
//! hold. Input starting with byte 0 is read as version 3 pieces (the next byte is
//! the first piece's length, the rest the second piece); any other as text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_session_core::{CreateParams, RestoreReport, SessionError, SessionStore, Staging};
use mcp_session_core_fuzz::{check_invariants, config, ids_in, store, Model, T0};

fuzz_target!(|data: &[u8]| {
    let mut s = store(config());
    let mut model = Model::new();
    s.create(CreateParams::default(), T0)
        .expect("a first session");
    model.observe(&mut s);
    let before = s.snapshot(T0).expect("snapshot");
    let result = match data.split_first() {
        Some((0, rest)) => restore_pieces(&mut s, rest),
        _ => {
            let Ok(text) = std::str::from_utf8(data) else {
                return;
            };
            // Ended records come back without events: the model learns their IDs
            // from the input and classifies them by looking each up.
            model.candidates(ids_in(text));
            s.restore(text, T0)
        }
    };
    match result {
        Ok(_) => {
            // A binary input's IDs are bytes: the model learns them from what
            // the store now holds.
            model.candidates(ids_in(&s.snapshot(T0).expect("snapshot")));
            check_invariants(&mut s, &mut model)
        }
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

/// Restores `bytes` as two version 3 pieces, with newest wins (as the file store
/// stages a snapshot taken across turns) when the first byte is odd.
fn restore_pieces(
    s: &mut SessionStore,
    bytes: &[u8],
) -> Result<RestoreReport, SessionError> {
    let (first, rest, newest_wins) = match bytes.split_first() {
        Some((&n, rest)) => {
            let (first, rest) = rest.split_at(usize::from(n).min(rest.len()));
            (first, rest, n % 2 == 1)
        }
        None => (bytes, &[][..], false),
    };
    let mut staging = Staging::default();
    staging.add_piece(first, newest_wins)?;
    staging.add_piece(rest, newest_wins)?;
    s.restore_staged(staging, T0)
}
