// The seed-API suite's driver (bench/bench.mjs runs it with --suite seed or all):
// runs bench/seed-api.mjs in fresh processes, takes medians, checks the targets and
// writes the markdown. See bench/seed-api.mjs for the workloads.
import { fileURLToPath } from 'node:url';
import { NAMES } from './seed-api-impls.mjs';

const script = fileURLToPath(new URL('./seed-api.mjs', import.meta.url));
const REF = 'wasm-manager';
/** The sizes the targets name; every one is listed, measured or not. */
const TARGET_SIZES = [1_000, 10_000, 100_000, 1_000_000];

/** Medians of numbers (null if any sample has none), AND of booleans, the first of anything else. */
function merge(samples, median) {
  const merged = {};
  for (const key of Object.keys(samples[0])) {
    const values = samples.map((s) => s[key]);
    if (values.every((v) => typeof v === 'number')) merged[key] = median(values);
    else if (values.every((v) => typeof v === 'boolean')) merged[key] = values.every(Boolean);
    else merged[key] = values[0] ?? null;
  }
  return merged;
}

export function seedSuite({ sizes, runs, child, median }) {
  const seedApi = { impls: NAMES, reference: REF, sizes: {}, massExpiry: {} };
  for (const size of sizes) {
    const row = Object.fromEntries(NAMES.map((name) => [name, {}]));

    const speed = [];
    for (let r = 0; r < runs; r++) {
      process.stderr.write(`seed API speed: ${size} sessions, run ${r + 1}/${runs}\n`);
      speed.push(child(['speed', String(size), NAMES.join(',')], script));
    }
    for (const name of NAMES) Object.assign(row[name], merge(speed.map((s) => s[name]), median));

    for (const name of NAMES) {
      const samples = [];
      for (let r = 0; r < runs; r++) {
        process.stderr.write(`seed API cleanup after touches: ${name}, ${size} sessions, run ${r + 1}/${runs}\n`);
        // A real-time store starts from the TTL the previous run settled on.
        const ttl = samples.at(-1)?.ttlMs;
        const sample = child(['cleanup', String(size), name, ...(ttl ? [String(ttl)] : [])], script)[name];
        samples.push(sample);
        if (sample.overBudget) break; // the other runs would be over budget too
      }
      Object.assign(row[name], merge(samples, median), { cleanupRuns: samples.length });
    }

    for (const name of NAMES) {
      process.stderr.write(`seed API memory: ${name}, ${size} sessions\n`);
      row[name].bytesPerSession = child(['memory', String(size), name], script)[name].bytesPerSession;
    }

    const expiry = [];
    for (let r = 0; r < runs; r++) {
      process.stderr.write(`seed API mass expiry: ${REF}, ${size} sessions, run ${r + 1}/${runs}\n`);
      expiry.push(child(['expiry', String(size)], script, ['--disable-warning=ExperimentalWarning'])[REF]);
    }
    seedApi.sizes[size] = row;
    seedApi.massExpiry[size] = merge(expiry, median);
  }
  seedApi.targets = targets(seedApi, sizes);
  return seedApi;
}

const withCommas = (v) => Math.round(v).toLocaleString('en-US');
/** Three significant figures or so, thousands separated. */
function num(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return 'n/a';
  if (v >= 100) return withCommas(v);
  if (v >= 10) return v.toFixed(1);
  if (v >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}
const ratioText = (r) => (r >= 100 ? `${Math.round(r)}x` : `${r.toFixed(2)}x`);
const sizeText = (size) => size.toLocaleString('en-US');

function targets(seedApi, sizes) {
  const all = [...new Set([...TARGET_SIZES, ...sizes])].sort((a, b) => a - b);
  const list = [];
  const row = (size) => seedApi.sizes[size];
  const notRun = (name, size, target) =>
    list.push({ name, size, figure: null, target, status: 'not measured', text: `n/a (size not run)` });
  /** seed / wasm-manager for `key`, against `min`. */
  const vsSeed = (name, size, key, min, unit) => {
    const target = `>= ${min}x`;
    if (!row(size)) return notRun(name, size, target);
    const seed = row(size).seed[key];
    const ours = row(size)[REF][key];
    const figure = seed / ours;
    const met = figure >= min;
    list.push({
      name, size, figure, target, status: met ? 'met' : 'missed',
      text: `${ratioText(figure)} (seed ${num(seed)} ${unit} / wasm-manager ${num(ours)} ${unit})`,
    });
  };
  vsSeed('getSession vs seed', 10_000, 'getSession', 0.5, 'ns');
  vsSeed('getSession vs seed', 1_000_000, 'getSession', 1, 'ns');
  for (const size of all) vsSeed('createSession vs seed', size, 'createSession', 1, 'ns');
  for (const size of [100_000, 1_000_000]) vsSeed('updateSessionState vs seed', size, 'updateSessionState', 1, 'ns');
  for (const size of all) vsSeed('memory per session, seed / wasm-manager', size, 'bytesPerSession', 3, 'B');
  vsSeed('cleanupExpiredSessions after touches, seed / wasm-manager', 1_000_000, 'cleanupMs', 50, 'ms');
  for (const size of all) {
    const name = 'max single getSession during the touch pass (wasm-manager)';
    const target = '<= 5 ms';
    if (!row(size)) {
      notRun(name, size, target);
      continue;
    }
    const r = row(size)[REF];
    // Judged without calls that a GC pause overlapped (not bookkeeping); both shown.
    const met = r.touchMaxNoGcMs <= 5;
    list.push({
      name, size, figure: r.touchMaxNoGcMs, target, status: met ? 'met' : 'missed',
      text: `${num(r.touchMaxNoGcMs)} ms without GC pauses (${num(r.touchMaxMs)} ms with them)`,
    });
  }
  for (const size of all) {
    const name = 'mass expiry, longest event-loop turn (wasm-manager timer)';
    const e = seedApi.massExpiry[size];
    if (!e) {
      notRun(name, size, 'report');
      continue;
    }
    list.push({
      name, size, figure: e.maxTurnMs, target: 'report', status: 'reported',
      text: `${num(e.maxTurnMs)} ms (${e.batches} batch${e.batches === 1 ? '' : 'es'}, all ended in ${num(e.totalMs)} ms)`,
    });
  }
  return list;
}

export function seedMarkdown(seedApi, sizes) {
  let md = '## Seed API suite\n\n';
  md +=
    "The seed API's calls in its shapes, through each implementation's seed-style methods " +
    '(`createSession({ clientId, capabilities })`, `getSession(id)`, `updateSessionState(id, { counter, lastTool })`, ' +
    '`closeSession(id)`, `cleanupExpiredSessions()`). wasm-manager is the package\'s `SessionManager` and seed ' +
    '`bench/seed-manager.mjs`, both on one manual clock (it moves 1 ms per call in the ns/op workloads); ' +
    'ttlcache and lru-cache hold the seed\'s session object as the value and run on their own real-time clocks. ' +
    'Every ID passed is a fresh flat copy of the returned one. getSession: 200,000 random existing IDs; ' +
    'updateSessionState: 50,000; closeSession: 10,000 distinct (half the store below 20,000); each within 3 s. ' +
    'Cleanup: N sessions at t0, getSession on 99% at t0 + 20 min, one cleanupExpiredSessions() at t0 + 31 min ' +
    '(ttlcache, lru-cache: scaled to a short real TTL, see bench/seed-api.mjs); its max getSession is one call timed ' +
    'alone, shown without calls a GC pause overlapped (with them in brackets). Memory: one run, JS heap + WebAssembly ' +
    'memory after GC, seed fields and empty state.\n\n';
  for (const size of sizes) {
    const row = seedApi.sizes[size];
    const ours = row[REF];
    const cell = (name, key) => {
      const v = row[name][key];
      if (v === null || v === undefined) return 'n/a';
      return name === REF ? num(v) : `${num(v)} (${ratioText(v / ours[key])})`;
    };
    md += `### ${sizeText(size)} live sessions (seed API)\n\n`;
    md +=
      '| implementation | createSession ns/op | getSession ns/op | updateSessionState ns/op | closeSession ns/op ' +
      '| cleanupExpiredSessions after touches ms | expired | max getSession in touch pass ms | bytes/session |\n' +
      '|---|---|---|---|---|---|---|---|---|\n';
    for (const name of seedApi.impls) {
      const r = row[name];
      const expired = r.overBudget
        ? `touch pass over budget (${withCommas(r.touched)} calls)`
        : `${withCommas(r.cleanupExpired)} of ${withCommas(r.cleanupExpected)}${r.valid ? '' : ' (invalid)'}`;
      const touch = `${num(r.touchMaxNoGcMs)} (${num(r.touchMaxMs)})`;
      md += `| ${name} | ${cell(name, 'createSession')} | ${cell(name, 'getSession')} | ${cell(name, 'updateSessionState')} | ${cell(name, 'closeSession')} | ${cell(name, 'cleanupMs')} | ${expired} | ${touch} | ${cell(name, 'bytesPerSession')} |\n`;
    }
    md += '\n';
    const realTime = seedApi.impls.filter((name) => row[name].ttlMs !== undefined && row[name].ttlMs !== null);
    if (realTime.length > 0) {
      md += `Real-time TTL in the cleanup workload: ${realTime.map((name) => `${name} ${withCommas(row[name].ttlMs)} ms`).join(', ')}.\n`;
    }
    const capped = seedApi.impls.filter((name) => (row[name].getSessionCalls ?? Infinity) < 200_000 || (row[name].updateSessionStateCalls ?? Infinity) < 50_000);
    if (capped.length > 0) {
      md += `Cut short by the 3 s budget: ${capped.map((name) => `${name} (getSession ${withCommas(row[name].getSessionCalls)}, updateSessionState ${withCommas(row[name].updateSessionStateCalls)} calls)`).join(', ')}.\n`;
    }
    for (const name of seedApi.impls.filter((n) => row[n].capabilities !== 'array')) {
      md += `**${name} refused the seed's \`capabilities: ['tools', 'resources']\`** (${row[name].capabilitiesRefusal}); it was measured with \`{ tools: {}, resources: {} }\`, the others with the array.\n`;
    }
    const e = seedApi.massExpiry[size];
    if (e) {
      md +=
        `Mass expiry through wasm-manager's timer (${sizeText(size)} sessions due at once): longest event-loop turn ${num(e.maxTurnMs)} ms ` +
        `(first batch ${num(e.firstTurnMs)} ms; event-loop delay monitor max ${num(e.loopDelayMaxMs)} ms), ` +
        `all ended in ${num(e.totalMs)} ms, ${e.batches} batch${e.batches === 1 ? '' : 'es'} over ${e.turns} turn${e.turns === 1 ? '' : 's'}` +
        (e.sweepPausedSupported
          ? ` (sweepBatchSize ${e.sweepBatchSize ?? 'n/a'}${e.maxBatchGapMs === null ? '' : `; longest time between sweepPaused events ${num(e.maxBatchGapMs)} ms`})`
          : ' (this build has no sweepPaused event: one batch)') +
        `${e.allExpired ? '' : '; NOT all expired'}.\n`;
    }
    md += '\n';
  }
  md += '### Targets (seed API)\n\n';
  for (const t of seedApi.targets) {
    md += `target: ${t.name} at ${sizeText(t.size)} — ${t.text} vs ${t.target} — ${t.status}\n`;
  }
  return `${md}\n`;
}
