// Child processes for the tests' servers (redis-server, nginx): spawned on loopback,
// waited for, stopped by PID, and killed when the test process exits, whatever the
// test did (or a signal, below). Children are unref'd so that a test which forgets stop() still lets its
// file end; the exit hook below then kills them and removes their scratch dirs.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';

const live = new Set(); // children still running
const dirs = new Set(); // scratch dirs not yet removed

process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
// A signal would end the process without 'exit' (the test runner sends SIGTERM to a
// file it cancels): turn it into an exit, so the hook above still runs.
for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
  process.once(signal, () => process.exit(128 + number));
}

/** Registers a scratch dir to remove at exit (removeDir removes it earlier). */
export function trackDir(dir) {
  dirs.add(dir);
  return dir;
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/** A loopback port that was free a moment ago: listen on port 0, read it, close. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts `command args` in the foreground as a tracked child. Its output is kept
 * (the last few KiB) for error messages, and always drained so it never blocks. */
export function spawnServer(command, args, { cwd, env } = {}) {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.output = '';
  const keep = (chunk) => {
    child.output = (child.output + chunk).slice(-8192);
  };
  child.stdout.setEncoding('utf8').on('data', keep);
  child.stderr.setEncoding('utf8').on('data', keep);
  child.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      live.delete(child);
      child.spawnError = error;
      resolve({ code: null, signal: null, error });
    });
  });
  live.add(child);
  child.unref();
  child.stdout.unref();
  child.stderr.unref();
  return child;
}

const running = (child) => live.has(child);

/** Sends `signal` and waits for the child to exit; after graceMs, SIGKILL. */
export async function terminate(child, signal = 'SIGTERM', graceMs = 5000) {
  if (!running(child)) return child.exited;
  child.ref(); // keep the event loop alive while we wait for the exit
  child.kill(signal);
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(resolve, graceMs, 'late');
  });
  if ((await Promise.race([child.exited, late])) === 'late') child.kill('SIGKILL');
  clearTimeout(timer);
  return child.exited;
}

/** Polls `probe()` (every intervalMs, at most 50) until it returns true, for at most
 * timeoutMs; fails at once if the child exits meanwhile, with what it printed. */
export async function waitUntil(child, what, probe, { timeoutMs = 10_000, intervalMs = 25 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!running(child)) {
      const { code, signal, error } = await child.exited;
      throw new Error(`${what} exited before it was ready (${error?.message ?? `code ${code}, signal ${signal}`}):\n${child.output}`);
    }
    if (await probe()) return;
    if (Date.now() >= deadline) {
      throw new Error(`${what} was not ready after ${timeoutMs} ms:\n${child.output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, 50)));
  }
}

/** Connects to 127.0.0.1:port, writes `payload` (if any), and resolves to what came
 * back before `until` matched (or the socket closed), or null if the connection
 * failed. Never rejects; gives up after timeoutMs. */
export function probeTcp(port, { payload, until, timeoutMs = 500 } = {}) {
  return new Promise((resolve) => {
    let reply = '';
    let done = false;
    const finish = (value) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(value);
    };
    const socket = connect(port, '127.0.0.1', () => {
      if (payload === undefined) finish('');
      else socket.write(payload);
    });
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => finish(null));
    socket.on('data', (chunk) => {
      reply += chunk;
      if (until?.test(reply)) finish(reply);
    });
    socket.on('end', () => finish(reply));
    socket.on('error', () => finish(null));
  });
}
