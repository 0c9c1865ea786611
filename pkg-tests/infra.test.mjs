// The test servers themselves (pkg-tests/support/): a throwaway redis-server whose
// AOF keeps data across a restart and a SIGKILL, and an nginx round-robin balancer
// that spreads requests over instances, passes every header through, streams
// unbuffered, and retries a request on another instance when one is killed.
// Needs redis-server and nginx (scripts/setup.sh), not the package.
import { test } from 'node:test';

const LIMIT = { timeout: 60_000 };
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { createClient } from 'redis';
import { startRedis } from './support/redis.mjs';
import { startBalancer } from './support/balancer.mjs';
import { spawnServer, terminate, waitUntil } from './support/process.mjs';

async function withClient(url, use) {
  // No reconnecting: a server that is down fails connect() at once instead of
  // leaving it retrying forever.
  const client = createClient({ url, socket: { reconnectStrategy: false } });
  client.on('error', () => {}); // failures reject the call; no crash on a dropped socket
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

test('redis: SET/GET with the redis client, and the AOF keeps data across restart() and kill() + restart()', LIMIT, async () => {
  const redis = await startRedis();
  try {
    assert.match(redis.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(redis.port, 6379);
    await withClient(redis.url, async (client) => {
      assert.equal(await client.set('infra:key', 'kept'), 'OK');
      assert.equal(await client.get('infra:key'), 'kept');
    });

    await redis.restart();
    await withClient(redis.url, async (client) => {
      assert.equal(await client.get('infra:key'), 'kept', 'survives SIGTERM + start (AOF)');
      await client.set('infra:late', 'fsynced');
    });

    await redis.kill();
    await assert.rejects(withClient(redis.url, (client) => client.get('infra:key')));
    await redis.restart();
    await withClient(redis.url, async (client) => {
      assert.deepEqual(await client.mGet(['infra:key', 'infra:late']), ['kept', 'fsynced'], 'survives SIGKILL (appendfsync always)');
    });
  } finally {
    await redis.stop();
  }
  assert.equal(existsSync(redis.dir), false, 'stop() removes the dir');
});

test('redis: without appendonly a restart starts empty (so the AOF is what kept the data above)', LIMIT, async () => {
  const redis = await startRedis({ appendonly: false });
  try {
    await withClient(redis.url, (client) => client.set('infra:key', 'lost'));
    await redis.restart();
    await withClient(redis.url, async (client) => assert.equal(await client.get('infra:key'), null));
  } finally {
    await redis.stop();
  }
});

/** A tiny instance in its own process (so that it can be SIGKILLed): it answers
 * with its port, the method, the body and the headers it got; GET /stream sends one
 * SSE event and holds the response open; with CRASH set, a request to /crash kills
 * it (SIGKILL) once the body is in, before it answers. */
const INSTANCE = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  if (req.url === '/stream') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: first\\n\\n');
    return;
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    if (req.url === '/crash' && process.env.CRASH) process.kill(process.pid, 'SIGKILL');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ port: server.address().port, method: req.method, body, headers: req.headers }));
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

async function startInstance(env = {}) {
  const child = spawnServer(process.execPath, ['-e', INSTANCE], { env: { ...process.env, ...env } });
  await waitUntil(child, 'instance', async () => /^\d+\n/.test(child.output));
  return { child, port: Number(child.output.trim()) };
}

function send(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Resolves to the first chunk of a streamed response, and abandons the rest. */
function firstChunk(url) {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      res.setEncoding('utf8');
      res.once('data', (chunk) => {
        req.destroy();
        resolve({ status: res.statusCode, type: res.headers['content-type'], chunk });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test("balancer: round robin over two instances, every header passed, a held-open stream's first event, and a killed instance retried on the other", LIMIT, async () => {
  const instances = [await startInstance(), await startInstance()];
  const [a, b] = instances;
  const lb = await startBalancer([a.port, b.port]);
  try {
    assert.match(lb.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const headers = {
      host: 'mcp.example:8443',
      'mcp-session-id': 'session-123',
      authorization: 'Bearer alice',
      'last-event-id': 'stream-1:42',
      'mcp-protocol-version': '2025-11-25',
    };

    // Six requests in a row: the instances take turns.
    const ports = [];
    for (let i = 0; i < 6; i++) {
      const res = await send(`${lb.url}/mcp`, { headers });
      assert.equal(res.status, 200);
      const got = JSON.parse(res.text);
      ports.push(got.port);
      for (const [name, value] of Object.entries(headers)) assert.equal(got.headers[name], value, name);
    }
    assert.deepEqual(new Set(ports), new Set([a.port, b.port]));
    for (let i = 1; i < ports.length; i++) assert.notEqual(ports[i], ports[i - 1], `alternates: ${ports}`);

    // A POST body goes through whole, and a stream's first event arrives while the
    // instance still holds the response open.
    const post = JSON.parse((await send(`${lb.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1}' })).text);
    assert.deepEqual([post.method, post.body], ['POST', '{"jsonrpc":"2.0","id":1}']);
    const stream = await Promise.race([
      firstChunk(`${lb.url}/stream`),
      new Promise((_, reject) => setTimeout(() => reject(new Error('the stream was buffered')), 3000).unref()),
    ]);
    assert.deepEqual(stream, { status: 200, type: 'text/event-stream', chunk: 'data: first\n\n' });

    // SIGKILL one instance: every request (POSTs, not idempotent) is still answered, by the other.
    await terminate(a.child, 'SIGKILL');
    for (let i = 0; i < 6; i++) {
      const res = await send(`${lb.url}/mcp`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: `{"n":${i}}` });
      assert.equal(res.status, 200);
      const got = JSON.parse(res.text);
      assert.deepEqual([got.port, got.body, got.headers['mcp-session-id']], [b.port, `{"n":${i}}`, 'session-123']);
    }
    // ... and at least one of them was first sent to the dead one, and retried.
    assert.match(readFileSync(join(lb.dir, 'error.log'), 'utf8'), new RegExp(`Connection refused.*127\\.0\\.0\\.1:${a.port}`));
  } finally {
    await lb.stop();
    for (const { child } of instances) await terminate(child, 'SIGKILL');
  }
  assert.equal(existsSync(lb.dir), false, 'stop() removes the dir');
});

test('balancer: a POST whose instance dies while handling it is answered by the other (non_idempotent)', LIMIT, async () => {
  const crashing = await startInstance({ CRASH: '1' });
  const healthy = await startInstance();
  const lb = await startBalancer([crashing.port, healthy.port]);
  try {
    // Round robin sends one of the two to the crashing instance, which reads the
    // request and dies: nginx sends it again, to the other.
    for (let i = 0; i < 2; i++) {
      const res = await send(`${lb.url}/crash`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"n":${i}}` });
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.text).port, healthy.port);
    }
    assert.equal((await crashing.child.exited).signal, 'SIGKILL');
    assert.match(readFileSync(join(lb.dir, 'error.log'), 'utf8'), new RegExp(`prematurely closed.*POST /crash.*127\\.0\\.0\\.1:${crashing.port}`));
  } finally {
    await lb.stop();
    await terminate(healthy.child, 'SIGKILL');
    await terminate(crashing.child, 'SIGKILL');
  }
});
