// The embedded file store: the newest snapshot + journal segments after it, torn and
// corrupt records, compaction in the background while sessions change (a crash at
// any point of it restores exactly what was acknowledged), the layout before
// segments, and a crash between a new snapshot and the removal of what it replaces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionManager, FileSessionStore } from 'mcp-session-core';
import { manualClock } from './clock.mjs';

const dir = () => mkdtempSync(join(tmpdir(), 'mcp-file-store-'));
const clock = () => 1_700_000_000_000;
const turn = () => new Promise((resolve) => setImmediate(resolve));

/** A manager with a store in `path`; "crashing" is just dropping it unflushed
 * (opening the next store on the directory fences it, as if its process died). */
function open(path, options = {}, managerOptions = {}) {
  const sessions = new SessionManager({ clock, ...managerOptions });
  const store = new FileSessionStore({ dir: path, ...options });
  const report = store.attach(sessions);
  return { sessions, store, report };
}

/** File operations whose removals are synchronous: a compaction then takes a fixed
 * number of turns, whatever the load on the machine (tests that count compactions
 * over turns use it). */
const turnBound = { ...fs, unlink: undefined };

const startOf = (name) => Number(/^journal\.(\d+)\.log$/.exec(name)?.[1]);
/** The journal segments, oldest first. */
export const segments = (path) =>
  readdirSync(path)
    .filter((name) => /^journal\.\d+\.log$/.test(name))
    .sort((a, b) => startOf(a) - startOf(b))
    .map((name) => join(path, name));
const snapshots = (path) => readdirSync(path).filter((name) => /^snapshot\.\d+\.bin$/.test(name));
const records = (file) => readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(1); // after the header

/** The manager's sessions, ended records and ledger, as a snapshot holds them. */
function contents(sessions) {
  const { takenAt, ...rest } = JSON.parse(sessions.snapshot());
  return rest;
}

test('every acknowledged change survives a crash; a torn last record is skipped', async () => {
  const path = dir();
  const a = open(path);
  const id = a.sessions.createSession({ principal: 'p' });
  for (let i = 1; i <= 5; i++) a.sessions.updateSessionState(id, { n: i });
  const closed = a.sessions.createSession();
  a.sessions.closeSession(closed);
  // The process dies while writing a record: half a line at the end of the segment.
  appendFileSync(segments(path).at(-1), '9 0123456789abcdef {"format":"mcp-sess');

  const b = open(path);
  assert.equal(b.report.tornRecord, true);
  assert.equal(b.report.replayed, 8);
  assert.equal(b.report.restore.restored, 1);
  const s = b.sessions.getSession(id);
  assert.deepEqual([s.state, s.version, s.principal], [{ n: 5 }, 5, 'p']);
  assert.equal(b.sessions.getSession(closed).status, 'closed', 'ended sessions are remembered');
  // The start compacts in the background: one snapshot, and a segment holding nothing.
  assert.equal(await b.store.compactInBackground(), true);
  assert.deepEqual(readdirSync(path).sort(), ['journal.9.log', 'snapshot.8.bin']);
  assert.deepEqual(records(join(path, 'journal.9.log')), []);
  b.store.close();
});

test('a corrupt record ends the replay: what came before it is kept', () => {
  const path = dir();
  const a = open(path);
  const id = a.sessions.createSession();
  a.sessions.updateSessionState(id, { n: 1 });
  a.sessions.updateSessionState(id, { n: 2 });
  const journal = segments(path).at(-1);
  const lines = readFileSync(journal, 'utf8').split('\n');
  lines[3] = lines[3].replace('"n":2', '"n":9'); // the checksum no longer matches
  writeFileSync(journal, lines.join('\n'));
  const b = open(path);
  assert.equal(b.report.tornRecord, true);
  assert.equal(b.report.replayed, 2);
  assert.deepEqual(b.sessions.getSession(id).state, { n: 1 });
});

test('compaction follows the journal\'s size: it stays within a bound while changes go on, and loses nothing', async () => {
  const path = dir();
  const a = open(path, { compactMinBytes: 8_192, compactPercentage: 100, io: turnBound });
  await a.store.compactInBackground();
  const ids = Array.from({ length: 300 }, (_, i) => a.sessions.createSession({ state: { i, pad: 'p'.repeat(100) } }));
  const last = new Map();
  for (let round = 0; round < 250; round++) {
    for (let k = 0; k < 10; k++) {
      const id = ids[(round * 37 + k * 101) % ids.length];
      a.sessions.updateSessionState(id, { round });
      last.set(id, round);
      // Past the bound, a compaction is under way (the journal grows on meanwhile).
      const { journalBytes, snapshotBytes, compacting } = a.store.status;
      assert.ok(compacting || journalBytes <= Math.max(snapshotBytes, 8_192), `${journalBytes} bytes of journal, not compacting`);
    }
    await turn();
  }
  await a.store.compactInBackground();
  const status = a.store.status;
  assert.ok(status.compactions >= 3, `${status.compactions} compactions`);
  assert.ok(segments(path).length <= 2 && snapshots(path).length === 1, readdirSync(path).join(' '));
  const b = open(path);
  assert.equal(b.report.restore.restored, 300);
  ids.forEach((id, i) => assert.deepEqual(b.sessions.getSession(id).state, { i, pad: 'p'.repeat(100), ...(last.has(id) ? { round: last.get(id) } : {}) }));
});

test('compactAfter (deprecated) still compacts after that many records', async () => {
  const path = dir();
  const a = open(path, { compactAfter: 5, activityFlushMs: 600_000 }); // no activity records among them
  await a.store.compactInBackground();
  const ids = [];
  for (let i = 0; i < 12; i++) {
    ids.push(a.sessions.createSession({ state: { i } }));
    while (a.store.status.compacting) await turn();
  }
  for (const id of ids) {
    a.sessions.updateSessionState(id, { done: true });
    while (a.store.status.compacting) await turn();
  }
  // 24 records, a compaction started on every fifth (and waited for): 4, and the one at start.
  assert.equal(a.store.status.compactions, 5);
  assert.ok(records(segments(path).at(-1)).length < 5);
  const b = open(path);
  assert.equal(b.report.restore.restored, 12);
  ids.forEach((id, i) => assert.deepEqual(b.sessions.getSession(id).state, { i, done: true }));
});

test('a crash after the new snapshot is in place, before the files it replaces are removed, replays nothing twice', async () => {
  const path = dir();
  const a = open(path);
  await a.store.compactInBackground();
  const id = a.sessions.createSession();
  a.sessions.updateSessionState(id, { n: 1 });
  await a.store.compactInBackground();
  a.sessions.updateSessionState(id, { n: 2 });
  const before = new Map(readdirSync(path).map((name) => [name, readFileSync(join(path, name))]));
  a.sessions.updateSessionState(id, { n: 3 });
  await a.store.compactInBackground(); // the snapshot now holds n: 3
  // As if the removal never happened: the older snapshot and segment (n: 2) are back.
  for (const [name, bytes] of before) if (!fs.existsSync(join(path, name))) writeFileSync(join(path, name), bytes);
  assert.equal(snapshots(path).length, 2);
  const b = open(path);
  assert.equal(b.report.replayed, 0);
  assert.deepEqual(b.sessions.getSession(id).state, { n: 3 });
  await b.store.compactInBackground();
  assert.equal(snapshots(path).length, 1, 'the garbage is removed by the next compaction');
});

test('request activity is flushed, so a restored session keeps its recent activity', () => {
  const path = dir();
  let now = 1_700_000_000_000;
  const sessions = new SessionManager({ clock: () => now, idleTimeoutMs: 10_000 });
  const store = new FileSessionStore({ dir: path });
  store.attach(sessions);
  const id = sessions.createSession();
  now += 8_000;
  sessions.beginRequest({ sessionId: id, kind: 'other' });
  sessions.endRequest(id);
  sessions.saveActivity();
  now += 5_000; // 13 s after creation, 5 s after the last request
  const restored = new SessionManager({ clock: () => now, idleTimeoutMs: 10_000 });
  new FileSessionStore({ dir: path }).attach(restored);
  assert.equal(restored.getSession(id).status, 'active');
});

/** A copy of the directory as it is now: what a crash at this instant leaves. A
 * file the compaction removes meanwhile (the only thing done off the event loop:
 * unlinking what a new snapshot replaced) is left out, as a crash just after its
 * removal would. */
function image(path) {
  const copy = dir();
  for (const name of readdirSync(path)) {
    try {
      fs.copyFileSync(join(path, name), join(copy, name));
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
    }
  }
  return copy;
}

test('a background compaction while sessions are made, changed, closed, forgotten and tokens redeemed: a crash at any point restores exactly what was acknowledged', async (t) => {
  const path = dir();
  const clock = manualClock();
  const config = { maxEndedRemembered: 150, maxSessions: 100_000 };
  const sessions = new SessionManager({ clock, ...config });
  const store = new FileSessionStore({ dir: path, compactBytesPerTurn: 64, compactMinBytes: 2 ** 40 });
  store.attach(sessions);
  await store.compactInBackground();
  const codec = sessions.createRequestStateCodec({
    key: { id: 'k', key: new Uint8Array(32).fill(7) },
    ttlSeconds: 5,
    bind: () => ({ principal: null, request: 'r' }),
  });
  let seed = 12345;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const live = [];
  const ended = [];
  const principals = new Map();
  const step = async () => {
    clock.advance(1 + Math.floor(random() * 40));
    const r = random();
    if (r < 0.25 || live.length < 10) {
      const principal = `u${Math.floor(random() * 7)}`;
      const id = sessions.createSession({ principal, state: { n: 0, pad: 'x'.repeat(Math.floor(random() * 200)) } });
      principals.set(id, principal);
      live.push(id);
    }
    else if (r < 0.6) sessions.updateSessionState(live[Math.floor(random() * live.length)], { n: Math.floor(random() * 1e6) });
    else if (r < 0.75) {
      const [id] = live.splice(Math.floor(random() * live.length), 1);
      sessions.closeSession(id); // past maxEndedRemembered, the oldest ended record is forgotten
      ended.push(id);
    } else if (r < 0.8 && ended.length > 0) {
      // A new session with the state of an ended one (not found once it is forgotten).
      const [old] = ended.splice(Math.floor(random() * ended.length), 1);
      const principal = principals.get(old);
      try {
        const id = sessions.renewSession(old, { principal });
        principals.set(id, principal);
        live.push(id);
      } catch (error) {
        if (error.httpStatus !== 404) throw error;
      }
    }
    else {
      // Ledger entries are ordered by expiry: some expire while the ledger is written.
      for (let k = 0; k < 4; k++) await codec.verify(await codec.mint({ r, k }, {}), {});
    }
  };
  for (let i = 0; i < 1_500; i++) await step();
  const images = [];
  let finished = false;
  const compaction = store.compactInBackground().then((ok) => (finished = ok));
  let turns = 0;
  while (!finished) {
    for (let i = 0, n = Math.floor(random() * 4); i < n; i++) await step();
    if (turns++ % 3 === 0) images.push({ at: clock(), copy: image(path), expected: contents(sessions) });
    await turn();
  }
  await compaction;
  assert.ok(turns > 30, `the compaction took ${turns} turns`);
  const held = contents(sessions);
  t.diagnostic(`${turns} turns, ${held.sessions.length} live, ${held.ended.length} ended, ${held.redeemed?.length} tokens, ${images.length} crash images`);
  for (let i = 0; i < 20; i++) await step();
  images.push({ at: clock(), copy: image(path), expected: contents(sessions) });
  assert.ok(contents(sessions).redeemed?.length > 0 && contents(sessions).ended.length > 0);
  for (const [i, { at, copy, expected }] of images.entries()) {
    const restored = new SessionManager({ clock: manualClock(at), ...config });
    const reopened = new FileSessionStore({ dir: copy, compactMinBytes: 2 ** 40 });
    reopened.attach(restored);
    assert.deepEqual(contents(restored), expected, `crash image ${i} of ${images.length}`);
    reopened.close();
    restored.dispose();
  }
  store.close();
});

test('a background compaction that fails (EIO on an fsync) reports it, leaves no file behind, and loses nothing', async () => {
  const path = dir();
  let failFsync = false;
  const io = {
    ...fs,
    fsyncSync: (fd) => {
      if (failFsync) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
      return fs.fsyncSync(fd);
    },
  };
  const errors = [];
  const a = open(path, { io, onError: (error) => errors.push(error) });
  await a.store.compactInBackground();
  const id = a.sessions.createSession({ state: { n: 1 } });
  failFsync = true;
  assert.equal(await a.store.compactInBackground(), false);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'STORAGE_FAILED');
  assert.equal(errors[0].reason, 'EIO');
  assert.ok(!readdirSync(path).some((name) => name.endsWith('.tmp')), readdirSync(path).join(' '));
  failFsync = false;
  a.sessions.updateSessionState(id, { n: 2 });
  const b = open(path);
  assert.deepEqual(b.sessions.getSession(id).state, { n: 2 });
  assert.equal(await b.store.compactInBackground(), true);
  b.store.close();
});

test('a background compaction whose last pieces hold nothing (the rest expired meanwhile) writes a snapshot that opens', async () => {
  // The walk ends with an empty piece when every session after its cursor is due:
  // written as a frame, its length 0 would end the file early and make the
  // snapshot unreadable once the journal it replaced was removed.
  const path = dir();
  const clock = manualClock();
  // Ended sessions are not remembered: once swept, their slots are empty.
  const sessions = new SessionManager({ clock, idleTimeoutMs: 60_000, endedRetentionMs: 1 });
  const store = new FileSessionStore({ dir: path, compactBytesPerTurn: 64, compactMinBytes: 2 ** 40 });
  store.attach(sessions);
  const kept = sessions.createSession({ state: { kept: true } });
  for (let i = 0; i < 49; i++) sessions.createSession({ state: { i } });
  const compaction = store.compactInBackground();
  for (let i = 0; i < 3; i++) await turn();
  assert.equal(store.status.compacting, true);
  clock.advance(30_000);
  sessions.getSession(kept); // activity: it stays
  clock.advance(40_000); // every other session is past its idle deadline
  sessions.cleanupExpiredSessions(); // ended and forgotten: the rest of the walk finds nothing
  assert.equal(await compaction, true);
  // A crash now (no close, which would compact again): the next start reads the
  // snapshot that compaction wrote, and the journal after it.
  const reopened = open(path);
  assert.deepEqual(reopened.sessions.getSession(kept).state, { kept: true });
  reopened.store.close();
});

test('close() during a background compaction abandons it and writes the whole snapshot at once', async () => {
  const path = dir();
  const a = open(path, { compactBytesPerTurn: 512 });
  const ids = Array.from({ length: 2_000 }, (_, i) => a.sessions.createSession({ state: { i } }));
  const running = a.store.compactInBackground();
  for (let i = 0; i < 5; i++) await turn();
  assert.equal(a.store.status.compacting, true);
  a.sessions.updateSessionState(ids[0], { last: true });
  a.store.close();
  assert.equal(await running, false);
  assert.equal(snapshots(path).length, 1);
  assert.ok(!readdirSync(path).some((name) => name.endsWith('.tmp')), readdirSync(path).join(' '));
  const b = open(path);
  assert.equal(b.report.replayed, 0);
  assert.equal(b.report.restore.restored, 2_000);
  assert.deepEqual(b.sessions.getSession(ids[0]).state, { i: 0, last: true });
  b.store.close();
});

test('the layout before segments (snapshot.json + journal.log) is read, then replaced by the first compaction', async () => {
  const path = dir();
  const m = new SessionManager({ clock });
  const kept = m.createSession({ state: { from: 'snapshot' } });
  const changed = m.createSession({ state: { n: 1 } });
  const frame = (seq, json) => `${seq} ${createHash('sha256').update(json).digest('hex').slice(0, 16)} ${json}\n`;
  writeFileSync(join(path, 'snapshot.json'), frame(4, m.snapshot()), { mode: 0o600 });
  m.updateSessionState(changed, { n: 2 });
  const older = frame(3, m.exportSessions([changed])); // older than the snapshot: skipped
  m.updateSessionState(changed, { n: 3 });
  writeFileSync(join(path, 'journal.log'), older + frame(5, m.exportSessions([changed])), { mode: 0o600 });
  const b = open(path);
  assert.equal(b.report.replayed, 1);
  assert.deepEqual(b.sessions.getSession(kept).state, { from: 'snapshot' });
  assert.deepEqual(b.sessions.getSession(changed).state, { n: 3 });
  b.sessions.updateSessionState(changed, { n: 4 });
  assert.equal(await b.store.compactInBackground(), true);
  assert.deepEqual(readdirSync(path).sort(), ['journal.7.log', 'snapshot.6.bin']);
  const c = open(path);
  assert.deepEqual(c.sessions.getSession(changed).state, { n: 4 });
  c.store.close();
});

test('a second store opened on the directory fences the first: it saves nothing more, and its compaction stops', async () => {
  const path = dir();
  const a = open(path);
  const id = a.sessions.createSession({ state: { n: 1 } });
  const b = open(path);
  assert.throws(() => a.sessions.updateSessionState(id, { n: 2 }), { code: 'STORAGE_FAILED' });
  assert.equal(await a.store.compactInBackground(), false);
  b.sessions.updateSessionState(id, { n: 3 });
  a.store.close(); // detaches its manager, writes nothing
  const c = open(path);
  assert.deepEqual(c.sessions.getSession(id).state, { n: 3 });
  c.store.close();
});

test('a background compaction that keeps failing is retried after a pause, not on every save', async () => {
  const path = dir();
  let failRenames = false;
  const io = {
    ...fs,
    renameSync: (from, to) => {
      if (failRenames) throw Object.assign(new Error(`ENOSPC: no space left on device, rename '${from}'`), { code: 'ENOSPC' });
      return fs.renameSync(from, to);
    },
  };
  const errors = [];
  const a = open(path, { io, compactAfter: 1, onError: (error) => errors.push(error) });
  await a.store.compactInBackground();
  failRenames = true;
  const id = a.sessions.createSession();
  for (let i = 0; i < 20; i++) {
    a.sessions.updateSessionState(id, { i });
    while (a.store.status.compacting) await turn();
  }
  assert.equal(errors.length, 1, 'one failure, then a pause of a second');
  assert.ok(segments(path).length <= 3, readdirSync(path).join(' '));
  failRenames = false;
  a.store.close();
  const b = open(path);
  assert.deepEqual(b.sessions.getSession(id).state, { i: 19 });
  b.store.close();
});

test('a turn full of saves cannot outrun a background compaction: it writes twice their bytes that turn', async () => {
  const path = dir();
  const a = open(path, { compactMinBytes: 0, compactPercentage: 50, io: turnBound });
  const ids = Array.from({ length: 3_000 }, (_, i) => a.sessions.createSession({ state: { i, pad: 'p'.repeat(300) } }));
  await a.store.compactInBackground();
  let most = 0;
  for (let round = 0; round < 30; round++) {
    for (let k = 0; k < 200; k++) a.sessions.updateSessionState(ids[(round * 200 + k) % ids.length], { round });
    most = Math.max(most, a.store.status.journalBytes);
    await turn();
  }
  const { snapshotBytes, compactions } = a.store.status;
  assert.ok(compactions >= 2, `${compactions} compactions`);
  // The threshold (half the snapshot), plus what is saved while one compaction runs:
  // about half the snapshot of changes, and as much again of activity batches (every
  // 512 calls one rewrites the sessions they touched; they do not pace compaction),
  // and a few turns. A piece a turn would take some thirty turns.
  assert.ok(most < 3.5 * snapshotBytes, `the journal reached ${most} bytes, the snapshot is ${snapshotBytes}`);
  a.store.close();
});
