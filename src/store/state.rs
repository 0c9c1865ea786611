//! Session state: RFC 7396 merge patches and whole replacements, both with
//! compare-and-set on the version, within `max_state_bytes` and the room
//! `max_total_bytes` leaves.

use serde_json::Value;

use crate::error::SessionError;
use crate::events::{Event, EventKind};
use crate::ids::check_session_id;
use crate::patch::{check_state, merge_into};
use crate::session::{RecordKind, Session};
use crate::table::Handle;

use super::{check_now, live_mut, SessionStore};

impl SessionStore {
    /// Applies an RFC 7396 merge patch to the state; with `expected_version`, only
    /// if the state is still at that version (compare-and-set). Returns the new
    /// version.
    pub fn update_state(
        &mut self,
        id: &str,
        patch: &Value,
        expected_version: Option<u64>,
        now: u64,
    ) -> Result<u64, SessionError> {
        self.update_state_owned(id, patch.clone(), expected_version, now)
    }

    /// `update_state` with a patch the caller gives up: its values move into the
    /// state instead of being copied.
    pub fn update_state_owned(
        &mut self,
        id: &str,
        patch: Value,
        expected_version: Option<u64>,
        now: u64,
    ) -> Result<u64, SessionError> {
        let now = self.enter(id, now)?;
        let (handle, _) = live_mut(&mut self.sessions, id)?;
        self.merge_at(handle, id, patch, expected_version, now)
    }

    /// The merge of `update_state_owned` on the live record in `handle` (a session
    /// or a state handle, found by the caller), whose ID is `id`.
    pub(super) fn merge_at(
        &mut self,
        handle: Handle,
        id: &str,
        patch: Value,
        expected_version: Option<u64>,
        now: u64,
    ) -> Result<u64, SessionError> {
        let max_state = self.settings.config.max_state_bytes;
        let room = self.room();
        self.changeable(handle, id, expected_version)?;
        self.changing(handle);
        let Some(data) = self.sessions.get_mut(handle).map(|s| &mut s.data) else {
            return Err(SessionError::SessionNotFound {
                session_id: id.to_owned(),
            });
        };
        let before = data.state_bytes;
        // The state may grow to its own limit, and by no more than the room left.
        let limit = max_state.min(before.saturating_add(room));
        data.state_bytes = match merge_into(&mut data.state, before, patch, limit) {
            Ok(size) => size,
            Err(error) => {
                // The merge changed nothing.
                self.unchanged(handle);
                return Err(match error {
                    SessionError::StateTooLarge { size, .. } if size <= max_state => {
                        self.storage_full(now)
                    }
                    error => error,
                });
            }
        };
        let after = data.state_bytes;
        self.sessions.resized(before, after);
        self.commit_state(handle, id, now)
    }

    /// Replaces the whole state, with the same compare-and-set as `update_state`.
    pub fn replace_state(
        &mut self,
        id: &str,
        state: Value,
        expected_version: Option<u64>,
        now: u64,
    ) -> Result<u64, SessionError> {
        check_now(now)?;
        check_session_id(id)?;
        let size = check_state(&state, self.settings.config.max_state_bytes)?;
        let now = self.advance(now);
        self.expire_if_due(id);
        let (handle, _) = live_mut(&mut self.sessions, id)?;
        self.replace_at(handle, id, state, size, expected_version, now)
    }

    /// The replacement of `replace_state` on the live record in `handle`, with a
    /// state already checked to be `size` bytes.
    pub(super) fn replace_at(
        &mut self,
        handle: Handle,
        id: &str,
        state: Value,
        size: usize,
        expected_version: Option<u64>,
        now: u64,
    ) -> Result<u64, SessionError> {
        let room = self.room();
        let before = self
            .changeable(handle, id, expected_version)?
            .data
            .state_bytes;
        if size > before.saturating_add(room) {
            return Err(self.storage_full(now));
        }
        self.changing(handle);
        if let Some(session) = self.sessions.get_mut(handle) {
            session.data.state = state;
            session.data.state_bytes = size;
        }
        self.sessions.resized(before, size);
        self.commit_state(handle, id, now)
    }

    /// The live record in `handle`, if its state may change now: it is at
    /// `expected_version` (when given) and its version can grow by one.
    fn changeable(
        &self,
        handle: Handle,
        id: &str,
        expected_version: Option<u64>,
    ) -> Result<&Session, SessionError> {
        let Some(session) = self.sessions.get(handle) else {
            return Err(SessionError::SessionNotFound {
                session_id: id.to_owned(),
            });
        };
        check_version(session, expected_version)?;
        next_version(session)?;
        Ok(session)
    }

    /// After the state of `handle` changed: its version moves on (checked to be
    /// possible before the change), it counts as activity, and it is announced.
    pub(super) fn commit_state(
        &mut self,
        handle: Handle,
        id: &str,
        now: u64,
    ) -> Result<u64, SessionError> {
        let Some(session) = self.sessions.get_mut(handle) else {
            return Err(SessionError::SessionNotFound {
                session_id: id.to_owned(),
            });
        };
        let version = next_version(session)?;
        session.data.version = version;
        let is_session = session.kind == RecordKind::Session;
        self.touched(handle, now);
        if is_session && self.wants(EventKind::StateChanged) {
            self.emit(Event::StateChanged {
                session_id: id.to_owned(),
                version,
                at: now,
            });
        }
        Ok(version)
    }

    /// Bytes left under `max_total_bytes` (unbounded without it).
    pub(super) fn room(&self) -> usize {
        self.settings
            .config
            .max_total_bytes
            .map_or(usize::MAX, |max| max.saturating_sub(self.sessions.bytes()))
    }

    /// The refusal when `max_total_bytes` leaves no room.
    pub(super) fn storage_full(&mut self, now: u64) -> SessionError {
        SessionError::StorageLimitExceeded {
            limit: self.settings.config.max_total_bytes.unwrap_or(usize::MAX),
            retry_after_ms: self.retry_after(None, now),
        }
    }
}

/// The version a state change gives `session`, if it can have one more.
pub(super) fn next_version(session: &Session) -> Result<u64, SessionError> {
    session
        .data
        .version
        .checked_add(1)
        .ok_or_else(|| SessionError::InvalidState {
            reason: "the state version cannot grow further".into(),
        })
}

pub(super) fn check_version(session: &Session, expected: Option<u64>) -> Result<(), SessionError> {
    match expected {
        Some(expected) if expected != session.data.version => Err(SessionError::VersionConflict {
            session_id: session.id.to_string(),
            expected_version: expected,
            actual_version: session.data.version,
        }),
        _ => Ok(()),
    }
}
