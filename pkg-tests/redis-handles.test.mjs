// State handles and the requestState ledger shared by several instances through a
// real redis-server (started by the test on a free port): any instance serves any
// handle, compare-and-set loses no update, the caps are exact fleet-wide, each
// expiry happens once, an ended ID answers with its reason everywhere, a replay on
// another instance is refused, and Redis stopped gives STORAGE_FAILED with nothing
// half-written, then recovery.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RedisShared, RedisHandleStore } from 'mcp-session-core';
import { closeClients, clientsReady, redisClient, startRedis } from './support/redis.mjs';

const redis = await startRedis();
after(async () => {
  await closeClients();
  await redis.stop();
});

const client = () => redisClient(redis);

let prefixes = 0;
/** `n` instances over one Redis, sharing a clock and a key prefix. */
async function fleet(n, config = {}, clock = () => Date.now()) {
  const prefix = `t${++prefixes}:`;
  const events = [];
  const instances = [];
  for (let i = 0; i < n; i++) {
    const shared = new RedisShared({ redis: await client(), prefix, config, clock });
    shared.onEvent((event) => events.push({ instance: i, ...event }));
    const handles = new RedisHandleStore(shared);
    handles.sweep = () => shared.sweep();
    instances.push(handles);
  }
  return { instances, events, prefix };
}

test('any instance serves any handle; another user reads it as unknown; a destroyed one answers so everywhere', async () => {
  const { instances: [a, b, c] } = await fleet(3);
  const h = await a.create({ principal: 'alice', state: { items: [] } });
  assert.match(h.handleId, /^h_/);
  assert.equal(await b.update(h.handleId, { items: ['pear'] }, { principal: 'alice', expectedVersion: 0 }), 1);
  const seen = await c.get(h.handleId, { principal: 'alice' });
  assert.deepEqual([seen.state, seen.version], [{ items: ['pear'] }, 1]);
  await assert.rejects(c.get(h.handleId, { principal: 'bob' }), { code: 'HANDLE_NOT_FOUND' });
  assert.deepEqual((await b.list({ principal: 'alice' })).map((v) => v.handleId), [h.handleId]);
  await a.destroy(h.handleId, { principal: 'alice' });
  for (const i of [a, b, c]) await assert.rejects(i.get(h.handleId, { principal: 'alice' }), { code: 'HANDLE_DESTROYED' });
  assert.deepEqual(await c.list({ principal: 'alice' }), []);
});

test('200 concurrent clients x 10 compare-and-set increments over three instances: every counter exact', async () => {
  const { instances } = await fleet(3, { maxHandlesPerPrincipal: null });
  const counters = await Promise.all(Array.from({ length: 200 }, (_, i) => instances[i % 3].create({ state: { n: 0 } })));
  let conflicts = 0;
  const increment = async (handleId, k) => {
    for (;;) {
      const at = instances[k % 3];
      const { state, version } = await at.get(handleId);
      try {
        return await instances[(k + 1) % 3].update(handleId, { n: state.n + 1 }, { expectedVersion: version });
      } catch (error) {
        if (error.code !== 'VERSION_CONFLICT') throw error;
        conflicts++;
      }
    }
  };
  await Promise.all(
    counters.flatMap(({ handleId }, i) => Array.from({ length: 10 }, (_, k) => increment(handleId, i + k))),
  );
  const finals = await Promise.all(counters.map(({ handleId }, i) => instances[i % 3].get(handleId)));
  assert.deepEqual(new Set(finals.map((h) => h.state.n)), new Set([10]), 'no update lost');
  assert.deepEqual(new Set(finals.map((h) => h.version)), new Set([10]));
  assert.ok(conflicts > 0, 'concurrent increments did meet (and were retried)');
});

test('a per-user cap of 3 and a global cap hold fleet-wide; room comes back when one ends', async () => {
  const { instances } = await fleet(3, { maxHandlesPerPrincipal: 3, maxHandles: 5 });
  const made = await Promise.allSettled(Array.from({ length: 9 }, (_, i) => instances[i % 3].create({ principal: 'carol' })));
  const ok = made.filter((r) => r.status === 'fulfilled');
  assert.equal(ok.length, 3, 'exactly three, whichever instance each went to');
  for (const r of made.filter((r) => r.status === 'rejected')) {
    assert.equal(r.reason.code, 'HANDLE_LIMIT_EXCEEDED');
    assert.equal(r.reason.limit, 3);
    assert.ok(r.reason.retryAfterMs > 0);
  }
  await instances[1].create({ principal: 'dan' });
  await instances[2].create({ principal: 'erin' });
  await assert.rejects(instances[0].create({ principal: 'fay' }), { code: 'HANDLE_LIMIT_EXCEEDED', limit: 5 });
  await instances[2].destroy(ok[0].value.handleId, { principal: 'carol' });
  await instances[0].create({ principal: 'carol' });
});

test('an idle expiry happens exactly once across the fleet, and the ID then says expired everywhere', async () => {
  let now = 1_800_000_000_000;
  const { instances, events } = await fleet(3, { handleIdleTimeoutMs: 1_000 }, () => now);
  const h = await instances[0].create({ principal: 'gus' });
  now += 500;
  await instances[1].get(h.handleId, { principal: 'gus' }); // activity: the deadline moves
  await new Promise((resolve) => setTimeout(resolve, 200)); // the activity batch (100 ms) is written
  now += 900;
  assert.deepEqual(await Promise.all(instances.map((i) => i.sweep())), [0, 0, 0], 'not due yet: it was used');
  now += 200;
  const ended = await Promise.all(instances.map((i) => i.sweep()));
  assert.equal(ended.reduce((a, b) => a + b, 0), 1, `ended once: ${ended}`);
  const expired = events.filter((e) => e.type === 'handleExpired');
  assert.equal(expired.length, 1, 'one handleExpired event across the fleet');
  for (const i of instances) {
    await assert.rejects(i.get(h.handleId, { principal: 'gus' }), (error) => error.code === 'HANDLE_EXPIRED' && error.reason === 'idle');
  }
});

test('requestState: a token redeemed on one instance is refused as replayed on another', async () => {
  const { instances } = await fleet(3);
  const key = { id: 'k1', key: new Uint8Array(32).fill(4) };
  const bind = (ctx) => ({ principal: ctx.user, request: 'tools/call\0checkout' });
  const codecs = instances.map((i) => i.createRequestStateCodec({ key, bind }));
  const token = await codecs[0].mint({ step: 1 }, { user: 'hal' });
  const results = await Promise.allSettled(codecs.map((c) => c.verify(token, { user: 'hal' })));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'one redemption wins, fleet-wide');
  for (const r of results.filter((r) => r.status === 'rejected')) assert.equal(r.reason.message, 'replayed');
  assert.equal(await codecs[1].verify(token, { user: 'hal' }).catch((e) => e.message), 'replayed');
});

test('Redis stopped: STORAGE_FAILED and nothing half-written; back again: the instances recover without a restart', async () => {
  const { instances: [a, b] } = await fleet(2);
  const h = await a.create({ principal: 'ivy', state: { n: 1 } });
  await redis.kill();
  await assert.rejects(b.update(h.handleId, { n: 2 }, { principal: 'ivy' }), { code: 'STORAGE_FAILED' });
  await assert.rejects(a.create({ principal: 'ivy' }), { code: 'STORAGE_FAILED' });
  await redis.restart();
  // The clients reconnect on their own (within their 500 ms backoff).
  for (let i = 0; i < 100 && !clientsReady(); i++) await new Promise((r) => setTimeout(r, 50));
  const seen = await b.get(h.handleId, { principal: 'ivy' });
  assert.deepEqual([seen.state, seen.version], [{ n: 1 }, 0], 'the refused update left nothing behind');
  assert.equal(await b.update(h.handleId, { n: 2 }, { principal: 'ivy' }), 1);
  assert.equal((await a.list({ principal: 'ivy' })).length, 1, 'the refused create left nothing behind');
});

test('round trips per call: a read 1, a change 2, a create 1; activity in one batch', async () => {
  const real = await client();
  const calls = [];
  const counting = { eval: (script, options) => (calls.push(script.trim().split('\n')[0]), real.eval(script, options)) };
  const store = new RedisHandleStore(new RedisShared({ redis: counting, prefix: `rt${++prefixes}:` }));
  const count = async (op) => {
    calls.length = 0;
    await op();
    return calls.length;
  };
  let h;
  assert.equal(await count(async () => (h = await store.create({ principal: 'kim' }))), 1, 'create: the commit');
  assert.equal(await count(() => store.get(h.handleId, { principal: 'kim' })), 1, 'get: the fetch');
  assert.equal(await count(() => store.update(h.handleId, { n: 1 }, { principal: 'kim' })), 2, 'update: fetch and commit');
  const reads = async () => {
    for (let i = 0; i < 5; i++) await store.get(h.handleId, { principal: 'kim' });
    await new Promise((resolve) => setTimeout(resolve, 250));
  };
  assert.equal(await count(reads), 6, 'five reads: five fetches, and their activity in one touch');
  calls.length = 0;
  await assert.rejects(store.get(h.handleId, { principal: 'other' }), { code: 'HANDLE_NOT_FOUND' });
  assert.equal(calls.length, 1, 'a refused read: the fetch alone');
});
