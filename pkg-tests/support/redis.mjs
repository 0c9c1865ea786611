// A throwaway redis-server for a test: its own free loopback port and scratch dir,
// run in the foreground as a child of the test process (scripts/setup.sh installs
// Debian's redis-server). A system Redis on 6379, if any, is never touched.
//
//   const redis = await startRedis();      // { url, port, dir, stop, kill, restart }
//   ... createClient({ url: redis.url }) ...
//   await redis.restart();                 // SIGTERM, wait, start again: same port, same dir
//   await redis.kill();                    // SIGKILL (then restart() brings it back)
//   await redis.stop();                    // SIGTERM, wait, remove the dir
//
// With appendonly (the default) every write is in the AOF, fsynced before the reply
// (appendfsync always), so data survives restart() and even kill() + restart().
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, probeTcp, removeDir, spawnServer, terminate, trackDir, waitUntil } from './process.mjs';

const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';

export async function startRedis({ appendonly = true } = {}) {
  const port = await freePort();
  const dir = trackDir(mkdtempSync(join(tmpdir(), 'redis-test-')));
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--appendonly', appendonly ? 'yes' : 'no',
    '--appendfsync', 'always',
    '--save', '',
  ];

  let child;
  const start = async () => {
    child = spawnServer(REDIS_SERVER, args, { cwd: dir });
    // +PONG once it serves; -LOADING while it replays the AOF: keep polling.
    const pong = async () => /^\+PONG\r\n/.test((await probeTcp(port, { payload: 'PING\r\n', until: /\r\n/ })) ?? '');
    try {
      await waitUntil(child, `redis-server on port ${port}`, pong);
    } catch (error) {
      await terminate(child, 'SIGKILL');
      throw error;
    }
  };

  try {
    await start();
  } catch (error) {
    removeDir(dir);
    throw error;
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    /** SIGTERM, wait for the exit, remove the dir. */
    async stop() {
      await terminate(child, 'SIGTERM');
      removeDir(dir);
    },
    /** SIGKILL, and wait for the exit (the dir stays, for restart()). */
    async kill() {
      await terminate(child, 'SIGKILL');
    },
    /** Stops it (SIGTERM, unless it is already dead) and starts it again on the same
     * port and dir; resolves once it answers PING. */
    async restart() {
      await terminate(child, 'SIGTERM');
      await start();
    },
  };
}

/** A connected node-redis client for `server` (a `startRedis()` result), set up as
 * the docs advise: while Redis is away a command fails at once (no offline queue),
 * and the client keeps reconnecting, so it recovers when Redis is back. Closed by
 * `closeClients()`. */
const clients = [];
export async function redisClient(server) {
  const { createClient } = await import('redis');
  const c = createClient({
    url: server.url,
    disableOfflineQueue: true,
    socket: { reconnectStrategy: (retries) => Math.min(50 * (retries + 1), 500) },
  });
  c.on('error', () => {});
  await c.connect();
  clients.push(c);
  return c;
}

/** Closes every client `redisClient` made. */
export async function closeClients() {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
}

/** Whether every open client is connected (after a Redis restart). */
export const clientsReady = () => clients.every((c) => c.isReady);
