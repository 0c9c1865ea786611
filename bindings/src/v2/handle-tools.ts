import { fromJsonSchema, type McpServer, type ServerContext } from '@modelcontextprotocol/server';

import type { HandleView, JsonObject } from '../../generated/mcp_session_core';
import { SessionError } from '../errors';
import type { HandleStore } from '../handles';
import type { RedisHandleStore } from '../redis/handles';

/** What `registerHandleTools` registers, and for whom. */
export interface HandleToolsOptions {
  /** The thing a handle holds, in tool names: `basket` gives `create_basket`,
   * `get_basket`, `update_basket`, `destroy_basket` (and `list_baskets`). */
  noun: string;
  /** Also register `list_<noun>s`: the caller's live handles. Default false. */
  list?: boolean;
  /** The caller, from the request's authentication (default: `authInfo.clientId`):
   * each call checks (handle, user). */
  principal?: (ctx: ServerContext) => string | undefined;
}

/** A tool's text result. */
export type ToolResult = { content: { type: 'text'; text: string }[]; isError?: boolean };

const json = (value: unknown): ToolResult => ({ content: [{ type: 'text', text: JSON.stringify(value) }] });

/** A failure as the tool's result, in the words the core gives clients ("has
 * expired", "not found", "limit reached; retry after …"): never a protocol error.
 * For a tool author's own tools over `manager.handles`. */
export function toolFailure(error: unknown): ToolResult {
  const text = error instanceof SessionError ? error.clientAnswer.message : 'The tool failed';
  return { content: [{ type: 'text', text }], isError: true };
}

function minutes(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : `${Math.round(ms / 60_000)} min`;
}

const HANDLE_ID = { type: 'string', description: 'The handle a create call returned' } as const;

/**
 * Registers the usual tools of a state handle on a v2 `McpServer` (MCP
 * 2026-07-28, where state lives in server-minted handles passed as tool
 * arguments): create, get, update (merge patch, compare-and-set), destroy, and
 * optionally list. The lifetime is written into the descriptions, as the spec
 * asks. Each call checks the handle against the caller; another user's handle
 * reads as not found.
 */
export function registerHandleTools(
  server: McpServer,
  handles: HandleStore | RedisHandleStore,
  options: HandleToolsOptions,
): void {
  const { noun } = options;
  const who = options.principal ?? ((ctx: ServerContext) => ctx.http?.authInfo?.clientId);
  const owner = (ctx: ServerContext) => ({ principal: who(ctx) ?? null });
  const view = (h: HandleView) => ({ handleId: h.handleId, state: h.state, version: h.version, expiresAt: h.expiresAt });
  const lifetime =
    `The handle expires after ${minutes(handles.idleTimeoutMs)} unused, and ` +
    `${minutes(handles.lifetimeMs)} after it was created at the latest.`;
  // A local store answers at once, a shared one (Redis) with a promise.
  const run = async (call: () => unknown): Promise<ToolResult> => {
    try {
      return json(await call());
    } catch (error) {
      return toolFailure(error);
    }
  };

  server.registerTool(
    `create_${noun}`,
    {
      description: `Creates a ${noun} and returns its handleId, to pass to the other ${noun} tools. ${lifetime}`,
      inputSchema: fromJsonSchema<{ state?: JsonObject }>({
        type: 'object',
        properties: { state: { type: 'object', description: `The ${noun}'s first state` } },
      }),
    },
    async (args: { state?: JsonObject }, ctx: ServerContext) =>
      run(async () => view(await handles.create({ ...owner(ctx), state: args.state ?? {} }))),
  );
  server.registerTool(
    `get_${noun}`,
    {
      description: `Reads a ${noun} (its state and version). ${lifetime}`,
      inputSchema: fromJsonSchema<{ handleId: string }>({
        type: 'object',
        properties: { handleId: HANDLE_ID },
        required: ['handleId'],
      }),
    },
    async (args: { handleId: string }, ctx: ServerContext) =>
      run(async () => view(await handles.get(args.handleId, owner(ctx)))),
  );
  server.registerTool(
    `update_${noun}`,
    {
      description:
        `Merges a patch into a ${noun}'s state (RFC 7396); with expectedVersion, only if ` +
        `nobody changed it since that version. Returns the new version.`,
      inputSchema: fromJsonSchema<{ handleId: string; patch: JsonObject; expectedVersion?: number }>({
        type: 'object',
        properties: {
          handleId: HANDLE_ID,
          patch: { type: 'object' },
          expectedVersion: { type: 'integer', minimum: 0 },
        },
        required: ['handleId', 'patch'],
      }),
    },
    async (args: { handleId: string; patch: JsonObject; expectedVersion?: number }, ctx: ServerContext) =>
      run(async () => ({
        version: await handles.update(args.handleId, args.patch, {
          ...owner(ctx),
          expectedVersion: args.expectedVersion ?? null,
        }),
      })),
  );
  server.registerTool(
    `destroy_${noun}`,
    {
      description: `Destroys a ${noun}: its handle answers "destroyed" from then on.`,
      inputSchema: fromJsonSchema<{ handleId: string }>({
        type: 'object',
        properties: { handleId: HANDLE_ID },
        required: ['handleId'],
      }),
    },
    async (args: { handleId: string }, ctx: ServerContext) =>
      run(async () => {
        await handles.destroy(args.handleId, owner(ctx));
        return { destroyed: args.handleId };
      }),
  );
  if (options.list === true) {
    server.registerTool(
      `list_${noun}s`,
      { description: `Lists your live ${noun}s.`, inputSchema: fromJsonSchema<Record<string, never>>({ type: 'object' }) },
      async (_args: Record<string, never>, ctx: ServerContext) => run(async () => (await handles.list(owner(ctx))).map(view)),
    );
  }
}
