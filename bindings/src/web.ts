/**
 * mcp-session-core/web: the core and its TypeScript layer for browsers, Deno, Bun and
 * Workers. The same sources as the Node entry, bundled into one ES module with the
 * web glue of the same WebAssembly module, loaded by an explicit `await init()`.
 * The stores that do I/O (file, Redis) and the HTTP transports are Node's and are
 * not here; neither is any Node built-in.
 *
 * Everything that needs the module before `init()` has finished throws a
 * `WebInitError` (`WASM_NOT_INITIALIZED`) rather than failing somewhere in the glue.
 */
import { SessionCore as CoreBase, admitInitialize as admitInitializeBase } from './core';
import { SessionManager as ManagerBase } from './manager';
import type { SessionManagerOptions } from './manager';
import { SessionError as CoreSessionError } from './errors';
import type { SessionErrorConstructor, SessionError as SessionErrorType } from './errors';
import { createSealedRequestStateCodec as sealedCodecBase } from './request-state';
import type { SealedRequestStateCodec, SealedRequestStateCodecOptions } from './request-state';
import { wasmMemoryBytes as wasmMemoryBytesBase } from '../generated/mcp_session_core';
import type { CoreConfig, Handshake } from '../generated/mcp_session_core';
import { ready } from './web-init';

export { init, WebInitError } from './web-init';
export type { CompiledModule, WasmSource, WebInitErrorCode } from './web-init';
export { isNotFound } from './errors';
export { HandleStore } from './handles';

/** `SessionManager` (see the Node entry), once `init()` has loaded the module. */
export class SessionManager extends ManagerBase {
  constructor(options?: SessionManagerOptions) {
    ready('new SessionManager()');
    super(options);
  }
}

/** `SessionCore` (see the Node entry), once `init()` has loaded the module. */
export class SessionCore extends CoreBase {
  constructor(config?: CoreConfig, options?: { insecureSeed?: number }) {
    ready('new SessionCore()');
    super(config, options);
  }
}

/** The core makes every `SessionError`, so its static factories need the module;
 * `instanceof` and the constructor do not. */
export const SessionError: SessionErrorConstructor = new Proxy(CoreSessionError, {
  get(target, key, receiver): unknown {
    const value: unknown = Reflect.get(target, key, receiver);
    if (typeof value !== 'function' || key === Symbol.hasInstance || key === 'constructor') return value;
    return (...args: unknown[]): unknown => {
      ready(`SessionError.${String(key)}()`);
      return Reflect.apply(value, target, args);
    };
  },
});
export type SessionError = SessionErrorType;

/** `admitInitialize` (see the Node entry), once `init()` has loaded the module. */
export function admitInitialize(accept: string | undefined, contentType: string | undefined, body: unknown): Handshake {
  ready('admitInitialize()');
  return admitInitializeBase(accept, contentType, body);
}

/** `createSealedRequestStateCodec` (see the Node entry), once `init()` has loaded the module. */
export function createSealedRequestStateCodec<T = unknown, Ctx = unknown>(
  options: SealedRequestStateCodecOptions<Ctx>,
): SealedRequestStateCodec<T, Ctx> {
  ready('createSealedRequestStateCodec()');
  return sealedCodecBase<T, Ctx>(options);
}

/** The WebAssembly memory's size in bytes, once `init()` has loaded the module. */
export function wasmMemoryBytes(): number {
  ready('wasmMemoryBytes()');
  return wasmMemoryBytesBase();
}

export type * from './public-types';
