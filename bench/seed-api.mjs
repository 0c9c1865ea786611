// The seed-API suite, one measurement in a fresh process (bench/bench.mjs runs many):
//   node bench/seed-api.mjs speed <size> <impl,impl,...>   createSession, getSession,
//        updateSessionState, closeSession: every implementation in turn, same process
//   node bench/seed-api.mjs cleanup <size> <impl> [ttlMs]   cleanupExpiredSessions after
//        a touch pass (ttlMs: the first TTL to try for a real-time store)
//   node bench/seed-api.mjs expiry <size>   mass expiry through the package manager's timer
//   node bench/seed-api.mjs memory <size> <impl>   bytes per live session
// Prints one JSON line. The calls are the seed API's, in its shapes (see
// bench/seed-api-impls.mjs); every ID a workload passes is a fresh flat copy of the
// one createSession returned (as a header parsed from a request would be), made
// before the timed loop, so no implementation gets an already hashed string.
import { PerformanceObserver, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { mock } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SessionManager, wasmMemoryBytes } from 'mcp-session-core';
import { IDLE_MS, MANUAL_CLOCK, make, seedCreate } from './seed-api-impls.mjs';
import { elapsedNs, indices, perOp } from './measure.mjs';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
const [mode, sizeText, names, ttlText] = process.argv.slice(2);
const size = Number(sizeText);

const GET_OPS = 200_000;
const UPDATE_OPS = 50_000;
const CLOSE_OPS = 10_000;
const MINUTE = 60_000;
const T0 = 1_700_000_000_000;
/** The manual clock of the package's manager and the seed-style manager. */
let now = T0;
const clock = () => now;


/** `count` distinct indices below `range`, in a deterministic random order. */
function distinct(count, range, seed = 777) {
  const all = Uint32Array.from({ length: range }, (_, i) => i);
  const r = indices(count, 2 ** 31, seed);
  for (let i = 0; i < count; i++) {
    const j = i + (r[i] % (range - i));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.subarray(0, count);
}

/** A new flat string equal to `id`: not the string the store holds or hashed. */
const fresh = (id) => Buffer.from(id).toString();
const headersFor = (ids, picks) => Array.from(picks, (k) => fresh(ids[k]));

const immediate = () => new Promise((resolve) => setImmediate(resolve));
/** Sleeps without returning to the event loop (no timer of a store can run). */
const sleepSync = (ms) => {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.ceil(ms));
};


const notNull = (session) => {
  if (session === null) throw new Error('getSession answered null for a live session');
};

/** Every method once on a small store, so that lazy compilation is not measured. */
function warmUp(name) {
  now = T0;
  const impl = make(name, { capacity: 8_000, clock });
  const { create } = seedCreate(impl);
  for (let round = 0; round < 3; round++) {
    const ids = Array.from({ length: 2_000 }, () => (now++, create()));
    const headers = headersFor(ids, indices(20_000, ids.length));
    for (let i = 0; i < headers.length; i++) notNull(impl.getSession(headers[i]));
    for (let i = 0; i < 5_000; i++) impl.updateSessionState(headers[i], { counter: i, lastTool: 'list_nodes' });
    for (let i = 0; i < 500; i++) impl.closeSession(fresh(ids[i]));
    now += IDLE_MS + 1;
    impl.cleanupExpiredSessions();
  }
  impl.dispose();
  if (!MANUAL_CLOCK.has(name)) {
    // A store on real time expires nothing above: a 2 ms TTL runs the expiry path.
    for (let round = 0; round < 3; round++) {
      const short = make(name, { capacity: 8_000, clock, ttlMs: 2 });
      const { create: createShort } = seedCreate(short);
      for (let i = 0; i < 2_000; i++) createShort();
      sleepSync(5);
      short.cleanupExpiredSessions();
      short.dispose();
    }
  }
}

/** Workloads 1 to 4. The manual clock moves 1 ms per call, so that every touch
 * moves a deadline as it does on a real clock. */
function speed(name) {
  process.stderr.write(`  ${name}\n`);
  now = T0;
  const impl = make(name, { capacity: size * 2, clock });
  const { create, shape, refusal } = seedCreate(impl);
  const ids = new Array(size);
  const start = process.hrtime.bigint();
  for (let i = 0; i < size; i++) {
    now++;
    ids[i] = create();
  }
  const createSession = elapsedNs(start) / size;

  let headers = headersFor(ids, indices(GET_OPS, size));
  const get = perOp(GET_OPS, (i) => {
    now++;
    notNull(impl.getSession(headers[i]));
  });

  headers = headersFor(ids, indices(UPDATE_OPS, size, 54321));
  const update = perOp(UPDATE_OPS, (i) => {
    now++;
    impl.updateSessionState(headers[i], { counter: i, lastTool: 'list_nodes' });
  });

  // 10,000 distinct sessions, or half the store when it is smaller than 20,000.
  headers = headersFor(ids, distinct(Math.min(CLOSE_OPS, Math.floor(size / 2)), size));
  const close = perOp(headers.length, (i) => {
    now++;
    if (impl.closeSession(headers[i]) === false) throw new Error('closeSession: not live');
  });
  headers = null;
  impl.dispose();
  gc();
  return {
    createSession,
    getSession: get.ns,
    getSessionCalls: get.done,
    updateSessionState: update.ns,
    updateSessionStateCalls: update.done,
    closeSession: close.ns,
    closeSessionCalls: close.done,
    capabilities: shape,
    capabilitiesRefusal: refusal,
  };
}

/** The slowest calls of a pass, with when they ran (performance.now() times). */
class Slowest {
  constructor(keep = 1_024) {
    this.keep = keep;
    this.calls = [];
    this.floor = 0;
    this.total = 0;
    this.count = 0;
  }
  add(start, end) {
    const d = end - start;
    this.total += d;
    this.count++;
    if (d <= this.floor && this.calls.length >= this.keep) return;
    this.calls.push({ start, end, d });
    if (this.calls.length > this.keep * 2) {
      this.calls.sort((a, b) => b.d - a.d).length = this.keep;
      this.floor = this.calls.at(-1).d;
    }
  }
  /** The slowest call, and the slowest that no GC pause overlapped. */
  report(gcs) {
    const calls = this.calls.sort((a, b) => b.d - a.d);
    const overlaps = (c) => gcs.some((g) => c.start < g.startTime + g.duration && g.startTime < c.end);
    const clean = calls.find((c) => !overlaps(c));
    return {
      touchMaxMs: calls[0]?.d ?? 0,
      // No clean call among the slowest kept: every one of them met a GC pause, so
      // the slowest clean call is at most the fastest kept one.
      touchMaxNoGcMs: clean?.d ?? calls.at(-1)?.d ?? 0,
      touchMeanNs: (this.total / Math.max(this.count, 1)) * 1e6,
    };
  }
}

function watchGc() {
  const entries = [];
  const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  return {
    async collect() {
      await new Promise((resolve) => setTimeout(resolve, 20));
      entries.push(...observer.takeRecords());
      observer.disconnect();
      return entries;
    },
  };
}

/**
 * Workload 5: N sessions created at t0 (idle timeout 30 min); at t0 + 20 min
 * getSession on all but every 100th; at t0 + 31 min one cleanupExpiredSessions(),
 * which must expire exactly that 1%. Each getSession of the touch pass is timed
 * on its own.
 *
 * lru-cache and ttlcache have no injectable clock, so they run the same story on
 * real time with the TTL scaled down: TTL = ttlMs; the touch pass starts GAP_MS
 * after the last create ("t0 + 20 min"); the cleanup runs at (end of creates) +
 * ttlMs + GAP_MS / 2 ("t0 + 31 min"): past every untouched deadline (at most
 * end of creates + ttlMs), before every touched one (at least start of touches +
 * ttlMs). ttlMs must exceed the create and touch passes together (no session may
 * expire before it is touched): it starts at 1 s + 8 µs per session (or the
 * TTL argument: bench/bench.mjs passes the one the previous run used); if a touch
 * missed or the count is not 1%, one retry uses 1.5 times the measured create +
 * gap + touch time + 1 s, at least double.
 * Sleeps are synchronous (Atomics.wait), so ttlcache's own purge timer cannot take
 * the 1% first. A touch pass over TOUCH_BUDGET_MS is cut short: no cleanup figure,
 * `overBudget`.
 */
const GAP_MS = 200;
/** A touch pass longer than this is cut short and the workload reported as over budget. */
const TOUCH_BUDGET_MS = 30_000;
async function cleanup(name) {
  warmUp(name);
  gc();
  const manual = MANUAL_CLOCK.has(name);
  const expected = Math.ceil(size / 100);
  const gcWatch = watchGc();
  let ttlMs = manual ? IDLE_MS : Number(ttlText) || Math.round(1_000 + size * 0.008);
  let result;
  for (let attempt = 0; attempt < 2; attempt++) {
    now = T0;
    const impl = make(name, { capacity: size * 2, clock, ttlMs });
    const { create } = seedCreate(impl);
    let ids = new Array(size);
    const createStart = performance.now();
    for (let i = 0; i < size; i++) ids[i] = create();
    const createEnd = performance.now();
    if (manual) now = T0 + 20 * MINUTE;
    else sleepSync(GAP_MS);

    const slowest = new Slowest();
    let misses = 0;
    let touched = 0;
    let overBudget = false;
    const touchStart = performance.now();
    for (let i = 0; i < size; i++) {
      if (i % 100 === 0) continue;
      const id = ids[i];
      const start = performance.now();
      const session = impl.getSession(id);
      const end = performance.now();
      slowest.add(start, end);
      touched++;
      if (session === null) misses++;
      if (i % 1_000 === 1 && end - touchStart > TOUCH_BUDGET_MS) {
        overBudget = true;
        break;
      }
    }
    const touchEnd = performance.now();
    if (overBudget) {
      process.stderr.write(`  ${name}: touch pass over its ${TOUCH_BUDGET_MS / 1000} s budget; no cleanup measured\n`);
      ids = null;
      impl.dispose();
      const report = slowest.report(await gcWatch.collect());
      return { overBudget: true, touched, cleanupMs: null, cleanupExpired: null, cleanupExpected: expected, touchMisses: misses, ...report, valid: false };
    }
    let cleanupMs = null;
    let count = null;
    if (misses === 0 || manual) {
      if (manual) now = T0 + 31 * MINUTE;
      else sleepSync(createEnd + ttlMs + GAP_MS / 2 - performance.now());
      const start = performance.now();
      const expired = impl.cleanupExpiredSessions();
      cleanupMs = performance.now() - start;
      count = expired.length;
    }
    ids = null;
    impl.dispose();
    result = { overBudget: false, touched, cleanupMs, cleanupExpired: count, cleanupExpected: expected, touchMisses: misses, slowest };
    if (!manual) result.ttlMs = ttlMs;
    if (manual || (misses === 0 && count === expected)) break;
    // Sessions must outlive the create pass and the whole touch pass: size the TTL
    // from this attempt's.
    const next = Math.ceil(1.5 * (touchEnd - createStart) + 1_000);
    process.stderr.write(`  ${name}: ttl ${ttlMs} ms too short (misses ${misses}, expired ${count}); retrying with ${next} ms\n`);
    ttlMs = Math.max(next, ttlMs * 2);
    gc();
  }
  const { slowest, ...rest } = result;
  return { ...rest, ...slowest.report(await gcWatch.collect()), valid: rest.touchMisses === 0 && rest.cleanupExpired === expected };
}

/**
 * Workload 6 (the package's manager only): N sessions created at t0 all expire
 * together, and the manager's own timer ends them. setTimeout is node:test's mock
 * (the timer fires on mock.timers.tick once the manual clock is past the
 * deadline); setImmediate is real, so batches after the first run on the real
 * event loop. Measures the longest event-loop turn (the synchronous first batch,
 * then the time between successive turns of our own setImmediate poll, each of
 * which holds at most one batch), the loop delay monitor's maximum as a check,
 * the time until no live session is left, and the batches (sweepPaused events + 1;
 * 1 when the build has no such event).
 */
async function expiry() {
  mock.timers.enable({ apis: ['setTimeout'] });
  // A smaller mass expiry first, so the sweep code is compiled and tiered up.
  for (let round = 0; round < 3; round++) await massExpiry(25_000);
  gc();
  return massExpiry(size);
}

async function massExpiry(count) {
  now = T0;
  const m = new SessionManager({ clock, maxSessions: 2 * count, maxEndedRemembered: 100_000, maxTotalBytes: null });
  const { create } = seedCreate(m);
  for (let i = 0; i < count; i++) create();
  const pausedAt = [];
  let endedReported = 0;
  const onPaused = (event) => {
    pausedAt.push(performance.now());
    endedReported += event.ended ?? 0;
  };
  let sweepPausedSupported = true;
  try {
    m.on('sweepPaused', onPaused);
  } catch {
    sweepPausedSupported = false;
    m.off('sweepPaused', onPaused);
  }
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await immediate();
  await immediate();

  now = T0 + IDLE_MS + 1;
  const start = performance.now();
  mock.timers.tick(IDLE_MS + 1);
  let last = performance.now();
  const firstTurnMs = last - start;
  let maxTurnMs = firstTurnMs;
  let turns = 1;
  while (m.nextDeadline() !== null) {
    await immediate();
    mock.timers.tick(0); // a timer armed for "now" fires, as a real one would next turn
    const t = performance.now();
    maxTurnMs = Math.max(maxTurnMs, t - last);
    last = t;
    turns++;
    if (t - start > 120_000) throw new Error('mass expiry: sessions still live after 120 s');
  }
  const totalMs = performance.now() - start;
  histogram.disable();
  const leftover = m.cleanupExpiredSessions().length;
  let maxBatchGapMs = null;
  for (let i = 1; i < pausedAt.length; i++) maxBatchGapMs = Math.max(maxBatchGapMs ?? 0, pausedAt[i] - pausedAt[i - 1]);
  const batchSize = m.config.sweepBatchSize ?? null;
  m.dispose();
  return {
    sessions: count,
    firstTurnMs,
    maxTurnMs,
    loopDelayMaxMs: histogram.max / 1e6,
    maxBatchGapMs,
    totalMs,
    batches: pausedAt.length + 1,
    turns,
    sweepPausedSupported,
    endedReportedByPauses: endedReported,
    sweepBatchSize: batchSize,
    allExpired: leftover === 0,
  };
}

/** Workload 7: bytes per live session with the seed's fields (as run.mjs's memory mode). */
function memory(name) {
  const impl = make(name, { capacity: size * 2, clock });
  // The probe (one create and close) runs before the baseline: WebAssembly memory
  // grows but never shrinks, so nothing else may run before this measurement.
  const { create } = seedCreate(impl);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed + wasmMemoryBytes();
  const ids = new Array(size);
  for (let i = 0; i < size; i++) ids[i] = create();
  gc();
  gc();
  const after = process.memoryUsage().heapUsed + wasmMemoryBytes();
  const bytesPerSession = (after - before - size * 8) / size; // less the ids array itself
  impl.dispose();
  return { bytesPerSession };
}

const result = {};
if (mode === 'speed') {
  // Every implementation warms up before any is measured (see run.mjs).
  for (const name of names.split(',')) warmUp(name);
  gc();
  for (const name of names.split(',')) result[name] = speed(name);
} else if (mode === 'cleanup') {
  result[names] = await cleanup(names);
} else if (mode === 'expiry') {
  result['wasm-manager'] = await expiry();
} else if (mode === 'memory') {
  result[names] = memory(names);
} else {
  throw new Error(`unknown mode ${mode}`);
}
console.log(JSON.stringify({ mode, size, result }));
process.exit(0);
