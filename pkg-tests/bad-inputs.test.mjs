// The bad-input catalogue (docs/BAD-INPUTS.md), one test per entry, through the
// installed package. A refused input must throw a SessionError with the listed code
// and status, leave the store exactly as it was (its snapshot is unchanged), and
// leave the WebAssembly instance working (a panic would kill it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionManager, SessionCore, SessionError, FileSessionStore, createSealedRequestStateCodec } from 'mcp-session-core';
import { manualClock } from './clock.mjs';

const T0 = 1_700_000_000_000;

/** A store with a little of everything in it, on a manual clock. */
function populated(options = {}) {
  const clock = manualClock();
  const m = new SessionManager({ clock, maxStateBytes: 4_096, ...options });
  const id = m.createSession({ principal: 'alice', state: { n: 1 } });
  m.createSession({ state: { other: true } });
  return { m, clock, id };
}

/** `fn` is refused with `code` and `status`, and changes nothing. */
function refused(m, fn, code, status) {
  const before = m.snapshot();
  assert.throws(fn, (error) => {
    assert.ok(error instanceof SessionError, `${code}: got ${error}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.httpStatus, status, code);
    return true;
  });
  assert.equal(m.snapshot(), before, `${code}: the store changed`);
  const probe = m.createSession();
  assert.match(probe, /^[0-9a-f]{32}$/, 'the instance still works');
  m.closeSession(probe);
}

// ----- session IDs -----

test('ID absent: MISSING_SESSION_ID (400)', () => {
  const { m } = populated();
  for (const sessionId of [undefined, null]) {
    refused(m, () => m.beginRequest({ sessionId, kind: 'other' }), 'MISSING_SESSION_ID', 400);
  }
});

test('ID empty, huge, control characters, non-ASCII: INVALID_SESSION_ID (400)', () => {
  const { m } = populated();
  const ids = ['', 'a'.repeat(129), 'a'.repeat(1 << 20), 'abc\u0000def', 'abc\r\nset-cookie: x', 'tab\there',
    'space here', '\u007f', 'sessión', '😀', '\ud800'];
  for (const sessionId of ids) {
    refused(m, () => m.beginRequest({ sessionId, kind: 'other' }), 'INVALID_SESSION_ID', 400);
    refused(m, () => m.updateSessionState(sessionId, { x: 1 }), 'INVALID_SESSION_ID', 400);
  }
  assert.equal(m.getSession('\u0000'), null, 'getSession answers null for an ID no session could have');
});

test('ID well-formed but unknown: SESSION_NOT_FOUND (404)', () => {
  const { m } = populated();
  refused(m, () => m.beginRequest({ sessionId: 'f'.repeat(32), kind: 'other' }), 'SESSION_NOT_FOUND', 404);
  refused(m, () => m.updateSessionState('never-issued', {}), 'SESSION_NOT_FOUND', 404);
});

test('ID of the wrong JS type: INVALID_ARGUMENT (400)', () => {
  const { m } = populated();
  for (const bad of [42, {}, ['x'], true, Symbol('s'), () => 'id', 10n]) {
    refused(m, () => m.beginRequest({ sessionId: bad, kind: 'other' }), 'INVALID_ARGUMENT', 400);
    refused(m, () => m.updateSessionState(bad, {}), 'INVALID_ARGUMENT', 400);
    refused(m, () => m.closeSession(bad), 'INVALID_ARGUMENT', 400);
  }
  const core = new SessionCore({});
  for (const bad of [undefined, 7, {}]) {
    assert.throws(() => core.get(bad, T0), { code: 'INVALID_ARGUMENT' });
  }
  core.free();
});

// ----- other arguments of the wrong type -----

test('other arguments of the wrong type, create params in the seed\'s shape gone wrong: INVALID_ARGUMENT (400)', () => {
  const { m, id } = populated();
  refused(m, () => m.beginRequest({ sessionId: id, kind: 'nope' }), 'INVALID_ARGUMENT', 400);
  refused(m, () => m.beginRequest({ sessionId: id, kind: 'other', principal: 5 }), 'INVALID_ARGUMENT', 400);
  refused(m, () => m.beginRequest({ sessionId: id, kind: 'other', principal: 'p'.repeat(2_000) }), 'INVALID_ARGUMENT', 400);
  refused(m, () => m.updateSessionState(id, {}, { expectedVersion: '1' }), 'INVALID_ARGUMENT', 400);
  for (const v of [-1, 1.5, NaN, Infinity]) {
    refused(m, () => m.updateSessionState(id, {}, { expectedVersion: v }), 'INVALID_ARGUMENT', 400);
  }
  refused(m, () => m.endRequest(id), 'INVALID_ARGUMENT', 400); // nothing in flight
  refused(m, () => m.createSession('text'), 'INVALID_ARGUMENT', 400);
  for (const idleTimeoutMs of [-5, 1.5, NaN, Infinity, 1e300, '5']) {
    refused(m, () => m.createSession({ idleTimeoutMs }), 'INVALID_ARGUMENT', 400);
  }
  refused(m, () => m.createSession({ unknownOption: 1 }), 'INVALID_ARGUMENT', 400);
  for (const config of [
    { capabilities: ['tools', 1] },
    { capabilities: 'tools' },
    { clientId: 7 },
    { timeout: -5 },
    { timeout: 1.5 },
    { timeout: 10, idleTimeoutMs: 20 },
  ]) {
    refused(m, () => m.createSession(config), 'INVALID_ARGUMENT', 400);
  }
  refused(m, () => m.restore(5), 'INVALID_ARGUMENT', 400);
  const core = new SessionCore({});
  assert.throws(() => core.createId({}, '5'), { code: 'INVALID_ARGUMENT' }, 'a time given as a string');
  assert.throws(() => core.beginRequest('x', undefined, '2', undefined, T0), { code: 'INVALID_ARGUMENT' });
  for (const idleTimeoutMs of [NaN, Infinity]) {
    assert.throws(() => core.create({ idleTimeoutMs }, T0), { code: 'INVALID_ARGUMENT' }, 'create, as createId');
  }
  assert.equal(core.stats(T0).live, 0);
  core.free();
});

test('configuration of the wrong type or range: INVALID_CONFIG (500), nothing is built', () => {
  for (const config of [{ idleTimeoutMs: 'x' }, { idleTimeoutMs: 0 }, { maxSessions: -1 }, { maxSessions: NaN },
    { idleTimeout: 5 }, { maxStateBytes: 1.5 }]) {
    assert.throws(() => new SessionManager(config), { code: 'INVALID_CONFIG', httpStatus: 500 }, JSON.stringify(config));
  }
});

// ----- time -----

test('time NaN, negative, enormous, infinite or not a number: INVALID_ARGUMENT (400)', () => {
  for (const now of [NaN, -1, Infinity, -Infinity, 1e20, 2 ** 53, undefined, '1700000000000', null]) {
    const m = new SessionManager({ clock: () => now });
    assert.throws(() => m.createSession(), { code: 'INVALID_ARGUMENT', httpStatus: 400 }, String(now));
    m.dispose();
  }
});

test('fractional time: rounded down to the millisecond', () => {
  const m = new SessionManager({ clock: () => T0 + 0.75, idleTimeoutMs: 1_000 });
  const id = m.createSession();
  assert.equal(m.getSession(id).createdAt.getTime(), T0);
  m.dispose();
});

test('a clock that goes backwards: time holds at the latest seen; nothing un-expires', () => {
  const clock = manualClock();
  const m = new SessionManager({ clock, idleTimeoutMs: 100 });
  const id = m.createSession();
  clock.set(T0 + 200);
  assert.equal(m.getSession(id).status, 'expired');
  clock.set(T0 - 10_000);
  assert.equal(m.getSession(id).status, 'expired', 'still expired');
  const fresh = m.createSession(); // at T0 + 200, the latest time seen
  assert.equal(m.getSession(fresh).expiresAt.getTime(), T0 + 300);
  clock.set(T0 + 301);
  assert.equal(m.getSession(fresh).status, 'expired');
  m.dispose();
});

// ----- state -----

test('state that is not an object: INVALID_STATE (400)', () => {
  const { m, id } = populated();
  for (const state of [[1], null, 'x', 5, true]) {
    refused(m, () => m.replaceSessionState(id, state), 'INVALID_STATE', 400);
    // At creation, a null state means none given: the session starts with {}.
    if (state !== null) refused(m, () => m.createSession({ state }), 'INVALID_STATE', 400);
  }
  for (const patch of [undefined, null, () => 1]) {
    refused(m, () => m.updateSessionState(id, patch), 'INVALID_STATE', 400);
  }
});

test('state nested too deep (200 and 100,000 levels): INVALID_STATE (400)', () => {
  const { m, id } = populated();
  for (const depth of [200, 100_000]) {
    const deep = {};
    let at = deep;
    for (let i = 0; i < depth; i++) at = at.a = {};
    refused(m, () => m.updateSessionState(id, deep), 'INVALID_STATE', 400);
    refused(m, () => m.createSession({ state: deep }), 'INVALID_STATE', 400);
  }
});

test('state over maxStateBytes: STATE_TOO_LARGE (413)', () => {
  const { m, id } = populated();
  refused(m, () => m.updateSessionState(id, { big: 'x'.repeat(5_000) }), 'STATE_TOO_LARGE', 413);
  refused(m, () => m.updateSessionState(id, { big: 'x'.repeat(64 << 20) }), 'STATE_TOO_LARGE', 413);
  refused(m, () => m.createSession({ state: { big: 'x'.repeat(5_000) } }), 'STATE_TOO_LARGE', 413);
});

test('state JSON cannot hold (a cycle, a BigInt): INVALID_STATE (400)', () => {
  const { m, id } = populated();
  const cyclic = { a: {} };
  cyclic.a.back = cyclic;
  for (const bad of [cyclic, { n: 1n }]) {
    refused(m, () => m.updateSessionState(id, bad), 'INVALID_STATE', 400);
    refused(m, () => m.createSession({ state: bad }), 'INVALID_STATE', 400);
  }
});

test('state values JSON drops or nulls: stored as JSON.stringify writes them', () => {
  const { m, id } = populated();
  m.replaceSessionState(id, { nan: NaN, inf: -Infinity, gone: undefined, fn: () => 1, sym: Symbol('s'), date: new Date(T0) });
  assert.deepEqual(m.getSession(id).state, { nan: null, inf: null, date: new Date(T0).toJSON() });
  m.dispose();
});

// ----- snapshots -----

test('snapshot malformed, empty or truncated at any byte: INVALID_SNAPSHOT (400)', () => {
  const { m } = populated();
  const text = m.snapshot();
  for (const bad of ['', 'nope', '[]', 'null', '{}', '{"format":']) {
    refused(m, () => m.restore(bad), 'INVALID_SNAPSHOT', 400);
  }
  for (let cut = 1; cut < text.length; cut += 7) {
    refused(m, () => m.restore(text.slice(0, cut)), 'INVALID_SNAPSHOT', 400);
  }
});

test('snapshot with a session twice or a key twice: INVALID_SNAPSHOT (400)', () => {
  const { m } = populated();
  const doc = JSON.parse(m.snapshot());
  const fresh = new SessionManager({ clock: manualClock() });
  refused(fresh, () => fresh.restore(JSON.stringify({ ...doc, sessions: [doc.sessions[0], doc.sessions[0]] })), 'INVALID_SNAPSHOT', 400);
  refused(fresh, () => fresh.restore(JSON.stringify(doc).replace('{"format"', '{"version":1,"format"')), 'INVALID_SNAPSHOT', 400);
});

test('hostile snapshots: wrong format or version, bad IDs, times, states, depth: INVALID_SNAPSHOT (400)', () => {
  const { m } = populated();
  const doc = JSON.parse(m.snapshot());
  const s0 = doc.sessions[0];
  const with0 = (patch) => JSON.stringify({ ...doc, sessions: [{ ...s0, ...patch }] });
  const hostile = [
    JSON.stringify({ ...doc, format: 'something-else' }),
    JSON.stringify({ ...doc, version: 99 }),
    with0({ id: 'bad id' }),
    with0({ id: 'x'.repeat(10_000) }),
    with0({ createdAt: -5 }),
    with0({ lastActivity: 1e300 }),
    with0({ lastActivity: 'yesterday' }),
    with0({ state: [1] }),
    with0({ phase: 'hacked' }),
    with0({ principal: 'p'.repeat(5_000) }),
    with0({ version: -1 }),
    with0({ state: { big: 'x'.repeat(10_000) } }),
    `{"format":"mcp-session-core/snapshot","version":1,"takenAt":1,"sessions":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    // Redeemed requestState tokens: an ID that is not 16 bytes of base64url, a
    // time out of range, a field unknown or missing, not an array.
    JSON.stringify({ ...doc, redeemed: [{ expiresAt: 5, id: 'short' }] }),
    JSON.stringify({ ...doc, redeemed: [{ expiresAt: 5, id: '+'.repeat(22) }] }),
    JSON.stringify({ ...doc, redeemed: [{ expiresAt: 2 ** 60, id: 'A'.repeat(22) }] }),
    JSON.stringify({ ...doc, redeemed: [{ expiresAt: 5, id: 'A'.repeat(22), extra: 1 }] }),
    JSON.stringify({ ...doc, redeemed: [{ id: 'A'.repeat(22) }] }),
    JSON.stringify({ ...doc, redeemed: 'all of them' }),
  ];
  const fresh = new SessionManager({ clock: manualClock(), maxStateBytes: 4_096 });
  for (const text of hostile) refused(fresh, () => fresh.restore(text), 'INVALID_SNAPSHOT', 400);
  assert.equal(fresh.stats().redeemedTokens, 0);
  assert.throws(() => new SessionManager({ maxRedeemedTokens: 0 }), { code: 'INVALID_CONFIG' });
});

test('snapshot restored twice, or larger than capacity: refused per session, counted, nothing else changes', () => {
  const { m } = populated();
  const text = m.snapshot();
  assert.deepEqual(m.restore(text), { restored: 0, skippedExpired: 0, refusedExisting: 2, refusedCapacity: 0, endedRestored: 0, redeemedRestored: 0 });
  const doc = JSON.parse(text);
  const many = { ...doc, sessions: Array.from({ length: 5_000 }, (_, i) => ({ ...doc.sessions[0], id: i.toString(16).padStart(32, '0') })) };
  const small = new SessionManager({ clock: manualClock(), maxSessions: 10 });
  const report = small.restore(JSON.stringify(many));
  assert.deepEqual([report.restored, report.refusedCapacity], [10, 4_990]);
  assert.equal(small.stats().live, 10);
});

// ----- the file store: journal and disk -----

const dataDir = () => fs.mkdtempSync(join(tmpdir(), 'mcp-bad-inputs-'));

/** node:fs with failures switched on by the test. */
function faultyIo() {
  const faults = { write: null, truncate: false, rename: false, open: null };
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const io = {
    ...fs,
    writeSync: (fd, buffer, offset, length) => {
      if (faults.write === 'partial') {
        fs.writeSync(fd, buffer, offset, Math.min(length, 12)); // a torn record
        throw enospc();
      }
      if (faults.write === 'full') throw enospc();
      return fs.writeSync(fd, buffer, offset, length);
    },
    ftruncateSync: (fd, len) => {
      if (faults.truncate) throw Object.assign(new Error('EIO: i/o error, ftruncate'), { code: 'EIO' });
      return fs.ftruncateSync(fd, len);
    },
    renameSync: (from, to) => {
      if (faults.rename) throw Object.assign(new Error('ENOSPC: no space left on device, rename'), { code: 'ENOSPC' });
      return fs.renameSync(from, to);
    },
    openSync: (path, flags, mode) => {
      if (faults.open !== null && String(path).includes(faults.open)) {
        throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES' });
      }
      return fs.openSync(path, flags, mode);
    },
  };
  return { io, faults };
}

/** A manager journaling to a fresh directory through `faultyIo`. */
function faultyStore(options = {}) {
  const dir = dataDir();
  const clock = manualClock();
  const { io, faults } = faultyIo();
  const m = new SessionManager({ clock, onError: options.onError });
  const store = new FileSessionStore({ dir, io, ...options });
  store.attach(m);
  return { dir, clock, faults, m, store, io };
}

function reopen(dir, clock) {
  const m = new SessionManager({ clock });
  const store = new FileSessionStore({ dir });
  const report = store.attach(m);
  return { m, store, report };
}

const startOf = (name) => Number(/^journal\.(\d+)\.log$/.exec(name)?.[1]);
/** The journal segments, oldest first. */
const segments = (dir) =>
  fs
    .readdirSync(dir)
    .filter((name) => /^journal\.\d+\.log$/.test(name))
    .sort((a, b) => startOf(a) - startOf(b))
    .map((name) => join(dir, name));
/** A line framed as the file store frames it: `<seq> <sha256 prefix> <json>`. */
const framed = (seq, json) => `${seq} ${createHash('sha256').update(json).digest('hex').slice(0, 16)} ${json}\n`;
/** Every file of the directory and its bytes. */
const files = (dir) => new Map(fs.readdirSync(dir).sort().map((name) => [name, fs.readFileSync(join(dir, name))]));

/**
 * Three starts on one directory, none compacted (each "crash" leaves the next start
 * to find everything): journal.1.log holds records 1 (a session made) and 2 (n: 1),
 * journal.3.log record 3 (n: 2), journal.4.log record 4 (n: 3).
 */
function segmented() {
  const dir = dataDir();
  const clock = manualClock();
  const a = reopen(dir, clock);
  const id = a.m.createSession();
  a.m.updateSessionState(id, { n: 1 });
  reopen(dir, clock).m.updateSessionState(id, { n: 2 });
  reopen(dir, clock).m.updateSessionState(id, { n: 3 });
  assert.deepEqual(segments(dir).map((path) => path.slice(dir.length + 1)), ['journal.1.log', 'journal.3.log', 'journal.4.log']);
  return { dir, clock, id };
}

/** Attaching `dir` is refused with STORAGE_FAILED matching `why`; nothing on disk
 * or in the manager changes. */
function refusedStart(dir, why, code = 'STORAGE_FAILED') {
  const before = files(dir);
  const m = new SessionManager({ clock: manualClock() });
  const own = m.createSession();
  assert.throws(() => new FileSessionStore({ dir }).attach(m), (error) => {
    assert.equal(error.code, code, error.message);
    assert.match(error.message, why);
    return true;
  });
  assert.deepEqual(files(dir), before, 'nothing on disk changed');
  assert.deepEqual(m.getAllSessions().map((s) => s.id), [own], 'the manager is untouched');
}

test('journal torn mid-record: replay stops at the tear, every whole record before it is kept', () => {
  const dir = dataDir();
  const clock = manualClock();
  const a = reopen(dir, clock);
  const id = a.m.createSession();
  a.m.updateSessionState(id, { n: 1 });
  fs.appendFileSync(segments(dir).at(-1), '3 0123456789abcdef {"format":"mcp-sess');
  const b = reopen(dir, clock);
  assert.equal(b.report.tornRecord, true);
  assert.deepEqual(b.m.getSession(id).state, { n: 1 });
});

test('journal corrupted (checksum mismatch, garbage): replay stops there; the rest is kept', () => {
  const dir = dataDir();
  const clock = manualClock();
  const a = reopen(dir, clock);
  const id = a.m.createSession();
  a.m.updateSessionState(id, { n: 1 });
  a.m.updateSessionState(id, { n: 2 });
  const journal = segments(dir).at(-1);
  const lines = fs.readFileSync(journal, 'utf8').split('\n');
  lines[3] = lines[3].replace('"n":2', '"n":7'); // after the header and two records
  fs.writeFileSync(journal, `${lines.join('\n')}\u0000\u0000garbage\n`);
  const b = reopen(dir, clock);
  assert.equal(b.report.tornRecord, true);
  assert.deepEqual(b.m.getSession(id).state, { n: 1 });
});

test('a segment torn at its end, followed by the segment the next start wrote: both are read', () => {
  const dir = dataDir();
  const clock = manualClock();
  const a = reopen(dir, clock);
  const id = a.m.createSession();
  a.m.updateSessionState(id, { n: 1 });
  fs.appendFileSync(segments(dir).at(-1), '3 0123456789abcdef {"format":"mcp-sess'); // the crash
  const b = reopen(dir, clock); // goes on from record 3, in a new segment
  assert.equal(b.report.tornRecord, true);
  b.m.updateSessionState(id, { n: 2 });
  const c = reopen(dir, clock);
  assert.equal(c.report.replayed, 3);
  assert.deepEqual(c.m.getSession(id).state, { n: 2 });
});

test('a journal segment missing, or cut short before the next one begins: attach throws STORAGE_FAILED naming the missing records; nothing changes', () => {
  const middle = segmented();
  const removed = fs.readFileSync(join(middle.dir, 'journal.3.log'));
  fs.unlinkSync(join(middle.dir, 'journal.3.log'));
  refusedStart(middle.dir, /records 3 to 3 are missing.*journal\.4\.log begins at record 4/);
  const first = segmented();
  fs.unlinkSync(join(first.dir, 'journal.1.log'));
  refusedStart(first.dir, /records 1 to 2 are missing/);
  // A record damaged in a segment that another follows: not a crash's doing.
  const damaged = segmented();
  const path = join(damaged.dir, 'journal.1.log');
  fs.writeFileSync(path, fs.readFileSync(path, 'utf8').replace('"n":1', '"n":5'));
  refusedStart(damaged.dir, /records 2 to 2 are missing/);
  // Nothing was removed: with the segment back, every record is there.
  fs.writeFileSync(join(middle.dir, 'journal.3.log'), removed, { mode: 0o600 });
  const again = reopen(middle.dir, middle.clock);
  assert.equal(again.report.replayed, 4);
  assert.deepEqual(again.m.getSession(middle.id).state, { n: 3 });
});

test('the snapshot missing while the segments after it remain: attach throws STORAGE_FAILED; nothing changes', async () => {
  const dir = dataDir();
  const clock = manualClock();
  const a = reopen(dir, clock);
  const id = a.m.createSession();
  a.store.compact();
  a.m.updateSessionState(id, { n: 1 });
  const [snapshot] = fs.readdirSync(dir).filter((name) => name.startsWith('snapshot.'));
  fs.unlinkSync(join(dir, snapshot));
  refusedStart(dir, /records 1 to 1 are missing/);
});

test('journal segments renamed or reordered: attach throws STORAGE_FAILED; nothing changes', () => {
  const { dir } = segmented();
  const [three, four] = [join(dir, 'journal.3.log'), join(dir, 'journal.4.log')];
  const swap = join(dir, 'swap');
  fs.renameSync(three, swap);
  fs.renameSync(four, three);
  fs.renameSync(swap, four);
  refusedStart(dir, /journal\.3\.log holds the segment that begins at record 4: renamed or out of order/);
});

test('a segment or a snapshot written by a newer version of the file store: attach throws STORAGE_FAILED; nothing changes', async () => {
  const { dir } = segmented();
  const path = join(dir, 'journal.4.log');
  const [header, ...rest] = fs.readFileSync(path, 'utf8').split('\n');
  const json = header.slice(header.indexOf(' ', header.indexOf(' ') + 1) + 1).replace('"version":1', '"version":2');
  fs.writeFileSync(path, framed(4, json) + rest.join('\n'));
  refusedStart(dir, /journal\.4\.log was written by a newer version of the file store \(format version 2/);

  const other = dataDir();
  const { name, seq, frames } = await binarySnapshot(other);
  writeBinarySnapshot(other, name, framed(seq, JSON.stringify({ format: 'mcp-session-core/checkpoint', version: 3, seq })), frames);
  refusedStart(other, new RegExp(`${name.replaceAll('.', '\\.')} was written by a newer version of the file store \\(format version 3; this version reads up to 2`));
});

test('snapshot pieces or journal records of a newer snapshot format: attach throws INVALID_SNAPSHOT (400); nothing changes', async () => {
  const dir = dataDir();
  const { name, header, frames } = await binarySnapshot(dir);
  // The core's header record: the format's name, then its version (3) as one byte.
  const format = Buffer.from('mcp-session-core/snapshot');
  const at = frames[0].indexOf(format) + format.length;
  assert.equal(frames[0][at], 3);
  frames[0][at] = 4;
  writeBinarySnapshot(dir, name, header, frames);
  refusedStart(dir, /version.*4 is not a snapshot version this build reads in pieces/, 'INVALID_SNAPSHOT');

  const { dir: other } = segmented();
  const last = join(other, 'journal.4.log');
  const [head, record] = fs.readFileSync(last, 'utf8').split('\n');
  const json = record.slice(record.indexOf(' ', record.indexOf(' ') + 1) + 1).replace('"version":1', '"version":9');
  fs.writeFileSync(last, `${head}\n${framed(4, json)}`);
  refusedStart(other, /version/, 'INVALID_SNAPSHOT');
});

test('a snapshot file torn, altered, short of pieces, with bytes after its end, or with its pieces reordered: attach throws; nothing changes', async () => {
  const cases = [
    // Torn: the file stops inside a piece, or before its end frame.
    ['torn inside a piece', ({ header, frames }) => [header, frames, { cut: 7 }], 'STORAGE_FAILED', /is corrupt: it ends early/],
    ['torn before its end', ({ header, frames }) => [header, frames, { noEnd: true }], 'STORAGE_FAILED', /is corrupt: it ends early/],
    // Altered: one byte of a piece changed; its digest no longer matches.
    ['altered', ({ header, frames }) => [header, frames, { alter: 1 }], 'STORAGE_FAILED', /is corrupt: piece 2 is torn or altered/],
    // Missing: a whole frame left out; the end frame's count says so.
    ['a piece missing', ({ header, frames }) => [header, frames.filter((_, i) => i !== 1), { count: frames.length }], 'STORAGE_FAILED', /is corrupt: pieces are missing/],
    ['bytes after its end', ({ header, frames }) => [header, frames, { trailing: Buffer.from('junk') }], 'STORAGE_FAILED', /is corrupt: bytes after its end/],
    // Reordered: only the first piece holds the core's header.
    ['reordered', ({ header, frames }) => [header, [frames[1], frames[0], ...frames.slice(2)], {}], 'INVALID_SNAPSHOT', /header of a version 3 snapshot/],
    // Missing header line altogether.
    ['its header line torn', ({ frames }) => ['0 0123456789abcdef {"format":"mcp-session-core/checkp', frames, {}], 'STORAGE_FAILED', /is corrupt: a torn or altered line/],
  ];
  for (const [what, change, code, why] of cases) {
    const dir = dataDir();
    const snapshot = await binarySnapshot(dir, 3);
    assert.ok(snapshot.frames.length >= 3, what);
    const [header, frames, options] = change(snapshot);
    writeBinarySnapshot(dir, snapshot.name, header, frames, options);
    refusedStart(dir, why, code);
  }
});

/** A data directory whose snapshot (version 2: binary frames) holds sessions made
 * with a little state each, written `perPiece` sessions a piece or so; what it
 * holds, parsed into its header line and pieces. */
async function binarySnapshot(dir, perPiece = 1_000) {
  // Small pieces, as a background compaction writes them.
  const m = new SessionManager({ clock: manualClock() });
  const store = new FileSessionStore({ dir, compactBytesPerTurn: 60 * perPiece });
  store.attach(m);
  for (let i = 0; i < 12; i++) m.createSession({ state: { i, pad: 'x'.repeat(40) } });
  assert.equal(await store.compactInBackground(), true);
  store.close();
  const [name] = fs.readdirSync(dir).filter((n) => /^snapshot\.\d+\.bin$/.test(n));
  const bytes = fs.readFileSync(join(dir, name));
  const newline = bytes.indexOf(0x0a);
  const header = bytes.subarray(0, newline + 1).toString('utf8');
  const seq = Number(header.split(' ')[0]);
  const frames = [];
  let at = newline + 1;
  for (let length = bytes.readUInt32LE(at); length !== 0; length = bytes.readUInt32LE(at)) {
    frames.push(Buffer.from(bytes.subarray(at + 12, at + 12 + length)));
    at += 12 + length;
  }
  assert.equal(bytes.readUInt32LE(at + 4), frames.length);
  return { name, seq, header, frames };
}

/** Writes a snapshot file of `header` and `frames` (each with its length and a
 * correct digest), then the end frame, as the store does, unless `options` says
 * to tear it (`cut` bytes into the first piece, `noEnd`), alter piece `alter`,
 * give another `count`, or add `trailing` bytes. */
function writeBinarySnapshot(dir, name, header, frames, { cut, noEnd, count, trailing, alter } = {}) {
  const parts = [Buffer.from(header)];
  for (const [i, piece] of frames.entries()) {
    const head = Buffer.alloc(12);
    head.writeUInt32LE(piece.length, 0);
    createHash('sha256').update(piece).digest().copy(head, 4, 0, 8);
    // Altered after its digest was taken: a byte of the piece flipped.
    const bytes = Buffer.from(piece);
    if (i === alter) bytes[bytes.length - 2] ^= 0xff;
    parts.push(head, bytes);
  }
  if (!noEnd) {
    const end = Buffer.alloc(8);
    end.writeUInt32LE(count ?? frames.length, 4);
    parts.push(end);
  }
  if (trailing !== undefined) parts.push(trailing);
  let bytes = Buffer.concat(parts);
  if (cut !== undefined) bytes = bytes.subarray(0, Buffer.byteLength(header) + 12 + cut);
  fs.writeFileSync(join(dir, name), bytes, { mode: 0o600 });
}

test('a version 1 snapshot file (snapshot.<seq>.json: framed lines) is still read, then replaced by a version 2 one', () => {
  const dir = dataDir();
  const m = new SessionManager({ clock: manualClock() });
  const ids = Array.from({ length: 5 }, (_, i) => m.createSession({ state: { i } }));
  const seq = 3;
  const [first, ...rest] = [...m.snapshotRecords(64)];
  const end = first.indexOf('\n');
  const lines = [
    framed(seq, JSON.stringify({ format: 'mcp-session-core/checkpoint', version: 1, seq })),
    framed(seq, first.slice(0, end)),
    ...[first.slice(end + 1), ...rest].filter((p) => p !== '').map((piece) => framed(seq, piece.replaceAll('\n', '\u001e'))),
  ];
  lines.push(framed(seq, JSON.stringify({ end: lines.length - 2 })));
  fs.writeFileSync(join(dir, `snapshot.${seq}.json`), lines.join(''), { mode: 0o600 });
  const b = reopen(dir, manualClock());
  assert.deepEqual(ids.map((id) => b.m.getSession(id).state), [0, 1, 2, 3, 4].map((i) => ({ i })));
  b.store.compact();
  assert.deepEqual(fs.readdirSync(dir).filter((n) => n.startsWith('snapshot.')), [`snapshot.${seq}.bin`]);
  b.store.close();
});

test('snapshot file corrupt: attach throws STORAGE_FAILED (503), overwrites nothing, the manager is untouched', () => {
  for (const name of ['snapshot.0.bin', 'snapshot.0.json', 'snapshot.json']) {
    const dir = dataDir();
    fs.writeFileSync(join(dir, name), '0 deadbeefdeadbeef {"format":"mcp-session-core/snapshot","vers');
    const before = fs.readFileSync(join(dir, name));
    const m = new SessionManager({ clock: manualClock() });
    const own = m.createSession();
    assert.throws(() => new FileSessionStore({ dir }).attach(m), { code: 'STORAGE_FAILED', httpStatus: 503 });
    assert.deepEqual(fs.readFileSync(join(dir, name)), before);
    assert.deepEqual(m.getAllSessions().map((s) => s.id), [own]);
  }
});

test('disk full (ENOSPC, torn write): the call throws STORAGE_FAILED (503) and is undone; acknowledged changes survive', () => {
  const { dir, clock, faults, m } = faultyStore();
  const id = m.createSession({ state: { n: 1 } });
  const before = m.snapshot();
  for (const mode of ['partial', 'full']) {
    faults.write = mode;
    assert.throws(() => m.updateSessionState(id, { n: 2 }), { code: 'STORAGE_FAILED', httpStatus: 503, reason: 'ENOSPC' });
    assert.throws(() => m.createSession(), { code: 'STORAGE_FAILED' });
    assert.throws(() => m.closeSession(id), { code: 'STORAGE_FAILED' });
    assert.equal(m.snapshot(), before, `${mode}: memory is what the disk holds`);
    const journal = fs.readFileSync(segments(dir).at(-1), 'utf8');
    assert.ok(journal.endsWith('\n'), `${mode}: no torn bytes left in the journal`);
  }
  faults.write = null;
  assert.equal(m.updateSessionState(id, { n: 3 }), 1, 'writes work again once there is space');
  const after = reopen(dir, clock);
  assert.deepEqual(after.m.getAllSessions().map((s) => [s.id, s.state, s.version]), [[id, { n: 3 }, 1]]);
});

test('disk full and the torn bytes cannot be cut: the next change starts a new segment (no record follows torn bytes)', () => {
  const { dir, clock, faults, m } = faultyStore();
  const id = m.createSession({ state: { n: 1 } });
  faults.write = 'partial';
  faults.truncate = true;
  assert.throws(() => m.updateSessionState(id, { n: 2 }), { code: 'STORAGE_FAILED' });
  faults.write = null;
  faults.truncate = false;
  m.updateSessionState(id, { n: 3 });
  m.updateSessionState(id, { n: 4 });
  assert.equal(segments(dir).length, 2);
  assert.ok(!fs.readFileSync(segments(dir)[0], 'utf8').endsWith('\n'), 'the torn bytes stay where they were');
  const after = reopen(dir, clock);
  assert.equal(after.report.tornRecord, true);
  assert.equal(after.report.replayed, 3);
  assert.deepEqual(after.m.getSession(id).state, { n: 4 });
});

test('a record written whole but never acknowledged (its fsync failed and it could not be cut) is ignored: the next segment begins with that number', () => {
  const { dir, clock, faults, m, io } = faultyStore();
  const id = m.createSession({ state: { n: 1 } });
  const fsyncSync = io.fsyncSync;
  io.fsyncSync = () => {
    throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
  };
  faults.truncate = true;
  assert.throws(() => m.updateSessionState(id, { n: 2 }), { code: 'STORAGE_FAILED', reason: 'EIO' });
  io.fsyncSync = fsyncSync;
  faults.truncate = false;
  m.updateSessionState(id, { n: 3 });
  assert.match(fs.readFileSync(segments(dir)[0], 'utf8'), /"n":2/, 'the record is whole in the first segment');
  const after = reopen(dir, clock);
  assert.deepEqual(after.m.getSession(id).state, { n: 3 });
  assert.equal(after.m.getSession(id).version, 1, 'n: 2 never happened');
});

test('disk full during compaction or an activity flush: no call fails, onError hears of it, nothing is lost', async () => {
  const errors = [];
  let heard;
  const flushed = new Promise((resolve) => (heard = resolve));
  const { dir, clock, faults, m, store } = faultyStore({
    compactAfter: 2,
    activityFlushMs: 5,
    onError: (error) => {
      errors.push(error);
      if (error.code === 'STORAGE_FAILED' && faults.write === 'full') heard();
    },
  });
  await store.compactInBackground(); // the one every start makes
  const id = m.createSession();
  faults.rename = true;
  m.updateSessionState(id, { n: 1 }); // the second record: a compaction starts, and fails; the record is durable
  assert.equal(await store.compactInBackground(), false);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'STORAGE_FAILED');
  faults.rename = false;
  faults.write = 'full';
  m.getSession(id); // activity, saved by the next batch
  const alive = setInterval(() => {}, 1_000); // the manager's timers never keep a process up
  await flushed; // the flush timer failed and reported instead of crashing the process
  clearInterval(alive);
  faults.write = null;
  m.updateSessionState(id, { n: 2 });
  store.close();
  assert.deepEqual(reopen(dir, clock).m.getSession(id).state, { n: 2 });
  assert.ok(!fs.readdirSync(dir).some((name) => name.endsWith('.tmp')), 'no temporary file is left');
});

test('data directory unwritable or not a directory: attach throws STORAGE_FAILED (503); the manager is untouched', () => {
  const parent = dataDir();
  fs.writeFileSync(join(parent, 'file'), 'x');
  const m = new SessionManager({ clock: manualClock() });
  const own = m.createSession();
  assert.throws(() => new FileSessionStore({ dir: join(parent, 'file', 'data') }).attach(m), { code: 'STORAGE_FAILED', reason: 'ENOTDIR' });
  // Root ignores permission bits, so EACCES is injected rather than made with chmod.
  const { io, faults } = faultyIo();
  faults.open = 'journal.';
  assert.throws(() => new FileSessionStore({ dir: dataDir(), io }).attach(m), { code: 'STORAGE_FAILED', reason: 'EACCES' });
  assert.deepEqual(m.getAllSessions().map((s) => s.id), [own]);
  assert.equal(m.stats().live, 1);
});

// ----- requestState tokens -----

const RS_KEY = { id: 'k1', key: new Uint8Array(32).fill(3) };
const RS_CTX = { user: 'alice' };

function sealed(extra = {}) {
  return createSealedRequestStateCodec({
    key: RS_KEY,
    bind: (ctx) => ({ principal: ctx.user, request: 'tools/call' }),
    ...extra,
  });
}

async function refusedState(codec, state, reason) {
  const before = codec.ledgerSize();
  await assert.rejects(codec.verify(state, RS_CTX), (error) => {
    assert.equal(error.message, reason, String(state).slice(0, 40));
    return true;
  });
  assert.equal(codec.ledgerSize(), before, 'a refused token was recorded');
  const probe = await codec.mint({ ok: true }, RS_CTX);
  assert.deepEqual(await codec.verify(probe, RS_CTX), { ok: true }, 'the codec still works');
}

test('requestState not a string, garbage, cut short or huge: malformed', async () => {
  const codec = sealed();
  const token = await codec.mint({ n: 1 }, RS_CTX);
  const states = [undefined, null, 42, {}, '', 'v1.e30.AAAA', 'rs2.k1.AAAA', 'rs1.k 1.AAAA', 'rs1.k1.!!!!',
    'rs1.k1.AAAA=', token.slice(0, 20), 'rs1.k1.' + 'A'.repeat(1 << 20)];
  for (const state of states) {
    const fresh = sealed();
    await assert.rejects(fresh.verify(state, RS_CTX), { message: 'malformed' });
    assert.equal(fresh.ledgerSize(), 0);
  }
  await refusedState(codec, token.slice(0, 40), 'malformed');
});

test('requestState with a byte changed, or from a key not in the ring: mac', async () => {
  const codec = sealed();
  const token = await codec.mint({ n: 1 }, RS_CTX);
  const body = Buffer.from(token.split('.')[2], 'base64url');
  body[30] ^= 1;
  await refusedState(codec, `rs1.k1.${body.toString('base64url')}`, 'mac');
  const other = sealed({ key: { id: 'k1', key: new Uint8Array(32).fill(4) } });
  await refusedState(codec, await other.mint({ n: 1 }, RS_CTX), 'mac');
  codec.rotate({ id: 'k2', key: new Uint8Array(32).fill(5) });
  codec.removeKey('k1');
  await refusedState(codec, token, 'mac');
});

test('requestState bind returning non-strings, bad keys and lifetimes: TypeError or RequestStateError', async () => {
  for (const bind of [() => ({ principal: 7, request: 'r' }), () => ({ request: 1 }), () => null]) {
    const codec = sealed({ bind });
    await assert.rejects(codec.mint('x', RS_CTX), TypeError);
    await assert.rejects(codec.verify('rs1.k1.AAAA', RS_CTX), TypeError);
  }
  for (const key of [new Uint8Array(0), new Uint8Array(31), new Uint8Array(33)]) {
    assert.throws(() => sealed({ key: { id: 'k1', key } }), { name: 'RequestStateError', code: 'INVALID_CONFIG' });
  }
  for (const id of ['', 'k'.repeat(33), 'a.b', 'a b']) {
    assert.throws(() => sealed({ key: { id, key: RS_KEY.key } }), { name: 'RequestStateError', code: 'INVALID_KEY_ID' });
  }
  assert.throws(() => sealed({ ttlSeconds: 0 }), { name: 'RequestStateError', code: 'INVALID_CONFIG' });
  assert.throws(() => sealed({ ttlSeconds: 7200 }), { name: 'RequestStateError', code: 'INVALID_CONFIG' });
});
