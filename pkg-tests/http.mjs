// HTTP helpers shared by the tests of the HTTP surface: the package's handler
// mounted the ways servers mount it, and requests with exactly the headers a test
// needs (including `Host`, which fetch will not set).
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { connect as netConnect } from 'node:net';
import express from 'express';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { McpSessionHandler, jsonRpcErrorHandler } from 'mcp-session-core/mcp';

export const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'probe', version: '1' } },
};
export const INITIALIZED = { jsonrpc: '2.0', method: 'notifications/initialized' };
export const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

export function buildServer() {
  const server = new McpServer({ name: 'security', version: '1.0.0' });
  server.registerTool(
    'emit',
    { description: 'Sends progress notifications carrying a marker', inputSchema: { marker: z.string() } },
    async ({ marker }, { sendNotification, _meta }) => {
      for (let i = 1; i <= 3; i++) {
        await sendNotification({
          method: 'notifications/progress',
          params: { progressToken: _meta?.progressToken ?? 'p', progress: i, total: 3, message: marker },
        });
      }
      return { content: [{ type: 'text', text: marker }] };
    },
  );
  server.registerTool(
    'wait',
    { description: 'Answers after ms milliseconds', inputSchema: { ms: z.number().int().min(0).max(5_000) } },
    async ({ ms }) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return { content: [{ type: 'text', text: 'waited' }] };
    },
  );
  return server;
}

/** The two ways a server mounts the handler, with the same options. Express reads
 * bodies through the handler; `expressJson` parses them with express.json() and
 * answers parse errors with the package's error middleware. */
export const STACKS = {
  express: (mcp) => {
    const app = express();
    app.all('/mcp', (req, res) => mcp.handle(req, res));
    app.get('/sessions', (req, res) => mcp.handleOperator(req, res));
    return createServer(app);
  },
  expressJson: (mcp) => {
    const app = express();
    app.use(express.json());
    app.all('/mcp', (req, res) => mcp.handle(req, res, req.body));
    app.use(jsonRpcErrorHandler());
    return createServer(app);
  },
  'node:http': (mcp) =>
    createServer((req, res) => {
      if (new URL(req.url, 'http://localhost').pathname === '/sessions') void mcp.handleOperator(req, res);
      else void mcp.handle(req, res);
    }),
};

export async function listen(stack, options = {}) {
  const mcp = new McpSessionHandler({ createServer: buildServer, enableJsonResponse: true, allowAnonymous: true, ...options });
  const http = STACKS[stack](mcp);
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${http.address().port}`;
  return {
    mcp,
    base,
    url: new URL(`${base}/mcp`),
    close: async () => {
      await mcp.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

/** A request with exactly these headers (`host` included, which fetch will not set). */
export function raw(url, { method = 'POST', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { host: url.host, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(typeof body === 'string' ? body : JSON.stringify(body));
    req.end();
  });
}

export async function initialize(url, headers = {}) {
  const res = await raw(url, { headers: { ...MCP_HEADERS, ...headers }, body: INIT });
  const id = res.headers['mcp-session-id'];
  if (id !== undefined) {
    await raw(url, { headers: { ...MCP_HEADERS, 'mcp-session-id': id, ...headers }, body: INITIALIZED });
  }
  return { res, id };
}

export function jsonRpcError(res) {
  assert.match(res.headers['content-type'], /application\/json/);
  const body = JSON.parse(res.text);
  assert.equal(body.jsonrpc, '2.0');
  return body.error;
}

export function rawSocket(url, payload) {
  return new Promise((resolve, reject) => {
    const socket = netConnect(Number(url.port), url.hostname, () => socket.write(payload));
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => (reply += chunk));
    socket.on('end', () => resolve(reply));
    socket.on('close', () => resolve(reply));
    socket.on('error', reject);
  });
}
