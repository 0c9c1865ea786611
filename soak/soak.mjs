// npm run soak -- [--minutes N] [--sessions N] [--idle-ms N] [--store]
//
// Drives a mixed load through the package on the real clock: sessions are created
// (plainly and through the initialize handshake), gated, updated, disconnected,
// resumed, renewed, closed, and abandoned so that the manager's timer expires them,
// at a steady population. Every few seconds it prints RSS, the JS heap (after a GC)
// and WebAssembly memory; at the end it compares the peaks of the two halves after
// warm-up and fails if memory kept growing (more than 10%). With --store, every
// change is also journaled through a FileSessionStore in a scratch directory.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSessionStore, SessionManager, wasmMemoryBytes } from 'mcp-session-core';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
};
const minutes = Number(arg('minutes', '1'));
const population = Number(arg('sessions', '10000'));
const idleMs = Number(arg('idle-ms', '2000'));
const withStore = process.argv.includes('--store');
const sampleMs = Math.max(1_000, Math.min(10_000, (minutes * 60_000) / 30));
const warmUpMs = (minutes * 60_000) / 4;

const sessions = new SessionManager({
  idleTimeoutMs: idleMs,
  initTimeoutMs: idleMs,
  maxSessions: population * 3,
  maxSessionsPerPrincipal: null,
});
let dataDir;
let store;
if (withStore) {
  dataDir = mkdtempSync(join(tmpdir(), 'mcp-soak-'));
  store = new FileSessionStore({ dir: dataDir }); // compacts in the background as the journal grows
  store.attach(sessions);
}
const counts = { refused: 0, created: 0, gated: 0, updated: 0, disconnected: 0, resumed: 0, renewed: 0, closed: 0, expired: 0, abandoned: 0 };
sessions.on('expired', () => (counts.expired += 1));

/** The sessions the load still uses, by principal. Abandoned ones are dropped from
 * here and left to the manager's timer. */
const known = [];
const principals = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
let x = 2463534242;
const random = () => {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return (x >>> 0) / 2 ** 32;
};
const pick = () => Math.floor(random() * known.length);

/** Forgets `known[i]` (swap-remove). */
function drop(i) {
  known[i] = known[known.length - 1];
  known.pop();
}

/** A session the load knows may have expired meanwhile: such calls answer 404. */
function attempt(i, fn) {
  try {
    fn(known[i]);
  } catch (error) {
    if (error.httpStatus !== 404) throw error;
    drop(i);
  }
}

function create() {
  try {
    createOne();
  } catch (error) {
    // Abandoned sessions fill the store until the timer expires them: a server
    // answers 503 meanwhile, as here.
    if (error.code !== 'CAPACITY_EXCEEDED') throw error;
    counts.refused += 1;
  }
}

function createOne() {
  const principal = principals[Math.floor(random() * principals.length)];
  if (random() < 0.3) {
    const { id } = sessions.initialize({ protocolVersion: '2025-06-18', principal, clientInfo: { name: 'soak', version: '1' } });
    sessions.initialized(id);
    known.push({ id, principal, disconnected: false });
  } else {
    const id = sessions.createSession({ principal, state: { notes: [], n: 0 } });
    known.push({ id, principal, disconnected: false });
  }
  counts.created += 1;
}

function step() {
  if (known.length < population) return create();
  const i = pick();
  const r = random();
  if (r < 0.55) {
    attempt(i, (s) => {
      sessions.beginRequest({ sessionId: s.id, principal: s.principal, kind: 'other' });
      sessions.endRequest(s.id);
      s.disconnected = false;
      store?.touch(s.id);
      counts.gated += 1;
    });
  } else if (r < 0.8) {
    attempt(i, (s) => {
      const n = Math.floor(random() * 1_000);
      sessions.updateSessionState(s.id, { n, notes: random() < 0.5 ? [`note ${n}`] : null, blob: 'x'.repeat(n % 200) });
      counts.updated += 1;
    });
  } else if (r < 0.86) {
    attempt(i, (s) => {
      if (s.disconnected) {
        sessions.resumeSession(s.id, { principal: s.principal });
        counts.resumed += 1;
      } else {
        sessions.disconnectSession(s.id);
        counts.disconnected += 1;
      }
      s.disconnected = !s.disconnected;
    });
  } else if (r < 0.88) {
    // A client whose session ended comes back: a new ID carries its state over.
    attempt(i, (s) => {
      sessions.closeSession(s.id);
      s.id = sessions.renewSession(s.id, { principal: s.principal });
      s.disconnected = false;
      counts.renewed += 1;
    });
  } else if (r < 0.99) {
    if (sessions.closeSession(known[i].id)) counts.closed += 1;
    drop(i);
  } else {
    // Abandoned: nobody comes back, the manager's timer expires it.
    drop(i);
    counts.abandoned += 1;
  }
}

const mb = (bytes) => (bytes / 2 ** 20).toFixed(1);
const samples = [];
function sample(elapsedMs, ops) {
  gc();
  const { rss, heapUsed } = process.memoryUsage();
  const wasm = wasmMemoryBytes();
  const stats = sessions.stats();
  samples.push({ elapsedMs, rss, heapUsed, wasm });
  console.log(
    `${(elapsedMs / 1_000).toFixed(0).padStart(5)} s  ${String(Math.round(ops)).padStart(7)} ops/s  ` +
      `live ${String(stats.live).padStart(6)}  ended remembered ${String(stats.endedRemembered).padStart(6)}  ` +
      `rss ${mb(rss).padStart(7)} MiB  heap ${mb(heapUsed).padStart(6)} MiB  wasm ${mb(wasm).padStart(6)} MiB`,
  );
}

console.log(
  `soak: ${minutes} min, ${population} sessions, idle timeout ${idleMs} ms, ${withStore ? `file store in ${dataDir}` : 'in memory'}; ` +
    `warm-up ${(warmUpMs / 1_000).toFixed(0)} s`,
);
const start = Date.now();
const end = start + minutes * 60_000;
let nextSample = start + sampleMs;
let opsSinceSample = 0;
while (Date.now() < end) {
  for (let k = 0; k < 2_000; k++) step();
  opsSinceSample += 2_000;
  // Yield, so the manager's timer (sweeps) and the store's flush run on the real clock.
  await new Promise((resolve) => setImmediate(resolve));
  const now = Date.now();
  if (now >= nextSample) {
    sample(now - start, (opsSinceSample * 1_000) / sampleMs);
    opsSinceSample = 0;
    nextSample += sampleMs;
  }
}

console.log(`operations: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
// Memory saws up and down with GC and allocator cycles; a leak shows as peaks that
// keep rising. So the peak of the second half after warm-up is compared with the
// peak of the first half.
const after = samples.filter((s) => s.elapsedMs >= warmUpMs);
let flat = true;
if (after.length >= 4) {
  const half = Math.floor(after.length / 2);
  const peak = (list, key) => Math.max(...list.map((s) => s[key]));
  for (const [key, label] of [['rss', 'RSS'], ['heapUsed', 'JS heap'], ['wasm', 'WebAssembly memory']]) {
    const early = peak(after.slice(0, half), key);
    const late = peak(after.slice(half), key);
    const growth = (late - early) / early;
    const ok = growth <= 0.1;
    flat &&= ok;
    console.log(
      `${label}: peak ${mb(early)} MiB in the first half after warm-up, ${mb(late)} MiB in the second ` +
        `(${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%): ${ok ? 'flat' : 'GROWING'}`,
    );
  }
} else {
  console.log('too short to compare memory after warm-up');
}
store?.close();
sessions.dispose();
if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
if (counts.expired === 0 || counts.created === 0) {
  console.log('the load did not exercise expiry');
  process.exit(1);
}
process.exit(flat ? 0 : 1);
