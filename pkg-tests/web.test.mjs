// The browser and edge build (mcp-session-core/web) as its users load it: in
// Chromium, where no Node built-in exists, through init() with a URL and with the
// bytes; in Node from the bytes, as a Worker-like runtime would. The same scenario
// gives the same results everywhere, and the same as the Node entry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, openPage } from './support/browser.mjs';
import { serveStatic } from './support/static-server.mjs';

const entry = fileURLToPath(import.meta.resolve('mcp-session-core/web'));
const webDir = dirname(entry);
const wasmPath = fileURLToPath(import.meta.resolve('mcp-session-core/web/mcp_session_core_bg.wasm'));

/**
 * Create, a request, a state update and a compare-and-set conflict, an idle expiry
 * on a manual clock, then a snapshot restored into a second manager. Self-contained
 * (it runs in the page as its source text); `web` is the module's namespace.
 */
async function scenario(web) {
  const start = 1_700_000_000_000;
  let now = start;
  const clock = () => now;
  const sessions = new web.SessionManager({ clock, insecureSeed: 19 });
  const out = {};
  const id = sessions.createSession({ principal: 'alice', idleTimeoutMs: 60_000 });
  out.id = id;
  out.created = sessions.getSession(id).status;
  out.admission = sessions.beginRequest({ sessionId: id, principal: 'alice', kind: 'other' });
  now += 1_000;
  sessions.endRequest(id);
  out.version = sessions.updateSessionState(id, { step: 1 });
  try {
    sessions.updateSessionState(id, { step: 2 }, { expectedVersion: 0 });
    out.conflict = 'no error';
  } catch (error) {
    out.conflict = {
      isSessionError: error instanceof web.SessionError,
      code: error.code,
      expectedVersion: error.expectedVersion,
      actualVersion: error.actualVersion,
      httpStatus: error.httpStatus,
    };
  }
  const snapshot = sessions.snapshot();
  const takenAt = now;
  now += 61_000;
  out.expiredIds = sessions.cleanupExpiredSessions();
  out.afterIdle = sessions.getSession(id).status;
  out.endReason = sessions.getSession(id).endReason;
  sessions.dispose();

  const restored = new web.SessionManager({ clock: () => takenAt });
  out.restore = restored.restore(snapshot);
  const again = restored.getSession(id);
  out.restored = { status: again.status, state: again.state, version: again.version };
  out.snapshotsEqual = restored.snapshot() === snapshot;
  restored.dispose();
  return out;
}

const EXPECTED = {
  created: 'active',
  admission: { outcome: 'admitted', phase: 'active' },
  version: 1,
  conflict: { isSessionError: true, code: 'VERSION_CONFLICT', expectedVersion: 0, actualVersion: 1, httpStatus: 409 },
  afterIdle: 'expired',
  endReason: 'idle',
  restored: { status: 'active', state: { step: 1 }, version: 1 },
  snapshotsEqual: true,
};

function assertScenario(out, where) {
  const { id, expiredIds, restore, ...rest } = out;
  assert.match(id, /^[\x21-\x7e]+$/, `${where}: a visible-ASCII ID`);
  assert.deepEqual(expiredIds, [id], where);
  assert.equal(typeof restore, 'object', where);
  assert.deepEqual(rest, EXPECTED, where);
}

let browser;
let server;
before(async () => {
  browser = await launchBrowser();
  server = await serveStatic({
    mounts: { '/web/': webDir },
    pages: { '/': '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>web build</title>' },
  });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** Runs `scenario` in a fresh page after `init(<initArg>)`, `initArg` being JS
 * source evaluated in the page; answers what the page saw. */
async function inPage(initArg) {
  const page = await openPage(browser);
  await page.goto(`${server.url}/`);
  const result = await page.evaluate(`(async () => {
    const web = await import('/web/index.mjs');
    const host = { process: typeof process, require: typeof require, Buffer: typeof Buffer };
    let early;
    try { new web.SessionManager(); } catch (error) { early = { name: error.name, code: error.code, isWebInitError: error instanceof web.WebInitError }; }
    await web.init(${initArg});
    return { host, early, out: await (${scenario.toString()})(web) };
  })()`);
  assert.deepEqual(page.problems, [], 'no console errors or uncaught exceptions');
  await page.context().close();
  return result;
}

test('the bundle uses no Node built-in, and its module is exported beside it', () => {
  assert.equal(dirname(wasmPath), webDir);
  const bundle = readFileSync(entry, 'utf8');
  assert.doesNotMatch(bundle, /\bnode:/);
  assert.doesNotMatch(bundle, /\brequire\s*\(/);
});

test('in Chromium, init() with a URL: typed error before init, then the scenario', async () => {
  const { host, early, out } = await inPage(`new URL('/web/mcp_session_core_bg.wasm', location.href)`);
  assert.deepEqual(host, { process: 'undefined', require: 'undefined', Buffer: 'undefined' }, 'no Node globals in the page');
  assert.deepEqual(early, { name: 'WebInitError', code: 'WASM_NOT_INITIALIZED', isWebInitError: true });
  assertScenario(out, 'Chromium, URL');
});

test('in Chromium, init() with no argument loads the module beside the script', async () => {
  const before = server.requests.length;
  const { out } = await inPage('');
  assert.ok(server.requests.slice(before).includes('/web/mcp_session_core_bg.wasm'));
  assertScenario(out, 'Chromium, default URL');
});

test('in Chromium, init() with the bytes gives the same results', async () => {
  const bytes = await inPage(`await (await fetch('/web/mcp_session_core_bg.wasm')).arrayBuffer()`);
  const url = await inPage(`'/web/mcp_session_core_bg.wasm'`);
  assertScenario(bytes.out, 'Chromium, bytes');
  assert.deepEqual(bytes.out, url.out, 'same seed, same calls: same results');
});

test('in Node, init() from the bytes (a Worker-like runtime) matches Chromium and the Node entry', async () => {
  const web = await import('mcp-session-core/web');
  assert.throws(() => new web.SessionCore(), { name: 'WebInitError', code: 'WASM_NOT_INITIALIZED' });
  await assert.rejects(web.init(42), { name: 'WebInitError', code: 'WASM_INIT_FAILED' });
  await assert.rejects(web.init(new Uint8Array([0, 97, 115, 109])), { name: 'WebInitError', code: 'WASM_INIT_FAILED' });
  await web.init(readFileSync(wasmPath));
  await web.init(readFileSync(wasmPath)); // a second call loads nothing more
  const out = await scenario(web);
  assertScenario(out, 'Node, bytes');
  const { out: chromium } = await inPage(`'/web/mcp_session_core_bg.wasm'`);
  assert.deepEqual(out, chromium, 'Node from the bytes = Chromium');
  const node = await scenario(await import('mcp-session-core'));
  assert.deepEqual(out, node, 'the web build = the Node entry');
});
