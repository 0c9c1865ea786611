// Three instances of the example server (`REDIS_URL=… node examples/server.mjs`)
// behind a real nginx balancer (round-robin, no stickiness) and one real Redis:
// the official clients of both SDK lines with their requests spread over the
// instances, compare-and-set under concurrency, a fleet-wide cap, one expiry
// event across the fleet, an instance SIGKILLed, Redis restarted, Redis stopped.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { connect, call, startServer, until } from './mcp-server.mjs';
import { startRedis } from './support/redis.mjs';
import { startBalancer } from './support/balancer.mjs';

const KEY = Buffer.alloc(32, 7).toString('base64url');
let redis;
let instances;
let balancer;
let url;

async function startInstance(env = {}, port = 0) {
  return startServer({
    REDIS_URL: redis.url,
    REQUEST_STATE_KEY: KEY,
    LOG_EVENTS: '1',
    LOG_ERRORS: '1',
    SWEEP_MS: '100',
    IDLE_TIMEOUT_MS: '4000',
    HANDLE_IDLE_TIMEOUT_MS: '4000',
    MAX_SESSIONS_PER_PRINCIPAL: '3',
    ...env,
  }, port);
}

before(async () => {
  redis = await startRedis();
  instances = await Promise.all([startInstance(), startInstance(), startInstance()]);
  balancer = await startBalancer(instances.map((i) => i.port));
  url = new URL(`${balancer.url.replace(/\/$/, '')}/mcp`);
});

after(async () => {
  await balancer?.stop();
  for (const i of instances ?? []) await i.kill('SIGTERM');
  await redis?.stop();
});

const auth = (user) => ({ requestInit: { headers: { authorization: `Bearer ${user}` } } });

async function modernClient(user) {
  const client = new ClientV2(
    { name: user, version: '1' },
    { versionNegotiation: { mode: 'auto' }, inputRequired: { autoFulfill: false } },
  );
  await client.connect(new TransportV2(url, auth(user)));
  return client;
}

/** How many instances printed `[event] <type> <id>`. */
const eventLines = (type, id) =>
  instances.map((i) => i.output().split('\n').filter((l) => l === `[event] ${type} ${id}`).length);

test('both SDK lines through the balancer: a v1 session and v2 handles, each request landing on any instance', async () => {
  const { client } = await connect(url, 'ann');
  for (let i = 1; i <= 6; i++) assert.deepEqual(await call(client, 'notes_add', { text: `n${i}` }), Array.from({ length: i }, (_, k) => `n${k + 1}`));
  assert.equal((await call(client, 'notes_list')).length, 6);
  await client.close();

  const modern = await modernClient('ann');
  const text = (r) => r.content[0].text;
  const basket = JSON.parse(text(await modern.callTool({ name: 'create_basket', arguments: { state: { items: [] } } })));
  for (let v = 0; v < 4; v++) {
    const r = await modern.callTool({ name: 'update_basket', arguments: { handleId: basket.handleId, patch: { items: [`i${v}`] }, expectedVersion: v } });
    assert.deepEqual(JSON.parse(text(r)), { version: v + 1 });
  }
  const checkout = (requestState) =>
    modern.callTool({ name: 'checkout_basket', arguments: { handleId: basket.handleId }, ...(requestState ? { requestState } : {}) }, { allowInputRequired: true });
  const { requestState } = await checkout();
  assert.deepEqual(JSON.parse(text(await checkout(requestState))), { ordered: ['i3'] });
  // The replay lands on another instance (round-robin): the shared ledger refuses it.
  await assert.rejects(checkout(requestState), (error) => error.code === -32602);
  await until('a replayed refusal logged', () => instances.some((i) => /verification rejected tools\/call: replayed/.test(i.output())));
  await modern.close();
});

test("a notification for a session's GET stream reaches it from whichever instance sends it", async () => {
  const { ToolListChangedNotificationSchema } = await import('@modelcontextprotocol/sdk/types.js');
  const { client } = await connect(url, 'listener');
  let received = 0;
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    received++;
  });
  // The client opens its GET stream after the handshake, on one of the instances.
  await new Promise((resolve) => setTimeout(resolve, 300));
  // Round-robin: three calls run on three instances, at most one of them the holder.
  for (let i = 0; i < 3; i++) assert.deepEqual(await call(client, 'announce'), { announced: true });
  await until('three notifications', () => received >= 3, 5_000);
  assert.equal(received, 3);
  await client.close();
});

test('2026-07-28: a tools/list_changed announced on any instance reaches a subscriptions/listen stream held by another', async () => {
  const listener = await modernClient('lis');
  const changes = [];
  listener.setNotificationHandler('notifications/tools/list_changed', (n) => void changes.push(n));
  const subscription = await listener.listen({ toolsListChanged: true });
  await new Promise((resolve) => setTimeout(resolve, 300)); // its instance subscribed
  const caller = await modernClient('caller');
  // Round-robin: three announcements from three instances.
  for (let i = 0; i < 3; i++) await caller.callTool({ name: 'announce_tools_changed', arguments: {} });
  await until('three notifications on the listen stream', () => changes.length >= 3, 5_000);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(changes.length, 3, 'once each');
  await subscription.close();
  await listener.close();
  await caller.close();
});

test('the instance holding a GET stream SIGKILLed: the client resumes on another instance and misses nothing', async () => {
  const { ToolListChangedNotificationSchema } = await import('@modelcontextprotocol/sdk/types.js');
  const { client } = await connect(url, 'resumer');
  let received = 0;
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    received++;
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  await call(client, 'announce');
  await until('the first notification (it carries an event ID to resume from)', () => received === 1, 5_000);
  // Which instance holds the stream: the one whose operator view counts it.
  const views = await Promise.all(instances.map((i) => i.operators()));
  const holder = views.findIndex((v) => v.streams > 0);
  assert.ok(holder >= 0, JSON.stringify(views.map((v) => v.streams)));
  const port = instances[holder].port;
  await instances[holder].kill('SIGKILL');
  // Sent while no instance holds the stream: kept in Redis Streams for the resume.
  await persist(client, 'announce', {});
  await until('the missed notification, replayed on another instance', () => received === 2, 15_000);
  instances[holder] = await startInstance({}, port);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(received, 2, 'nothing twice');
  await client.close();
});

test('a session ended on one instance answers with its reason on every instance', async () => {
  const { client, transport } = await connect(url, 'ender');
  const id = transport.sessionId;
  await call(client, 'notes_add', { text: 'x' });
  await transport.terminateSession(); // DELETE, on whichever instance
  for (const instance of instances) {
    const res = await fetch(instance.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: 'Bearer ender',
        'mcp-session-id': id,
        'mcp-protocol-version': '2025-06-18',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(res.status, 404, `instance on ${instance.port}`);
    assert.match((await res.json()).error.message, /closed/i);
  }
  await client.close();
});

test('200 concurrent clients x 10 concurrent compare-and-set increments: every counter exact', async () => {
  const clients = await Promise.all(Array.from({ length: 200 }, (_, i) => connect(url, `user${i}`)));
  await Promise.all(clients.map(({ client }) => Promise.all(Array.from({ length: 10 }, () => call(client, 'counter_increment')))));
  const finals = await Promise.all(clients.map(({ client }) => call(client, 'session_info')));
  assert.deepEqual(new Set(finals.map((s) => s.state.counter)), new Set([10]), 'no increment lost');
  await Promise.all(clients.map(({ client }) => client.close()));
});

test('a per-user cap of 3 holds across the fleet', async () => {
  const attempts = await Promise.allSettled(Array.from({ length: 6 }, () => connect(url, 'capped')));
  const ok = attempts.filter((a) => a.status === 'fulfilled');
  assert.equal(ok.length, 3, 'three sessions, whichever instance each initialize reached');
  for (const a of attempts.filter((a) => a.status === 'rejected')) assert.match(String(a.reason), /429|limit/i);
  await Promise.all(ok.map((a) => a.value.client.close()));
});

test('an idle expiry happens exactly once across the fleet', async () => {
  const { client, transport } = await connect(url, 'idle');
  const id = transport.sessionId;
  await call(client, 'notes_add', { text: 'left alone' });
  await client.close(); // the streams close; no DELETE: the session idles out
  const total = () => eventLines('expired', id).reduce((a, b) => a + b, 0);
  // Idle for 4 s after its last activity or lease renewal, then found by the next
  // sweep of any instance: seconds, but a loaded CI machine once took over 15.
  await until('the session to expire', () => total() >= 1, 40_000);
  await new Promise((resolve) => setTimeout(resolve, 500)); // every instance swept since
  assert.equal(total(), 1, `one expired event across three instances: ${eventLines('expired', id)}`);
  const { client: again } = await connect(url, 'idle');
  await again.close();
});

/** `call`, tried again while the fleet answers a failure (an instance gone, Redis
 * away): what a client with a retry policy does. Answers the result and how many
 * attempts failed. */
async function persist(client, name, args, until = Date.now() + 30_000) {
  let failures = 0;
  for (;;) {
    try {
      // A response stream cut by a SIGKILL never ends: give up on it after 5 s.
      const result = await client.callTool({ name, arguments: args }, undefined, { timeout: 5_000 });
      return { value: JSON.parse(result.content[0].text), failures };
    } catch (error) {
      failures++;
      if (Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Clients adding notes one after another, each note kept once acknowledged. */
async function writers(n, user, during) {
  const clients = await Promise.all(Array.from({ length: n }, (_, i) => connect(url, `${user}${i}`)));
  const acked = clients.map(() => []);
  let stop = false;
  const loops = clients.map(async ({ client }, i) => {
    for (let k = 0; !stop; k++) {
      const note = `${i}-${k}`;
      await persist(client, 'notes_add', { text: note });
      acked[i].push(note);
    }
  });
  await during();
  stop = true;
  await Promise.all(loops);
  for (const [i, { client }] of clients.entries()) {
    const { value: notes } = await persist(client, 'notes_list', {});
    for (const note of acked[i]) assert.ok(notes.includes(note), `acknowledged note ${note} kept`);
    await client.close();
  }
  return acked.flat().length;
}

test('one instance SIGKILLed mid-traffic: no client loses its session or an acknowledged change', async () => {
  const written = await writers(10, 'survivor', async () => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const port = instances[1].port;
    await instances[1].kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    instances[1] = await startInstance({}, port);
    await new Promise((resolve) => setTimeout(resolve, 500));
  });
  assert.ok(written > 20, `notes written meanwhile: ${written}`);
});

test('Redis restarted (append-only file on) mid-traffic: no acknowledged change lost', async () => {
  const written = await writers(10, 'restart', async () => {
    await new Promise((resolve) => setTimeout(resolve, 400));
    await redis.restart();
    await new Promise((resolve) => setTimeout(resolve, 800));
  });
  assert.ok(written > 20, `notes written meanwhile: ${written}`);
});

test('Redis stopped: typed 503s; back again: the instances recover without a restart', async () => {
  const { client } = await connect(url, 'outage');
  await call(client, 'notes_add', { text: 'before' });
  await redis.kill();
  const refused = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: 'Bearer outage' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
  });
  assert.equal(refused.status, 503);
  const body = await refused.json();
  assert.equal(body.error.message.includes('storage'), true, JSON.stringify(body));
  await assert.rejects(call(client, 'notes_add', { text: 'during' }));
  await redis.restart();
  const { value, failures } = await persist(client, 'notes_add', { text: 'after' });
  assert.deepEqual(value, ['before', 'after'], `recovered (after ${failures} failed attempts); the refused note left nothing`);
  for (const i of instances) assert.equal(i.child.exitCode, null, 'no instance died');
  await client.close();
});
