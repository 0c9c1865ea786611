//! Native benchmarks of the core (criterion), on the workloads of `npm run bench`:
//! create, the request gate, a small state update, sweep with 1% expiring, snapshot
//! then restore, at 1,000 to 1,000,000 live sessions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use mcp_session_core::{
    Config, CreateParams, InsecureSeededIds, RequestHead, RequestKind, SessionStore,
};
use serde_json::json;

const T0: u64 = 1_700_000_000_000;

fn sizes() -> Vec<usize> {
    std::env::var("BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000, 1_000_000])
}

/// A store with `n` sessions, 1% of them with a 1 ms idle timeout.
fn populated(n: usize) -> (SessionStore, Vec<String>) {
    let config = Config {
        max_sessions: n * 2,
        max_total_bytes: None,
        max_ended_remembered: n,
        max_pending_events: 1,
        ..Config::default()
    };
    let mut store =
        SessionStore::with_id_source(config, Box::new(InsecureSeededIds::new(1))).unwrap();
    let ids = (0..n)
        .map(|i| {
            let params = CreateParams {
                idle_timeout_ms: (i % 100 == 0).then_some(1),
                ..CreateParams::default()
            };
            store.create(params, T0).unwrap().id
        })
        .collect();
    (store, ids)
}

fn pick(ids: &[String], i: usize) -> &str {
    // Skips the short-lived 1% (every 100th) and spreads over the store.
    let k = (i.wrapping_mul(7_919) % ids.len()) | 1;
    &ids[k.min(ids.len() - 1)]
}

fn bench(c: &mut Criterion) {
    for n in sizes() {
        let (mut store, ids) = populated(n);
        let mut group = c.benchmark_group(format!("core/{n}"));
        group.throughput(Throughput::Elements(1));
        let mut i = 0usize;
        group.bench_function(BenchmarkId::new("gate", n), |b| {
            b.iter(|| {
                i += 1;
                let id = pick(&ids, i);
                let head = RequestHead {
                    session_id: Some(id),
                    principal: None,
                    kind: RequestKind::Other,
                    protocol_version: None,
                };
                store.begin_request(&head, T0).unwrap();
                store.end_request(id, T0).unwrap();
            })
        });
        group.bench_function(BenchmarkId::new("update", n), |b| {
            b.iter(|| {
                i += 1;
                store
                    .update_state(pick(&ids, i), &json!({ "n": i }), None, T0)
                    .unwrap();
            })
        });
        group.bench_function(BenchmarkId::new("create", n), |b| {
            b.iter_batched(
                || (),
                |()| {
                    let id = store.create(CreateParams::default(), T0).unwrap().id;
                    store.close(&id, T0).unwrap();
                },
                BatchSize::SmallInput,
            )
        });
        group.sample_size(10);
        group.bench_function(BenchmarkId::new("sweep-1pct", n), |b| {
            b.iter_batched(
                || populated(n).0,
                // The store is returned so that dropping it is not timed.
                |mut s| {
                    let ended = s.sweep(T0 + 2).unwrap().len();
                    (s, ended)
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_function(BenchmarkId::new("snapshot-restore", n), |b| {
            b.iter(|| {
                let text = store.snapshot(T0).unwrap();
                let mut fresh = SessionStore::new(store.config().clone()).unwrap();
                fresh.restore(&text, T0).unwrap().restored
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
