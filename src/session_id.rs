//! The stored form of a session ID.
//!
//! An ID is stored once per session, in its table slot (and, boxed, as the
//! successor of a renewed session). The indexes hold the slot's handle, not the
//! ID: the ID map (`table`), the deadline index (`expiry`) and the ended order
//! (`ended`) reach the ID through the slot. So the stored form decides memory per
//! session and the cost of the ID map's comparison on every request. The IDs this
//! crate mints are 32 lowercase hex digits: those are kept as their 16 bytes, inline,
//! with no allocation and no pointer to chase when the ID map compares two of them.
//! Any other valid ID (restored from a snapshot written with another ID source) is
//! kept as text. Equal strings always get the same form, so equality and hashing of
//! the stored form are equality and hashing of the string, and ordering (`clear_all`
//! and a restore go in ID order) is the string's byte order.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

const HEX_LEN: usize = 32;
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// A valid session ID in its stored form (see the module docs).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum SessionId {
    /// 32 lowercase hex digits, as bytes.
    Hex([u8; 16]),
    /// Any other visible-ASCII ID.
    Text(Arc<str>),
}

/// Marks a byte that is not a lowercase hex digit in [`HEX_VALUES`].
const NOT_HEX: u8 = 0x10;

/// Each byte's value as a lowercase hex digit, or `NOT_HEX`: every request decodes
/// an ID, so this is a table lookup per digit without a branch.
static HEX_VALUES: [u8; 256] = hex_values();

// Const evaluation: an index out of bounds fails the build, never a run.
#[allow(clippy::indexing_slicing)]
const fn hex_values() -> [u8; 256] {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 16 {
        table[HEX_DIGITS[i] as usize] = i as u8;
        i += 1;
    }
    table
}

fn hex_value(digit: u8) -> u8 {
    HEX_VALUES
        .get(usize::from(digit))
        .copied()
        .unwrap_or(NOT_HEX)
}

fn decode_hex(id: &str) -> Option<[u8; 16]> {
    let digits: &[u8; HEX_LEN] = id.as_bytes().try_into().ok()?;
    let mut bytes = [0u8; 16];
    let mut seen = 0u8;
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        if let [hi, lo] = pair {
            let (hi, lo) = (hex_value(*hi), hex_value(*lo));
            seen |= hi | lo;
            *byte = (hi << 4) | (lo & 0xf);
        }
    }
    (seen & NOT_HEX == 0).then_some(bytes)
}

fn encode_hex(bytes: &[u8; 16]) -> [u8; HEX_LEN] {
    let mut out = [0u8; HEX_LEN];
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        if let [hi, lo] = pair {
            *hi = HEX_DIGITS
                .get(usize::from(byte >> 4))
                .copied()
                .unwrap_or(b'0');
            *lo = HEX_DIGITS
                .get(usize::from(byte & 0xf))
                .copied()
                .unwrap_or(b'0');
        }
    }
    out
}

impl SessionId {
    /// The stored form of `id` (which the caller has checked is a valid ID).
    pub fn new(id: &str) -> SessionId {
        match decode_hex(id) {
            Some(bytes) => SessionId::Hex(bytes),
            None => SessionId::Text(Arc::from(id)),
        }
    }

    /// Calls `f` with the ID as text, without allocating for the hex form.
    pub fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            SessionId::Hex(bytes) => {
                let text = encode_hex(bytes);
                f(std::str::from_utf8(&text).unwrap_or_default())
            }
            SessionId::Text(text) => f(text),
        }
    }

    /// The length of the ID as text.
    pub fn len(&self) -> usize {
        match self {
            SessionId::Hex(_) => HEX_LEN,
            SessionId::Text(text) => text.len(),
        }
    }
}

impl Ord for SessionId {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            // Hex digits sort as the bytes they encode.
            (SessionId::Hex(a), SessionId::Hex(b)) => a.cmp(b),
            (SessionId::Text(a), SessionId::Text(b)) => a.cmp(b),
            _ => self.with_str(|a| other.with_str(|b| a.cmp(b))),
        }
    }
}

impl PartialOrd for SessionId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_str(|id| f.write_str(id))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lowercase_32_digit_hex_is_kept_as_bytes() {
        let hex = "0123456789abcdef0123456789abcdef";
        assert!(matches!(SessionId::new(hex), SessionId::Hex(_)));
        assert_eq!(SessionId::new(hex).to_string(), hex);
        for text in [
            "0123456789ABCDEF0123456789abcdef",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "0123456789abcdeg0123456789abcdef",
            "session-1",
        ] {
            assert!(matches!(SessionId::new(text), SessionId::Text(_)), "{text}");
            assert_eq!(SessionId::new(text).to_string(), text);
        }
    }

    #[test]
    fn order_is_the_order_of_the_strings() {
        let ids = [
            "!",
            "0123456789abcdef0123456789abcdef",
            "0123456789abcdef0123456789abcdeg",
            "0123456789abcdef0123456789abcdf0",
            "1",
            "ffffffffffffffffffffffffffffffff",
            "g",
            "~",
        ];
        for a in ids {
            for b in ids {
                assert_eq!(
                    SessionId::new(a).cmp(&SessionId::new(b)),
                    a.cmp(b),
                    "{a} {b}"
                );
                assert_eq!(SessionId::new(a) == SessionId::new(b), a == b);
            }
        }
    }
}
