// The implementations under test in the seed-API suite (bench/seed-api.mjs), each
// with the seed API's method set and nothing else:
//   createSession(config) -> id            getSession(id) -> session | null
//   updateSessionState(id, updates)        closeSession(id)
//   cleanupExpiredSessions() -> expired ids
// `make(name, { capacity, clock, ttlMs })` builds one. `clock` (ms since the epoch)
// drives the package's SessionManager and the seed-style manager; lru-cache and
// @isaacs/ttlcache keep their own real-time clocks (performance.now) and take the
// idle timeout as `ttlMs` instead.
import { randomUUID } from 'node:crypto';
import { TTLCache } from '@isaacs/ttlcache';
import { LRUCache } from 'lru-cache';
import { SessionManager } from 'mcp-session-core';
import { SeedSessionManager } from './seed-manager.mjs';

export const IDLE_MS = 30 * 60_000;
export const NAMES = ['wasm-manager', 'seed', 'ttlcache', 'lru-cache'];
/** The implementations that run on the injected (manual) clock. */
export const MANUAL_CLOCK = new Set(['wasm-manager', 'seed']);

/** The package's manager as it is: its methods already have the seed's names. */
function wasmManager({ capacity, clock }) {
  return new SessionManager({ clock, maxSessions: capacity, maxEndedRemembered: 100_000, maxTotalBytes: null });
}

/** The seed-style manager (bench/seed-manager.mjs) on the injected clock. */
function seed({ clock }) {
  return new SeedSessionManager({ sessionTimeout: IDLE_MS, clock });
}

/**
 * A TTL cache used as the seed's session store: the seed's session object is the
 * value (minus the time fields the cache keeps itself), `get` with
 * `updateAgeOnGet` is the seed's touching getSession, `purgeStale` its sweep, and
 * the cache's `dispose` callback (reason `expire` / `stale`) collects the expired
 * IDs the seed's cleanupExpiredSessions returns.
 */
function cacheStore(makeCache) {
  let collected = null;
  const onDispose = (_value, key, reason) => {
    if (collected !== null && (reason === 'expire' || reason === 'stale')) collected.push(key);
  };
  const cache = makeCache(onDispose);
  return {
    createSession(config = {}) {
      const id = randomUUID();
      cache.set(id, {
        id,
        clientId: config.clientId,
        capabilities: config.capabilities ?? {},
        status: 'active',
        state: config.state ?? {},
        createdAt: new Date(),
      });
      return id;
    },
    getSession(id) {
      return cache.get(id) ?? null;
    },
    updateSessionState(id, updates) {
      const session = cache.get(id);
      if (session === undefined) throw new Error('Session not found');
      session.state = { ...session.state, ...updates };
      return session.state;
    },
    closeSession(id) {
      return cache.delete(id);
    },
    cleanupExpiredSessions() {
      collected = [];
      cache.purgeStale();
      const expired = collected;
      collected = null;
      return expired;
    },
    dispose() {
      cache.clear();
    },
  };
}

// @isaacs/ttlcache 2.x always arms its own purge timer (no option turns it off);
// the cleanup workload sleeps synchronously so that the timer cannot fire first.
const ttlcache = ({ capacity, ttlMs = IDLE_MS }) =>
  cacheStore((dispose) => new TTLCache({ max: capacity, ttl: ttlMs, updateAgeOnGet: true, dispose }));

const lruCache = ({ capacity, ttlMs = IDLE_MS }) =>
  cacheStore(
    (dispose) =>
      new LRUCache({ max: capacity, ttl: ttlMs, ttlResolution: 0, updateAgeOnGet: true, ttlAutopurge: false, dispose }),
  );

const FACTORIES = { 'wasm-manager': wasmManager, seed, ttlcache, 'lru-cache': lruCache };

export function make(name, options) {
  const factory = FACTORIES[name];
  if (factory === undefined) throw new Error(`unknown implementation ${name}`);
  return factory(options);
}

/**
 * The seed's createSession call, `{ clientId: 'test-client', capabilities: ['tools',
 * 'resources'] }` (a fresh config per call, as a handler writing the literal makes),
 * or, for an implementation that refuses a capabilities array, the same with MCP's
 * object shape `{ tools: {}, resources: {} }`. Answers the create function, the
 * shape it uses (`array` or `object`) and, for `object`, why the array was refused.
 * Probes with one create and close.
 */
export function seedCreate(impl) {
  try {
    impl.closeSession(impl.createSession({ clientId: 'test-client', capabilities: ['tools', 'resources'] }));
  } catch (error) {
    return {
      create: () => impl.createSession({ clientId: 'test-client', capabilities: { tools: {}, resources: {} } }),
      shape: 'object',
      refusal: String(error?.message ?? error),
    };
  }
  return {
    create: () => impl.createSession({ clientId: 'test-client', capabilities: ['tools', 'resources'] }),
    shape: 'array',
    refusal: null,
  };
}
