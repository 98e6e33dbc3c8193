//! A short memory of who a credential belongs to, so that a read costs no
//! database round trip for the guard (the budget is 0.2 ms of p99).
//!
//! Only live credentials are remembered, for [`TTL`], keyed by the digest of the
//! session id or token. Anything that ends a credential (logout, revocation, a new
//! password, disabling a user, deleting one) clears the whole memory of this
//! process, so it takes effect at once here, and within [`TTL`] in other processes
//! (other Lambda instances, a second `alilo-local`).
//!
//! A credential in use is refreshed ahead: the first request that finds it older
//! than [`REFRESH_AFTER`] (but younger than [`TTL`]) is still answered from
//! memory and is told to look it up again in the background
//! ([`Remembered::Refresh`], once per entry), so a busy credential never makes a
//! request wait for Postgres; with many credentials in use at a high rate those
//! waits would otherwise reach p99 (bench/auth/RESULTS.md). Nothing is served
//! older than [`TTL`], and a refresh that a [`clear`] overtook is dropped, so
//! revocation keeps both promises above.

use super::principal::Principal;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a credential is trusted without asking the database again.
pub const TTL: Duration = Duration::from_secs(5);
/// From this age a request using the credential has it refreshed in the background.
pub const REFRESH_AFTER: Duration = Duration::from_secs(4);
/// Entries kept at most; past it the memory starts over (a flood of distinct
/// credentials costs database queries, not memory).
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    at: Instant,
    principal: Principal,
    /// A background refresh was handed out and has not come back.
    refreshing: bool,
}

/// Credential digest → when it was checked, and whose it is; and how many
/// times the memory was cleared (a refresh started before a clear is dropped).
struct Memory {
    entries: HashMap<Vec<u8>, Entry>,
    generation: u64,
}

static MEMORY: Mutex<Option<Memory>> = Mutex::new(None);

fn memory() -> std::sync::MutexGuard<'static, Option<Memory>> {
    MEMORY.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the memory says about a live credential.
#[derive(Debug, Clone, PartialEq)]
pub enum Remembered {
    /// Use it.
    Fresh(Principal),
    /// Use it, and look the credential up again in the background, then report
    /// with [`refreshed`] or [`refresh_failed`] (the generation goes back to
    /// [`refreshed`]). Only one request per entry is told so.
    Refresh(Principal, u64),
}

/// The principal remembered for `digest`, if younger than [`TTL`].
pub fn get(digest: &[u8]) -> Option<Remembered> {
    get_at(digest, Instant::now())
}

fn get_at(digest: &[u8], now: Instant) -> Option<Remembered> {
    let mut memory = memory();
    let memory = memory.as_mut()?;
    let generation = memory.generation;
    let entry = memory.entries.get_mut(digest)?;
    let age = now.saturating_duration_since(entry.at);
    if age >= TTL {
        return None;
    }
    if age >= REFRESH_AFTER && !entry.refreshing {
        entry.refreshing = true;
        return Some(Remembered::Refresh(entry.principal.clone(), generation));
    }
    Some(Remembered::Fresh(entry.principal.clone()))
}

/// Remember a live credential's principal.
pub fn put(digest: &[u8], principal: &Principal) {
    let mut memory = memory();
    let memory = memory.get_or_insert_with(|| Memory { entries: HashMap::new(), generation: 0 });
    if memory.entries.len() >= MAX_ENTRIES {
        memory.entries.clear();
    }
    memory
        .entries
        .insert(digest.to_vec(), Entry { at: Instant::now(), principal: principal.clone(), refreshing: false });
}

/// A background refresh came back: the credential's principal now (`None`: no
/// longer live, forgotten). Dropped when the memory was cleared since it
/// started at `generation`.
pub fn refreshed(digest: &[u8], found: Option<&Principal>, generation: u64) {
    let mut memory = memory();
    let Some(memory) = memory.as_mut().filter(|m| m.generation == generation) else { return };
    match found {
        Some(p) => {
            memory
                .entries
                .insert(digest.to_vec(), Entry { at: Instant::now(), principal: p.clone(), refreshing: false });
        }
        None => {
            memory.entries.remove(digest);
        }
    }
}

/// A background refresh failed (the database): a later request may try again.
pub fn refresh_failed(digest: &[u8]) {
    if let Some(entry) = memory().as_mut().and_then(|m| m.entries.get_mut(digest)) {
        entry.refreshing = false;
    }
}

/// Forget everything: a credential ended.
pub fn clear() {
    let mut memory = memory();
    let generation = memory.as_ref().map_or(0, |m| m.generation) + 1;
    *memory = Some(Memory { entries: HashMap::new(), generation });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(r: Option<Remembered>) -> Option<Principal> {
        match r {
            Some(Remembered::Fresh(p)) => Some(p),
            _ => None,
        }
    }

    // One test: the memory is one per process, and `clear` empties all of it.
    #[test]
    fn a_credential_is_refreshed_once_ahead_of_its_expiry_and_forgotten_on_clear() {
        let p = Principal::no_auth();
        let digest = b"cache-test-digest".as_slice();
        put(digest, &p);
        let now = Instant::now();
        assert_eq!(fresh(get_at(digest, now)), Some(p.clone()));
        assert_eq!(get(b"another"), None);

        // Past REFRESH_AFTER: served, and one request (only) is told to refresh.
        let late = now + REFRESH_AFTER + Duration::from_millis(500);
        let Some(Remembered::Refresh(served, generation)) = get_at(digest, late) else { panic!("no refresh") };
        assert_eq!(served, p);
        assert_eq!(fresh(get_at(digest, late)), Some(p.clone()), "a second request is not told again");
        assert_eq!(get_at(digest, now + TTL), None, "never served past the TTL");
        // The refresh comes back: fresh again from now on.
        refreshed(digest, Some(&p), generation);
        assert_eq!(fresh(get_at(digest, Instant::now() + Duration::from_millis(100))), Some(p.clone()));

        // A failed refresh lets a later request try again.
        let late = Instant::now() + REFRESH_AFTER + Duration::from_millis(500);
        assert!(matches!(get_at(digest, late), Some(Remembered::Refresh(..))));
        refresh_failed(digest);
        let Some(Remembered::Refresh(_, generation)) = get_at(digest, late) else { panic!("no second try") };
        // The credential ended meanwhile: the refresh forgets it.
        refreshed(digest, None, generation);
        assert_eq!(get(digest), None);

        // A refresh that a clear overtook is dropped: a revoked credential stays out.
        put(digest, &p);
        let Some(Remembered::Refresh(_, generation)) = get_at(digest, late) else { panic!("no refresh") };
        clear();
        refreshed(digest, Some(&p), generation);
        assert_eq!(get(digest), None);
        put(digest, &p);
        clear();
        assert_eq!(get(digest), None);
    }
}
