// npm run bench:fleet: the example server (`node examples/server.mjs`, importing the
// built package by its name, as `npm start` runs it) over HTTP, on the file store and
// on Redis, alone and three behind nginx. It reports:
//
// 1. Redis round trips per gated request, measured: N requests of each shape, one
//    after another, against one Redis-backed instance; the difference in Redis
//    `INFO commandstats` divided by N; and, from MONITOR, which scripts they were
//    (fetch and commit are awaited by the call that sends them, a touch is not).
// 2. Requests per second and p50/p99 latency of tools/call requests on existing
//    sessions (a read, session_info; a state change, counter_increment): W workers,
//    each with one request at a time on a random session, for a fixed time, response
//    streams read to the end, over raw HTTP (node:http, keep-alive). At each size
//    (10,000 and 100,000 sessions, made beforehand with initialize +
//    notifications/initialized over raw HTTP):
//    - one instance on the file store;
//    - one instance on Redis (the one that made the sessions), with appendfsync
//      always, then everysec;
//    - three instances on Redis behind nginx (round-robin): that one and two fresh
//      ones, which rebuild each session's transport on its first request there.
// 3. The CPU each process used during each run (/proc/<pid>/stat: utime + stime),
//    as a share of the run's wall time (100% = one core).
// 4. Redis memory per session: INFO used_memory before and after making them.
//
//   node bench/fleet.mjs [--quick] [--sizes 10000,100000] [--seconds 10] [--workers 32]
//                        [--rt-requests 200] [--setups file,redis] [--out bench/results/]
// BENCH_QUICK=1 is --quick (1,000 sessions, 2 s runs, 50 requests per shape: a smoke
// test). BENCH_SECONDS, BENCH_WORKERS and BENCH_SIZES override those too. A full run
// writes <out>/fleet-<date>.json and <out>/fleet-latest.md.
//
// Redis runs as the tests run it (pkg-tests/support/redis.mjs): AOF on, fsync before
// every reply (appendfsync always), as the file store fsyncs every change before it
// is acknowledged; everysec is measured too. While the sessions are being made (not
// measured) it runs with appendfsync no. Every child process and scratch directory
// is removed at the end, and on an error or a signal (pkg-tests/support/process.mjs).
import http from 'node:http';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { startRedis } from '../pkg-tests/support/redis.mjs';
import { startBalancer } from '../pkg-tests/support/balancer.mjs';
import { removeDir, spawnServer, terminate, trackDir, waitUntil } from '../pkg-tests/support/process.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const serverScript = join(root, 'examples', 'server.mjs');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
};
const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
const sizes = (arg('sizes', process.env.BENCH_SIZES) ?? (quick ? '1000' : '10000,100000')).split(',').map(Number);
const seconds = Number(arg('seconds', process.env.BENCH_SECONDS) ?? (quick ? 2 : 10));
const workers = Number(arg('workers', process.env.BENCH_WORKERS) ?? 32);
const rtRequests = Number(arg('rt-requests', quick ? 50 : 200));
const setups = arg('setups', 'file,redis').split(',');
const out = arg('out', quick ? undefined : fileURLToPath(new URL('./results/', import.meta.url)));
const warmupMs = Math.min(2_000, (seconds * 1_000) / 5);
const createConcurrency = 64;
const users = 1_000; // sessions belong to user0 … user999 (bearer tokens)
const PROTOCOL = '2025-06-18';
// Each 2025-era session holds an SDK server and transport in the instance that
// serves it (~55 KB of JS heap, ~80 KB of RSS here): 100,000 of them pass Node's
// default heap limit (~4 GiB on this machine), so the instances get more.
const HEAP_MB = Number(process.env.BENCH_HEAP_MB ?? 12_288);
const KEY = Buffer.alloc(32, 7).toString('base64url');
for (const s of setups) if (!['file', 'redis'].includes(s)) throw new Error(`unknown setup ${s}`);

const log = (line) => process.stderr.write(`[bench:fleet] ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const started = Date.now();
const loadStart = loadavg().map((l) => l.toFixed(2)).join(' ');

// ---------------------------------------------------------------- processes

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system, all threads) a process has used so far. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3 (state)
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // fields 14 and 15
}

/** CPU seconds every process on the machine has used so far (/proc/stat). */
function machineCpuSeconds() {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = ticks;
  return (user + nice + system + irq + softirq + steal) / CLK_TCK;
}

function rssBytes(pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
}

/** `node examples/server.mjs` on a free port, as users start it; resolves once it
 * prints its address. */
async function startInstance(env) {
  const dataDir = trackDir(mkdtempSync(join(tmpdir(), 'mcp-bench-data-')));
  const child = spawnServer(process.execPath, [`--max-old-space-size=${HEAP_MB}`, serverScript], {
    cwd: root,
    env: {
      ...process.env,
      PORT: '0',
      DATA_DIR: dataDir,
      REQUEST_STATE_KEY: KEY,
      MAX_SESSIONS: '200000',
      IDLE_TIMEOUT_MS: String(24 * 3_600_000),
      ...env,
    },
  });
  let port;
  await waitUntil(child, 'the example server', () => {
    const match = /listening on http:\/\/127\.0\.0\.1:(\d+)\/mcp/.exec(child.output);
    if (match) port = Number(match[1]);
    return port !== undefined;
  }, { timeoutMs: 30_000 });
  return {
    child,
    port,
    pid: child.pid,
    async stop() {
      await terminate(child, 'SIGTERM', 15_000);
      removeDir(dataDir);
    },
  };
}

// ---------------------------------------------------------------- HTTP

/** One POST to /mcp; resolves when the whole response (an SSE stream included) is read. */
function post(agent, port, headers, body) {
  return new Promise((resolvePost, reject) => {
    const req = http.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        path: '/mcp',
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => resolvePost({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const agentFor = (sockets) => new http.Agent({ keepAlive: true, maxSockets: sockets });

const initializeBody = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'bench-fleet', version: '1.0.0' } },
});
const initializedBody = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });
const toolBody = (id, name, args = {}) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
const sessionHeaders = (session) => ({
  authorization: `Bearer ${session.user}`,
  'mcp-session-id': session.id,
  'mcp-protocol-version': PROTOCOL,
});

/** Makes `count` sessions through `port` (initialize + notifications/initialized),
 * `createConcurrency` at a time; appends them to `sessions`. */
async function createSessions(port, count, sessions) {
  const agent = agentFor(createConcurrency);
  const first = sessions.length;
  let next = 0;
  let lastReport = Date.now();
  const t0 = Date.now();
  const one = async (n) => {
    const user = `user${n % users}`;
    const init = await post(agent, port, { authorization: `Bearer ${user}` }, initializeBody);
    const id = init.headers['mcp-session-id'];
    if (init.status !== 200 || !id || !init.body.includes('"result"')) throw new Error(`initialize: ${init.status} ${init.body}`);
    const session = { id, user };
    const ack = await post(agent, port, sessionHeaders(session), initializedBody);
    if (ack.status !== 202) throw new Error(`notifications/initialized: ${ack.status} ${ack.body}`);
    sessions.push(session);
  };
  await Promise.all(
    Array.from({ length: createConcurrency }, async () => {
      while (next < count) {
        await one(first + next++);
        if (Date.now() - lastReport > 10_000) {
          lastReport = Date.now();
          log(`  ${sessions.length - first} / ${count} sessions made`);
        }
      }
    }),
  );
  agent.destroy();
  const ms = Date.now() - t0;
  log(`  made ${count} sessions in ${(ms / 1000).toFixed(1)} s (${Math.round((count / ms) * 1000)}/s)`);
  return ms;
}

/** A small, seeded PRNG (xorshift32). */
function random(seed) {
  // Scrambled first (murmur3's finalizer): nearby seeds start far apart.
  let x = seed >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  x = (x ^ (x >>> 16)) >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const SHAPES = {
  read: { tool: 'session_info', label: 'read (session_info)' },
  write: { tool: 'counter_increment', label: 'state change (counter_increment)' },
};

/** `workers` loops, each POSTing one tools/call at a time on a random session, for
 * warm-up then `seconds`; answers what the measured part did. */
async function load(port, sessions, shape, pids, hooks = {}) {
  const agent = agentFor(workers);
  // The same draws in every setup; other draws for the other shape, so that its run
  // does not replay the sessions (and, behind nginx, the instances) of the first.
  const rand = random(0x9e3779b9 ^ (sessions.length * 4 + Object.keys(SHAPES).indexOf(shape)));
  const latencies = [];
  const failures = new Map();
  let requestId = 1;
  let measuring = false;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const session = sessions[Math.floor(rand() * sessions.length)];
      const t0 = performance.now();
      let outcome;
      try {
        const res = await post(agent, port, sessionHeaders(session), toolBody(++requestId, SHAPES[shape].tool));
        outcome = res.status === 200 && res.body.includes('"result"') && !res.body.includes('"isError":true') ? 'ok' : `HTTP ${res.status}: ${res.body.slice(0, 120)}`;
      } catch (error) {
        outcome = error.code ?? error.message;
      }
      if (!measuring) continue;
      if (outcome === 'ok') latencies.push(performance.now() - t0);
      else failures.set(outcome, (failures.get(outcome) ?? 0) + 1);
    }
  };
  const loops = Array.from({ length: workers }, worker);
  await sleep(warmupMs);
  const extra0 = await hooks.start?.();
  const cpu0 = pids.map(({ pid }) => cpuSeconds(pid));
  const machine0 = machineCpuSeconds();
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  measuring = true;
  await sleep(seconds * 1_000);
  measuring = false;
  const wall = (performance.now() - t0) / 1_000;
  const cpu1 = pids.map(({ pid }) => cpuSeconds(pid));
  const self1 = process.cpuUsage(self0);
  const machine1 = machineCpuSeconds();
  const extra1 = await hooks.end?.();
  stop = true;
  await Promise.all(loops);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  const cpu = {};
  pids.forEach(({ name }, i) => (cpu[name] = (cpu1[i] - cpu0[i]) / wall));
  cpu['load generator'] = (self1.user + self1.system) / 1e6 / wall;
  // Whatever else ran on the machine meanwhile (it shares the 2 cores).
  cpu.other = Math.max(0, (machine1 - machine0) / wall - Object.values(cpu).reduce((a, b) => a + b, 0));
  return {
    requests: latencies.length,
    errors: [...failures.values()].reduce((a, b) => a + b, 0),
    failures: Object.fromEntries(failures),
    rps: latencies.length / wall,
    p50: pct(50),
    p99: pct(99),
    wall,
    cpu,
    ...(extra0 === undefined ? {} : { redisCommandsPerRequest: (extra1 - extra0) / latencies.length }),
  };
}

// ---------------------------------------------------------------- Redis

async function redisClient(url) {
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** INFO commandstats as { command: calls }. */
async function commandStats(client) {
  const stats = {};
  for (const line of (await client.info('commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match) stats[match[1]] = Number(match[2]);
  }
  return stats;
}

async function usedMemory(client) {
  return Number(/used_memory:(\d+)/.exec(await client.info('memory'))[1]);
}

/** What each script of the package's Redis engine is, by the command it starts with
 * (see bindings/src/redis/shared.ts): fetch and commit are awaited by the call that
 * sends them; a touch is sent without waiting. */
function scriptName(text) {
  if (text.includes("'HMGET'")) return 'fetch';
  if (text.includes("'HINCRBY'")) return 'commit';
  if (text.includes("'ZSCORE'")) return 'touch';
  if (text.includes("'ZRANGEBYSCORE'")) return 'sweep';
  // RedisEventStore's write: sent behind the SSE event, not awaited.
  if (text.includes("'XADD'")) return 'event write';
  return 'other script';
}
const AWAITED = new Set(['fetch', 'commit']);
const SCRIPTS = new Set(['fetch', 'commit', 'touch', 'sweep', 'event write', 'other script']);

/** A raw MONITOR connection: every command Redis runs, one line each, with
 * commands run by scripts marked `[0 lua]`. */
function monitor(port) {
  return new Promise((resolveMonitor, reject) => {
    const lines = [];
    let buffer = '';
    const socket = tcpConnect(port, '127.0.0.1', () => socket.write('MONITOR\r\n'));
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf('\r\n')) !== -1) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (line === '+OK') resolveMonitor({ lines, close: () => socket.destroy() });
        else if (line.startsWith('+')) lines.push(line.slice(1));
      }
    });
  });
}

/** Resolves once `lines` has not grown for 20 ms (or after 1 s). */
async function quiet(lines) {
  const end = Date.now() + 1_000;
  for (let seen = -1; lines.length !== seen && Date.now() < end; ) {
    seen = lines.length;
    await sleep(20);
  }
}

/** A MONITOR line as { lua, command, args0 }. */
function parseMonitorLine(line) {
  const match = /^[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"(?: "((?:[^"\\]|\\.)*)")?/.exec(line);
  if (!match) return null;
  return { lua: match[1] === 'lua', command: match[2].toLowerCase(), arg: match[3] ?? '' };
}

// ---------------------------------------------------------------- 1. round trips

async function roundTrips() {
  log(`round trips: ${rtRequests} requests of each shape, one at a time, on one Redis-backed instance`);
  const redis = await startRedis();
  const instances = [];
  const client = await redisClient(redis.url);
  try {
    // No sweep during the measurement (it polls Redis on a timer, not per request).
    const env = { REDIS_URL: redis.url, SWEEP_MS: String(3_600_000) };
    instances.push(await startInstance(env));
    const sessions = [];
    await createSessions(instances[0].port, rtRequests, sessions);
    // A second instance on the same Redis, holding no transport yet.
    instances.push(await startInstance(env));
    const shapes = [
      { key: 'session_info', label: 'tools/call session_info (changes nothing durable)', tool: 'session_info', target: 1, instance: 0 },
      { key: 'notes_list', label: 'tools/call notes_list (changes nothing durable)', tool: 'notes_list', target: 1, instance: 0 },
      { key: 'counter_increment', label: 'tools/call counter_increment (a state change)', tool: 'counter_increment', target: 2, instance: 0 },
      {
        key: 'session_info_rebuild',
        label: 'session_info, first request on an instance without the transport',
        tool: 'session_info',
        target: 1,
        instance: 1,
      },
    ];
    const agent = agentFor(1);
    const results = [];
    for (const shape of shapes) {
      const port = instances[shape.instance].port;
      const mon = await monitor(redis.port);
      const before = await commandStats(client);
      for (let i = 0; i < rtRequests; i++) {
        await client.echo(`bench-mark-${i}`);
        const res = await post(agent, port, sessionHeaders(sessions[i]), toolBody(i + 10, shape.tool));
        if (res.status !== 200 || !res.body.includes('"result"')) throw new Error(`${shape.tool}: ${res.status} ${res.body}`);
        // endRequest and the touches go out after the response: let them land
        // before the next request's mark (Redis quiet for 20 ms, at most 1 s).
        await quiet(mon.lines);
      }
      await sleep(100);
      const after = await commandStats(client);
      mon.close();
      // The bench's own commands (INFO, ECHO marks) are not the server's.
      const delta = {};
      for (const [command, calls] of Object.entries(after)) {
        const d = calls - (before[command] ?? 0);
        if (d > 0 && !['info', 'echo'].includes(command)) delta[command] = d;
      }
      // Per request, from MONITOR: the top-level commands between two marks.
      const perRequest = [];
      let current = null;
      for (const line of mon.lines) {
        const parsed = parseMonitorLine(line);
        if (parsed === null) continue;
        if (parsed.command === 'echo' && parsed.arg.startsWith('bench-mark-')) {
          current = [];
          perRequest.push(current);
          continue;
        }
        if (parsed.lua || current === null || parsed.command === 'info') continue;
        current.push(parsed.command === 'eval' || parsed.command === 'evalsha' ? scriptName(parsed.arg) : parsed.command);
      }
      const patterns = new Map();
      const kinds = {};
      for (const calls of perRequest) {
        const pattern = calls.join(' → ');
        patterns.set(pattern, (patterns.get(pattern) ?? 0) + 1);
        for (const c of calls) kinds[c] = (kinds[c] ?? 0) + 1;
      }
      const n = perRequest.length;
      const topLevel = (delta.eval ?? 0) + (delta.evalsha ?? 0) + (delta.fcall ?? 0);
      const scripts = new Set(['eval', 'evalsha', 'fcall']);
      const inside = Object.entries(delta).filter(([c]) => !scripts.has(c)).reduce((a, [, v]) => a + v, 0);
      const monitored = Object.values(kinds).reduce((a, b) => a + b, 0);
      const otherTopLevel = Object.entries(kinds).filter(([k]) => !SCRIPTS.has(k)).reduce((a, [, v]) => a + v, 0);
      const awaited = Object.entries(kinds).filter(([k]) => AWAITED.has(k)).reduce((a, [, v]) => a + v, 0);
      results.push({
        ...shape,
        requests: rtRequests,
        perRequest: (topLevel + otherTopLevel) / rtRequests,
        scriptsPerRequest: topLevel / rtRequests,
        otherTopLevel: otherTopLevel / rtRequests,
        awaited: awaited / n,
        notAwaited: (monitored - awaited) / n,
        byScript: Object.fromEntries(Object.entries(kinds).map(([k, v]) => [k, v / n])),
        insideScripts: inside / rtRequests,
        commandStats: Object.fromEntries(Object.entries(delta).map(([k, v]) => [k, v / rtRequests])),
        patterns: [...patterns].sort((a, b) => b[1] - a[1]).map(([pattern, count]) => ({ pattern, count })),
      });
      log(`  ${shape.key}: ${(topLevel / rtRequests).toFixed(2)} Redis commands per request`);
    }
    agent.destroy();
    return results;
  } finally {
    await client.quit().catch(() => {});
    for (const instance of instances) await instance.stop();
    await redis.stop();
  }
}

// ---------------------------------------------------------------- 2-4. throughput

/** Transports each instance holds (its operator view); a Redis-backed instance
 * lists no sessions there, so this is cheap. */
async function transports(instances) {
  return Promise.all(instances.map(async ({ port }) => (await (await fetch(`http://127.0.0.1:${port}/sessions`)).json()).transports));
}

const instanceName = (instances, i) => (instances.length === 1 ? 'instance' : `instance ${i + 1}`);

/** One measured run (`load`) of `shape` through `port`, with the CPU of `pids`, the
 * instances' RSS afterwards and, on Redis, the transports they built meanwhile. */
async function measure(row, port, sessions, shape, instances, extraPids, client) {
  const onRedis = client !== undefined;
  const pids = [...instances.map((instance, i) => ({ name: instanceName(instances, i), pid: instance.pid })), ...extraPids];
  const label = `${row.setup}${row.fsync ? ` (appendfsync ${row.fsync})` : ''}`;
  log(` ${label}, ${sessions.length} sessions, ${SHAPES[shape].label}: ${workers} workers, ${seconds} s after ${warmupMs / 1000} s warm-up`);
  const held0 = onRedis ? await transports(instances) : undefined;
  // Top-level Redis commands (the scripts) during the measured part.
  const scripts = async () => {
    const stats = await commandStats(client);
    return (stats.eval ?? 0) + (stats.evalsha ?? 0);
  };
  const result = await load(port, sessions, shape, pids, onRedis ? { start: scripts, end: scripts } : {});
  const held1 = onRedis ? await transports(instances) : undefined;
  const rss = Object.fromEntries(instances.map((instance, i) => [instanceName(instances, i), rssBytes(instance.pid)]));
  const instanceCpu = Object.entries(result.cpu).filter(([k]) => k.startsWith('instance')).reduce((a, [, v]) => a + v, 0);
  log(`  ${Math.round(result.rps)} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, ${result.errors} errors`);
  return {
    ...row,
    sessions: sessions.length,
    shape,
    ...result,
    instanceCpuMsPerRequest: (instanceCpu / result.rps) * 1_000,
    rss,
    transportsBuilt: held0 && held1.reduce((a, n, i) => a + n - held0[i], 0),
  };
}

/** One instance on the file store, at each size. */
async function fileSetup() {
  log('setup: one instance on the file store');
  const instance = await startInstance({});
  const rows = [];
  try {
    const sessions = [];
    for (const size of sizes) {
      log(` making sessions: ${sessions.length} → ${size}`);
      const made = size - sessions.length;
      const createMs = await createSessions(instance.port, made, sessions);
      const row = { setup: 'file', createdPerSecond: (made / createMs) * 1_000 };
      for (const shape of ['read', 'write']) rows.push(await measure(row, instance.port, sessions, shape, [instance], [], undefined));
    }
  } finally {
    await instance.stop();
  }
  return { rows, memory: [] };
}

/** One Redis; at each size, sessions made through instance 1, then: instance 1
 * alone (appendfsync always, then everysec), and instances 1-3 behind nginx (two
 * fresh ones added for the run, then stopped). */
async function redisSetup() {
  log('setup: Redis (one instance; three behind nginx)');
  const redis = await startRedis();
  const client = await redisClient(redis.url);
  const env = { REDIS_URL: redis.url };
  const first = [];
  const more = [];
  let balancer;
  const rows = [];
  const memory = [];
  try {
    first.push(await startInstance(env));
    const redisPid = { name: 'redis-server', pid: Number(/process_id:(\d+)/.exec(await client.info('server'))[1]) };
    const sessions = [];
    for (const size of sizes) {
      const made = size - sessions.length;
      log(` making sessions through instance 1: ${sessions.length} → ${size} (appendfsync no while making them)`);
      // Making them is not what is measured: no fsync meanwhile, so it takes minutes,
      // not tens of minutes. Memory is measured all the same.
      await client.configSet('appendfsync', 'no');
      const before = await usedMemory(client);
      const createMs = await createSessions(first[0].port, made, sessions);
      await sleep(500); // the last touches land
      const after = await usedMemory(client);
      memory.push({ sessions: size, made, before, after, perSession: (after - before) / made });
      const created = { createdPerSecond: (made / createMs) * 1_000 };
      for (const fsync of ['always', 'everysec']) {
        await client.configSet('appendfsync', fsync);
        for (const shape of ['read', 'write']) {
          rows.push(await measure({ setup: 'redis-1', fsync, ...created }, first[0].port, sessions, shape, first, [redisPid], client));
        }
      }
      await client.configSet('appendfsync', 'always');
      more.push(await startInstance(env), await startInstance(env));
      const fleet = [...first, ...more];
      balancer = await startBalancer(fleet.map((i) => i.port));
      const nginx = { name: 'nginx', pid: Number(readFileSync(join(balancer.dir, 'nginx.pid'), 'utf8').trim()) };
      for (const shape of ['read', 'write']) {
        rows.push(await measure({ setup: 'redis-3', fsync: 'always', ...created }, balancer.port, sessions, shape, fleet, [redisPid, nginx], client));
      }
      await balancer.stop();
      balancer = undefined;
      for (const instance of more.splice(0)) await instance.stop();
    }
  } finally {
    await client.quit().catch(() => {});
    await balancer?.stop();
    for (const instance of [...more, ...first]) await instance.stop();
    await redis.stop();
  }
  return { rows, memory };
}

// ---------------------------------------------------------------- report

const int = (v) => Math.round(v).toLocaleString('en-US');
const ms = (v) => (Number.isFinite(v) ? v.toFixed(2) : '–');
const pctCpu = (v) => `${Math.round(v * 100)}%`;
const f2 = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(2));

function report({ rt, runs, memory, elapsedMs }) {
  let md = `Machine: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ` +
    `${redisVersion()}, nginx ${nginxVersion()}; ${new Date().toISOString()}.\n` +
    `Command: \`node bench/fleet.mjs${quick ? ' --quick' : ''}\` (sizes ${sizes.join(', ')}; ${workers} workers; ${seconds} s per run after ${warmupMs / 1000} s warm-up; ` +
    `${rtRequests} requests per round-trip shape); took ${(elapsedMs / 60_000).toFixed(1)} min; load average ${loadStart} at the start, ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end. ` +
    `Instances: \`node --max-old-space-size=${HEAP_MB} examples/server.mjs\`.\n\n`;

  md += '### Redis round trips per request (one instance, requests one at a time; INFO commandstats difference / N)\n\n';
  md += '| request | Redis commands per HTTP request | awaited (fetch, commit) | not awaited (touch) | target | commands run inside the scripts | most common sequence (MONITOR) |\n|---|---|---|---|---|---|---|\n';
  for (const r of rt) {
    // The most common; the others (in the JSON) are the same commands split
    // differently between two requests' marks.
    const seq = `${r.patterns[0].pattern} (${r.patterns[0].count}/${r.requests})`;
    const status = r.key === 'session_info_rebuild'
      ? 'none in the issue'
      : `at most ${r.target}: ${r.perRequest <= r.target ? 'met' : '**not met**'}${r.awaited <= r.target ? '' : ', nor counting awaited only'}`;
    md += `| ${r.label} | **${f2(r.perRequest)}** | ${f2(r.awaited)} | ${f2(r.notAwaited)} | ${status} | ${f2(r.insideScripts)} | ${seq} |\n`;
  }
  md += '\nWhere they come from (bindings/src/mcp/handler.ts, bindings/src/redis/, examples/server.mjs): each session call is one ' +
    '`RedisShared.call`: a **fetch** (awaited), a **commit** (awaited; only when something durable changed) and a **touch** (not awaited; ' +
    'when the call moved the idle deadline). A tools/call makes these calls: `beginRequest` (the gate) → the tool\'s own `getSession` → ' +
    '(a state change) `updateSessionState` → `endRequest`, sent when the response has closed (the client does not wait for it, but the ' +
    'instance runs its calls one at a time, so the next request\'s calls queue behind it). On an instance that does not hold the session\'s ' +
    'transport, one more `getSession` (after the gate, before the SDK sees the request) rebuilds it. The counts are exact (commandstats); the sequences are ' +
    'cut at a mark the bench sends before each request, so a command that comes late (a process stalled: the machine is shared) lands in ' +
    'the next request\'s sequence.\n\n';

  md += '### Throughput and latency (tools/call on random existing sessions)\n\n';
  md += `| setup | sessions | request | req/s | p50 ms | p99 ms | errors | CPU: instances | redis-server | nginx | load generator | other processes | instance CPU ms / request | Redis commands / request | transports built during the run | instance RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n`;
  for (const r of runs) {
    const inst = Object.entries(r.cpu).filter(([k]) => k.startsWith('instance')).map(([, v]) => pctCpu(v)).join(' + ');
    const rss = Object.values(r.rss).map((v) => int(v / 2 ** 20)).join(' / ');
    md += `| ${setupLabel(r)} | ${int(r.sessions)} | ${r.shape === 'read' ? 'session_info' : 'counter_increment'} | **${int(r.rps)}** | ${ms(r.p50)} | ${ms(r.p99)} | ${r.errors} | ${inst} | ` +
      `${r.cpu['redis-server'] === undefined ? '–' : pctCpu(r.cpu['redis-server'])} | ${r.cpu.nginx === undefined ? '–' : pctCpu(r.cpu.nginx)} | ${pctCpu(r.cpu['load generator'])} | ${pctCpu(r.cpu.other)} | ` +
      `${r.instanceCpuMsPerRequest.toFixed(2)} | ${r.redisCommandsPerRequest === undefined ? '–' : r.redisCommandsPerRequest.toFixed(2)} | ${r.transportsBuilt === undefined ? '–' : int(r.transportsBuilt)} | ${rss} |\n`;
  }
  md += `\nCPU: utime + stime during the measured part of the run / its wall time (100% = one core; this machine has ${cpus().length}); ` +
    'other processes: the machine\'s busy time (/proc/stat) less the processes listed. ' +
    'Redis commands / request: EVAL calls during the measured part (INFO commandstats) / requests answered (the sweep adds one per instance per second). ' +
    'Transports built: by the instances during warm-up and run (each a rebuild from the stored initialize, on an instance that did not hold the session yet).\n';
  const ratios = [];
  for (const size of sizes) {
    for (const shape of ['read', 'write']) {
      const find = (setup, fsync) => runs.find((r) => r.setup === setup && r.sessions === size && r.shape === shape && (fsync === undefined || r.fsync === fsync));
      const [file, one, lazy, three] = [find('file'), find('redis-1', 'always'), find('redis-1', 'everysec'), find('redis-3', 'always')];
      const parts = [];
      if (file && one) parts.push(`1 on Redis / file store ${(one.rps / file.rps).toFixed(2)}x`);
      if (one && lazy) parts.push(`everysec / always ${(lazy.rps / one.rps).toFixed(2)}x`);
      if (one && three) parts.push(`3 instances / 1 on Redis ${(three.rps / one.rps).toFixed(2)}x`);
      if (parts.length) ratios.push(`${int(size)} sessions, ${shape === 'read' ? 'session_info' : 'counter_increment'}: ${parts.join(', ')}`);
    }
  }
  if (ratios.length) md += `\nRatios of req/s: ${ratios.join('; ')}.\n`;
  const made = [];
  for (const r of runs) {
    const text = `${r.setup === 'file' ? 'file store' : 'Redis, through instance 1'} → ${int(r.sessions)}: ${int(r.createdPerSecond)}/s`;
    if (!made.includes(text)) made.push(text);
  }
  md += `\nSessions made beforehand (initialize + notifications/initialized over HTTP, ${createConcurrency} at a time; Redis with appendfsync no meanwhile): ${made.join('; ')}.\n`;
  const failures = runs.filter((r) => r.errors > 0).map((r) => `${setupLabel(r)} ${r.sessions} ${r.shape}: ${JSON.stringify(r.failures)}`);
  if (failures.length) md += `\nErrors: ${failures.join('; ')}.\n`;

  if (memory.length) {
    md += '\n### Redis memory per session (INFO used_memory before and after making them)\n\n| sessions made | used_memory before → after | bytes per session |\n|---|---|---|\n';
    for (const m of memory) md += `| ${int(m.made)} (${int(m.sessions - m.made)} → ${int(m.sessions)}) | ${int(m.before)} → ${int(m.after)} | **${int(m.perSession)}** |\n`;
  }
  return md;
}

function setupLabel(r) {
  if (r.setup === 'file') return '1 instance, file store';
  return `${r.setup === 'redis-1' ? '1 instance' : '3 instances + nginx'}, Redis (appendfsync ${r.fsync})`;
}

function redisVersion() {
  try {
    return execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).split(' ').find((w) => w.startsWith('v='))?.replace('v=', 'Redis ') ?? 'Redis';
  } catch {
    return 'Redis';
  }
}

function nginxVersion() {
  const { stdout = '', stderr = '' } = spawnSync(process.env.NGINX ?? '/usr/sbin/nginx', ['-v'], { encoding: 'utf8' });
  return (/nginx\/(\S+)/.exec(`${stdout}${stderr}`) ?? [, '?'])[1];
}

// ---------------------------------------------------------------- main

const rt = await roundTrips();
const runs = [];
const memory = [];
for (const setup of setups) {
  const result = await (setup === 'file' ? fileSetup() : redisSetup());
  runs.push(...result.rows);
  memory.push(...result.memory);
}
const elapsedMs = Date.now() - started;
const md = report({ rt, runs, memory, elapsedMs });
console.log(md);
if (out) {
  const dir = `${resolve(out)}/`;
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  writeFileSync(`${dir}fleet-${stamp}.json`, JSON.stringify({ date: new Date().toISOString(), node: process.version, quick, sizes, seconds, workers, warmupMs, rtRequests, elapsedMs, roundTrips: rt, runs, memory }, null, 2));
  writeFileSync(`${dir}fleet-latest.md`, md);
  log(`wrote ${dir}fleet-${stamp}.json and ${dir}fleet-latest.md`);
}
log(`done in ${(elapsedMs / 60_000).toFixed(1)} min`);
