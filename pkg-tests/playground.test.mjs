// The playground (www/playground/) in Chromium on the web build: a session created
// in the page and taken past its idle timeout on the virtual clock shows as
// expired; the recording exported as a node:test file passes under Node against the
// installed package (the same calls give the same answers and the same snapshot),
// and fails once a recorded step is changed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, openPage, outputDir } from './support/browser.mjs';
import { serveStatic } from './support/static-server.mjs';

const webDir = dirname(fileURLToPath(import.meta.resolve('mcp-session-core/web')));
const wwwDir = fileURLToPath(new URL('./www/', import.meta.url));

let browser;
let server;
before(async () => {
  browser = await launchBrowser();
  server = await serveStatic({ mounts: { '/web/': webDir, '/': wwwDir } });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** Runs `node --test file` in this app, where mcp-session-core is installed, as a
 * run of its own (not reporting to this test run, as NODE_TEST_CONTEXT would make it). */
function nodeTest(file) {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return spawnSync(process.execPath, ['--test', file], { cwd: dirname(file), encoding: 'utf8', env });
}

test('a session expires on the virtual clock, and the exported test replays it in Node', async (t) => {
  const page = await openPage(browser, { width: 1500, height: 1100 });
  await page.goto(`${server.url}/playground/`);
  await page.waitForSelector('body[data-ready="true"]');
  const load = await page.evaluate(() => {
    const bytes = { html: performance.getEntriesByType('navigation')[0].encodedBodySize, js: 0, css: 0, wasm: 0 };
    for (const r of performance.getEntriesByType('resource')) {
      const kind = r.name.endsWith('.wasm') ? 'wasm' : r.name.endsWith('.css') ? 'css' : 'js';
      bytes[kind] += r.encodedBodySize;
    }
    const paint = performance.getEntriesByName('first-contentful-paint')[0]?.startTime;
    return { bytes, paint, ready: performance.getEntriesByName('playground:ready')[0].startTime };
  });
  t.diagnostic(
    `page weight: html ${load.bytes.html}, js ${load.bytes.js}, css ${load.bytes.css}, wasm ${load.bytes.wasm} bytes; ` +
      `first contentful paint ${load.paint?.toFixed(0)} ms, core loaded and drawn ${load.ready.toFixed(0)} ms after navigation start`,
  );

  await page.fill('#principal', 'alice');
  await page.fill('#idle', '30');
  await page.click('#create button[type=submit]');
  const row = page.locator('#sessions tbody tr').first();
  const id = await row.getAttribute('data-id');
  assert.match(id, /^[\x21-\x7e]{16,}$/);
  assert.equal(await row.locator('.pill').textContent(), 'active');

  // A request, a state update, and a compare-and-set that fails with its typed error.
  await row.getByRole('button', { name: 'Begin request' }).click();
  await page.click('[data-advance="10000"]');
  await row.getByRole('button', { name: 'End request' }).click();
  await page.fill('#update-patch', '{"step": 1}');
  await page.click('#update button[type=submit]');
  // An own `__proto__` key: the export must replay it as a key, not as a prototype.
  await page.fill('#update-patch', '{"__proto__": {"x": 1}}');
  await page.click('#update button[type=submit]');
  assert.equal(await page.locator('#calls tbody tr.failed').count(), 0, 'the update is taken');
  await page.fill('#update-version', '0');
  await page.click('#update button[type=submit]');
  assert.match(await page.textContent('#last-error'), /VERSION_CONFLICT/);
  assert.match(await page.textContent('#calls tbody tr.failed'), /VERSION_CONFLICT/);

  // 30 s idle from the end of the request: still active after 20 s, expired after 31 s.
  await page.click('[data-advance="10000"]');
  await page.click('[data-advance="10000"]');
  assert.equal(await row.locator('.pill').textContent(), 'active');
  await page.fill('#custom-seconds', '11');
  await page.click('#advance-custom button');
  assert.equal(await page.locator(`#sessions tr[data-id="${id}"] .pill`).textContent(), 'expired');
  assert.equal(await page.getAttribute(`#timeline g.row[data-id="${id}"]`, 'class'), 'row expired');
  assert.match(await page.textContent('#events'), /expired/);
  assert.match(await page.textContent('#snapshot'), /"reason": "idle"/);

  await page.click('#export');
  const code = await page.inputValue('#export-code');
  assert.match(await page.getAttribute('#export-link', 'href'), /^blob:/);
  assert.equal(await page.getAttribute('#export-link', 'download'), 'playground.test.mjs');
  assert.match(code, /from 'mcp-session-core'/);
  assert.match(code, /JSON\.parse\("\{\\"__proto__\\":\{\\"x\\":1\}\}"\)/, 'the patch as JSON.parse of a string');
  assert.deepEqual(page.problems, [], 'no console errors or uncaught exceptions');

  const shots = process.env.SCREENSHOT_DIR ?? outputDir();
  await page.screenshot({ path: join(shots, 'playground.png'), fullPage: true });
  await page.context().close();

  // Not named *.test.mjs: `node --test` in this app must not pick it up by itself.
  const exported = join(outputDir(), 'playground-export.mjs');
  writeFileSync(exported, code);
  const replay = nodeTest(exported);
  assert.equal(replay.status, 0, `${replay.stdout}${replay.stderr}`);
  assert.match(replay.stdout, /# pass 1/);

  const tampered = join(outputDir(), 'playground-export-tampered.mjs');
  writeFileSync(tampered, code.replace(/now \+= \d+;/, 'now += 0;'));
  assert.notEqual(nodeTest(tampered).status, 0, 'a changed step makes the exported test fail');
});

test('the largest idle timeout and clock advance draw a handful of ticks; an empty advance is refused', async () => {
  const page = await openPage(browser);
  await page.goto(`${server.url}/playground/`);
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.getAttribute('#idle', 'max'), '31536000');
  assert.equal(await page.getAttribute('#custom-seconds', 'max'), '31536000');
  await page.fill('#idle', '31536000');
  await page.click('#create button[type=submit]');
  await page.fill('#custom-seconds', '31536000');
  await page.click('#advance-custom button');
  const ticks = await page.locator('#timeline text.tick').count();
  assert.ok(ticks >= 2 && ticks <= 11, `${ticks} ticks over two years`);
  await page.fill('#custom-seconds', '');
  await page.click('#advance-custom button');
  assert.match(await page.textContent('#last-error'), /INVALID_INPUT.*clock advance/);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
