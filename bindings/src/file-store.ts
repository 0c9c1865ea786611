import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';

import { SessionError } from './errors';
import type { SessionManager } from './manager';
import type { LoadReport, SessionChanges, SessionStore, StoreContext, StoreOpened } from './persistence';

/** What `new FileSessionStore(options)` takes. */
export interface FileSessionStoreOptions {
  /** The data directory; created if missing. */
  dir: string;
  /** Compact into a new snapshot after this many journal records (default 1,000). */
  compactAfter?: number;
  /** How often touched sessions' activity is written (default 1,000 ms). */
  activityFlushMs?: number;
  /**
   * Failures that fail no call: a compaction that could not be written (the
   * journal keeps every record meanwhile; tried again after another `compactAfter`
   * records, or at the next checkpoint), a close that failed. Default: the
   * manager's `onError`.
   */
  onError?: (error: SessionError) => void;
  /** The file operations used (default `node:fs`); tests inject failures here. */
  io?: FileStoreIo;
}

/**
 * The synchronous file operations the store uses: `node:fs` by default. Declared
 * here rather than taken from `node:fs`, so the package's types need no Node types.
 */
export interface FileStoreIo {
  openSync(path: string, flags: string | number, mode?: number): number;
  fchmodSync(fd: number, mode: number): void;
  lstatSync(path: string): { isSymbolicLink(): boolean; isDirectory(): boolean; mode: number };
  readdirSync(path: string): string[];
  unlinkSync(path: string): void;
  closeSync(fd: number): void;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  fsyncSync(fd: number): void;
  ftruncateSync(fd: number, length: number): void;
  renameSync(from: string, to: string): void;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): number;
  existsSync(path: string): boolean;
  mkdirSync(path: string, options: { recursive: true; mode?: number }): unknown;
}
/** Files only their owner can read or write; a directory only its owner can enter. */
const PRIVATE_FILE = 0o600;
const PRIVATE_DIR = 0o700;

/** Every open refuses a symbolic link in the last path component: a local attacker
 * who plants one cannot make the store read or write another file. */
const { O_RDONLY, O_WRONLY, O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
const READ = O_RDONLY | O_NOFOLLOW;
const APPEND = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW;
/** A temporary snapshot: a fresh file with a random name, never an existing one. */
const CREATE_NEW = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
const TEMPORARY = /^(snapshot\.json|probe)(\.[0-9a-f]+)?\.tmp$/;
/** How much of the snapshot is written, and read, at a time. */
const PIECE_BYTES = 1 << 20;
const READ_BYTES = 1 << 20;
/** Separates session lines inside one framed line of the snapshot file. */
const RS = '\u001e';

/** A refusal to use the data directory, as `STORAGE_FAILED` carries it. */
function unsafe(message: string): Error {
  return Object.assign(new Error(message), { code: 'EUNSAFE' });
}

interface Frame {
  seq: number;
  json: string;
}

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

/**
 * Sessions that survive restarts, in a data directory, with no server to run:
 * `snapshot.json` (a full core snapshot) plus `journal.log` (one record per save).
 * It is a `SessionStore`: the manager calls it (see `persistence.ts`).
 *
 * Every change the manager saves is appended to the journal and fsynced before the
 * call that made it returns, so a change a server has acknowledged survives
 * SIGKILL. Request activity (which only moves idle deadlines) comes in batches
 * every `activityFlushMs`: after a crash a session may look idle since up to that
 * long before it was last used.
 *
 * Each record is one line `<seq> <sha256 prefix> <core export JSON>`. On start the
 * snapshot is loaded, journal records newer than it are replayed in order, a torn
 * or corrupt record ends the replay (a crash can only tear the last one), and the
 * result is compacted into a new snapshot (written to a temporary file, fsynced,
 * renamed) before the journal is emptied. Records carry sequence numbers, so a
 * crash between the rename and the truncation replays nothing twice.
 *
 * Durability when writes fail (a full disk, an unwritable directory): a change is
 * acknowledged only once its record is fsynced. If the write fails, the torn bytes
 * are cut off the journal and `save` throws `STORAGE_FAILED`: the manager undoes
 * the change and the call that made it fails (503). If the torn bytes cannot be
 * cut, the next save is written as a full compaction instead, so no record ever
 * follows a torn one.
 */
export class FileSessionStore implements SessionStore {
  readonly dir: string;
  readonly activityFlushMs: number;
  readonly #snapshotPath: string;
  readonly #journalPath: string;
  readonly #compactAfter: number;
  readonly #onError: ((error: SessionError) => void) | undefined;
  readonly #io: FileStoreIo;
  #journal: number | undefined;
  /** The journal's length after the last record that was written whole. */
  #journalBytes = 0;
  /** The journal may end in torn bytes: the next save compacts instead. */
  #mustCompact = false;
  #seq = 0;
  #records = 0;
  #context: StoreContext | undefined;

  constructor(options: FileSessionStoreOptions) {
    this.dir = options.dir;
    this.#snapshotPath = join(this.dir, 'snapshot.json');
    this.#journalPath = join(this.dir, 'journal.log');
    this.#compactAfter = options.compactAfter ?? 1_000;
    this.activityFlushMs = options.activityFlushMs ?? 1_000;
    this.#onError = options.onError;
    this.#io = options.io ?? fs;
  }

  /**
   * Attaches this store to `manager` (`manager.attachStore(this)`): restores what
   * the directory holds, compacts it, and from then on the manager saves every
   * change here. If the directory cannot be read or written (unwritable, a corrupt
   * snapshot), this throws `STORAGE_FAILED` and changes nothing.
   */
  attach(manager: SessionManager): LoadReport {
    return manager.attachStore(this);
  }

  /** Part of `SessionStore`: opens the directory and hands its records to `add`. */
  open(context: StoreContext, add: (line: string, newestWins: boolean) => void): StoreOpened {
    if (this.#context !== undefined) throw new Error('FileSessionStore is already open');
    const opened = this.#storage(() => {
      // Session state can hold user data: the directory and files are the owner's
      // alone. Files made before with wider modes are narrowed.
      this.#prepareDirectory();
      this.#journal = this.#io.openSync(this.#journalPath, APPEND, PRIVATE_FILE);
      this.#io.fchmodSync(this.#journal, PRIVATE_FILE);
      this.#probeWritable();
      const found = this.#io.existsSync(this.#snapshotPath) || this.#io.existsSync(this.#journalPath);
      return { found, ...(found ? this.#feed(add) : { replayed: 0, tornRecord: false }) };
    });
    this.#context = context;
    return opened;
  }

  /** Part of `SessionStore`: appends the records and fsyncs, or throws. */
  save(changes: SessionChanges): void {
    const journal = this.#journal;
    if (journal === undefined) throw SessionError.storageFailed(new Error('FileSessionStore is closed'));
    if (this.#mustCompact) {
      // The snapshot holds these changes too, and the compaction empties the journal.
      this.compact();
      return;
    }
    const record = Buffer.from(frame(this.#seq + 1, changes.records));
    try {
      this.#writeAll(journal, record);
      this.#io.fsyncSync(journal);
    } catch (cause) {
      this.#cutTorn(journal);
      throw SessionError.storageFailed(cause);
    }
    this.#seq += 1;
    this.#journalBytes += record.length;
    this.#records += 1;
    if (this.#records >= this.#compactAfter) {
      try {
        this.compact();
      } catch (error) {
        // The record is durable; the journal just grows until a compaction succeeds.
        this.#records = 0;
        this.#report(error as SessionError);
      }
    }
  }

  /** Part of `SessionStore`: `compact`, a failure reported rather than thrown. */
  checkpoint(): void {
    try {
      this.compact();
    } catch (error) {
      this.#report(error instanceof SessionError ? error : SessionError.storageFailed(error));
    }
  }

  /** Writes a full snapshot and empties the journal; throws `STORAGE_FAILED`. */
  compact(): void {
    const context = this.#context;
    if (context === undefined) throw new Error('FileSessionStore is not open');
    this.#storage(() => this.#writeSnapshot(context));
  }

  /**
   * Saves the activity not yet saved, compacts, and closes the journal. Never
   * throws: a shutdown must finish whatever the disk does. What cannot be written
   * goes to `onError`; every acknowledged change is already in the journal, which
   * the next start reads.
   */
  close(): void {
    this.#context?.detach();
    try {
      if (this.#journal !== undefined) this.#io.closeSync(this.#journal);
    } catch (error) {
      this.#report(SessionError.storageFailed(error));
    }
    this.#journal = undefined;
    this.#context = undefined;
  }

  #report(error: SessionError): void {
    if (this.#onError !== undefined) this.#onError(error);
    else this.#context?.onError(error);
  }

  /** Cuts torn bytes off the journal after a failed write; if that fails too, the
   * next save compacts instead. */
  #cutTorn(journal: number): void {
    try {
      this.#io.ftruncateSync(journal, this.#journalBytes);
      this.#io.fsyncSync(journal);
    } catch {
      this.#mustCompact = true;
    }
  }

  /** Runs I/O; a failure becomes `STORAGE_FAILED`. */
  #storage<T>(io: () => T): T {
    try {
      return io();
    } catch (cause) {
      throw cause instanceof SessionError ? cause : SessionError.storageFailed(cause);
    }
  }

  /**
   * Writes `manager`'s snapshot to a temporary file as it comes (a header line, then
   * framed pieces of session lines, then a line that counts them), fsyncs, renames
   * it over the snapshot, then empties the journal. No string ever holds the whole.
   */
  #writeSnapshot(context: StoreContext): void {
    const io = this.#io;
    const temporary = `${this.#snapshotPath}.${randomBytes(8).toString('hex')}.tmp`;
    const fd = io.openSync(temporary, CREATE_NEW, PRIVATE_FILE);
    try {
      let pieces = 0;
      let first = true;
      for (const piece of context.snapshotRecords(PIECE_BYTES)) {
        let records = piece;
        if (first) {
          first = false;
          const end = piece.indexOf('\n');
          this.#writeAll(fd, Buffer.from(frame(this.#seq, end === -1 ? piece : piece.slice(0, end))));
          records = end === -1 ? '' : piece.slice(end + 1);
        }
        if (records === '') continue;
        // Session lines are JSON, which never holds a raw control character: a
        // piece is one framed line with its sessions separated by RS (U+001E).
        this.#writeAll(fd, Buffer.from(frame(this.#seq, records.replaceAll('\n', RS))));
        pieces += 1;
      }
      this.#writeAll(fd, Buffer.from(frame(this.#seq, JSON.stringify({ end: pieces }))));
      io.fsyncSync(fd);
    } finally {
      io.closeSync(fd);
    }
    io.renameSync(temporary, this.#snapshotPath);
    this.#syncDir();
    this.#mustCompact = false;
    this.#records = 0;
    if (this.#journal !== undefined) {
      // Records left here (if this fails) are older than the snapshot: replay skips them.
      io.ftruncateSync(this.#journal, 0);
      io.fsyncSync(this.#journal);
      this.#journalBytes = 0;
    }
  }

  /** `writeSync` until all of `bytes` is written (it may write part and return). */
  #writeAll(fd: number, bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) done += this.#io.writeSync(fd, bytes, done, bytes.length - done);
  }

  /**
   * Makes the data directory (0700), or checks the one that is there: a symbolic
   * link, or a directory that others may write to (where they could plant files),
   * is refused with a clear error rather than used. Temporary snapshots a crash
   * left behind are removed.
   */
  #prepareDirectory(): void {
    const io = this.#io;
    if (!io.existsSync(this.dir)) {
      io.mkdirSync(this.dir, { recursive: true, mode: PRIVATE_DIR });
    }
    const dir = io.lstatSync(this.dir);
    if (dir.isSymbolicLink()) throw unsafe(`the data directory ${this.dir} is a symbolic link`);
    if (!dir.isDirectory()) throw unsafe(`the data directory ${this.dir} is not a directory`);
    if ((dir.mode & 0o022) !== 0) {
      throw unsafe(`the data directory ${this.dir} is writable by others (mode ${(dir.mode & 0o777).toString(8)})`);
    }
    for (const name of io.readdirSync(this.dir)) {
      if (TEMPORARY.test(name)) io.unlinkSync(join(this.dir, name));
    }
  }

  #syncDir(): void {
    const fd = this.#io.openSync(this.dir, 'r');
    try {
      this.#io.fsyncSync(fd);
    } finally {
      this.#io.closeSync(fd);
    }
  }

  /**
   * Hands what the directory holds to `add`, one line at a time: the snapshot's
   * lines (or, from an older version, its one document), then the journal records
   * newer than it (newest winning). A torn or corrupt journal record ends the
   * replay (a crash can only tear the last one); a corrupt snapshot throws.
   */
  #feed(add: (line: string, newestWins: boolean) => void): { replayed: number; tornRecord: boolean } {
    this.#seq = 0;
    if (this.#io.existsSync(this.#snapshotPath)) this.#feedSnapshot(add);
    let replayed = 0;
    let tornRecord = false;
    if (this.#io.existsSync(this.#journalPath)) {
      for (const { text, complete } of this.#lines(this.#journalPath)) {
        const record = complete ? unframe(text) : null;
        if (record === null) {
          tornRecord = true;
          break;
        }
        if (record.seq <= this.#seq) continue; // already in the snapshot
        add(record.json, true);
        this.#seq = record.seq;
        replayed += 1;
      }
    }
    return { replayed, tornRecord };
  }

  #feedSnapshot(add: (line: string, newestWins: boolean) => void): void {
    const corrupt = (why: string) => new Error(`${this.#snapshotPath} is corrupt: ${why}`);
    let seq: number | undefined;
    let pieces = 0;
    let ended = false;
    for (const { text, complete } of this.#lines(this.#snapshotPath)) {
      const line = complete ? unframe(text) : null;
      if (line === null) throw corrupt('a torn or altered line');
      if (ended) throw corrupt('lines after its end');
      if (seq === undefined) {
        seq = line.seq;
        add(line.json, false); // the header, or a whole snapshot of an older version
        continue;
      }
      if (line.seq !== seq) throw corrupt('lines of two snapshots');
      if (line.json.startsWith('{"end":')) {
        if ((JSON.parse(line.json) as { end: unknown }).end !== pieces) throw corrupt('lines are missing');
        ended = true;
        continue;
      }
      for (const record of line.json.split(RS)) add(record, false);
      pieces += 1;
    }
    if (seq === undefined) throw corrupt('it is empty');
    // An older version's snapshot is one line; this version's ends with its count.
    if (!ended && pieces > 0) throw corrupt('it ends early');
    this.#seq = seq;
  }

  /** The lines of a file, read a block at a time (never as one string); the last
   * one is incomplete if the file does not end with a newline. */
  *#lines(path: string): Generator<{ text: string; complete: boolean }> {
    const fd = this.#io.openSync(path, READ);
    try {
      const block = Buffer.alloc(READ_BYTES);
      let partial: Buffer[] = [];
      for (;;) {
        const n = this.#io.readSync(fd, block, 0, block.length, null);
        if (n === 0) break;
        let start = 0;
        for (let end = block.indexOf(0x0a, start); end !== -1 && end < n; end = block.indexOf(0x0a, start)) {
          partial.push(block.subarray(start, end));
          yield { text: Buffer.concat(partial).toString('utf8'), complete: true };
          partial = [];
          start = end + 1;
        }
        if (start < n) partial.push(Buffer.from(block.subarray(start, n)));
      }
      if (partial.length > 0) yield { text: Buffer.concat(partial).toString('utf8'), complete: false };
    } finally {
      this.#io.closeSync(fd);
    }
  }

  /** Fails (before anything is read or changed) if the directory cannot be written. */
  #probeWritable(): void {
    const probe = join(this.dir, `probe.${randomBytes(8).toString('hex')}.tmp`);
    const fd = this.#io.openSync(probe, CREATE_NEW, PRIVATE_FILE);
    try {
      this.#writeAll(fd, Buffer.from('probe\n'));
      this.#io.fsyncSync(fd);
    } finally {
      this.#io.closeSync(fd);
      this.#io.unlinkSync(probe);
    }
  }
}
