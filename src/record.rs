//! A borrowed look at one stored session, field by field.
//!
//! `find` copies a whole session out (state, metadata, strings) whether the caller
//! reads it or not. A server that looks a session up on every request mostly reads
//! its status and perhaps one field, so [`SessionStore::find_ref`] answers a
//! [`SessionRef`] instead: a handle that stays valid while the session is stored
//! (its slot and the store's sequence number for it, so a reused slot never answers
//! for another session), through which [`SessionStore::record`] reads single fields
//! without copying anything else.
//!
//! [`SessionStore::find_ref`]: crate::SessionStore::find_ref
//! [`SessionStore::record`]: crate::SessionStore::record

use serde_json::Value;

use crate::config::Config;
use crate::error::EndReason;
use crate::session::{Phase, Session};

/// A stored session, named by where it is and which session it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRef {
    /// Its slot in the store's table.
    pub slot: u32,
    /// Its sequence number in the store: no other session ever has it.
    pub order: u64,
}

/// A stored session's status: its phase while live, how it ended otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Live(Phase),
    Ended(EndReason),
}

/// One stored session, read field by field.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub(crate) session: &'a Session,
    pub(crate) config: &'a Config,
}

impl<'a> Record<'a> {
    pub fn status(&self) -> Status {
        match &self.session.end {
            None => Status::Live(self.session.phase),
            Some(end) => Status::Ended(end.reason),
        }
    }
    pub fn id(&self) -> String {
        self.session.id.to_string()
    }
    pub fn version(&self) -> u64 {
        self.session.data.version
    }
    pub fn state(&self) -> &'a Value {
        &self.session.data.state
    }
    /// The size of the state as JSON text (2 for the empty state `{}`).
    pub fn state_bytes(&self) -> usize {
        self.session.data.state_bytes
    }
    pub fn client_info(&self) -> Option<&'a Value> {
        self.session.data.client_info.as_ref().map(|m| &m.value)
    }
    pub fn capabilities(&self) -> Option<&'a Value> {
        self.session.data.capabilities.as_ref().map(|m| &m.value)
    }
    pub fn principal(&self) -> Option<&'a str> {
        self.session.data.principal.as_deref()
    }
    pub fn protocol_version(&self) -> &'a str {
        &self.session.data.protocol_version
    }
    pub fn created_at(&self) -> u64 {
        self.session.created_at
    }
    pub fn last_activity(&self) -> u64 {
        self.session.last_activity
    }
    /// When a live session ends unless something happens (`None` while a request is
    /// in flight and no absolute lifetime applies); when an ended one ended.
    pub fn expires_at(&self) -> Option<u64> {
        match &self.session.end {
            None => self.session.deadline_ms(self.config),
            Some(end) => Some(end.at),
        }
    }
    pub fn in_flight(&self) -> u32 {
        self.session.in_flight
    }
    pub fn idle_timeout_ms(&self) -> u64 {
        self.session
            .idle_timeout_ms
            .unwrap_or(self.config.idle_timeout_ms)
    }
    /// The session an ended one was renewed into.
    pub fn renewed_to(&self) -> Option<String> {
        let end = self.session.end.as_ref()?;
        end.renewed_to.as_ref().map(|id| id.to_string())
    }
}
