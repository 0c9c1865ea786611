//! Session IDs: where they come from and what a valid one looks like.
//!
//! The spec asks for IDs that are globally unique and cryptographically secure, made
//! only of visible ASCII (0x21-0x7E). The default source draws 122 random bits from
//! the operating system (`crypto.getRandomValues` in wasm) and formats them as a UUID
//! v4 without dashes. Tests and simulations inject a seeded source, whose name says it
//! must never serve real clients.
//!
//! The source also seeds the hash of the store's ID map ([`IdSource::hash_seed`]):
//! the store's only randomness comes in here, so a seeded source makes the whole
//! store deterministic and nothing draws from the OS behind the caller's back.

use crate::error::{InvalidIdReason, SessionError};

/// The longest `Mcp-Session-Id` accepted. IDs we mint are 32 bytes; the bound keeps
/// hostile headers from costing memory or hashing time.
pub const MAX_SESSION_ID_BYTES: usize = 128;

/// Where new session IDs come from. The store checks every ID it is given (visible
/// ASCII, at most [`MAX_SESSION_ID_BYTES`], not in use, not remembered) and draws again
/// on a collision.
pub trait IdSource {
    /// A new ID, or why none could be made.
    fn next_id(&mut self) -> Result<String, SessionError>;

    /// 128 bits that seed the hash of the store's ID map, drawn once when a store is
    /// made. They must be as unpredictable as the IDs: a client that can predict the
    /// seed can choose IDs that all land in one bucket and make every lookup slow.
    fn hash_seed(&mut self) -> Result<u128, SessionError>;

    /// Fills `bytes` with random bytes: the nonces and token IDs of sealed
    /// `requestState` tokens (the `request_state` module). They must be as
    /// unpredictable as the IDs, and never repeat.
    fn fill_random(&mut self, bytes: &mut [u8]) -> Result<(), SessionError>;
}

/// How many IDs' worth of random bytes are drawn from the OS at once. In wasm each
/// draw is a call out to `crypto.getRandomValues`, which costs more than the rest
/// of a create; a pool (as the `uuid` npm package keeps) amortises it.
const POOLED_IDS: usize = 256;

/// The default: UUID v4 from the platform CSPRNG (122 random bits).
#[derive(Debug, Clone)]
pub struct SecureIds {
    pool: [u8; 16 * POOLED_IDS],
    used: usize,
}

impl Default for SecureIds {
    fn default() -> Self {
        SecureIds {
            pool: [0; 16 * POOLED_IDS],
            used: POOLED_IDS,
        }
    }
}

impl IdSource for SecureIds {
    fn next_id(&mut self) -> Result<String, SessionError> {
        if self.used == POOLED_IDS {
            os_random(&mut self.pool)?;
            self.used = 0;
        }
        let mut bytes = [0u8; 16];
        let start = self.used * 16;
        for (slot, b) in bytes.iter_mut().zip(self.pool.iter().skip(start)) {
            *slot = *b;
        }
        // Each pooled byte is handed out once.
        for b in self.pool.iter_mut().skip(start).take(16) {
            *b = 0;
        }
        self.used += 1;
        Ok(format_uuid(bytes))
    }

    /// 16 bytes of their own, not from the pool: a new store draws just these, and
    /// the pool is filled when the first ID needs it, so an OS that stops giving
    /// entropy later fails the create that needs an ID (`ID_SOURCE_FAILED`).
    fn hash_seed(&mut self) -> Result<u128, SessionError> {
        let mut seed = [0u8; 16];
        os_random(&mut seed)?;
        Ok(u128::from_le_bytes(seed))
    }

    /// Straight from the OS, not from the ID pool: a token's nonce and ID are drawn
    /// once per mint, and the pool's bytes stay the IDs'.
    fn fill_random(&mut self, bytes: &mut [u8]) -> Result<(), SessionError> {
        os_random(bytes)
    }
}

/// Fills `bytes` from the platform CSPRNG: the only place the core asks for
/// randomness.
fn os_random(bytes: &mut [u8]) -> Result<(), SessionError> {
    getrandom::fill(bytes).map_err(|e| SessionError::IdSourceFailed {
        reason: e.to_string(),
    })
}

/// A deterministic source (SplitMix64) for tests and simulations: the same seed gives
/// the same IDs. Anyone can predict them, so a server must never use it.
#[derive(Debug, Clone)]
pub struct InsecureSeededIds {
    state: u64,
}

impl InsecureSeededIds {
    /// A source whose IDs are fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        InsecureSeededIds { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl IdSource for InsecureSeededIds {
    fn next_id(&mut self) -> Result<String, SessionError> {
        let hi = self.next_u64().to_be_bytes();
        let lo = self.next_u64().to_be_bytes();
        let mut bytes = [0u8; 16];
        for (slot, b) in bytes.iter_mut().zip(hi.iter().chain(lo.iter())) {
            *slot = *b;
        }
        Ok(format_uuid(bytes))
    }

    /// From a stream of its own (the current state, offset), so that the IDs are the
    /// same whether or not a store drew a hash seed first: a test that replays the
    /// source beside a store sees the IDs the store made.
    fn hash_seed(&mut self) -> Result<u128, SessionError> {
        let mut stream = InsecureSeededIds::new(self.state ^ HASH_STREAM);
        let hi = u128::from(stream.next_u64());
        Ok((hi << 64) | u128::from(stream.next_u64()))
    }

    /// From the ID stream itself: deterministic, so a seeded test that mints tokens
    /// gets the same tokens every run (and the IDs after them move on).
    fn fill_random(&mut self, bytes: &mut [u8]) -> Result<(), SessionError> {
        for chunk in bytes.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            for (slot, b) in chunk.iter_mut().zip(word.iter()) {
                *slot = *b;
            }
        }
        Ok(())
    }
}

/// Where `InsecureSeededIds::hash_seed` starts from the ID stream's state: any
/// constant that is not 0.
const HASH_STREAM: u64 = 0x5EED_0F1D_4A54_0001;

fn format_uuid(bytes: [u8; 16]) -> String {
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .simple()
        .to_string()
}

/// True if every byte is visible ASCII (0x21-0x7E).
pub(crate) fn is_visible_ascii(s: &str) -> bool {
    s.bytes().all(|b| (0x21..=0x7E).contains(&b))
}

/// Checks a present `Mcp-Session-Id` value (or any session ID a caller hands in).
pub fn check_session_id(id: &str) -> Result<(), SessionError> {
    let reason = if id.is_empty() {
        InvalidIdReason::Empty
    } else if id.len() > MAX_SESSION_ID_BYTES {
        InvalidIdReason::TooLong
    } else if !is_visible_ascii(id) {
        InvalidIdReason::InvalidCharacter
    } else {
        return Ok(());
    };
    Err(SessionError::InvalidSessionId { reason })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn secure_ids_are_uuid_v4_hex_and_unique() {
        let mut src = SecureIds::default();
        let ids: HashSet<String> = (0..1000).map(|_| src.next_id().unwrap()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(check_session_id(id).is_ok());
            assert_eq!(id.as_bytes()[12], b'4', "version nibble of {id}");
        }
    }

    #[test]
    fn seeded_ids_repeat_per_seed_and_differ_across_seeds() {
        let a: Vec<String> = {
            let mut s = InsecureSeededIds::new(7);
            (0..5).map(|_| s.next_id().unwrap()).collect()
        };
        let b: Vec<String> = {
            let mut s = InsecureSeededIds::new(7);
            (0..5).map(|_| s.next_id().unwrap()).collect()
        };
        let c = InsecureSeededIds::new(8).next_id().unwrap();
        assert_eq!(a, b);
        assert!(!a.contains(&c));
        assert!(a.iter().all(|id| check_session_id(id).is_ok()));
    }

    #[test]
    fn hash_seeds_follow_the_source() {
        let seeded = |seed| InsecureSeededIds::new(seed).hash_seed().unwrap();
        assert_eq!(seeded(7), seeded(7));
        assert_ne!(seeded(7), seeded(8));
        let (mut drawn, mut fresh) = (InsecureSeededIds::new(7), InsecureSeededIds::new(7));
        drawn.hash_seed().unwrap();
        assert_eq!(drawn.next_id().unwrap(), fresh.next_id().unwrap());
        let mut secure = SecureIds::default();
        let first = secure.hash_seed().unwrap();
        assert_ne!(first, secure.hash_seed().unwrap());
        assert_ne!(first, SecureIds::default().hash_seed().unwrap());
    }

    #[test]
    fn random_bytes_follow_the_source() {
        let fill = |src: &mut dyn IdSource| {
            let mut b = [0u8; 40];
            src.fill_random(&mut b).unwrap();
            b
        };
        let (mut a, mut b) = (InsecureSeededIds::new(7), InsecureSeededIds::new(7));
        assert_eq!(fill(&mut a), fill(&mut b));
        assert_ne!(fill(&mut a), fill(&mut InsecureSeededIds::new(8)));
        let mut secure = SecureIds::default();
        let first = fill(&mut secure);
        assert_ne!(first, fill(&mut secure));
        assert_ne!(first, [0u8; 40]);
    }

    #[test]
    fn malformed_ids_are_rejected_with_the_reason() {
        let reason = |id: &str| match check_session_id(id) {
            Err(SessionError::InvalidSessionId { reason }) => Some(reason),
            _ => None,
        };
        assert_eq!(reason(""), Some(InvalidIdReason::Empty));
        assert_eq!(reason(&"a".repeat(129)), Some(InvalidIdReason::TooLong));
        assert_eq!(reason(&"a".repeat(128)), None);
        assert_eq!(reason("a b"), Some(InvalidIdReason::InvalidCharacter));
        assert_eq!(reason("a\u{7f}"), Some(InvalidIdReason::InvalidCharacter));
        assert_eq!(reason("caf\u{e9}"), Some(InvalidIdReason::InvalidCharacter));
        assert_eq!(reason("a\nb"), Some(InvalidIdReason::InvalidCharacter));
        assert_eq!(reason("!~"), None);
    }
}
