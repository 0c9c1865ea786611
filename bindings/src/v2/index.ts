/**
 * mcp-session-core/v2: the 2026-07-28 protocol revision through the official v2
 * TypeScript SDK (`@modelcontextprotocol/server` and `@modelcontextprotocol/node`,
 * optional peer dependencies of this subpath only), beside this package's 2025-era
 * sessions.
 */
import '../platform';

export { DualEraHandler } from './dual-era';
export type { DualEraHandlerOptions } from './dual-era';
export { registerHandleTools, toolFailure } from './handle-tools';
export type { HandleToolsOptions, ToolResult } from './handle-tools';
