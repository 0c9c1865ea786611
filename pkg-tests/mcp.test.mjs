// The official SDK client against the example server, run as a separate process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, connect, dataDir, post, startServer, until } from './mcp-server.mjs';

const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
const LIST = { jsonrpc: '2.0', id: 2, method: 'tools/list' };

async function errorOf(response) {
  const body = await response.json();
  return { status: response.status, code: body.error?.code, message: body.error?.message };
}

test('sessions through the SDK: header, state, errors, DELETE, other users, notifications', async () => {
  const server = await startServer({ DATA_DIR: dataDir() });
  try {
    const { client, transport } = await connect(server.url, 'alice');
    const id = transport.sessionId;
    assert.match(id, /^[0-9a-f]{32}$/, 'initialize answered with an Mcp-Session-Id');

    assert.deepEqual(await call(client, 'notes_add', { text: 'one' }), ['one']);
    assert.deepEqual(await call(client, 'notes_add', { text: 'two' }), ['one', 'two']);
    assert.equal(await call(client, 'counter_increment', { by: 5 }), 5);
    const info = await call(client, 'session_info');
    assert.deepEqual(info.state, { notes: ['one', 'two'], counter: 5 });
    assert.equal(info.principal, 'alice');

    assert.deepEqual(await errorOf(await post(server.url, LIST)), {
      status: 400,
      code: -32000,
      message: 'Bad Request: Mcp-Session-Id header is required',
    });
    const unknown = await errorOf(await post(server.url, LIST, { 'mcp-session-id': 'f'.repeat(32) }));
    assert.deepEqual(unknown, { status: 404, code: -32001, message: 'Session not found' });
    const malformed = await errorOf(await post(server.url, LIST, { 'mcp-session-id': 'bad id!' }));
    assert.equal(malformed.status, 400);

    // Another user presenting alice's ID sees exactly what an unknown ID gets.
    const bob = await errorOf(await post(server.url, LIST, { 'mcp-session-id': id, authorization: 'Bearer bob' }));
    assert.deepEqual(bob, unknown);
    const anonymous = await errorOf(await post(server.url, LIST, { 'mcp-session-id': id }));
    assert.deepEqual(anonymous, unknown);

    // A wrong MCP-Protocol-Version is 400.
    const wrongVersion = await post(server.url, LIST, {
      'mcp-session-id': id, authorization: 'Bearer alice', 'mcp-protocol-version': '2025-03-26',
    });
    assert.equal(wrongVersion.status, 400);

    // Notifications are accepted (202).
    const note = await post(
      server.url,
      { jsonrpc: '2.0', method: 'notifications/roots/list_changed' },
      { 'mcp-session-id': id, authorization: 'Bearer alice', 'mcp-protocol-version': '2025-11-25' },
    );
    assert.equal(note.status, 202);

    // DELETE ends it; the ID then answers 404.
    await transport.terminateSession();
    const gone = await errorOf(await post(server.url, LIST, { 'mcp-session-id': id, authorization: 'Bearer alice' }));
    assert.equal(gone.status, 404);
    assert.equal(gone.code, -32001);
    const ops = await server.operators();
    assert.equal(ops.sessions.length, 0);
    assert.equal(ops.transports, 0);
    await client.close();
  } finally {
    await server.kill('SIGTERM');
  }
});

test('an idle session expires; the client re-initializes and continues', async () => {
  const server = await startServer({ DATA_DIR: dataDir(), IDLE_TIMEOUT_MS: '300' });
  try {
    const first = await connect(server.url, 'carol');
    const oldId = first.transport.sessionId;
    await call(first.client, 'notes_add', { text: 'before' });
    await first.client.close(); // the client goes away (its GET stream too)
    await until('expiry', async () => (await server.operators()).sessions.length === 0);
    const expired = await post(server.url, LIST, {
      'mcp-session-id': oldId, authorization: 'Bearer carol', 'mcp-protocol-version': '2025-11-25',
    });
    assert.equal(expired.status, 404, 'the spec says 404, so clients re-initialize');
    const again = await connect(server.url, 'carol');
    assert.notEqual(again.transport.sessionId, oldId);
    assert.deepEqual(await call(again.client, 'notes_add', { text: 'after' }), ['after']);
    await again.client.close();
  } finally {
    await server.kill('SIGTERM');
  }
});

test('at capacity a new session gets 503 with Retry-After; a per-user cap gets 429', async () => {
  const server = await startServer({ DATA_DIR: dataDir(), MAX_SESSIONS: '2', MAX_SESSIONS_PER_PRINCIPAL: '1' });
  try {
    const a = await connect(server.url, 'u1');
    const capped = await post(server.url, INIT, { authorization: 'Bearer u1' });
    assert.equal(capped.status, 429);
    const b = await connect(server.url, 'u2');
    const full = await post(server.url, INIT, { authorization: 'Bearer u3' });
    assert.equal(full.status, 503);
    assert.ok(Number(full.headers.get('retry-after')) > 0);
    assert.equal((await full.json()).error.code, -32000);
    await a.client.close();
    await b.client.close();
  } finally {
    await server.kill('SIGTERM');
  }
});

test('SIGKILL, restart: the same session continues with its state, without re-initializing', async () => {
  const dir = dataDir();
  let server = await startServer({ DATA_DIR: dir });
  const port = server.port;
  const { client, transport } = await connect(server.url, 'dave');
  try {
    const id = transport.sessionId;
    await call(client, 'notes_add', { text: 'acknowledged before the crash' });
    assert.equal(await call(client, 'counter_increment', { by: 2 }), 2);
    await server.kill('SIGKILL');
    server = await startServer({ DATA_DIR: dir }, port);
    assert.match(server.output(), /restored sessions: 1/);
    assert.deepEqual(await call(client, 'notes_add', { text: 'after' }), ['acknowledged before the crash', 'after']);
    assert.equal(await call(client, 'counter_increment', { by: 1 }), 3);
    assert.equal(transport.sessionId, id, 'same session ID');
    const other = await post(server.url, LIST, { 'mcp-session-id': id, authorization: 'Bearer eve' });
    assert.equal(other.status, 404, 'the principal binding survives the restart');
  } finally {
    await client.close();
    await server.kill('SIGTERM');
  }
});

/** Reads an SSE response until `stop(events)` is true; returns the events. */
async function readEvents(response, stop) {
  const events = [];
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = response.body.getReader();
  while (!stop(events)) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const raw = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const id = /^id: ?(.*)$/m.exec(raw)?.[1];
      const data = /^data: ?(.*)$/m.exec(raw)?.[1];
      if (data) events.push({ id, message: JSON.parse(data) });
    }
  }
  await reader.cancel().catch(() => {});
  return events;
}

test('Last-Event-ID: a client that reconnects receives exactly the events it missed', async () => {
  const server = await startServer({ DATA_DIR: dataDir() });
  const { client, transport } = await connect(server.url, 'frank');
  try {
    const headers = {
      'mcp-session-id': transport.sessionId, authorization: 'Bearer frank', 'mcp-protocol-version': '2025-11-25',
    };
    const abort = new AbortController();
    const response = await fetch(server.url, {
      method: 'POST',
      signal: abort.signal,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify({
        jsonrpc: '2.0', id: 7, method: 'tools/call',
        params: { name: 'count_slowly', arguments: { steps: 6, delayMs: 150 }, _meta: { progressToken: 'p' } },
      }),
    });
    const before = await readEvents(response, (events) => events.length >= 2);
    abort.abort();
    const progressOf = (events) => events.filter((e) => e.message.method === 'notifications/progress').map((e) => e.message.params.progress);
    assert.deepEqual(progressOf(before), [1, 2]);
    await new Promise((resolve) => setTimeout(resolve, 400)); // events happen while disconnected
    const resumed = await fetch(server.url, {
      headers: { accept: 'text/event-stream', 'last-event-id': before.at(-1).id, ...headers },
    });
    assert.equal(resumed.status, 200);
    const after = await readEvents(resumed, (events) => events.some((e) => e.message.id === 7));
    assert.deepEqual(progressOf(after), [3, 4, 5, 6], 'exactly the missed progress, once each');
    const result = after.find((e) => e.message.id === 7).message.result;
    assert.deepEqual(JSON.parse(result.content[0].text), { counted: 6 });
  } finally {
    await client.close();
    await server.kill('SIGTERM');
  }
});

test('200 concurrent clients keep their own state; when they leave, nothing is held', async () => {
  // Idle 10 s: a loaded machine can leave a client quiet for seconds between calls.
  const server = await startServer({ DATA_DIR: dataDir(), IDLE_TIMEOUT_MS: '10000' });
  try {
    const baseline = (await server.operators({ gc: true })).memory.heapUsed;
    const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    const clients = await Promise.all(users.map((user) => connect(server.url, user)));
    assert.equal(new Set(clients.map((c) => c.transport.sessionId)).size, 200);
    // Each client increments its counter 10 times, 5 at a time concurrently.
    await Promise.all(
      clients.map(async ({ client }, i) => {
        for (let round = 0; round < 2; round++) {
          await Promise.all(Array.from({ length: 5 }, () => call(client, 'counter_increment', { by: 1 })));
        }
        await call(client, 'notes_add', { text: users[i] });
      }),
    );
    const infos = await Promise.all(clients.map(({ client }) => call(client, 'session_info')));
    infos.forEach((info, i) => {
      assert.equal(info.principal, users[i]);
      assert.deepEqual(info.state, { counter: 10, notes: [users[i]] }, 'no lost update, no cross-talk');
    });
    const busy = await server.operators({ gc: true });
    assert.equal(busy.sessions.length, 200);
    assert.equal(busy.transports, 200);

    await Promise.all(clients.map(({ client }) => client.close()));
    const idle = await until('every session to expire', async () => {
      const ops = await server.operators();
      return ops.sessions.length === 0 && ops.transports === 0 ? ops : null;
    }, 40_000);
    assert.equal(idle.bufferedEvents, 0);
    assert.equal(idle.stats.live, 0);
    const after = (await server.operators({ gc: true })).memory.heapUsed;
    console.log(
      `server heap after GC: ${baseline} at start, ${busy.memory.heapUsed} with 200 sessions, ` +
        `${after} after they expired; transports held: ${idle.transports}`,
    );
    const held = busy.memory.heapUsed - baseline;
    assert.ok(after - baseline < held / 2, 'most of what the sessions held was released');
  } finally {
    await server.kill('SIGTERM');
  }
});
