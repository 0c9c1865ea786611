import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';

import { SessionError } from './errors';
import type { SessionManager } from './manager';
import type { LoadReport, SessionChanges, SessionStore, StoreContext, StoreOpened } from './persistence';

/** What `new FileSessionStore(options)` takes. */
export interface FileSessionStoreOptions {
  /** The data directory; created if missing. */
  dir: string;
  /**
   * Compact (in the background) once the journal written since the last snapshot
   * is larger than this percentage of the snapshot (default 100, as Redis's
   * `auto-aof-rewrite-percentage`), and at least `compactMinBytes`. So the cost of
   * compacting is O(1) per change, amortised, whatever the store's size.
   */
  compactPercentage?: number;
  /** The journal compacts only once it holds at least this many bytes (default 1 MiB). */
  compactMinBytes?: number;
  /**
   * @deprecated Compaction follows the journal's size (`compactPercentage`,
   * `compactMinBytes`). If set, a background compaction also starts after this
   * many journal records (for tests that want compactions often).
   */
  compactAfter?: number;
  /**
   * How much of the snapshot a background compaction serialises and writes per
   * turn of the event loop (default 4 KiB, about a dozen sessions): what bounds the
   * pause a compaction can add to a request. It fsyncs what it wrote every 4 MiB,
   * in a turn of its own.
   */
  compactBytesPerTurn?: number;
  /** How often touched sessions' activity is written (default 1,000 ms). */
  activityFlushMs?: number;
  /**
   * Failures that fail no call: a compaction that could not be written (the
   * journal keeps every record meanwhile; tried again after the journal grows
   * further, or at the next checkpoint), a close that failed. Default: the
   * manager's `onError`.
   */
  onError?: (error: SessionError) => void;
  /** The file operations used (default `node:fs`); tests inject failures here. */
  io?: FileStoreIo;
}

/**
 * The file operations the store uses: `node:fs` by default. Declared here rather
 * than taken from `node:fs`, so the package's types need no Node types. The
 * journal is written with the synchronous ones (a change is durable before the
 * call returns); a background compaction cuts the files it replaced down 8 MiB a
 * turn (`ftruncateSync`), then removes them with `unlink` (asynchronous)
 * when it is there, and with `unlinkSync` otherwise.
 */
export interface FileStoreIo {
  openSync(path: string, flags: string | number, mode?: number): number;
  fchmodSync(fd: number, mode: number): void;
  lstatSync(path: string): { isSymbolicLink(): boolean; isDirectory(): boolean; mode: number; size: number };
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
  unlink?(path: string, callback: (error: Error | null) => void): void;
}

/** What the store is doing, for operators and tests (`store.status`). */
export interface FileStoreStatus {
  /** A background compaction is under way. */
  compacting: boolean;
  /** Compactions finished since the store was opened (background or not). */
  compactions: number;
  /** The size of the snapshot the directory holds, in bytes. */
  snapshotBytes: number;
  /** Journal records written since that snapshot began, in bytes: what a restart
   * replays, and what the next compaction waits for. */
  journalBytes: number;
  /** Journal segment files on disk. */
  segments: number;
  /** The sequence number of the last record written. */
  seq: number;
}

/** Files only their owner can read or write; a directory only its owner can enter. */
const PRIVATE_FILE = 0o600;
const PRIVATE_DIR = 0o700;

/** Every open refuses a symbolic link in the last path component: a local attacker
 * who plants one cannot make the store read or write another file. */
const { O_RDONLY, O_WRONLY, O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
const READ = O_RDONLY | O_NOFOLLOW;
/** A fresh file, never an existing one: temporary snapshots and new segments. */
const CREATE_NEW = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
const CREATE_SEGMENT = CREATE_NEW | O_APPEND;
const TEMPORARY = /^(snapshot(\.\d+)?\.(json|bin)|probe)(\.[0-9a-f]+)?\.tmp$/;
/** `snapshot.<seq>.bin` (`.json` before version 2): a snapshot holding every
 * record up to `seq`. */
const SNAPSHOT = /^snapshot\.(\d{1,15})\.(json|bin)$/;
/** `journal.<start>.log`: a journal segment whose first record is `start`. */
const SEGMENT = /^journal\.(\d{1,15})\.log$/;
/** The files of the layout before segments (still read, then replaced). */
const LEGACY_SNAPSHOT = 'snapshot.json';
const LEGACY_JOURNAL = 'journal.log';
/** The first line of every segment and snapshot file this version writes. */
const JOURNAL_FORMAT = 'mcp-session-core/journal';
const CHECKPOINT_FORMAT = 'mcp-session-core/checkpoint';
/** Journal segments: framed lines of JSON records. */
const JOURNAL_VERSION = 1;
/** Snapshot files: version 1 held framed lines of JSON records (still read);
 * version 2 holds the core's binary pieces (snapshot version 3) in binary frames,
 * several times smaller and faster to restore. */
const CHECKPOINT_VERSION = 2;
/** A binary frame's head: the piece's length (u32, little-endian), then the first
 * 8 bytes of its SHA-256. A frame of length 0 ends the file, followed by the
 * number of pieces (u32). */
const FRAME_HEAD = 12;
const DIGEST_BYTES = 8;
/** How much of the snapshot is written, and read, at a time in one go. */
const PIECE_BYTES = 1 << 20;
const READ_BYTES = 1 << 20;
/** A background compaction fsyncs its snapshot every this many bytes, in a turn of
 * its own: so a flush is short, and the journal's fsyncs never queue behind a
 * large one. */
const FLUSH_BYTES = 4 << 20;
/** How much of a replaced file is cut off per turn before it is removed. */
const REMOVE_STEP = 8 << 20;
/** Separates session lines inside one framed line of a version 1 snapshot file. */
const RS = '\u001e';

/** A refusal to use the data directory, as `STORAGE_FAILED` carries it. */
function unsafe(message: string): Error {
  return Object.assign(new Error(message), { code: 'EUNSAFE' });
}

/** A file the store cannot read as it is: `STORAGE_FAILED`, nothing overwritten. */
function damaged(message: string): Error {
  return Object.assign(new Error(message), { code: 'ECORRUPT' });
}

interface Frame {
  seq: number;
  json: string;
}

const digest = (json: string) => createHash('sha256').update(json).digest('hex').slice(0, 16);

function frame(seq: number, json: string): string {
  return `${seq} ${digest(json)} ${json}\n`;
}

/** Parses one framed line (its bytes, without the newline); null if torn or
 * corrupt. The digest is taken over the bytes as read: the JSON is decoded once,
 * and only once it is known whole. */
function unframe(line: Buffer): Frame | null {
  const first = line.indexOf(0x20);
  const second = line.indexOf(0x20, first + 1);
  if (first <= 0 || second <= first) return null;
  const seq = Number(line.toString('latin1', 0, first));
  const json = line.subarray(second + 1);
  const hash = createHash('sha256').update(json).digest('hex').slice(0, 16);
  if (!Number.isSafeInteger(seq) || hash !== line.toString('latin1', first + 1, second)) return null;
  return { seq, json: json.toString('utf8') };
}

/** The header of a file of `format` in a version up to `newest`, or what is
 * wrong with it. */
function fileHeader(json: string, format: string, name: string, newest: number): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(json);
  } catch {
    header = null;
  }
  const fields = header as Record<string, unknown> | null;
  if (typeof fields !== 'object' || fields === null || fields.format !== format || typeof fields.version !== 'number') {
    throw damaged(`${name} is corrupt: its first line is not a ${format} header`);
  }
  if (fields.version > newest) {
    throw damaged(
      `${name} was written by a newer version of the file store (format version ${fields.version}; ` +
        `this version reads up to ${newest}): nothing was changed`,
    );
  }
  if (!Number.isInteger(fields.version) || fields.version < 1) {
    throw damaged(`${name} is corrupt: format version ${String(fields.version)}`);
  }
  return fields;
}

const pieceDigest = (piece: Uint8Array) => createHash('sha256').update(piece).digest().subarray(0, DIGEST_BYTES);

/** A piece of the snapshot as a binary frame (see `FRAME_HEAD`). */
function framePiece(piece: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEAD + piece.length);
  out.writeUInt32LE(piece.length, 0);
  pieceDigest(piece).copy(out, 4);
  out.set(piece, FRAME_HEAD);
  return out;
}

/** The frame that ends a snapshot file: length 0, then how many pieces it holds. */
function endFrame(pieces: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeUInt32LE(pieces, 4);
  return out;
}

/**
 * The store open on each directory in this process. A directory is one store's
 * at a time: opening another store on it fences the first (its saves fail, its
 * compaction stops), as if its process had died, so that it never removes files
 * the new one needs.
 */
const openStores = new Map<string, WeakRef<FileSessionStore>>();

/** A compaction not begun yet. */
function blank(): Compaction {
  return {
    seq: -1,
    temp: '',
    fd: undefined,
    pieces: [][Symbol.iterator](),
    count: 0,
    bytes: 0,
    unflushed: 0,
    installed: false,
    cancelled: false,
  };
}

/** The next turn of the event loop, after the I/O that waits. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Reads a file front to back, a block at a time: a first line, then runs of
 * bytes. What `take` returns is a view into the reader's buffer, valid until the
 * next call. A length beyond what the file holds is never allocated: it answers
 * null, as a file that ends early does.
 */
class FileReader {
  readonly #io: FileStoreIo;
  readonly #fd: number;
  #remaining: number;
  #buffer = Buffer.alloc(READ_BYTES);
  #start = 0;
  #end = 0;
  /** Bytes handed out so far. */
  offset = 0;

  constructor(io: FileStoreIo, path: string) {
    this.#io = io;
    this.#remaining = io.lstatSync(path).size;
    this.#fd = io.openSync(path, READ);
  }

  /** The first line's bytes (without its newline), or null if it has none. */
  line(): Buffer | null {
    this.#fill(Math.min(READ_BYTES, this.#remaining));
    const at = this.#buffer.subarray(this.#start, this.#end).indexOf(0x0a);
    if (at === -1) return null;
    const line = this.#buffer.subarray(this.#start, this.#start + at);
    this.#start += at + 1;
    this.offset += at + 1;
    return line;
  }

  /** The next `n` bytes, or null if the file holds fewer. */
  take(n: number): Buffer | null {
    if (n > this.#end - this.#start + this.#remaining) return null;
    this.#fill(n);
    const bytes = this.#buffer.subarray(this.#start, this.#start + n);
    this.#start += n;
    this.offset += n;
    return bytes;
  }

  atEnd(): boolean {
    return this.#start === this.#end && this.#remaining === 0;
  }

  close(): void {
    this.#io.closeSync(this.#fd);
  }

  /** Makes at least `n` bytes (no more than the file holds) ready in the buffer. */
  #fill(n: number): void {
    if (this.#end - this.#start >= n) return;
    if (this.#buffer.length < n) {
      const larger = Buffer.alloc(Math.max(n, this.#buffer.length * 2));
      this.#buffer.copy(larger, 0, this.#start, this.#end);
      this.#buffer = larger;
    } else {
      this.#buffer.copy(this.#buffer, 0, this.#start, this.#end);
    }
    this.#end -= this.#start;
    this.#start = 0;
    while (this.#end < n && this.#remaining > 0) {
      const read = this.#io.readSync(this.#fd, this.#buffer, this.#end, this.#buffer.length - this.#end, null);
      if (read === 0) {
        this.#remaining = 0;
        break;
      }
      this.#end += read;
      this.#remaining = Math.max(0, this.#remaining - read);
    }
  }
}

/** A journal segment on disk. */
interface Segment {
  /** The sequence number of its first record (-1 for the legacy `journal.log`). */
  start: number;
  path: string;
  /** Bytes and records in it not covered by the snapshot: what a restart replays. */
  bytes: number;
  records: number;
}

/** The segment being written. */
interface OpenSegment extends Segment {
  fd: number;
  /** The file's length after the last whole write: torn bytes are cut back to it. */
  length: number;
}

/** A compaction under way: a snapshot of every record up to `seq`. */
interface Compaction {
  seq: number;
  temp: string;
  fd: number | undefined;
  pieces: Iterator<Uint8Array>;
  count: number;
  bytes: number;
  unflushed: number;
  installed: boolean;
  /** Set when a synchronous compaction (or `close`) took over: this one stops. */
  cancelled: boolean;
  done?: Promise<boolean>;
}

/**
 * Sessions that survive restarts, in a data directory, with no server to run:
 * the newest snapshot (`snapshot.<seq>.bin`) plus the journal, in segments
 * (`journal.<first seq>.log`), one record per save. It is a `SessionStore`: the
 * manager calls it (see `persistence.ts`).
 *
 * Every change the manager saves is appended to the current segment and fsynced
 * before the call that made it returns, so a change a server has acknowledged
 * survives SIGKILL. Request activity (which only moves idle deadlines) comes in
 * batches every `activityFlushMs`: after a crash a session may look idle since up
 * to that long before it was last used.
 *
 * Compaction runs in the background, a bounded piece per turn of the event loop:
 * it starts a new segment, then writes every session as it finds it, piece by
 * piece, while changes go on into the new segment. Records are whole session
 * images and the newest wins, so the snapshot (taken while sessions changed) plus
 * every record of the new segment is the store. Once the snapshot is fsynced and
 * renamed into place, the older segments and snapshot are removed. It starts when
 * the journal has grown past `compactPercentage` of the snapshot.
 *
 * On start the newest snapshot is loaded, then the segments' records after it, in
 * order: a torn or corrupt record ends its segment (a crash can only tear the last
 * record written), and the next segment must go on from the last record read, or
 * the start fails (`STORAGE_FAILED`: records are missing) and nothing is changed.
 * Each start writes to a new segment, and compacts in the background.
 *
 * Durability when writes fail (a full disk, an unwritable directory): a change is
 * acknowledged only once its record is fsynced. If the write fails, the torn bytes
 * are cut off the segment and `save` throws `STORAGE_FAILED`: the manager undoes
 * the change and the call that made it fails (503). If the torn bytes cannot be
 * cut, the next save starts a new segment first, so no record ever follows torn
 * bytes in a segment.
 */
export class FileSessionStore implements SessionStore {
  readonly dir: string;
  readonly activityFlushMs: number;
  readonly #percentage: number;
  readonly #minBytes: number;
  readonly #compactAfter: number | undefined;
  readonly #bytesPerTurn: number;
  readonly #onError: ((error: SessionError) => void) | undefined;
  readonly #io: FileStoreIo;
  /** The segment written to; undefined before `open` and after `close`, or when a
   * new one could not be started. */
  #segment: OpenSegment | undefined;
  /** Older segments still on disk, oldest first. */
  #older: Segment[] = [];
  /** The next save starts a new segment first (the current one may end in torn bytes). */
  #mustRotate = false;
  #seq = 0;
  /** Bytes of records saved by calls and the timer since the store was made (paces
   * background compaction). */
  #saved = 0;
  /** The snapshot on disk: up to which record, its size, and whether this store
   * wrote it (then it holds every session the manager had at `seq`). */
  #snapshot: { seq: number; bytes: number; own: boolean } | undefined;
  #compaction: Compaction | undefined;
  #compactions = 0;
  #context: StoreContext | undefined;
  #open = false;
  #fenced = false;
  /** After a background compaction failed, the next waits this long (1 s, doubling
   * up to a minute while they keep failing), so a full disk is not retried on
   * every save. */
  #retryMs = 0;
  #retryAt = 0;

  constructor(options: FileSessionStoreOptions) {
    this.dir = options.dir;
    this.#percentage = options.compactPercentage ?? 100;
    this.#minBytes = options.compactMinBytes ?? 1 << 20;
    this.#compactAfter = options.compactAfter;
    this.#bytesPerTurn = Math.max(1, options.compactBytesPerTurn ?? 4 << 10);
    this.activityFlushMs = options.activityFlushMs ?? 1_000;
    this.#onError = options.onError;
    this.#io = options.io ?? fs;
  }

  /**
   * Attaches this store to `manager` (`manager.attachStore(this)`): restores what
   * the directory holds, and from then on the manager saves every change here (a
   * compaction starts in the background). If the directory cannot be read or
   * written (unwritable, a corrupt snapshot, records missing), this throws
   * `STORAGE_FAILED` and changes nothing.
   */
  attach(manager: SessionManager): LoadReport {
    return manager.attachStore(this);
  }

  /** What the store is doing: see `FileStoreStatus`. */
  get status(): FileStoreStatus {
    return {
      compacting: this.#compaction !== undefined,
      compactions: this.#compactions,
      snapshotBytes: this.#snapshot?.bytes ?? 0,
      journalBytes: this.#journal().bytes,
      segments: this.#older.length + (this.#segment === undefined ? 0 : 1),
      seq: this.#seq,
    };
  }

  /** Part of `SessionStore`: opens the directory and hands its records to `add`. */
  open(context: StoreContext, add: (line: string, newestWins: boolean) => void, addPiece: (piece: Uint8Array, newestWins: boolean) => void): StoreOpened {
    if (this.#context !== undefined) throw new Error('FileSessionStore is already open');
    const opened = this.#storage(() => {
      // Session state can hold user data: the directory and files are the owner's
      // alone. Files made before with wider modes are narrowed.
      this.#prepareDirectory();
      this.#probeWritable();
      this.#older = [];
      this.#snapshot = undefined;
      this.#segment = undefined;
      this.#mustRotate = false;
      const loaded = this.#load(add, addPiece);
      this.#rotate();
      return loaded;
    });
    const key = resolve(this.dir);
    const previous = openStores.get(key)?.deref();
    if (previous !== undefined && previous !== this) previous.#fence();
    openStores.set(key, new WeakRef(this));
    this.#context = context;
    this.#open = true;
    this.#fenced = false;
    return opened;
  }

  /** Stops this store for good: another store took its directory. */
  #fence(): void {
    this.#cancel();
    if (this.#segment !== undefined) this.#closeQuietly(this.#segment.fd);
    this.#segment = undefined;
    this.#open = false;
    this.#fenced = true;
  }

  /** Part of `SessionStore`: appends the records and fsyncs, or throws. */
  save(changes: SessionChanges): void {
    if (!this.#open) {
      // A fenced store's manager (its process as good as dead) batches activity on
      // its timer: nothing to write, and nobody to tell.
      if (this.#fenced && changes.cause === 'activity') return;
      throw SessionError.storageFailed(new Error('FileSessionStore is closed'));
    }
    if (this.#mustRotate || this.#segment === undefined) this.#storage(() => this.#rotate());
    const segment = this.#segment as OpenSegment;
    const record = Buffer.from(frame(this.#seq + 1, changes.records));
    try {
      this.#writeAll(segment.fd, record);
      this.#io.fsyncSync(segment.fd);
    } catch (cause) {
      this.#cutTorn(segment);
      throw SessionError.storageFailed(cause);
    }
    this.#seq += 1;
    // Activity batches (a few hundred sessions at most, every 512 calls) are left
    // out: a piece a turn outpaces them many times over, and counting one would
    // make the compaction's next turn a large one.
    if (changes.cause !== 'activity') this.#saved += record.length;
    segment.length += record.length;
    segment.bytes += record.length;
    segment.records += 1;
    if (this.#compaction === undefined && this.#due()) void this.compactInBackground();
  }

  /**
   * Part of `SessionStore`. At attach, starts a compaction in the background (the
   * directory then holds one snapshot of what was restored, and the sessions the
   * manager held before). At detach (or with no reason), compacts now:
   * `compact`, a failure reported rather than thrown.
   */
  checkpoint(reason?: 'attach' | 'detach'): void {
    if (!this.#open) return; // fenced: another store has the directory
    if (reason === 'attach') {
      void this.compactInBackground();
      return;
    }
    try {
      if (!this.#upToDate()) this.compact();
    } catch (error) {
      this.#report(error instanceof SessionError ? error : SessionError.storageFailed(error));
    }
  }

  /**
   * Writes a full snapshot now, in one go (O(n) on the event loop: for shutdown
   * and tests; the store compacts in the background on its own), and removes the
   * segments and snapshot it replaces. A background compaction under way is
   * abandoned. Throws `STORAGE_FAILED`.
   */
  compact(): void {
    const context = this.#context;
    if (context === undefined || !this.#open) throw new Error('FileSessionStore is not open');
    this.#cancel();
    this.#storage(() => {
      const compaction = blank();
      try {
        this.#begin(compaction, context, PIECE_BYTES);
        while (!this.#step(compaction)) {
          // every piece at once
        }
        this.#end(compaction);
        this.#io.fsyncSync(compaction.fd as number);
        this.#install(compaction);
      } finally {
        this.#abandon(compaction);
      }
      for (const path of this.#covered(compaction.seq)) this.#unlinkQuietly(path);
    });
  }

  /**
   * Starts a compaction in the background, unless one is under way, and resolves
   * when it ends: true if it wrote a snapshot, false if it failed (the failure
   * went to `onError`; the journal keeps every record) or was abandoned. Each
   * turn of the event loop it serialises and writes about `compactBytesPerTurn`
   * of the snapshot; the `requestState` ledger (at most `maxRedeemedTokens`
   * entries) is taken in one turn, so that no entry moves while it is read.
   */
  compactInBackground(): Promise<boolean> {
    if (this.#compaction !== undefined) return this.#compaction.done as Promise<boolean>;
    const context = this.#context;
    if (context === undefined || !this.#open) return Promise.resolve(false);
    const compaction = blank();
    this.#compaction = compaction;
    compaction.done = this.#background(compaction, context);
    return compaction.done;
  }

  /**
   * Saves the activity not yet saved, compacts (finishing the journal into one
   * snapshot), and closes the journal. Never throws: a shutdown must finish
   * whatever the disk does. What cannot be written goes to `onError`; every
   * acknowledged change is already in the journal, which the next start reads.
   */
  close(): void {
    this.#context?.detach();
    this.#cancel();
    try {
      if (this.#segment !== undefined) this.#io.closeSync(this.#segment.fd);
    } catch (error) {
      this.#report(SessionError.storageFailed(error));
    }
    this.#segment = undefined;
    this.#open = false;
    this.#context = undefined;
    if (openStores.get(resolve(this.dir))?.deref() === this) openStores.delete(resolve(this.dir));
  }

  #report(error: SessionError): void {
    if (this.#onError !== undefined) this.#onError(error);
    else this.#context?.onError(error);
  }

  /** Journal not covered by the snapshot: bytes and records. */
  #journal(): { bytes: number; records: number } {
    let bytes = 0;
    let records = 0;
    for (const segment of this.#older) {
      bytes += segment.bytes;
      records += segment.records;
    }
    bytes += this.#segment?.bytes ?? 0;
    records += this.#segment?.records ?? 0;
    return { bytes, records };
  }

  /** Whether the journal has grown enough to compact. */
  #due(): boolean {
    if (this.#retryAt !== 0 && Date.now() < this.#retryAt) return false;
    const journal = this.#journal();
    if (this.#compactAfter !== undefined && journal.records >= this.#compactAfter) return true;
    const threshold = Math.max(((this.#snapshot?.bytes ?? 0) * this.#percentage) / 100, this.#minBytes);
    return journal.bytes > threshold;
  }

  /** The snapshot this store wrote holds everything: nothing was saved since,
   * and no older file is left to replace. */
  #upToDate(): boolean {
    return this.#snapshot?.own === true && this.#snapshot.seq === this.#seq && this.#older.length === 0;
  }

  /** Cuts torn bytes off the segment after a failed write; if that fails too, the
   * next save starts a new segment. */
  #cutTorn(segment: OpenSegment): void {
    try {
      this.#io.ftruncateSync(segment.fd, segment.length);
      this.#io.fsyncSync(segment.fd);
    } catch {
      this.#mustRotate = true;
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

  #segmentPath(start: number): string {
    return join(this.dir, `journal.${start}.log`);
  }

  #snapshotPath(seq: number): string {
    return join(this.dir, `snapshot.${seq}.bin`);
  }

  /** Whether `path` exists, as itself (a symbolic link counts, and is not followed). */
  #present(path: string): boolean {
    try {
      this.#io.lstatSync(path);
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') return false;
      throw error;
    }
  }

  /**
   * Starts a new segment, `journal.<seq + 1>.log`: created, its header written and
   * fsynced, the directory fsynced, and only then written to. A segment that
   * already begins there and holds nothing is kept. A file of that name that is
   * not the current segment holds no acknowledged record (every record up to
   * `seq` is elsewhere), so it is replaced.
   */
  #rotate(): void {
    const io = this.#io;
    const start = this.#seq + 1;
    const current = this.#segment;
    if (current !== undefined && current.start === start && !this.#mustRotate) return;
    const path = this.#segmentPath(start);
    if (current !== undefined && current.path === path) {
      // It holds only torn bytes after its header: nothing acknowledged.
      this.#segment = undefined;
      this.#closeQuietly(current.fd);
    }
    if (this.#present(path)) {
      io.unlinkSync(path);
      this.#older = this.#older.filter((segment) => segment.path !== path);
    }
    const fd = io.openSync(path, CREATE_SEGMENT, PRIVATE_FILE);
    const header = Buffer.from(frame(start, JSON.stringify({ format: JOURNAL_FORMAT, version: JOURNAL_VERSION, start })));
    try {
      this.#writeAll(fd, header);
      io.fsyncSync(fd);
      this.#syncDir();
    } catch (error) {
      this.#closeQuietly(fd);
      this.#unlinkQuietly(path);
      throw error;
    }
    if (this.#segment !== undefined) {
      const { fd: old, ...closed } = this.#segment;
      this.#older.push(closed);
      this.#closeQuietly(old);
    }
    this.#segment = { start, path, bytes: 0, records: 0, fd, length: header.length };
    this.#mustRotate = false;
  }

  /**
   * The first steps of a compaction, in one turn: a new segment (records from now
   * on go there), then a temporary file for the snapshot of every record up to
   * the last one written (its header line written), and the manager's snapshot
   * pieces to fill it with.
   */
  #begin(compaction: Compaction, context: StoreContext, pieceBytes: number): void {
    this.#rotate();
    const seq = this.#seq;
    compaction.seq = seq;
    compaction.temp = `${this.#snapshotPath(seq)}.${randomBytes(8).toString('hex')}.tmp`;
    compaction.fd = this.#io.openSync(compaction.temp, CREATE_NEW, PRIVATE_FILE);
    const header = frame(seq, JSON.stringify({ format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, seq }));
    this.#putBytes(compaction, Buffer.from(header));
    compaction.pieces = context.snapshotPieces(pieceBytes)[Symbol.iterator]();
  }

  /**
   * Writes the next pieces of the snapshot, each as a binary frame, at least
   * `budget` bytes of them. (The core keeps the `requestState` ledger whole in
   * the last piece: its order moves as entries expire.) Returns true when every
   * piece is written.
   */
  #step(compaction: Compaction, budget = 0): boolean {
    const until = compaction.bytes + budget;
    do {
      const next = compaction.pieces.next();
      if (next.done === true) return true;
      // A piece may hold nothing (the rest of the table was due or forgotten when
      // it was taken): it is left out, for a frame of length 0 ends the file.
      if (next.value.length === 0) continue;
      this.#putBytes(compaction, framePiece(next.value));
      compaction.count += 1;
    } while (compaction.bytes < until);
    return false;
  }

  /** The snapshot's end: how many pieces it holds. */
  #end(compaction: Compaction): void {
    this.#putBytes(compaction, endFrame(compaction.count));
  }

  #putBytes(compaction: Compaction, bytes: Uint8Array): void {
    this.#writeAll(compaction.fd as number, bytes);
    compaction.bytes += bytes.length;
    compaction.unflushed += bytes.length;
  }

  /**
   * Puts a written and fsynced snapshot in place: closed, renamed to
   * `snapshot.<seq>.bin`, the directory fsynced. From then on the snapshot and
   * the segments after `seq` are the store; older files are garbage.
   */
  #install(compaction: Compaction): void {
    const io = this.#io;
    const fd = compaction.fd as number;
    compaction.fd = undefined;
    io.closeSync(fd);
    io.renameSync(compaction.temp, this.#snapshotPath(compaction.seq));
    compaction.installed = true;
    this.#syncDir();
    this.#snapshot = { seq: compaction.seq, bytes: compaction.bytes, own: true };
    this.#older = this.#older.filter((segment) => segment.start > compaction.seq);
    this.#compactions += 1;
  }

  /** Closes and removes the temporary file of a compaction not installed. */
  #abandon(compaction: Compaction): void {
    if (compaction.fd !== undefined) {
      this.#closeQuietly(compaction.fd);
      compaction.fd = undefined;
    }
    if (!compaction.installed && compaction.temp !== '') this.#unlinkQuietly(compaction.temp);
  }

  /** Stops the background compaction under way, if any (it removes its file). */
  #cancel(): void {
    if (this.#compaction === undefined) return;
    this.#compaction.cancelled = true;
    this.#compaction = undefined;
  }

  /** Files that a snapshot up to `seq` replaces: older snapshots, and segments
   * whose records are all in it. */
  #covered(seq: number): string[] {
    const paths: string[] = [];
    for (const name of this.#io.readdirSync(this.dir)) {
      const snapshot = SNAPSHOT.exec(name);
      const segment = SEGMENT.exec(name);
      if (
        name === LEGACY_SNAPSHOT ||
        name === LEGACY_JOURNAL ||
        // An older version's file of the same `seq` (`.json`) is replaced too.
        (snapshot !== null && Number(snapshot[1]) <= seq && join(this.dir, name) !== this.#snapshotPath(seq)) ||
        (segment !== null && Number(segment[1]) <= seq)
      ) {
        paths.push(join(this.dir, name));
      }
    }
    return paths;
  }

  /**
   * A compaction spread over turns of the event loop (see `compactInBackground`).
   * Each turn does one bounded thing: write the next pieces to the page cache, or
   * fsync what was written (at most `FLUSH_BYTES`, a couple of milliseconds on a
   * fast disk, once every thousand turns). The flush is synchronous on purpose: done in the threadpool, it
   * would overlap the journal's fsyncs, which would then wait for the snapshot's
   * data (the flush allocates its blocks in the file system's running
   * transaction); done here, it is over before the next save begins.
   */
  async #background(compaction: Compaction, context: StoreContext): Promise<boolean> {
    try {
      await nextTurn(); // never in the turn of the save that asked for it
      if (compaction.cancelled) return false;
      this.#begin(compaction, context, this.#bytesPerTurn);
      let saved = this.#saved;
      let done = false;
      while (!done) {
        await nextTurn();
        if (compaction.cancelled) return false;
        if (compaction.unflushed >= FLUSH_BYTES) {
          compaction.unflushed = 0;
          this.#io.fsyncSync(compaction.fd as number);
          continue;
        }
        // A piece a turn; or twice what was saved since the last turn, so that a
        // turn full of saves cannot outrun the compaction (its own work stays in
        // proportion to theirs).
        const budget = Math.max(this.#bytesPerTurn, 2 * (this.#saved - saved));
        saved = this.#saved;
        done = this.#step(compaction, budget);
      }
      await nextTurn();
      if (compaction.cancelled) return false;
      this.#end(compaction);
      this.#io.fsyncSync(compaction.fd as number);
      await nextTurn();
      if (compaction.cancelled) return false;
      this.#install(compaction);
      this.#retryMs = 0;
      this.#retryAt = 0;
      for (const path of this.#covered(compaction.seq)) await this.#remove(path);
      return true;
    } catch (error) {
      if (!compaction.cancelled) {
        this.#retryMs = Math.min(Math.max(this.#retryMs * 2, 1_000), 60_000);
        this.#retryAt = Date.now() + this.#retryMs;
        this.#report(error instanceof SessionError ? error : SessionError.storageFailed(error));
      }
      return false;
    } finally {
      this.#abandon(compaction);
      if (this.#compaction === compaction) this.#compaction = undefined;
    }
  }

  /**
   * Removes a file the snapshot replaced, cut down `REMOVE_STEP` bytes a turn first:
   * freeing a large file's blocks at once (an unlink of 330 MB takes some 60 ms)
   * holds the file system's journal, and the journal's fsyncs meanwhile wait for
   * it (26 ms measured); cut down on the event loop 8 MiB at a time (2 ms a
   * turn), it delays none of them. A file that
   * cannot be removed now is left for the next compaction (it is garbage either
   * way: a crash meanwhile leaves it shortened, and never read).
   */
  async #remove(path: string): Promise<void> {
    const io = this.#io;
    let fd: number | undefined;
    try {
      let size = io.lstatSync(path).size;
      if (size > REMOVE_STEP) {
        fd = io.openSync(path, O_WRONLY | O_NOFOLLOW);
        while (size > 0) {
          size = Math.max(0, size - REMOVE_STEP);
          io.ftruncateSync(fd, size);
          await nextTurn();
        }
      }
    } catch {
      // Gone already, or cannot be cut: removed as it is, or left.
    } finally {
      if (fd !== undefined) this.#closeQuietly(fd);
    }
    await this.#unlinkAsync(path);
  }

  #unlinkAsync(path: string): Promise<void> {
    const io = this.#io;
    if (io.unlink === undefined) {
      this.#unlinkQuietly(path);
      return Promise.resolve();
    }
    return new Promise((resolve) => io.unlink?.(path, () => resolve()));
  }

  #unlinkQuietly(path: string): void {
    try {
      this.#io.unlinkSync(path);
    } catch {
      // Garbage left behind is removed by a later compaction or start.
    }
  }

  #closeQuietly(fd: number): void {
    try {
      this.#io.closeSync(fd);
    } catch {
      // Nothing was written through it that is not durable already.
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
      else if (SNAPSHOT.test(name) || SEGMENT.test(name) || name === LEGACY_SNAPSHOT || name === LEGACY_JOURNAL) {
        // Made by an older version with a wider mode, perhaps: narrowed (never
        // through a link: the open refuses one).
        const fd = io.openSync(join(this.dir, name), READ);
        try {
          io.fchmodSync(fd, PRIVATE_FILE);
        } finally {
          io.closeSync(fd);
        }
      }
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
   * Hands what the directory holds to `add`, one line at a time: the newest
   * snapshot's lines, then the records of the segments after it, in order (newest
   * winning). See the class comment for what ends a segment and what stops the
   * start; a corrupt snapshot throws.
   */
  #load(add: (line: string, newestWins: boolean) => void, addPiece: (piece: Uint8Array, newestWins: boolean) => void): StoreOpened {
    const names = this.#io.readdirSync(this.dir);
    let newest: { seq: number; name: string } | undefined;
    const segments: Segment[] = [];
    for (const name of names) {
      const snapshot = SNAPSHOT.exec(name);
      if (snapshot !== null && (newest === undefined || Number(snapshot[1]) > newest.seq)) {
        newest = { seq: Number(snapshot[1]), name };
      }
      const segment = SEGMENT.exec(name);
      if (segment !== null) segments.push({ start: Number(segment[1]), path: join(this.dir, name), bytes: 0, records: 0 });
    }
    segments.sort((a, b) => a.start - b.start);
    // The layout before segments: read first (it is older than any segment).
    const legacyJournal = join(this.dir, LEGACY_JOURNAL);
    if (names.includes(LEGACY_JOURNAL) || this.#present(legacyJournal)) {
      segments.unshift({ start: -1, path: legacyJournal, bytes: 0, records: 0 });
    }
    const legacySnapshot = join(this.dir, LEGACY_SNAPSHOT);
    let seq = 0;
    let found = segments.length > 0;
    if (newest !== undefined) {
      seq = this.#feedNewest(join(this.dir, newest.name), newest.seq, add, addPiece);
      found = true;
    } else if (names.includes(LEGACY_SNAPSHOT) || this.#present(legacySnapshot)) {
      seq = this.#feedSnapshot(legacySnapshot, undefined, add);
      found = true;
    }
    let expected = seq + 1;
    let replayed = 0;
    let tornRecord = false;
    for (const [i, segment] of segments.entries()) {
      // Records from the next segment's start on were written but never
      // acknowledged (their write failed, and a new segment took over).
      const limit = segments[i + 1]?.start ?? Infinity;
      if (limit <= seq + 1) continue; // every record in it is in the snapshot
      if (segment.start > expected) throw this.#missing(expected, segment);
      const name = segment.path.slice(this.dir.length + 1);
      let header = segment.start >= 0;
      for (const { line, complete, bytes } of this.#lines(segment.path)) {
        const record = complete ? unframe(line) : null;
        if (header) {
          header = false;
          // A torn header: the crash came as the segment was made; it holds nothing.
          if (record === null) break;
          const fields = fileHeader(record.json, JOURNAL_FORMAT, name, JOURNAL_VERSION);
          if (fields.start !== segment.start || record.seq !== segment.start) {
            throw damaged(`${name} holds the segment that begins at record ${String(fields.start)}: renamed or out of order`);
          }
          continue;
        }
        if (record !== null && record.seq < expected && expected === seq + 1) continue; // in the snapshot
        if (record === null || record.seq !== expected || record.seq >= limit) {
          // Torn, corrupt, or not the next record: the segment ends here.
          tornRecord ||= record === null || record.seq < limit;
          break;
        }
        add(record.json, true);
        expected += 1;
        replayed += 1;
        segment.bytes += bytes;
        segment.records += 1;
      }
      this.#older.push(segment);
    }
    this.#seq = expected - 1;
    return { found, replayed, tornRecord };
  }

  #missing(expected: number, segment: Segment): Error {
    const name = segment.path.slice(this.dir.length + 1);
    return damaged(
      `records ${expected} to ${segment.start - 1} are missing (a journal segment, or the snapshot, ` +
        `was removed or damaged): ${name} begins at record ${segment.start}; nothing was changed`,
    );
  }

  /**
   * Hands the newest snapshot (`seq` known from its name) to the manager, by the
   * version its header line gives: version 2, its pieces to `addPiece` (newest
   * winning: it was written across turns), each frame checked against its digest,
   * then the end frame with their count; version 1, its lines to `add` (see
   * `#feedSnapshot`). Returns the sequence number it holds. Throws if it is torn
   * or corrupt (see `#feedSnapshot`).
   */
  #feedNewest(
    path: string,
    named: number,
    add: (line: string, newestWins: boolean) => void,
    addPiece: (piece: Uint8Array, newestWins: boolean) => void,
  ): number {
    const name = path.slice(this.dir.length + 1);
    const corrupt = (why: string) => damaged(`${name} is corrupt: ${why}`);
    const reader = new FileReader(this.#io, path);
    let open = true;
    try {
      const line = reader.line();
      const header = line === null ? null : unframe(line);
      if (header === null) throw corrupt('a torn or altered line');
      const fields = fileHeader(header.json, CHECKPOINT_FORMAT, name, CHECKPOINT_VERSION);
      if (fields.version !== CHECKPOINT_VERSION) {
        open = false;
        reader.close();
        return this.#feedSnapshot(path, named, add);
      }
      if (fields.seq !== named || header.seq !== named) throw corrupt(`it holds records up to ${String(fields.seq)}`);
      let pieces = 0;
      for (;;) {
        const length = reader.take(4)?.readUInt32LE(0);
        if (length === undefined) throw corrupt('it ends early');
        if (length === 0) {
          if (reader.take(4)?.readUInt32LE(0) !== pieces) throw corrupt('pieces are missing');
          if (!reader.atEnd()) throw corrupt('bytes after its end');
          break;
        }
        const digest = reader.take(DIGEST_BYTES);
        const digestCopy = digest === null ? null : Buffer.from(digest);
        const piece = reader.take(length);
        if (digestCopy === null || piece === null) throw corrupt('it ends early');
        if (!pieceDigest(piece).equals(digestCopy)) throw corrupt(`piece ${pieces + 1} is torn or altered`);
        addPiece(piece, true);
        pieces += 1;
      }
      this.#snapshot = { seq: named, bytes: reader.offset, own: false };
      return named;
    } finally {
      if (open) reader.close();
    }
  }

  /**
   * Hands a snapshot's lines to `add`: a version 1 file (`seq` known from its
   * name: its header, then framed pieces of the core's lines) or the layout
   * before segments (one line holding a whole snapshot, or framed pieces). Returns the sequence number it holds.
   * Throws if it is torn or corrupt: a crash cannot do that (a snapshot is fsynced
   * before it is renamed into place), so something else did.
   */
  #feedSnapshot(path: string, named: number | undefined, add: (line: string, newestWins: boolean) => void): number {
    const name = path.slice(this.dir.length + 1);
    const corrupt = (why: string) => damaged(`${name} is corrupt: ${why}`);
    // A snapshot written across turns may hold a session twice (moved while it was
    // written): the later line is the later image.
    const newestWins = named !== undefined;
    let seq: number | undefined;
    let header = named !== undefined;
    let first = true;
    let pieces = 0;
    let ended = false;
    let bytes = 0;
    for (const { line: read, complete, bytes: size } of this.#lines(path)) {
      bytes += size;
      const line = complete ? unframe(read) : null;
      if (line === null) throw corrupt('a torn or altered line');
      if (ended) throw corrupt('lines after its end');
      if (header) {
        header = false;
        const fields = fileHeader(line.json, CHECKPOINT_FORMAT, name, 1);
        if (fields.seq !== named || line.seq !== named) throw corrupt(`it holds records up to ${String(fields.seq)}`);
        seq = named;
        continue;
      }
      if (first) {
        first = false;
        seq ??= line.seq;
        if (line.seq !== seq) throw corrupt('lines of two snapshots');
        add(line.json, newestWins); // the header, or a whole snapshot of an older version
        continue;
      }
      if (line.seq !== seq) throw corrupt('lines of two snapshots');
      if (line.json.startsWith('{"end":')) {
        if ((JSON.parse(line.json) as { end: unknown }).end !== pieces) throw corrupt('lines are missing');
        ended = true;
        continue;
      }
      for (const record of line.json.split(RS)) add(record, newestWins);
      pieces += 1;
    }
    if (seq === undefined || first) throw corrupt('it is empty');
    // An older version's snapshot may be one line; this layout's ends with its count.
    if (!ended && (pieces > 0 || named !== undefined)) throw corrupt('it ends early');
    this.#snapshot = { seq, bytes, own: false };
    return seq;
  }

  /** The lines of a file (their bytes, without the newline: a view valid until
   * the next line), read a block at a time (never as one string); the last one
   * is incomplete if the file does not end with a newline. */
  *#lines(path: string): Generator<{ line: Buffer; complete: boolean; bytes: number }> {
    const fd = this.#io.openSync(path, READ);
    try {
      const block = Buffer.alloc(READ_BYTES);
      let partial: Buffer[] = [];
      let size = 0;
      for (;;) {
        const n = this.#io.readSync(fd, block, 0, block.length, null);
        if (n === 0) break;
        let start = 0;
        for (let end = block.indexOf(0x0a, start); end !== -1 && end < n; end = block.indexOf(0x0a, start)) {
          const tail = block.subarray(start, end);
          const line = partial.length === 0 ? tail : Buffer.concat([...partial, tail]);
          yield { line, complete: true, bytes: size + tail.length + 1 };
          partial = [];
          size = 0;
          start = end + 1;
        }
        if (start < n) {
          partial.push(Buffer.from(block.subarray(start, n)));
          size += n - start;
        }
      }
      if (partial.length > 0) yield { line: Buffer.concat(partial), complete: false, bytes: size };
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
