import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

import type { SessionInfo } from '../manager';

/**
 * The one place that reaches into the SDK's private parts, and why: rebuilding a
 * restored session needs its `initialize` replayed into a fresh transport, and the
 * SDK's Node transport only accepts requests through its wrapped web-standard
 * transport (`_webStandardTransport`, present since @modelcontextprotocol/sdk
 * 1.25.0). The peer range starts at 1.30.0, the oldest release whose resumption
 * (`Last-Event-ID` on a POST stream) passes the package's tests; `npm test` runs the
 * MCP tests against it. `checkSdk` runs when a handler is made, so an SDK without
 * the field fails at start with a clear error, not at the first restored session.
 */
interface WebStandardTransport {
  handleRequest(request: Request): Promise<Response>;
}

function inner(transport: StreamableHTTPServerTransport): WebStandardTransport | undefined {
  return (transport as unknown as { _webStandardTransport?: WebStandardTransport })._webStandardTransport;
}

/** Throws if this SDK cannot rebuild restored sessions. */
export function checkSdk(): void {
  const probe = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  if (typeof inner(probe)?.handleRequest !== 'function') {
    throw new Error(
      'mcp-session-core/mcp needs @modelcontextprotocol/sdk 1.30.0 or later ' +
        '(its Streamable HTTP transport wraps a web-standard one, which restored sessions are rebuilt through)',
    );
  }
}

/**
 * Rebuilds a session's transport and server after a restart by replaying the
 * stored `initialize` into them, as rmcp restores sessions: the transport takes the
 * stored ID and the server learns the client's capabilities and version.
 */
export async function replayInitialize(transport: StreamableHTTPServerTransport, session: SessionInfo): Promise<void> {
  const web = inner(transport);
  if (web === undefined) throw new Error('This @modelcontextprotocol/sdk cannot rebuild sessions: no web-standard transport');
  const response = await web.handleRequest(
    new Request('http://session-restore.invalid/mcp', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: '__mcp_session_core_restore__',
        method: 'initialize',
        params: {
          protocolVersion: session.protocolVersion,
          capabilities: session.capabilities ?? {},
          clientInfo: session.clientInfo ?? { name: 'restored', version: '0' },
        },
      }),
    }),
  );
  await response.text();
  if (!response.ok) throw new Error(`Rebuilding session ${session.id} failed: HTTP ${response.status}`);
}
