// An example MCP server (Streamable HTTP, official TypeScript SDK) whose sessions
// live in mcp-session-core: they expire, are limited, are bound to the user of the
// bearer token, and survive restarts (persisted under DATA_DIR). One endpoint
// serves both protocol eras: 2025-era clients (the v1 SDK, or the v2 client without
// version negotiation) get sessions; 2026-07-28 clients are served by the v2 SDK's
// createMcpHandler, where state lives in handles: create_basket returns a handleId
// that get_basket, update_basket, destroy_basket and list_baskets take (handles
// live beside the sessions, in the same store, and survive restarts too), and
// checkout_basket asks for a confirmation round trip whose sealed, single-use
// requestState is refused if replayed, even after a restart (the key comes from
// REQUEST_STATE_KEY, 32 bytes in base64url, or DATA_DIR/request-state.key).
//
//   PORT=3000 DATA_DIR=./data node examples/server.mjs
//
// With REDIS_URL (redis://127.0.0.1:6379) sessions, handles and the requestState
// ledger live in Redis instead of DATA_DIR, shared by every instance given the same
// REDIS_URL (and REQUEST_STATE_KEY): run several behind a load balancer.
//
// Tools read and write per-session state: notes_add, notes_list, counter_increment,
// session_info, count_slowly (streams progress, for resumption), and announce (a
// notification on the session's GET stream, routed to whichever instance holds it).
//
// Operators: `/` is the live inspector (every live session and handle, the lifecycle
// events as they happen, charts; static files from the package's dist/www/), fed by
// GET /operator/sessions (JSON) and GET /operator/events (Server-Sent Events); GET
// /sessions is the older JSON view. They answer requests from this machine's
// loopback interface only, never show a whole session ID, send no CORS headers and
// refuse any page but their own (403). HOST (default 127.0.0.1) is the address to
// bind; bound elsewhere (HOST=0.0.0.0), the operator views stay loopback-only unless
// OPERATOR_TOKEN is set: then they answer `Authorization: Bearer <OPERATOR_TOKEN>`
// from anywhere, and nothing without it. /playground/ and /web/ serve the browser
// playground and the browser build of the core when the package has them.
//
// Every request needs `Authorization: Bearer <user>` (401 otherwise) unless
// ALLOW_ANONYMOUS=1. Requests whose Host or Origin is not this machine's are refused
// (403: DNS rebinding). Slow clients are cut off: headers within HEADERS_TIMEOUT_MS
// (default 10 s), the whole request within REQUEST_TIMEOUT_MS (default 30 s; a
// response stream may last longer), idle keep-alive connections after 5 s, and at
// most MAX_CONNECTIONS (default 10,000) at once.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import express from 'express';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { McpServer as ModernMcpServer, createMcpHandler, inputRequired } from '@modelcontextprotocol/server';
import { McpSessionHandler, FileSessionStore } from 'mcp-session-core/mcp';
import { RedisShared, RedisSessions, RedisEventStore, RedisServerEventBus } from 'mcp-session-core';
import { DualEraHandler, registerHandleTools, toolFailure } from 'mcp-session-core/v2';

const number = (name, fallback) => (process.env[name] === undefined ? fallback : Number(process.env[name]));
const port = number('PORT', 3000);
const host = process.env.HOST ?? '127.0.0.1';
const dataDir = process.env.DATA_DIR ?? './data';

/** Demo auth: `Authorization: Bearer <user>` makes <user> the principal. A real
 * server verifies the token and takes the user from its claims. */
function principalOf(req) {
  const auth = req.headers.authorization;
  return auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
}

const text = (value) => ({ content: [{ type: 'text', text: JSON.stringify(value) }] });

function buildServer() {
  const server = new McpServer({ name: 'mcp-session-core-example', version: '1.0.0' });

  /** Read, change, write with compare-and-set; retried if another request won.
   * (`await`: the calls answer at once in-process, and with a promise on Redis.) */
  const mutate = async (sessionId, change) => {
    for (;;) {
      const { state, version } = await mcp.sessions.getSession(sessionId);
      const patch = change(state);
      try {
        await mcp.sessions.updateSessionState(sessionId, patch, { expectedVersion: version });
        return { ...state, ...patch };
      } catch (error) {
        if (error.code !== 'VERSION_CONFLICT') throw error;
      }
    }
  };

  server.registerTool(
    'notes_add',
    { description: 'Adds a note to this session', inputSchema: { text: z.string() } },
    async ({ text: note }, { sessionId }) => text((await mutate(sessionId, (s) => ({ notes: [...(s.notes ?? []), note] }))).notes),
  );
  server.registerTool('notes_list', { description: "Lists this session's notes" }, async ({ sessionId }) =>
    text((await mcp.sessions.getSession(sessionId)).state.notes ?? []),
  );
  server.registerTool(
    'counter_increment',
    { description: "Adds to this session's counter", inputSchema: { by: z.number().int().optional() } },
    async ({ by }, { sessionId }) => text((await mutate(sessionId, (s) => ({ counter: (s.counter ?? 0) + (by ?? 1) }))).counter),
  );
  server.registerTool(
    'announce',
    { description: "Sends notifications/tools/list_changed on this session's GET stream, wherever it is held" },
    async () => {
      await server.server.sendToolListChanged();
      return text({ announced: true });
    },
  );
  server.registerTool('session_info', { description: 'This session as the server sees it' }, async ({ sessionId }) => {
    const s = await mcp.sessions.getSession(sessionId);
    return text({ id: s.id, principal: s.principal, status: s.status, version: s.version, state: s.state });
  });
  server.registerTool(
    'count_slowly',
    {
      description: 'Sends a progress notification per step, then the total',
      inputSchema: { steps: z.number().int().min(1).max(100), delayMs: z.number().int().min(0).max(5_000) },
    },
    async ({ steps, delayMs }, { sendNotification, _meta }) => {
      for (let i = 1; i <= steps; i++) {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        await sendNotification({
          method: 'notifications/progress',
          params: { progressToken: _meta?.progressToken ?? 'count_slowly', progress: i, total: steps },
        });
      }
      return text({ counted: steps });
    },
  );
  return server;
}

const sessionConfig = {
  idleTimeoutMs: number('IDLE_TIMEOUT_MS', 30 * 60_000),
  initTimeoutMs: number('INIT_TIMEOUT_MS', 60_000),
  maxSessions: number('MAX_SESSIONS', 10_000),
  maxSessionsPerPrincipal: process.env.MAX_SESSIONS_PER_PRINCIPAL ? number('MAX_SESSIONS_PER_PRINCIPAL') : null,
  ...(process.env.MAX_TOTAL_BYTES ? { maxTotalBytes: number('MAX_TOTAL_BYTES') } : {}),
  ...(process.env.HANDLE_IDLE_TIMEOUT_MS ? { handleIdleTimeoutMs: number('HANDLE_IDLE_TIMEOUT_MS') } : {}),
  ...(process.env.MAX_HANDLES_PER_PRINCIPAL ? { maxHandlesPerPrincipal: number('MAX_HANDLES_PER_PRINCIPAL') } : {}),
};
const logError = (error) => {
  if (process.env.LOG_ERRORS) console.error(`[mcp] ${error.code ?? 'ERROR'}: ${error.message}`);
};

/** Sessions in Redis, shared with every instance given the same REDIS_URL. */
async function redisSessions(url) {
  const { createClient } = await import('redis');
  // While Redis is away calls fail at once (503 STORAGE_FAILED), and the clients
  // keep reconnecting: the instance recovers without a restart.
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: { reconnectStrategy: (retries) => Math.min(50 * (retries + 1), 1_000) },
  });
  client.on('error', () => {});
  const subscriber = client.duplicate();
  subscriber.on('error', () => {});
  await Promise.all([client.connect(), subscriber.connect()]);
  const shared = new RedisShared({ redis: client, subscriber, config: sessionConfig, onError: logError });
  // LOG_EVENTS=1: one line per lifecycle event (each happens on one instance).
  if (process.env.LOG_EVENTS) shared.onEvent((e) => console.log(`[event] ${e.type} ${e.sessionId ?? e.handleId ?? ''}`));
  // Fleet-wide expiry: each instance takes what is due; each record ends once.
  setInterval(() => void shared.sweep().catch(logError), number('SWEEP_MS', 1_000)).unref();
  return { sessions: new RedisSessions(shared), client };
}
const redis = process.env.REDIS_URL ? await redisSessions(process.env.REDIS_URL) : undefined;

/** OPERATOR_TOKEN: operators authenticate with it (compared in constant time),
 * wherever they connect from; without it, only loopback peers are operators. */
function operatorAuth(token) {
  const digest = (text) => createHash('sha256').update(text).digest();
  const expected = digest(`Bearer ${token}`);
  return (req) => timingSafeEqual(digest(req.headers.authorization ?? ''), expected);
}

const mcp = new McpSessionHandler({
  createServer: buildServer,
  principal: principalOf,
  ...(process.env.OPERATOR_TOKEN ? { operatorAuth: operatorAuth(process.env.OPERATOR_TOKEN) } : {}),
  allowAnonymous: process.env.ALLOW_ANONYMOUS === '1',
  ...(redis
    ? {
        sessions: redis.sessions,
        // Resumability events in Redis Streams: a client resumes on any instance.
        events: (sessionId) => new RedisEventStore({ redis: redis.client, sessionId, ttlMs: sessionConfig.idleTimeoutMs, onError: logError }),
      }
    : {
        store: new FileSessionStore({
          dir: dataDir,
          activityFlushMs: number('ACTIVITY_FLUSH_MS', 1_000),
          // Compacts in the background once the journal outgrows the snapshot.
          compactPercentage: number('COMPACT_PERCENTAGE', 100),
          compactMinBytes: number('COMPACT_MIN_BYTES', 1 << 20),
          ...(process.env.COMPACT_AFTER ? { compactAfter: number('COMPACT_AFTER') } : {}),
        }),
        sessions: sessionConfig,
      }),
  onError: logError,
});

/** The requestState key: from the environment, else made once and kept in the
 * data directory, so tokens minted before a restart still open after it. */
function requestStateKey() {
  if (process.env.REQUEST_STATE_KEY) return { id: 'env', key: Buffer.from(process.env.REQUEST_STATE_KEY, 'base64url') };
  const file = join(dataDir, 'request-state.key');
  try {
    return { id: 'file', key: readFileSync(file) };
  } catch {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32), { mode: 0o600, flag: 'wx' });
    return { id: 'file', key: readFileSync(file) };
  }
}

// Sealed, bound to the caller and the tool, single use: the ledger is the
// session store's, so a redeemed token stays redeemed across restarts.
const requestStates = mcp.sessions.createRequestStateCodec({
  key: requestStateKey(),
  ttlSeconds: 600,
  bind: (ctx) => ({ principal: ctx.http?.authInfo?.clientId ?? null, request: `${ctx.mcpReq.method}\0checkout_basket` }),
});

/** The 2026-07-28 era: a server per request, with no session to keep state in;
 * state lives in handles, bound to the caller. */
function buildModernServer() {
  const server = new ModernMcpServer(
    { name: 'mcp-session-core-example', version: '1.0.0' },
    { requestState: { verify: (state, ctx) => requestStates.verify(state, ctx) } },
  );
  // The SDK answers every refused requestState with one -32602 and hands the
  // reason (replayed, expired, mac, bind, …) to onerror only.
  server.server.onerror = (error) => {
    if (process.env.LOG_ERRORS) console.error(`[mcp] ${error.message}`);
  };
  registerHandleTools(server, mcp.sessions.handles, { noun: 'basket', list: true });
  server.registerTool(
    'announce_tools_changed',
    { description: 'Tells every listening client, on any instance, that the tool list changed', inputSchema: z.object({}) },
    async () => {
      modern.notify.toolsChanged();
      return text({ announced: true });
    },
  );
  server.registerTool(
    'checkout_basket',
    {
      description: 'Orders what is in a basket, after a confirmation round trip; the basket is then destroyed',
      inputSchema: z.object({ handleId: z.string() }),
    },
    async ({ handleId }, ctx) => {
      const owner = { principal: ctx.http?.authInfo?.clientId ?? null };
      try {
        const basket = await mcp.sessions.handles.get(handleId, owner);
        const confirmed = ctx.mcpReq.requestState();
        if (confirmed === undefined) {
          return inputRequired({ requestState: await requestStates.mint({ handleId, version: basket.version }, ctx) });
        }
        if (confirmed.handleId !== handleId || confirmed.version !== basket.version) {
          return { isError: true, content: [{ type: 'text', text: 'The basket changed since the confirmation was asked for' }] };
        }
        await mcp.sessions.handles.destroy(handleId, owner);
        return text({ ordered: basket.state.items ?? [] });
      } catch (error) {
        return toolFailure(error);
      }
    },
  );
  server.registerTool('whoami', { description: 'Who the server takes the caller to be', inputSchema: z.object({}) }, async (_args, ctx) =>
    text({ principal: ctx.http?.authInfo?.clientId ?? null, protocolVersion: '2026-07-28' }),
  );
  return server;
}

// With Redis, change notifications reach the subscriptions/listen streams held by
// every instance (the v2 SDK's ServerEventBus on pub/sub).
const bus = redis ? new RedisServerEventBus({ redis: redis.client, onError: logError }) : undefined;
const modern = createMcpHandler(buildModernServer, { legacy: 'reject', ...(bus ? { bus } : {}) });
const endpoint = new DualEraHandler({
  legacy: mcp,
  modern,
  principal: principalOf,
  allowAnonymous: process.env.ALLOW_ANONYMOUS === '1',
});

const app = express();
// No body parser in front: the handler reads the body itself and answers a body
// that is not JSON with a JSON-RPC parse error (400, -32700), never an HTML page.
app.all('/mcp', (req, res) => endpoint.handle(req, res));
app.get('/sessions', (req, res) =>
  mcp.handleOperator(req, res, () => {
    // With node --expose-gc, ?gc=1 collects garbage first, so memory figures compare.
    if (req.query.gc && typeof globalThis.gc === 'function') globalThis.gc();
    const memory = process.memoryUsage();
    return { memory: { rss: memory.rss, heapUsed: memory.heapUsed } };
  }),
);
app.get('/operator/sessions', (req, res) => mcp.handleOperatorSessions(req, res));
app.get('/operator/events', (req, res) => mcp.handleOperatorEvents(req, res));

// The inspector, the playground and the browser build, as the package ships them.
// A missing file is a 404. The inspector's own page may load only its own files.
const dist = join(dirname(createRequire(import.meta.url).resolve('mcp-session-core/package.json')), 'dist');
const inspectorPage = join(dist, 'www', 'index.html');
const staticFiles = (dir) =>
  express.static(dir, {
    fallthrough: true,
    setHeaders: (res, path) => {
      res.setHeader('x-content-type-options', 'nosniff');
      if (path === inspectorPage) {
        res.setHeader(
          'content-security-policy',
          "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        );
      }
    },
  });
// The pages are where their data is: behind the operator endpoints' gate
// (loopback, or OPERATOR_TOKEN), as is the browser build they load.
const operatorsOnly = (req, res, next) => {
  mcp.admitOperator(req, res).then((allowed) => allowed && next(), next);
};
app.use('/web', operatorsOnly, staticFiles(join(dist, 'web')));
app.use('/', operatorsOnly, staticFiles(join(dist, 'www')));

const listener = createServer(
  {
    headersTimeout: number('HEADERS_TIMEOUT_MS', 10_000),
    requestTimeout: number('REQUEST_TIMEOUT_MS', 30_000),
    keepAliveTimeout: 5_000,
    // How often those timeouts are checked (Node's default is every 30 s).
    connectionsCheckingInterval: Math.min(number('HEADERS_TIMEOUT_MS', 10_000), 1_000),
  },
  app,
);
listener.maxConnections = number('MAX_CONNECTIONS', 10_000);
listener.listen(port, host, () => {
  const { port: actual } = listener.address();
  const restored = mcp.loaded?.restore?.restored ?? 0;
  // Bound to every address: the loopback one is where operators reach it.
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  console.log(
    `MCP server listening on http://${shown}:${actual}/mcp ` +
      `(bound to ${host}; inspector: http://${shown}:${actual}/; data: ${dataDir}; restored sessions: ${restored})`,
  );
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    listener.close();
    await endpoint.close();
    process.exit(0);
  });
}
