//! Sealed, single-use `requestState` tokens (MCP 2026-07-28 multi-round-trip
//! requests).
//!
//! A server that answers `input_required` may hand the client a `requestState`
//! string, which the client echoes on its retry. The spec (basic/patterns/mrtr)
//! says the server MUST treat it as attacker-controlled and protect its integrity,
//! SHOULD bind it to the authenticated principal, a short lifetime and the
//! originating request, and MUST enforce single use server-side when state may be
//! consumed at most once. The TypeScript SDK's `createRequestStateCodec` signs
//! (HMAC) with one key; it does not encrypt, rotate keys or remember what was used.
//!
//! This module does all of it, with no I/O and no clock: a token is sealed with
//! XChaCha20-Poly1305 under the current key of a [`KeyRing`] (see [`codec`] for the
//! format), carries its principal, its request binding, issued-at and expires-at and
//! a random token ID; [`RequestStateCodec::redeem`] opens it, checks each, and
//! records the ID in the [`Ledger`] until the token expires, so a replay is refused.
//! Every failure is a [`Refusal`] whose [`Refusal::code`] is the SDK's reason
//! (`malformed`, `mac`, `expired`, `bind`) or one of ours (`replayed`,
//! `ledger_full`); no input panics.

pub mod codec;
pub mod ledger;

pub use codec::{KeyRing, Opened, TokenId, MAX_KEYS, MAX_KEY_ID_CHARS, TOKEN_PREFIX};
pub use ledger::{Ledger, SingleUse};

use serde::Serialize;

use crate::config::MAX_TIME_MS;
use crate::ids::{IdSource, SecureIds};

/// Why a token was refused. The codes of the first four are the SDK's
/// `RequestStateCodec.verify` reasons, with the same meaning; `replayed` and
/// `ledger_full` are ours (single use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename = "RequestStateRefusalReason"))]
pub enum Refusal {
    /// Not a token: wrong prefix, bad key ID or base64url, too short or too long.
    Malformed,
    /// The tag does not verify: tampered, forged, or sealed with a key not in the
    /// ring (never was, or removed since).
    Mac,
    /// Authentic, but past its expiry.
    Expired,
    /// Authentic and unexpired, but bound to another principal or another request.
    Bind,
    /// Authentic, and already redeemed.
    Replayed,
    /// Authentic, but the single-use ledger is full of unexpired entries: refused
    /// rather than forget one (which would allow its replay). Retry after
    /// [`RequestStateCodec::next_deadline`].
    LedgerFull,
}

impl Refusal {
    /// Every reason, in declaration order.
    pub const ALL: [Refusal; 6] = [
        Refusal::Malformed,
        Refusal::Mac,
        Refusal::Expired,
        Refusal::Bind,
        Refusal::Replayed,
        Refusal::LedgerFull,
    ];

    /// The stable reason code (its serde name).
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Mac => "mac",
            Refusal::Expired => "expired",
            Refusal::Bind => "bind",
            Refusal::Replayed => "replayed",
            Refusal::LedgerFull => "ledger_full",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for Refusal {}

/// Why a codec could not be made, a key not changed, or a token not minted: the
/// host's mistakes, not the client's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestStateError {
    /// A configuration value out of range; `field` names it.
    InvalidConfig { field: &'static str },
    /// A key ID that is empty, longer than [`MAX_KEY_ID_CHARS`], or not `A-Za-z0-9_-`.
    InvalidKeyId,
    /// A key ID already in the ring.
    DuplicateKeyId,
    /// A key ID not in the ring.
    UnknownKeyId,
    /// The current key cannot be removed; rotate to another first.
    CurrentKey,
    /// The ring already holds [`MAX_KEYS`] keys.
    TooManyKeys,
    /// The ring has no key (never happens through the public API).
    NoKey,
    /// A payload over the codec's `max_payload_bytes`.
    PayloadTooLarge,
    /// A principal or request binding over its limit.
    BindingTooLong,
    /// A lifetime of 0, over `max_lifetime_ms`, or ending past `MAX_TIME_MS`.
    InvalidLifetime,
    /// The ID source gave no random bytes.
    IdSourceFailed { reason: String },
}

impl RequestStateError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            RequestStateError::InvalidConfig { .. } => "INVALID_CONFIG",
            RequestStateError::InvalidKeyId => "INVALID_KEY_ID",
            RequestStateError::DuplicateKeyId => "DUPLICATE_KEY_ID",
            RequestStateError::UnknownKeyId => "UNKNOWN_KEY_ID",
            RequestStateError::CurrentKey => "CURRENT_KEY",
            RequestStateError::TooManyKeys => "TOO_MANY_KEYS",
            RequestStateError::NoKey => "NO_KEY",
            RequestStateError::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            RequestStateError::BindingTooLong => "BINDING_TOO_LONG",
            RequestStateError::InvalidLifetime => "INVALID_LIFETIME",
            RequestStateError::IdSourceFailed { .. } => "ID_SOURCE_FAILED",
        }
    }
}

impl std::fmt::Display for RequestStateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestStateError::InvalidConfig { field } => {
                write!(f, "{}: {field}", self.code())
            }
            RequestStateError::IdSourceFailed { reason } => {
                write!(f, "{}: {reason}", self.code())
            }
            _ => f.write_str(self.code()),
        }
    }
}

impl std::error::Error for RequestStateError {}

/// What a token is bound to, given by the host at mint and again at redeem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    /// The authenticated principal (from the host's auth, never from the client);
    /// `None` for an anonymous caller, which only matches `None`.
    pub principal: Option<&'a str>,
    /// The originating request, as the host names it: for example the method and
    /// tool name and a digest of the salient arguments. Opaque to the codec.
    pub request: &'a str,
}

/// A codec's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecConfig {
    /// A token's lifetime when the mint does not name one (ms). Default 10 minutes,
    /// as the SDK's codec.
    pub default_lifetime_ms: u64,
    /// The longest lifetime a mint may ask for (ms). Default 1 hour.
    pub max_lifetime_ms: u64,
    /// The largest payload (bytes). Default 64 KiB.
    pub max_payload_bytes: usize,
    /// The most redeemed, unexpired token IDs remembered. Default 100,000.
    pub max_ledger_entries: usize,
}

impl Default for CodecConfig {
    fn default() -> Self {
        CodecConfig {
            default_lifetime_ms: 10 * 60_000,
            max_lifetime_ms: 60 * 60_000,
            max_payload_bytes: 64 * 1024,
            max_ledger_entries: 100_000,
        }
    }
}

/// The largest payload limit a codec accepts (1 MiB): tokens travel in JSON-RPC
/// messages, and the limit bounds what a hostile token costs to decode.
pub const MAX_PAYLOAD_LIMIT: usize = 1 << 20;

impl CodecConfig {
    fn check(&self) -> Result<(), RequestStateError> {
        let field = if self.max_lifetime_ms == 0 || self.max_lifetime_ms > MAX_TIME_MS {
            "max_lifetime_ms"
        } else if self.default_lifetime_ms == 0 || self.default_lifetime_ms > self.max_lifetime_ms {
            "default_lifetime_ms"
        } else if self.max_payload_bytes > MAX_PAYLOAD_LIMIT {
            "max_payload_bytes"
        } else if self.max_ledger_entries == 0 {
            "max_ledger_entries"
        } else {
            return Ok(());
        };
        Err(RequestStateError::InvalidConfig { field })
    }
}

/// Mints and redeems sealed `requestState` tokens: a key ring, a single-use ledger,
/// and the ID source their nonces and token IDs come from.
pub struct RequestStateCodec {
    config: CodecConfig,
    keys: KeyRing,
    ledger: Ledger,
    ids: Box<dyn IdSource>,
    max_token_chars: usize,
}

impl std::fmt::Debug for RequestStateCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestStateCodec")
            .field("config", &self.config)
            .field("keys", &self.keys)
            .field("ledger_len", &self.ledger.len())
            .finish()
    }
}

impl RequestStateCodec {
    /// A codec drawing its randomness from the platform CSPRNG.
    pub fn new(config: CodecConfig, keys: KeyRing) -> Result<Self, RequestStateError> {
        Self::with_id_source(config, keys, Box::new(SecureIds::default()))
    }

    /// A codec drawing its randomness from `ids` (a seeded source in tests).
    pub fn with_id_source(
        config: CodecConfig,
        keys: KeyRing,
        ids: Box<dyn IdSource>,
    ) -> Result<Self, RequestStateError> {
        config.check()?;
        Ok(RequestStateCodec {
            max_token_chars: codec::max_token_chars(config.max_payload_bytes),
            ledger: Ledger::new(config.max_ledger_entries),
            config,
            keys,
            ids,
        })
    }

    /// The codec's limits.
    pub fn config(&self) -> &CodecConfig {
        &self.config
    }

    /// The key ring.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The key ring, to rotate, accept or remove keys.
    pub fn keys_mut(&mut self) -> &mut KeyRing {
        &mut self.keys
    }

    /// Seals `payload` into a token bound to `binding`, valid from `now` for
    /// `lifetime_ms` (or the default lifetime).
    pub fn mint(
        &mut self,
        payload: &[u8],
        binding: Binding<'_>,
        lifetime_ms: Option<u64>,
        now: u64,
    ) -> Result<String, RequestStateError> {
        if payload.len() > self.config.max_payload_bytes {
            return Err(RequestStateError::PayloadTooLarge);
        }
        codec::check_binding(&binding)?;
        let lifetime = lifetime_ms.unwrap_or(self.config.default_lifetime_ms);
        if lifetime == 0 || lifetime > self.config.max_lifetime_ms {
            return Err(RequestStateError::InvalidLifetime);
        }
        let expires_at = now
            .checked_add(lifetime)
            .filter(|&t| t <= MAX_TIME_MS)
            .ok_or(RequestStateError::InvalidLifetime)?;
        let mut nonce = [0u8; codec::NONCE_BYTES];
        let mut token_id: TokenId = [0u8; codec::TOKEN_ID_BYTES];
        for bytes in [&mut nonce[..], &mut token_id[..]] {
            self.ids
                .fill_random(bytes)
                .map_err(|e| RequestStateError::IdSourceFailed {
                    reason: e.to_string(),
                })?;
        }
        let claims = codec::Claims {
            token_id,
            issued_at: now,
            expires_at,
            binding,
        };
        codec::seal(&self.keys, nonce, &claims, payload)
    }

    /// Opens and checks a token without redeeming it (for state that may be used
    /// more than once within its lifetime). A redeemed token is still refused as
    /// `replayed`.
    pub fn open(&self, token: &str, binding: Binding<'_>, now: u64) -> Result<Opened, Refusal> {
        self.open_in(token, binding, now, &self.ledger)
    }

    /// `open`, asking `ledger` (a [`crate::SessionStore`]) whether it was redeemed.
    pub fn open_in(
        &self,
        token: &str,
        binding: Binding<'_>,
        now: u64,
        ledger: &dyn SingleUse,
    ) -> Result<Opened, Refusal> {
        let opened = codec::open(&self.keys, token, &binding, self.max_token_chars, now)?;
        if ledger.redeemed(&opened.token_id) {
            return Err(Refusal::Replayed);
        }
        Ok(opened)
    }

    /// Opens, checks and redeems a token in the codec's own ledger: a second
    /// redemption is refused as `replayed` until the token expires, within this
    /// process. Forgets expired ledger entries first.
    pub fn redeem(
        &mut self,
        token: &str,
        binding: Binding<'_>,
        now: u64,
    ) -> Result<Opened, Refusal> {
        let opened = codec::open(&self.keys, token, &binding, self.max_token_chars, now)?;
        self.ledger
            .consume(opened.token_id, opened.expires_at, now)?;
        Ok(opened)
    }

    /// Opens, checks and redeems a token in `ledger`: a [`crate::SessionStore`],
    /// whose ledger is journaled and snapshotted with its sessions, so a replay is
    /// refused after a restart too (and on every instance sharing the store).
    pub fn redeem_in(
        &self,
        token: &str,
        binding: Binding<'_>,
        now: u64,
        ledger: &mut dyn SingleUse,
    ) -> Result<Opened, Refusal> {
        let opened = codec::open(&self.keys, token, &binding, self.max_token_chars, now)?;
        ledger.consume(opened.token_id, opened.expires_at, now)?;
        Ok(opened)
    }

    /// Forgets ledger entries whose tokens have expired; returns how many.
    pub fn sweep(&mut self, now: u64) -> usize {
        self.ledger.sweep(now)
    }

    /// When the earliest ledger entry can be forgotten.
    pub fn next_deadline(&self) -> Option<u64> {
        self.ledger.next_deadline()
    }

    /// The longest token text this codec can have minted: a host may refuse
    /// anything longer before handing it over (the codec refuses it as `malformed`).
    pub fn max_token_chars(&self) -> usize {
        self.max_token_chars
    }

    /// The single-use ledger (read only).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}

#[cfg(test)]
mod tests;
