import type { IncomingMessage } from 'node:http';

/**
 * Which requests may reach the MCP endpoint at all, by the `Host` and `Origin`
 * headers: the defence against DNS rebinding that the MCP transport spec requires
 * ("servers MUST validate the Origin header on all incoming connections", 403 when
 * it is present and invalid). A page on `http://evil.example` whose name an attacker
 * re-points at 127.0.0.1 reaches a loopback server with `Host: evil.example` and
 * `Origin: http://evil.example`; both are refused here before anything else runs.
 */
export interface RequestGuardOptions {
  /**
   * Origins (`scheme://host[:port]`) whose pages may call the server. A request
   * without an `Origin` header (any non-browser client) is not affected. Default: on
   * a loopback address, loopback origins (`http://localhost:6274`, the MCP Inspector,
   * included); elsewhere, only the server's own origin (the `Host` it was reached by).
   */
  allowedOrigins?: readonly string[];
  /**
   * `Host` header values (name, or name:port) the server answers to. Default: on a
   * loopback address, loopback names only (`localhost`, `127.0.0.1`, `[::1]`, any
   * port); elsewhere, any (a public server knows its own names: list them here).
   */
  allowedHosts?: readonly string[];
}

/** Why a request is refused, as the 403 body says it. */
export type GuardRefusal = 'host' | 'origin';

/** True for an address of this machine's loopback interface (IPv4, IPv6, mapped). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return v4.startsWith('127.') || address === '::1';
}

/** True for a host name that can only mean this machine. */
function isLoopbackName(hostname: string): boolean {
  const name = hostname.toLowerCase();
  return name === 'localhost' || name.endsWith('.localhost') || name === '[::1]' || /^127(\.\d{1,3}){3}$/.test(name);
}

/** `name` of `name:port` (IPv6 literals keep their brackets). */
function hostname(host: string): string {
  const bracket = host.startsWith('[') ? host.indexOf(']') : -1;
  if (bracket !== -1) return host.slice(0, bracket + 1);
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** An allowed origin as browsers send it (`http://localhost:80` is `http://localhost`). */
function originOf(configured: string): string | undefined {
  try {
    return new URL(configured).origin;
  } catch {
    return undefined;
  }
}

/** The one value of a header: a header sent twice is refused as malformed. */
function single(value: string | string[] | undefined): string | undefined | null {
  if (Array.isArray(value)) return value.length === 1 ? value[0] : null;
  return value;
}

/**
 * Checks a request's `Host` and `Origin` against `options` (see there for the
 * defaults); answers why it is refused, or undefined when it may go on.
 */
export function refusal(req: IncomingMessage, options: RequestGuardOptions): GuardRefusal | undefined {
  const loopback = isLoopbackAddress(req.socket.localAddress);
  const host = single(req.headers.host)?.toLowerCase();
  if (host === null || host === undefined || host === '') return 'host';
  if (options.allowedHosts !== undefined) {
    const allowed = options.allowedHosts.map((h) => h.toLowerCase());
    if (!allowed.includes(host) && !allowed.includes(hostname(host))) return 'host';
  } else if (loopback && !isLoopbackName(hostname(host))) {
    return 'host';
  }
  const origin = single(req.headers.origin);
  if (origin === undefined) return undefined;
  if (origin === null) return 'origin';
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return 'origin'; // includes the opaque "null" origin of sandboxed pages and files
  }
  if (options.allowedOrigins !== undefined) {
    return options.allowedOrigins.some((o) => originOf(o) === parsed.origin) ? undefined : 'origin';
  }
  if (loopback) return isLoopbackName(parsed.hostname) ? undefined : 'origin';
  return parsed.host === host ? undefined : 'origin';
}
