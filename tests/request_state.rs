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

/// The single-use ledger kept by a store: a token redeemed there is refused after
/// the store is rebuilt from its snapshot, and from its journal records (what the
/// file store writes), until the token expires; an undone redemption is forgotten.
mod in_a_store {
    use super::*;
    use mcp_session_core::{Config, Refusal, SessionStore, Staging};

    fn store() -> SessionStore {
        SessionStore::with_id_source(Config::default(), Box::new(InsecureSeededIds::new(9)))
            .unwrap()
    }

    #[test]
    fn a_replay_after_a_restart_from_the_snapshot_is_refused() {
        let mut c = codec();
        let mut first = store();
        let token = c.mint(b"ok", ALICE, Some(60_000), NOW).unwrap();
        assert_eq!(
            c.redeem_in(&token, ALICE, NOW, &mut first).unwrap().payload,
            b"ok"
        );
        assert_eq!(
            c.redeem_in(&token, ALICE, NOW + 1, &mut first),
            Err(Refusal::Replayed)
        );
        let snapshot = first.snapshot(NOW + 2).unwrap();
        assert!(snapshot.contains("\"redeemed\""), "{snapshot}");

        let mut second = store();
        let report = second.restore(&snapshot, NOW + 3).unwrap();
        assert_eq!(report.redeemed_restored, 1);
        assert_eq!(
            c.open_in(&token, ALICE, NOW + 3, &second),
            Err(Refusal::Replayed)
        );
        assert_eq!(
            c.redeem_in(&token, ALICE, NOW + 3, &mut second),
            Err(Refusal::Replayed)
        );
        // At its expiry the entry goes with the store's clock, and the token is
        // refused as expired.
        assert_eq!(second.next_deadline(), Some(NOW + 60_000));
        assert_eq!(
            c.redeem_in(&token, ALICE, NOW + 60_000, &mut second),
            Err(Refusal::Expired)
        );
        assert_eq!(second.stats(NOW + 60_000).unwrap().redeemed_tokens, 0);
        // The host's timer, armed at that deadline, sweeps the entry away.
        second.sweep(NOW + 60_000).unwrap();
        assert_eq!(second.next_deadline(), None);
    }

    #[test]
    fn journal_records_carry_redemptions_and_an_undone_one_is_forgotten() {
        let mut c = codec();
        let mut s = store();
        s.set_journaling(true);
        let base = s.snapshot(NOW).unwrap();
        let kept = c.mint(b"a", ALICE, None, NOW).unwrap();
        let undone = c.mint(b"b", ALICE, None, NOW).unwrap();

        c.redeem_in(&kept, ALICE, NOW, &mut s).unwrap();
        assert!(s.journal_pending());
        let record = s.journal_export(NOW).unwrap();
        assert!(record.contains("\"redeemed\""), "{record}");
        s.journal_commit();

        c.redeem_in(&undone, ALICE, NOW, &mut s).unwrap();
        s.journal_revert();
        assert!(!s.journal_pending());
        assert_eq!(s.stats(NOW).unwrap().redeemed_tokens, 1);
        assert!(
            c.redeem_in(&undone, ALICE, NOW, &mut s).is_ok(),
            "undone: not redeemed"
        );

        // Snapshot then journal record, replayed as the file store does.
        let mut staging = Staging::default();
        staging.add(&base, false).unwrap();
        staging.add(&record, true).unwrap();
        let mut restarted = store();
        let report = restarted.restore_staged(staging, NOW + 5).unwrap();
        assert_eq!(report.redeemed_restored, 1);
        assert_eq!(
            c.redeem_in(&kept, ALICE, NOW + 5, &mut restarted),
            Err(Refusal::Replayed)
        );
        // The codec's own ledger is apart: it never saw `kept`.
        assert!(c.redeem(&kept, ALICE, NOW + 5).is_ok());
    }

    #[test]
    fn snapshot_records_carry_the_whole_ledger_in_the_last_piece() {
        let mut c = codec();
        let mut s = store();
        let tokens: Vec<String> = (0..50)
            .map(|i| c.mint(&[i], ALICE, None, NOW).unwrap())
            .collect();
        for t in &tokens {
            c.redeem_in(t, ALICE, NOW, &mut s).unwrap();
        }
        for _ in 0..20 {
            s.create_id(Default::default(), NOW).unwrap();
        }
        let mut staging = Staging::default();
        let mut ledger_per_piece = Vec::new();
        let mut from = 0;
        loop {
            let (piece, next) = s.snapshot_records(NOW, from, 200).unwrap();
            ledger_per_piece.push(
                piece
                    .lines()
                    .filter(|l| l.contains("redeemedToken"))
                    .count(),
            );
            for line in piece.lines() {
                staging.add(line, false).unwrap();
            }
            match next {
                Some(n) => from = n,
                None => break,
            }
        }
        // Small pieces split the sessions, never the ledger (its order moves as
        // entries expire, so a cursor into it could skip one).
        assert!(ledger_per_piece.len() > 5, "{ledger_per_piece:?}");
        let (last, before) = ledger_per_piece.split_last().unwrap();
        assert_eq!((*last, before.iter().sum::<usize>()), (50, 0));
        let mut restarted = store();
        let report = restarted.restore_staged(staging, NOW + 1).unwrap();
        assert_eq!((report.restored, report.redeemed_restored), (20, 50));
        for t in &tokens {
            assert_eq!(
                c.redeem_in(t, ALICE, NOW + 1, &mut restarted),
                Err(Refusal::Replayed)
            );
        }
    }

    #[test]
    fn a_malformed_ledger_entry_refuses_the_whole_snapshot() {
        let mut s = store();
        let bad = r#"{"format":"mcp-session-core/snapshot","version":1,"takenAt":1,"sessions":[],"ended":[],"redeemed":[{"id":"short","expiresAt":5}]}"#;
        let err = s.restore(bad, NOW).unwrap_err();
        assert_eq!(err.code(), "INVALID_SNAPSHOT");
        assert!(err.to_string().contains("redeemed[0]"), "{err}");
    }
}
