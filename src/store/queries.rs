//! Reading sessions: `get`, `find` and `find_ref` touch a live session (a read is
//! activity); `peek`, `list` and `stats` change nothing, not even the clock.

use serde::Serialize;
use std::mem::size_of;

use crate::ended::Lookup;
use crate::error::SessionError;
use crate::expiry::NODE_BYTES;
use crate::ids::check_session_id;
use crate::record::{Record, SessionRef};
use crate::session::{Phase, RecordKind, Session, SessionView};
use crate::table::{footprint_of, Handle};

use super::{check_now, live_mut, SessionStore};

/// Counts for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub live: usize,
    pub initializing: usize,
    pub active: usize,
    pub disconnected: usize,
    /// Requests and streams in flight, over all sessions.
    pub in_flight: u64,
    /// Ended sessions remembered (they answer 404 with a reason).
    pub ended_remembered: usize,
    pub pending_events: usize,
    pub dropped_events: u64,
    /// An estimate of the memory the sessions and records take, in bytes.
    pub approximate_bytes: usize,
    /// What every stored session (live or remembered) holds, as `max_total_bytes`
    /// counts it: about the size of their snapshot records.
    pub total_bytes: usize,
    /// Live state handles (not counted in `live` or the phases).
    pub handles_live: usize,
    /// Ended state handles remembered (they answer expired or destroyed).
    pub handles_ended_remembered: usize,
    /// Redeemed `requestState` tokens the single-use ledger remembers.
    pub redeemed_tokens: usize,
}

impl SessionStore {
    /// The session, counting as activity.
    pub fn get(&mut self, id: &str, now: u64) -> Result<SessionView, SessionError> {
        let now = self.enter(id, now)?;
        let (handle, _) = live_mut(&mut self.sessions, id)?;
        self.touched(handle, now);
        self.view_of(handle, id)
    }

    /// A copy of the session in `handle` (whose ID is `id`).
    pub(super) fn view_of(&self, handle: Handle, id: &str) -> Result<SessionView, SessionError> {
        self.sessions
            .get(handle)
            .map(|s| s.view(&self.settings.config))
            .ok_or_else(|| SessionError::SessionNotFound {
                session_id: id.to_owned(),
            })
    }

    /// What `id` is: a live session (touched, as `get`), an ended one still
    /// remembered, or unknown. For hosts that show ended sessions (the seed's
    /// `getSession` answers `status: 'expired'`) rather than answer 404.
    pub fn find(&mut self, id: &str, now: u64) -> Result<Lookup, SessionError> {
        let Some(found) = self.find_ref(id, now)? else {
            return Ok(Lookup::Unknown);
        };
        Ok(match self.record(found).map(|r| r.session) {
            Some(session) => match &session.end {
                Some(end) => Lookup::Ended(session.ended_view(end)),
                None => Lookup::Live(session.view(&self.settings.config)),
            },
            None => Lookup::Unknown,
        })
    }

    /// `find` without the copy: a reference to the session `id` (touched if live,
    /// as `get`), or `None` if no such session is stored. Read its fields with
    /// [`Self::record`]. An ended session is found while it is remembered.
    pub fn find_ref(&mut self, id: &str, now: u64) -> Result<Option<SessionRef>, SessionError> {
        let now = self.enter(id, now)?;
        let Some((handle, session)) = self
            .sessions
            .lookup(id)
            .filter(|(_, s)| s.kind == RecordKind::Session)
        else {
            return Ok(None);
        };
        let found = SessionRef {
            slot: handle,
            order: session.order,
        };
        if session.end.is_none() {
            self.touched(handle, now);
        }
        Ok(Some(found))
    }

    /// The session `r` refers to, if it is still stored.
    pub fn record(&self, r: SessionRef) -> Option<Record<'_>> {
        let session = self.sessions.get(r.slot)?;
        (session.order == r.order && session.kind == RecordKind::Session).then_some(Record {
            session,
            config: &self.settings.config,
        })
    }

    /// The session, with no side effect at all (not even on the clock).
    pub fn peek(&self, id: &str, now: u64) -> Result<SessionView, SessionError> {
        check_now(now)?;
        check_session_id(id)?;
        let now = now.max(self.clock);
        let config = &self.settings.config;
        match self.sessions.lookup(id) {
            Some((_, session)) if session.end.is_none() && session.kind == RecordKind::Session => {
                match session.deadline(config) {
                    Some((at, reason)) if at <= now => Err(SessionError::SessionExpired {
                        session_id: id.to_owned(),
                        reason,
                    }),
                    _ => Ok(session.view(config)),
                }
            }
            _ => Err(self.ended_error(id, now)),
        }
    }

    /// Every live session, oldest first.
    pub fn list(&self, now: u64) -> Result<Vec<SessionView>, SessionError> {
        let config = &self.settings.config;
        let live = self.live_oldest_first(now, RecordKind::Session)?;
        Ok(live.into_iter().map(|s| s.view(config)).collect())
    }

    /// Every live record of `kind` at `now` (never before the store's clock),
    /// oldest first, then by ID. No side effect. O(store).
    pub(super) fn live_oldest_first(
        &self,
        now: u64,
        kind: RecordKind,
    ) -> Result<Vec<&Session>, SessionError> {
        check_now(now)?;
        let now = now.max(self.clock);
        let mut live: Vec<&Session> = self.live_at(now).filter(|s| s.kind == kind).collect();
        live.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(live)
    }

    /// Counts by phase, records, events and an estimate of memory. O(sessions).
    pub fn stats(&self, now: u64) -> Result<Stats, SessionError> {
        check_now(now)?;
        let now = now.max(self.clock);
        let mut stats = Stats {
            total_bytes: self.sessions.bytes(),
            pending_events: self.events.len(),
            dropped_events: self.events.dropped(),
            redeemed_tokens: self.redeemed.entries().filter(|(at, _)| *at > now).count(),
            ..Stats::default()
        };
        // Per session: its slot, its handle and control byte in the ID map, and its
        // two deadline nodes (phase and lifetime).
        let entry = size_of::<Session>() + size_of::<Handle>() + 1 + 2 * NODE_BYTES;
        for s in self.live_at(now) {
            stats.approximate_bytes += entry + s.id.len() + footprint_of(&s.data);
            if s.kind == RecordKind::Handle {
                stats.handles_live += 1;
                continue;
            }
            stats.live += 1;
            match s.phase {
                Phase::Initializing => stats.initializing += 1,
                Phase::Active => stats.active += 1,
                Phase::Disconnected => stats.disconnected += 1,
            }
            stats.in_flight += u64::from(s.in_flight);
        }
        for (s, _) in self.ended_at(now) {
            match s.kind {
                RecordKind::Session => stats.ended_remembered += 1,
                RecordKind::Handle => stats.handles_ended_remembered += 1,
            }
            stats.approximate_bytes += entry + s.id.len() + footprint_of(&s.data);
        }
        Ok(stats)
    }
}
