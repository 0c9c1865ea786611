//! Time: the clock moves only forward, and moving it ends what is due (at most
//! `sweep_batch_size` sessions a call) and forgets ended records past retention.
//! `sweep*` are the host's timer calls; `next_deadline*` tell it when to call.

use serde::Serialize;

use crate::error::{EndReason, SessionError};
use crate::events::{Event, EventKind};
use crate::ids::check_session_id;
use crate::session::RecordKind;

use super::{check_now, check_optional_principal, SessionStore};

/// A session that ended because its deadline passed, as `sweep` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Expiry {
    pub session_id: String,
    /// Never `closed`: declared to TypeScript as `ExpiryReason`.
    #[cfg_attr(test, ts(type = "ExpiryReason"))]
    pub reason: EndReason,
    /// The deadline that passed.
    pub at: u64,
}

impl SessionStore {
    /// Ends every session whose deadline is at or before `now` and returns them, in
    /// deadline order. Hosts call it at `next_deadline()`. State handles due end
    /// too, announced by `handleExpired` events but not returned (they have no
    /// transport to close).
    pub fn sweep(&mut self, now: u64) -> Result<Vec<Expiry>, SessionError> {
        let mut ended = Vec::new();
        self.sweep_with(now, |id, reason, at| {
            ended.push(Expiry {
                session_id: id.to_owned(),
                reason,
                at,
            });
        })?;
        Ok(ended)
    }

    /// `sweep`, handing each ended session (ID, reason, deadline) to `report` in
    /// deadline order instead of collecting them: a host that only needs the IDs
    /// (a million-session sweep can end thousands) builds nothing else.
    pub fn sweep_with(
        &mut self,
        now: u64,
        report: impl FnMut(&str, EndReason, u64),
    ) -> Result<(), SessionError> {
        check_now(now)?;
        self.advance_reporting(now, usize::MAX, report);
        Ok(())
    }

    /// `sweep_with`, ending at most `limit` sessions: what a host's timer calls so
    /// that no turn of its event loop ends more than `limit`. If more are due, a
    /// `sweepPaused` event says so and `next_deadline` is already due.
    pub fn sweep_batch_with(
        &mut self,
        now: u64,
        limit: usize,
        report: impl FnMut(&str, EndReason, u64),
    ) -> Result<(), SessionError> {
        check_now(now)?;
        self.advance_reporting(now, limit.max(1), report);
        Ok(())
    }

    /// When the host must call `sweep` next: the earliest deadline of any live
    /// session or handle, or of a redeemed token's ledger entry; `None` if there is
    /// none. At or before the store's clock while more sessions are due than one
    /// call ends (`sweep_batch_size`). O(number of distinct timeouts).
    pub fn next_deadline(&mut self) -> Option<u64> {
        let records = self.index.earliest();
        match (records, self.redeemed.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The earliest deadline if it is before `bound` (any, without a bound): what a
    /// host with a timer armed at `bound` asks after every call.
    pub fn next_deadline_before(&mut self, bound: Option<u64>) -> Option<u64> {
        self.next_deadline()
            .filter(|at| bound.is_none_or(|bound| *at < bound))
    }

    /// The prologue of every operation on one session: the arguments are checked
    /// (changing nothing if malformed), then time advances to `now`.
    pub(super) fn enter(&mut self, id: &str, now: u64) -> Result<u64, SessionError> {
        self.enter_as(id, None, now)
    }

    /// `enter` for an operation on behalf of `principal`, which is checked too.
    pub(super) fn enter_as(
        &mut self,
        id: &str,
        principal: Option<&str>,
        now: u64,
    ) -> Result<u64, SessionError> {
        check_now(now)?;
        check_session_id(id)?;
        check_optional_principal(principal)?;
        let now = self.advance(now);
        self.expire_if_due(id);
        Ok(now)
    }

    /// Moves the clock to `now` (never back), ends what is due (at most
    /// `sweep_batch_size` sessions) and forgets old records. Returns the store's time.
    pub(super) fn advance(&mut self, now: u64) -> u64 {
        let limit = self.settings.config.sweep_batch_size;
        self.advance_reporting(now, limit, |_, _, _| {});
        self.clock
    }

    /// `advance`, ending at most `limit` sessions and handing each to `report`.
    pub(super) fn advance_reporting(
        &mut self,
        now: u64,
        limit: usize,
        report: impl FnMut(&str, EndReason, u64),
    ) {
        self.clock = now.max(self.clock);
        self.expire_due(self.clock, limit, report);
        self.forget_old();
        self.sweep_ledger();
    }

    /// Forgets ended records past their retention, and the oldest while more than
    /// `max_ended_remembered` are kept.
    pub(super) fn forget_old(&mut self) {
        let config = &self.settings.config;
        let cutoff = self.clock.checked_sub(config.ended_retention_ms);
        let max = config.max_ended_remembered;
        while self.ended.len() > max
            || cutoff.is_some_and(|c| self.ended.oldest_at().is_some_and(|at| at <= c))
        {
            let Some((handle, session)) = self.ended.forget_oldest(&mut self.sessions) else {
                break;
            };
            self.forgotten(handle, session);
        }
    }

    /// Ends the sessions due by `now` in the order they end (deadline, then the
    /// order their deadlines were set), at most `limit` of them. If some are left
    /// due, says so with a `sweepPaused` event and remembers that a session may be
    /// due when it is next used (see [`Self::expire_if_due`]).
    pub(super) fn expire_due(
        &mut self,
        now: u64,
        limit: usize,
        mut report: impl FnMut(&str, EndReason, u64),
    ) {
        let wants_event = self.wants(EventKind::Expired);
        let mut ended = 0usize;
        // Left due: false once the index has nothing due, checked only if the
        // limit stops the loop first.
        let mut left_due = true;
        while ended < limit {
            let Some((at, handle)) = self.index.pop_due(now) else {
                left_due = false;
                break;
            };
            let Some(session) = self.sessions.get(handle) else {
                continue;
            };
            // The entry popped is the earlier of the session's two deadlines, or
            // equal to the other: an absolute lifetime wins a tie.
            let reason = match session.deadline(&self.settings.config) {
                Some((_, reason)) => reason,
                None => EndReason::Idle,
            };
            let id = session.id.clone();
            let kind = session.kind;
            self.end(handle, reason, at);
            ended += 1;
            match kind {
                RecordKind::Session => {
                    id.with_str(|id| report(id, reason, at));
                    if wants_event {
                        self.emit(Event::Expired {
                            session_id: id.to_string(),
                            reason,
                            at,
                        });
                    }
                }
                // A handle has no transport for the host to close: it is not
                // reported with the sessions, only announced.
                RecordKind::Handle => self.emit(Event::HandleExpired {
                    handle_id: id.to_string(),
                    reason,
                    at,
                }),
            }
        }
        self.backlog = left_due && self.index.earliest().is_some_and(|at| at <= now);
        if self.backlog {
            self.emit(Event::SweepPaused { ended, at: now });
        }
    }

    /// While more sessions are due than one call ends, a session may be past its
    /// deadline when it is used: it ends then (expired, with its event), so no live
    /// session is ever seen past its deadline. Free when nothing is left due.
    pub(super) fn expire_if_due(&mut self, id: &str) {
        if !self.backlog {
            return;
        }
        let config = &self.settings.config;
        let Some((handle, session)) = self.sessions.lookup(id) else {
            return;
        };
        let due = match (&session.end, session.deadline(config)) {
            (None, Some((at, reason))) if at <= self.clock => Some((at, reason)),
            _ => None,
        };
        let kind = session.kind;
        if let Some((at, reason)) = due {
            self.end(handle, reason, at);
            self.forget_old();
            self.emit(match kind {
                RecordKind::Session => Event::Expired {
                    session_id: id.to_owned(),
                    reason,
                    at,
                },
                RecordKind::Handle => Event::HandleExpired {
                    handle_id: id.to_owned(),
                    reason,
                    at,
                },
            });
        }
    }

    /// How long a client refused for want of room should wait: until the next
    /// record of `kind` (of any kind: `None`) ends, as room may free up then; or
    /// an idle timeout if none has a deadline.
    pub(super) fn retry_after(&self, kind: Option<RecordKind>, now: u64) -> u64 {
        let config = &self.settings.config;
        let next = match kind {
            Some(kind) => self.index.earliest_of(kind),
            None => self.index.earliest(),
        };
        match (next, kind) {
            (Some(at), _) => at.saturating_sub(now).max(1),
            (None, Some(RecordKind::Handle)) => config.handle_idle_timeout_ms,
            (None, _) => config.idle_timeout_ms,
        }
    }
}
