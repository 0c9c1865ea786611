import type { IncomingMessage, ServerResponse } from 'node:http';

import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';

import {
  requestKindOf,
  sessionEndingEvents,
  type ClientAnswer,
  type RequestKind,
  type SessionView,
} from '../../generated/mcp_session_core';
import { admitInitialize } from '../core';
import { SessionError } from '../errors';
import type { LoadReport, SessionStore } from '../persistence';
import { SessionManager, type SessionInfo, type SessionManagerOptions } from '../manager';
import { RedisSessions } from '../redis/sessions';
import { SessionEventStore, type SessionEventStoreOptions } from './event-store';
import {
  OperatorEventFeed,
  foreignOrigin,
  operatorLimit,
  operatorRecords,
  shortId,
  type OperatorSessions,
} from './operator';
import { isLoopbackAddress, refusal, type RequestGuardOptions } from './request-guard';
import { checkSdk, replayInitialize } from './sdk-transport';

export interface McpSessionHandlerOptions extends RequestGuardOptions {
  /** Builds the MCP server for a session (new, or rebuilt after a restart). */
  createServer: (session: SessionInfo) => McpServer | Server;
  /** The session manager, or options for one (protocol versions default to the
   * SDK's); or `RedisSessions`, to share sessions with other instances through
   * Redis (then there is no `store`: Redis is the store). */
  sessions?: SessionManager | SessionManagerOptions | RedisSessions;
  /**
   * The authenticated user of a request (for example from a verified bearer token);
   * never taken from the client. A session is bound to the user who created it.
   */
  principal?: (req: IncomingMessage) => string | undefined | Promise<string | undefined>;
  /**
   * Serve requests without a principal (`principal` answered undefined, or there is
   * no `principal`): anonymous sessions, usable by anyone who knows their ID, and
   * counted together as one principal for `maxSessionsPerPrincipal`. Default false:
   * such a request gets 401 with `WWW-Authenticate`, as the MCP authorization spec
   * expects.
   */
  allowAnonymous?: boolean;
  /** The `WWW-Authenticate` value of that 401 (default `Bearer`; a server with
   * OAuth adds its `resource_metadata` URL here). */
  wwwAuthenticate?: string;
  /**
   * Who may read the operator views (`handleOperator`, `handleOperatorSessions`,
   * `handleOperatorEvents`): default, requests from a loopback address only, so a
   * server bound to a public address shows nothing until this is given. The
   * operator's own auth goes here.
   */
  operatorAuth?: (req: IncomingMessage) => boolean | Promise<boolean>;
  /** Persistence (a `FileSessionStore`, or any `SessionStore`): sessions restored
   * at start, every change saved before it is acknowledged. */
  store?: SessionStore;
  /** Answer DELETE (end the session) or 405. Default true. */
  allowDelete?: boolean;
  /** Answer POSTs with JSON instead of SSE streams. Default false. */
  enableJsonResponse?: boolean;
  /** Resumability (`Last-Event-ID`): per-session bounded event buffers in this
   * process (their options), a store per session from a function (a
   * `RedisEventStore`, so a client resumes on any instance), or false. */
  events?: SessionEventStoreOptions | false | ((sessionId: string) => EventStore);
  /** Largest POST body read, in bytes (default 4 MiB). */
  maxBodyBytes?: number;
  /** Sees every error answered to a client (for logs); PRINCIPAL_MISMATCH shows
   * here. `req` is absent for what fails outside a request (a notification routed
   * to another instance's stream). */
  onError?: (error: unknown, req: IncomingMessage | undefined) => void;
}

interface Runtime {
  transport: StreamableHTTPServerTransport;
  server: McpServer | Server;
  events: EventStore | undefined;
  /** The transport's own `send` (around any routing of standalone messages). */
  deliver: StreamableHTTPServerTransport['send'];
}

/** What an operator sees of one session. */
export interface SessionSummary {
  /** The first 8 characters of the ID and an ellipsis: enough to tell sessions
   * apart in a log, not enough to use one. */
  id: string;
  phase: SessionView['phase'];
  principal: string | null;
  protocolVersion: string;
  clientName: string | null;
  idleDeadline: string | null;
  stateVersion: number;
  inFlight: number;
  transport: boolean;
}

/** The request kind of a body (a message or a batch; none for GET and DELETE): the
 * core decides it from the messages' methods. */
function kindOf(body: unknown): RequestKind {
  const messages: unknown[] = Array.isArray(body) ? body : [body];
  return requestKindOf(messages.map((m) => (m as { method?: unknown } | null | undefined)?.method));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** A JSON-RPC error response (nothing else is ever sent for a failure). */
export function sendJsonRpcError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

/** The core's answer to a failed request, as a JSON-RPC error response. */
export function sendClientAnswer(res: ServerResponse, answer: ClientAnswer): void {
  const { httpStatus, jsonRpcCode, message, retryAfterSecs } = answer;
  sendJsonRpcError(res, httpStatus, jsonRpcCode, message,
    retryAfterSecs === null ? {} : { 'retry-after': String(retryAfterSecs) });
}

/** A request body as JSON, within `limit` bytes: `PAYLOAD_TOO_LARGE` or `PARSE_ERROR` otherwise. */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw SessionError.payloadTooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw SessionError.parseError();
  }
}

/**
 * The session layer of a Streamable HTTP MCP server, for Express and `node:http`:
 * it owns each session's SDK transport and server, creates them on `initialize`,
 * routes by `Mcp-Session-Id`, checks every request with the core's gate, and
 * closes and drops them whenever the core ends the session.
 *
 * ```ts
 * const mcp = new McpSessionHandler({ createServer: () => buildServer() });
 * http.createServer((req, res) => mcp.handle(req, res)).listen(3000);
 * // Express: app.all('/mcp', (req, res) => mcp.handle(req, res, req.body));
 * ```
 */
export class McpSessionHandler {
  /** Its sessions: in this process (`SessionManager`), or shared through Redis
   * (`RedisSessions`, whose calls answer promises). */
  readonly sessions: SessionManager | RedisSessions;
  /** What the store restored at start, if there is a store. */
  readonly loaded: LoadReport | null;
  readonly #options: McpSessionHandlerOptions;
  readonly #runtimes = new Map<string, Runtime>();
  /** Sessions whose standalone GET stream this instance holds (sessions shared
   * through Redis): how many such requests are open. */
  readonly #streams = new Map<string, number>();
  readonly #opening = new Map<string, Promise<Runtime>>();
  /** The operators' event streams (sessions in this process only). */
  readonly #feed: OperatorEventFeed | undefined;

  constructor(options: McpSessionHandlerOptions) {
    checkSdk();
    this.#options = options;
    const sessions = options.sessions;
    if (sessions instanceof RedisSessions) {
      if (options.store !== undefined) {
        throw SessionError.invalidArgument('store', 'RedisSessions keep their sessions in Redis: give no store');
      }
      this.sessions = sessions;
      // Wherever a session ends in the fleet, the transport held here closes.
      void sessions.shared.onEnded((id) => void this.#drop(id));
      this.loaded = null;
      this.#feed = undefined;
      return;
    }
    const manager =
      sessions instanceof SessionManager
        ? sessions
        : new SessionManager({
            supportedProtocolVersions: [...SUPPORTED_PROTOCOL_VERSIONS].reverse(),
            ...sessions,
          });
    this.sessions = manager;
    this.#feed = new OperatorEventFeed(manager);
    for (const ended of sessionEndingEvents()) {
      manager.on(ended, (event) => void this.#drop(event.sessionId));
    }
    this.loaded = options.store === undefined ? null : manager.attachStore(options.store);
  }

  /** Handles one HTTP request to the MCP endpoint. */
  handle = async (req: IncomingMessage, res: ServerResponse, parsedBody?: unknown): Promise<void> => {
    try {
      await this.#handle(req, res, parsedBody);
    } catch (error) {
      // The whole error goes to onError; the client gets what the core says it may know.
      this.#options.onError?.(error, req);
      if (error instanceof SessionError) {
        sendClientAnswer(res, error.clientAnswer);
      } else {
        sendJsonRpcError(res, 500, -32603, 'Internal error');
      }
    }
  };

  async #handle(req: IncomingMessage, res: ServerResponse, parsedBody: unknown): Promise<void> {
    if (!this.#guarded(req, res)) return;
    const method = req.method ?? 'GET';
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      sendJsonRpcError(res, 405, -32000, 'Method not allowed', { allow: 'GET, POST, DELETE' });
      return;
    }
    if (method === 'DELETE' && this.#options.allowDelete === false) {
      sendJsonRpcError(res, 405, -32000, 'Method not allowed: sessions cannot be ended by DELETE', { allow: 'GET, POST' });
      return;
    }
    const principal = await this.#options.principal?.(req);
    if (principal === undefined && this.#options.allowAnonymous !== true) {
      sendJsonRpcError(res, 401, -32001, 'Unauthorized: credentials required', {
        'www-authenticate': this.#options.wwwAuthenticate ?? 'Bearer',
      });
      return;
    }
    const body = method === 'POST'
      ? (parsedBody ?? (await readJson(req, this.#options.maxBodyBytes ?? 4 * 1024 * 1024)))
      : undefined;
    const kind = kindOf(body);
    const sessionId = header(req, 'mcp-session-id');
    const admission = await this.sessions.beginRequest({
      sessionId,
      principal,
      kind,
      protocolVersion: header(req, 'mcp-protocol-version'),
    });

    if (admission.outcome === 'initialize') {
      // Admission before allocation: what the transport would refuse creates nothing.
      const handshake = admitInitialize(header(req, 'accept'), header(req, 'content-type'), body);
      const session = await this.sessions.initialize({ ...handshake, principal });
      const runtime = await this.#open(session);
      await runtime.transport.handleRequest(req, res, body);
      // Refused all the same (the SDK has checks of its own): the session ends at
      // once and, never initialized, keeps nothing.
      if (res.statusCode >= 300) await this.sessions.closeSession(session.id);
      return;
    }

    // Admitted: the request is in flight until its response (or stream) closes.
    const id = sessionId as string;
    const stopListening = method === 'GET' ? await this.#holdStream(id) : undefined;
    res.once('close', () => {
      stopListening?.();
      // The session may have ended while the request was open (DELETE, expiry):
      // then there is nothing to end, and nothing may escape this listener.
      void (async () => this.sessions.endRequest(id))().catch(() => {});
    });
    const runtime = await this.#runtimeFor(id);
    await runtime.transport.handleRequest(req, res, body);
  }

  /**
   * Sessions shared through Redis: this instance holds the session's GET stream,
   * so it takes the notifications other instances publish for it (see `#open`).
   * Answers what stops that when the stream closes.
   */
  async #holdStream(id: string): Promise<(() => void) | undefined> {
    if (!(this.sessions instanceof RedisSessions)) return undefined;
    this.#streams.set(id, (this.#streams.get(id) ?? 0) + 1);
    const stop = await this.sessions.shared.listen(`push:${id}`, (text) => {
      const runtime = this.#runtimes.get(id);
      void runtime?.deliver(JSON.parse(text) as JSONRPCMessage).catch((error: unknown) => this.#options.onError?.(error, undefined));
    });
    return () => {
      stop();
      const n = (this.#streams.get(id) ?? 1) - 1;
      if (n > 0) this.#streams.set(id, n);
      else this.#streams.delete(id);
    };
  }

  /** The session's transport and server, rebuilt from the stored initialize data if
   * this process has none (after a restart). */
  async #runtimeFor(id: string): Promise<Runtime> {
    const existing = this.#runtimes.get(id);
    if (existing !== undefined) return existing;
    const opening = this.#opening.get(id);
    if (opening !== undefined) return opening;
    const rebuild = (async () => {
      const session = await this.sessions.getSession(id);
      if (session === null) throw SessionError.sessionNotFound(id);
      const runtime = await this.#open(session);
      await replayInitialize(runtime.transport, session);
      return runtime;
    })();
    this.#opening.set(id, rebuild);
    try {
      return await rebuild;
    } finally {
      this.#opening.delete(id);
    }
  }

  async #open(session: SessionInfo): Promise<Runtime> {
    const option = this.#options.events;
    const events =
      option === false ? undefined : typeof option === 'function' ? option(session.id) : new SessionEventStore(option);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => session.id,
      enableJsonResponse: this.#options.enableJsonResponse ?? false,
      ...(events === undefined ? {} : { eventStore: events }),
      onsessionclosed: async (closedId) => {
        await this.sessions.closeSession(closedId);
      },
    });
    const server = this.#options.createServer(session);
    const send = transport.send.bind(transport);
    const runtime: Runtime = { transport, server, events, deliver: send };
    const sessions = this.sessions;
    if (sessions instanceof RedisSessions) {
      // A message for the session's GET stream (a notification not tied to a
      // request) goes to the instance that holds that stream, wherever it is.
      transport.send = async (message, options) => {
        const standalone = options?.relatedRequestId === undefined && !('result' in message || 'error' in message);
        if (standalone && !this.#streams.has(session.id)) {
          const receivers = await sessions.shared.publish(`push:${session.id}`, JSON.stringify(message));
          // Nobody holds the stream now: the event store keeps it for a resume.
          if (receivers !== 0) return;
        }
        return send(message, options);
      };
    }
    this.#runtimes.set(session.id, runtime);
    transport.onclose = () => {
      if (this.#runtimes.get(session.id) === runtime) this.#runtimes.delete(session.id);
    };
    await server.connect(transport);
    return runtime;
  }

  async #drop(id: string): Promise<void> {
    const runtime = this.#runtimes.get(id);
    if (runtime === undefined) return;
    this.#runtimes.delete(id);
    try {
      await runtime.server.close();
    } catch {
      // Closing a transport whose client is gone can fail; it is dropped either way.
    }
  }

  /** Transports held in memory (one per session served since start, until it ends). */
  get transports(): number {
    return this.#runtimes.size;
  }

  /** Buffered resumability events, over all sessions. */
  get bufferedEvents(): number {
    let n = 0;
    for (const r of this.#runtimes.values()) n += r.events instanceof SessionEventStore ? r.events.size : 0;
    return n;
  }

  /** Host and Origin checks (DNS rebinding): false once a 403 has been sent. */
  #guarded(req: IncomingMessage, res: ServerResponse): boolean {
    const refused = refusal(req, this.#options);
    if (refused === undefined) return true;
    const error = SessionError.forbidden(refused);
    this.#options.onError?.(error, req);
    sendClientAnswer(res, error.clientAnswer);
    return false;
  }

  /**
   * The operator view (`summary()` as JSON, plus `extra()`), for a read-only
   * endpoint such as `GET /sessions`: behind the same Host and Origin checks as the
   * MCP endpoint, and only for operators (`operatorAuth`; default, requests from a
   * loopback address). It shows session IDs shortened, never whole: an anonymous
   * session can be used by anyone who knows its ID.
   */
  handleOperator = async (
    req: IncomingMessage,
    res: ServerResponse,
    extra: () => Record<string, unknown> = () => ({}),
  ): Promise<void> => {
    if (!(await this.#operatorAllowed(req, res))) return;
    const stats = await this.sessions.stats();
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ ...this.summary(), stats, ...extra() }));
  };

  /**
   * `GET /operator/sessions`: the live sessions and handles (`OperatorSessions`),
   * for the live inspector; the same gate as `handleOperator`. `?limit=` bounds
   * how many records are listed (default 20,000, at most 100,000; the most
   * recently active first; `truncated` says some were left out); any other value
   * than a positive integer answers 400.
   */
  handleOperatorSessions = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!(await this.#operatorAllowed(req, res))) return;
    const limit = operatorLimit(req.url);
    if (limit === undefined) {
      sendJsonRpcError(res, 400, -32600, 'Invalid limit: a positive integer is expected');
      return;
    }
    const view: OperatorSessions = {
      serverTime: Date.now(),
      listed: this.#feed !== undefined,
      records: [],
      truncated: false,
      ...(await this.#counts()),
    };
    if (this.sessions instanceof SessionManager) {
      Object.assign(view, operatorRecords(this.sessions, (id) => this.#runtimes.has(id), limit));
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(view));
  };

  /**
   * `GET /operator/events`: the lifecycle events of sessions and handles as
   * Server-Sent Events (`OperatorEvent`s, one JSON object per `data:` line), with
   * keep-alive comments, until the client goes away; the same gate as
   * `handleOperator`. Sessions shared through Redis have no feed here (404).
   */
  handleOperatorEvents = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!(await this.#operatorAllowed(req, res))) return;
    if (this.#feed === undefined) {
      sendJsonRpcError(res, 404, -32000, 'No event feed: sessions are shared through Redis');
      return;
    }
    this.#feed.open(req, res);
  };

  async #counts(): Promise<Omit<OperatorSessions, 'serverTime' | 'listed' | 'records' | 'truncated'>> {
    return { stats: await this.sessions.stats(), transports: this.transports, streams: this.#streams.size, bufferedEvents: this.bufferedEvents };
  }

  /**
   * The gate of every operator view: the MCP endpoint's Host check; an `Origin`,
   * if any, that is the server's own (see `foreignOrigin`); then `operatorAuth`
   * (default: a loopback peer). False once a 403 has been sent; never a CORS
   * header, so no other page can read an answer.
   */
  /**
   * The same gate for a host's own operator pages (the example server puts the
   * inspector's files behind it, so the page is only where its data is): true
   * if `req` may go on; false once a 403 has been answered.
   */
  admitOperator = (req: IncomingMessage, res: ServerResponse): Promise<boolean> => this.#operatorAllowed(req, res);

  async #operatorAllowed(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if (!this.#guarded(req, res)) return false;
    const origin = foreignOrigin(req);
    const allowed =
      origin === undefined &&
      (await (this.#options.operatorAuth ?? ((r) => isLoopbackAddress(r.socket.remoteAddress)))(req));
    if (allowed) return true;
    const error = SessionError.forbidden(origin ?? 'notOperator');
    this.#options.onError?.(error, req);
    sendClientAnswer(res, error.clientAnswer);
    return false;
  }

  /** A read-only view for operators. Session IDs are shortened (`1a2b3c4d…`).
   * Sessions shared through Redis are not listed (the counts are in `stats`);
   * `streams` counts the sessions whose GET stream this instance holds. */
  summary(): { sessions: SessionSummary[]; transports: number; streams: number; bufferedEvents: number } {
    const listed = this.sessions instanceof SessionManager ? this.sessions.getAllSessions() : [];
    const sessions = listed.map((s) => ({
      id: shortId(s.id),
      phase: s.status as SessionView['phase'],
      principal: s.principal,
      protocolVersion: s.protocolVersion,
      clientName: s.clientId,
      idleDeadline: s.expiresAt === null ? null : s.expiresAt.toISOString(),
      stateVersion: s.version,
      inFlight: s.inFlight,
      transport: this.#runtimes.has(s.id),
    }));
    return { sessions, transports: this.transports, streams: this.#streams.size, bufferedEvents: this.bufferedEvents };
  }

  /** Closes every transport, saves and closes the store, frees the manager. */
  async close(): Promise<void> {
    this.#feed?.close();
    await Promise.all([...this.#runtimes.keys()].map((id) => this.#drop(id)));
    if (this.sessions instanceof RedisSessions) {
      this.sessions.shared.close();
      return;
    }
    this.sessions.detachStore();
    this.#options.store?.close?.();
    this.sessions.dispose();
  }
}
