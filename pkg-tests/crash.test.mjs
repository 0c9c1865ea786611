// Crash consistency: the example server is killed with SIGKILL at random moments
// during a write load from several SDK clients, restarted on the same data directory,
// and every session is checked: each change the server acknowledged is there, and
// nothing else is (at most the one change a client had in flight when the server died,
// which may or may not have been written before the kill).
//
//   CRASH_SEED=<n> CRASH_ROUNDS=<n> node --test crash.test.mjs   repeats a run
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, connect, dataDir, startServer } from './mcp-server.mjs';

const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 20);
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
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

test(`SIGKILL at random moments during writes, ${ROUNDS} rounds: acknowledged changes survive, nothing else appears`, async (t) => {
  t.diagnostic(`crash seed ${SEED} (CRASH_SEED=${SEED} repeats this run)`);
  console.log(`[crash] seed ${SEED}, ${ROUNDS} rounds`);
  const random = prng(SEED);
  // Compacting every few records puts some kills in the middle of a compaction.
  const env = { DATA_DIR: dataDir(), COMPACT_AFTER: '7' };
  let server = await startServer(env);
  const port = server.port;
  const clients = [];
  try {
    for (const user of USERS) clients.push({ ...(await connect(server.url, user)), known: tracker(user) });
    const ids = clients.map((c) => c.transport.sessionId);
    let acknowledged = 0;
    const inFlight = { landed: 0, lost: 0 };
    for (let round = 1; round <= ROUNDS; round++) {
      // Kill after a random number of acknowledged writes, while the other clients'
      // writes are at whatever stage they have reached.
      const killAfter = acknowledged + 1 + Math.floor(random() * 40);
      const victim = server;
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
            if (acknowledged === killAfter) victim.child.kill('SIGKILL');
          }
        }),
      );
      await victim.kill('SIGKILL');
      server = await startServer(env, port);
      assert.match(server.output(), new RegExp(`restored sessions: ${USERS.length}\\b`), `round ${round}`);

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
      const operators = await server.operators();
      assert.deepEqual(operators.sessions.map((s) => s.principal).sort(), [...USERS].sort(), 'no other session appeared');
    }
    t.diagnostic(
      `${acknowledged} acknowledged writes over ${ROUNDS} kills; writes in flight at a kill: ` +
        `${inFlight.landed} had landed, ${inFlight.lost} had not`,
    );
  } finally {
    for (const { client } of clients) await client.close().catch(() => {});
    await server.kill('SIGTERM');
  }
});
