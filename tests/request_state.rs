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

#[derive(Debug, Clone)]
enum Op {
    Mint { lifetime_s: u8 },
    Redeem { token: usize, as_bob: bool },
    Advance { ms: u32 },
    Sweep,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (1u8..=120).prop_map(|lifetime_s| Op::Mint { lifetime_s }),
        3 => (any::<usize>(), proptest::bool::weighted(0.1))
            .prop_map(|(token, as_bob)| Op::Redeem { token, as_bob }),
        1 => (0u32..90_000).prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::Sweep),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The codec and its ledger against a plain model: each redemption answers what
    /// the model says (expired, bind, replayed, ledger_full or the payload), the
    /// ledger holds exactly the redeemed, unexpired tokens after a sweep, and its
    /// next deadline is the earliest of their expiries.
    #[test]
    fn the_ledger_matches_a_model(ops in proptest::collection::vec(op(), 1..120), max in 1usize..6) {
        let mut c = RequestStateCodec::with_id_source(
            CodecConfig { max_ledger_entries: max, ..CodecConfig::default() },
            KeyRing::new("k1", &[7; 32]).unwrap(),
            Box::new(InsecureSeededIds::new(11)),
        )
        .unwrap();
        let bob = Binding { principal: Some("bob"), ..ALICE };
        // (token, payload, expires_at, redeemed)
        let mut tokens: Vec<(String, Vec<u8>, u64, bool)> = Vec::new();
        let mut now = NOW;
        for op in ops {
            match op {
                Op::Mint { lifetime_s } => {
                    let payload = vec![lifetime_s; usize::from(lifetime_s % 7)];
                    let lifetime = u64::from(lifetime_s) * 1_000;
                    let token = c.mint(&payload, ALICE, Some(lifetime), now).unwrap();
                    tokens.push((token, payload, now + lifetime, false));
                }
                Op::Redeem { token, as_bob } => {
                    if tokens.is_empty() {
                        continue;
                    }
                    let i = token % tokens.len();
                    let live = tokens.iter().filter(|t| t.3 && t.2 > now).count();
                    let (text, payload, expires_at, redeemed) = tokens[i].clone();
                    let expected = if now >= expires_at {
                        Err(mcp_session_core::Refusal::Expired)
                    } else if as_bob {
                        Err(mcp_session_core::Refusal::Bind)
                    } else if redeemed {
                        Err(mcp_session_core::Refusal::Replayed)
                    } else if live >= max {
                        Err(mcp_session_core::Refusal::LedgerFull)
                    } else {
                        Ok(payload)
                    };
                    let got = c
                        .redeem(&text, if as_bob { bob } else { ALICE }, now)
                        .map(|o| o.payload);
                    prop_assert_eq!(&got, &expected);
                    if got.is_ok() {
                        tokens[i].3 = true;
                    }
                }
                Op::Advance { ms } => now += u64::from(ms),
                Op::Sweep => {
                    c.sweep(now);
                    let live: Vec<u64> =
                        tokens.iter().filter(|t| t.3 && t.2 > now).map(|t| t.2).collect();
                    prop_assert_eq!(c.ledger().len(), live.len());
                    prop_assert_eq!(c.next_deadline(), live.iter().copied().min());
                }
            }
        }
    }
}
