//! The sealed token: its wire format, the key ring, and sealing and opening.
//!
//! A token is text the client holds and echoes back unread:
//!
//! ```text
//! rs1.<key id>.<base64url, no padding: nonce (24) | ciphertext | tag (16)>
//! ```
//!
//! The key ID is in the clear so that the verifier picks the key without trying
//! each one; the header `rs1.<key id>` is the AEAD's associated data, so neither the
//! version nor the key ID can be changed without failing the tag. The cipher is
//! XChaCha20-Poly1305 with a random 192-bit nonce per token (no counter to keep
//! across restarts or instances). The plaintext, which only the server reads, is
//!
//! ```text
//! token id (16) | issued at (u64 BE, ms) | expires at (u64 BE, ms)
//! | principal: 0, or 1 then length (u16 BE) and bytes
//! | request binding: length (u16 BE) and bytes
//! | payload (the rest)
//! ```
//!
//! The principal and the request binding travel *inside* the ciphertext, not as
//! associated data: a token presented by another user, or on another request,
//! decrypts fine and then fails the comparison, so it is refused as `bind` (as the
//! SDK's codec does), distinct from a forgery (`mac`); and the client cannot read
//! who it is bound to.
//!
//! Every check runs in the SDK's order (shape, then the tag, then expiry, then the
//! binding), so a reason other than `malformed` or `mac` is only reachable with a
//! token some holder of the key minted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};

use super::{Binding, Refusal, RequestStateError};

/// The token's version prefix.
pub const TOKEN_PREFIX: &str = "rs1.";
/// The longest key ID: 1 to 32 characters of `A-Z a-z 0-9 _ -`.
pub const MAX_KEY_ID_CHARS: usize = 32;
/// How many keys a ring holds at most (the current one and older ones).
pub const MAX_KEYS: usize = 16;
/// The longest request binding the host may give, in bytes.
pub const MAX_REQUEST_BINDING_BYTES: usize = 1024;
/// The longest principal a token may be bound to, in bytes (as for sessions).
pub const MAX_BOUND_PRINCIPAL_BYTES: usize = crate::request::MAX_PRINCIPAL_BYTES;

/// Bytes of random nonce per token.
pub(crate) const NONCE_BYTES: usize = 24;
/// Bytes of Poly1305 tag.
const TAG_BYTES: usize = 16;
/// Bytes of token ID.
pub const TOKEN_ID_BYTES: usize = 16;
/// The plaintext's fixed part: ID, issued at, expires at, principal flag, request length.
const FIXED_PLAINTEXT_BYTES: usize = TOKEN_ID_BYTES + 8 + 8 + 1 + 2;

/// A token's unique ID, drawn at random when it is minted; what the ledger remembers.
pub type TokenId = [u8; TOKEN_ID_BYTES];

/// What a verified token said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The payload the tool author sealed.
    pub payload: Vec<u8>,
    /// The token's unique ID.
    pub token_id: TokenId,
    /// When it was minted (ms since the epoch).
    pub issued_at: u64,
    /// When it stops being accepted (ms since the epoch): refused from this instant.
    pub expires_at: u64,
}

/// The keys a codec seals and opens with: one current key that mints, and older
/// keys that still open tokens minted before a rotation until they are removed.
/// Keys are 32 bytes from the host (a secret manager, an environment variable); the
/// ring never makes one.
pub struct KeyRing {
    /// Key ID and cipher, the current key first.
    keys: Vec<(String, XChaCha20Poly1305)>,
}

impl std::fmt::Debug for KeyRing {
    /// Key IDs only: the key bytes never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

impl KeyRing {
    /// A ring whose only (and current) key is `key`, named `key_id`.
    pub fn new(key_id: &str, key: &[u8; 32]) -> Result<Self, RequestStateError> {
        check_key_id(key_id)?;
        Ok(KeyRing {
            keys: vec![(key_id.to_owned(), cipher(key))],
        })
    }

    /// Makes `key` the current key (new tokens are minted with it); the previous
    /// current key stays in the ring, accepted for opening, until [`KeyRing::remove`].
    pub fn rotate(&mut self, key_id: &str, key: &[u8; 32]) -> Result<(), RequestStateError> {
        self.check_new(key_id)?;
        self.keys.insert(0, (key_id.to_owned(), cipher(key)));
        Ok(())
    }

    /// Adds `key` as an older key: accepted for opening, never used to mint (another
    /// instance's current key during a rolling rotation).
    pub fn accept(&mut self, key_id: &str, key: &[u8; 32]) -> Result<(), RequestStateError> {
        self.check_new(key_id)?;
        self.keys.push((key_id.to_owned(), cipher(key)));
        Ok(())
    }

    /// Removes an older key: tokens minted with it are refused from now on (`mac`).
    /// The current key cannot be removed (rotate first).
    pub fn remove(&mut self, key_id: &str) -> Result<(), RequestStateError> {
        match self.keys.iter().position(|(id, _)| id == key_id) {
            None => Err(RequestStateError::UnknownKeyId),
            Some(0) => Err(RequestStateError::CurrentKey),
            Some(at) => {
                self.keys.remove(at);
                Ok(())
            }
        }
    }

    /// The key IDs in the ring, the current one first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// The current key's ID.
    pub fn current_key_id(&self) -> &str {
        self.keys.first().map(|(id, _)| id.as_str()).unwrap_or("")
    }

    fn check_new(&self, key_id: &str) -> Result<(), RequestStateError> {
        check_key_id(key_id)?;
        if self.keys.iter().any(|(id, _)| id == key_id) {
            return Err(RequestStateError::DuplicateKeyId);
        }
        if self.keys.len() >= MAX_KEYS {
            return Err(RequestStateError::TooManyKeys);
        }
        Ok(())
    }

    fn find(&self, key_id: &str) -> Option<&XChaCha20Poly1305> {
        self.keys
            .iter()
            .find(|(id, _)| id == key_id)
            .map(|(_, cipher)| cipher)
    }
}

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&(*key).into())
}

fn is_key_id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn check_key_id(key_id: &str) -> Result<(), RequestStateError> {
    if key_id.is_empty() || key_id.len() > MAX_KEY_ID_CHARS || !key_id.bytes().all(is_key_id_char) {
        return Err(RequestStateError::InvalidKeyId);
    }
    Ok(())
}

/// Everything a token seals besides its payload.
pub(crate) struct Claims<'a> {
    pub token_id: TokenId,
    pub issued_at: u64,
    pub expires_at: u64,
    pub binding: Binding<'a>,
}

/// Checks a binding's lengths (at mint: a token is never minted that could not be
/// opened).
pub(crate) fn check_binding(binding: &Binding<'_>) -> Result<(), RequestStateError> {
    if binding.principal.map_or(0, str::len) > MAX_BOUND_PRINCIPAL_BYTES
        || binding.request.len() > MAX_REQUEST_BINDING_BYTES
    {
        return Err(RequestStateError::BindingTooLong);
    }
    Ok(())
}

/// The longest token text a codec with this payload limit can mint: anything longer
/// is refused as `malformed` before it is decoded.
pub(crate) fn max_token_chars(max_payload_bytes: usize) -> usize {
    let body = NONCE_BYTES
        + FIXED_PLAINTEXT_BYTES
        + 2
        + MAX_BOUND_PRINCIPAL_BYTES
        + MAX_REQUEST_BINDING_BYTES
        + max_payload_bytes
        + TAG_BYTES;
    TOKEN_PREFIX.len() + MAX_KEY_ID_CHARS + 1 + body.div_ceil(3) * 4
}

/// Seals a token with the ring's current key. `nonce` must be fresh random bytes.
pub(crate) fn seal(
    ring: &KeyRing,
    nonce: [u8; NONCE_BYTES],
    claims: &Claims<'_>,
    payload: &[u8],
) -> Result<String, RequestStateError> {
    let (key_id, cipher) = ring.keys.first().ok_or(RequestStateError::NoKey)?;
    let principal = claims.binding.principal;
    let request = claims.binding.request.as_bytes();
    let mut plain = Vec::with_capacity(
        FIXED_PLAINTEXT_BYTES + 2 + principal.map_or(0, str::len) + request.len() + payload.len(),
    );
    plain.extend_from_slice(&claims.token_id);
    plain.extend_from_slice(&claims.issued_at.to_be_bytes());
    plain.extend_from_slice(&claims.expires_at.to_be_bytes());
    match principal {
        None => plain.push(0),
        Some(p) => {
            plain.push(1);
            plain.extend_from_slice(&length_prefix(p.len())?);
            plain.extend_from_slice(p.as_bytes());
        }
    }
    plain.extend_from_slice(&length_prefix(request.len())?);
    plain.extend_from_slice(request);
    plain.extend_from_slice(payload);

    let header = format!("{TOKEN_PREFIX}{key_id}");
    let sealed = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &plain,
                aad: header.as_bytes(),
            },
        )
        .map_err(|_| RequestStateError::PayloadTooLarge)?;
    let mut body = Vec::with_capacity(NONCE_BYTES + sealed.len());
    body.extend_from_slice(&nonce);
    body.extend_from_slice(&sealed);
    Ok(format!("{header}.{}", URL_SAFE_NO_PAD.encode(body)))
}

fn length_prefix(len: usize) -> Result<[u8; 2], RequestStateError> {
    u16::try_from(len)
        .map(u16::to_be_bytes)
        .map_err(|_| RequestStateError::BindingTooLong)
}

/// Opens a token: shape, key, tag, expiry and binding, in that order. Consumes
/// nothing (the ledger is the caller's).
pub(crate) fn open(
    ring: &KeyRing,
    token: &str,
    binding: &Binding<'_>,
    max_token_chars: usize,
    now: u64,
) -> Result<Opened, Refusal> {
    if token.len() > max_token_chars {
        return Err(Refusal::Malformed);
    }
    let rest = token.strip_prefix(TOKEN_PREFIX).ok_or(Refusal::Malformed)?;
    let (key_id, body) = rest.split_once('.').ok_or(Refusal::Malformed)?;
    if check_key_id(key_id).is_err() {
        return Err(Refusal::Malformed);
    }
    let body = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| Refusal::Malformed)?;
    let (nonce, sealed) = body
        .split_at_checked(NONCE_BYTES)
        .ok_or(Refusal::Malformed)?;
    if sealed.len() < TAG_BYTES + FIXED_PLAINTEXT_BYTES {
        return Err(Refusal::Malformed);
    }
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| Refusal::Malformed)?;
    // A key not in the ring (never was, or removed): the token cannot be
    // authenticated, as with a wrong key.
    let cipher = ring.find(key_id).ok_or(Refusal::Mac)?;
    let header_len = TOKEN_PREFIX.len() + key_id.len();
    let header = token.get(..header_len).ok_or(Refusal::Malformed)?;
    let plain = cipher
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: sealed,
                aad: header.as_bytes(),
            },
        )
        .map_err(|_| Refusal::Mac)?;

    // From here the bytes are ones a key holder sealed; a parse failure means a
    // different writer (or a compromised key), and stays fail-closed.
    let mut r = Reader(&plain);
    let token_id: TokenId = r
        .take(TOKEN_ID_BYTES)?
        .try_into()
        .map_err(|_| Refusal::Malformed)?;
    let issued_at = r.u64()?;
    let expires_at = r.u64()?;
    let principal = match r.take(1)? {
        [0] => None,
        [1] => {
            let len = r.u16()?;
            Some(r.take(usize::from(len))?)
        }
        _ => return Err(Refusal::Malformed),
    };
    let request_len = r.u16()?;
    let request = r.take(usize::from(request_len))?;
    let payload = r.0.to_vec();

    if now >= expires_at {
        return Err(Refusal::Expired);
    }
    let principal_matches = match (principal, binding.principal) {
        (None, None) => true,
        (Some(sealed), Some(given)) => same_bytes(sealed, given.as_bytes()),
        _ => false,
    };
    let request_matches = same_bytes(request, binding.request.as_bytes());
    if !(principal_matches & request_matches) {
        return Err(Refusal::Bind);
    }
    Ok(Opened {
        payload,
        token_id,
        issued_at,
        expires_at,
    })
}

/// Equality whose time does not depend on where the first difference is.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads the plaintext front to back; running out is `malformed`.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Refusal> {
        let (head, tail) = self.0.split_at_checked(n).ok_or(Refusal::Malformed)?;
        self.0 = tail;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64, Refusal> {
        let bytes: [u8; 8] = self.take(8)?.try_into().map_err(|_| Refusal::Malformed)?;
        Ok(u64::from_be_bytes(bytes))
    }

    fn u16(&mut self) -> Result<u16, Refusal> {
        let bytes: [u8; 2] = self.take(2)?.try_into().map_err(|_| Refusal::Malformed)?;
        Ok(u16::from_be_bytes(bytes))
    }
}
