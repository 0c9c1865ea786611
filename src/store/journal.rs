//! The journal: what changed since the host last made the store durable, and how
//! to take it back.
//!
//! A host that persists (a file, Redis) turns journaling on. From then on every
//! durable change (a session created, restored, ended, renewed, its phase or state
//! changed) keeps the session's prior copy, and every touch (activity only: an idle
//! deadline moved) notes the session. After a call the host asks
//! [`SessionStore::journal_export`] for the changed sessions' records, writes them,
//! and then either [`SessionStore::journal_commit`]s (the prior copies are dropped)
//! or, if the write failed, [`SessionStore::journal_revert`]s: every change is undone
//! from the prior copies, newest first, and the events that announced them are taken
//! back, so the store is exactly as it was and nobody hears of what did not happen.
//! Undoing costs what the change cost; nothing is reloaded.
//!
//! Touches are written in batches ([`SessionStore::activity_export`], then
//! [`SessionStore::activity_commit`]): a crash loses at most one batch of activity,
//! which only makes a session look idle since a little earlier.
//!
//! Not undone: the clock (it never goes back). Ended records forgotten in the batch
//! (past retention, or over `max_ended_remembered`) come back with the rest.

use crate::error::SessionError;
use crate::request_state::TokenId;
use crate::session::Session;
use crate::table::Handle;

use super::SessionStore;

/// A session as it was before the first change of the batch touched it.
#[derive(Debug)]
struct Prior {
    handle: Handle,
    /// The `order` of the session in `handle` after the change: tells it apart
    /// from a later session that reused the slot.
    order: u64,
    /// `None`: the change stored it (it was not there before).
    before: Option<Box<Session>>,
}

#[derive(Debug, Default)]
pub(crate) struct Journal {
    on: bool,
    priors: Vec<Prior>,
    /// The event queue's mark when the batch began: `revert` takes back later events.
    events_mark: u64,
    /// Live sessions touched since the last activity batch, by handle and order;
    /// may repeat (deduplicated on export).
    touched: Vec<(Handle, u64)>,
    /// Tokens redeemed in the batch, `(expires_at, id)`: written with it, and
    /// taken out of the ledger again if it is reverted.
    redeemed: Vec<(u64, TokenId)>,
    /// Ledger entries the current call's clock forgot: put back if the batch is
    /// undone (as the sessions it ended are), so the store is exactly as before.
    /// Dropped when the batch is committed, or when a call begins with no batch
    /// pending (then nothing can undo them).
    swept: Vec<(u64, TokenId)>,
}

impl Journal {
    fn pending(&self) -> bool {
        !self.priors.is_empty() || !self.redeemed.is_empty()
    }

    fn record(&mut self, prior: Prior, events_mark: u64) {
        if !self.pending() {
            self.events_mark = events_mark;
        }
        self.priors.push(prior);
    }
}

impl SessionStore {
    /// Journals changes from now on (`true`), or stops and forgets the journal.
    pub fn set_journaling(&mut self, on: bool) {
        self.journal = Journal {
            on,
            ..Journal::default()
        };
    }

    /// Runs `f` with journaling off (working copies taken or dropped: no change
    /// of the store's own to write or undo).
    pub(super) fn unjournaled<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let on = std::mem::replace(&mut self.journal.on, false);
        let out = f(self);
        self.journal.on = on;
        out
    }

    /// Whether durable changes wait to be exported and committed or reverted.
    pub fn journal_pending(&self) -> bool {
        self.journal.pending()
    }

    /// The records of the sessions changed since the last commit or revert, as an
    /// [`Self::export`] document (sessions that ended are there as ended records),
    /// with the tokens redeemed since.
    pub fn journal_export(&self, now: u64) -> Result<String, SessionError> {
        let slots = self.journal.priors.iter().map(|p| (p.handle, p.order));
        let ids = self.ids_of(slots);
        self.export_with(&ids, &self.journal.redeemed, now)
    }

    /// The journaled changes are durable: drop their prior copies.
    pub fn journal_commit(&mut self) {
        self.journal.priors.clear();
        self.journal.redeemed.clear();
        self.journal.swept.clear();
    }

    /// The journaled changes could not be made durable: undo them all, newest
    /// first, and take back the events that announced them.
    pub fn journal_revert(&mut self) {
        for (expires_at, id) in std::mem::take(&mut self.journal.redeemed) {
            self.redeemed.remove(&id, expires_at);
        }
        for (expires_at, id) in std::mem::take(&mut self.journal.swept) {
            self.redeemed.unforget(expires_at, id);
        }
        let priors = std::mem::take(&mut self.journal.priors);
        for prior in priors.into_iter().rev() {
            self.put_back(prior);
        }
        self.events.retract_since(self.journal.events_mark);
        self.backlog = self.index.earliest().is_some_and(|at| at <= self.clock);
    }

    /// The records of live sessions touched since the last activity commit, or
    /// `None` if there are none.
    pub fn activity_export(&mut self, now: u64) -> Result<Option<String>, SessionError> {
        self.journal.touched.sort_unstable();
        self.journal.touched.dedup();
        if self.journal.touched.is_empty() {
            return Ok(None);
        }
        let ids = self.ids_of(self.journal.touched.iter().copied());
        self.export(&ids, now).map(Some)
    }

    /// The activity exported last is durable.
    pub fn activity_commit(&mut self) {
        self.journal.touched.clear();
    }

    /// The clock moved: forgets the ledger entries whose tokens have expired, and
    /// keeps them in the journal while a batch may still be undone.
    pub(super) fn sweep_ledger(&mut self) {
        if !self.journal.on {
            self.redeemed.sweep(self.clock);
            return;
        }
        if !self.journal.pending() {
            self.journal.swept.clear();
        }
        let swept = &mut self.journal.swept;
        self.redeemed
            .sweep_with(self.clock, |entry| swept.push(entry));
    }

    /// A token was redeemed: it is written with the batch, or taken back with it.
    pub(super) fn journal_redeemed(&mut self, id: TokenId, expires_at: u64) {
        if !self.journal.on {
            return;
        }
        if !self.journal.pending() {
            self.journal.events_mark = self.events.mark();
        }
        self.journal.redeemed.push((expires_at, id));
    }

    /// Before a durable change to the session in `handle`: keeps its prior copy.
    pub(super) fn changing(&mut self, handle: Handle) {
        if !self.journal.on
            || self
                .journal
                .priors
                .last()
                .is_some_and(|p| p.handle == handle)
        {
            // The prior copy taken last is of this session, as it was before.
            return;
        }
        if let Some(session) = self.sessions.get(handle) {
            let prior = Prior {
                handle,
                order: session.order,
                before: Some(Box::new(session.clone())),
            };
            self.journal.record(prior, self.events.mark());
        }
    }

    /// Before a change that is not durable (activity, requests in flight) to the
    /// session in `handle`. In a call that already made a durable change (an
    /// expiry when time advanced) it is journaled with it, so that undoing the
    /// call undoes all of it.
    pub(super) fn using(&mut self, handle: Handle) {
        if self.journal_pending() {
            self.changing(handle);
        }
    }

    /// The change `changing(handle)` announced did not happen after all.
    pub(super) fn unchanged(&mut self, handle: Handle) {
        if self
            .journal
            .priors
            .last()
            .is_some_and(|p| p.handle == handle)
        {
            self.journal.priors.pop();
        }
    }

    /// After a session was stored in `handle` where there was none.
    pub(super) fn stored(&mut self, handle: Handle) {
        if !self.journal.on {
            return;
        }
        if let Some(session) = self.sessions.get(handle) {
            let prior = Prior {
                handle,
                order: session.order,
                before: None,
            };
            self.journal.record(prior, self.events.mark());
        }
    }

    /// An ended session was forgotten (past retention, or to make room): the
    /// journal keeps it, so that undoing the batch brings it back.
    /// Outside a batch there is nothing to undo: forgetting by retention alone is
    /// due whatever happens, and needs no write.
    pub(super) fn forgotten(&mut self, handle: Handle, session: Session) {
        if !self.journal_pending() {
            return;
        }
        let prior = Prior {
            handle,
            // No session stored later has this order: the slot never matches.
            order: u64::MAX,
            before: Some(Box::new(session)),
        };
        self.journal.record(prior, self.events.mark());
    }

    /// A live session's activity moved (its idle deadline with it).
    pub(super) fn note_activity(&mut self, handle: Handle) {
        if !self.journal.on {
            return;
        }
        let Some(order) = self.sessions.get(handle).map(|s| s.order) else {
            return;
        };
        let touched = &mut self.journal.touched;
        // Repeats are folded before the list outgrows the sessions it names.
        if touched.len() >= 2 * self.sessions.live() + 1_024 {
            touched.sort_unstable();
            touched.dedup();
        }
        touched.push((handle, order));
    }

    /// The IDs of the sessions still in these slots, once each.
    fn ids_of(&self, slots: impl Iterator<Item = (Handle, u64)>) -> Vec<String> {
        let mut ids: Vec<String> = slots
            .filter_map(|(handle, order)| {
                let session = self.sessions.get(handle)?;
                (session.order == order).then(|| session.id.to_string())
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Undoes one change: whatever the slot holds now is unfiled (from the deadline
    /// index and the principal counts if live, from the ended order if ended), and
    /// the prior copy, if any, takes its place and is filed again.
    fn put_back(&mut self, prior: Prior) {
        let handle = prior.handle;
        let current = self
            .sessions
            .get(handle)
            .filter(|s| s.order == prior.order)
            .map(|s| {
                (
                    s.end.as_ref().map(|e| e.at),
                    s.data.principal.clone(),
                    s.kind,
                )
            });
        let Some((ended_at, principal, kind)) = current else {
            // The changed session is gone (forgotten): put the prior copy back if
            // its ID is free.
            if let Some(before) = prior.before {
                if self.sessions.find(&before.id).is_none() {
                    let handle = self.sessions.insert(*before);
                    self.file_again(handle);
                }
            }
            return;
        };
        match ended_at {
            None => {
                self.index.remove(handle);
                self.uncount_live(kind, principal.as_deref(), handle);
            }
            Some(at) => self.ended.unremember(handle, at),
        }
        match prior.before {
            None => {
                self.sessions.remove(handle);
            }
            Some(before) => {
                self.sessions.replace(handle, *before);
                self.file_again(handle);
            }
        }
    }

    /// Files a session put back: a live one in the deadline index and the
    /// principal counts, an ended one in the ended order.
    fn file_again(&mut self, handle: Handle) {
        let config = &self.settings.config;
        let Some(session) = self.sessions.get(handle) else {
            return;
        };
        match &session.end {
            None => {
                if self.index.file(handle, session, config, self.taken) {
                    self.taken += 1;
                }
                self.count_live(handle);
            }
            // Not forgotten past the limit here: the undo is under way, and once it
            // is done the count is what it was.
            Some(end) => self.ended.remember(handle, end.at),
        }
    }
}
