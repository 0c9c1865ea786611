// Crash consistency: the example server is killed with SIGKILL at random moments
// during a write load from several SDK clients, restarted on the same data directory,
// and every session is checked: each change the server acknowledged is there, and
// nothing else is (at most the one change a client had in flight when the server died,
// which may or may not have been written before the kill).
//
// Two tests: kills after a random number of acknowledged writes, with compactions
// every few records; and kills at random moments while the store holds 100,000 more
// sessions, so that most land during a background compaction (each start compacts,
// a 35 MB snapshot written a piece per turn while the writes go on into a new
// journal segment), after which every one of those sessions is checked too.
//
//   CRASH_SEED=<n> CRASH_ROUNDS=<n> CRASH_BULK=<n> node --test crash.test.mjs   repeats a run
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { SessionManager, FileSessionStore, admitInitialize } from 'mcp-session-core';
import { call, connect, dataDir, startServer } from './mcp-server.mjs';

const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 20);
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const BULK = Number(process.env.CRASH_BULK ?? 100_000);
const USERS = ['ann', 'ben', 'cat', 'dan'];

/** xorshift32: the same seed gives the same kill points and operations. */
function prng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** What one client has been told, and what it was waiting for when the server died. */
function tracker(user) {
  return { user, counter: 0, notes: [], writes: 0, pending: null };
}

/** One write, remembered as pending until acknowledged. */
async function write(client, known, random) {
  if (random() < 0.5) {
    const by = 1 + Math.floor(random() * 5);
    known.pending = { counter: known.counter + by };
    const counter = await call(client, 'counter_increment', { by });
    assert.equal(counter, known.counter + by, `${known.user}: the counter continues from what was acknowledged`);
    known.counter = counter;
    known.writes += 1;
  } else {
    const text = `${known.user}-${known.notes.length}`;
    known.pending = { notes: [...known.notes, text] };
    const notes = await call(client, 'notes_add', { text });
    assert.deepEqual(notes, [...known.notes, text], `${known.user}: the notes continue from what was acknowledged`);
    known.notes = notes;
    known.writes += 1;
  }
  known.pending = null;
}

/** What a kill left in the data directory: a compaction under way shows as a
 * temporary snapshot (being written) or two snapshots (the old not removed yet). */
function compactionAtKill(dir) {
  const names = readdirSync(dir);
  const temporary = names.some((name) => /^snapshot\.\d+\.(json|bin)\.[0-9a-f]+\.tmp$/.test(name));
  const snapshots = names.filter((name) => /^snapshot\.\d+\.(json|bin)$/.test(name)).length;
  return temporary ? 'writing' : snapshots > 1 ? 'removing' : null;
}

/**
 * Rounds of: every client writing until the server is killed (`kill(round, acked)`
 * decides when, answering a count of acknowledged writes or a delay in ms), then a
 * restart, and every session checked. `others` sessions besides the clients' are
 * expected at every restart.
 */
async function rounds(t, { env, rounds: count, random, others = 0, killAt }) {
  // With others, the operator view (every session listed) is left out: the start's
  // count is checked each round, and every session once at the end.
  const list = others === 0;
  let server = await startServer(env);
  const port = server.port;
  const clients = [];
  const kills = { writing: 0, removing: 0, other: 0 };
  try {
    for (const user of USERS) clients.push({ ...(await connect(server.url, user)), known: tracker(user) });
    const ids = clients.map((c) => c.transport.sessionId);
    let acknowledged = 0;
    const inFlight = { landed: 0, lost: 0 };
    for (let round = 1; round <= count; round++) {
      const victim = server;
      const when = killAt(acknowledged);
      const timer = when.ms === undefined ? undefined : setTimeout(() => victim.child.kill('SIGKILL'), when.ms);
      await Promise.all(
        clients.map(async ({ client, known }) => {
          for (;;) {
            try {
              await write(client, known, random);
            } catch (error) {
              if (error instanceof assert.AssertionError) throw error;
              return; // the server died under this write
            }
            acknowledged += 1;
            if (acknowledged === when.acknowledged) victim.child.kill('SIGKILL');
          }
        }),
      );
      clearTimeout(timer);
      await victim.kill('SIGKILL');
      kills[compactionAtKill(env.DATA_DIR) ?? 'other'] += 1;
      server = await startServer(env, port);
      assert.match(server.output(), new RegExp(`restored sessions: ${USERS.length + others}\\b`), `round ${round}`);

      // Every session holds what was acknowledged, or that plus the write in flight.
      for (const [i, { client, transport, known }] of clients.entries()) {
        const info = await call(client, 'session_info');
        assert.equal(transport.sessionId, ids[i], 'the same session, without re-initializing');
        assert.equal(info.principal, known.user, `round ${round}: the principal binding survived`);
        const { counter = 0, notes = [], ...rest } = info.state;
        assert.deepEqual(rest, {}, `round ${round}: ${known.user}'s state has nothing else`);
        const acked = { counter: known.counter, notes: known.notes };
        const landed = { counter, notes };
        const pendingLanded =
          known.pending !== null && JSON.stringify(landed) === JSON.stringify({ ...acked, ...known.pending });
        assert.ok(
          pendingLanded || JSON.stringify(landed) === JSON.stringify(acked),
          `round ${round} (seed ${SEED}): ${known.user} has ${JSON.stringify(landed)}, acknowledged ` +
            `${JSON.stringify(acked)}, in flight ${JSON.stringify(known.pending)}`,
        );
        // Each write is one compare-and-set: the version counts the writes that landed.
        const writes = known.writes + (pendingLanded ? 1 : 0);
        if (known.pending !== null) inFlight[pendingLanded ? 'landed' : 'lost'] += 1;
        assert.equal(info.version, writes, `round ${round}: ${known.user}'s version`);
        Object.assign(known, { counter, notes, writes, pending: null });
      }
      if (list) {
        const operators = await server.operators();
        assert.deepEqual(operators.sessions.map((s) => s.principal).sort(), [...USERS].sort(), 'no other session appeared');
      }
    }
    t.diagnostic(
      `${acknowledged} acknowledged writes over ${count} kills; writes in flight at a kill: ` +
        `${inFlight.landed} had landed, ${inFlight.lost} had not; kills while a compaction was writing its ` +
        `snapshot: ${kills.writing}, removing the files it replaced: ${kills.removing}, otherwise: ${kills.other}`,
    );
    return { kills, ids, clients };
  } finally {
    for (const { client } of clients) await client.close().catch(() => {});
    await server.kill('SIGKILL');
  }
}

test(`SIGKILL at random moments during writes, ${ROUNDS} rounds: acknowledged changes survive, nothing else appears`, async (t) => {
  t.diagnostic(`crash seed ${SEED} (CRASH_SEED=${SEED} repeats this run)`);
  console.log(`[crash] seed ${SEED}, ${ROUNDS} rounds`);
  const random = prng(SEED);
  // Compacting every few records puts some kills in the middle of a compaction.
  const env = { DATA_DIR: dataDir(), COMPACT_AFTER: '7' };
  // Kill after a random number of acknowledged writes, while the other clients'
  // writes are at whatever stage they have reached.
  await rounds(t, { env, rounds: ROUNDS, random, killAt: (acked) => ({ acknowledged: acked + 1 + Math.floor(random() * 40) }) });
});

/** The sessions of `count` other users, made as the example server's handler makes
 * them, with a little state each; in one snapshot in `dir`. Answers their states. */
function bulkStore(dir, count) {
  const m = new SessionManager({ maxSessions: count + 100 });
  const handshake = admitInitialize('application/json, text/event-stream', 'application/json', {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bulk', version: '1.0.0' } },
  });
  const bulk = new Map();
  for (let i = 0; i < count; i++) {
    const { id } = m.initialize({ ...handshake, principal: `bulk-${i % 997}` });
    m.initialized(id);
    m.updateSessionState(id, { counter: i });
    bulk.set(id, i);
  }
  const store = new FileSessionStore({ dir });
  store.attach(m);
  store.close();
  m.dispose();
  return bulk;
}

test(`SIGKILL during background compaction at ${BULK.toLocaleString('en')} sessions, ${ROUNDS} rounds: acknowledged changes survive, nothing else appears`, async (t) => {
  t.diagnostic(`crash seed ${SEED} (CRASH_SEED=${SEED} repeats this run)`);
  const random = prng(SEED ^ 0x5bd1e995);
  const dir = dataDir();
  const bulk = bulkStore(dir, BULK);
  // Each start compacts in the background, and so does a journal past 0.05% of the
  // snapshot (a few dozen writes): while the clients write, a compaction is nearly
  // always under way.
  const env = { DATA_DIR: dir, MAX_SESSIONS: String(BULK + 100), COMPACT_PERCENTAGE: '0.05', COMPACT_MIN_BYTES: '0' };
  const { kills, ids, clients } = await rounds(t, { env, rounds: ROUNDS, random, others: BULK, killAt: () => ({ ms: 50 + Math.floor(random() * 1_000) }) });
  assert.ok(kills.writing + kills.removing >= ROUNDS / 4, `only ${kills.writing + kills.removing} of ${ROUNDS} kills landed during a compaction`);

  // Every session is there, each as it was last acknowledged, and nothing else.
  const m = new SessionManager({ maxSessions: BULK + 100 });
  const store = new FileSessionStore({ dir });
  store.attach(m);
  const users = new Map(ids.map((id, i) => [id, clients[i].known]));
  let found = 0;
  for (const session of m.getAllSessions()) {
    if (users.has(session.id)) {
      const known = users.get(session.id);
      assert.equal(session.principal, known.user);
      const { counter = 0, notes = [], ...rest } = session.state;
      assert.deepEqual({ counter, notes, rest }, { counter: known.counter, notes: known.notes, rest: {} }, known.user);
      users.delete(session.id);
      continue;
    }
    found += 1;
    assert.deepEqual(session.state, { counter: bulk.get(session.id) }, session.id);
    assert.equal(session.version, 1);
  }
  assert.equal(found, BULK, 'the other sessions, and nothing else');
  assert.equal(users.size, 0, "the clients' sessions");
  store.close();
  m.dispose();
});
