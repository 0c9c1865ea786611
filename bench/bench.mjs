// npm run bench: the WebAssembly core (through SessionManager and the raw facade)
// against a seed-style JavaScript manager, @isaacs/ttlcache and lru-cache, on the
// same workloads, at 1,000 to 1,000,000 live sessions. Each measurement runs in a
// fresh process (bench/run.mjs); speed workloads run every implementation in the
// same process, so ratios come from the same run. Figures are medians of --runs.
//
// Two suites: "core" (bench/run.mjs: create, gate, update, sweep, snapshot+restore,
// memory) and "seed" (bench/seed-api.mjs: the seed API's own calls, in its shapes,
// through each implementation's seed-style methods, with targets checked).
//
//   node bench/bench.mjs [--suite seed|core|all] [--sizes 1000,10000,100000,1000000]
//                        [--runs 3] [--out bench/results/]
// Writes <out>/<date>.json (key `results` for the core suite, `seedApi` for the seed
// suite), <out>/latest.{json,md} and, with the core suite, <out>/latest.svg.
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { plot } from './plot.mjs';
import { seedSuite, seedMarkdown } from './seed-suite.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
};
const sizes = arg('sizes', '1000,10000,100000,1000000').split(',').map(Number);
const runs = Number(arg('runs', '3'));
const suite = arg('suite', 'all');
if (!['seed', 'core', 'all'].includes(suite)) throw new Error(`--suite must be seed, core or all, not ${suite}`);
const runCore = suite !== 'seed';
const runSeed = suite !== 'core';
const impls = ['wasm-manager', 'wasm-core', 'seed', 'ttlcache', 'lru-cache'];
const runner = fileURLToPath(new URL('./run.mjs', import.meta.url));
const out = `${resolve(arg('out', fileURLToPath(new URL('./results/', import.meta.url))))}/`;

/** Runs `script` (default bench/run.mjs) in a fresh process; answers its result. */
function child(args, script = runner, nodeFlags = []) {
  const text = execFileSync(process.execPath, ['--max-old-space-size=12288', ...nodeFlags, script, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(text.trim().split('\n').at(-1)).result;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

const results = runCore ? {} : undefined;
for (const size of runCore ? sizes : []) {
  const samples = [];
  for (let r = 0; r < runs; r++) {
    process.stderr.write(`speed: ${size} sessions, run ${r + 1}/${runs}\n`);
    samples.push(child(['speed', String(size), impls.join(',')]));
  }
  results[size] = {};
  for (const impl of impls) {
    const metrics = {};
    for (const key of Object.keys(samples[0][impl])) metrics[key] = median(samples.map((s) => s[impl][key]));
    for (const stateBytes of [0, 1024]) {
      process.stderr.write(`memory: ${impl}, ${size} sessions, ${stateBytes} B state\n`);
      metrics[`bytes${stateBytes}`] = child(['memory', String(size), impl, String(stateBytes)])[impl].bytesPerSession;
    }
    results[size][impl] = metrics;
  }
}

const columns = [
  ['create', 'create ns/op'],
  ['gate', 'gate ns/op'],
  ['update', 'update ns/op'],
  ['sweep', 'sweep 1% µs', 1e-3],
  ['snapshotRestore', 'snapshot+restore ns/session'],
  ['bytes0', 'bytes/session (empty)'],
  ['bytes1024', 'bytes/session (1 KiB)'],
];
const fmt = (v) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));
const seedApi = runSeed ? seedSuite({ sizes, runs, child, median }) : undefined;

let md = `Machine: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; ${new Date().toISOString()}; medians of ${runs} runs.\n`;
md += 'Ratio = peer / wasm-manager (above 1: the package is faster or smaller).\n\n';
for (const size of runCore ? sizes : []) {
  md += `### ${size.toLocaleString('en-US')} live sessions\n\n| implementation | ${columns.map((c) => c[1]).join(' | ')} |\n|---|${columns.map(() => '---').join('|')}|\n`;
  const ours = results[size]['wasm-manager'];
  for (const impl of impls) {
    const row = results[size][impl];
    const cells = columns.map(([key, , scale = 1]) => {
      const value = fmt(row[key] * scale);
      return impl === 'wasm-manager' ? value : `${value} (${(row[key] / ours[key]).toFixed(2)}x)`;
    });
    md += `| ${impl} | ${cells.join(' | ')} |\n`;
  }
  md += '\n';
}
if (runSeed) md += seedMarkdown(seedApi, sizes);
console.log(md);
mkdirSync(out, { recursive: true });
const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
const json = JSON.stringify({ date: new Date().toISOString(), node: process.version, runs, suite, results, seedApi }, null, 2);
writeFileSync(`${out}${stamp}.json`, json);
writeFileSync(`${out}latest.json`, json);
writeFileSync(`${out}latest.md`, md);
if (runCore) writeFileSync(`${out}latest.svg`, plot(results, sizes, impls));
process.stderr.write(`wrote ${out}${stamp}.json, ${out}latest.{json,md${runCore ? ',svg' : ''}}\n`);
