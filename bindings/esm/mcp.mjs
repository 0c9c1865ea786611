// ESM entry of the `mcp-session-core/mcp` subpath: re-exports the CommonJS build.
import cjs from '../src/mcp/index.js';

export const { McpSessionHandler, OperatorEventFeed, SessionEventStore, FileSessionStore, jsonRpcErrorHandler, isLoopbackAddress } = cjs;
export default cjs;
