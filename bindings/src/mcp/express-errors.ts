import type { IncomingMessage, ServerResponse } from 'node:http';

import { SessionError } from '../errors';
import { sendClientAnswer, sendJsonRpcError } from './handler';

/** What body parsers (Express's `express.json()`, body-parser) put on their errors. */
interface BodyParserError {
  type?: unknown;
  status?: unknown;
  limit?: unknown;
}

/**
 * Express error middleware for an app that parses bodies with `express.json()`
 * before the MCP handler: a body that is not JSON, or too large, is answered as the
 * handler answers it (the core's `PARSE_ERROR` and `PAYLOAD_TOO_LARGE`), one in an
 * unsupported encoding with its 4xx and -32600, anything else with 500 and -32603 —
 * never Express's HTML error page, which shows the stack trace and the server's
 * file paths. The handler needs none of this
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
    const { type, status, limit } = (typeof error === 'object' && error !== null ? error : {}) as BodyParserError;
    if (type === 'entity.parse.failed') {
      sendClientAnswer(res, SessionError.parseError().clientAnswer);
    } else if (type === 'entity.too.large' && typeof limit === 'number') {
      sendClientAnswer(res, SessionError.payloadTooLarge(limit).clientAnswer);
    } else if (typeof status === 'number' && status >= 400 && status < 500) {
      sendJsonRpcError(res, status, -32600, `Invalid request body (${typeof type === 'string' ? type : status})`);
    } else {
      sendJsonRpcError(res, 500, -32603, 'Internal error');
    }
  };
}
