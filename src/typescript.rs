//! The TypeScript declarations of the values that cross to JS as plain objects,
//! generated from the Rust types themselves: each derives `ts_rs::TS` in tests
//! (serde's renames, tags and options read as serde reads them), and the test here
//! writes what they declare to [`PATH`], which the facade puts into the package's
//! `.d.ts`. The test fails while the committed file says anything else, so the
//! TypeScript types cannot drift from the Rust ones: after changing a type, run
//! `WRITE_TS_TYPES=1 cargo test --lib typescript` and commit the file.

use std::path::Path;

use ts_rs::{Config as TsConfig, TS};

use crate::answer::ClientAnswer;
use crate::config::{CapacityPolicy, Config};
use crate::ended::Lookup;
use crate::error::{EndReason, ForbiddenReason, InvalidIdReason, SessionError};
use crate::events::{Event, EventKind};
use crate::request::{Admission, CreateParams, Handshake, RequestHead, RequestKind};
use crate::request_state::Refusal;
use crate::session::RecordKind;
use crate::session::{EndedView, Phase, SessionView};
use crate::snapshot::RestoreReport;
use crate::store::{Expiry, HandleView, Stats};

/// Where the declarations are committed, from the crate's root.
const PATH: &str = "bindings/wasm/src/types.generated.d.ts";

const HEADER: &str = "\
// Generated from the Rust types of mcp-session-core by the test in src/typescript.rs:
// do not edit. After changing a type, run `WRITE_TS_TYPES=1 cargo test --lib typescript`.
// Json, JsonObject and Capabilities are declared beside this (bindings/wasm/src/types.rs).
";

/// One type's declaration: its doc comment, then `export type ...`.
fn declaration<T: TS>(config: &TsConfig) -> String {
    format!(
        "\n{}export {}\n",
        T::docs().unwrap_or_default(),
        T::decl(config)
    )
}

/// Every declaration, in a fixed order. Numbers are JS numbers: the core keeps
/// every integer it hands out within 2^53 - 1 (times, counts, versions).
fn declarations() -> String {
    let config = TsConfig::new().with_large_int("number");
    let declarations = [
        declaration::<Config>(&config),
        declaration::<CapacityPolicy>(&config),
        declaration::<CreateParams>(&config),
        declaration::<Phase>(&config),
        declaration::<EndReason>(&config),
        declaration::<SessionView>(&config),
        declaration::<EndedView>(&config),
        declaration::<Lookup>(&config),
        declaration::<RequestKind>(&config),
        declaration::<RequestHead<'_>>(&config),
        declaration::<Admission>(&config),
        declaration::<Handshake>(&config),
        declaration::<Expiry>(&config),
        declaration::<Stats>(&config),
        declaration::<RestoreReport>(&config),
        declaration::<EventKind>(&config),
        declaration::<Event>(&config),
        declaration::<SessionError>(&config),
        declaration::<InvalidIdReason>(&config),
        declaration::<ForbiddenReason>(&config),
        declaration::<ClientAnswer>(&config),
        declaration::<RecordKind>(&config),
        declaration::<HandleView>(&config),
        declaration::<Refusal>(&config),
    ];
    let mut text = HEADER.to_owned();
    for declaration in declarations {
        text.push_str(&declaration);
    }
    text
}

/// The names of a fieldless enum's variants, in declaration order, as its derived
/// TypeScript union lists them (the derive sees every variant).
fn union_names<T: TS>() -> Vec<String> {
    T::inline(&TsConfig::new())
        .split(" | ")
        .map(|name| name.trim_matches('"').to_owned())
        .collect()
}

/// The names of `all`, as serde writes them.
fn names<T: serde::Serialize>(all: &[T]) -> Vec<String> {
    all.iter()
        .map(|v| {
            serde_json::to_value(v)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn every_all_list_names_every_variant_in_declaration_order() {
    assert_eq!(names(&EventKind::ALL), union_names::<EventKind>());
    assert_eq!(names(&Phase::ALL), union_names::<Phase>());
    assert_eq!(names(&EndReason::ALL), union_names::<EndReason>());
    assert_eq!(names(&Refusal::ALL), union_names::<Refusal>());
    for (n, kind) in EventKind::ALL.into_iter().enumerate() {
        assert_eq!(kind as usize, n);
    }
    for (n, phase) in Phase::ALL.into_iter().enumerate() {
        assert_eq!(phase as usize, n);
    }
    for (n, reason) in EndReason::ALL.into_iter().enumerate() {
        assert_eq!(reason as usize, n);
    }
}

#[test]
fn the_committed_declarations_are_what_the_rust_types_declare() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(PATH);
    let generated = declarations();
    if std::env::var_os("WRITE_TS_TYPES").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{PATH} is not what the Rust types declare: {}\n\
         After changing a type, run `WRITE_TS_TYPES=1 cargo test --lib typescript` and commit the file.",
        first_difference(&committed, &generated),
    );
}

/// Where two texts first differ: the line, and the text around the first differing
/// character on each side (declarations are long lines).
fn first_difference(committed: &str, generated: &str) -> String {
    let at = committed
        .bytes()
        .zip(generated.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(committed.len().min(generated.len()));
    let line = committed.get(..at).unwrap_or("").lines().count().max(1);
    // The declarations are ASCII; were a cut to fall inside a character, the
    // whole rest is shown instead.
    let around = |text: &str| {
        let (start, end) = (at.saturating_sub(40), (at + 40).min(text.len()));
        let cut = text.get(start..end).or_else(|| text.get(start..));
        cut.unwrap_or(text).to_owned()
    };
    format!(
        "line {line}\n  committed: ...{:?}...\n  generated: ...{:?}...",
        around(committed),
        around(generated)
    )
}
