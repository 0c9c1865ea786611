//! The checks a restored record passes before anything of it reaches a store,
//! whatever form it came in (a version 1 document, a version 2 line, a version 3
//! piece): the same rules, and the same error, `INVALID_SNAPSHOT` naming the record
//! and the field.

use std::sync::Arc;

use foldhash::fast::SeedableRandomState;
use foldhash::SharedSeed;
use hashbrown::HashSet;
use serde_json::Value;

use crate::config::{check_protocol_version, MAX_TIME_MS};
use crate::error::{EndReason, SessionError};
use crate::ids::check_session_id;
use crate::intern::Shared;
use crate::patch::{check_metadata, check_state, MAX_METADATA_BYTES};
use crate::request::check_principal;
use crate::session::{Ending, Phase, RecordKind, Session, SessionData};
use crate::session_id::SessionId;

/// Where a record came from. Its name is written only for an error, so a valid
/// record costs no string.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Origin {
    /// An entry of a version 1 document's `list` (`sessions`, `ended`,
    /// `redeemed`); in a staged line, that line's number too.
    Doc {
        line: Option<usize>,
        list: &'static str,
        index: usize,
    },
    /// A version 2 line.
    Line(usize),
    /// A record of a version 3 piece, both counted from 1.
    Piece { piece: usize, record: usize },
}

impl Origin {
    fn name(self) -> String {
        match self {
            Origin::Doc {
                line: None,
                list,
                index,
            } => format!("{list}[{index}]"),
            Origin::Doc {
                line: Some(line),
                list,
                index,
            } => format!("line {line} {list}[{index}]"),
            Origin::Line(line) => format!("line {line}"),
            Origin::Piece { piece, record } => format!("piece {piece} record {record}"),
        }
    }

    /// The error that refuses this record for `field`.
    pub fn invalid(self, field: &str, reason: impl Into<String>) -> SessionError {
        invalid(Some(&self.name()), field, reason)
    }

    /// Refuses a time past [`MAX_TIME_MS`].
    pub fn time(self, field: &str, value: u64) -> Result<(), SessionError> {
        if value > MAX_TIME_MS {
            return Err(self.invalid(field, format!("{value} is over {MAX_TIME_MS}")));
        }
        Ok(())
    }
}

pub(crate) fn invalid(
    record: Option<&str>,
    field: &str,
    reason: impl Into<String>,
) -> SessionError {
    SessionError::InvalidSnapshot {
        record: record.map(str::to_owned),
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// A session ID as read: the 16 bytes of a hex ID (version 3 writes this crate's
/// IDs so), or text.
#[derive(Debug, Clone, Copy)]
pub(crate) enum IdIn<'a> {
    Hex([u8; 16]),
    Text(&'a str),
}

impl IdIn<'_> {
    /// The stored ID, or why it is refused.
    pub fn check(self) -> Result<SessionId, String> {
        match self {
            IdIn::Hex(bytes) => Ok(SessionId::Hex(bytes)),
            IdIn::Text(text) => {
                check_session_id(text).map_err(|e| e.to_string())?;
                Ok(SessionId::new(text))
            }
        }
    }
}

/// A client metadata value (`clientInfo`, `capabilities`) as read, checked once as
/// each field however many records share it: the shared copy, or why it is refused.
#[derive(Debug)]
pub(crate) struct Metadata {
    client_info: Result<Arc<Shared>, String>,
    capabilities: Result<Arc<Shared>, String>,
}

impl Metadata {
    /// Checks `value` (or the reason it could not be read) as both fields.
    pub fn check(value: Result<Value, String>) -> Metadata {
        let value = match value {
            Ok(value) => value,
            Err(reason) => {
                return Metadata {
                    client_info: Err(reason.clone()),
                    capabilities: Err(reason),
                }
            }
        };
        let as_field =
            |field| check_metadata(field, &value, MAX_METADATA_BYTES).map_err(|e| e.to_string());
        let (client_info, capabilities) = (as_field("clientInfo"), as_field("capabilities"));
        let shared = Shared::new(value);
        Metadata {
            client_info: client_info.map(|()| shared.clone()),
            capabilities: capabilities.map(|()| shared),
        }
    }

    pub fn client_info(&self) -> Result<Arc<Shared>, String> {
        self.client_info.clone()
    }

    pub fn capabilities(&self) -> Result<Arc<Shared>, String> {
        self.capabilities.clone()
    }
}

/// One shared copy of each principal and protocol version restored: a million
/// sessions of a thousand users hold a thousand strings, and counting them per
/// principal reads strings that are in cache.
#[derive(Debug)]
pub(crate) struct Strings(HashSet<Arc<str>, SeedableRandomState>);

impl Strings {
    /// An empty set whose hash is keyed by `seed`: principals are chosen by whoever
    /// authenticates.
    pub fn keyed(seed: u64) -> Self {
        Strings(HashSet::with_hasher(SeedableRandomState::with_seed(
            seed,
            SharedSeed::global_fixed(),
        )))
    }

    fn intern(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(shared.clone());
        shared
    }
}

/// A session's fields as read, before they are checked.
pub(crate) struct Fields<'a> {
    pub id: IdIn<'a>,
    pub kind: RecordKind,
    pub phase: Phase,
    pub principal: Option<&'a str>,
    pub protocol_version: &'a str,
    pub client_info: Option<Result<Arc<Shared>, String>>,
    pub capabilities: Option<Result<Arc<Shared>, String>>,
    pub state: Result<Value, String>,
    pub version: u64,
    pub created_at: u64,
    pub last_activity: u64,
    pub idle_timeout_ms: Option<u64>,
}

/// How an ended record ended, as read.
pub(crate) struct EndIn<'a> {
    pub reason: EndReason,
    pub ended_at: u64,
    pub renewed_to: Option<IdIn<'a>>,
}

/// A live session, checked. The state's size is checked against the store's
/// limit when the restore is applied (see `Staging::validate`): a staging belongs
/// to no store until then.
pub(crate) fn live(
    origin: Origin,
    f: Fields<'_>,
    strings: &mut Strings,
) -> Result<Session, SessionError> {
    session(origin, "", f, strings)
}

/// An ended session, checked: its session's fields are named `session.…`.
pub(crate) fn ended(
    origin: Origin,
    f: Fields<'_>,
    end: EndIn<'_>,
    strings: &mut Strings,
) -> Result<Session, SessionError> {
    let session = session(origin, "session.", f, strings)?;
    origin.time("endedAt", end.ended_at)?;
    let renewed_to = match end.renewed_to {
        Some(to) => Some(Box::new(
            to.check().map_err(|why| origin.invalid("renewedTo", why))?,
        )),
        None => None,
    };
    Ok(Session {
        end: Some(Ending {
            reason: end.reason,
            at: end.ended_at,
            renewed_to,
        }),
        ..session
    })
}

fn session(
    origin: Origin,
    prefix: &str,
    f: Fields<'_>,
    strings: &mut Strings,
) -> Result<Session, SessionError> {
    // Field names are written only for an error.
    let fail = |name: &str, reason: String| origin.invalid(&format!("{prefix}{name}"), reason);
    let time = |name: &str, value: u64| {
        if value > MAX_TIME_MS {
            return Err(fail(name, format!("{value} is over {MAX_TIME_MS}")));
        }
        Ok(())
    };
    let id = f.id.check().map_err(|why| fail("id", why))?;
    if let Some(p) = f.principal {
        check_principal(p).map_err(|e| fail("principal", e.to_string()))?;
    }
    check_protocol_version(f.protocol_version)
        .map_err(|why| fail("protocolVersion", why.to_owned()))?;
    let client_info = f
        .client_info
        .transpose()
        .map_err(|why| fail("clientInfo", why))?;
    let capabilities = f
        .capabilities
        .transpose()
        .map_err(|why| fail("capabilities", why))?;
    let state = f.state.map_err(|why| fail("state", why))?;
    let state_bytes = check_state(&state, usize::MAX).map_err(|e| fail("state", e.to_string()))?;
    time("createdAt", f.created_at)?;
    time("lastActivity", f.last_activity)?;
    if f.last_activity < f.created_at {
        return Err(fail("lastActivity", "is before createdAt".into()));
    }
    if let Some(idle) = f.idle_timeout_ms {
        if idle == 0 || idle > MAX_TIME_MS {
            return Err(fail("idleTimeoutMs", format!("must be 1 to {MAX_TIME_MS}")));
        }
    }
    if f.kind == RecordKind::Handle && (f.phase != Phase::Active || f.idle_timeout_ms.is_some()) {
        return Err(fail(
            "kind",
            "a handle is always active, with the store's handle timeouts".into(),
        ));
    }
    let data = SessionData {
        principal: f.principal.map(|p| strings.intern(p)),
        protocol_version: strings.intern(f.protocol_version),
        client_info,
        capabilities,
        state,
        state_bytes,
        version: f.version,
    };
    Ok(Session {
        // Restored idle: requests in flight did not survive.
        last_activity: f.last_activity,
        kind: f.kind,
        ..Session::new(id, data, f.phase, f.created_at, f.idle_timeout_ms)
    })
}
