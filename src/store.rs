//! The session store: every operation of the session lifecycle.
//!
//! # Time
//! Every operation that depends on time takes `now` (ms since the Unix epoch). The
//! store's clock never runs backwards: a `now` earlier than one already seen is taken
//! as the latest seen, so a clock step back can neither un-expire a session nor make
//! one live longer than its deadline.
//!
//! # Order of work in an operation
//! 1. Arguments are checked. Malformed ones give an error and change nothing, not
//!    even the clock.
//! 2. Time advances to `now`: every session whose deadline is at or before `now`
//!    ends (in deadline order, with an `expired` event), and ended records past their
//!    retention are forgotten. So no live session is ever seen past its deadline,
//!    whether or not the host has swept.
//! 3. The operation runs. If it fails, it changes nothing itself.

use std::mem::size_of;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::config::{CapacityPolicy, Config, Settings, MAX_TIME_MS};
use crate::ended::{EndReason, EndedOrder, Lookup};
use crate::error::{ExpiryReason, SessionError};
use crate::events::{Event, EventKind, EventQueue};
use crate::expiry::{phase_deadline, DeadlineIndex};
use crate::ids::{check_session_id, IdSource, SecureIds};
use crate::intern::{Interner, Shared};
use crate::patch::{check_metadata, check_state, merge_into};
use crate::principals::PrincipalCounts;
use crate::record::{Record, SessionRef};
use crate::request::{check_principal, Admission, CreateParams, RequestHead, RequestKind};
use crate::session::{empty_state, Ending, Phase, Session, SessionData, SessionView};
use crate::session_id::SessionId;
use crate::snapshot::{
    self, document, EndedRecord, RestoreReport, SessionRecord, Staging, ValidSnapshot,
};
use crate::table::{footprint_of, Handle, SessionTable};

/// How many times `create` draws a new ID after a collision before giving up.
const ID_ATTEMPTS: usize = 8;

/// A session that ended because its deadline passed, as `sweep` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Expiry {
    pub session_id: String,
    pub reason: ExpiryReason,
    /// The deadline that passed.
    pub at: u64,
}

/// Counts for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
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
}

/// All sessions of one server. Synchronous, no I/O, no clock: see the module docs.
pub struct SessionStore {
    settings: Settings,
    ids: Box<dyn IdSource + Send>,
    /// Every session, live or ended and remembered.
    sessions: SessionTable,
    /// Live sessions by deadline.
    index: DeadlineIndex,
    /// Ended sessions by the time they ended.
    ended: EndedOrder,
    /// The store's sequence: the next session's `order`, and the number a deadline
    /// takes when it is set (ties end in the order deadlines were set).
    taken: u64,
    per_principal: PrincipalCounts,
    /// One shared copy of each distinct client info, and of capabilities (apart:
    /// they are checked differently), by JSON text; and by client ID and by
    /// NUL-separated names for `create_id_named`.
    client_infos: Interner,
    capabilities: Interner,
    client_names: Interner,
    capability_lists: Interner,
    events: EventQueue,
    /// Set when a call ended fewer sessions than were due (see `sweep_batch_size`).
    backlog: bool,
    /// The event kinds recorded (a bit per [`EventKind`]); the host says which it
    /// listens to, so no event is built that nobody reads.
    event_filter: u32,
    clock: u64,
}

fn check_now(now: u64) -> Result<(), SessionError> {
    if now > MAX_TIME_MS {
        return Err(SessionError::invalid_argument(
            "now",
            format!("{now} is over {MAX_TIME_MS} ms"),
        ));
    }
    Ok(())
}

fn check_idle_timeout(idle: Option<u64>) -> Result<(), SessionError> {
    match idle {
        Some(ms) if ms == 0 || ms > MAX_TIME_MS => Err(SessionError::invalid_argument(
            "idleTimeoutMs",
            format!("must be 1 to {MAX_TIME_MS} ms"),
        )),
        _ => Ok(()),
    }
}

fn check_optional_principal(principal: Option<&str>) -> Result<(), SessionError> {
    principal.map_or(Ok(()), check_principal)
}

impl SessionStore {
    /// A store with secure random IDs.
    pub fn new(config: Config) -> Result<Self, SessionError> {
        Self::with_id_source(config, Box::<SecureIds>::default())
    }

    /// A store whose IDs come from `ids` (a seeded source for tests and simulation).
    pub fn with_id_source(
        config: Config,
        ids: Box<dyn IdSource + Send>,
    ) -> Result<Self, SessionError> {
        let max_sessions = config.max_sessions;
        Ok(SessionStore {
            settings: Settings::new(config)?,
            ids,
            sessions: SessionTable::with_capacity(max_sessions),
            index: DeadlineIndex::default(),
            ended: EndedOrder::default(),
            taken: 0,
            per_principal: PrincipalCounts::default(),
            client_infos: Interner::default(),
            capabilities: Interner::default(),
            client_names: Interner::default(),
            capability_lists: Interner::default(),
            events: EventQueue::default(),
            backlog: false,
            event_filter: u32::MAX,
            clock: 0,
        })
    }

    pub fn config(&self) -> &Config {
        &self.settings.config
    }

    /// The latest time the store has seen.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    // ----- lifecycle -----

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

    /// `create_id` for the seed brief's shape, with no JSON at all: a client ID
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
    fn create_fresh(&mut self, fresh: Fresh<'_>, now: u64) -> Result<String, SessionError> {
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
        let session = Session {
            id,
            data,
            phase,
            created_at: now,
            last_activity: now,
            idle_timeout_ms: fresh.idle_timeout_ms,
            in_flight: 0,
            order: 0,
            end: None,
        };
        self.insert(session);
        if self.wants(EventKind::Created) {
            self.emit(Event::Created {
                session_id: text.clone(),
                phase,
                at: now,
            });
        }
        Ok(text)
    }

    /// `notifications/initialized`: an initializing session becomes active.
    pub fn initialized(&mut self, id: &str, now: u64) -> Result<(), SessionError> {
        let now = self.enter(id, now)?;
        let config = &self.settings.config;
        let (handle, session) = live_mut(&mut self.sessions, id)?;
        if session.phase != Phase::Initializing {
            return Err(SessionError::AlreadyInitialized {
                session_id: id.to_owned(),
            });
        }
        session.phase = Phase::Active;
        session.last_activity = now;
        if self.index.file(handle, session, config, self.taken) {
            self.taken += 1;
        }
        self.emit(Event::Initialized {
            session_id: id.to_owned(),
            at: now,
        });
        Ok(())
    }

    /// The per-request gate. Checks the raw `Mcp-Session-Id`, the session, its
    /// principal, the `MCP-Protocol-Version` header and the phase; on success counts
    /// the request in flight (the session is not idle until `end_request`).
    ///
    /// `notifications/initialized` activates an initializing session; a request to a
    /// disconnected session resumes it (the client came back).
    pub fn begin_request(
        &mut self,
        head: &RequestHead<'_>,
        now: u64,
    ) -> Result<Admission, SessionError> {
        check_now(now)?;
        let Some(id) = head.session_id else {
            if head.kind != RequestKind::Initialize {
                return Err(SessionError::MissingSessionId);
            }
            check_optional_principal(head.principal)?;
            self.advance(now);
            return Ok(Admission::Initialize);
        };
        check_session_id(id)?;
        check_optional_principal(head.principal)?;
        let now = self.advance(now);
        self.expire_if_due(id);
        let config = &self.settings.config;
        let (handle, session) = owned_mut(&mut self.sessions, id, head.principal)?;
        let already = || SessionError::AlreadyInitialized {
            session_id: id.to_owned(),
        };
        if head.kind == RequestKind::Initialize {
            return Err(already());
        }
        if let Some(requested) = head.protocol_version {
            if requested != &*session.data.protocol_version {
                let requested = if crate::config::check_protocol_version(requested).is_ok() {
                    requested.to_owned()
                } else {
                    "(malformed)".to_owned()
                };
                return Err(SessionError::UnsupportedProtocolVersion {
                    requested,
                    supported: self.settings.config.supported_protocol_versions.clone(),
                });
            }
        }
        let event = match (session.phase, head.kind) {
            (Phase::Initializing, RequestKind::Initialized) => Some(Event::Initialized {
                session_id: id.to_owned(),
                at: now,
            }),
            (Phase::Initializing, _) => {
                return Err(SessionError::NotInitialized {
                    session_id: id.to_owned(),
                })
            }
            (_, RequestKind::Initialized) => return Err(already()),
            (Phase::Disconnected, _) => Some(Event::Resumed {
                session_id: id.to_owned(),
                at: now,
            }),
            (Phase::Active, _) => None,
        };
        let limit = self.settings.config.max_in_flight_per_session;
        if session.in_flight >= limit {
            // Requests end in seconds: a second is a fair first wait.
            return Err(SessionError::TooManyRequests {
                limit,
                retry_after_ms: 1_000,
            });
        }
        let in_flight = session.in_flight + 1;
        session.phase = Phase::Active;
        session.in_flight = in_flight;
        session.last_activity = now;
        if self.index.file(handle, session, config, self.taken) {
            self.taken += 1;
        }
        if let Some(event) = event {
            self.emit(event);
        }
        Ok(Admission::Admitted {
            phase: Phase::Active,
        })
    }

    /// The response (or stream) of a request admitted by `begin_request` is done.
    /// When nothing is left in flight the idle timer starts.
    pub fn end_request(&mut self, id: &str, now: u64) -> Result<(), SessionError> {
        let now = self.enter(id, now)?;
        let config = &self.settings.config;
        let (handle, session) = live_mut(&mut self.sessions, id)?;
        let Some(in_flight) = session.in_flight.checked_sub(1) else {
            return Err(SessionError::invalid_argument(
                "sessionId",
                "no request is in flight on this session",
            ));
        };
        session.in_flight = in_flight;
        session.last_activity = now;
        if self.index.file(handle, session, config, self.taken) {
            self.taken += 1;
        }
        Ok(())
    }

    /// The session, counting as activity.
    pub fn get(&mut self, id: &str, now: u64) -> Result<SessionView, SessionError> {
        let now = self.enter(id, now)?;
        let config = &self.settings.config;
        let (handle, session) = live_mut(&mut self.sessions, id)?;
        session.last_activity = now;
        if self.index.file(handle, session, config, self.taken) {
            self.taken += 1;
        }
        Ok(session.view(config))
    }

    /// What `id` is: a live session (touched, as `get`), an ended one still
    /// remembered, or unknown. For hosts that show ended sessions (the seed's
    /// `getSession` answers `status: 'expired'`) rather than answer 404.
    pub fn find(&mut self, id: &str, now: u64) -> Result<Lookup, SessionError> {
        let now = self.enter(id, now)?;
        let config = &self.settings.config;
        let Some((handle, session)) = self.sessions.lookup_mut(id) else {
            return Ok(Lookup::Unknown);
        };
        if let Some(end) = &session.end {
            return Ok(Lookup::Ended(session.ended_view(end)));
        }
        session.last_activity = now;
        if self.index.file(handle, session, config, self.taken) {
            self.taken += 1;
        }
        Ok(Lookup::Live(session.view(config)))
    }

    /// `find` without the copy: a reference to the session `id` (touched if live,
    /// as `get`), or `None` if no such session is stored. Read its fields with
    /// [`Self::record`]. An ended session is found while it is remembered.
    pub fn find_ref(&mut self, id: &str, now: u64) -> Result<Option<SessionRef>, SessionError> {
        let now = self.enter(id, now)?;
        let config = &self.settings.config;
        let Some((handle, session)) = self.sessions.lookup_mut(id) else {
            return Ok(None);
        };
        let found = SessionRef {
            slot: handle,
            order: session.order,
        };
        if session.end.is_none() {
            session.last_activity = now;
            if self.index.file(handle, session, config, self.taken) {
                self.taken += 1;
            }
        }
        Ok(Some(found))
    }

    /// The session `r` refers to, if it is still stored.
    pub fn record(&self, r: SessionRef) -> Option<Record<'_>> {
        let session = self.sessions.get(r.slot)?;
        (session.order == r.order).then_some(Record {
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
            Some((_, session)) if session.end.is_none() => match session.deadline(config) {
                Some((at, reason)) if at <= now => Err(SessionError::SessionExpired {
                    session_id: id.to_owned(),
                    reason,
                }),
                _ => Ok(session.view(config)),
            },
            _ => Err(self.ended_error(id, now)),
        }
    }

    /// Every live session, oldest first.
    pub fn list(&self, now: u64) -> Result<Vec<SessionView>, SessionError> {
        check_now(now)?;
        let now = now.max(self.clock);
        let config = &self.settings.config;
        let mut live: Vec<&Session> = self.live_at(now).collect();
        live.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(live.into_iter().map(|s| s.view(config)).collect())
    }

    /// Counts by phase, records, events and an estimate of memory. O(sessions).
    pub fn stats(&self, now: u64) -> Result<Stats, SessionError> {
        check_now(now)?;
        let now = now.max(self.clock);
        let mut stats = Stats {
            total_bytes: self.sessions.bytes(),
            pending_events: self.events.len(),
            dropped_events: self.events.dropped(),
            ..Stats::default()
        };
        let entry = size_of::<Session>() + size_of::<(u64, SessionId, Handle)>() + 16;
        for s in self.live_at(now) {
            stats.live += 1;
            match s.phase {
                Phase::Initializing => stats.initializing += 1,
                Phase::Active => stats.active += 1,
                Phase::Disconnected => stats.disconnected += 1,
            }
            stats.in_flight += u64::from(s.in_flight);
            stats.approximate_bytes += entry + s.id.len() + footprint_of(&s.data);
        }
        for (s, _) in self.ended_at(now) {
            stats.ended_remembered += 1;
            stats.approximate_bytes += entry + s.id.len() + footprint_of(&s.data);
        }
        Ok(stats)
    }

    // ----- state -----

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
        let max_state = self.settings.config.max_state_bytes;
        let room = self.room();
        let (handle, session) = live_mut(&mut self.sessions, id)?;
        check_version(session, expected_version)?;
        next_version(session)?;
        let data = &mut session.data;
        let before = data.state_bytes;
        // The state may grow to its own limit, and by no more than the room left.
        let limit = max_state.min(before.saturating_add(room));
        data.state_bytes = match merge_into(&mut data.state, before, patch, limit) {
            Err(SessionError::StateTooLarge { size, .. }) if size <= max_state => {
                return Err(self.storage_full(now));
            }
            result => result?,
        };
        let after = data.state_bytes;
        self.sessions.resized(before, after);
        self.commit_state(handle, id, now)
    }

    /// Bytes left under `max_total_bytes` (unbounded without it).
    fn room(&self) -> usize {
        self.settings
            .config
            .max_total_bytes
            .map_or(usize::MAX, |max| max.saturating_sub(self.sessions.bytes()))
    }

    /// The refusal when `max_total_bytes` leaves no room.
    fn storage_full(&mut self, now: u64) -> SessionError {
        SessionError::StorageLimitExceeded {
            limit: self.settings.config.max_total_bytes.unwrap_or(usize::MAX),
            retry_after_ms: self.retry_after(now),
        }
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
        let room = self.room();
        let (handle, session) = live_mut(&mut self.sessions, id)?;
        check_version(session, expected_version)?;
        next_version(session)?;
        let before = session.data.state_bytes;
        if size > before.saturating_add(room) {
            return Err(self.storage_full(now));
        }
        session.data.state = state;
        session.data.state_bytes = size;
        self.sessions.resized(before, size);
        self.commit_state(handle, id, now)
    }

    /// After the state of `handle` changed: its version moves on (checked to be
    /// possible before the change), it counts as activity, and it is announced.
    fn commit_state(&mut self, handle: Handle, id: &str, now: u64) -> Result<u64, SessionError> {
        let config = &self.settings.config;
        let Some(session) = self.sessions.get_mut(handle) else {
            return Err(SessionError::SessionNotFound {
                session_id: id.to_owned(),
            });
        };
        let version = next_version(session)?;
        session.data.version = version;
        session.last_activity = now;
        if self.index.file(handle, session, config, self.taken) {
            self.taken += 1;
        }
        if self.wants(EventKind::StateChanged) {
            self.emit(Event::StateChanged {
                session_id: id.to_owned(),
                version,
                at: now,
            });
        }
        Ok(version)
    }

    // ----- transport -----

    /// The transport is gone: the session keeps its state and can be resumed until
    /// its idle timeout. Requests in flight died with the transport. Disconnecting a
    /// disconnected session does nothing.
    pub fn disconnect(&mut self, id: &str, now: u64) -> Result<(), SessionError> {
        let now = self.enter(id, now)?;
        let config = &self.settings.config;
        let (handle, session) = live_mut(&mut self.sessions, id)?;
        match session.phase {
            Phase::Initializing => Err(SessionError::NotInitialized {
                session_id: id.to_owned(),
            }),
            Phase::Disconnected => Ok(()),
            Phase::Active => {
                session.phase = Phase::Disconnected;
                session.in_flight = 0;
                session.last_activity = now;
                if self.index.file(handle, session, config, self.taken) {
                    self.taken += 1;
                }
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
        check_now(now)?;
        check_session_id(id)?;
        check_optional_principal(principal)?;
        let now = self.advance(now);
        self.expire_if_due(id);
        let config = &self.settings.config;
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
        session.phase = Phase::Active;
        session.last_activity = now;
        if self.index.file(handle, session, config, self.taken) {
            self.taken += 1;
        }
        let view = session.view(config);
        if resumed {
            self.emit(Event::Resumed {
                session_id: id.to_owned(),
                at: now,
            });
        }
        Ok(view)
    }

    // ----- ending -----

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
            reason: ExpiryReason::Requested,
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
            .filter(|(_, s)| s.end.is_none())
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
        check_now(now)?;
        check_session_id(id)?;
        check_optional_principal(principal)?;
        let now = self.advance(now);
        self.expire_if_due(id);
        let Some((_, old)) = self.sessions.lookup(id) else {
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
        let session = Session {
            id: new_id.clone(),
            data,
            phase,
            created_at: now,
            last_activity: now,
            idle_timeout_ms,
            in_flight: 0,
            order: 0,
            end: None,
        };
        let view = session.view(&self.settings.config);
        self.insert(session);
        // Looked up again: making room may have forgotten the old record.
        if let Some(end) = self
            .sessions
            .lookup_mut(id)
            .and_then(|(_, old)| old.end.as_mut())
        {
            end.renewed_to = Some(Box::new(new_id));
        }
        self.emit(Event::Renewed {
            session_id: view.id.clone(),
            previous_session_id: id.to_owned(),
            at: now,
        });
        Ok(view)
    }

    // ----- time -----

    /// Ends every session whose deadline is at or before `now` and returns them, in
    /// deadline order. Hosts call it at `next_deadline()`.
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
        report: impl FnMut(&str, ExpiryReason, u64),
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
        report: impl FnMut(&str, ExpiryReason, u64),
    ) -> Result<(), SessionError> {
        check_now(now)?;
        self.advance_reporting(now, limit.max(1), report);
        Ok(())
    }

    /// When the host must call `sweep` next: the earliest deadline of any live
    /// session, or `None` if none has one. At or before the store's clock while more
    /// sessions are due than one call ends (`sweep_batch_size`). O(number of
    /// distinct timeouts).
    pub fn next_deadline(&mut self) -> Option<u64> {
        self.index.earliest()
    }

    /// Records only these event kinds from now on (all by default). A host that
    /// listens to a few kinds saves building the others.
    pub fn set_event_filter(&mut self, kinds: &[EventKind]) {
        self.event_filter = kinds.iter().fold(0, |mask, kind| mask | kind.bit());
    }

    /// How many events wait to be drained.
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// The earliest deadline if it is before `bound` (any, without a bound): what a
    /// host with a timer armed at `bound` asks after every call.
    pub fn next_deadline_before(&mut self, bound: Option<u64>) -> Option<u64> {
        self.next_deadline()
            .filter(|at| bound.is_none_or(|bound| *at < bound))
    }

    /// Takes the pending events, oldest first.
    pub fn drain_events(&mut self) -> Vec<Event> {
        self.events.drain()
    }

    // ----- persistence -----

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
        document(now, sessions, ended)
    }

    /// A snapshot of just these sessions, live or ended (unknown IDs are left out):
    /// what a journal appends after they change, so that replaying journal records
    /// over a full snapshot and restoring gives the store back.
    pub fn export(&self, ids: &[String], now: u64) -> Result<String, SessionError> {
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
        document(now, sessions, ended)
    }

    /// Live sessions not past their deadline at `now` (for the read-only
    /// operations, which do not advance the clock).
    fn live_at(&self, now: u64) -> impl Iterator<Item = &Session> {
        let config = &self.settings.config;
        self.sessions
            .iter()
            .map(|(_, s)| s)
            .filter(move |s| s.end.is_none() && !s.is_due(config, now))
    }

    /// Ended sessions still remembered at `now`.
    fn ended_at(&self, now: u64) -> impl Iterator<Item = (&Session, &Ending)> {
        self.sessions
            .iter()
            .filter_map(|(_, s)| Some((s, s.end.as_ref()?)))
            .filter(move |(_, e)| self.remembered(e, now))
    }

    fn remembered(&self, end: &Ending, now: u64) -> bool {
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
        Ok(self.apply(valid, now))
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
        Ok(self.apply(valid, now))
    }

    /// A snapshot as lines, `max_bytes` or so at a time, starting at the session in
    /// slot `from` (0 starts with the header line): the lines joined by newlines, and
    /// where the next call starts (`None`: done). The host writes each piece as it
    /// comes, so a store of any size is written without one string holding it all.
    /// Called again and again with no change between, the pieces make one snapshot.
    pub fn snapshot_records(
        &self,
        now: u64,
        from: usize,
        max_bytes: usize,
    ) -> Result<(String, Option<usize>), SessionError> {
        check_now(now)?;
        let now = now.max(self.clock);
        let config = &self.settings.config;
        let mut out = if from == 0 {
            snapshot::records_header(now)?
        } else {
            String::new()
        };
        // Each piece holds at least one session, so the pieces always move on.
        let mut added = false;
        for (slot, session) in self.sessions.iter_from(from) {
            if added && out.len() >= max_bytes {
                return Ok((out, Some(slot)));
            }
            let line = match &session.end {
                None if !session.is_due(config, now) => snapshot::session_line(
                    SessionRecord::from_session(session, &self.settings, now),
                )?,
                Some(end) if self.remembered(end, now) => {
                    snapshot::ended_line(ended_record(session, end))?
                }
                _ => continue,
            };
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&line);
            added = true;
        }
        Ok((out, None))
    }

    /// Applies a validated snapshot (see `restore`).
    fn apply(&mut self, valid: ValidSnapshot, now: u64) -> RestoreReport {
        let now = self.advance(now);
        let max_sessions = self.settings.config.max_sessions;
        let mut report = RestoreReport::default();
        let mut sessions = valid.sessions;
        // Times after this store's (a snapshot from a machine whose clock is ahead, or
        // from before this clock went back) are brought back to it: the store's time
        // never goes back, and a session is never active before it was created.
        for session in sessions.iter_mut() {
            session.clamp_times(now);
        }
        sessions.sort_by(|a, b| (b.last_activity, &a.id).cmp(&(a.last_activity, &b.id)));
        let mut taken = Vec::new();
        for mut session in sessions {
            if session.is_due(&self.settings.config, now) {
                report.skipped_expired += 1;
            } else if self.sessions.find(&session.id).is_some() {
                report.refused_existing += 1;
            } else if self.sessions.live() >= max_sessions {
                report.refused_capacity += 1;
            } else {
                let id = session.id.to_string();
                let data = &mut session.data;
                data.client_info = data
                    .client_info
                    .take()
                    .map(|m| self.client_infos.intern(m.value.clone()));
                data.capabilities = data
                    .capabilities
                    .take()
                    .map(|m| self.capabilities.intern(m.value.clone()));
                taken.push(self.insert_unfiled(session));
                self.emit(Event::Restored {
                    session_id: id,
                    at: now,
                });
                report.restored += 1;
            }
        }
        self.file_restored(&taken);
        let max = self.settings.config.max_ended_remembered;
        let mut ended = valid.ended;
        ended.sort_by(|a, b| a.id.cmp(&b.id));
        for mut session in ended {
            session.clamp_times(now);
            let remembered = session
                .end
                .as_ref()
                .is_some_and(|e| self.remembered(e, now));
            let at = session.end.as_ref().map_or(now, |e| e.at);
            if remembered && self.sessions.find(&session.id).is_none() {
                let handle = self.sessions.insert(session);
                self.ended.remember(&mut self.sessions, handle, at, max);
                report.ended_restored += 1;
            }
        }
        report
    }

    /// Files restored sessions' deadlines in deadline order, each kind of deadline
    /// on its own, so that filing a whole snapshot into an empty store only appends.
    fn file_restored(&mut self, handles: &[Handle]) {
        let config = &self.settings.config;
        let sessions = &self.sessions;
        let keyed = |deadline: fn(&Session, &Config) -> Option<u64>| {
            let mut keys: Vec<(Option<u64>, u64, Handle)> = handles
                .iter()
                .filter_map(|&h| sessions.get(h).map(|s| (deadline(s, config), s.order, h)))
                .collect();
            keys.sort_unstable();
            keys
        };
        let by_phase = keyed(|s, c| phase_deadline(s, c).map(|(_, at)| at));
        let by_lifetime = keyed(|s, c| {
            c.absolute_lifetime_ms
                .map(|l| s.created_at.saturating_add(l))
        });
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

    // ----- internals -----

    /// The prologue of every operation on one session: the arguments are checked
    /// (changing nothing if malformed), then time advances to `now`.
    fn enter(&mut self, id: &str, now: u64) -> Result<u64, SessionError> {
        check_now(now)?;
        check_session_id(id)?;
        let now = self.advance(now);
        self.expire_if_due(id);
        Ok(now)
    }

    /// Moves the clock to `now` (never back), ends what is due (at most
    /// `sweep_batch_size` sessions) and forgets old records. Returns the store's time.
    fn advance(&mut self, now: u64) -> u64 {
        let limit = self.settings.config.sweep_batch_size;
        self.advance_reporting(now, limit, |_, _, _| {});
        self.clock
    }

    /// `advance`, ending at most `limit` sessions and handing each to `report`.
    fn advance_reporting(
        &mut self,
        now: u64,
        limit: usize,
        report: impl FnMut(&str, ExpiryReason, u64),
    ) {
        self.clock = now.max(self.clock);
        self.expire_due(self.clock, limit, report);
        self.forget_old();
    }

    /// Forgets ended records past their retention.
    fn forget_old(&mut self) {
        if let Some(cutoff) = self
            .clock
            .checked_sub(self.settings.config.ended_retention_ms)
        {
            self.ended.forget_ended_by(&mut self.sessions, cutoff);
        }
    }

    /// Ends the sessions due by `now` in the order they end (deadline, then the
    /// order their deadlines were set), at most `limit` of them. If some are left
    /// due, says so with a `sweepPaused` event and remembers that a session may be
    /// due when it is next used (see [`Self::expire_if_due`]).
    fn expire_due(
        &mut self,
        now: u64,
        limit: usize,
        mut report: impl FnMut(&str, ExpiryReason, u64),
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
                None => ExpiryReason::Idle,
            };
            let id = session.id.clone();
            self.end(handle, reason.into(), at);
            ended += 1;
            id.with_str(|id| report(id, reason, at));
            if wants_event {
                self.emit(Event::Expired {
                    session_id: id.to_string(),
                    reason,
                    at,
                });
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
    fn expire_if_due(&mut self, id: &str) {
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
        if let Some((at, reason)) = due {
            self.end(handle, reason.into(), at);
            self.forget_old();
            self.emit(Event::Expired {
                session_id: id.to_owned(),
                reason,
                at,
            });
        }
    }

    /// Checks the per-principal limit and capacity for one more session. Returns the
    /// session to evict, if the policy evicts; changes nothing.
    fn make_room(
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
                let retry_after_ms = self.retry_after(now);
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
                let retry_after_ms = self.retry_after(now);
                Err(SessionError::CapacityExceeded {
                    limit,
                    retry_after_ms,
                })
            }
        }
    }

    /// How long a refused client should wait: until the next session ends (room may
    /// free up then), or an idle timeout if none has a deadline.
    fn retry_after(&mut self, now: u64) -> u64 {
        match self.next_deadline() {
            Some(at) => at.saturating_sub(now).max(1),
            None => self.settings.config.idle_timeout_ms,
        }
    }

    fn evict(&mut self, handle: Handle, now: u64) {
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
    fn fresh_id(&mut self) -> Result<(SessionId, String), SessionError> {
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
    fn insert(&mut self, session: Session) -> Handle {
        let handle = self.insert_unfiled(session);
        if let Some(session) = self.sessions.get(handle) {
            self.index
                .file(handle, session, &self.settings.config, session.order);
        }
        handle
    }

    /// Stores a new live session without filing its deadlines (a restore files them
    /// all afterwards, in order). Its `order` is its sequence number.
    fn insert_unfiled(&mut self, mut session: Session) -> Handle {
        session.order = self.taken;
        self.taken += 1;
        self.per_principal.add(session.data.principal.as_ref());
        self.sessions.insert(session)
    }

    /// Ends a live session: it stays stored, remembered as ended. One that never
    /// finished its handshake keeps nothing but what its 404 needs (its principal):
    /// there is nothing to renew.
    fn end(&mut self, handle: Handle, reason: EndReason, at: u64) {
        let Some(session) = self.sessions.get_mut(handle) else {
            return;
        };
        if session.end.is_some() {
            return;
        }
        self.index.remove(handle);
        self.per_principal.remove(session.data.principal.as_deref());
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
        self.ended.remember(
            &mut self.sessions,
            handle,
            at,
            self.settings.config.max_ended_remembered,
        );
    }

    fn emit(&mut self, event: Event) {
        if self.wants(event.kind()) {
            self.events
                .push(event, self.settings.config.max_pending_events);
        }
    }

    fn wants(&self, kind: EventKind) -> bool {
        self.event_filter & kind.bit() != 0
    }

    /// The 404 for an ID that is not live at `now`.
    fn ended_error(&self, id: &str, now: u64) -> SessionError {
        match self.sessions.lookup(id).and_then(|(_, s)| s.end.as_ref()) {
            Some(e) if self.remembered(e, now) => e.reason.error(id),
            _ => SessionError::SessionNotFound {
                session_id: id.to_owned(),
            },
        }
    }
}

/// The live session `id` for a request on behalf of `principal`. Another
/// principal's session, live or ended, reads as `PRINCIPAL_MISMATCH` (which answers
/// like an unknown ID), so nobody learns whether someone else's ID exists or how it
/// ended.
fn owned_mut<'a>(
    sessions: &'a mut SessionTable,
    id: &str,
    principal: Option<&str>,
) -> Result<(Handle, &'a mut Session), SessionError> {
    let Some((handle, session)) = sessions.lookup_mut(id) else {
        return Err(SessionError::SessionNotFound {
            session_id: id.to_owned(),
        });
    };
    if session.data.principal.as_deref() != principal {
        return Err(SessionError::PrincipalMismatch {
            session_id: id.to_owned(),
        });
    }
    if let Some(end) = &session.end {
        return Err(end.reason.error(id));
    }
    Ok((handle, session))
}

fn live_mut<'a>(
    sessions: &'a mut SessionTable,
    id: &str,
) -> Result<(Handle, &'a mut Session), SessionError> {
    let Some((handle, session)) = sessions.lookup_mut(id) else {
        return Err(SessionError::SessionNotFound {
            session_id: id.to_owned(),
        });
    };
    if let Some(end) = &session.end {
        return Err(end.reason.error(id));
    }
    Ok((handle, session))
}

/// The version a state change gives `session`, if it can have one more.
fn next_version(session: &Session) -> Result<u64, SessionError> {
    session
        .data
        .version
        .checked_add(1)
        .ok_or_else(|| SessionError::InvalidState {
            reason: "the state version cannot grow further".into(),
        })
}

fn check_version(session: &Session, expected: Option<u64>) -> Result<(), SessionError> {
    match expected {
        Some(expected) if expected != session.data.version => Err(SessionError::VersionConflict {
            session_id: session.id.to_string(),
            expected_version: expected,
            actual_version: session.data.version,
        }),
        _ => Ok(()),
    }
}

fn ended_record(session: &Session, end: &Ending) -> EndedRecord {
    EndedRecord {
        session: SessionRecord::from_ended(session),
        reason: end.reason,
        ended_at: end.at,
        renewed_to: end.renewed_to.as_ref().map(|id| id.to_string()),
    }
}

/// A new session's checked parts, however it was asked for.
struct Fresh<'a> {
    principal: Option<Arc<str>>,
    requested_protocol_version: Option<&'a str>,
    client_info: Option<Arc<Shared>>,
    capabilities: Option<Arc<Shared>>,
    idle_timeout_ms: Option<u64>,
    state: Value,
    state_bytes: usize,
}

/// `CreateParams` as JSON text, borrowed: metadata and state stay raw until needed.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawCreateParams<'a> {
    #[serde(borrow)]
    principal: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    requested_protocol_version: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    client_info: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    client_id: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    capabilities: Option<&'a serde_json::value::RawValue>,
    idle_timeout_ms: Option<u64>,
    timeout: Option<u64>,
    #[serde(borrow)]
    state: Option<&'a serde_json::value::RawValue>,
}

/// Client metadata from its JSON text, checked.
fn metadata(argument: &str, text: &str, limit: usize) -> Result<Value, SessionError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| SessionError::invalid_argument(argument, e.to_string()))?;
    check_metadata(argument, &value, limit)?;
    Ok(value)
}

/// The idle timeout, given as `idleTimeoutMs` or as the seed's `timeout` (not both,
/// unless equal), checked.
fn one_timeout(idle: Option<u64>, timeout: Option<u64>) -> Result<Option<u64>, SessionError> {
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

/// A create in the seed brief's shape: see [`SessionStore::create_id_named`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Named<'a> {
    pub principal: Option<&'a str>,
    pub client_id: Option<&'a str>,
    /// Capability names separated by NUL (`"tools\0resources"`).
    pub capability_names: Option<&'a str>,
    pub idle_timeout_ms: Option<u64>,
}
