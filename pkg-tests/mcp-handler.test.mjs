// McpSessionHandler on plain node:http (it reads the body itself), in process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { McpSessionHandler } from 'mcp-session-core/mcp';
import { connect, post, until } from './mcp-server.mjs';

async function listen(options) {
  const mcp = new McpSessionHandler({
    createServer: () => new McpServer({ name: 'plain-http', version: '1.0.0' }),
    allowAnonymous: true,
    ...options,
  });
  const http = createServer((req, res) => mcp.handle(req, res));
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = new URL(`http://127.0.0.1:${http.address().port}/mcp`);
  return {
    mcp,
    url,
    close: async () => {
      await mcp.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

test("node:http: the handler's own refusals are the core's errors, whole to onError, answered as the core says", async () => {
  const seen = [];
  const server = await listen({ maxBodyBytes: 1024, onError: (e) => seen.push(e) });
  try {
    const big = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(2048) } }),
    });
    assert.equal(big.status, 413);
    assert.deepEqual((await big.json()).error, { code: -32600, message: 'Request body too large (limit 1024 bytes)' });
    const notJson = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    assert.equal(notJson.status, 400);
    assert.equal((await notJson.json()).error.code, -32700);
    const hostile = await fetch(server.url, { method: 'POST', headers: { origin: 'http://evil.example' }, body: '{}' });
    assert.equal(hostile.status, 403);
    assert.deepEqual((await hostile.json()).error, { code: -32000, message: 'Forbidden: origin not allowed' });
    assert.deepEqual(
      seen.map((e) => [e.code, e.limit ?? e.reason ?? null]),
      [['PAYLOAD_TOO_LARGE', 1024], ['PARSE_ERROR', null], ['FORBIDDEN', 'origin']],
    );
  } finally {
    await server.close();
  }
});

test('node:http: sessions, 405 for DELETE when the host disables it, clear drops transports', async () => {
  const server = await listen({ allowDelete: false });
  try {
    const { client, transport } = await connect(server.url);
    const id = transport.sessionId;
    assert.equal(server.mcp.transports, 1);
    const del = await fetch(server.url, { method: 'DELETE', headers: { 'mcp-session-id': id } });
    assert.equal(del.status, 405);
    assert.equal((await del.json()).error.code, -32000);
    const put = await fetch(server.url, { method: 'PUT' });
    assert.equal(put.status, 405);
    const notJson = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'mcp-session-id': id },
      body: '{not json',
    });
    assert.equal(notJson.status, 400);
    assert.equal((await notJson.json()).error.code, -32700);
    assert.equal(server.mcp.sessions.clearAllSessions(), 1);
    await until('the transport to be dropped', () => server.mcp.transports === 0);
    assert.equal(server.mcp.transports, 0, 'clearing the core closed and dropped the transport');
    const after = await post(server.url, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'mcp-session-id': id });
    assert.equal(after.status, 404);
    await client.close();
  } finally {
    await server.close();
  }
});
