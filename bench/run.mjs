// One measurement in a fresh process (the parent, bench/bench.mjs, runs many):
//   node bench/run.mjs speed <size> <impl,impl,...>   every workload, each impl in turn
//   node bench/run.mjs memory <size> <impl> <stateBytes>   bytes per live session
// Prints one JSON line.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { wasmMemoryBytes } from 'mcp-session-core';
import { IMPLEMENTATIONS } from './impls.mjs';
import { elapsedNs, indices, perOp } from './measure.mjs';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
const [mode, sizeText, names, stateText] = process.argv.slice(2);
const size = Number(sizeText);
const GATE_OPS = 100_000;
const UPDATE_OPS = 50_000;




/** Every workload once on a small store, so that lazy compilation (WebAssembly
 * functions and JS alike) is not measured. */
async function warmUp(name) {
  const impl = IMPLEMENTATIONS[name](4_000);
  const ids = Array.from({ length: 2_000 }, (_, i) => impl.create({}, i % 10 === 0));
  for (let i = 0; i < 20_000; i++) impl.gate(ids[(i % 200) * 10 + 1]);
  for (let i = 0; i < 5_000; i++) impl.update(ids[(i % 200) * 10 + 1], i);
  // Several sweeps: a function called once runs in baseline code (V8 tiers a
  // WebAssembly function up on later calls), and a server sweeps again and again.
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 200; i++) impl.create({}, true);
    await impl.expireShortLived();
    impl.sweep();
  }
  impl.restore(impl.snapshot());
  impl.dispose();
}

async function speed(name) {
  process.stderr.write(`  ${name}\n`);
  const impl = IMPLEMENTATIONS[name](size * 2);
  const ids = new Array(size);
  let start = process.hrtime.bigint();
  for (let i = 0; i < size; i++) ids[i] = impl.create({}, i % 100 === 0);
  const create = elapsedNs(start) / size;

  // Gate and update touch only long-lived sessions (the 1% short-lived expire later).
  const live = ids.filter((_, i) => i % 100 !== 0);
  const pick = indices(GATE_OPS, live.length);
  const gate = perOp(GATE_OPS, (i) => impl.gate(live[pick[i]])).ns;
  const update = perOp(UPDATE_OPS, (i) => impl.update(live[pick[i]], i)).ns;

  await impl.expireShortLived();
  start = process.hrtime.bigint();
  const expired = impl.sweep();
  const sweep = elapsedNs(start);

  start = process.hrtime.bigint();
  const text = impl.snapshot();
  const restored = impl.restore(text);
  const snapshotRestore = elapsedNs(start) / live.length;
  impl.dispose();
  gc();
  return { create, gate, update, sweep, sweepExpired: expired, sweepPerExpired: sweep / Math.max(expired, 1), snapshotRestore, restored };
}

async function memory(name, stateBytes) {
  const impl = IMPLEMENTATIONS[name](size * 2);
  // The first store has the module's memory to itself: WebAssembly memory grows
  // but never shrinks, so nothing may run before this measurement.
  const filler = 'x'.repeat(Math.max(stateBytes - 16, 0));
  gc();
  gc();
  const before = process.memoryUsage().heapUsed + wasmMemoryBytes();
  const ids = new Array(size);
  // Each session gets its own state object (and its own string for 1 KiB states).
  // Buffer round trip: a flat string of its own, not a rope sharing the filler.
  const blob = (i) => Buffer.from(`${i}${filler}`).toString();
  for (let i = 0; i < size; i++) ids[i] = impl.create(stateBytes > 0 ? { blob: blob(i) } : {}, false);
  gc();
  gc();
  const after = process.memoryUsage().heapUsed + wasmMemoryBytes();
  const bytes = (after - before - size * 8) / size; // less the ids array itself
  impl.dispose();
  return { bytesPerSession: bytes };
}

const result = {};
if (mode === 'speed') {
  // Every implementation warms up before any is measured: V8 tiers WebAssembly up
  // on background threads, so otherwise whichever wasm store ran first would be
  // charged for compiling code the other then gets for free.
  for (const name of names.split(',')) await warmUp(name);
  for (const name of names.split(',')) result[name] = await speed(name); // one at a time
} else {
  result[names] = await memory(names, Number(stateText));
}
console.log(JSON.stringify({ mode, size, result }));
process.exit(0);
