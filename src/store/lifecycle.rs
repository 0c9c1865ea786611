//! Creating and ending sessions: the four ways in (`create`, `create_id`,
//! `create_id_json`, `create_id_named`), the transport's comings and goings
//! (`disconnect`, `resume`), the ways out (`close`, `expire`, `clear_all`, eviction)
//! and `renew`. Making room (per-principal limit, capacity) happens before an ID is
//! drawn, so a refused create changes nothing.

use std::sync::Arc;

use serde_json::Value;

use crate::config::{CapacityPolicy, MAX_TIME_MS};
use crate::error::EndReason;
use crate::error::SessionError;
use crate::events::{Event, EventKind};
use crate::ids::check_session_id;
use crate::intern::Shared;
use crate::patch::{check_metadata, check_state};
use crate::request::{CreateParams, RawCreateParams};
use crate::session::{empty_state, Ending, Phase, RecordKind, Session, SessionData, SessionView};
use crate::session_id::SessionId;
use crate::table::{footprint_of, Handle};

use super::{check_now, check_optional_principal, live_mut, owned_mut, SessionStore};

/// How many times `create` draws a new ID after a collision before giving up.
const ID_ATTEMPTS: usize = 8;

pub(super) fn check_idle_timeout(idle: Option<u64>) -> Result<(), SessionError> {
    match idle {
        Some(ms) if ms == 0 || ms > MAX_TIME_MS => Err(SessionError::invalid_argument(
            "idleTimeoutMs",
            format!("must be 1 to {MAX_TIME_MS} ms"),
        )),
        _ => Ok(()),
    }
}

impl SessionStore {
    /// Creates a session: `initializing` for an MCP `initialize` (a requested
    /// protocol version), else `active`. Enforces the per-principal limit, then capacity (rejecting, or
    /// evicting the idlest session).
    pub fn create(&mut self, params: CreateParams, now: u64) -> Result<SessionView, SessionError> {
        let id = self.create_id(params, now)?;
        self.sessions
            .find(&SessionId::new(&id))
            .and_then(|h| self.sessions.get(h))
            .map(|s| s.view(&self.settings.config))
            .ok_or(SessionError::SessionNotFound { session_id: id })
    }

    /// `create`, answering only the new ID (no copy of the session is made).
    pub fn create_id(&mut self, params: CreateParams, now: u64) -> Result<String, SessionError> {
        check_now(now)?;
        check_optional_principal(params.principal.as_deref())?;
        let idle_timeout_ms = one_timeout(params.idle_timeout_ms, params.timeout)?;
        let limit = self.settings.config.max_state_bytes;
        let state = params.state.unwrap_or_else(empty_state);
        let state_bytes = check_state(&state, limit)?;
        let client_info = match (params.client_info, params.client_id) {
            (Some(info), _) => Some(info),
            (None, Some(name)) => Some(serde_json::json!({ "name": name })),
            (None, None) => None,
        };
        for (name, value) in [
            ("clientInfo", &client_info),
            ("capabilities", &params.capabilities),
        ] {
            if let Some(v) = value {
                check_metadata(name, v, self.settings.config.max_client_metadata_bytes)?;
            }
        }
        let fresh = Fresh {
            principal: params.principal.as_deref().map(Arc::from),
            requested_protocol_version: params.requested_protocol_version.as_deref(),
            client_info: client_info.map(|v| self.client_infos.intern(v)),
            capabilities: params.capabilities.map(|v| self.capabilities.intern(v)),
            idle_timeout_ms,
            state,
            state_bytes,
        };
        self.create_fresh(fresh, now)
    }

    /// `create_id` from the parameters as JSON text (camelCase, as `CreateParams`
    /// serializes): the way a JS host creates, with no JS object crossing. Client
    /// metadata is read as raw text and looked up among the values already held,
    /// so the usual client (whose metadata every session repeats) parses nothing.
    pub fn create_id_json(&mut self, text: &str, now: u64) -> Result<String, SessionError> {
        check_now(now)?;
        let raw: RawCreateParams<'_> = serde_json::from_str(text)
            .map_err(|e| SessionError::invalid_argument("params", e.to_string()))?;
        check_optional_principal(raw.principal.as_deref())?;
        let idle_timeout_ms = one_timeout(raw.idle_timeout_ms, raw.timeout)?;
        let limit = self.settings.config.max_state_bytes;
        let (state, state_bytes) = match raw.state {
            None => (empty_state(), 2),
            Some(raw) if raw.get() == "{}" => (empty_state(), 2),
            Some(raw) => {
                let state: Value =
                    serde_json::from_str(raw.get()).map_err(|e| SessionError::InvalidState {
                        reason: format!("state: {e}"),
                    })?;
                let size = check_state(&state, limit)?;
                (state, size)
            }
        };
        let limit = self.settings.config.max_client_metadata_bytes;
        let client_info = match (raw.client_info, raw.client_id) {
            (Some(info), _) => Some(
                self.client_infos
                    .intern_text(info.get(), || metadata("clientInfo", info.get(), limit))?,
            ),
            (None, Some(name)) => {
                let text = format!("{{\"name\":{}}}", name.get());
                Some(self.client_infos.intern_text(&text, || {
                    let name: String = serde_json::from_str(name.get())
                        .map_err(|e| SessionError::invalid_argument("clientId", e.to_string()))?;
                    metadata(
                        "clientInfo",
                        &serde_json::json!({ "name": name }).to_string(),
                        limit,
                    )
                })?)
            }
            (None, None) => None,
        };
        let capabilities = match raw.capabilities {
            Some(caps) => Some(
                self.capabilities
                    .intern_text(caps.get(), || metadata("capabilities", caps.get(), limit))?,
            ),
            None => None,
        };
        let fresh = Fresh {
            principal: raw.principal.as_deref().map(Arc::from),
            requested_protocol_version: raw.requested_protocol_version.as_deref(),
            client_info,
            capabilities,
            idle_timeout_ms,
            state,
            state_bytes,
        };
        self.create_fresh(fresh, now)
    }

    /// `create_id` for the seed API's shape, with no JSON at all: a client ID
    /// (kept as `clientInfo: { name }`), capability names (kept as a list; here
    /// separated by NUL, which no name contains), a principal and an idle timeout.
    /// The metadata is looked up among the values already held.
    pub fn create_id_named(&mut self, named: Named<'_>, now: u64) -> Result<String, SessionError> {
        check_now(now)?;
        check_optional_principal(named.principal)?;
        check_idle_timeout(named.idle_timeout_ms)?;
        let limit = self.settings.config.max_client_metadata_bytes;
        let client_info = match named.client_id {
            Some(name) => Some(self.client_names.intern_text(name, || {
                metadata(
                    "clientInfo",
                    &serde_json::json!({ "name": name }).to_string(),
                    limit,
                )
            })?),
            None => None,
        };
        let capabilities = match named.capability_names {
            Some(names) => Some(self.capability_lists.intern_text(names, || {
                let list: Vec<&str> = names.split('\0').collect();
                metadata("capabilities", &serde_json::json!(list).to_string(), limit)
            })?),
            None => None,
        };
        let fresh = Fresh {
            principal: named.principal.map(Arc::from),
            requested_protocol_version: None,
            client_info,
            capabilities,
            idle_timeout_ms: named.idle_timeout_ms,
            state: empty_state(),
            state_bytes: 2,
        };
        self.create_fresh(fresh, now)
    }

    /// Creates a session from checked parts: the protocol version is negotiated,
    /// room is made (per-principal limit, capacity), the ID drawn.
    pub(super) fn create_fresh(
        &mut self,
        fresh: Fresh<'_>,
        now: u64,
    ) -> Result<String, SessionError> {
        let (phase, protocol_version) = match fresh.requested_protocol_version {
            Some(requested) => {
                crate::config::check_protocol_version(requested)
                    .map_err(|why| SessionError::invalid_argument("protocolVersion", why))?;
                (Phase::Initializing, self.settings.negotiate(requested))
            }
            None => (Phase::Active, self.settings.newest_version()),
        };
        let data = SessionData {
            principal: fresh.principal,
            protocol_version,
            client_info: fresh.client_info,
            capabilities: fresh.capabilities,
            state: fresh.state,
            state_bytes: fresh.state_bytes,
            version: 0,
        };
        let now = self.advance(now);
        let need = footprint_of(&data);
        let victim = self.make_room(data.principal.as_deref(), need, now)?;
        let (id, text) = self.fresh_id()?;
        if let Some(victim) = victim {
            self.evict(victim, now);
        }
        self.insert(Session::new(id, data, phase, now, fresh.idle_timeout_ms));
        if self.wants(EventKind::Created) {
            self.emit(Event::Created {
                session_id: text.clone(),
                phase,
                at: now,
            });
        }
        Ok(text)
    }

    /// The transport is gone: the session keeps its state and can be resumed until
    /// its idle timeout. Requests in flight died with the transport. Disconnecting a
    /// disconnected session does nothing.
    pub fn disconnect(&mut self, id: &str, now: u64) -> Result<(), SessionError> {
        let now = self.enter(id, now)?;
        let (handle, session) = live_mut(&mut self.sessions, id)?;
        match session.phase {
            Phase::Initializing => Err(SessionError::NotInitialized {
                session_id: id.to_owned(),
            }),
            Phase::Disconnected => Ok(()),
            Phase::Active => {
                self.changing(handle);
                self.set_phase(handle, Phase::Disconnected);
                if let Some(session) = self.sessions.get_mut(handle) {
                    session.in_flight = 0;
                }
                self.touched(handle, now);
                self.emit(Event::Disconnected {
                    session_id: id.to_owned(),
                    at: now,
                });
                Ok(())
            }
        }
    }

    /// A disconnected session is active again, for its own principal only. Resuming
    /// an active session only counts as activity.
    pub fn resume(
        &mut self,
        id: &str,
        principal: Option<&str>,
        now: u64,
    ) -> Result<SessionView, SessionError> {
        let now = self.enter_as(id, principal, now)?;
        let (handle, session) = owned_mut(&mut self.sessions, id, principal)?;
        let resumed = match session.phase {
            Phase::Initializing => {
                return Err(SessionError::NotInitialized {
                    session_id: id.to_owned(),
                })
            }
            Phase::Active => false,
            Phase::Disconnected => true,
        };
        if resumed {
            self.changing(handle);
            self.set_phase(handle, Phase::Active);
            self.emit(Event::Resumed {
                session_id: id.to_owned(),
                at: now,
            });
        }
        self.touched(handle, now);
        self.view_of(handle, id)
    }

    /// Ends a session (HTTP DELETE). Its ID then answers `SESSION_CLOSED`.
    pub fn close(&mut self, id: &str, now: u64) -> Result<(), SessionError> {
        let now = self.enter(id, now)?;
        let (handle, _) = live_mut(&mut self.sessions, id)?;
        self.end(handle, EndReason::Closed, now);
        self.emit(Event::Closed {
            session_id: id.to_owned(),
            at: now,
        });
        Ok(())
    }

    /// Ends a session as expired (reason `requested`), as the seed's `expireSession`.
    pub fn expire(&mut self, id: &str, now: u64) -> Result<(), SessionError> {
        let now = self.enter(id, now)?;
        let (handle, _) = live_mut(&mut self.sessions, id)?;
        self.end(handle, EndReason::Requested, now);
        self.emit(Event::Expired {
            session_id: id.to_owned(),
            reason: EndReason::Requested,
            at: now,
        });
        Ok(())
    }

    /// Closes every live session (in ID order); returns how many.
    pub fn clear_all(&mut self, now: u64) -> Result<usize, SessionError> {
        check_now(now)?;
        let now = self.advance(now);
        let mut live: Vec<(SessionId, Handle)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.end.is_none() && s.kind == RecordKind::Session)
            .map(|(h, s)| (s.id.clone(), h))
            .collect();
        live.sort();
        for (id, handle) in &live {
            self.end(*handle, EndReason::Closed, now);
            self.emit(Event::Closed {
                session_id: id.to_string(),
                at: now,
            });
        }
        Ok(live.len())
    }

    /// Makes a new session, with a new ID, carrying over the state, version and
    /// handshake of an ended (expired or closed) one, for the same principal. Each
    /// ended session renews once.
    pub fn renew(
        &mut self,
        id: &str,
        principal: Option<&str>,
        now: u64,
    ) -> Result<SessionView, SessionError> {
        let now = self.enter_as(id, principal, now)?;
        let Some((_, old)) = self
            .sessions
            .lookup(id)
            .filter(|(_, s)| s.kind == RecordKind::Session)
        else {
            return Err(SessionError::SessionNotFound {
                session_id: id.to_owned(),
            });
        };
        let Some(end) = &old.end else {
            return Err(SessionError::invalid_argument(
                "sessionId",
                "the session is live; only an ended session can be renewed",
            ));
        };
        if old.data.principal.as_deref() != principal {
            return Err(SessionError::PrincipalMismatch {
                session_id: id.to_owned(),
            });
        }
        if end.renewed_to.is_some() {
            return Err(SessionError::invalid_argument(
                "sessionId",
                "the session was already renewed",
            ));
        }
        let data = old.data.clone();
        let idle_timeout_ms = old.idle_timeout_ms;
        let phase = match old.phase {
            Phase::Initializing => Phase::Initializing,
            Phase::Active | Phase::Disconnected => Phase::Active,
        };
        let need = footprint_of(&data);
        let victim = self.make_room(data.principal.as_deref(), need, now)?;
        let (new_id, _) = self.fresh_id()?;
        if let Some(victim) = victim {
            self.evict(victim, now);
        }
        let session = Session::new(new_id.clone(), data, phase, now, idle_timeout_ms);
        let view = session.view(&self.settings.config);
        self.insert(session);
        // Looked up again: making room may have forgotten the old record.
        if let Some((old, _)) = self.sessions.lookup(id) {
            self.changing(old);
            if let Some(end) = self.sessions.get_mut(old).and_then(|s| s.end.as_mut()) {
                end.renewed_to = Some(Box::new(new_id));
            }
        }
        self.emit(Event::Renewed {
            session_id: view.id.clone(),
            previous_session_id: id.to_owned(),
            at: now,
        });
        Ok(view)
    }

    /// Checks the per-principal limit and capacity for one more session. Returns the
    /// session to evict, if the policy evicts; changes nothing.
    pub(super) fn make_room(
        &mut self,
        principal: Option<&str>,
        need: usize,
        now: u64,
    ) -> Result<Option<Handle>, SessionError> {
        if need > self.room() {
            return Err(self.storage_full(now));
        }
        if let Some(limit) = self.settings.config.max_sessions_per_principal {
            if self.per_principal.held(principal) >= limit {
                let retry_after_ms = self.retry_after(Some(RecordKind::Session), now);
                return Err(SessionError::PrincipalLimitExceeded {
                    limit,
                    retry_after_ms,
                });
            }
        }
        // Sessions left due by a bounded sweep make room first, as expired.
        while self.sessions.live() >= self.settings.config.max_sessions && self.backlog {
            self.expire_due(now, 1, |_, _, _| {});
            self.forget_old();
        }
        let config = &self.settings.config;
        if self.sessions.live() < config.max_sessions {
            return Ok(None);
        }
        let victim = match config.capacity_policy {
            CapacityPolicy::Reject => None,
            CapacityPolicy::EvictIdlest => self.index.idlest(),
        };
        match victim {
            Some(victim) => Ok(Some(victim)),
            None => {
                let limit = config.max_sessions;
                let retry_after_ms = self.retry_after(Some(RecordKind::Session), now);
                Err(SessionError::CapacityExceeded {
                    limit,
                    retry_after_ms,
                })
            }
        }
    }

    pub(super) fn evict(&mut self, handle: Handle, now: u64) {
        let Some(id) = self.sessions.get(handle).map(|s| s.id.to_string()) else {
            return;
        };
        self.end(handle, EndReason::Evicted, now);
        self.emit(Event::Evicted {
            session_id: id,
            at: now,
        });
    }

    /// A new ID that is well formed and neither live nor remembered, stored and as
    /// text.
    pub(super) fn fresh_id(&mut self) -> Result<(SessionId, String), SessionError> {
        for _ in 0..ID_ATTEMPTS {
            let text = self.ids.next_id()?;
            check_session_id(&text).map_err(|e| SessionError::IdSourceFailed {
                reason: format!("the ID source produced a malformed ID: {e}"),
            })?;
            let id = SessionId::new(&text);
            if self.sessions.find(&id).is_none() {
                return Ok((id, text));
            }
        }
        Err(SessionError::IdSourceFailed {
            reason: format!("{ID_ATTEMPTS} IDs in a row were already in use"),
        })
    }

    /// Stores a new live session and files its deadlines; returns its handle.
    pub(super) fn insert(&mut self, session: Session) -> Handle {
        let handle = self.insert_unfiled(session);
        if let Some(session) = self.sessions.get(handle) {
            self.index
                .file(handle, session, &self.settings.config, session.order);
        }
        handle
    }

    /// Stores a new live session without filing its deadlines (a restore files them
    /// all afterwards, in order). Its `order` is its sequence number.
    pub(super) fn insert_unfiled(&mut self, mut session: Session) -> Handle {
        session.order = self.taken;
        self.taken += 1;
        let handle = self.sessions.insert(session);
        self.count_live(handle);
        self.stored(handle);
        handle
    }

    /// Ends a live session: it stays stored, remembered as ended. One that never
    /// finished its handshake keeps nothing but what its 404 needs (its principal):
    /// there is nothing to renew.
    pub(super) fn end(&mut self, handle: Handle, reason: EndReason, at: u64) {
        if self.sessions.get(handle).is_none_or(|s| s.end.is_some()) {
            return;
        }
        self.changing(handle);
        let Some(session) = self.sessions.get_mut(handle) else {
            return;
        };
        self.index.remove(handle);
        let principal = session.data.principal.as_deref();
        match session.kind {
            RecordKind::Session => self.per_principal.remove(principal, handle),
            RecordKind::Handle => self.handle_principals.remove(principal, handle),
        }
        let mut dropped = None;
        if session.phase == Phase::Initializing {
            let before = footprint_of(&session.data);
            let data = &mut session.data;
            data.client_info = None;
            data.capabilities = None;
            data.state = empty_state();
            data.state_bytes = 2;
            dropped = Some((before, footprint_of(&session.data)));
        }
        if let Some((before, after)) = dropped {
            self.sessions.resized(before, after);
        }
        self.sessions.mark_ended(
            handle,
            Ending {
                reason,
                at,
                renewed_to: None,
            },
        );
        self.ended.remember(handle, at);
        self.forget_old();
    }
}

/// A new session's checked parts, however it was asked for.
pub(super) struct Fresh<'a> {
    principal: Option<Arc<str>>,
    requested_protocol_version: Option<&'a str>,
    client_info: Option<Arc<Shared>>,
    capabilities: Option<Arc<Shared>>,
    idle_timeout_ms: Option<u64>,
    state: Value,
    state_bytes: usize,
}

/// Client metadata from its JSON text, checked.
pub(super) fn metadata(argument: &str, text: &str, limit: usize) -> Result<Value, SessionError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| SessionError::invalid_argument(argument, e.to_string()))?;
    check_metadata(argument, &value, limit)?;
    Ok(value)
}

/// The idle timeout, given as `idleTimeoutMs` or as the seed's `timeout` (not both,
/// unless equal), checked.
pub(super) fn one_timeout(
    idle: Option<u64>,
    timeout: Option<u64>,
) -> Result<Option<u64>, SessionError> {
    let idle = match (idle, timeout) {
        (Some(a), Some(b)) if a != b => {
            return Err(SessionError::invalid_argument(
                "timeout",
                "differs from idleTimeoutMs (the same setting): give one",
            ))
        }
        (a, b) => a.or(b),
    };
    check_idle_timeout(idle)?;
    Ok(idle)
}

/// A create in the seed API's shape: see [`SessionStore::create_id_named`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Named<'a> {
    pub principal: Option<&'a str>,
    pub client_id: Option<&'a str>,
    /// Capability names separated by NUL (`"tools\0resources"`).
    pub capability_names: Option<&'a str>,
    pub idle_timeout_ms: Option<u64>,
}
