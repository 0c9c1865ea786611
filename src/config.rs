//! Limits and timeouts of a store, with the defaults seen in the field.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::SessionError;
use crate::ids::is_visible_ascii;

/// The largest duration or timestamp accepted anywhere: 2^53 - 1 ms, the largest
/// integer a JS number holds exactly, so values survive the trip through JS.
pub const MAX_TIME_MS: u64 = (1 << 53) - 1;

/// The longest protocol version string accepted (they are dates, `2025-06-18`).
pub const MAX_PROTOCOL_VERSION_BYTES: usize = 64;

/// What `create` does when `max_sessions` live sessions exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "kebab-case")]
pub enum CapacityPolicy {
    /// Refuse with `CAPACITY_EXCEEDED` (HTTP 503) and a retry-after taken from the
    /// next deadline.
    #[default]
    Reject,
    /// End the idlest session with nothing in flight: the one whose deadline is
    /// nearest. With one idle timeout for all sessions that is the least recently
    /// active; half-open handshakes, whose init deadline comes first, go before
    /// sessions in use.
    EvictIdlest,
}

/// Configuration of a [`crate::SessionStore`]. Every field has a default; JSON and JS
/// callers use the camelCase names and may give any subset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename = "ResolvedConfig"))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Config {
    /// A session that has not sent `notifications/initialized` ends this long after
    /// it was created (rmcp's default: 60 s).
    pub init_timeout_ms: u64,
    /// A session ends this long after its last request ended (30 min, as n8n-mcp and
    /// the python SDK). A session with a request or stream in flight is never idle.
    pub idle_timeout_ms: u64,
    /// If set, a session ends this long after it was created, however busy.
    pub absolute_lifetime_ms: Option<u64>,
    /// Live sessions at most (10,000, as the python and C# SDKs).
    pub max_sessions: usize,
    /// What happens at `max_sessions`.
    pub capacity_policy: CapacityPolicy,
    /// If set, live sessions one principal may hold.
    pub max_sessions_per_principal: Option<usize>,
    /// Largest state, as serialized JSON bytes (64 KiB).
    pub max_state_bytes: usize,
    /// Protocol versions this server speaks, oldest first. A client asking for
    /// another gets the newest (the last), as the spec's negotiation says.
    pub supported_protocol_versions: Vec<String>,
    /// How long an ended session's ID is remembered, so that it answers 404 with its
    /// reason, can be renewed, and is never handed out again.
    pub ended_retention_ms: u64,
    /// How many ended sessions are remembered at most (the oldest go first).
    pub max_ended_remembered: usize,
    /// How many undrained events are kept; past that the oldest are dropped and
    /// counted, so a host that never drains cannot make the store grow.
    pub max_pending_events: usize,
    /// The most sessions one call ends for their deadlines. More than that due at
    /// once (a million sessions made together, expiring together) end over several
    /// calls, so no call blocks the host for long: the manager's timer ends the
    /// rest in later turns of the event loop. A due session that is used before its
    /// turn ends when it is used.
    pub sweep_batch_size: usize,
    /// Requests (and streams) one session may have in flight at once; one more is
    /// refused with `TOO_MANY_REQUESTS` (429), so one client cannot tie up the server
    /// with slow calls on one session.
    pub max_in_flight_per_session: u32,
    /// The largest `clientInfo`, and the largest `capabilities`, a new session keeps
    /// (serialized JSON; 8 KiB each, at most 64 KiB): what a rebuild after a restart
    /// needs, and no more. A bigger one refuses the session (`INVALID_ARGUMENT`).
    pub max_client_metadata_bytes: usize,
    /// If set, the most bytes every session, live or remembered as ended, may hold
    /// together: the size of their snapshot records, state and metadata included
    /// (default 256 MiB, so a snapshot stays far below the 512 MB a JS string can
    /// hold). Past it the oldest ended records are forgotten first; then a create or
    /// a state change that needs room is refused with `STORAGE_LIMIT_EXCEEDED` (503).
    pub max_total_bytes: Option<usize>,
    /// A state handle (a 2026-era record a tool creates) ends this long after it
    /// was last used (30 min).
    pub handle_idle_timeout_ms: u64,
    /// A state handle ends this long after it was created, however busy (24 h):
    /// the bounded lifetime the creating tool's description states.
    pub handle_lifetime_ms: u64,
    /// Live state handles at most, counted apart from sessions (10,000).
    pub max_handles: usize,
    /// If set, live state handles one principal may hold (anonymous handles count
    /// together as one principal); counted apart from sessions (1,000).
    pub max_handles_per_principal: Option<usize>,
    /// How many redeemed, unexpired `requestState` tokens the store remembers
    /// (100,000): the single-use ledger's bound. A full ledger refuses a redemption
    /// (`ledger_full`) rather than forget a token that could then be replayed.
    pub max_redeemed_tokens: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            init_timeout_ms: 60_000,
            idle_timeout_ms: 30 * 60_000,
            absolute_lifetime_ms: None,
            max_sessions: 10_000,
            capacity_policy: CapacityPolicy::Reject,
            max_sessions_per_principal: None,
            max_state_bytes: 64 * 1024,
            supported_protocol_versions: vec![
                "2025-03-26".into(),
                "2025-06-18".into(),
                "2025-11-25".into(),
            ],
            ended_retention_ms: 60 * 60_000,
            max_ended_remembered: 10_000,
            max_pending_events: 65_536,
            sweep_batch_size: 10_000,
            max_in_flight_per_session: 32,
            max_client_metadata_bytes: 8 * 1024,
            max_total_bytes: Some(256 * 1024 * 1024),
            handle_idle_timeout_ms: 30 * 60_000,
            handle_lifetime_ms: 24 * 60 * 60_000,
            max_handles: 10_000,
            max_handles_per_principal: Some(1_000),
            max_redeemed_tokens: 100_000,
        }
    }
}

/// A validated configuration, with the protocol versions shared so that sessions
/// point at them instead of each holding a copy.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub config: Config,
    pub versions: Vec<Arc<str>>,
}

impl Settings {
    pub fn new(config: Config) -> Result<Self, SessionError> {
        config.validate()?;
        let versions = config
            .supported_protocol_versions
            .iter()
            .map(|v| Arc::from(v.as_str()))
            .collect();
        Ok(Settings { config, versions })
    }

    /// The newest supported version (the list is validated non-empty).
    pub fn newest_version(&self) -> Arc<str> {
        self.versions
            .last()
            .cloned()
            .unwrap_or_else(|| Arc::from(""))
    }

    /// The shared copy of `version` if supported.
    pub fn supported(&self, version: &str) -> Option<Arc<str>> {
        self.versions.iter().find(|v| ***v == *version).cloned()
    }

    /// MCP version negotiation: the requested version if supported, else the newest.
    pub fn negotiate(&self, requested: &str) -> Arc<str> {
        self.supported(requested)
            .unwrap_or_else(|| self.newest_version())
    }
}

impl Config {
    /// Checks every field; the error names the first field out of range.
    pub fn validate(&self) -> Result<(), SessionError> {
        duration("initTimeoutMs", self.init_timeout_ms)?;
        duration("idleTimeoutMs", self.idle_timeout_ms)?;
        if let Some(lifetime) = self.absolute_lifetime_ms {
            duration("absoluteLifetimeMs", lifetime)?;
        }
        duration("endedRetentionMs", self.ended_retention_ms)?;
        duration("handleIdleTimeoutMs", self.handle_idle_timeout_ms)?;
        duration("handleLifetimeMs", self.handle_lifetime_ms)?;
        if self.max_handles == 0 {
            return Err(SessionError::invalid_config(
                "maxHandles",
                "must be at least 1",
            ));
        }
        if self.max_redeemed_tokens == 0 {
            return Err(SessionError::invalid_config(
                "maxRedeemedTokens",
                "must be at least 1",
            ));
        }
        if self.max_handles_per_principal == Some(0) {
            return Err(SessionError::invalid_config(
                "maxHandlesPerPrincipal",
                "must be at least 1 when set",
            ));
        }
        if self.max_sessions == 0 {
            return Err(SessionError::invalid_config(
                "maxSessions",
                "must be at least 1",
            ));
        }
        if self.max_sessions_per_principal == Some(0) {
            return Err(SessionError::invalid_config(
                "maxSessionsPerPrincipal",
                "must be at least 1 when set",
            ));
        }
        if self.max_state_bytes < 2 {
            return Err(SessionError::invalid_config(
                "maxStateBytes",
                "must be at least 2 (the empty object `{}`)",
            ));
        }
        if self.supported_protocol_versions.is_empty() {
            return Err(SessionError::invalid_config(
                "supportedProtocolVersions",
                "must name at least one version",
            ));
        }
        for (i, v) in self.supported_protocol_versions.iter().enumerate() {
            if let Err(reason) = check_protocol_version(v) {
                return Err(SessionError::invalid_config(
                    &format!("supportedProtocolVersions[{i}]"),
                    reason,
                ));
            }
            if self
                .supported_protocol_versions
                .iter()
                .take(i)
                .any(|w| w == v)
            {
                return Err(SessionError::invalid_config(
                    &format!("supportedProtocolVersions[{i}]"),
                    "is listed twice",
                ));
            }
        }
        if self.max_client_metadata_bytes < 2
            || self.max_client_metadata_bytes > crate::MAX_METADATA_BYTES
        {
            return Err(SessionError::invalid_config(
                "maxClientMetadataBytes",
                format!("must be 2 to {}", crate::MAX_METADATA_BYTES),
            ));
        }
        if self.max_total_bytes == Some(0) {
            return Err(SessionError::invalid_config(
                "maxTotalBytes",
                "must be at least 1 when set",
            ));
        }
        if self.max_in_flight_per_session == 0 {
            return Err(SessionError::invalid_config(
                "maxInFlightPerSession",
                "must be at least 1",
            ));
        }
        if self.sweep_batch_size == 0 {
            return Err(SessionError::invalid_config(
                "sweepBatchSize",
                "must be at least 1",
            ));
        }
        if self.max_pending_events == 0 {
            return Err(SessionError::invalid_config(
                "maxPendingEvents",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

fn duration(field: &str, value: u64) -> Result<(), SessionError> {
    if value == 0 {
        return Err(SessionError::invalid_config(field, "must be at least 1 ms"));
    }
    if value > MAX_TIME_MS {
        return Err(SessionError::invalid_config(
            field,
            format!("must be at most {MAX_TIME_MS} ms"),
        ));
    }
    Ok(())
}

/// A protocol version is a short visible-ASCII token (the spec's are dates).
pub(crate) fn check_protocol_version(version: &str) -> Result<(), &'static str> {
    if version.is_empty() {
        return Err("is empty");
    }
    if version.len() > MAX_PROTOCOL_VERSION_BYTES {
        return Err("is too long");
    }
    if !is_visible_ascii(version) {
        return Err("has characters outside 0x21-0x7E");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: SessionError) -> String {
        match err {
            SessionError::InvalidConfig { field, .. } => field,
            other => panic!("expected INVALID_CONFIG, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_the_fields_defaults() {
        let c = Config::default();
        assert_eq!(c.init_timeout_ms, 60_000);
        assert_eq!(c.idle_timeout_ms, 1_800_000);
        assert_eq!(c.absolute_lifetime_ms, None);
        assert_eq!(c.max_sessions, 10_000);
        assert_eq!(c.capacity_policy, CapacityPolicy::Reject);
        assert_eq!(c.max_state_bytes, 65_536);
        assert_eq!(
            c.supported_protocol_versions,
            ["2025-03-26", "2025-06-18", "2025-11-25"]
        );
        assert!(c.validate().is_ok());
    }

    #[test]
    fn every_out_of_range_field_is_named() {
        let cases: Vec<(Config, &str)> = vec![
            (
                Config {
                    init_timeout_ms: 0,
                    ..Config::default()
                },
                "initTimeoutMs",
            ),
            (
                Config {
                    idle_timeout_ms: MAX_TIME_MS + 1,
                    ..Config::default()
                },
                "idleTimeoutMs",
            ),
            (
                Config {
                    absolute_lifetime_ms: Some(0),
                    ..Config::default()
                },
                "absoluteLifetimeMs",
            ),
            (
                Config {
                    ended_retention_ms: 0,
                    ..Config::default()
                },
                "endedRetentionMs",
            ),
            (
                Config {
                    max_sessions: 0,
                    ..Config::default()
                },
                "maxSessions",
            ),
            (
                Config {
                    max_sessions_per_principal: Some(0),
                    ..Config::default()
                },
                "maxSessionsPerPrincipal",
            ),
            (
                Config {
                    max_state_bytes: 1,
                    ..Config::default()
                },
                "maxStateBytes",
            ),
            (
                Config {
                    supported_protocol_versions: vec![],
                    ..Config::default()
                },
                "supportedProtocolVersions",
            ),
            (
                Config {
                    supported_protocol_versions: vec!["a".into(), "b c".into()],
                    ..Config::default()
                },
                "supportedProtocolVersions[1]",
            ),
            (
                Config {
                    supported_protocol_versions: vec!["a".into(), "a".into()],
                    ..Config::default()
                },
                "supportedProtocolVersions[1]",
            ),
            (
                Config {
                    max_pending_events: 0,
                    ..Config::default()
                },
                "maxPendingEvents",
            ),
        ];
        for (config, field) in cases {
            assert_eq!(field_of(config.validate().unwrap_err()), field);
        }
    }

    #[test]
    fn json_config_takes_camel_case_subsets_and_rejects_unknown_fields() {
        let c: Config =
            serde_json::from_str(r#"{"idleTimeoutMs":1000,"capacityPolicy":"evict-idlest"}"#)
                .unwrap();
        assert_eq!(c.idle_timeout_ms, 1000);
        assert_eq!(c.capacity_policy, CapacityPolicy::EvictIdlest);
        assert_eq!(c.max_sessions, 10_000);
        assert!(serde_json::from_str::<Config>(r#"{"idleTimeout":1000}"#).is_err());
    }

    #[test]
    fn negotiation_answers_the_newest_for_an_unknown_version() {
        let s = Settings::new(Config::default()).unwrap();
        assert_eq!(&*s.negotiate("2025-06-18"), "2025-06-18");
        assert_eq!(&*s.negotiate("1999-01-01"), "2025-11-25");
    }
}
