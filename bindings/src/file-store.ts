import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

import type { CoreEvent, RestoreReport } from '../generated/mcp_session_core';
import type { SessionManager } from './manager';

/**
 * Sessions that survive restarts, in a data directory, with no server to run:
 * `snapshot.json` (a full core snapshot) plus `journal.log` (one record per change).
 *
 * Every lifecycle change and state change the manager reports is appended to the
 * journal and fsynced before the call that made it returns, so a change a server
 * has acknowledged survives SIGKILL. Request activity (which only moves idle
 * deadlines) is batched and flushed every `activityFlushMs`: after a crash a session
 * may look idle since up to that long before it was last used.
 *
 * Each record is one line `<seq> <sha256 prefix> <core export JSON>`. On start the
 * snapshot is loaded, journal records newer than it are replayed in order, a torn
 * or corrupt record ends the replay (a crash can only tear the last one), and the
 * result is compacted into a new snapshot (written to a temporary file, fsynced,
 * renamed) before the journal is emptied. Records carry sequence numbers, so a
 * crash between the rename and the truncation replays nothing twice.
 */
export interface FileSessionStoreOptions {
  /** The data directory; created if missing. */
  dir: string;
  /** Compact into a new snapshot after this many journal records (default 1,000). */
  compactAfter?: number;
  /** How often touched sessions' activity is written (default 1,000 ms). */
  activityFlushMs?: number;
}

export interface LoadReport {
  /** Journal records replayed over the snapshot. */
  replayed: number;
  /** A torn or corrupt record was found and skipped (with everything after it). */
  tornRecord: boolean;
  /** What the core restored. */
  restore: RestoreReport | null;
}

interface Frame {
  seq: number;
  json: string;
}

interface SnapshotDocument {
  format: string;
  version: number;
  takenAt: number;
  sessions: { id: string }[];
  ended: { session: { id: string } }[];
}

/** Every event kind: each is a change the journal records. */
const EVENT_KINDS: CoreEvent['type'][] = [
  'created', 'initialized', 'stateChanged', 'disconnected', 'resumed',
  'closed', 'expired', 'evicted', 'restored', 'renewed',
];

const digest = (json: string) => createHash('sha256').update(json).digest('hex').slice(0, 16);

function frame(seq: number, json: string): string {
  return `${seq} ${digest(json)} ${json}\n`;
}

/** Parses one framed line; null if torn or corrupt. */
function unframe(line: string): Frame | null {
  const first = line.indexOf(' ');
  const second = line.indexOf(' ', first + 1);
  if (first <= 0 || second <= first) return null;
  const seq = Number(line.slice(0, first));
  const json = line.slice(second + 1);
  if (!Number.isSafeInteger(seq) || digest(json) !== line.slice(first + 1, second)) return null;
  return { seq, json };
}

export class FileSessionStore {
  readonly dir: string;
  readonly #snapshotPath: string;
  readonly #journalPath: string;
  readonly #compactAfter: number;
  readonly #activityFlushMs: number;
  #journal: number | undefined;
  #seq = 0;
  #records = 0;
  #manager: SessionManager | undefined;
  #touched = new Set<string>();
  #flushTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: FileSessionStoreOptions) {
    this.dir = options.dir;
    this.#snapshotPath = join(this.dir, 'snapshot.json');
    this.#journalPath = join(this.dir, 'journal.log');
    this.#compactAfter = options.compactAfter ?? 1_000;
    this.#activityFlushMs = options.activityFlushMs ?? 1_000;
  }

  /**
   * Restores what the directory holds into `manager`, compacts it, and from then on
   * journals every change the manager reports.
   */
  attach(manager: SessionManager): LoadReport {
    if (this.#manager !== undefined) throw new Error('FileSessionStore is already attached');
    mkdirSync(this.dir, { recursive: true });
    const { doc, replayed, tornRecord } = this.#load();
    const restore = doc === null ? null : manager.restore(JSON.stringify(doc));
    this.#manager = manager;
    this.#journal = openSync(this.#journalPath, 'a');
    this.compact();
    for (const kind of EVENT_KINDS) manager.on(kind, this.#onEvent);
    this.#flushTimer = setInterval(() => this.flushActivity(), this.#activityFlushMs);
    this.#flushTimer.unref();
    return { replayed, tornRecord, restore };
  }

  /** Notes request activity on a session, written at the next activity flush. */
  touch(sessionId: string): void {
    this.#touched.add(sessionId);
  }

  /** Writes the activity of touched sessions now. */
  flushActivity(): void {
    if (this.#touched.size === 0 || this.#manager === undefined) return;
    const ids = [...this.#touched];
    this.#touched.clear();
    this.#append(ids);
  }

  /** Writes a full snapshot and empties the journal. */
  compact(): void {
    const manager = this.#requireManager();
    const temporary = `${this.#snapshotPath}.tmp`;
    const fd = openSync(temporary, 'w');
    try {
      writeSync(fd, frame(this.#seq, manager.snapshot()));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.#snapshotPath);
    this.#syncDir();
    if (this.#journal !== undefined) {
      ftruncateSync(this.#journal, 0);
      fsyncSync(this.#journal);
    }
    this.#records = 0;
  }

  /** Flushes activity, compacts, and stops journaling. */
  close(): void {
    if (this.#manager === undefined) return;
    this.flushActivity();
    this.compact();
    for (const kind of EVENT_KINDS) this.#manager.off(kind, this.#onEvent);
    if (this.#flushTimer !== undefined) clearInterval(this.#flushTimer);
    if (this.#journal !== undefined) closeSync(this.#journal);
    this.#journal = undefined;
    this.#manager = undefined;
  }

  readonly #onEvent = (event: CoreEvent): void => {
    if (event.type === 'restored') return;
    const ids = event.type === 'renewed' ? [event.sessionId, event.previousSessionId] : [event.sessionId];
    for (const id of ids) this.#touched.delete(id);
    this.#append(ids);
  };

  #append(ids: string[]): void {
    const manager = this.#requireManager();
    if (this.#journal === undefined) return;
    this.#seq += 1;
    writeSync(this.#journal, frame(this.#seq, manager.exportSessions(ids)));
    fsyncSync(this.#journal);
    this.#records += 1;
    if (this.#records >= this.#compactAfter) this.compact();
  }

  #requireManager(): SessionManager {
    if (this.#manager === undefined) throw new Error('FileSessionStore is not attached');
    return this.#manager;
  }

  #syncDir(): void {
    const fd = openSync(this.dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** The snapshot with the journal replayed over it, as one core document. */
  #load(): { doc: SnapshotDocument | null; replayed: number; tornRecord: boolean } {
    let doc: SnapshotDocument | null = null;
    let tornRecord = false;
    if (existsSync(this.#snapshotPath)) {
      const base = unframe(readFileSync(this.#snapshotPath, 'utf8').replace(/\n$/, ''));
      if (base === null) throw new Error(`${this.#snapshotPath} is corrupt`);
      this.#seq = base.seq;
      doc = JSON.parse(base.json) as SnapshotDocument;
    }
    let replayed = 0;
    if (!existsSync(this.#journalPath)) return { doc, replayed, tornRecord };
    const lines = readFileSync(this.#journalPath, 'utf8').split('\n');
    const complete = lines.slice(0, -1); // the text after the last newline is torn
    tornRecord = (lines.at(-1) ?? '') !== '';
    const sessions = new Map((doc?.sessions ?? []).map((s) => [s.id, s]));
    const ended = new Map((doc?.ended ?? []).map((e) => [e.session.id, e]));
    for (const line of complete) {
      const record = unframe(line);
      if (record === null) {
        tornRecord = true;
        break;
      }
      if (record.seq <= this.#seq) continue;
      const change = JSON.parse(record.json) as SnapshotDocument;
      for (const s of change.sessions) {
        ended.delete(s.id);
        sessions.set(s.id, s);
      }
      for (const e of change.ended) {
        sessions.delete(e.session.id);
        ended.set(e.session.id, e);
      }
      doc = { ...change, sessions: [...sessions.values()], ended: [...ended.values()] };
      this.#seq = record.seq;
      replayed += 1;
    }
    return { doc, replayed, tornRecord };
  }
}
