//! What a client is told when a request fails: the one place that decides how much
//! of an error leaves the server.
//!
//! A [`SessionError`] carries everything an operator needs (the session ID of
//! another user, a storage failure's file names); its [`ClientAnswer`] is what a
//! Streamable HTTP server sends instead: the status and JSON-RPC code, a message
//! that reveals nothing a client may not know, and the `Retry-After` header.

use serde::Serialize;

use crate::error::SessionError;

/// The response a server sends for a failed request: what a client may know of the
/// error, and nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ClientAnswer {
    pub http_status: u16,
    /// The `code` of the JSON-RPC error object.
    pub json_rpc_code: i32,
    /// The `message` of the JSON-RPC error object.
    pub message: String,
    /// The `Retry-After` header, in whole seconds, for the answers that have one.
    pub retry_after_secs: Option<u64>,
}

/// What every unknown or hidden session reads as.
const NOT_FOUND: &str = "Session not found";
/// What every unknown or hidden state handle reads as.
const HANDLE_NOT_FOUND: &str = "Handle not found";
/// A storage failure, without the host's detail (it may name files or disks).
const STORAGE_UNAVAILABLE: &str = "Session storage is unavailable; retry later";

impl SessionError {
    /// The answer a client gets for this error. Another user's session reads exactly
    /// like one that does not exist, and an unknown ID is not echoed, so IDs cannot
    /// be probed; a storage failure says nothing of the disk. `Retry-After` is
    /// whole seconds rounded up, and at least 1: a client told 0 would retry at
    /// once.
    pub fn client_answer(&self) -> ClientAnswer {
        let message = match self {
            SessionError::SessionNotFound { .. } | SessionError::PrincipalMismatch { .. } => {
                NOT_FOUND.to_owned()
            }
            SessionError::HandleNotFound { .. } => HANDLE_NOT_FOUND.to_owned(),
            SessionError::StorageFailed { .. } => STORAGE_UNAVAILABLE.to_owned(),
            other => other.to_string(),
        };
        ClientAnswer {
            http_status: self.http_status(),
            json_rpc_code: self.json_rpc_code(),
            message,
            retry_after_secs: self.retry_after_ms().map(|ms| ms.div_ceil(1_000).max(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::EndReason;

    fn capacity(retry_after_ms: u64) -> SessionError {
        SessionError::CapacityExceeded {
            limit: 1,
            retry_after_ms,
        }
    }

    #[test]
    fn another_users_session_reads_exactly_like_an_unknown_one() {
        let mismatch = SessionError::PrincipalMismatch {
            session_id: "theirs".into(),
        };
        let missing = SessionError::SessionNotFound {
            session_id: "guessed".into(),
        };
        assert_eq!(mismatch.client_answer(), missing.client_answer());
        assert_eq!(
            missing.client_answer(),
            ClientAnswer {
                http_status: 404,
                json_rpc_code: -32001,
                message: "Session not found".into(),
                retry_after_secs: None,
            }
        );
    }

    #[test]
    fn a_storage_failure_keeps_its_detail_from_the_client_and_asks_for_a_retry() {
        let failed = SessionError::StorageFailed {
            reason: "ENOSPC".into(),
            detail: "no space left on /var/lib/mcp/journal.log".into(),
        };
        let answer = failed.client_answer();
        assert_eq!(
            answer.message,
            "Session storage is unavailable; retry later"
        );
        assert_eq!((answer.http_status, answer.json_rpc_code), (503, -32603));
        assert_eq!(answer.retry_after_secs, Some(1));
        assert!(
            failed.to_string().contains("journal.log"),
            "operators see it"
        );
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_never_zero() {
        let secs = |ms| capacity(ms).client_answer().retry_after_secs;
        assert_eq!(secs(0), Some(1));
        assert_eq!(secs(1), Some(1));
        assert_eq!(secs(1_000), Some(1));
        assert_eq!(secs(1_001), Some(2));
        assert_eq!(secs(30 * 60_000), Some(1_800));
        assert_eq!(secs(u64::MAX), Some(u64::MAX / 1_000 + 1));
    }

    #[test]
    fn other_errors_answer_their_own_message() {
        let expired = SessionError::SessionExpired {
            session_id: "s".into(),
            reason: EndReason::Idle,
        };
        let answer = expired.client_answer();
        assert_eq!(answer.message, expired.to_string());
        assert_eq!(answer.retry_after_secs, None);
        let answer = capacity(500).client_answer();
        assert_eq!((answer.http_status, answer.json_rpc_code), (503, -32000));
    }
}
