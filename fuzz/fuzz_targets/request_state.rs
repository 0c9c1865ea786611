//! Sealed requestState tokens on arbitrary input: a codec with two keys (one
//! rotated out but still accepted) and a few minted tokens is handed arbitrary
//! strings and edits of its own tokens. Nothing panics; a string verifies only if
//! it is a token the codec minted, for its own binding, once; every refusal is one
//! of the typed reasons, and a refusal records nothing in the ledger. The same
//! tokens redeemed in a store's ledger get the same answers, and after the store
//! is rebuilt from its snapshot every redeemed token is refused as replayed.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_session_core::{
    Binding, CodecConfig, Config, InsecureSeededIds, KeyRing, Refusal, RequestStateCodec,
    SessionStore,
};

const T0: u64 = 1_800_000_000_000;

#[derive(Debug, Arbitrary)]
enum Input {
    /// A string of the attacker's choosing.
    Raw(String),
    /// One of the minted tokens with one byte replaced.
    Edit { token: u8, at: u16, to: u8 },
    /// One of the minted tokens, cut short.
    Cut { token: u8, len: u16 },
    /// One of the minted tokens, presented as is.
    Replay { token: u8 },
}

#[derive(Debug, Arbitrary)]
struct Case {
    inputs: Vec<Input>,
    /// Who presents each token: 0 alice, 1 bob, 2 anonymous.
    who: u8,
    later_ms: u16,
}

fuzz_target!(|case: Case| {
    let ring = KeyRing::new("old", &[1; 32]).expect("a key ring");
    let mut codec = RequestStateCodec::with_id_source(
        CodecConfig {
            max_ledger_entries: 4,
            ..CodecConfig::default()
        },
        ring,
        Box::new(InsecureSeededIds::new(9)),
    )
    .expect("a codec");
    let alice = Binding {
        principal: Some("alice"),
        request: "tools/call\0t",
    };
    let mut minted = vec![codec.mint(b"a", alice, Some(1_000), T0).expect("mint")];
    codec.keys_mut().rotate("new", &[2; 32]).expect("rotate");
    minted.push(codec.mint(b"b", alice, Some(60_000), T0).expect("mint"));
    minted.push(codec.mint(b"", alice, None, T0).expect("mint"));

    let presenter = match case.who % 3 {
        0 => alice,
        1 => Binding {
            principal: Some("bob"),
            ..alice
        },
        _ => Binding {
            principal: None,
            ..alice
        },
    };
    let now = T0 + u64::from(case.later_ms);
    let store_config = Config {
        max_redeemed_tokens: 4,
        ..Config::default()
    };
    let fresh = || {
        SessionStore::with_id_source(store_config.clone(), Box::new(InsecureSeededIds::new(5)))
            .expect("a store")
    };
    let mut store = fresh();
    let mut redeemed: Vec<String> = Vec::new();
    for input in case.inputs.iter().take(32) {
        let pick = |i: &u8| {
            minted
                .get(usize::from(*i) % minted.len())
                .cloned()
                .unwrap_or_default()
        };
        let token = match input {
            Input::Raw(s) => s.clone(),
            Input::Edit { token, at, to } => {
                let mut bytes = pick(token).into_bytes();
                let len = bytes.len().max(1);
                if let Some(b) = bytes.get_mut(usize::from(*at) % len) {
                    *b = *to;
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Input::Cut { token, len } => {
                let t = pick(token);
                let keep = usize::from(*len) % t.len().max(1);
                t.get(..keep).unwrap_or("").to_owned()
            }
            Input::Replay { token } => pick(token),
        };
        let before = codec.ledger().len();
        let in_store = codec.redeem_in(&token, presenter, now, &mut store);
        let answer = codec.redeem(&token, presenter, now);
        assert_eq!(
            in_store.as_ref().map(|o| &o.payload),
            answer.as_ref().map(|o| &o.payload),
            "the store's ledger answers as the codec's own"
        );
        match answer {
            Ok(_) => {
                assert!(minted.contains(&token), "a token it never minted verified");
                assert!(!redeemed.contains(&token), "a token verified twice");
                assert!(presenter == alice, "a token verified for another binding");
                redeemed.push(token);
            }
            Err(refusal) => {
                assert!(
                    codec.ledger().len() <= before,
                    "a refusal recorded: {refusal}"
                );
                if !minted.contains(&token) {
                    assert!(
                        matches!(refusal, Refusal::Malformed | Refusal::Mac),
                        "a token never minted was refused as {refusal}"
                    );
                }
            }
        }
    }
    let snapshot = store.snapshot(now).expect("a snapshot");
    let mut restarted = fresh();
    restarted.restore(&snapshot, now).expect("its restore");
    for token in &redeemed {
        assert_eq!(
            codec.redeem_in(token, presenter, now, &mut restarted).err(),
            Some(Refusal::Replayed),
            "a token redeemed before the restart is refused after it"
        );
    }
});
