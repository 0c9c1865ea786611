//! Session management for MCP (Model Context Protocol) servers: a synchronous,
//! clock-injected state machine that owns the whole lifecycle of a session.
//!
//! Pure Rust, no I/O, no clock reads, no threads, no globals: every operation that
//! depends on time takes `now` (ms since the Unix epoch), [`SessionStore::next_deadline`]
//! says when the host must call [`SessionStore::sweep`], and lifecycle changes are
//! drained as [`Event`]s. Every failure is a [`SessionError`] with a stable code, the
//! HTTP status and the JSON-RPC code a server answers with.
//!
//! ```
//! use mcp_session_core::{Config, CreateParams, SessionStore};
//! let mut store = SessionStore::new(Config::default()).unwrap();
//! let s = store.create(CreateParams::default(), 1_000).unwrap();
//! let v = store.update_state(&s.id, &serde_json::json!({"n": 1}), Some(0), 2_000).unwrap();
//! assert_eq!(v, 1);
//! assert_eq!(store.next_deadline(), Some(2_000 + 30 * 60_000));
//! ```

pub mod answer;
pub mod config;
mod ended;
pub mod error;
pub mod events;
mod expiry;
pub mod ids;
mod intern;
pub mod json;
mod patch;
mod principals;
pub mod record;
pub mod request;
pub mod request_state;
pub mod session;
mod session_id;
pub mod snapshot;
mod store;
mod table;
#[cfg(test)]
mod typescript;

pub use answer::ClientAnswer;
pub use config::{CapacityPolicy, Config, MAX_TIME_MS};
pub use ended::Lookup;
pub use error::{EndReason, ForbiddenReason, InvalidIdReason, SessionError};
pub use events::{Event, EventKind};
pub use ids::{check_session_id, IdSource, InsecureSeededIds, SecureIds, MAX_SESSION_ID_BYTES};
pub use patch::{MAX_DEPTH, MAX_METADATA_BYTES};
pub use record::{Record, SessionRef, Status};
pub use request::{
    admit_initialize, Admission, CreateParams, Handshake, InitializePost, RequestHead, RequestKind,
    MAX_PRINCIPAL_BYTES,
};
pub use request_state::{
    Binding, CodecConfig, KeyRing, Ledger, Opened, Refusal, RequestStateCodec, RequestStateError,
    SingleUse,
};
pub use session::RecordKind;
pub use session::{EndedView, Phase, SessionView};
pub use snapshot::{
    RestoreReport, Staging, BINARY_VERSION, RECORDS_VERSION, SNAPSHOT_FORMAT, SNAPSHOT_VERSION,
};
pub use store::{Expiry, HandleView, Named, SessionStore, Stats, HANDLE_PREFIX};
