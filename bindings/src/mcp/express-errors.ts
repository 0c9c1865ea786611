import type { IncomingMessage, ServerResponse } from 'node:http';

import { sendJsonRpcError } from './handler';

/** What body parsers (Express's `express.json()`, body-parser) put on their errors. */
interface BodyParserError {
  type?: unknown;
  status?: unknown;
}

/**
 * Express error middleware for an app that parses bodies with `express.json()`
 * before the MCP handler: a body that is not JSON is answered with a JSON-RPC parse
 * error (400, -32700), one too large or in an unsupported encoding with its 4xx and
 * -32600, anything else with 500 and -32603 — never Express's HTML error page, which
 * shows the stack trace and the server's file paths. The handler needs none of this
 * when it reads bodies itself (`mcp.handle(req, res)` with no parsed body).
 *
 * ```ts
 * app.use(express.json());
 * app.all('/mcp', (req, res) => mcp.handle(req, res, req.body));
 * app.use(jsonRpcErrorHandler());
 * ```
 */
export function jsonRpcErrorHandler(): (
  error: unknown,
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void {
  // Four parameters: Express recognises error middleware by its arity.
  return (error, _req, res, _next) => {
    const { type, status } = (typeof error === 'object' && error !== null ? error : {}) as BodyParserError;
    if (type === 'entity.parse.failed') {
      sendJsonRpcError(res, 400, -32700, 'Parse error: the body is not JSON');
    } else if (typeof status === 'number' && status >= 400 && status < 500) {
      sendJsonRpcError(res, status, -32600, `Invalid request body (${typeof type === 'string' ? type : status})`);
    } else {
      sendJsonRpcError(res, 500, -32603, 'Internal error');
    }
  };
}
