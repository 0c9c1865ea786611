// Both protocol eras on one endpoint (mcp-session-core/v2's DualEraHandler): the v2
// SDK's client on the 2026-07-28 revision, and the v1 SDK's client with a 2025-era
// session, against the same HTTP server; and a modern-only endpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { McpSessionHandler } from 'mcp-session-core/mcp';
import { DualEraHandler, registerHandleTools } from 'mcp-session-core/v2';
import { SessionManager, createSealedRequestStateCodec } from 'mcp-session-core';
import { McpServer as McpServerV2, createMcpHandler, inputRequired } from '@modelcontextprotocol/server';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { z } from 'zod';
import { connect, call, dataDir, startServer } from './mcp-server.mjs';

const bearer = (req) => /^Bearer (\w+)$/.exec(req.headers.authorization ?? '')?.[1];

/** A 2026-07-28 server: who called, from the principal the endpoint passed on. */
function modernServer() {
  const server = new McpServerV2({ name: 'modern', version: '1.0.0' });
  server.registerTool('whoami', { description: 'The caller', inputSchema: z.object({}) }, async (_args, ctx) => ({
    content: [{ type: 'text', text: ctx.http?.authInfo?.clientId ?? 'anonymous' }],
  }));
  return server;
}

/** A 2025-era server whose tool reads the session it runs in. */
function legacyServer(sessions) {
  return () => {
    const server = new McpServerV1({ name: 'legacy', version: '1.0.0' });
    server.registerTool('count', { description: 'Counts calls in this session', inputSchema: {} }, async (_args, extra) => {
      const session = sessions().getSession(extra.sessionId);
      const n = (session.state.n ?? 0) + 1;
      sessions().updateSessionState(extra.sessionId, { n }, { expectedVersion: session.version });
      return { content: [{ type: 'text', text: String(n) }] };
    });
    return server;
  };
}

async function listen(handle) {
  const server = http.createServer((req, res) => void handle(req, res));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: new URL(`http://127.0.0.1:${server.address().port}/mcp`) };
}

const text = (result) => result.content[0].text;
const auth = (user) => ({ requestInit: { headers: { authorization: `Bearer ${user}` } } });

test('one endpoint, both eras: the v2 client on 2026-07-28 and the v1 client with a session, side by side', async () => {
  let legacy;
  legacy = new McpSessionHandler({ createServer: legacyServer(() => legacy.sessions), principal: bearer });
  const endpoint = new DualEraHandler({ modern: createMcpHandler(modernServer, { legacy: 'reject' }), legacy, principal: bearer });
  const { server, url } = await listen(endpoint.handle);
  try {
    const modern = new ClientV2({ name: 'modern-client', version: '1' }, { versionNegotiation: { mode: 'auto' } });
    await modern.connect(new TransportV2(url, auth('alice')));
    assert.equal(modern.getNegotiatedProtocolVersion(), '2026-07-28');
    assert.equal(text(await modern.callTool({ name: 'whoami', arguments: {} })), 'alice');
    assert.equal(legacy.sessions.stats().live, 0, 'modern traffic makes no session');

    const old = new ClientV1({ name: 'legacy-client', version: '1' });
    const transport = new TransportV1(url, auth('bob'));
    await old.connect(transport);
    assert.match(transport.sessionId, /^[0-9a-f]{32}$/, 'the legacy client got an Mcp-Session-Id');
    assert.equal(text(await old.callTool({ name: 'count', arguments: {} })), '1');
    assert.equal(text(await old.callTool({ name: 'count', arguments: {} })), '2');
    assert.equal(legacy.sessions.getSession(transport.sessionId).principal, 'bob');

    // Interleaved: neither era disturbs the other.
    assert.equal(text(await modern.callTool({ name: 'whoami', arguments: {} })), 'alice');
    assert.equal(text(await old.callTool({ name: 'count', arguments: {} })), '3');
    const sessionId = transport.sessionId;
    await transport.terminateSession();
    assert.equal(legacy.sessions.getSession(sessionId).status, 'closed', 'DELETE ended the 2025 session');
    await modern.close();
  } finally {
    server.close();
    await endpoint.close();
  }
});

test('a modern-only endpoint: GET and DELETE answer 405; Mcp-Session-Id and Last-Event-ID are ignored; Origin is checked', async () => {
  const endpoint = new DualEraHandler({ modern: createMcpHandler(modernServer, { legacy: 'reject' }), principal: bearer });
  const { server, url } = await listen(endpoint.handle);
  try {
    for (const method of ['GET', 'DELETE']) {
      const headers = { authorization: 'Bearer carol', accept: 'text/event-stream', 'mcp-session-id': 'f'.repeat(32) };
      const response = await fetch(url, { method, headers });
      assert.equal(response.status, 405, `${method} is not served`);
      await response.body?.cancel();
    }
    const rebinding = await fetch(url, { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'application/json' }, body: '{}' });
    assert.equal(rebinding.status, 403, 'another site\'s page is refused on the modern path too');
    await rebinding.body?.cancel();
    const anonymous = new ClientV2({ name: 'anonymous', version: '1' }, { versionNegotiation: { mode: 'auto' } });
    await assert.rejects(anonymous.connect(new TransportV2(url)), 'no credentials: refused (401)');
    const client = new ClientV2({ name: 'modern-client', version: '1' }, { versionNegotiation: { mode: 'auto' } });
    const headers = { authorization: 'Bearer carol', 'mcp-session-id': 'f'.repeat(32), 'last-event-id': '42' };
    await client.connect(new TransportV2(url, { requestInit: { headers } }));
    assert.equal(text(await client.callTool({ name: 'whoami', arguments: {} })), 'carol', 'a stray session ID changes nothing');
    await client.close();
  } finally {
    server.close();
    await endpoint.close();
  }
});

test('npm start serves both eras: the example server process answers the v2 client on 2026-07-28 (a basket handle that survives SIGKILL, a single-use requestState refused as replayed after SIGKILL) and the v1 client with a session', async () => {
  const dir = dataDir();
  let server = Object.assign(await startServer({ DATA_DIR: dir, LOG_ERRORS: '1' }), { dataDir: dir });
  try {
    const modern = new ClientV2({ name: 'modern-client', version: '1' }, { versionNegotiation: { mode: 'auto' } });
    await modern.connect(new TransportV2(server.url, auth('dave')));
    assert.equal(modern.getNegotiatedProtocolVersion(), '2026-07-28');
    assert.deepEqual(JSON.parse(text(await modern.callTool({ name: 'whoami', arguments: {} }))), {
      principal: 'dave',
      protocolVersion: '2026-07-28',
    });
    const basket = JSON.parse(text(await modern.callTool({ name: 'create_basket', arguments: { state: { items: ['pear'] } } })));
    await modern.close();
    // A checkout's confirmation: sealed requestState, redeemed once.
    const manualClient = async (url) => {
      const client = new ClientV2(
        { name: 'modern-client', version: '1' },
        { versionNegotiation: { mode: 'auto' }, inputRequired: { autoFulfill: false } },
      );
      await client.connect(new TransportV2(url, auth('dave')));
      return client;
    };
    const checkout = (client, requestState) =>
      client.callTool(
        { name: 'checkout_basket', arguments: { handleId: order.handleId }, ...(requestState ? { requestState } : {}) },
        { allowInputRequired: true },
      );
    const buyer = await manualClient(server.url);
    const order = JSON.parse(text(await buyer.callTool({ name: 'create_basket', arguments: { state: { items: ['fig'] } } })));
    const { requestState } = await checkout(buyer);
    assert.match(requestState, /^rs1\.file\./);
    assert.deepEqual(JSON.parse(text(await checkout(buyer, requestState))), { ordered: ['fig'] });
    await buyer.close();
    // A handle survives SIGKILL and a restart through the file store, and so
    // does the ledger: the redeemed confirmation is refused as replayed.
    await server.kill('SIGKILL');
    const again = await startServer({ DATA_DIR: server.dataDir, LOG_ERRORS: '1' });
    const back = new ClientV2({ name: 'modern-client', version: '1' }, { versionNegotiation: { mode: 'auto' } });
    await back.connect(new TransportV2(again.url, auth('dave')));
    const kept = JSON.parse(text(await back.callTool({ name: 'get_basket', arguments: { handleId: basket.handleId } })));
    assert.deepEqual(kept.state, { items: ['pear'] });
    await back.close();
    const replayer = await manualClient(again.url);
    await assert.rejects(checkout(replayer, requestState), (error) => error.code === -32602);
    assert.match(again.output(), /requestState verification rejected tools\/call: replayed/);
    await replayer.close();
    server = again;
    const { client } = await connect(server.url, 'erin');
    assert.deepEqual(await call(client, 'notes_add', { text: 'kept' }), ['kept']);
    await client.close();
  } finally {
    await server.kill('SIGTERM');
  }
});

test('state handles through the v2 client: create, use across calls, another user\'s reads as unknown, expiry, destroy, the cap', async () => {
  let now = 1_700_000_000_000;
  const manager = new SessionManager({
    clock: () => now,
    handleIdleTimeoutMs: 60_000,
    handleLifetimeMs: 3_600_000,
    maxHandlesPerPrincipal: 2,
  });
  const build = () => {
    const server = new McpServerV2({ name: 'baskets', version: '1.0.0' });
    registerHandleTools(server, manager.handles, { noun: 'basket', list: true });
    return server;
  };
  const endpoint = new DualEraHandler({ modern: createMcpHandler(build, { legacy: 'reject' }), principal: bearer });
  const { server, url } = await listen(endpoint.handle);
  const clientOf = async (user) => {
    const client = new ClientV2({ name: user, version: '1' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new TransportV2(url, auth(user)));
    return client;
  };
  const call = async (client, name, args) => {
    const result = await client.callTool({ name, arguments: args });
    return { error: result.isError === true, value: result.isError ? text(result) : JSON.parse(text(result)) };
  };
  try {
    const alice = await clientOf('alice');
    const tools = (await alice.listTools()).tools;
    const create = tools.find((t) => t.name === 'create_basket');
    assert.match(create.description, /expires after 1 min unused, and 1 h after it was created/, 'the lifetime is in the description');
    const { value: basket } = await call(alice, 'create_basket', { state: { items: [] } });
    assert.match(basket.handleId, /^h_/);
    assert.deepEqual((await call(alice, 'update_basket', { handleId: basket.handleId, patch: { items: ['apple'] }, expectedVersion: 0 })).value, { version: 1 });
    const stale = await call(alice, 'update_basket', { handleId: basket.handleId, patch: { items: [] }, expectedVersion: 0 });
    assert.equal(stale.error, true, 'compare-and-set refuses a stale version');
    assert.deepEqual((await call(alice, 'get_basket', { handleId: basket.handleId })).value.state, { items: ['apple'] });

    const bob = await clientOf('bob');
    const theirs = await call(bob, 'get_basket', { handleId: basket.handleId });
    const unknown = await call(bob, 'get_basket', { handleId: `h_${'0'.repeat(32)}` });
    assert.deepEqual(theirs, { error: true, value: 'Handle not found' });
    assert.deepEqual(theirs, unknown, "another user's handle reads exactly as an unknown one");
    assert.deepEqual((await call(bob, 'list_baskets', {})).value, []);

    const second = (await call(alice, 'create_basket', {})).value;
    const full = await call(alice, 'create_basket', {});
    assert.equal(full.error, true);
    assert.match(full.value, /limit reached .*retry after/i);

    await call(alice, 'destroy_basket', { handleId: second.handleId });
    assert.match((await call(alice, 'get_basket', { handleId: second.handleId })).value, /destroyed/);

    now += 61_000;
    const expired = await call(alice, 'get_basket', { handleId: basket.handleId });
    assert.equal(expired.error, true);
    assert.match(expired.value, /has expired \(idle\)/, 'an expired handle says so, never "not found"');
    await alice.close();
    await bob.close();
  } finally {
    server.close();
    await endpoint.close();
    manager.dispose();
  }
});

test('requestState through the v2 SDK: sealed by this package, verified by the SDK\'s hook: round trip, tampered, another user, replayed, expired, after a key rotation', async () => {
  let now = 1_700_000_000_000;
  const codec = createSealedRequestStateCodec({
    key: { id: 'k1', key: new Uint8Array(32).fill(7) },
    ttlSeconds: 60,
    bind: (ctx) => ({ principal: ctx.http?.authInfo?.clientId, request: ctx.mcpReq.method }),
    now: () => now,
  });
  const refusals = [];
  const verify = async (state, ctx) => {
    try {
      return await codec.verify(state, ctx);
    } catch (error) {
      refusals.push(error.message);
      throw error;
    }
  };
  const build = () => {
    const server = new McpServerV2({ name: 'two-step', version: '1.0.0' }, { requestState: { verify } });
    server.registerTool('two_step', { description: 'Needs a second round', inputSchema: z.object({}) }, async (_args, ctx) => {
      const state = ctx.mcpReq.requestState();
      if (state === undefined) return inputRequired({ requestState: await codec.mint({ step: 1 }, ctx) });
      return { content: [{ type: 'text', text: JSON.stringify(state) }] };
    });
    return server;
  };
  const endpoint = new DualEraHandler({ modern: createMcpHandler(build, { legacy: 'reject' }), principal: bearer });
  const { server, url } = await listen(endpoint.handle);
  const clientOf = async (user, manual = true) => {
    const options = { versionNegotiation: { mode: 'auto' }, ...(manual ? { inputRequired: { autoFulfill: false } } : {}) };
    const client = new ClientV2({ name: user, version: '1' }, options);
    await client.connect(new TransportV2(url, auth(user)));
    return client;
  };
  const start = async (client) =>
    (await client.callTool({ name: 'two_step', arguments: {} }, { allowInputRequired: true })).requestState;
  const retry = (client, requestState) =>
    client.callTool({ name: 'two_step', arguments: {}, requestState }, { allowInputRequired: true });
  const refused = async (promise, reason) => {
    await assert.rejects(promise, (error) => error.code === -32602);
    assert.equal(refusals.at(-1), reason);
  };
  try {
    // The client's own multi-round-trip loop carries the sealed state back.
    const auto = await clientOf('alice', false);
    assert.equal(text(await auto.callTool({ name: 'two_step', arguments: {} })), '{"step":1}');
    await auto.close();

    const alice = await clientOf('alice');
    const bob = await clientOf('bob');
    const token = await start(alice);
    assert.match(token, /^rs1\.k1\./);
    const flipped = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
    await refused(retry(alice, flipped), 'mac');
    await refused(retry(bob, token), 'bind');
    assert.equal(text(await retry(alice, token)), '{"step":1}', 'refused attempts did not use it up');
    await refused(retry(alice, token), 'replayed');

    const late = await start(alice);
    now += 61_000;
    await refused(retry(alice, late), 'expired');

    const before = await start(alice);
    const kept = await start(alice);
    codec.rotate({ id: 'k2', key: new Uint8Array(32).fill(9) });
    assert.match(await start(alice), /^rs1\.k2\./, 'new tokens are sealed with the new key');
    assert.equal(text(await retry(alice, before)), '{"step":1}', 'a token of the previous key still verifies');
    codec.removeKey('k1');
    await refused(retry(alice, kept), 'mac');
    await alice.close();
    await bob.close();
  } finally {
    server.close();
    await endpoint.close();
  }
});
