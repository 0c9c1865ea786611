// Runs the example MCP server (examples/server.mjs, importing the installed package)
// as a separate process on loopback, and connects SDK clients to it.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const serverScript = fileURLToPath(new URL('./examples/server.mjs', import.meta.url));

export function dataDir() {
  return mkdtempSync(join(tmpdir(), 'mcp-session-data-'));
}

/** Starts the server; resolves once it prints its address. */
export async function startServer(env = {}, port = 0) {
  const child = spawn(process.execPath, ['--expose-gc', serverScript], {
    // Anonymous sessions are allowed unless a test says otherwise.
    env: { ...process.env, PORT: String(port), ALLOW_ANONYMOUS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 15_000);
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(new URL(match[1]));
      }
    });
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${output}`)));
  });
  const origin = url.origin;
  return {
    child,
    url,
    output: () => output,
    port: Number(url.port),
    operators: async ({ gc = false } = {}) => (await fetch(`${origin}/sessions${gc ? '?gc=1' : ''}`)).json(),
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
    },
  };
}

/** An SDK client; `user` becomes the bearer token (the server's principal). */
export async function connect(url, user) {
  const transport = new StreamableHTTPClientTransport(url, {
    requestInit: user ? { headers: { authorization: `Bearer ${user}` } } : {},
  });
  const client = new Client({ name: `test-client-${user ?? 'anonymous'}`, version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

export async function call(client, name, args = {}) {
  const result = await client.callTool({ name, arguments: args });
  return JSON.parse(result.content[0].text);
}

/** A raw JSON-RPC POST, as a client without the SDK would send it. */
export async function post(url, body, headers = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body),
  });
}

export async function until(what, check, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
