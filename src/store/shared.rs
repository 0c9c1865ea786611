//! A store shared by several instances (Redis): each instance's core holds
//! working copies.
//!
//! The shared store holds the records; each instance's core still makes every
//! lifecycle decision. Before a call the host fetches the records it is about
//! (one round trip) and [`SessionStore::adopt`]s them in place of whatever copies
//! it held, since another instance may have changed them; the call runs as ever;
//! the host writes the journal's export with a compare-and-set on the revisions it
//! fetched, then commits, or reverts and tries again from a fresh fetch; and it
//! [`SessionStore::release`]s the copies, so that a stale one never answers a
//! later call. The caps count live records fleet-wide, which only the shared store
//! sees: it refuses the write that would pass them, and the host answers with the
//! core's limit error.

use crate::error::SessionError;
use crate::ids::check_session_id;
use crate::snapshot::{self, RestoreReport};

use super::persistence::Applying;
use super::{check_now, SessionStore};

impl SessionStore {
    /// Takes the records of `text` (an [`Self::export`] document fetched from the
    /// shared store) in place of any local copies of them, and drops the local
    /// copies of the other `ids` (fetched, and not there: gone fleet-wide). A record
    /// already past its deadline is taken too: the call that follows ends it, as
    /// expired. Nothing is announced or journaled; the local caps are not applied.
    /// Invalid input changes nothing.
    pub fn adopt(
        &mut self,
        ids: &[String],
        text: &str,
        now: u64,
    ) -> Result<RestoreReport, SessionError> {
        check_now(now)?;
        for id in ids {
            check_session_id(id)?;
        }
        let valid = snapshot::parse(text, &self.settings)?;
        let fetched: Vec<String> = valid
            .sessions
            .iter()
            .chain(valid.ended.iter())
            .map(|s| s.id.to_string())
            .collect();
        Ok(self.unjournaled(|store| {
            store.drop_copies(ids.iter().chain(fetched.iter()));
            store.apply(valid, now, Applying::Adopt)
        }))
    }

    /// Drops the local copies of `ids`, live or ended, as if never held: no event,
    /// nothing journaled. Unknown IDs are passed over.
    pub fn release(&mut self, ids: &[String]) -> Result<(), SessionError> {
        for id in ids {
            check_session_id(id)?;
        }
        self.unjournaled(|store| store.drop_copies(ids.iter()));
        Ok(())
    }

    fn drop_copies<'a>(&mut self, ids: impl Iterator<Item = &'a String>) {
        for id in ids {
            let Some((handle, s)) = self.sessions.lookup(id) else {
                continue;
            };
            let (ended_at, principal, kind) = (
                s.end.as_ref().map(|e| e.at),
                s.data.principal.clone(),
                s.kind,
            );
            match ended_at {
                None => {
                    self.index.remove(handle);
                    self.uncount_live(kind, principal.as_deref(), handle);
                }
                Some(at) => self.ended.unremember(handle, at),
            }
            self.sessions.remove(handle);
        }
    }
}
