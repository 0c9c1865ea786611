// The live inspector (www/, served by the example server at /) in real Chromium:
// SDK clients of both eras come and go and the page shows them, with the events
// as they arrive; then 10,000 sessions, with the figures printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { FileSessionStore, SessionManager, admitInitialize } from 'mcp-session-core';
import { OperatorEventFeed } from 'mcp-session-core/mcp';
import { launchBrowser, openPage, outputDir } from './support/browser.mjs';
import { connect, dataDir, startServer } from './mcp-server.mjs';

/** The principals of the rows the table shows, in order. */
const principals = (page) => page.$$eval('#spacer .row:not([hidden]) .c-principal', (cells) => cells.map((c) => c.textContent));
const rowOf = (page, principal) =>
  page.$$eval(
    '#spacer .row:not([hidden])',
    (rows, principal) =>
      rows
        .map((row) => Object.fromEntries([...row.children].map((c) => [c.classList[1], c.textContent])))
        .find((r) => r['c-principal'] === principal) ?? null,
    principal,
  );
const eventsOf = (page, type) =>
  page.$$eval(`#events li[data-type="${type}"]`, (items) => items.map((li) => li.querySelector('.principal').textContent));

test('the inspector shows each live session and handle with its principal, and their events as they happen', async (t) => {
  const server = await startServer({ DATA_DIR: dataDir(), IDLE_TIMEOUT_MS: '3000', ALLOW_ANONYMOUS: '0' });
  const browser = await launchBrowser();
  try {
    const page = await openPage(browser);
    const origin = server.url.origin;
    await page.goto(`${origin}/`);
    await page.waitForSelector('#link[data-state="live"]');
    assert.equal(await page.textContent('#count-sessions'), '0');

    const clients = {};
    for (const user of ['alice', 'bob', 'carol']) clients[user] = await connect(server.url, user);
    await page.waitForFunction(() => document.querySelectorAll('#spacer .row:not([hidden])').length === 3);
    assert.deepEqual((await principals(page)).sort(), ['alice', 'bob', 'carol']);
    // A row appears with the `created` event; the next snapshot fills in the rest.
    await page.waitForFunction(() => [...document.querySelectorAll('#spacer .row .c-client')].filter((c) => c.textContent.startsWith('test-client')).length === 3);
    const alice = await rowOf(page, 'alice');
    assert.equal(alice['c-kind'], 'session');
    assert.match(alice['c-id'], /^[0-9a-f]{8}…$/, 'a short ID');
    assert.ok(clients.alice.transport.sessionId.startsWith(alice['c-id'].slice(0, 8)));
    assert.equal(alice['c-protocol'], '2025-11-25');
    assert.equal(alice['c-client'], 'test-client-alice');
    assert.equal(alice['c-phase'], 'active');
    assert.deepEqual((await eventsOf(page, 'created')).sort(), ['alice', 'bob', 'carol']);
    await page.waitForFunction(() => document.querySelector('#count-sessions').textContent === '3');

    // A 2026-07-28 client: its handle is listed as such, then destroyed.
    const modern = new ClientV2({ name: 'modern', version: '1' }, { versionNegotiation: { mode: 'auto' } });
    await modern.connect(new TransportV2(server.url, { requestInit: { headers: { authorization: 'Bearer dave' } } }));
    const created = await modern.callTool({ name: 'create_basket', arguments: { state: { items: ['pear'] } } });
    const { handleId } = JSON.parse(created.content[0].text);
    await page.waitForFunction(() => document.querySelector('#count-handles').textContent === '1');
    await page.waitForFunction(() => [...document.querySelectorAll('#spacer .row .c-expires')].every((c) => c.textContent !== '—'));
    const handle = await rowOf(page, 'dave');
    assert.equal(handle['c-kind'], 'handle');
    assert.equal(handle['c-protocol'], '2026-07-28');
    assert.match(handle['c-expires'], /^\d+:\d\d(:\d\d)?$/, 'a countdown');
    assert.match(handle['c-lifetime'], /^\d+:\d\d:\d\d$/, "a handle's lifetime is bounded");

    // carol goes away without DELETE (its GET stream closes): it idles out.
    await clients.carol.client.close();
    await page.waitForFunction(() => document.querySelector('#events li[data-type="expired"]'), null, { timeout: 10_000 });
    assert.deepEqual(await eventsOf(page, 'expired'), ['carol']);
    assert.equal(await page.textContent('#events li[data-type="expired"] .reason'), 'idle');
    await page.waitForFunction(() => ![...document.querySelectorAll('#spacer .row:not([hidden]) .c-principal')].some((c) => c.textContent === 'carol'));

    // bob ends his session with DELETE: `closed`.
    await clients.bob.transport.terminateSession();
    await page.waitForFunction(() => document.querySelector('#events li[data-type="closed"]'));
    assert.deepEqual(await eventsOf(page, 'closed'), ['bob']);
    await modern.callTool({ name: 'destroy_basket', arguments: { handleId } });
    await page.waitForFunction(() => document.querySelector('#events li[data-type="handleDestroyed"]'));
    assert.deepEqual(await eventsOf(page, 'handleDestroyed'), ['dave']);
    await page.waitForFunction(() => document.querySelectorAll('#spacer .row:not([hidden])').length === 1);
    assert.deepEqual(await principals(page), ['alice']);

    // The filters.
    await page.fill('#filter-principal', 'nobody');
    await page.waitForFunction(() => document.querySelectorAll('#spacer .row:not([hidden])').length === 0);
    await page.fill('#filter-principal', 'ali');
    await page.selectOption('#filter-phase', 'disconnected');
    await page.waitForFunction(() => document.querySelectorAll('#spacer .row:not([hidden])').length === 0);
    await page.selectOption('#filter-phase', 'active');
    await page.waitForFunction(() => document.querySelectorAll('#spacer .row:not([hidden])').length === 1);
    await page.fill('#filter-principal', '');
    await page.selectOption('#filter-phase', '');

    const html = await (await fetch(`${origin}/`)).text();
    assert.doesNotMatch(html, /https?:\/\//, 'nothing loaded from elsewhere');
    assert.doesNotMatch(await page.content(), new RegExp(clients.alice.transport.sessionId), 'no whole session ID in the page');
    await page.waitForTimeout(1_100); // a chart sample after the last change
    const shot = join(outputDir(), 'inspector.png');
    await page.screenshot({ path: shot });
    t.diagnostic(`screenshot: ${shot}`);
    assert.deepEqual(page.problems, [], 'no page errors');
    await clients.alice.client.close();
    await modern.close();
  } finally {
    await browser.close();
    await server.kill('SIGTERM');
  }
});

test('the event feed: a start that fails answers nothing and registers nothing, so the next client gets each event once', async () => {
  const m = new SessionManager();
  const feed = new OperatorEventFeed(m);
  m.sessionViews = () => {
    throw new Error('the session manager was disposed');
  };
  const server = createServer((req, res) => {
    try {
      feed.open(req, res);
    } catch {
      if (res.headersSent) res.destroy();
      else res.writeHead(503).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/`;
  const stream = new AbortController();
  try {
    const failed = await fetch(url).then((r) => r.status, () => 'the connection dropped');
    assert.equal(failed, 503, 'an error status, not a 200 stream');
    delete m.sessionViews; // readable again
    const res = await fetch(url, { signal: stream.signal });
    assert.equal(res.status, 200);
    assert.equal(feed.clients, 1);
    const handshake = admitInitialize('application/json, text/event-stream', 'application/json', {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'feed', version: '1' } },
    });
    const session = m.initialize({ ...handshake, principal: 'alice' });
    m.closeSession(session.id);
    // Events arrive in order: a doubled listener would put two `created` before the first `closed`.
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes('"type":"closed"')) {
      const { value, done } = await reader.read();
      assert.ok(!done, 'the stream stays open');
      text += value;
    }
    const types = [...text.matchAll(/^data: (.*)$/gm)].map((line) => JSON.parse(line[1]).type);
    assert.deepEqual(types, ['created', 'closed']);
  } finally {
    stream.abort();
    feed.close();
    server.close();
    m.dispose();
  }
});

test('an event stream refused (a proxy 502) is tried again, and the page says so meanwhile', async () => {
  const server = await startServer({ DATA_DIR: dataDir() });
  const browser = await launchBrowser();
  try {
    const page = await openPage(browser);
    let refused = 0;
    await page.route('**/operator/events', (route) => {
      if (refused++ === 0) return route.fulfill({ status: 502, body: 'Bad Gateway' });
      return route.continue();
    });
    await page.goto(`${server.url.origin}/`);
    await page.waitForFunction(() => /retrying/.test(document.getElementById('link').textContent), null, { timeout: 10_000 });
    await page.waitForFunction(() => document.getElementById('link').dataset.state === 'live', null, { timeout: 15_000 });
    assert.equal(refused, 2, 'one refusal, then one stream');
  } finally {
    await browser.close();
    await server.kill('SIGTERM');
  }
});

test('static routes: the inspector and uPlot from the package, its licence, 404 for what is missing, no CORS header', async () => {
  const server = await startServer({ DATA_DIR: dataDir() });
  try {
    const origin = server.url.origin;
    for (const path of ['/', '/inspector/app.js', '/inspector/inspector.css', '/vendor/uplot/uPlot.iife.min.js', '/vendor/uplot/LICENSE']) {
      const res = await fetch(`${origin}${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('access-control-allow-origin'), null, path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
    }
    assert.match(await (await fetch(`${origin}/vendor/uplot/LICENSE`)).text(), /MIT License/);
    assert.match((await fetch(`${origin}/`)).headers.get('content-security-policy'), /default-src 'self'/);
    for (const path of ['/inspector/missing.js', '/web/missing.js', '/playground/missing.js']) {
      assert.equal((await fetch(`${origin}${path}`)).status, 404, path);
    }
  } finally {
    await server.kill('SIGTERM');
  }
});

/** A data directory holding `sessions` live sessions (a tenth of them idling out
 * over seconds 6 to 16 after it is made, the rest an hour later) and `handles`
 * handles, as a server restores them at start. */
async function preloaded(sessions, handles) {
  const dir = dataDir();
  const m = new SessionManager({ maxSessions: sessions + 1_000, maxHandles: handles + 1_000 });
  const handshake = admitInitialize('application/json, text/event-stream', 'application/json', {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'preloaded', version: '1' } },
  });
  for (let i = 0; i < sessions; i++) {
    const idleTimeoutMs = i % 10 === 0 ? 6_000 + i : 3_600_000;
    const session = m.initialize({ ...handshake, principal: `user-${i % 250}`, idleTimeoutMs });
    if (i % 7 !== 0) m.initialized(session.id);
  }
  for (let i = 0; i < handles; i++) m.handles.create({ principal: `user-${i % 250}`, state: { n: i } });
  const store = new FileSessionStore({ dir });
  store.attach(m);
  m.detachStore();
  store.close();
  m.dispose();
  return dir;
}

test('10,000 sessions: first render, and frames while scrolling and while sessions expire (figures printed)', async (t) => {
  const dir = await preloaded(10_000, 500);
  const server = await startServer({ DATA_DIR: dir, MAX_SESSIONS: '20000' });
  const browser = await launchBrowser();
  try {
    assert.match(server.output(), /restored sessions: 10500/, 'sessions and handles');
    const page = await openPage(browser);
    await page.goto(`${server.url.origin}/`);
    await page.waitForFunction(() => performance.getEntriesByName('inspector:first-rows').length > 0, null, { timeout: 20_000 });
    const load = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const resources = performance.getEntriesByType('resource');
      const assets = { html: nav.encodedBodySize, js: 0, css: 0, other: 0 };
      let api = 0;
      for (const r of resources) {
        const path = new URL(r.name).pathname;
        if (path.startsWith('/operator/')) api += r.encodedBodySize;
        else if (path.endsWith('.js')) assets.js += r.encodedBodySize;
        else if (path.endsWith('.css')) assets.css += r.encodedBodySize;
        else assets.other += r.encodedBodySize;
      }
      return {
        firstRows: performance.getEntriesByName('inspector:first-rows')[0].startTime,
        domContentLoaded: nav.domContentLoadedEventEnd,
        snapshot: performance.getEntriesByName('inspector:snapshot')[0]?.duration,
        assets,
        api,
        rowElements: document.querySelectorAll('#spacer .row').length,
      };
    });
    const weight = load.assets.html + load.assets.js + load.assets.css + load.assets.other;
    t.diagnostic(`page weight: ${weight} bytes (html ${load.assets.html}, js ${load.assets.js}, css ${load.assets.css}, other ${load.assets.other}); /operator/sessions at 10,500 records: ${load.api} bytes`);
    t.diagnostic(`first rows painted ${load.firstRows.toFixed(0)} ms after navigation start (DOMContentLoaded ${load.domContentLoaded.toFixed(0)} ms; snapshot applied in ${load.snapshot?.toFixed(1)} ms)`);
    // Rows are keyed by a digest of the whole ID: 8-character short IDs collide
    // at this size (about once in a hundred runs), keys must not.
    const view = await (await fetch(`${server.url.origin}/operator/sessions`)).json();
    const keys = new Set(view.records.map((r) => r.key));
    assert.equal(keys.size, view.records.length, 'one key per record');
    assert.ok(view.records.every((r) => /^[0-9a-f]{24}$/.test(r.key)));
    assert.equal(await page.textContent('#count-sessions'), '10,000');
    assert.equal(await page.textContent('#count-handles'), '500');
    assert.ok(load.rowElements < 100, `virtualised: ${load.rowElements} row elements for 10,500 records`);
    assert.ok(load.firstRows < 15_000, `first render ${load.firstRows} ms`);

    // Frames: scroll a screenful a frame for 3 s, then sit still for 3 s while the
    // preloaded sessions idle out (events arriving, countdowns ticking).
    const measure = (scroll) =>
      page.evaluate(
        (scroll) =>
          new Promise((resolve) => {
            const scroller = document.getElementById('scroller');
            const gaps = [];
            let last = performance.now();
            const end = last + 3_000;
            const step = (now) => {
              gaps.push(now - last);
              last = now;
              if (scroll) scroller.scrollTop = (scroller.scrollTop + 300) % (scroller.scrollHeight - scroller.clientHeight);
              if (now < end) requestAnimationFrame(step);
              else {
                gaps.sort((a, b) => a - b);
                resolve({ frames: gaps.length, p50: gaps[gaps.length >> 1], p95: gaps[Math.floor(gaps.length * 0.95)], max: gaps.at(-1) });
              }
            };
            requestAnimationFrame(step);
          }),
        scroll,
      );
    const scrolling = await measure(true);
    await page.waitForFunction(() => document.querySelectorAll('#events li[data-type="expired"]').length > 0, null, { timeout: 20_000 });
    const expiring = await measure(false);
    const fmt = (f) => `${f.frames} frames, p50 ${f.p50.toFixed(1)} ms, p95 ${f.p95.toFixed(1)} ms, max ${f.max.toFixed(1)} ms`;
    t.diagnostic(`scrolling 10,500 rows: ${fmt(scrolling)}`);
    t.diagnostic(`while sessions expire: ${fmt(expiring)}; expired events shown: ${await page.$$eval('#events li[data-type="expired"]', (l) => l.length)}`);
    // A bounded listing: the most recently active first, `truncated`, the totals in stats.
    const limited = await (await fetch(`${server.url.origin}/operator/sessions?limit=100`)).json();
    assert.equal(limited.records.length, 100);
    assert.equal(limited.truncated, true);
    assert.ok(limited.stats.live + limited.stats.handlesLive > 100);
    const activity = limited.records.map((r) => r.lastActivity);
    assert.deepEqual(activity, [...activity].sort((a, b) => b - a), 'the most recently active first');
    assert.equal(view.truncated, false, 'the default lists 10,500 whole');
    for (const bad of ['0', '-1', 'abc', '1.5', '']) {
      assert.equal((await fetch(`${server.url.origin}/operator/sessions?limit=${bad}`)).status, 400, `limit=${bad}`);
    }
    assert.equal((await (await fetch(`${server.url.origin}/operator/sessions?limit=999999`)).json()).truncated, false, 'capped, not refused');
    // The page says so when its snapshot was truncated, and counts from the server's totals.
    const bounded = await openPage(browser);
    await bounded.route('**/operator/sessions', (route) => route.continue({ url: `${route.request().url()}?limit=1000` }));
    await bounded.goto(`${server.url.origin}/`);
    await bounded.waitForFunction(() => /showing 1,000 of/.test(document.getElementById('shown').textContent), null, { timeout: 20_000 });
    assert.ok(Number((await bounded.textContent('#count-sessions')).replaceAll(',', '')) > 1_000, 'sessions counted from stats');
    assert.deepEqual(bounded.problems, [], 'no page errors with a truncated snapshot');
    const shot = join(outputDir(), 'inspector-10k.png');
    await page.screenshot({ path: shot });
    t.diagnostic(`screenshot: ${shot}`);
    // Generous bounds only: the machine is shared.
    assert.ok(scrolling.p95 < 200 && expiring.p95 < 200, 'frames keep coming');
    assert.deepEqual(page.problems, [], 'no page errors');
  } finally {
    await browser.close();
    await server.kill('SIGTERM');
  }
});
