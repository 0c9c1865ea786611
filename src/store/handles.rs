//! State handles: the 2026-era records (MCP 2026-07-28 removed protocol
//! sessions; a tool mints an opaque handle, returns it, and later calls pass it
//! back as an argument).
//!
//! A handle is a record of the same table as a session ([`RecordKind::Handle`]),
//! with the same state code (merge patch and replacement with compare-and-set), the
//! same deadline index (its idle timeout and lifetime: `handle_idle_timeout_ms`,
//! `handle_lifetime_ms`), the same ended-ID memory, snapshots and journal. What
//! differs:
//! - its ID is `h_` and then an ID from the store's ID source, so it is never
//!   taken for a session's;
//! - every call names the principal it is made for: another principal's handle,
//!   live or ended, answers `HANDLE_NOT_FOUND` exactly as an unknown ID does;
//! - it has caps of its own (`max_handles`, `max_handles_per_principal`), counted
//!   apart from sessions', and a full store refuses (never evicts) with
//!   `HANDLE_LIMIT_EXCEEDED` and a retry-after;
//! - an ended one answers `HANDLE_EXPIRED` (with its reason) or
//!   `HANDLE_DESTROYED` while remembered;
//! - no session operation sees it (its ID reads as unknown there), and `list` and
//!   `stats` count it apart.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::error::EndReason;
use crate::error::{InvalidIdReason, SessionError};
use crate::events::{Event, EventKind};
use crate::ids::check_session_id;
use crate::patch::check_state;
use crate::session::{empty_state, Phase, RecordKind, Session, SessionData};
use crate::table::{footprint_of, Handle, SessionTable};

use super::{check_now, check_optional_principal, SessionStore};

/// What every handle ID starts with.
pub const HANDLE_PREFIX: &str = "h_";

/// How many times `create_handle` draws a new ID after a collision.
const ID_ATTEMPTS: usize = 8;

/// A copy of a live state handle.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct HandleView {
    pub handle_id: String,
    pub principal: Option<String>,
    #[cfg_attr(test, ts(type = "JsonObject"))]
    pub state: Value,
    pub version: u64,
    pub created_at: u64,
    pub last_activity: u64,
    /// When the handle ends unless it is used again: the earlier of its idle
    /// deadline and its lifetime.
    pub expires_at: u64,
    /// When its lifetime ends, however busy it is.
    pub lifetime_ends_at: u64,
}

impl HandleView {
    fn of(session: &Session, config: &crate::config::Config) -> HandleView {
        let lifetime_ends_at = session.created_at.saturating_add(config.handle_lifetime_ms);
        HandleView {
            handle_id: session.id.to_string(),
            principal: session.data.principal.as_deref().map(str::to_owned),
            state: session.data.state.clone(),
            version: session.data.version,
            created_at: session.created_at,
            last_activity: session.last_activity,
            expires_at: session.deadline_ms(config).unwrap_or(lifetime_ends_at),
            lifetime_ends_at,
        }
    }
}

/// The live handle `id` for a call on behalf of `principal`. Unknown, a session,
/// or another principal's (live or ended): `HANDLE_NOT_FOUND`, all alike.
fn owned_handle(
    sessions: &SessionTable,
    id: &str,
    principal: Option<&str>,
) -> Result<Handle, SessionError> {
    let not_found = || SessionError::HandleNotFound {
        handle_id: id.to_owned(),
    };
    let Some((handle, record)) = sessions.lookup(id) else {
        return Err(not_found());
    };
    if record.kind != RecordKind::Handle || record.data.principal.as_deref() != principal {
        return Err(not_found());
    }
    if let Some(end) = &record.end {
        return Err(end.reason.handle_error(id));
    }
    Ok(handle)
}

/// The arguments of a call on one handle: the time, the ID (a malformed one is
/// `INVALID_ARGUMENT` for `handleId`) and the principal.
fn check_handle_call(id: &str, principal: Option<&str>, now: u64) -> Result<(), SessionError> {
    check_now(now)?;
    check_session_id(id).map_err(|e| {
        let why = match e {
            SessionError::InvalidSessionId { reason } => match reason {
                InvalidIdReason::Empty => "is empty",
                InvalidIdReason::TooLong => "is too long",
                InvalidIdReason::InvalidCharacter => "has characters outside 0x21-0x7E",
            },
            _ => "is malformed",
        };
        SessionError::invalid_argument("handleId", why)
    })?;
    check_optional_principal(principal)
}

impl SessionStore {
    /// Creates a state handle for `principal` (`None`: anonymous, and then the
    /// ID, at least 128 bits from the ID source, is the only secret) holding
    /// `state` (`{}` if none). Refused with `HANDLE_LIMIT_EXCEEDED` at
    /// `max_handles_per_principal` or `max_handles`.
    pub fn create_handle(
        &mut self,
        principal: Option<&str>,
        state: Option<Value>,
        now: u64,
    ) -> Result<HandleView, SessionError> {
        check_now(now)?;
        check_optional_principal(principal)?;
        let state = state.unwrap_or_else(empty_state);
        let state_bytes = check_state(&state, self.settings.config.max_state_bytes)?;
        let now = self.advance(now);
        let data = SessionData {
            principal: principal.map(Arc::from),
            protocol_version: self.settings.newest_version(),
            client_info: None,
            capabilities: None,
            state,
            state_bytes,
            version: 0,
        };
        self.room_for_handle(principal, footprint_of(&data), now)?;
        let (id, text) = self.fresh_handle_id()?;
        let mut record = Session::new(id, data, Phase::Active, now, None);
        record.kind = RecordKind::Handle;
        let handle = self.insert(record);
        if self.wants(EventKind::HandleCreated) {
            self.emit(Event::HandleCreated {
                handle_id: text.clone(),
                principal: principal.map(str::to_owned),
                at: now,
            });
        }
        self.handle_view(handle, &text)
    }

    /// The live handle `id` of `principal`, counting as use (its idle deadline
    /// moves on).
    pub fn get_handle(
        &mut self,
        id: &str,
        principal: Option<&str>,
        now: u64,
    ) -> Result<HandleView, SessionError> {
        let now = self.enter_handle(id, principal, now)?;
        let handle = owned_handle(&self.sessions, id, principal)?;
        self.touched(handle, now);
        self.handle_view(handle, id)
    }

    /// Applies an RFC 7396 merge patch to the handle's state; with
    /// `expected_version`, only if it is still at that version. Returns the new
    /// version.
    pub fn update_handle(
        &mut self,
        id: &str,
        principal: Option<&str>,
        patch: Value,
        expected_version: Option<u64>,
        now: u64,
    ) -> Result<u64, SessionError> {
        let now = self.enter_handle(id, principal, now)?;
        let handle = owned_handle(&self.sessions, id, principal)?;
        self.merge_at(handle, id, patch, expected_version, now)
    }

    /// Replaces the handle's whole state, with the same compare-and-set.
    pub fn replace_handle_state(
        &mut self,
        id: &str,
        principal: Option<&str>,
        state: Value,
        expected_version: Option<u64>,
        now: u64,
    ) -> Result<u64, SessionError> {
        check_handle_call(id, principal, now)?;
        let size = check_state(&state, self.settings.config.max_state_bytes)?;
        let now = self.enter_handle(id, principal, now)?;
        let handle = owned_handle(&self.sessions, id, principal)?;
        self.replace_at(handle, id, state, size, expected_version, now)
    }

    /// Ends the handle (reason `closed`): its ID then answers `HANDLE_DESTROYED`
    /// while remembered.
    pub fn destroy_handle(
        &mut self,
        id: &str,
        principal: Option<&str>,
        now: u64,
    ) -> Result<(), SessionError> {
        let now = self.enter_handle(id, principal, now)?;
        let handle = owned_handle(&self.sessions, id, principal)?;
        self.end(handle, EndReason::Closed, now);
        self.emit(Event::HandleDestroyed {
            handle_id: id.to_owned(),
            at: now,
        });
        Ok(())
    }

    /// The live handles of `principal` (`None`: the anonymous ones), oldest
    /// first. No side effect, not even on the clock. O(that principal's handles):
    /// they are kept per principal, so no call scans the store.
    pub fn list_handles(
        &self,
        principal: Option<&str>,
        now: u64,
    ) -> Result<Vec<HandleView>, SessionError> {
        check_now(now)?;
        check_optional_principal(principal)?;
        let now = now.max(self.clock);
        let config = &self.settings.config;
        let mut live: Vec<&Session> = self
            .handle_principals
            .members(principal)
            .into_iter()
            .flatten()
            .filter_map(|&h| self.sessions.get(h))
            .filter(|s| s.end.is_none() && !s.is_due(config, now))
            .collect();
        live.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(live
            .into_iter()
            .map(|s| HandleView::of(s, config))
            .collect())
    }

    /// Every live handle, whoever holds it, oldest first: for an operator's view
    /// of the store, not for a request path. No side effect, not even on the
    /// clock. O(store).
    pub fn all_handles(&self, now: u64) -> Result<Vec<HandleView>, SessionError> {
        let config = &self.settings.config;
        let live = self.live_oldest_first(now, RecordKind::Handle)?;
        Ok(live
            .into_iter()
            .map(|s| HandleView::of(s, config))
            .collect())
    }

    /// The prologue of every call on one handle: the arguments are checked (a
    /// malformed ID is `INVALID_ARGUMENT` for `handleId`), then time advances.
    fn enter_handle(
        &mut self,
        id: &str,
        principal: Option<&str>,
        now: u64,
    ) -> Result<u64, SessionError> {
        check_handle_call(id, principal, now)?;
        let now = self.advance(now);
        self.expire_if_due(id);
        Ok(now)
    }

    fn handle_view(&self, handle: Handle, id: &str) -> Result<HandleView, SessionError> {
        self.sessions
            .get(handle)
            .map(|s| HandleView::of(s, &self.settings.config))
            .ok_or_else(|| SessionError::HandleNotFound {
                handle_id: id.to_owned(),
            })
    }

    /// Checks the storage room and both handle caps for one more handle; changes
    /// nothing. Handles are never evicted: a full store refuses.
    fn room_for_handle(
        &mut self,
        principal: Option<&str>,
        need: usize,
        now: u64,
    ) -> Result<(), SessionError> {
        if need > self.room() {
            return Err(self.storage_full(now));
        }
        if let Some(limit) = self.settings.config.max_handles_per_principal {
            if self.handle_principals.held(principal) >= limit {
                return Err(SessionError::HandleLimitExceeded {
                    limit,
                    retry_after_ms: self.retry_after(Some(RecordKind::Handle), now),
                });
            }
        }
        // Records left due by a bounded sweep make room first, as expired.
        let max = self.settings.config.max_handles;
        while self.sessions.live_handles() >= max && self.backlog {
            self.expire_due(now, 1, |_, _, _| {});
            self.forget_old();
        }
        if self.sessions.live_handles() >= max {
            return Err(SessionError::HandleLimitExceeded {
                limit: max,
                retry_after_ms: self.retry_after(Some(RecordKind::Handle), now),
            });
        }
        Ok(())
    }

    /// A new handle ID (`h_` and an ID from the ID source), neither live nor
    /// remembered.
    fn fresh_handle_id(&mut self) -> Result<(crate::session_id::SessionId, String), SessionError> {
        for _ in 0..ID_ATTEMPTS {
            let text = format!("{HANDLE_PREFIX}{}", self.ids.next_id()?);
            check_session_id(&text).map_err(|e| SessionError::IdSourceFailed {
                reason: format!("the ID source produced a malformed ID: {e}"),
            })?;
            let id = crate::session_id::SessionId::new(&text);
            if self.sessions.find(&id).is_none() {
                return Ok((id, text));
            }
        }
        Err(SessionError::IdSourceFailed {
            reason: format!("{ID_ATTEMPTS} IDs in a row were already in use"),
        })
    }
}
