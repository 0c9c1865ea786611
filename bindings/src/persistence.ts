import type { RestoreReport } from '../generated/mcp_session_core';
import type { SessionError } from './errors';

/**
 * Persistence as a contract that the manager calls, in the spirit of
 * tower-sessions' `SessionStore`: the core decides, the manager hands the store
 * what changed, and only then does anyone hear about it.
 *
 * The rules the manager keeps:
 * - After every call that changed something durable (a session created, ended,
 *   renewed or restored, its phase or state changed), the manager calls `save`
 *   with the changed sessions' records, before any listener hears of the change.
 * - If `save` throws, the manager undoes the change in the core (from the prior
 *   copies its journal kept: nothing is reloaded) and the call fails with
 *   `STORAGE_FAILED` (503). Nobody hears of the change that did not happen.
 * - On the manager's own timer (expiries) and its activity batches, a failed
 *   `save` goes to the manager's `onError`, never out of a timer: expiries are
 *   undone and retried with a growing pause, activity is kept and retried at the
 *   next batch.
 * - Request activity (which only moves idle deadlines) is saved in batches every
 *   `activityFlushMs`, not on every request; under load, also on the next turn once
 *   512 calls have run since the last batch (a batch is exported and written in one
 *   turn: it must not grow with the traffic of a whole `activityFlushMs`).
 *
 * The store holds records; it decides nothing about sessions. A store whose
 * writes are asynchronous (Redis) keeps the same records and the same undo: the
 * core's journal is exported, then committed or reverted, whichever side of the
 * boundary the write happens on.
 */
export interface SessionStore {
  /**
   * Called once, when the manager attaches the store: hands every record the
   * store holds to `add`, one line at a time, or to `addPiece`, a version 3 piece
   * at a time (a snapshot's lines or pieces, then newer records, with
   * `newestWins` wherever a later image of a session may follow an earlier one).
   * The manager applies them only if every line and piece is valid. Throws
   * `STORAGE_FAILED` if the store cannot be read or written; the manager is then
   * unchanged.
   */
  open(
    context: StoreContext,
    add: (line: string, newestWins: boolean) => void,
    addPiece: (piece: Uint8Array, newestWins: boolean) => void,
  ): StoreOpened;
  /** Makes `changes` durable before the call returns, or throws. */
  save(changes: SessionChanges): void;
  /**
   * Writes everything the manager holds as one snapshot (from
   * `context.snapshotPieces` or `snapshotRecords`), when the manager asks: after `open` (`'attach'`:
   * the store may do it in the background, a piece per turn of the event loop,
   * as the file store does) and when the store is detached (`'detach'`: before
   * returning, for the manager stops saving here after it). Fails no call: a
   * failure goes to `context.onError` (or the store's own handler), and the store
   * tries again later.
   */
  checkpoint?(reason?: 'attach' | 'detach'): void;
  /** How often the manager saves request activity, in ms (default 1,000). */
  readonly activityFlushMs?: number;
  /**
   * Releases what the store holds (files, connections), after detaching it from
   * its manager (`context.detach()`). Its owner calls it; never throws.
   */
  close?(): void;
}

/** What the manager gives its store. */
export interface StoreContext {
  /** The manager's sessions as snapshot lines, in pieces of about `maxBytes`
   * (the first with the header line): a compaction writes them as they come.
   * Taken across turns while sessions change, the pieces make a fuzzy snapshot
   * (see `SessionManager.snapshotRecords`): the records saved since the first
   * piece was taken must be replayed over it. */
  snapshotRecords(maxBytes?: number): Iterable<string>;
  /** The same walk in version 3, binary (see `SessionManager.snapshotPieces`),
   * to be read back through `open`'s `addPiece`. A piece may be empty (what was
   * left after the cursor had ended or expired): it holds nothing to write. */
  snapshotPieces(maxBytes?: number): Iterable<Uint8Array>;
  /** Where the store reports what fails on its own initiative (a compaction
   * after a successful write): the manager's `onError`. */
  onError(error: SessionError): void;
  /** Detaches the store from the manager (`SessionManager.detachStore`), if it is
   * still attached: the activity not yet saved is saved and the store compacted. */
  detach(): void;
}

/** Why records are being saved. */
export type ChangeCause =
  /** A call changed them: if the save fails, the call fails. */
  | 'call'
  /** The manager's timer ended sessions: if the save fails, they end later. */
  | 'timer'
  /** Requests moved idle deadlines: if the save fails, the next batch has them. */
  | 'activity';

export interface SessionChanges {
  /**
   * The changed sessions' records: a snapshot document (the format of
   * `SessionManager.snapshot`) holding just them, ended sessions as ended
   * records. Restored over the store's earlier records with the newest winning,
   * they give back the manager's sessions.
   */
  readonly records: string;
  readonly cause: ChangeCause;
}

/** What `open` found. */
export interface StoreOpened {
  /** Whether the store held anything at all (a first start holds nothing). */
  found: boolean;
  /** Records read after the snapshot (journal records, for the file store). */
  replayed: number;
  /** A torn or corrupt last record was found and skipped (a crash mid-write). */
  tornRecord: boolean;
}

/** What attaching a store restored. */
export interface LoadReport {
  /** Records read after the snapshot (journal records, for the file store). */
  replayed: number;
  /** A torn or corrupt record was found and skipped (with everything after it). */
  tornRecord: boolean;
  /** What the core restored; null when the store held nothing. */
  restore: RestoreReport | null;
}
