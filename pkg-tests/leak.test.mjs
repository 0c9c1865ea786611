// Create and close 1,000,000 sessions: WebAssembly memory and the JS heap stop
// growing after warm-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SessionManager, wasmMemoryBytes } from 'mcp-session-core';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

function heap() {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

test('1,000,000 create/close cycles leave memory flat', async () => {
  let now = 1_700_000_000_000;
  const m = new SessionManager({ clock: () => now });
  let closedEvents = 0;
  m.on('closed', () => closedEvents++);
  // Like a server, the loop lets the event loop turn now and then (every 10,000).
  const cycle = async (n) => {
    for (let i = 0; i < n; i++) {
      const id = m.createSession({ state: { i } });
      m.closeSession(id);
      now += 1;
      if (i % 10_000 === 0) await new Promise(setImmediate);
    }
  };
  await cycle(100_000); // warm-up: the remembered ended sessions reach their bound
  const wasmAfterWarmup = wasmMemoryBytes();
  const heapAfterWarmup = heap();
  const samples = [];
  for (let round = 0; round < 9; round++) {
    await cycle(100_000);
    samples.push({ wasm: wasmMemoryBytes(), heap: heap() });
  }
  const last = samples.at(-1);
  console.log(
    `wasm memory: ${wasmAfterWarmup} -> ${last.wasm} bytes; ` +
      `JS heap: ${heapAfterWarmup} -> ${last.heap} bytes; stats: ${JSON.stringify(m.stats())}`,
  );
  assert.equal(closedEvents, 1_000_000);
  assert.equal(last.wasm, wasmAfterWarmup, 'WebAssembly memory did not grow after warm-up');
  assert.ok(last.heap - heapAfterWarmup < 4 * 1024 * 1024, 'JS heap grew by less than 4 MiB');
  assert.equal(m.stats().live, 0);
  assert.equal(m.stats().endedRemembered, 10_000);
  m.dispose();
});
