//! Snapshots in and out: `snapshot` (one document), `snapshot_records` (the same as
//! pieces of lines, for a large store), `snapshot_pieces` (the same records in
//! binary, the file store's), `export` (chosen sessions: a journal record), and
//! `restore`/`restore_staged` (validated as a whole first).

use std::cmp::Reverse;

use crate::error::SessionError;
use crate::events::{Event, EventKind};
use crate::expiry::{lifetime_deadline, phase_deadline};
use crate::ids::check_session_id;
use crate::intern::Adopted;
use crate::request_state::TokenId;
use crate::session::{Ending, RecordKind, Session, SessionData};
use crate::session_id::SessionId;
use crate::snapshot::{
    self, activity_at, document, EndedRecord, PieceWriter, RedeemedRecord, RestoreReport,
    SessionRecord, Staging, ValidSnapshot,
};
use crate::table::{footprint_of, Handle};

use super::{check_now, SessionStore};

impl SessionStore {
    /// A snapshot of the live sessions and remembered ended ones, as JSON (see
    /// [`crate::snapshot`]). The same store gives the same bytes.
    pub fn snapshot(&self, now: u64) -> Result<String, SessionError> {
        check_now(now)?;
        let now = now.max(self.clock);
        let sessions = self
            .live_at(now)
            .map(|s| SessionRecord::from_session(s, &self.settings, now))
            .collect();
        let ended = self
            .ended_at(now)
            .map(|(s, e)| ended_record(s, e))
            .collect();
        document(now, sessions, ended, self.redeemed_at(now).collect())
    }

    /// Ledger entries whose tokens are unexpired at `now`, as snapshot records.
    fn redeemed_at(&self, now: u64) -> impl Iterator<Item = RedeemedRecord> + '_ {
        self.redeemed
            .entries()
            .filter(move |(at, _)| *at > now)
            .map(|(at, id)| RedeemedRecord::of(at, &id))
    }

    /// A snapshot of just these sessions, live or ended (unknown IDs are left out):
    /// what a journal appends after they change, so that replaying journal records
    /// over a full snapshot and restoring gives the store back.
    pub fn export(&self, ids: &[String], now: u64) -> Result<String, SessionError> {
        self.export_with(ids, &[], now)
    }

    /// `export`, with these redeemed tokens `(expires_at, id)` (a journal record).
    pub(super) fn export_with(
        &self,
        ids: &[String],
        redeemed: &[(u64, TokenId)],
        now: u64,
    ) -> Result<String, SessionError> {
        check_now(now)?;
        for id in ids {
            check_session_id(id)?;
        }
        let now = now.max(self.clock);
        let config = &self.settings.config;
        let mut sessions = Vec::new();
        let mut ended = Vec::new();
        for id in ids {
            let Some((_, s)) = self.sessions.lookup(id) else {
                continue;
            };
            match &s.end {
                None if !s.is_due(config, now) => {
                    sessions.push(SessionRecord::from_session(s, &self.settings, now));
                }
                Some(e) if self.remembered(e, now) => ended.push(ended_record(s, e)),
                _ => {}
            }
        }
        let redeemed = redeemed
            .iter()
            .filter(|(at, _)| *at > now)
            .map(|(at, id)| RedeemedRecord::of(*at, id))
            .collect();
        document(now, sessions, ended, redeemed)
    }

    /// Live sessions not past their deadline at `now` (for the read-only
    /// operations, which do not advance the clock).
    pub(super) fn live_at(&self, now: u64) -> impl Iterator<Item = &Session> {
        let config = &self.settings.config;
        self.sessions
            .iter()
            .map(|(_, s)| s)
            .filter(move |s| s.end.is_none() && !s.is_due(config, now))
    }

    /// Ended sessions still remembered at `now`.
    pub(super) fn ended_at(&self, now: u64) -> impl Iterator<Item = (&Session, &Ending)> {
        self.sessions
            .iter()
            .filter_map(|(_, s)| Some((s, s.end.as_ref()?)))
            .filter(move |(_, e)| self.remembered(e, now))
    }

    pub(super) fn remembered(&self, end: &Ending, now: u64) -> bool {
        end.at
            .saturating_add(self.settings.config.ended_retention_ms)
            > now
    }

    /// Restores a snapshot. Everything is validated first: an invalid snapshot
    /// changes nothing and the error names the record and field. Sessions past their
    /// deadline at `now` are skipped; IDs live or remembered here are refused; when
    /// the store fills, the most recently active sessions win. Requests in flight do
    /// not survive: restored sessions are idle. Times later than the store's are
    /// brought back to it.
    pub fn restore(&mut self, text: &str, now: u64) -> Result<RestoreReport, SessionError> {
        check_now(now)?;
        let valid = snapshot::parse(text, &self.settings)?;
        Ok(self.apply(valid, now, Applying::Restore))
    }

    /// `restore` from lines read one at a time (a snapshot written by
    /// `snapshot_records`, then journal records): the same validation, all or
    /// nothing, and the same rules.
    pub fn restore_staged(
        &mut self,
        staging: Staging,
        now: u64,
    ) -> Result<RestoreReport, SessionError> {
        check_now(now)?;
        let valid = staging.validate(&self.settings)?;
        Ok(self.apply(valid, now, Applying::Restore))
    }

    /// A snapshot as lines, `max_bytes` or so at a time, starting at the session in
    /// slot `from` (0 starts with the header line; the last piece ends with the
    /// whole `requestState` ledger): the lines joined by newlines, and where the next call
    /// starts (`None`: done). The host writes each piece as it
    /// comes, so a store of any size is written without one string holding it all.
    /// Called again and again with no change between, the pieces make one snapshot.
    pub fn snapshot_records(
        &self,
        now: u64,
        from: usize,
        max_bytes: usize,
    ) -> Result<(String, Option<usize>), SessionError> {
        let mut lines = Lines(String::new());
        let next = self.write_records(&mut lines, now, from, max_bytes)?;
        Ok((lines.0, next))
    }

    /// `snapshot_records` in version 3 (see [`crate::BINARY_VERSION`]): the same
    /// records in binary, each piece readable on its own by
    /// [`Staging::add_piece`]. Several times faster to write and to read back
    /// than lines of JSON, and what the file store writes.
    pub fn snapshot_pieces(
        &self,
        now: u64,
        from: usize,
        max_bytes: usize,
    ) -> Result<(Vec<u8>, Option<usize>), SessionError> {
        // Room for a piece of the usual size (1 MiB) and its last record.
        let mut piece = PieceWriter::new(max_bytes.saturating_add(4096).min(2 << 20));
        let next = self.write_records(&mut piece, now, from, max_bytes)?;
        Ok((piece.finish(), next))
    }

    /// Writes records to `out` from the cursor `from` until it holds `max_bytes` or
    /// so (see `snapshot_records`); answers where the next piece starts.
    fn write_records(
        &self,
        out: &mut impl RecordSink,
        now: u64,
        from: usize,
        max_bytes: usize,
    ) -> Result<Option<usize>, SessionError> {
        check_now(now)?;
        let now = now.max(self.clock);
        let config = &self.settings.config;
        if from == 0 {
            out.header(now)?;
        }
        // Each piece holds at least one record, so the pieces always move on.
        let mut added = false;
        for (slot, session) in self.sessions.iter_from(from) {
            if added && out.len() >= max_bytes {
                return Ok(Some(slot));
            }
            match &session.end {
                None if !session.is_due(config, now) => out.session(self, session, now)?,
                Some(end) if self.remembered(end, now) => out.ended(session, end)?,
                _ => continue,
            }
            added = true;
        }
        // The ledger comes whole, in the last piece: its entries are ordered by
        // expiry, so one that expired between two pieces taken across turns would
        // move the others past the cursor. It is bounded (`max_redeemed_tokens`).
        for (at, id) in self.redeemed.entries().filter(|(at, _)| *at > now) {
            out.redeemed(at, id)?;
        }
        Ok(None)
    }

    /// Applies a validated snapshot (see `restore`; `Adopt`: see `adopt`).
    pub(super) fn apply(
        &mut self,
        valid: ValidSnapshot,
        now: u64,
        applying: Applying,
    ) -> RestoreReport {
        let adopt = applying == Applying::Adopt;
        let now = self.advance(now);
        let max_sessions = self.settings.config.max_sessions;
        let max_handles = self.settings.config.max_handles;
        let mut report = RestoreReport::default();
        let mut staged = valid.sessions;
        // The most recently active first, then by ID (distinct: see `Staging`):
        // when the store fills, they are the ones restored. The keys are copied
        // out (a hex ID is 16 bytes inline) with each session's place and sorted,
        // and the sessions are moved to their places in that order in the
        // staging's own chunks: read in order, each chunk's memory is then handed
        // to the table as it empties.
        let mut order: Vec<(Reverse<u64>, SessionId, usize)> = Vec::with_capacity(staged.len());
        for (at, slot) in staged.iter_mut().enumerate() {
            if let Some(session) = slot {
                // Times after this store's (a snapshot from a machine whose clock
                // is ahead, or from before this clock went back) are brought back
                // to it: the store's time never goes back, and a session is never
                // active before it was created.
                session.clamp_times(now);
                order.push((Reverse(session.last_activity), session.id.clone(), at));
            }
        }
        order.sort_unstable();
        let count = order.len();
        // Where each place's session goes; the empty places (ended sessions taken
        // out) go after the last session.
        let mut to = vec![usize::MAX; staged.len()];
        for (rank, (_, _, at)) in order.into_iter().enumerate() {
            if let Some(place) = to.get_mut(at) {
                *place = rank;
            }
        }
        for (place, empty) in to.iter_mut().filter(|t| **t == usize::MAX).zip(count..) {
            *place = empty;
        }
        staged.permute(&mut to);
        drop(to);
        self.sessions
            .reserve(count.saturating_add(valid.ended.len()));
        let announce = !adopt && self.wants(EventKind::Restored);
        // One map per table: a value may be both a client's info and capabilities.
        let (mut infos, mut capabilities) = (Adopted::default(), Adopted::default());
        let mut taken = Vec::with_capacity(count);
        // The records' IDs are distinct (see `Staging`): in a store that held
        // nothing (a restart) none can be here already.
        let fresh = self.sessions.is_empty();
        let stored = |store: &Self, id: &SessionId| !fresh && store.sessions.find(id).is_some();
        for mut chunk in staged.into_chunks() {
            for mut session in chunk.iter_mut().filter_map(Option::take) {
                if session.is_due(&self.settings.config, now) && !adopt {
                    report.skipped_expired += 1;
                } else if stored(self, &session.id) {
                    report.refused_existing += 1;
                } else if !adopt
                    && match session.kind {
                        RecordKind::Session => self.sessions.live() >= max_sessions,
                        RecordKind::Handle => self.sessions.live_handles() >= max_handles,
                    }
                {
                    report.refused_capacity += 1;
                } else {
                    // The ID is written out only for an event someone listens to.
                    let id = (announce && session.kind == RecordKind::Session)
                        .then(|| session.id.with_str(str::to_owned));
                    self.adopt_metadata(&mut session.data, &mut infos, &mut capabilities);
                    taken.push(self.insert_unfiled(session));
                    if let Some(session_id) = id {
                        self.emit(Event::Restored {
                            session_id,
                            at: now,
                        });
                    }
                    report.restored += 1;
                }
            }
            self.sessions.offer_chunk(chunk);
        }
        self.file_restored(&taken);
        let mut ended = valid.ended;
        ended.sort_by_cached_key(|s| s.id.clone());
        for mut session in ended {
            session.clamp_times(now);
            self.adopt_metadata(&mut session.data, &mut infos, &mut capabilities);
            let remembered = session
                .end
                .as_ref()
                .is_some_and(|e| self.remembered(e, now));
            let at = session.end.as_ref().map_or(now, |e| e.at);
            if remembered && !stored(self, &session.id) {
                // A sequence number of its own, as every stored session has: a
                // reference to it never reads a later session in its slot.
                session.order = self.taken;
                self.taken += 1;
                let handle = self.sessions.insert(session);
                self.stored(handle);
                self.ended.remember(handle, at);
                report.ended_restored += 1;
            }
        }
        self.sessions.release_spare();
        self.forget_old();
        for (expires_at, id) in valid.redeemed {
            if expires_at <= now || self.redeemed.contains(&id) {
                continue;
            }
            match self.redeemed.record(id, expires_at, now) {
                Ok(()) => report.redeemed_restored += 1,
                Err(_) => report.refused_capacity += 1,
            }
        }
        report
    }

    /// Files restored sessions' deadlines in deadline order, each kind of deadline
    /// on its own, so that filing a whole snapshot into an empty store only appends.
    /// Both orders are read in one pass over the sessions; those with no absolute
    /// lifetime (most, unless one is configured) have nothing to file for it.
    pub(super) fn file_restored(&mut self, handles: &[Handle]) {
        let config = &self.settings.config;
        let mut by_phase: Vec<(Option<u64>, u64, Handle)> = Vec::with_capacity(handles.len());
        let mut by_lifetime: Vec<(u64, u64, Handle)> = Vec::new();
        for (handle, session) in handles
            .iter()
            .filter_map(|&h| Some((h, self.sessions.get(h)?)))
        {
            let order = session.order;
            by_phase.push((
                phase_deadline(session, config).map(|(_, at)| at),
                order,
                handle,
            ));
            if let Some((_, at)) = lifetime_deadline(session, config) {
                by_lifetime.push((at, order, handle));
            }
        }
        by_phase.sort_unstable();
        by_lifetime.sort_unstable();
        for (_, order, handle) in by_phase {
            if let Some(session) = self.sessions.get(handle) {
                self.index.file_phase(handle, session, config, order);
            }
        }
        for (_, order, handle) in by_lifetime {
            if let Some(session) = self.sessions.get(handle) {
                self.index.file_lifetime(handle, session, config, order);
            }
        }
    }

    /// `stats().total_bytes` counted again from every stored session, for tests
    /// that check the running count. O(sessions).
    #[doc(hidden)]
    pub fn recount_bytes(&self) -> usize {
        self.sessions
            .iter()
            .map(|(_, s)| footprint_of(&s.data))
            .sum()
    }
}

impl SessionStore {
    /// A restored session's client info and capabilities, in place of its own
    /// copies: the store's shared ones (each distinct value adopted once).
    fn adopt_metadata(
        &mut self,
        data: &mut SessionData,
        infos: &mut Adopted,
        capabilities: &mut Adopted,
    ) {
        data.client_info = data
            .client_info
            .take()
            .map(|m| self.client_infos.adopt(m, infos));
        data.capabilities = data
            .capabilities
            .take()
            .map(|m| self.capabilities.adopt(m, capabilities));
    }
}

/// How a validated snapshot is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Applying {
    /// A restart: records already due are skipped, caps hold, `restored` events.
    Restore,
    /// Working copies from a shared store (see `shared`): every record is taken,
    /// due or not (the call that follows ends it), whatever the local counts (the
    /// shared store keeps the caps), and nothing is announced.
    Adopt,
}

/// Where `write_records` writes: lines of JSON (version 2) or a binary piece
/// (version 3).
trait RecordSink {
    /// What is written so far, in bytes.
    fn len(&self) -> usize;
    fn header(&mut self, taken_at: u64) -> Result<(), SessionError>;
    fn session(
        &mut self,
        store: &SessionStore,
        session: &Session,
        taken_at: u64,
    ) -> Result<(), SessionError>;
    fn ended(&mut self, session: &Session, end: &Ending) -> Result<(), SessionError>;
    fn redeemed(&mut self, expires_at: u64, id: TokenId) -> Result<(), SessionError>;
}

/// Version 2 lines, joined by newlines.
struct Lines(String);

impl Lines {
    fn push(&mut self, line: Result<String, SessionError>) -> Result<(), SessionError> {
        let line = line?;
        if !self.0.is_empty() {
            self.0.push('\n');
        }
        self.0.push_str(&line);
        Ok(())
    }
}

impl RecordSink for Lines {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn header(&mut self, taken_at: u64) -> Result<(), SessionError> {
        self.push(snapshot::records_header(taken_at))
    }
    fn session(
        &mut self,
        store: &SessionStore,
        session: &Session,
        taken_at: u64,
    ) -> Result<(), SessionError> {
        let record = SessionRecord::from_session(session, &store.settings, taken_at);
        self.push(snapshot::session_line(record))
    }
    fn ended(&mut self, session: &Session, end: &Ending) -> Result<(), SessionError> {
        self.push(snapshot::ended_line(ended_record(session, end)))
    }
    fn redeemed(&mut self, expires_at: u64, id: TokenId) -> Result<(), SessionError> {
        self.push(snapshot::redeemed_line(RedeemedRecord::of(expires_at, &id)))
    }
}

impl RecordSink for PieceWriter {
    fn len(&self) -> usize {
        PieceWriter::len(self)
    }
    fn header(&mut self, taken_at: u64) -> Result<(), SessionError> {
        PieceWriter::header(self, taken_at)
    }
    fn session(
        &mut self,
        _: &SessionStore,
        session: &Session,
        taken_at: u64,
    ) -> Result<(), SessionError> {
        PieceWriter::session(self, session, activity_at(session, taken_at))
    }
    fn ended(&mut self, session: &Session, end: &Ending) -> Result<(), SessionError> {
        PieceWriter::ended(self, session, end)
    }
    fn redeemed(&mut self, expires_at: u64, id: TokenId) -> Result<(), SessionError> {
        PieceWriter::redeemed(self, expires_at, id)
    }
}

pub(super) fn ended_record(session: &Session, end: &Ending) -> EndedRecord {
    EndedRecord {
        session: SessionRecord::from_ended(session),
        reason: end.reason,
        ended_at: end.at,
        renewed_to: end.renewed_to.as_ref().map(|id| id.to_string()),
    }
}
