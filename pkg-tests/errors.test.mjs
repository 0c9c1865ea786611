// Every error code, its HTTP status and JSON-RPC code, through the installed package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionManager, SessionError, isNotFound } from 'mcp-session-core';
import { manualClock } from './clock.mjs';

function caught(fn) {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail('expected a SessionError');
}

test('every error has its code, HTTP status and JSON-RPC code', () => {
  const clock = manualClock();
  const m = new SessionManager({ clock, maxStateBytes: 64 });
  const id = m.createSession({ principal: 'alice' });
  const closed = m.createSession();
  m.closeSession(closed);
  const expired = m.createSession();
  m.expireSession(expired);
  const init = m.initialize({ protocolVersion: '2025-06-18', clientInfo: { name: 'c', version: '1' } }).id;
  m.updateSessionState(id, { a: 1 });

  const full = new SessionManager({ clock, maxSessions: 1 });
  full.createSession();
  const capped = new SessionManager({ clock, maxSessionsPerPrincipal: 1 });
  capped.createSession({ principal: 'p' });

  const cases = [
    ['MISSING_SESSION_ID', 400, -32000, () => m.beginRequest({ kind: 'other' })],
    ['INVALID_SESSION_ID', 400, -32000, () => m.beginRequest({ sessionId: 'bad id', kind: 'other' })],
    ['SESSION_NOT_FOUND', 404, -32001, () => m.updateSessionState('nope', {})],
    ['SESSION_EXPIRED', 404, -32001, () => m.updateSessionState(expired, {})],
    ['SESSION_CLOSED', 404, -32001, () => m.updateSessionState(closed, {})],
    ['PRINCIPAL_MISMATCH', 404, -32001, () => m.beginRequest({ sessionId: id, principal: 'bob', kind: 'other' })],
    ['NOT_INITIALIZED', 400, -32000, () => m.beginRequest({ sessionId: init, kind: 'other' })],
    ['ALREADY_INITIALIZED', 400, -32600, () => m.beginRequest({ sessionId: id, principal: 'alice', kind: 'initialize' })],
    ['UNSUPPORTED_PROTOCOL_VERSION', 400, -32000, () => m.beginRequest({ sessionId: init, kind: 'initialized', protocolVersion: '1999-01-01' })],
    ['VERSION_CONFLICT', 409, -32000, () => m.updateSessionState(id, { b: 1 }, { expectedVersion: 0 })],
    ['STATE_TOO_LARGE', 413, -32602, () => m.updateSessionState(id, { big: 'x'.repeat(100) })],
    ['INVALID_STATE', 400, -32602, () => m.replaceSessionState(id, [1])],
    ['CAPACITY_EXCEEDED', 503, -32000, () => full.createSession()],
    ['PRINCIPAL_LIMIT_EXCEEDED', 429, -32000, () => capped.createSession({ principal: 'p' })],
    ['INVALID_SNAPSHOT', 400, -32602, () => m.restore('{"format":')],
    ['INVALID_CONFIG', 500, -32603, () => new SessionManager({ idleTimeoutMs: 0 })],
    ['INVALID_ARGUMENT', 400, -32602, () => new SessionManager({ clock: () => NaN }).createSession()],
  ];
  for (const [code, httpStatus, jsonRpcCode, fn] of cases) {
    const error = caught(fn);
    assert.ok(error instanceof Error, code);
    assert.ok(error instanceof SessionError, code);
    assert.equal(error.name, 'SessionError');
    assert.equal(error.code, code);
    assert.equal(error.httpStatus, httpStatus, code);
    assert.equal(error.jsonRpcCode, jsonRpcCode, code);
    assert.ok(error.message.length > 0);
    assert.equal(isNotFound(error), httpStatus === 404, code);
  }
  const capacity = caught(() => full.createSession());
  assert.equal(capacity.retryAfterMs, 30 * 60_000);
  const conflict = caught(() => m.updateSessionState(id, {}, { expectedVersion: 7 }));
  assert.deepEqual([conflict.expectedVersion, conflict.actualVersion, conflict.sessionId], [7, 1, id]);
  const expiry = caught(() => m.getSession(expired) && m.updateSessionState(expired, {}));
  assert.equal(expiry.reason, 'requested');
  for (const x of [m, full, capped]) x.dispose();
});

test('an ID source that fails is ID_SOURCE_FAILED, not a crash', () => {
  const m = new SessionManager();
  const original = globalThis.crypto.getRandomValues;
  globalThis.crypto.getRandomValues = () => {
    throw new Error('no entropy');
  };
  try {
    const error = caught(() => m.createSession());
    assert.equal(error.code, 'ID_SOURCE_FAILED');
    assert.equal(error.httpStatus, 500);
  } finally {
    globalThis.crypto.getRandomValues = original;
  }
  assert.match(m.createSession(), /^[0-9a-f]{32}$/);
  m.dispose();
});

test('a disposed manager throws a typed error', () => {
  const m = new SessionManager();
  m.dispose();
  assert.equal(caught(() => m.createSession()).code, 'INVALID_ARGUMENT');
});

test('errors the TypeScript layer makes are real SessionError instances', () => {
  const e = SessionError.invalidArgument('x', 'why');
  assert.ok(e instanceof SessionError && e instanceof Error);
  assert.equal(Object.getPrototypeOf(e), SessionError.prototype);
  assert.ok(!(new Error('plain') instanceof SessionError));
  const impostor = Object.assign(new Error('named alike'), { name: 'SessionError', code: 'X' });
  assert.ok(!(impostor instanceof SessionError), 'only errors the core made');
});

test("the TypeScript layer's own failures are made by the core: code, status, JSON-RPC code and answer", () => {
  const cases = [
    [SessionError.invalidArgument('x', 'why'), 'INVALID_ARGUMENT', 400, -32602, { argument: 'x', reason: 'why' }],
    [SessionError.sessionNotFound('s1'), 'SESSION_NOT_FOUND', 404, -32001, { sessionId: 's1' }],
    [SessionError.payloadTooLarge(10), 'PAYLOAD_TOO_LARGE', 413, -32600, { limit: 10 }],
    [SessionError.parseError(), 'PARSE_ERROR', 400, -32700, {}],
    [SessionError.forbidden('origin'), 'FORBIDDEN', 403, -32000, { reason: 'origin' }],
  ];
  for (const [error, code, httpStatus, jsonRpcCode, details] of cases) {
    assert.ok(error instanceof SessionError, code);
    assert.deepEqual(
      [error.code, error.httpStatus, error.jsonRpcCode, error.clientAnswer.httpStatus, error.clientAnswer.jsonRpcCode],
      [code, httpStatus, jsonRpcCode, httpStatus, jsonRpcCode],
    );
    for (const [key, value] of Object.entries(details)) assert.equal(error[key], value, `${code}.${key}`);
  }
  assert.equal(SessionError.sessionNotFound('s1').clientAnswer.message, 'Session not found', 'the ID is not echoed');
  assert.throws(() => SessionError.forbidden('nobody'), { code: 'INVALID_ARGUMENT' });

  const disk = Object.assign(new Error('ENOSPC: no space left on device, write /srv/data/journal.log'), { code: 'ENOSPC' });
  const storage = SessionError.storageFailed(disk);
  assert.deepEqual([storage.code, storage.httpStatus, storage.jsonRpcCode], ['STORAGE_FAILED', 503, -32603]);
  assert.equal(storage.reason, 'ENOSPC');
  assert.match(storage.detail, /journal\.log/, 'operators see the detail');
  assert.equal(storage.cause, disk);
  assert.deepEqual(storage.clientAnswer, {
    httpStatus: 503,
    jsonRpcCode: -32603,
    message: 'Session storage is unavailable; retry later',
    retryAfterSecs: 1,
  });
  assert.equal(SessionError.storageFailed('odd').reason, 'unknown');
});

test("every error carries the client's answer, which hides what a client may not know", () => {
  const m = new SessionManager({ maxSessions: 1 });
  const id = m.createSession({ principal: 'alice' });
  const theirs = caught(() => m.beginRequest({ sessionId: id, principal: 'bob', kind: 'other' }));
  assert.equal(theirs.code, 'PRINCIPAL_MISMATCH');
  assert.ok(theirs.message.includes(id), 'operators see the ID');
  assert.deepEqual(theirs.clientAnswer, { httpStatus: 404, jsonRpcCode: -32001, message: 'Session not found', retryAfterSecs: null });
  const full = caught(() => m.createSession());
  assert.equal(full.clientAnswer.retryAfterSecs, Math.ceil(full.retryAfterMs / 1000));
  m.dispose();
});

test('the raw SessionCore turns away non-string IDs before they reach WebAssembly', async () => {
  const { SessionCore } = await import('mcp-session-core');
  const core = new SessionCore({});
  const now = 1_700_000_000_000;
  const id = core.create(undefined, now).id;
  for (const bad of [undefined, null, 42, {}, ['x'], Symbol('s')]) {
    assert.throws(() => core.get(bad, now), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => core.beginRequest({ sessionId: id }, undefined, 2, undefined, now), { code: 'INVALID_ARGUMENT' });
  }
  assert.equal(core.beginRequest(id, undefined, 2, undefined, now), 1);
  core.endRequest(id, now);
  assert.equal(core.get(id, now).phase, 'active', 'the store is intact');
  core.free();
});

test('createId: parameters JSON cannot hold, or the core cannot read, are typed errors that change nothing', async () => {
  const { SessionCore } = await import('mcp-session-core');
  const core = new SessionCore({});
  const now = 1_700_000_000_000;
  const cyclic = { state: {} };
  cyclic.state.self = cyclic;
  // The state is read on its own: what is wrong with it is INVALID_STATE, whatever
  // is wrong elsewhere INVALID_ARGUMENT.
  for (const bad of [cyclic, { state: { n: 1n } }, { state: [] }, { state: 'text' }]) {
    assert.throws(() => core.createId(bad, now), { code: 'INVALID_STATE' }, String(bad));
    assert.throws(() => core.create(bad, now), { code: 'INVALID_STATE' }, String(bad));
  }
  for (const bad of [{ nope: 1 }, { idleTimeoutMs: -1 }, { state: {}, stateless: 1 }, { clientInfo: { n: 1n } }, 'text', 7]) {
    assert.throws(() => core.createId(bad, now), { code: 'INVALID_ARGUMENT' }, String(bad));
  }
  assert.equal(core.stats(now).live, 0, 'nothing was created');
  const id = core.createId({ principal: 'p', state: { n: 1 }, idleTimeoutMs: 5 }, now);
  assert.deepEqual(core.get(id, now).state, { n: 1 });
  assert.equal(typeof core.createId(undefined, now), 'string');
  core.free();
});
