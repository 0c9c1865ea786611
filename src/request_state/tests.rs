use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::*;
use crate::ids::InsecureSeededIds;

const KEY_A: [u8; 32] = [0xA5; 32];
const KEY_B: [u8; 32] = [0x5B; 32];
const NOW: u64 = 1_800_000_000_000;

const ALICE: Binding<'static> = Binding {
    principal: Some("alice"),
    request: "tools/call\0deploy",
};

fn codec_with(config: CodecConfig) -> RequestStateCodec {
    RequestStateCodec::with_id_source(
        config,
        KeyRing::new("k1", &KEY_A).unwrap(),
        Box::new(InsecureSeededIds::new(42)),
    )
    .unwrap()
}

fn codec() -> RequestStateCodec {
    codec_with(CodecConfig::default())
}

#[test]
fn a_token_round_trips_its_payload_and_claims() {
    let mut c = codec();
    let token = c.mint(b"{\"step\":2}", ALICE, Some(60_000), NOW).unwrap();
    assert!(token.starts_with("rs1.k1."), "{token}");
    assert!(!token.contains("alice") && !token.contains("step"));
    let opened = c.redeem(&token, ALICE, NOW + 1).unwrap();
    assert_eq!(opened.payload, b"{\"step\":2}");
    assert_eq!(opened.issued_at, NOW);
    assert_eq!(opened.expires_at, NOW + 60_000);
}

#[test]
fn anonymous_tokens_bind_to_no_principal() {
    let mut c = codec();
    let anon = Binding {
        principal: None,
        request: "r",
    };
    let token = c.mint(b"", anon, None, NOW).unwrap();
    let empty = Binding {
        principal: Some(""),
        request: "r",
    };
    assert_eq!(c.open(&token, empty, NOW), Err(Refusal::Bind));
    let opened = c.redeem(&token, anon, NOW).unwrap();
    assert_eq!(opened.expires_at, NOW + 600_000);
    assert!(opened.payload.is_empty());
}

#[test]
fn every_token_has_its_own_id_and_nonce() {
    let mut c = codec();
    let a = c.mint(b"same", ALICE, None, NOW).unwrap();
    let b = c.mint(b"same", ALICE, None, NOW).unwrap();
    assert_ne!(a, b);
    let (oa, ob) = (
        c.redeem(&a, ALICE, NOW).unwrap(),
        c.redeem(&b, ALICE, NOW).unwrap(),
    );
    assert_ne!(oa.token_id, ob.token_id);
}

#[test]
fn flipping_any_byte_of_the_sealed_body_fails_the_mac() {
    let mut c = codec();
    let token = c.mint(b"payload", ALICE, None, NOW).unwrap();
    let (header, body) = token.rsplit_once('.').unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut t = bytes.clone();
            t[i] ^= bit;
            let tampered = format!("{header}.{}", URL_SAFE_NO_PAD.encode(&t));
            assert_eq!(c.open(&tampered, ALICE, NOW), Err(Refusal::Mac), "byte {i}");
        }
    }
    // The header is associated data: a changed version or key ID does not verify
    // either (a known key ID with the wrong key is a MAC failure too).
    c.keys_mut().accept("k2", &KEY_A).unwrap();
    let moved = token.replacen("rs1.k1.", "rs1.k2.", 1);
    assert_eq!(c.open(&moved, ALICE, NOW), Err(Refusal::Mac));
    assert!(c.redeem(&token, ALICE, NOW).is_ok());
}

#[test]
fn changing_any_character_of_the_text_is_refused() {
    let mut c = codec();
    let token = c.mint(b"payload", ALICE, None, NOW).unwrap();
    for i in 0..token.len() {
        for replacement in ['A', '.', '_', '~'] {
            let mut t: Vec<char> = token.chars().collect();
            if t[i] == replacement {
                continue;
            }
            t[i] = replacement;
            let t: String = t.into_iter().collect();
            let refused = c.open(&t, ALICE, NOW).unwrap_err();
            assert!(
                matches!(refused, Refusal::Mac | Refusal::Malformed),
                "{i} {refused}"
            );
        }
    }
}

#[test]
fn truncated_and_extended_tokens_are_refused() {
    let mut c = codec();
    let token = c.mint(b"payload", ALICE, None, NOW).unwrap();
    for len in 0..token.len() {
        let refused = c.open(&token[..len], ALICE, NOW).unwrap_err();
        assert!(
            matches!(refused, Refusal::Mac | Refusal::Malformed),
            "{len}"
        );
    }
    let longer = format!("{token}AA");
    assert!(c.open(&longer, ALICE, NOW).is_err());
}

#[test]
fn malformed_tokens_say_malformed() {
    let c = codec();
    let huge = format!("rs1.k1.{}", "A".repeat(200_000));
    for bad in [
        "",
        "rs1.",
        "rs1.k1",
        "rs1.k1.",
        "rs2.k1.AAAA",
        "rs1..AAAA",
        "rs1.k 1.AAAA",
        "rs1.k1.!!!!",
        "rs1.k1.AAAA=",
        "rs1.k1.A",
        "rs1.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &huge,
        "v1.eyJwIjoxfQ.AAAA",
    ] {
        assert_eq!(
            c.open(bad, ALICE, NOW),
            Err(Refusal::Malformed),
            "{bad:.40}"
        );
    }
}

#[test]
fn a_key_not_in_the_ring_is_a_mac_failure() {
    let mut other = RequestStateCodec::with_id_source(
        CodecConfig::default(),
        KeyRing::new("k9", &KEY_B).unwrap(),
        Box::new(InsecureSeededIds::new(1)),
    )
    .unwrap();
    let token = other.mint(b"x", ALICE, None, NOW).unwrap();
    assert_eq!(codec().open(&token, ALICE, NOW), Err(Refusal::Mac));
}

#[test]
fn a_token_expires_at_its_deadline() {
    let mut c = codec();
    let token = c.mint(b"x", ALICE, Some(1_000), NOW).unwrap();
    assert!(c.open(&token, ALICE, NOW + 999).is_ok());
    assert_eq!(c.open(&token, ALICE, NOW + 1_000), Err(Refusal::Expired));
    assert_eq!(c.redeem(&token, ALICE, NOW + 5_000), Err(Refusal::Expired));
    assert!(c.ledger().is_empty());
}

#[test]
fn another_principal_or_request_is_a_bind_failure() {
    let mut c = codec();
    let token = c.mint(b"x", ALICE, None, NOW).unwrap();
    let bob = Binding {
        principal: Some("bob"),
        ..ALICE
    };
    let anonymous = Binding {
        principal: None,
        ..ALICE
    };
    let other_request = Binding {
        request: "tools/call\0delete",
        ..ALICE
    };
    for b in [bob, anonymous, other_request] {
        assert_eq!(c.redeem(&token, b, NOW), Err(Refusal::Bind));
    }
    // A refused presentation does not use the token up.
    assert!(c.redeem(&token, ALICE, NOW).is_ok());
}

#[test]
fn a_redeemed_token_is_refused_as_replayed_until_it_expires() {
    let mut c = codec();
    let token = c.mint(b"x", ALICE, Some(1_000), NOW).unwrap();
    assert!(c.redeem(&token, ALICE, NOW).is_ok());
    assert_eq!(c.redeem(&token, ALICE, NOW + 10), Err(Refusal::Replayed));
    assert_eq!(c.open(&token, ALICE, NOW + 10), Err(Refusal::Replayed));
    assert_eq!(c.next_deadline(), Some(NOW + 1_000));
    // Past its expiry the token is refused as expired, and the ledger forgets it.
    assert_eq!(c.redeem(&token, ALICE, NOW + 1_000), Err(Refusal::Expired));
    assert_eq!(c.sweep(NOW + 1_000), 1);
    assert!(c.ledger().is_empty());
}

#[test]
fn old_keys_open_until_removed_after_a_rotation() {
    let mut c = codec();
    let old = c.mint(b"old", ALICE, None, NOW).unwrap();
    c.keys_mut().rotate("k2", &KEY_B).unwrap();
    assert_eq!(c.keys().key_ids(), vec!["k2", "k1"]);
    let new = c.mint(b"new", ALICE, None, NOW).unwrap();
    assert!(new.starts_with("rs1.k2."));
    assert_eq!(c.open(&old, ALICE, NOW).unwrap().payload, b"old");
    assert_eq!(
        c.keys_mut().remove("k2"),
        Err(RequestStateError::CurrentKey)
    );
    c.keys_mut().remove("k1").unwrap();
    assert_eq!(c.open(&old, ALICE, NOW), Err(Refusal::Mac));
    assert_eq!(c.redeem(&new, ALICE, NOW).unwrap().payload, b"new");
}

#[test]
fn the_key_ring_checks_its_ids() {
    assert_eq!(
        KeyRing::new("", &KEY_A).err(),
        Some(RequestStateError::InvalidKeyId)
    );
    assert_eq!(
        KeyRing::new("a.b", &KEY_A).err(),
        Some(RequestStateError::InvalidKeyId)
    );
    assert_eq!(
        KeyRing::new(&"k".repeat(33), &KEY_A).err(),
        Some(RequestStateError::InvalidKeyId)
    );
    let mut ring = KeyRing::new("k1", &KEY_A).unwrap();
    assert_eq!(
        ring.accept("k1", &KEY_B),
        Err(RequestStateError::DuplicateKeyId)
    );
    assert_eq!(ring.remove("nope"), Err(RequestStateError::UnknownKeyId));
    for n in 1..MAX_KEYS {
        ring.accept(&format!("x{n}"), &KEY_B).unwrap();
    }
    assert_eq!(
        ring.rotate("y", &KEY_B),
        Err(RequestStateError::TooManyKeys)
    );
    assert!(
        !format!("{ring:?}").contains("165"),
        "no key bytes in Debug"
    );
}

#[test]
fn a_full_ledger_fails_closed_and_expired_entries_free_room() {
    let mut c = codec_with(CodecConfig {
        max_ledger_entries: 2,
        ..CodecConfig::default()
    });
    let t1 = c.mint(b"1", ALICE, Some(1_000), NOW).unwrap();
    let t2 = c.mint(b"2", ALICE, Some(5_000), NOW).unwrap();
    let t3 = c.mint(b"3", ALICE, Some(5_000), NOW).unwrap();
    c.redeem(&t1, ALICE, NOW).unwrap();
    c.redeem(&t2, ALICE, NOW).unwrap();
    assert_eq!(c.redeem(&t3, ALICE, NOW + 1), Err(Refusal::LedgerFull));
    assert_eq!(c.redeem(&t1, ALICE, NOW + 1), Err(Refusal::Replayed));
    assert_eq!(c.redeem(&t2, ALICE, NOW + 1), Err(Refusal::Replayed));
    // t1 expires at NOW + 1000: its entry goes, and t3 fits.
    c.redeem(&t3, ALICE, NOW + 1_000).unwrap();
    assert_eq!(c.ledger().len(), 2);
    assert_eq!(c.redeem(&t3, ALICE, NOW + 1_001), Err(Refusal::Replayed));
}

#[test]
fn mint_checks_what_the_host_gives() {
    let mut c = codec_with(CodecConfig {
        max_payload_bytes: 4,
        max_lifetime_ms: 10_000,
        default_lifetime_ms: 5_000,
        ..CodecConfig::default()
    });
    assert_eq!(
        c.mint(b"12345", ALICE, None, NOW),
        Err(RequestStateError::PayloadTooLarge)
    );
    for lifetime in [0, 10_001] {
        assert_eq!(
            c.mint(b"", ALICE, Some(lifetime), NOW),
            Err(RequestStateError::InvalidLifetime)
        );
    }
    assert_eq!(
        c.mint(b"", ALICE, Some(10_000), crate::config::MAX_TIME_MS),
        Err(RequestStateError::InvalidLifetime)
    );
    let long = "p".repeat(crate::request::MAX_PRINCIPAL_BYTES + 1);
    let too_long = Binding {
        principal: Some(&long),
        request: "r",
    };
    assert_eq!(
        c.mint(b"", too_long, None, NOW),
        Err(RequestStateError::BindingTooLong)
    );
    let big_request = "r".repeat(codec::MAX_REQUEST_BINDING_BYTES + 1);
    let too_long = Binding {
        principal: None,
        request: &big_request,
    };
    assert_eq!(
        c.mint(b"", too_long, None, NOW),
        Err(RequestStateError::BindingTooLong)
    );
}

#[test]
fn the_longest_token_a_codec_mints_opens() {
    let mut c = codec_with(CodecConfig {
        max_payload_bytes: 100,
        ..CodecConfig::default()
    });
    let principal = "p".repeat(crate::request::MAX_PRINCIPAL_BYTES);
    let request = "r".repeat(codec::MAX_REQUEST_BINDING_BYTES);
    let b = Binding {
        principal: Some(&principal),
        request: &request,
    };
    c.keys_mut()
        .rotate(&"k".repeat(MAX_KEY_ID_CHARS), &KEY_B)
        .unwrap();
    let token = c.mint(&[7; 100], b, None, NOW).unwrap();
    assert!(token.len() <= c.max_token_chars());
    assert!(c.max_token_chars() - token.len() < 8, "the bound is tight");
    assert_eq!(c.redeem(&token, b, NOW).unwrap().payload, vec![7; 100]);
}

#[test]
fn bad_configs_are_refused() {
    let bad = |config: CodecConfig| {
        RequestStateCodec::new(config, KeyRing::new("k", &KEY_A).unwrap())
            .err()
            .map(|e| e.to_string())
    };
    let d = CodecConfig::default();
    assert_eq!(
        bad(CodecConfig {
            max_ledger_entries: 0,
            ..d
        }),
        Some("INVALID_CONFIG: max_ledger_entries".to_owned())
    );
    assert!(bad(CodecConfig {
        default_lifetime_ms: d.max_lifetime_ms + 1,
        ..d
    })
    .is_some());
    assert!(bad(CodecConfig {
        max_lifetime_ms: 0,
        ..d
    })
    .is_some());
    assert!(bad(CodecConfig {
        max_payload_bytes: MAX_PAYLOAD_LIMIT + 1,
        ..d
    })
    .is_some());
    assert!(bad(d).is_none());
}

#[test]
fn seeded_codecs_mint_the_same_tokens() {
    let (mut a, mut b) = (codec(), codec());
    assert_eq!(
        a.mint(b"x", ALICE, None, NOW).unwrap(),
        b.mint(b"x", ALICE, None, NOW).unwrap()
    );
}

#[test]
fn reason_codes_are_the_sdks_plus_ours() {
    let codes: Vec<&str> = Refusal::ALL.iter().map(|r| r.code()).collect();
    assert_eq!(
        codes,
        [
            "malformed",
            "mac",
            "expired",
            "bind",
            "replayed",
            "ledger_full"
        ]
    );
    for r in Refusal::ALL {
        assert_eq!(serde_json::to_value(r).unwrap(), r.code());
    }
}
