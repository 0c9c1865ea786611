// The embedded file store: snapshot + fsynced journal, torn and corrupt records,
// compaction, and a crash between compaction's rename and the journal truncation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionManager, FileSessionStore } from 'mcp-session-core';

const dir = () => mkdtempSync(join(tmpdir(), 'mcp-file-store-'));
const clock = () => 1_700_000_000_000;

/** A manager with a store in `path`; "crashing" is just dropping it unflushed. */
function open(path, options = {}) {
  const sessions = new SessionManager({ clock });
  const store = new FileSessionStore({ dir: path, ...options });
  const report = store.attach(sessions);
  return { sessions, store, report };
}

test('every acknowledged change survives a crash; a torn last record is skipped', () => {
  const path = dir();
  const a = open(path);
  const id = a.sessions.createSession({ principal: 'p' });
  for (let i = 1; i <= 5; i++) a.sessions.updateSessionState(id, { n: i });
  const closed = a.sessions.createSession();
  a.sessions.closeSession(closed);
  // The process dies while writing a record: half a line at the end of the journal.
  appendFileSync(join(path, 'journal.log'), '9 0123456789abcdef {"format":"mcp-sess');

  const b = open(path);
  assert.equal(b.report.tornRecord, true);
  assert.equal(b.report.replayed, 8);
  assert.equal(b.report.restore.restored, 1);
  const s = b.sessions.getSession(id);
  assert.deepEqual([s.state, s.version, s.principal], [{ n: 5 }, 5, 'p']);
  assert.equal(b.sessions.getSession(closed).status, 'closed', 'ended sessions are remembered');
  // Restart compacted everything: the journal is empty and the torn bytes are gone.
  assert.equal(readFileSync(join(path, 'journal.log'), 'utf8'), '');
});

test('a corrupt record ends the replay: what came before it is kept', () => {
  const path = dir();
  const a = open(path);
  const id = a.sessions.createSession();
  a.sessions.updateSessionState(id, { n: 1 });
  a.sessions.updateSessionState(id, { n: 2 });
  const journal = join(path, 'journal.log');
  const lines = readFileSync(journal, 'utf8').split('\n');
  lines[2] = lines[2].replace('"n":2', '"n":9'); // the checksum no longer matches
  writeFileSync(journal, lines.join('\n'));
  const b = open(path);
  assert.equal(b.report.tornRecord, true);
  assert.equal(b.report.replayed, 2);
  assert.deepEqual(b.sessions.getSession(id).state, { n: 1 });
});

test('compaction keeps the journal short and loses nothing', () => {
  const path = dir();
  const a = open(path, { compactAfter: 5 });
  const ids = Array.from({ length: 12 }, (_, i) => a.sessions.createSession({ state: { i } }));
  for (const id of ids) a.sessions.updateSessionState(id, { done: true });
  const journalLines = readFileSync(join(path, 'journal.log'), 'utf8').split('\n').filter(Boolean);
  assert.ok(journalLines.length < 5);
  const b = open(path);
  assert.equal(b.report.restore.restored, 12);
  ids.forEach((id, i) => assert.deepEqual(b.sessions.getSession(id).state, { i, done: true }));
});

test('a crash between the snapshot rename and the journal truncation replays nothing twice', () => {
  const path = dir();
  const a = open(path);
  const id = a.sessions.createSession();
  a.sessions.updateSessionState(id, { n: 1 });
  const oldJournal = readFileSync(join(path, 'journal.log'));
  a.sessions.updateSessionState(id, { n: 2 });
  a.store.compact(); // snapshot now holds n: 2
  // As if the truncation never happened: old records (n: 1) are still there.
  writeFileSync(join(path, 'journal.log'), oldJournal);
  const b = open(path);
  assert.equal(b.report.replayed, 0);
  assert.deepEqual(b.sessions.getSession(id).state, { n: 2 });
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
