//! Snapshot and restore of a large store through the path the file store takes
//! (issue 18's targets: 1,000,000 sessions with small state, snapshot at most
//! 0.5 s, restore at most 1 s): `snapshot_pieces` (version 3) pieces of 1 MiB
//! until done, then each piece through `Staging::add_piece` and `restore_staged`
//! into an empty store. The same through version 2 lines (`snapshot_records`,
//! `Staging::add` per line), for comparison. `BENCH_SIZES` (comma-separated)
//! picks the store sizes. And the journal's replay: `JOURNAL_RECORDS` records of
//! one session each (an `export` document, what the file store appends after a
//! change) through `Staging::add` with newest wins.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use mcp_session_core::{Config, CreateParams, InsecureSeededIds, SessionStore, Staging};
use serde_json::json;

const T0: u64 = 1_700_000_000_000;
/// The file store's piece size.
const PIECE_BYTES: usize = 1 << 20;

fn sizes() -> Vec<usize> {
    std::env::var("BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000_000])
}

fn config(n: usize) -> Config {
    Config {
        max_sessions: n,
        max_total_bytes: None,
        max_pending_events: 1,
        ..Config::default()
    }
}

/// How many journal records `journal_records` replays.
const JOURNAL_RECORDS: usize = 100_000;

/// `n` sessions as a server holds them: one of a thousand principals, the
/// `clientInfo` and capabilities every client of one program sends, state `{"n": i}`;
/// and the IDs of the first `JOURNAL_RECORDS`.
fn populated(n: usize) -> (SessionStore, Vec<String>) {
    let mut store =
        SessionStore::with_id_source(config(n), Box::new(InsecureSeededIds::new(1))).unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let params = CreateParams {
            principal: Some(format!("user-{}", i % 1_000)),
            requested_protocol_version: Some("2025-06-18".into()),
            client_info: Some(json!({"name": "claude-ai", "version": "0.1.0"})),
            capabilities: Some(json!({"roots": {"listChanged": true}})),
            state: Some(json!({"n": i})),
            ..CreateParams::default()
        };
        let id = store.create(params, T0).unwrap().id;
        store.initialized(&id, T0).unwrap();
        if ids.len() < JOURNAL_RECORDS {
            ids.push(id);
        }
    }
    store.drain_events();
    (store, ids)
}

/// A journal record per session: its `export` document.
fn journal(store: &SessionStore, ids: &[String]) -> Vec<String> {
    ids.iter()
        .map(|id| store.export(std::slice::from_ref(id), T0).unwrap())
        .collect()
}

/// A staging with every journal record replayed, newest winning.
fn replayed(records: &[String]) -> Staging {
    let mut staging = Staging::default();
    for record in records {
        staging.add(record, true).unwrap();
    }
    staging
}

/// The whole snapshot in version 3, as the file store takes it: piece after piece.
fn pieces(store: &SessionStore) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut from = Some(0);
    while let Some(start) = from {
        let (piece, next) = store.snapshot_pieces(T0, start, PIECE_BYTES).unwrap();
        out.push(piece);
        from = next;
    }
    out
}

/// A new store with every piece restored.
fn restored(n: usize, pieces: &[Vec<u8>]) -> SessionStore {
    let mut staging = Staging::default();
    for piece in pieces {
        staging.add_piece(piece, false).unwrap();
    }
    let mut store = SessionStore::new(config(n)).unwrap();
    let report = store.restore_staged(staging, T0).unwrap();
    assert_eq!(report.restored, n);
    store
}

/// The whole snapshot as version 2 lines, in pieces.
fn lines(store: &SessionStore) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = Some(0);
    while let Some(start) = from {
        let (piece, next) = store.snapshot_records(T0, start, PIECE_BYTES).unwrap();
        out.push(piece);
        from = next;
    }
    out
}

/// A new store with every line of `pieces` restored.
fn restored_lines(n: usize, pieces: &[String]) -> SessionStore {
    let mut staging = Staging::default();
    for piece in pieces {
        for line in piece.split('\n') {
            staging.add(line, false).unwrap();
        }
    }
    let mut store = SessionStore::new(config(n)).unwrap();
    let report = store.restore_staged(staging, T0).unwrap();
    assert_eq!(report.restored, n);
    store
}

fn bench(c: &mut Criterion) {
    for n in sizes() {
        let (store, ids) = populated(n);
        let records = journal(&store, &ids);
        let v3 = pieces(&store);
        let v2 = lines(&store);
        let size = |sizes: &mut dyn Iterator<Item = usize>| sizes.sum::<usize>();
        eprintln!(
            "{n} sessions: version 3 {} bytes in {} pieces, version 2 {} bytes in {} pieces",
            size(&mut v3.iter().map(Vec::len)),
            v3.len(),
            size(&mut v2.iter().map(String::len)),
            v2.len()
        );
        let mut group = c.benchmark_group(format!("snapshot/{n}"));
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(1))
            .throughput(Throughput::Elements(n as u64));
        // What is written or restored is returned, so that dropping it is not timed.
        group.bench_function(BenchmarkId::new("snapshot_pieces", n), |b| {
            b.iter(|| pieces(&store))
        });
        group.bench_function(BenchmarkId::new("restore_pieces", n), |b| {
            b.iter_batched(|| (), |()| restored(n, &v3), BatchSize::PerIteration)
        });
        group.bench_function(BenchmarkId::new("snapshot_records", n), |b| {
            b.iter(|| lines(&store))
        });
        group.bench_function(BenchmarkId::new("restore_records", n), |b| {
            b.iter_batched(|| (), |()| restored_lines(n, &v2), BatchSize::PerIteration)
        });
        group.throughput(Throughput::Elements(records.len() as u64));
        group.bench_function(BenchmarkId::new("journal_records", records.len()), |b| {
            b.iter(|| replayed(&records))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
