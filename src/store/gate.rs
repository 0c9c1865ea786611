//! The per-request gate of the MCP flow: `initialized` (the handshake's second
//! half), `begin_request` (admit or refuse a request, count it in flight) and
//! `end_request` (its response is done; the idle timer may start).

use crate::error::SessionError;
use crate::events::Event;
use crate::request::{Admission, RequestHead, RequestKind};
use crate::session::Phase;

use super::{check_now, check_optional_principal, live_mut, owned_mut, SessionStore};

impl SessionStore {
    /// `notifications/initialized`: an initializing session becomes active.
    pub fn initialized(&mut self, id: &str, now: u64) -> Result<(), SessionError> {
        let now = self.enter(id, now)?;
        let (handle, session) = live_mut(&mut self.sessions, id)?;
        if session.phase != Phase::Initializing {
            return Err(SessionError::AlreadyInitialized {
                session_id: id.to_owned(),
            });
        }
        self.changing(handle);
        self.set_phase(handle, Phase::Active);
        self.touched(handle, now);
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
        let now = self.enter_as(id, head.principal, now)?;
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
        if let Some(event) = event {
            // A phase change (initialized, or resumed) is durable.
            self.changing(handle);
            self.set_phase(handle, Phase::Active);
            self.emit(event);
        }
        self.using(handle);
        if let Some(session) = self.sessions.get_mut(handle) {
            session.in_flight += 1;
        }
        self.touched(handle, now);
        Ok(Admission::Admitted {
            phase: Phase::Active,
        })
    }

    /// The response (or stream) of a request admitted by `begin_request` is done.
    /// When nothing is left in flight the idle timer starts.
    pub fn end_request(&mut self, id: &str, now: u64) -> Result<(), SessionError> {
        let now = self.enter(id, now)?;
        let (handle, session) = live_mut(&mut self.sessions, id)?;
        let Some(in_flight) = session.in_flight.checked_sub(1) else {
            return Err(SessionError::invalid_argument(
                "sessionId",
                "no request is in flight on this session",
            ));
        };
        self.using(handle);
        if let Some(session) = self.sessions.get_mut(handle) {
            session.in_flight = in_flight;
        }
        self.touched(handle, now);
        Ok(())
    }
}
