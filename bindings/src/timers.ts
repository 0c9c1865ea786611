/**
 * The manager's timers, on whichever host runs it. None keeps a process alive: a
 * server's session deadlines must not stop it from exiting, so Node's (and Bun's)
 * timers are unref'd, and Deno's through `Deno.unrefTimer`. Browsers and Workers
 * have no such notion (their timers are plain numbers) and no `setImmediate`.
 */

/** Stops a timer; calling it again does nothing. */
export type Cancel = () => void;

/** Deno's way to unref a timer, where this runs on Deno. */
const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;

/** Node's `unref`, where the host's timer has one; Deno's `unrefTimer` for its
 * numeric timer IDs. */
function unref(timer: unknown): void {
  if (typeof timer === 'number') deno?.unrefTimer?.(timer);
  else (timer as { unref?: () => void } | null)?.unref?.();
}

/** Runs `run` once after `delayMs`. */
export function after(delayMs: number, run: () => void): Cancel {
  const timer = setTimeout(run, delayMs);
  unref(timer);
  return () => clearTimeout(timer);
}

/** Runs `run` every `intervalMs`. */
export function every(intervalMs: number, run: () => void): Cancel {
  const timer = setInterval(run, intervalMs);
  unref(timer);
  return () => clearInterval(timer);
}

/** Runs `run` on the next turn of the event loop, after whatever I/O waits:
 * `setImmediate` where there is one (Node, Bun), else a zero timeout. */
export function nextTurn(run: () => void): Cancel {
  if (typeof setImmediate !== 'function') return after(0, run);
  const immediate = setImmediate(run);
  unref(immediate);
  return () => clearImmediate(immediate);
}
