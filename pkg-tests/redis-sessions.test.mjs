// 2025-era sessions over Redis, in-process: McpSessionHandler on RedisSessions,
// with the v1 SDK client, counting the Redis round trips of each gated request.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { RedisShared, RedisSessions } from 'mcp-session-core';
import { McpSessionHandler } from 'mcp-session-core/mcp';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { z } from 'zod';
import { closeClients, redisClient, startRedis } from './support/redis.mjs';

const redis = await startRedis();
const closers = [];
after(async () => {
  for (const close of closers.reverse()) await close();
  await redis.stop();
});

test('a gated request costs one round trip when it changes nothing durable, two for a state change', async () => {
  const real = await redisClient(redis);
  closers.push(closeClients);
  const calls = [];
  const counting = { eval: (script, options) => (calls.push(script.trim().split('\n')[0]), real.eval(script, options)) };
  const sessions = new RedisSessions(new RedisShared({ redis: counting, prefix: 'rt-sessions:', activityFlushMs: 60_000 }));
  const mcp = new McpSessionHandler({
    sessions,
    allowAnonymous: true,
    enableJsonResponse: true,
    createServer: () => {
      const server = new McpServer({ name: 'rt', version: '1' });
      server.registerTool('read', { description: 'reads the state' }, async ({ sessionId }) => ({
        content: [{ type: 'text', text: JSON.stringify((await sessions.getSession(sessionId)).state) }],
      }));
      server.registerTool('bump', { description: 'changes the state', inputSchema: { n: z.number() } }, async ({ n }, { sessionId }) => ({
        content: [{ type: 'text', text: String(await sessions.updateSessionState(sessionId, { n })) }],
      }));
      return server;
    },
  });
  const server = http.createServer((req, res) => mcp.handle(req, res));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    server.close();
    await mcp.close();
  });
  const url = new URL(`http://127.0.0.1:${server.address().port}/mcp`);
  const client = new Client({ name: 'rt', version: '1' });
  const transport = new StreamableHTTPClientTransport(url);
  await client.connect(transport);
  closers.push(() => client.close());
  // The client opens its GET stream after the handshake: let that gate pass first.
  await new Promise((resolve) => setTimeout(resolve, 200));

  const during = async (op) => {
    calls.length = 0;
    const result = await op();
    return { result, trips: calls.length };
  };
  const read = await during(() => client.callTool({ name: 'read', arguments: {} }));
  assert.equal(read.trips, 1, `a read: the gate's fetch only (${read.trips}: ${calls})`);
  const bump = await during(() => client.callTool({ name: 'bump', arguments: { n: 1 } }));
  assert.equal(bump.result.content[0].text, '1');
  assert.equal(bump.trips, 2, `a state change: the gate's fetch and the commit (${bump.trips})`);
  const again = await during(() => client.callTool({ name: 'read', arguments: {} }));
  assert.equal(again.result.content[0].text, '{"n":1}');
  assert.equal(again.trips, 1);
});
