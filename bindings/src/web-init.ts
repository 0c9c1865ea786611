/**
 * Loading the WebAssembly module for the web build. Browsers, Deno, Bun and Workers
 * each get the module's bytes their own way (fetched beside the script, bundled as
 * a compiled module, read from disk), so loading is an explicit, awaited `init()`
 * rather than a side effect of importing; everything that needs the module checks
 * `ready` first and fails with a typed error instead of an opaque one.
 */
import loadWasm from '../generated/web/mcp_session_core';

/**
 * Where `init` takes the module from: a URL (fetched), a fetch `Response` or a
 * promise of one (the host's own fetch), the bytes, or a `WebAssembly.Module`
 * already compiled (what Cloudflare Workers and most bundlers hand over).
 */
export type WasmSource = string | URL | Response | PromiseLike<Response> | ArrayBuffer | ArrayBufferView | CompiledModule;

/** `WebAssembly.Module` where the consumer's TypeScript libraries declare it (the
 * DOM and web worker ones, Deno's, Workers'), else nothing: Node's types have no
 * `WebAssembly`, and these types must compile there too. */
export type CompiledModule = typeof globalThis extends { WebAssembly: { Module: abstract new (...args: never) => infer M } }
  ? M
  : never;

/** Why the web build could not serve a call. */
export type WebInitErrorCode =
  /** A call that needs the module, made before `init()` finished. */
  | 'WASM_NOT_INITIALIZED'
  /** `init()` was given something it cannot load from, or loading failed (a
   * failed fetch, bytes that are not this module). */
  | 'WASM_INIT_FAILED';

/**
 * The web build's own failures, which happen before the core exists and so cannot
 * be `SessionError`s (the core makes those).
 */
export class WebInitError extends Error {
  override readonly name = 'WebInitError';
  readonly code: WebInitErrorCode;

  constructor(code: WebInitErrorCode, message: string, options?: { cause: unknown }) {
    super(message, options);
    this.code = code;
  }
}

let loaded = false;

/** Throws `WASM_NOT_INITIALIZED` unless `init()` has finished; `what` names the call. */
export function ready(what: string): void {
  if (!loaded) {
    throw new WebInitError(
      'WASM_NOT_INITIALIZED',
      `${what} needs the WebAssembly module: call \`await init()\` from 'mcp-session-core/web' first`,
    );
  }
}

/** True for what `init` can load from (see `WasmSource`). */
function loadable(source: unknown): boolean {
  if (typeof source === 'string' || source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return true;
  if (typeof URL === 'function' && source instanceof URL) return true;
  if (typeof Response === 'function' && source instanceof Response) return true;
  // WebAssembly.Module's own tag: no `WebAssembly` type is needed to check for it.
  if (Object.prototype.toString.call(source) === '[object WebAssembly.Module]') return true;
  return typeof (source as PromiseLike<unknown> | null)?.then === 'function';
}

/**
 * Loads and instantiates the module; every other export works once this resolves.
 * Without `source`, fetches `mcp_session_core_bg.wasm` beside this script (the
 * package ships it there). Calling it again, or concurrently, loads once.
 */
export async function init(source?: WasmSource): Promise<void> {
  if (loaded) return;
  if (source !== undefined && !loadable(source)) {
    throw new WebInitError(
      'WASM_INIT_FAILED',
      'init() takes a URL, a Response (or a promise of one), the bytes, or a WebAssembly.Module',
    );
  }
  try {
    await loadWasm(source === undefined ? undefined : { module_or_path: source });
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new WebInitError('WASM_INIT_FAILED', `could not load the WebAssembly module: ${reason}`, { cause });
  }
  loaded = true;
}
