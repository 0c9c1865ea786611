// Cross-instance push through a real redis-server (started by the test on a free
// port): resumability events in Redis Streams (RedisEventStore, the v1 SDK's
// EventStore) replayed by another instance, bounded by MAXLEN, never across
// sessions; change events on Redis pub/sub (RedisServerEventBus, the v2 SDK's
// ServerEventBus) reaching every other instance exactly once; and a v2 client's
// subscriptions/listen stream on one server receiving a tools/list_changed
// published on another.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { RedisEventStore, RedisServerEventBus } from 'mcp-session-core';
import { McpServer, createMcpHandler } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { z } from 'zod';
import { closeClients, clientsReady, redisClient, startRedis } from './support/redis.mjs';

const redis = await startRedis();
const buses = []; // closed here too, so a failed test leaves no subscriber connection open
after(async () => {
  for (const b of buses) await b.close();
  await closeClients();
  await redis.stop();
});

const client = () => redisClient(redis);

let prefixes = 0;
const prefix = () => `bus${++prefixes}:`;

/** Resolves once `check()` is true (polled), or fails after `ms`. */
async function until(check, what, ms = 3000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const note = (n) => ({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: n } });

async function replay(store, lastEventId) {
  const sent = [];
  const streamId = await store.replayEventsAfter(lastEventId, {
    send: async (eventId, message) => void sent.push([eventId, message]),
  });
  return { streamId, sent };
}

test('events stored on one instance are replayed by another (its own connection), in order, only those of the stream, after the given ID', async () => {
  const p = prefix();
  const [a, b] = [await client(), await client()];
  const here = new RedisEventStore({ redis: a, sessionId: 'session-1', prefix: p, ttlMs: 60_000 });
  const there = new RedisEventStore({ redis: b, sessionId: 'session-1', prefix: p, ttlMs: 60_000 });
  const ids = { x: [], y: [] };
  for (let n = 0; n < 6; n++) {
    const stream = n % 2 === 0 ? 'x' : '_GET_stream';
    (stream === 'x' ? ids.x : ids.y).push([await here.storeEvent(stream, note(n)), n]);
  }
  for (const [id] of [...ids.x, ...ids.y]) assert.doesNotMatch(id, /session-1/, 'the ID does not show the session ID');
  await here.written(); // storeEvent answers at once; the write goes out behind it

  assert.equal(await there.getStreamIdForEventId(ids.x[0][0]), 'x');
  assert.equal(await there.getStreamIdForEventId(ids.y[1][0]), '_GET_stream', 'a stream name with underscores is found as is');
  const fromX = await replay(there, ids.x[0][0]);
  assert.equal(fromX.streamId, 'x');
  assert.deepEqual(fromX.sent, [[ids.x[1][0], note(2)], [ids.x[2][0], note(4)]], 'the later events of stream x, in order, under their IDs');
  const fromY = await replay(there, ids.y[0][0]);
  assert.equal(fromY.streamId, '_GET_stream');
  assert.deepEqual(fromY.sent.map(([, m]) => m.params.data), [3, 5]);
  const fromLast = await replay(there, ids.x[2][0]);
  assert.deepEqual([fromLast.streamId, fromLast.sent], ['x', []], 'after the last event: the stream, nothing to send');

  // The SDK stores an empty priming event; it replays like any other.
  const priming = await here.storeEvent('x', {});
  const afterPriming = await there.storeEvent('x', note(6));
  await Promise.all([here.written(), there.written()]);
  assert.deepEqual((await replay(here, priming)).sent, [[afterPriming, note(6)]], 'written on the second instance, replayed on the first');

  const ttl = await a.pTTL(here.key);
  assert.ok(ttl > 0 && ttl <= 60_000, `the key expires (PTTL ${ttl})`);
  await there.clear();
  assert.equal(await a.exists(here.key), 0, 'clear() drops the events');
  assert.deepEqual(await replay(here, afterPriming), { streamId: '', sent: [] });
});

test('MAXLEN bounds a session: 3x the bound stored keeps about the bound; an evicted ID replays nothing, a kept one replays the rest', async () => {
  const p = prefix();
  const [a, b] = [await client(), await client()];
  const bound = 200;
  const store = new RedisEventStore({ redis: a, sessionId: 'busy', prefix: p, maxEvents: bound });
  const ids = [];
  for (let n = 0; n < 3 * bound; n++) ids.push(await store.storeEvent('s', note(n)));
  await store.written();
  const length = await a.xLen(store.key);
  // `~`: Redis trims whole blocks (stream-node-max-entries, 100 by default).
  assert.ok(length >= bound && length <= bound + 100, `the stream holds about ${bound} events (${length})`);

  const other = new RedisEventStore({ redis: b, sessionId: 'busy', prefix: p, maxEvents: bound });
  assert.equal(await other.getStreamIdForEventId(ids[0]), undefined, 'an evicted ID names no stream (the SDK answers 400)');
  assert.deepEqual(await replay(other, ids[0]), { streamId: '', sent: [] }, 'an evicted ID replays nothing: no stream with a gap');
  const kept = ids.length - bound;
  const rest = await replay(other, ids[kept]);
  assert.equal(rest.streamId, 's');
  assert.deepEqual(rest.sent.map(([id]) => id), ids.slice(kept + 1), 'a kept ID replays every later event, in order');
});

test("another session's event ID, a malformed one, or one naming an entry that only another session's key holds, replays nothing", async () => {
  const p = prefix();
  const a = await client();
  const mine = new RedisEventStore({ redis: a, sessionId: 'alice-session', prefix: p });
  const theirs = new RedisEventStore({ redis: a, sessionId: 'bob-session', prefix: p });
  const myFirst = await mine.storeEvent('_GET_stream', note('alice 1'));
  await mine.storeEvent('_GET_stream', note('alice 2'));
  const theirFirst = await theirs.storeEvent('_GET_stream', note('bob 1'));
  await theirs.storeEvent('_GET_stream', note('bob 2'));
  await Promise.all([mine.written(), theirs.written()]);

  assert.equal(await mine.getStreamIdForEventId(theirFirst), undefined);
  assert.deepEqual(await replay(mine, theirFirst), { streamId: '', sent: [] }, "bob's ID replays nothing of alice's");
  assert.deepEqual(await replay(theirs, myFirst), { streamId: '', sent: [] }, "alice's ID replays nothing of bob's");

  // The same local part under carol's key names nothing there: the session tag
  // in the ID is checked first.
  const carol = new RedisEventStore({ redis: a, sessionId: 'carol-session', prefix: p });
  const entry = myFirst.slice(myFirst.indexOf('.') + 1);
  await a.xAdd(carol.key, '*', { e: entry, s: '_GET_stream', m: JSON.stringify(note('carol, same local ID')) });
  await carol.storeEvent('_GET_stream', note('carol 2'));
  await carol.written();
  assert.equal(await carol.getStreamIdForEventId(myFirst), undefined);
  assert.deepEqual(await replay(carol, myFirst), { streamId: '', sent: [] }, 'the session tag in the ID is checked first');

  for (const bad of ['', 'garbage', entry, '1-0', `${myFirst}.1`, `${myFirst.split('.')[0]}.x-1`, `${myFirst.split('.')[0]}.0-0`]) {
    assert.equal(await mine.getStreamIdForEventId(bad), undefined, JSON.stringify(bad));
    assert.deepEqual(await replay(mine, bad), { streamId: '', sent: [] }, JSON.stringify(bad));
  }
});

test('Redis failing: a write still gives an ID at once (the event goes out live) and reports; a read rejects for the SDK to answer 500', async () => {
  const errors = [];
  const failing = { eval: async () => { throw new Error('connection lost'); } };
  const store = new RedisEventStore({ redis: failing, sessionId: 's', onError: (e) => errors.push(e.message) });
  const id = await store.storeEvent('x', note(1));
  assert.match(id, /^[\w-]+\.[\w-]+-1$/);
  await store.written();
  assert.deepEqual(errors, ['connection lost']);
  const real = new RedisEventStore({ redis: await client(), sessionId: 's', prefix: prefix() });
  const stored = await real.storeEvent('x', note(1));
  const cutOff = new RedisEventStore({ redis: failing, sessionId: 's' });
  await assert.rejects(cutOff.getStreamIdForEventId(stored), /connection lost/);
  assert.throws(() => new RedisEventStore({ redis: failing, sessionId: 's', maxEvents: 0 }), TypeError);
  assert.throws(() => new RedisEventStore({ redis: failing, sessionId: '' }), TypeError);
});

/** A bus on its own connection, recording what each of its listeners got. */
async function bus(p, name) {
  const errors = [];
  const b = new RedisServerEventBus({ redis: await client(), prefix: p, onError: (e) => errors.push(e) });
  buses.push(b);
  const got = [];
  b.subscribe((event) => got.push(event));
  await b.ready();
  return { b, got, errors, name };
}

test('the bus: an event published on A reaches B and C (their own connections) exactly once each, and A\'s own listeners once, never echoed', async () => {
  const p = prefix();
  const [A, B, C] = [await bus(p, 'A'), await bus(p, 'B'), await bus(p, 'C')];
  const raw = await client();
  assert.equal((await raw.pubSubNumSub(A.b.channel))[A.b.channel], 3, 'three subscriber connections');

  const updated = { kind: 'resource_updated', uri: 'file:///a.txt', params: { note: 'x' } };
  A.b.publish({ kind: 'tools_list_changed' });
  A.b.publish(updated);
  assert.equal(A.got.length, 2, 'the publishing bus delivers to its own listeners at once');
  await until(() => B.got.length === 2, 'B');
  // Published after B saw A's events: by the time it reaches A and C, Redis has
  // delivered A's events (and A's echo of them) to every subscriber.
  B.b.publish({ kind: 'prompts_list_changed' });
  await until(() => A.got.length === 3 && C.got.length === 3, 'A and C');
  await sleep(50);
  const expected = [{ kind: 'tools_list_changed' }, updated, { kind: 'prompts_list_changed' }];
  for (const { got, name, errors } of [A, B, C]) {
    assert.deepEqual(got, expected, `${name}: each event once, in order`);
    assert.deepEqual(errors, [], name);
  }

  // Junk on the channel is reported, not delivered, and breaks nothing.
  await raw.publish(A.b.channel, 'not json');
  await raw.publish(A.b.channel, JSON.stringify({ v: 1, from: 'x', event: { kind: 'rm_rf' } }));
  A.b.publish({ kind: 'resources_list_changed' });
  await until(() => B.errors.length === 2 && C.got.length === 4, 'junk reported and the next event delivered');
  assert.deepEqual(B.got.at(-1), { kind: 'resources_list_changed' });
  for (const s of [A, B, C]) await s.b.close();
});

test('the bus: a throwing listener does not stop the others (here or elsewhere) and is reported; close() stops delivery and unsubscribes', async () => {
  const p = prefix();
  const [A, B, C] = [await bus(p, 'A'), await bus(p, 'B'), await bus(p, 'C')];
  const boom = () => {
    throw new Error('listener failed');
  };
  const offB = B.b.subscribe(boom);
  A.b.subscribe(boom);
  const laterB = [];
  B.b.subscribe((event) => laterB.push(event));
  A.b.publish({ kind: 'tools_list_changed' });
  await until(() => laterB.length === 1 && C.got.length === 1, 'B and C');
  assert.equal(B.got.length, 1, 'the listener before the throwing one got it too');
  assert.deepEqual(B.errors.map((e) => e.message), ['listener failed']);
  assert.deepEqual(A.errors.map((e) => e.message), ['listener failed'], 'locally as well');
  assert.equal(A.got.length, 1);
  offB();
  offB();

  const raw = await client();
  await C.b.close();
  await C.b.close();
  assert.equal((await raw.pubSubNumSub(A.b.channel))[A.b.channel], 2, "C's subscriber connection unsubscribed");
  A.b.publish({ kind: 'prompts_list_changed' });
  C.b.publish({ kind: 'resources_list_changed' }); // a closed bus publishes nothing
  C.b.subscribe(() => assert.fail('a closed bus registers nothing'));
  await until(() => B.got.length === 2, 'B');
  await sleep(50);
  assert.equal(C.got.length, 1, 'a closed bus delivers nothing more');
  assert.deepEqual(B.got.map((e) => e.kind), ['tools_list_changed', 'prompts_list_changed'], 'nothing from the closed bus');
  await assert.rejects(C.b.ready(), /closed/);
  for (const s of [A, B]) await s.b.close();
  assert.equal((await raw.pubSubNumSub(A.b.channel))[A.b.channel], 0);
});

test('the bus with Redis away: publishing reports and still serves local listeners; a subscribe that cannot connect reports, and ready() retries', async () => {
  const errors = [];
  const dead = createClient({ url: 'redis://127.0.0.1:1', disableOfflineQueue: true, socket: { reconnectStrategy: false } });
  dead.on('error', () => {});
  const b = new RedisServerEventBus({ redis: dead, onError: (e) => errors.push(e) });
  buses.push(b);
  const got = [];
  b.subscribe((event) => got.push(event));
  b.publish({ kind: 'tools_list_changed' });
  assert.deepEqual(got, [{ kind: 'tools_list_changed' }]);
  await until(() => errors.length >= 2, 'the failed publish and the failed subscribe reported');
  await assert.rejects(b.ready());
  await b.close();
});

test('v2 SDK end to end: a client listening on server 1 gets tools/list_changed published on server 2 (each createMcpHandler with its own RedisServerEventBus)', async () => {
  const p = prefix();
  const factory = () => {
    const server = new McpServer({ name: 'fleet', version: '1.0.0' });
    server.registerTool('ping', { description: 'pong', inputSchema: z.object({}) }, async () => ({ content: [{ type: 'text', text: 'pong' }] }));
    return server;
  };
  const instances = [];
  for (let i = 0; i < 2; i++) {
    const errors = [];
    const bus = new RedisServerEventBus({ redis: await client(), prefix: p, onError: (e) => errors.push(e) });
    buses.push(bus);
    const handler = createMcpHandler(factory, { legacy: 'reject', bus });
    const server = http.createServer(toNodeHandler(handler));
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    instances.push({ bus, handler, server, errors, url: new URL(`http://127.0.0.1:${server.address().port}/mcp`) });
  }
  const [one, two] = instances;
  const client1 = new Client({ name: 'listener', version: '1' }, { versionNegotiation: { mode: 'auto' } });
  try {
    await client1.connect(new StreamableHTTPClientTransport(one.url));
    assert.equal(client1.getNegotiatedProtocolVersion(), '2026-07-28');
    const changes = [];
    client1.setNotificationHandler('notifications/tools/list_changed', (n) => void changes.push(n));
    const subscription = await client1.listen({ toolsListChanged: true });
    assert.deepEqual(subscription.honoredFilter, { toolsListChanged: true });
    await one.bus.ready(); // the listen stream subscribed: its Redis subscription is in place

    two.handler.notify.toolsChanged();
    await until(() => changes.length === 1, 'the list_changed on the stream held by server 1');
    two.handler.notify.promptsChanged(); // not asked for: filtered out by server 1's router
    two.handler.notify.toolsChanged();
    await until(() => changes.length === 2, 'the second one');
    await sleep(50);
    assert.equal(changes.length, 2, 'once each');
    assert.equal(changes[0].method, 'notifications/tools/list_changed');
    await subscription.close();
    for (const { errors } of instances) assert.deepEqual(errors, []);
  } finally {
    await client1.close().catch(() => {});
    for (const { bus, handler, server } of instances) {
      await handler.close();
      await bus.close();
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    }
  }
});
