//! Sealed requestState tokens against arbitrary input: tokens are attacker-controlled,
//! so no string may panic the codec or verify without having been minted.

#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use mcp_session_core::{Binding, CodecConfig, InsecureSeededIds, KeyRing, RequestStateCodec};
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000_000;
const ALICE: Binding<'static> = Binding {
    principal: Some("alice"),
    request: "tools/call\0deploy",
};

fn codec() -> RequestStateCodec {
    RequestStateCodec::with_id_source(
        CodecConfig::default(),
        KeyRing::new("k1", &[7; 32]).unwrap(),
        Box::new(InsecureSeededIds::new(3)),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Arbitrary bytes, as text (lossy), never panic and never verify.
    #[test]
    fn arbitrary_bytes_never_verify(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut c = codec();
        let text = String::from_utf8_lossy(&bytes);
        prop_assert!(c.redeem(&text, ALICE, NOW).is_err());
    }

    /// Arbitrary text behind a valid header and key ID: it reaches the base64 and
    /// AEAD layers, and still never verifies.
    #[test]
    fn arbitrary_bodies_never_verify(body in "[A-Za-z0-9_-]{0,400}") {
        let mut c = codec();
        let token = format!("rs1.k1.{body}");
        prop_assert!(c.redeem(&token, ALICE, NOW).is_err());
    }

    /// A minted token with one byte of its text changed never verifies.
    #[test]
    fn edited_tokens_never_verify(
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        at in any::<prop::sample::Index>(),
        to in any::<u8>(),
    ) {
        let mut c = codec();
        let token = c.mint(&payload, ALICE, None, NOW).unwrap();
        let mut bytes = token.clone().into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != to);
        bytes[i] = to;
        let edited = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert!(c.redeem(&edited, ALICE, NOW).is_err());
        prop_assert_eq!(c.redeem(&token, ALICE, NOW).unwrap().payload, payload);
    }
}
