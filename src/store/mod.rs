//! The session store: every operation of the session lifecycle.
//!
//! # Method families, in the order a host calls them
//! Like quinn-proto's `Connection`, the store is driven from outside and never
//! acts by itself. Its methods come in families, each in its own module:
//!
//! 1. **Lifecycle** ([`lifecycle`]): `create*` makes a session (an MCP
//!    `initialize`, or a plain create of the seed API, the hand-written TypeScript
//!    `SessionManager` design the package's API started from); `disconnect`/`resume`
//!    follow the transport; `close`, `expire`, `clear_all` end sessions; `renew`
//!    carries an ended session's state into a new one.
//! 2. **Gate** ([`gate`]): on every HTTP request, `begin_request` admits or refuses
//!    it (and `initialized` completes a handshake); `end_request` when its response
//!    is done.
//! 3. **State** ([`state`]): `update_state` (merge patch) and `replace_state`,
//!    both with compare-and-set.
//! 4. **Queries** ([`queries`]): `get`/`find`/`find_ref` (a read is activity),
//!    `peek`/`list`/`stats` (no side effect).
//! 5. **Timeouts** ([`timeouts`]): after every call the host asks `next_deadline`
//!    and arms one timer; when it fires it calls `sweep*`. Every other call also
//!    ends what is due first, so a late timer never lets a session outlive its
//!    deadline.
//! 6. **Events**: after every call the host takes `drain_events` (only the kinds
//!    `set_event_filter` asked for are built).
//! 7. **Persistence** ([`persistence`], [`journal`]): `snapshot*`/`export` out,
//!    `restore*` in; with journaling on, after every call the host exports the
//!    changed records, saves them, then commits or reverts (before step 6, so
//!    nobody hears of a change that is undone).
//! 8. **State handles** ([`handles`]): `create_handle`, `get_handle`,
//!    `update_handle`, `replace_handle_state`, `destroy_handle`, `list_handles`:
//!    the 2026-era records a tool mints and passes back as an argument.
//! 9. **Redeemed tokens** ([`redeemed`]): the store is a
//!    [`crate::request_state::SingleUse`] ledger for sealed `requestState`
//!    tokens, swept, journaled and snapshotted with its records.
//! 10. **Shared stores** ([`shared`]): `adopt` and `release` working copies
//!     of records a shared store (Redis) holds for several instances.
//!
//! # Kinds of record
//! A session and a state handle are records of one table ([`RecordKind`] on
//! each): the same deadline index, ended-ID memory, state code, snapshots and
//! journal serve both. What tells them apart is checked where a call finds its
//! record by ID (no extra lookup): session operations read a handle's ID as
//! unknown and handle operations a session's; each kind has its own caps and
//! per-principal counts (`sessions.live()` / `sessions.live_handles()`,
//! `per_principal` / `handle_principals`), and eviction never picks a handle.
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

mod gate;
mod handles;
mod journal;
mod lifecycle;
mod persistence;
mod queries;
mod redeemed;
mod shared;
mod state;
mod timeouts;

pub use handles::{HandleView, HANDLE_PREFIX};
pub use lifecycle::Named;
pub use queries::Stats;
pub use timeouts::Expiry;

use crate::config::{Config, Settings, MAX_TIME_MS};
use crate::ended::EndedOrder;
use crate::error::SessionError;
use crate::events::{Event, EventKind, EventQueue};
use crate::expiry::DeadlineIndex;
use crate::ids::{IdSource, SecureIds};
use crate::intern::Interner;
use crate::principals::{PrincipalCounts, PrincipalHandles};
use crate::request::check_principal;
use crate::request_state::Ledger;
use crate::session::{Phase, RecordKind, Session};
use crate::table::{Handle, IdHasher, SessionTable};

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
    /// Live sessions per principal.
    per_principal: PrincipalCounts,
    /// Live state handles per principal (apart from sessions), as sets.
    handle_principals: PrincipalHandles,
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
    journal: journal::Journal,
    /// Redeemed, unexpired `requestState` tokens (see [`redeemed`]).
    redeemed: Ledger,
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

fn check_optional_principal(principal: Option<&str>) -> Result<(), SessionError> {
    principal.map_or(Ok(()), check_principal)
}

impl SessionStore {
    /// A store with secure random IDs.
    pub fn new(config: Config) -> Result<Self, SessionError> {
        Self::with_id_source(config, Box::<SecureIds>::default())
    }

    /// A store whose IDs come from `ids` (a seeded source for tests and simulation).
    /// The seed of the ID map's hash is drawn from `ids` too (see
    /// [`IdSource::hash_seed`]): a failure there is `ID_SOURCE_FAILED`.
    pub fn with_id_source(
        config: Config,
        mut ids: Box<dyn IdSource + Send>,
    ) -> Result<Self, SessionError> {
        let max_sessions = config.max_sessions;
        let redeemed = Ledger::new(config.max_redeemed_tokens);
        let settings = Settings::new(config)?;
        let seed = ids.hash_seed()?;
        let hasher = IdHasher::new(seed);
        // The principal maps take their key from the same draw, mixed otherwise.
        let principal_seed = seed.rotate_left(32) as u64;
        Ok(SessionStore {
            settings,
            ids,
            sessions: SessionTable::with_capacity(hasher, max_sessions),
            index: DeadlineIndex::default(),
            ended: EndedOrder::default(),
            taken: 0,
            per_principal: PrincipalCounts::keyed(principal_seed),
            handle_principals: PrincipalHandles::keyed(principal_seed),
            client_infos: Interner::default(),
            capabilities: Interner::default(),
            client_names: Interner::default(),
            capability_lists: Interner::default(),
            events: EventQueue::default(),
            backlog: false,
            event_filter: u32::MAX,
            clock: 0,
            journal: journal::Journal::default(),
            redeemed,
        })
    }

    pub fn config(&self) -> &Config {
        &self.settings.config
    }

    /// The latest time the store has seen.
    pub fn clock(&self) -> u64 {
        self.clock
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

    /// Takes the pending events, oldest first.
    pub fn drain_events(&mut self) -> Vec<Event> {
        self.events.drain()
    }

    /// A live session was used at `now`: that is activity, so its idle deadline is
    /// filed again (and the journal notes it for the next activity batch). Every
    /// operation on a live session ends here, after any change it made.
    fn touched(&mut self, handle: Handle, now: u64) {
        self.using(handle);
        let config = &self.settings.config;
        if let Some(session) = self.sessions.get_mut(handle) {
            session.last_activity = now;
            if self.index.file(handle, session, config, self.taken) {
                self.taken += 1;
            }
        }
        self.note_activity(handle);
    }

    /// Sets a live session's phase (its deadline is filed by `touched`).
    fn set_phase(&mut self, handle: Handle, phase: Phase) {
        if let Some(session) = self.sessions.get_mut(handle) {
            session.phase = phase;
        }
    }

    /// The record in `handle` is live: counted for its principal.
    fn count_live(&mut self, handle: Handle) {
        if let Some(s) = self.sessions.get(handle) {
            let principal = s.data.principal.as_ref();
            match s.kind {
                RecordKind::Session => self.per_principal.add(principal, handle),
                RecordKind::Handle => self.handle_principals.add(principal, handle),
            }
        }
    }

    /// The record of `kind` in `handle`, `principal`'s, is no longer live.
    fn uncount_live(&mut self, kind: RecordKind, principal: Option<&str>, handle: Handle) {
        match kind {
            RecordKind::Session => self.per_principal.remove(principal, handle),
            RecordKind::Handle => self.handle_principals.remove(principal, handle),
        }
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
        let session = self.sessions.lookup(id).map(|(_, s)| s);
        match session
            .filter(|s| s.kind == RecordKind::Session)
            .and_then(|s| s.end.as_ref())
        {
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
    let Some((handle, session)) = session_mut(sessions, id) else {
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
    let Some((handle, session)) = session_mut(sessions, id) else {
        return Err(SessionError::SessionNotFound {
            session_id: id.to_owned(),
        });
    };
    if let Some(end) = &session.end {
        return Err(end.reason.error(id));
    }
    Ok((handle, session))
}

/// The stored session `id`, live or ended: a state handle is not a session, and
/// every session operation reads its ID as unknown.
fn session_mut<'a>(sessions: &'a mut SessionTable, id: &str) -> Option<(Handle, &'a mut Session)> {
    sessions
        .lookup_mut(id)
        .filter(|(_, s)| s.kind == RecordKind::Session)
}
