// The ESM entry point re-exports the CommonJS build, so that `import` and `require`
// share one module instance (one WebAssembly instance, one SessionError class).
import cjs from '../src/index.js';

export const { SessionManager, SessionError, SessionCore, FileSessionStore, HandleStore, admitInitialize, isNotFound, wasmMemoryBytes, createSealedRequestStateCodec, RedisShared, RedisHandleStore, RedisSessions, RedisEventStore, RedisServerEventBus } = cjs;
export default cjs;
