// The package loads with require() as well, and shares one module with import.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const pkg = require('mcp-session-core');

test('require() gives the same API as import', async () => {
  const esm = await import('mcp-session-core');
  for (const name of ['SessionManager', 'SessionError', 'SessionCore', 'FileSessionStore', 'isNotFound', 'wasmMemoryBytes']) {
    assert.equal(typeof pkg[name], 'function', name);
    assert.equal(esm[name], pkg[name], `${name} is one and the same under import and require`);
  }
});

test('every subpath exports the same names under import as under require', async () => {
  for (const path of ['mcp-session-core', 'mcp-session-core/mcp', 'mcp-session-core/v2']) {
    const cjs = require(path);
    const esm = await import(path);
    const names = (m) => Object.keys(m).filter((k) => k !== 'default' && k !== '__esModule').sort();
    assert.deepEqual(names(esm), names(cjs), path);
  }
});

test('a CommonJS server uses the manager the seed way', () => {
  const sessions = new pkg.SessionManager({ clock: () => 1_700_000_000_000 });
  const id = sessions.createSession({ clientId: 'cjs' });
  assert.equal(sessions.getSession(id).status, 'active');
  assert.equal(sessions.getSession('not-a-session'), null);
  assert.equal(sessions.getSession(''), null);
  assert.equal(sessions.getSession(undefined), null);
  assert.equal(sessions.closeSession(id), true);
  assert.equal(sessions.closeSession(id), false);
  assert.equal(sessions.getSession(id).status, 'closed');
  sessions.dispose();
});

test('the mcp subpath loads with require() and import', async () => {
  const cjs = require('mcp-session-core/mcp');
  const esm = await import('mcp-session-core/mcp');
  for (const name of ['McpSessionHandler', 'SessionEventStore', 'FileSessionStore']) {
    assert.equal(typeof cjs[name], 'function', name);
    assert.equal(esm[name], cjs[name], name);
  }
});
