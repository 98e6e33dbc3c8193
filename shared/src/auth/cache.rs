//! A short memory of who a credential belongs to, so that a read costs no
//! database round trip for the guard (the budget is 0.2 ms of p99).
//!
//! Only live credentials are remembered, for [`TTL`], keyed by the digest of the
//! session id or token. Anything that ends a credential (logout, revocation, a new
//! password, disabling a user, deleting one) clears the whole memory of this
//! process, so it takes effect at once here, and within [`TTL`] in other processes
//! (other Lambda instances, a second `alilo-local`).

use super::principal::Principal;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a credential is trusted without asking the database again.
pub const TTL: Duration = Duration::from_secs(5);
/// Entries kept at most; past it the memory starts over (a flood of distinct
/// credentials costs database queries, not memory).
const MAX_ENTRIES: usize = 10_000;

/// Credential digest → when it was checked, and whose it is.
type Memory = HashMap<Vec<u8>, (Instant, Principal)>;

static MEMORY: Mutex<Option<Memory>> = Mutex::new(None);

/// The principal remembered for `digest`, if fresh.
pub fn get(digest: &[u8]) -> Option<Principal> {
    let memory = MEMORY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (at, principal) = memory.as_ref()?.get(digest)?;
    (at.elapsed() < TTL).then(|| principal.clone())
}

/// Remember a live credential's principal.
pub fn put(digest: &[u8], principal: &Principal) {
    let mut memory = MEMORY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let map = memory.get_or_insert_with(HashMap::new);
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(digest.to_vec(), (Instant::now(), principal.clone()));
}

/// Forget everything: a credential ended.
pub fn clear() {
    let mut memory = MEMORY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    *memory = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_credential_is_forgotten_on_clear() {
        let p = Principal::no_auth();
        put(b"cache-test-digest", &p);
        assert_eq!(get(b"cache-test-digest"), Some(p));
        assert_eq!(get(b"another"), None);
        clear();
        assert_eq!(get(b"cache-test-digest"), None);
    }
}
