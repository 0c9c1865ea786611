// Chromium for the browser tests: Debian's package (scripts/setup.sh installs it),
// driven by playwright-core, which cannot download browsers here. One browser per
// test file; each test opens its own context. The page's console errors and
// uncaught exceptions are collected, so a test can assert there were none.
import { chromium } from 'playwright-core';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const EXECUTABLE = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Starts Chromium. Throws a clear error if it is not installed. */
export async function launchBrowser() {
  if (!existsSync(EXECUTABLE)) throw new Error(`no Chromium at ${EXECUTABLE}: run scripts/setup.sh (or set CHROMIUM_PATH)`);
  return chromium.launch({ executablePath: EXECUTABLE, args: ARGS, headless: true });
}

/** A new page whose console errors and page errors are kept in `page.problems`. */
export async function openPage(browser, { width = 1400, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (message) => {
    if (message.type() === 'error') page.problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => page.problems.push(`pageerror: ${error.message}`));
  return page;
}

/** Where a test saves its screenshots: `TEST_OUTPUT` or ./test-output, made if missing. */
export function outputDir() {
  const dir = process.env.TEST_OUTPUT ?? join(process.cwd(), 'test-output');
  mkdirSync(dir, { recursive: true });
  return dir;
}
