//! The single-use ledger of sealed `requestState` tokens, kept in the store.
//!
//! A codec ([`crate::RequestStateCodec::redeem_in`]) checks a token's seal,
//! expiry and binding; whether it was already redeemed is the store's to answer,
//! because only the store is durable: its ledger moves with the store's clock
//! (every call forgets the entries whose tokens have expired, and
//! `next_deadline` includes the earliest, so the host's one timer serves both), is
//! journaled with the call that redeemed (a redemption that could not be saved is
//! taken back and refused as storage failure by the host, never half-kept),
//! and is written in snapshots and journal records. So a token redeemed before a
//! crash is refused as `replayed` after the restart, and a store shared by several
//! instances shares the ledger.
//!
//! Entries live in a [`Ledger`] (deadline-ordered, bounded by
//! `max_redeemed_tokens`); a full ledger refuses (`ledger_full`) rather than
//! forget an unexpired token.

use crate::config::MAX_TIME_MS;
use crate::request_state::{Refusal, SingleUse, TokenId};

use super::SessionStore;

impl SingleUse for SessionStore {
    fn redeemed(&self, id: &TokenId) -> bool {
        self.redeemed.contains(id)
    }

    fn consume(&mut self, id: TokenId, expires_at: u64, now: u64) -> Result<(), Refusal> {
        if now > MAX_TIME_MS {
            // Every token expires by MAX_TIME_MS: the codec refused it already.
            return Err(Refusal::Expired);
        }
        let now = self.advance(now);
        self.redeemed.record(id, expires_at, now)?;
        self.journal_redeemed(id, expires_at);
        Ok(())
    }
}
