// npm run bench:store: the embedded file store (FileSessionStore) at 100,000 and
// 1,000,000 sessions, through the built package.
//
// 1. Durable changes: `updateSessionState` on random sessions, one after another,
//    each on its own turn of the event loop (as a request would be) and timed from
//    the moment it was scheduled to the call's return, so that whatever background
//    compaction work ran in between counts: p50, p99, max over --changes changes,
//    (a) with the default settings ("quiet": the journal does not reach the
//    compaction threshold in the window) and (b) with a compaction running all along
//    ("compacting": one starts as the window opens, the next as soon as one ends,
//    each to the end: snapshot fsynced, renamed, old files removed). Against the
//    floor measured in the same process on the same disk: an append + fsync of a
//    record of the same size, timed the same way, before and after the store.
// 2. Restart: examples/server.mjs on a data directory of --restart-size sessions
//    built with the package (SessionManager + FileSessionStore, sessions made through
//    the handler's initialize path, so in the very format the server writes), from
//    process start to the first successful tools/call on a restored session:
//    (a) right after a compaction (the snapshot alone), (b) with as much journal as
//    the default threshold lets a start find (as large as the snapshot).
//
//   node bench/store.mjs [--sizes 100000,1000000] [--changes 10000]
//                        [--restart-size 1000000] [--runs 3] [--out bench/results/]
// Writes <out>/store-<date>.json and <out>/store-latest.{json,md}.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
};
const self = fileURLToPath(import.meta.url);
const server = fileURLToPath(new URL('../examples/server.mjs', import.meta.url));
const DAY = 24 * 3_600_000;
const MAX_TOTAL_BYTES = 2 ** 31;
const NODE_FLAGS = ['--max-old-space-size=8192'];
const now = () => performance.now();
const immediate = () => new Promise((resolve) => setImmediate(resolve));
const scratch = (what) => fs.mkdtempSync(join(arg('tmp', tmpdir()), `mcp-bench-store-${what}-`));

/** Percentiles and the like of samples in ms. */
function summary(samples) {
  const sorted = Float64Array.from(samples).sort();
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return { n: sorted.length, mean, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: sorted[sorted.length - 1] };
}

/**
 * Runs `op` `count` times, each on its own turn: `seen` is from the moment it was
 * scheduled (setImmediate) to its return, what a request arriving then would wait;
 * `call` is the call alone.
 */
async function timed(count, op, { more = () => false, cap = count } = {}) {
  const seen = [];
  const call = [];
  const at = [];
  for (let i = 0; i < count || (more() && i < cap); i++) {
    const scheduled = now();
    await immediate();
    const start = now();
    op(i);
    const end = now();
    seen.push(end - scheduled);
    call.push(end - start);
    at.push(scheduled);
  }
  return { seen, call, at };
}

/** What overlapped the slowest `n` changes: garbage collections, activity batches. */
function causes({ seen, at }, events, n = 10) {
  const order = seen.map((_, i) => i).sort((a, b) => seen[b] - seen[a]).slice(0, n);
  return order.map((i) => {
    const from = at[i];
    const to = from + seen[i];
    const during = events.filter((e) => e.start <= to && e.start + e.ms >= from).map((e) => `${e.what} ${e.ms.toFixed(1)} ms`);
    return { ms: seen[i], during };
  });
}

/** The floor: append + fsync of `bytes`-byte records to a file in `dir`. */
async function floor(dir, bytes, count) {
  const path = join(dir, `floor.${process.pid}.bin`);
  const fd = fs.openSync(path, 'a', 0o600);
  const record = Buffer.alloc(bytes, 0x78);
  record[bytes - 1] = 0x0a;
  try {
    return await timed(count, () => {
      fs.writeSync(fd, record, 0, record.length);
      fs.fsyncSync(fd);
    });
  } finally {
    fs.closeSync(fd);
    fs.unlinkSync(path);
  }
}

/** Turns of the event loop while `promise` is pending: how many, and the longest
 * gap between two (the longest stretch of other work, such as a compaction's piece). */
async function turnsDuring(promise) {
  let done = false;
  const result = promise.then((value) => {
    done = true;
    return value;
  });
  let turns = 0;
  let longest = 0;
  let last = now();
  while (!done) {
    await immediate();
    const t = now();
    longest = Math.max(longest, t - last);
    last = t;
    turns += 1;
  }
  return { value: await result, turns, longestTurnMs: longest };
}

// ----- children -----

async function latencyChild(size, changes) {
  const { SessionManager, FileSessionStore } = await import('mcp-session-core');
  const { PerformanceObserver } = await import('node:perf_hooks');
  const events = [];
  const GC_KINDS = { 1: 'minor GC', 2: 'major GC', 4: 'incremental marking', 8: 'weak callbacks' };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) events.push({ start: e.startTime, ms: e.duration, what: GC_KINDS[e.detail?.kind] ?? 'GC' });
  }).observe({ entryTypes: ['gc'] });
  const dir = scratch('latency');
  const m = new SessionManager({ maxSessions: size + 1_000, maxTotalBytes: MAX_TOTAL_BYTES, idleTimeoutMs: DAY });
  // The IDs as bytes, each made a string when used (as a server reads one from a
  // header): a million strings kept in the JS heap would make the benchmark's own
  // garbage collections part of the measure.
  const ids = Buffer.alloc(size * 32);
  let t = now();
  for (let i = 0; i < size; i++) {
    const id = m.createSession({
      clientId: 'bench-client',
      capabilities: ['tools'],
      principal: `user-${i % 1_000}`,
      state: { counter: 0, lastTool: 'list_nodes' },
    });
    ids.write(id, i * 32, 'latin1');
  }
  const populateMs = now() - t;
  const options = JSON.parse(process.env.BENCH_STORE_OPTIONS ?? '{}');
  const store = new FileSessionStore({ dir, ...options });
  // Activity batches (every activityFlushMs, each session touched since the last)
  // are timed, to tell them apart in the slowest changes.
  const save = store.save.bind(store);
  store.save = (changes) => {
    const start = now();
    try {
      save(changes);
    } finally {
      if (changes.cause !== 'call') events.push({ start, ms: now() - start, what: `${changes.cause} batch of ${changes.records.length} B` });
    }
  };
  t = now();
  store.attach(m); // restores nothing; a compaction starts in the background
  const attachMs = now() - t;
  t = now();
  const initial = await turnsDuring(store.compactInBackground());
  const initialMs = now() - t;
  const snapshotBytes = store.status.snapshotBytes;
  let random = 0x9e3779b9;
  const pick = () => {
    random ^= random << 13;
    random ^= random >>> 17;
    random ^= random << 5;
    const at = ((random >>> 0) % size) * 32;
    return ids.toString('latin1', at, at + 32);
  };
  let counter = 0;
  const change = () => m.updateSessionState(pick(), { counter: ++counter, lastTool: 'update_node' });
  // Warm-up (compiled code, the record's size: the median of what one change adds
  // to the journal, activity batches aside), not measured.
  const sizes = [];
  await timed(1_000, (i) => {
    const before = store.status.journalBytes;
    change(i);
    sizes.push(store.status.journalBytes - before);
  });
  const recordBytes = sizes.sort((a, b) => a - b)[sizes.length >> 1];

  const floorBefore = await floor(dir, recordBytes, changes);
  const quietStart = store.status;
  const quiet = await timed(changes, change);
  const quietCompactions = store.status.compactions - quietStart.compactions;

  let running = true;
  let compactionsDone = 0;
  let compactionsStarted = 0;
  const compactions = (async () => {
    while (running) {
      compactionsStarted += 1;
      if (await store.compactInBackground()) compactionsDone += 1;
    }
  })();
  let duringCompaction = 0;
  // At least `changes`, and until a compaction has run from its start to its end
  // within the phase (at a million sessions, one takes some 85,000 turns).
  const compacting = await timed(changes, (i) => {
    if (store.status.compacting) duringCompaction += 1;
    change(i);
  }, { more: () => compactionsDone < 1, cap: changes * 30 });
  running = false;
  await compactions;
  const floorAfter = await floor(dir, recordBytes, changes);
  store.close();
  m.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
  const both = (a, b) => ({ seen: [...a.seen, ...b.seen], call: [...a.call, ...b.call] });
  const stats = ({ seen, call }) => ({ seen: summary(seen), call: summary(call) });
  const slowest = (phase) => causes(phase, events);
  return {
    size,
    changes,
    populateMs,
    attachMs,
    initialCompaction: { ms: initialMs, turns: initial.turns, longestTurnMs: initial.longestTurnMs, snapshotBytes },
    recordBytes,
    floor: { before: stats(floorBefore), after: stats(floorAfter), all: stats(both(floorBefore, floorAfter)) },
    quiet: { ...stats(quiet), compactions: quietCompactions, slowest: slowest(quiet) },
    compacting: { ...stats(compacting), compactionsStarted, compactionsDone, changesDuringCompaction: duringCompaction, slowest: slowest(compacting) },
  };
}

/** The initialize request the v1 SDK client sends. */
const INITIALIZE = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench-client', version: '1.0.0' } },
};

/**
 * A data directory for the example server: `size` sessions made as its handler makes
 * them (admitInitialize, initialize with the principal, initialized), each with a
 * little state, compacted into one snapshot (in the background, as the server does);
 * with `journal`, then as many changes as
 * make the journal as large as the snapshot (written without fsync: only the files'
 * contents matter here), left as a crash leaves them.
 */
async function buildChild(size, dir, journal) {
  const { SessionManager, FileSessionStore, admitInitialize } = await import('mcp-session-core');
  const m = new SessionManager({ maxSessions: size + 1_000, maxTotalBytes: MAX_TOTAL_BYTES, idleTimeoutMs: DAY });
  const handshake = admitInitialize('application/json, text/event-stream', 'application/json', INITIALIZE);
  const ids = new Array(size);
  for (let i = 0; i < size; i++) {
    const session = m.initialize({ ...handshake, principal: `user-${i % 1_000}` });
    m.initialized(session.id);
    m.updateSessionState(session.id, { counter: i % 100, notes: ['hello'] });
    ids[i] = session.id;
  }
  const quick = { ...fs, fsyncSync: () => {} };
  const store = new FileSessionStore({ dir, io: quick, compactPercentage: 1e9 });
  store.attach(m);
  // Written as the server writes its snapshots: by a background compaction.
  await store.compactInBackground();
  const snapshotBytes = store.status.snapshotBytes;
  let updates = 0;
  if (journal) {
    while (store.status.journalBytes < snapshotBytes) {
      const id = ids[(updates * 7_919) % size];
      m.updateSessionState(id, { counter: updates, notes: ['hello', `n${updates % 10}`] });
      updates += 1;
    }
  }
  // The sessions to call after the restart: the first, and the last one changed.
  const probe = { id: ids[0], principal: 'user-0', protocolVersion: handshake.protocolVersion };
  return { size, snapshotBytes, journalBytes: store.status.journalBytes, journalRecords: updates, probe, files: fs.readdirSync(dir) };
  // Dropped without close: a crash (close would compact the journal away).
}

// ----- the parent -----

function child(args) {
  const text = execFileSync(process.execPath, [...NODE_FLAGS, self, '--child', ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(text.trim().split('\n').at(-1));
}

/** Starts the example server on `dir`; resolves with the time to its first
 * successful tools/call on `probe`'s session. */
async function restartOnce(dir, probe, size) {
  const start = now();
  const proc = spawn(process.execPath, [...NODE_FLAGS, server], {
    env: {
      ...process.env,
      PORT: '0',
      DATA_DIR: dir,
      MAX_SESSIONS: String(size + 1_000),
      MAX_TOTAL_BYTES: String(MAX_TOTAL_BYTES),
      IDLE_TIMEOUT_MS: String(DAY),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  try {
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 300_000);
      proc.stdout.on('data', (chunk) => {
        output += chunk;
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      proc.stderr.on('data', (chunk) => (output += chunk));
      proc.once('exit', (code) => reject(new Error(`server exited (${code}): ${output}`)));
    });
    const listening = now() - start;
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${probe.principal}`,
        'mcp-session-id': probe.id,
        'mcp-protocol-version': probe.protocolVersion,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'counter_increment', arguments: { by: 1 } } }),
    });
    const body = await res.text();
    const firstCall = now() - start;
    if (res.status !== 200 || !body.includes('"result"') || body.includes('"isError":true')) {
      throw new Error(`the first tools/call failed: ${res.status} ${body.slice(0, 300)}`);
    }
    const restored = Number(/restored sessions: (\d+)/.exec(output)?.[1]);
    return { listeningMs: listening, firstCallMs: firstCall, restored };
  } finally {
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
  }
}

async function restart(size, journal, runs) {
  const dir = scratch(journal ? 'restart-journal' : 'restart');
  process.stderr.write(`restart: building ${size.toLocaleString('en')} sessions${journal ? ' + a journal as large as the snapshot' : ''}\n`);
  const built = child(['build', String(size), dir, journal ? '1' : '0']);
  const samples = [];
  for (let r = 0; r < runs; r++) {
    process.stderr.write(`restart: run ${r + 1}/${runs}\n`);
    samples.push(await restartOnce(dir, built.probe, size));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const median = (key) => [...samples.map((s) => s[key])].sort((a, b) => a - b)[Math.floor(samples.length / 2)];
  return { ...built, runs: samples, listeningMs: median('listeningMs'), firstCallMs: median('firstCallMs') };
}

const ms = (value) => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));
const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

function markdown(report) {
  const lines = [];
  lines.push(`Machine: ${report.machine}; ${report.date}; commit ${report.commit}. Command: \`${report.command}\`. Load average (1 min) at the start and end: ${report.load.map((l) => l.toFixed(2)).join(' and ')}.`);
  lines.push('');
  lines.push('Each change scheduled on its own turn and timed to its return ("seen": what a request arriving then waits, background work included); "call" is the call alone. Floor: append + fsync of a record of the same size, same disk, same process, timed the same way (before and after the store, pooled).');
  lines.push('');
  lines.push('| sessions | what | p50 ms | p99 ms | max ms | p99 / floor p99 | max / floor p99 | compactions in the window |');
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const r of report.latency) {
    const f = r.floor.all.seen;
    const row = (what, s, extra) =>
      lines.push(`| ${r.size.toLocaleString('en')} | ${what} | ${ms(s.p50)} | ${ms(s.p99)} | ${ms(s.max)} | ${(s.p99 / f.p99).toFixed(2)}x | ${(s.max / f.p99).toFixed(1)}x | ${extra} |`);
    row(`floor (${r.recordBytes} B records)`, f, '');
    row('quiet (default settings)', r.quiet.seen, String(r.quiet.compactions));
    row(`compacting all along (${r.compacting.seen.n.toLocaleString('en')} changes)`, r.compacting.seen, `${r.compacting.compactionsDone} finished (${r.compacting.changesDuringCompaction.toLocaleString('en')} changes during one)`);
    row('compacting, call alone', r.compacting.call, '');
  }
  lines.push('');
  lines.push('| sessions | snapshot | a compaction with nothing else to do (background) | longest event-loop turn meanwhile |');
  lines.push('|---|---|---|---|');
  for (const r of report.latency) {
    const c = r.initialCompaction;
    lines.push(`| ${r.size.toLocaleString('en')} | ${mb(c.snapshotBytes)} | ${ms(c.ms)} ms | ${ms(c.longestTurnMs)} ms |`);
  }
  lines.push('');
  lines.push('The five slowest changes of each phase, and what overlapped them (garbage collections; activity batches, which rewrite every session touched since the last; otherwise the disk, or a compaction turn):');
  lines.push('');
  for (const r of report.latency) {
    for (const phase of ['quiet', 'compacting']) {
      const list = r[phase].slowest.slice(0, 5).map((x) => `${ms(x.ms)} ms${x.during.length ? ` (${x.during.join(', ')})` : ''}`);
      lines.push(`- ${r.size.toLocaleString('en')}, ${phase}: ${list.join('; ')}`);
    }
  }
  lines.push('');
  lines.push('Restart: examples/server.mjs, from process start to the first successful tools/call on a restored session (median of runs; each run listed).');
  lines.push('');
  lines.push('| sessions | data directory | listening | first tools/call OK | runs (first call, ms) |');
  lines.push('|---|---|---|---|---|');
  for (const r of report.restart) {
    const what = r.journalRecords > 0
      ? `snapshot ${mb(r.snapshotBytes)} + journal ${mb(r.journalBytes)} (${r.journalRecords.toLocaleString('en')} records)`
      : `snapshot ${mb(r.snapshotBytes)}`;
    lines.push(`| ${r.size.toLocaleString('en')} | ${what} | ${ms(r.listeningMs)} ms | **${ms(r.firstCallMs)} ms** | ${r.runs.map((x) => ms(x.firstCallMs)).join(', ')} |`);
  }
  lines.push('');
  lines.push('Targets: durable change p99 at most 3x the floor p99, max at most 20x the floor p99 (compactions included); restart at most 3 s at 1,000,000.');
  lines.push('');
  lines.push('| target | figure | status |');
  lines.push('|---|---|---|');
  for (const r of report.latency) {
    const f = r.floor.all.seen.p99;
    const s = r.compacting.seen;
    lines.push(`| p99 at ${r.size.toLocaleString('en')} ≤ 3x floor p99 (${ms(f)} ms) | ${ms(s.p99)} ms (${(s.p99 / f).toFixed(2)}x) | ${s.p99 <= 3 * f ? 'met' : '**missed**'} |`);
    lines.push(`| max at ${r.size.toLocaleString('en')} ≤ 20x floor p99 | ${ms(s.max)} ms (${(s.max / f).toFixed(1)}x) | ${s.max <= 20 * f ? 'met' : '**missed**'} |`);
  }
  for (const r of report.restart) {
    const label = r.journalRecords > 0 ? 'with a full journal' : 'after a compaction';
    lines.push(`| restart at ${r.size.toLocaleString('en')}, ${label} ≤ 3 s | ${(r.firstCallMs / 1000).toFixed(2)} s | ${r.firstCallMs <= 3_000 ? 'met' : '**missed**'} |`);
  }
  return `${lines.join('\n')}\n`;
}

async function main() {
  if (process.argv[2] === '--child') {
    const [, , , what, ...rest] = process.argv;
    const result = what === 'latency'
      ? await latencyChild(Number(rest[0]), Number(rest[1]))
      : await buildChild(Number(rest[0]), rest[1], rest[2] === '1');
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0); // a build's store is dropped, not closed: as a crash leaves it
  }
  const sizes = arg('sizes', '100000,1000000').split(',').filter(Boolean).map(Number);
  const changes = Number(arg('changes', '10000'));
  const restartSize = Number(arg('restart-size', '1000000'));
  const runs = Number(arg('runs', '3'));
  const out = `${resolve(arg('out', fileURLToPath(new URL('./results/', import.meta.url))))}/`;
  const loadAtStart = loadavg()[0];
  const latency = [];
  for (const size of sizes) {
    process.stderr.write(`latency: ${size.toLocaleString('en')} sessions, ${changes.toLocaleString('en')} changes per phase\n`);
    latency.push(child(['latency', String(size), String(changes)]));
  }
  const restarts = [];
  if (restartSize > 0) {
    restarts.push(await restart(restartSize, false, runs));
    restarts.push(await restart(restartSize, true, runs));
  }
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) }).trim();
  } catch {
    // not a checkout
  }
  const date = new Date().toISOString();
  const report = {
    date,
    commit,
    machine: `${cpus()[0]?.model.trim()} x${cpus().length}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, data in ${arg('tmp', tmpdir())}`,
    command: `node bench/store.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    load: [loadAtStart, loadavg()[0]],
    latency,
    restart: restarts,
  };
  fs.mkdirSync(out, { recursive: true });
  const stamp = date.slice(0, 19).replace(/[T:]/g, '-');
  fs.writeFileSync(`${out}store-${stamp}.json`, `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(`${out}store-latest.json`, `${JSON.stringify(report, null, 2)}\n`);
  const md = markdown(report);
  fs.writeFileSync(`${out}store-latest.md`, md);
  process.stdout.write(md);
}

await main();
