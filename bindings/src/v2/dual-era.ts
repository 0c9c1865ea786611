import type { IncomingMessage, ServerResponse } from 'node:http';

import { isLegacyRequest, type McpHttpHandler } from '@modelcontextprotocol/server';
import { toNodeHandler, toWebRequest, type NodeMcpRequestHandler } from '@modelcontextprotocol/node';

import { SessionError } from '../errors';
import { readJson, sendClientAnswer, sendJsonRpcError, type McpSessionHandler } from '../mcp/handler';
import { refusal, type RequestGuardOptions } from '../mcp/request-guard';

/** What `DualEraHandler` serves, and how. `allowedHosts` and `allowedOrigins`
 * guard both eras, as they guard `McpSessionHandler` (DNS rebinding: 403). */
export interface DualEraHandlerOptions extends RequestGuardOptions {
  /**
   * Serves 2026-07-28 traffic: `createMcpHandler(factory, { legacy: 'reject' })`
   * from `@modelcontextprotocol/server`, made by the caller, so that the handler
   * and the servers its factory builds come from the same build of the SDK (its
   * ESM and CommonJS builds do not recognise each other's servers). Tools keep
   * state in handles and `requestState`, not in sessions.
   */
  modern: McpHttpHandler;
  /**
   * Serves 2025-era traffic (an `initialize`, an `Mcp-Session-Id`, a GET stream)
   * with this package's sessions: lifetimes, caps, restart survival, principal
   * binding, resumability. Without it the endpoint is modern-only: GET and DELETE
   * answer 405, and `Mcp-Session-Id` and `Last-Event-ID` are ignored, as the
   * 2026-07-28 revision asks of a server that serves no older client.
   */
  legacy?: McpSessionHandler;
  /**
   * Who is calling, for modern requests: handed to the modern server as
   * `authInfo.clientId` (tools read it as `ctx.http.authInfo.clientId`, the owner
   * of the handles they make). Legacy requests use the session handler's own
   * `principal` option. A request that already carries `req.auth` (set by an
   * auth middleware) keeps it.
   */
  principal?: (req: IncomingMessage) => string | undefined | Promise<string | undefined>;
  /**
   * Serve modern requests for which `principal` answers undefined. Default false:
   * they get 401 with `WWW-Authenticate`, as the session handler answers.
   */
  allowAnonymous?: boolean;
  /** The `WWW-Authenticate` value of that 401 (default `Bearer`). */
  wwwAuthenticate?: string;
  /** The largest request body read, in bytes (default 4 MiB). */
  maxBodyBytes?: number;
}

/** `req` as auth middleware leaves it: the v2 SDK reads `req.auth`. */
type AuthedRequest = IncomingMessage & { auth?: { token: string; clientId: string; scopes: string[] } };

/**
 * One MCP endpoint for both protocol eras. Each request is classified with the
 * v2 SDK's own `isLegacyRequest` (the test `createMcpHandler` routes by): legacy
 * requests go to the session handler, modern ones to the modern handler.
 *
 * ```ts
 * const legacy = new McpSessionHandler({ createServer: buildV1Server, store });
 * const modern = createMcpHandler(buildV2Server, { legacy: 'reject' });
 * const endpoint = new DualEraHandler({ modern, legacy });
 * http.createServer((req, res) => endpoint.handle(req, res)).listen(3000);
 * ```
 */
export class DualEraHandler {
  readonly #options: DualEraHandlerOptions;
  readonly #modernNode: NodeMcpRequestHandler;

  constructor(options: DualEraHandlerOptions) {
    this.#options = options;
    this.#modernNode = toNodeHandler(options.modern, { maxRequestBodySize: this.#maxBody });
  }

  get #maxBody(): number {
    return this.#options.maxBodyBytes ?? 4 * 1024 * 1024;
  }

  /** Handles one HTTP request to the MCP endpoint (`parsedBody`: `req.body` behind `express.json()`). */
  handle = async (req: IncomingMessage, res: ServerResponse, parsedBody?: unknown): Promise<void> => {
    try {
      const refused = refusal(req, this.#options);
      if (refused !== undefined) throw SessionError.forbidden(refused);
      // The body is read once, here, so that whichever handler serves the request
      // gets it (the Node stream can be read only once).
      const body =
        req.method === 'POST' && parsedBody === undefined ? await readJson(req, this.#maxBody) : parsedBody;
      const legacy = this.#options.legacy;
      if (legacy !== undefined && (await isLegacyRequest(await toWebRequest(req, body)))) {
        await legacy.handle(req, res, body);
        return;
      }
      const authed = req as AuthedRequest;
      if (authed.auth === undefined && this.#options.principal !== undefined) {
        const principal = await this.#options.principal(req);
        if (principal !== undefined) {
          authed.auth = { token: '', clientId: principal, scopes: [] };
        } else if (this.#options.allowAnonymous !== true) {
          sendJsonRpcError(res, 401, -32001, 'Unauthorized: credentials required', {
            'www-authenticate': this.#options.wwwAuthenticate ?? 'Bearer',
          });
          return;
        }
      }
      await this.#modernNode(req, res, body);
    } catch (error) {
      if (error instanceof SessionError) sendClientAnswer(res, error.clientAnswer);
      else sendJsonRpcError(res, 500, -32603, 'Internal error');
    }
  };

  /** Closes the modern handler's in-flight exchanges and the session handler. */
  async close(): Promise<void> {
    await this.#options.modern.close();
    await this.#options.legacy?.close();
  }
}
