// The implementations under test, behind one small interface so every workload
// runs the same code path against each:
//   create(state, shortLived) -> id   gate(id)   update(id, i)
//   expireShortLived()  sweep() -> expired   snapshot() -> text   restore(text) -> count
import { TTLCache } from '@isaacs/ttlcache';
import { LRUCache } from 'lru-cache';
import { SessionCore, SessionManager } from 'mcp-session-core';
import { SeedSessionManager } from './seed-manager.mjs';

const IDLE_MS = 30 * 60_000;
const SHORT_MS = 2;
const T0 = 1_700_000_000_000;
const VISIBLE_ASCII = /^[\x21-\x7e]{1,128}$/;

/** What every JS peer does with a raw header before a lookup (the core does the same). */
function checkHeader(id) {
  if (typeof id !== 'string' || !VISIBLE_ASCII.test(id)) throw new Error('invalid session id');
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function wasmManager(capacity) {
  let now = T0;
  const m = new SessionManager({ clock: () => now, maxSessions: capacity, maxEndedRemembered: 100_000, maxTotalBytes: null });
  return {
    create: (state, shortLived) =>
      m.createSession({ state, ...(shortLived ? { idleTimeoutMs: SHORT_MS } : {}) }),
    gate: (id) => {
      m.beginRequest({ sessionId: id, kind: 'other' });
      m.endRequest(id);
    },
    update: (id, i) => m.updateSessionState(id, { n: i }),
    expireShortLived: async () => {
      now += SHORT_MS + 1;
    },
    sweep: () => m.cleanupExpiredSessions().length,
    snapshot: () => m.snapshot(),
    restore: (text) => {
      const fresh = new SessionManager({ clock: () => now, maxSessions: capacity, maxTotalBytes: null });
      const n = fresh.restore(text).restored;
      fresh.dispose();
      return n;
    },
    dispose: () => m.dispose(),
  };
}

function wasmCore(capacity) {
  let now = T0;
  // The raw facade as a host that does not listen to events uses it: no events
  // recorded, and `createId` (the ID alone) rather than `create` (the whole view).
  const core = new SessionCore({ maxSessions: capacity, maxEndedRemembered: 100_000, maxTotalBytes: null });
  core.setEventFilter([]);
  return {
    create: (state, shortLived) =>
      core.createId({ state, ...(shortLived ? { idleTimeoutMs: SHORT_MS } : {}) }, now),
    gate: (id) => {
      core.beginRequest(id, undefined, 2, undefined, now);
      core.endRequest(id, now);
    },
    update: (id, i) => core.updateState(id, { n: i }, undefined, now),
    expireShortLived: async () => {
      now += SHORT_MS + 1;
    },
    sweep: () => core.sweepIds(now).length,
    snapshot: () => core.snapshot(now),
    restore: (text) => {
      const fresh = new SessionCore({ maxSessions: capacity, maxTotalBytes: null });
      const n = fresh.restore(text, now).restored;
      fresh.free();
      return n;
    },
    dispose: () => core.free(),
  };
}

function seed() {
  const m = new SeedSessionManager({ sessionTimeout: IDLE_MS });
  return {
    create: (state, shortLived) => m.createSession({ state, ...(shortLived ? { timeout: SHORT_MS } : {}) }),
    gate: (id) => {
      checkHeader(id);
      const s = m.getSession(id);
      if (s === null || s.status !== 'active') throw new Error('Session not found');
      s.lastActivity = new Date(); // the request ended
    },
    update: (id, i) => m.updateSessionState(id, { n: i }),
    expireShortLived: () => sleep(SHORT_MS + 3),
    sweep: () => m.cleanupExpiredSessions().length,
    snapshot: () => JSON.stringify([...m.sessions.values()]),
    restore: (text) => {
      const fresh = new SeedSessionManager({ sessionTimeout: IDLE_MS });
      for (const s of JSON.parse(text)) {
        fresh.sessions.set(s.id, {
          ...s,
          createdAt: new Date(s.createdAt),
          lastActivity: new Date(s.lastActivity),
          expiresAt: new Date(s.expiresAt),
        });
      }
      fresh.dispose();
      return fresh.sessions.size;
    },
    dispose: () => m.dispose(),
  };
}

/**
 * A TTL cache used as a session store, as many servers do: the session object is
 * the value, `get` with `updateAgeOnGet` is the touch, `purgeStale` the sweep.
 * `makeCache()` builds an empty cache of the library under test.
 */
function ttlCacheStore(makeCache) {
  const cache = makeCache();
  return {
    create: (state, shortLived) => {
      const id = crypto.randomUUID();
      cache.set(id, { id, state }, shortLived ? { ttl: SHORT_MS } : undefined);
      return id;
    },
    gate: (id) => {
      checkHeader(id);
      if (cache.get(id) === undefined) throw new Error('Session not found');
      cache.get(id); // the request ended: touch again
    },
    update: (id, i) => {
      const s = cache.get(id);
      cache.set(id, { ...s, state: { ...s.state, n: i } });
    },
    expireShortLived: () => sleep(SHORT_MS + 3),
    sweep: () => {
      const before = cache.size;
      cache.purgeStale();
      return before - cache.size;
    },
    // entries(), not lru-cache's dump(): dump() grows superlinearly (5 s at 200,000).
    snapshot: () => JSON.stringify([...cache.entries()]),
    restore: (text) => {
      const fresh = makeCache();
      for (const [k, v] of JSON.parse(text)) fresh.set(k, v);
      const n = fresh.size;
      fresh.clear();
      return n;
    },
    dispose: () => cache.clear(),
  };
}

const ttlcache = (capacity) =>
  ttlCacheStore(() => new TTLCache({ max: capacity, ttl: IDLE_MS, updateAgeOnGet: true }));

const lruCache = (capacity) =>
  ttlCacheStore(
    () => new LRUCache({ max: capacity, ttl: IDLE_MS, ttlResolution: 0, updateAgeOnGet: true, ttlAutopurge: false }),
  );

export const IMPLEMENTATIONS = {
  'wasm-manager': wasmManager,
  'wasm-core': wasmCore,
  seed,
  ttlcache,
  'lru-cache': lruCache,
};
