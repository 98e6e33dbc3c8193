//! The cryptography of credentials, in one place: random secrets, their stored
//! digests, password hashes, and each agent's own credential.
//!
//! - Session ids and API tokens are 256-bit random values shown once; only their
//!   SHA-256 is stored, so a database dump reveals no usable credential, and a
//!   lookup by digest leaks nothing through timing about other tokens.
//! - Passwords are argon2id PHC strings (salted, memory-hard); verification is the
//!   `argon2` crate's constant-time comparison.
//! - An agent's bearer credential is HMAC-SHA256(`ALILO_AGENT_KEY`, "host:port"),
//!   so the backend never sends a fleet-wide secret: a host an attacker registers
//!   learns the credential of that host only, which opens no other agent. The key
//!   lives in the backend's configuration, never in the database.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The prefix of API tokens, so a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "alilo_";

/// A fresh 256-bit random value, hex (64 characters). uuid's v4 draws from the
/// operating system's CSPRNG (getrandom).
fn random_hex() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    let c = uuid::Uuid::new_v4();
    // 3 x 122 random bits; 256 of them kept.
    let mut out = format!("{}{}{}", a.simple(), b.simple(), c.simple());
    out.truncate(64);
    out
}

/// A new API token (`alilo_…`).
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_hex())
}

/// A new session id (the cookie's value).
pub fn new_session_id() -> String {
    random_hex()
}

/// A new one-time password: 24 characters from the token alphabet.
pub fn new_password() -> String {
    random_hex()[..24].to_string()
}

/// What is stored for a session id or token: its SHA-256.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A salt of 16 random bytes.
fn salt() -> SaltString {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    SaltString::encode_b64(&bytes).expect("16 bytes make a valid salt")
}

/// The argon2id PHC string of `password`.
pub fn hash_password(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes(), &salt())
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// Whether `password` matches the stored PHC string (constant time); a malformed
/// stored hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A stored hash for unknown user names: verifying against it costs the same time
/// as a real one, so the answer's timing does not tell whether a name exists.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_hex()))
}

/// The credential of the agent whose control API is at `authority` (`host:port`
/// as in its control URL), derived from the fleet key.
pub fn agent_credential(key: &str, authority: &str) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(authority.to_ascii_lowercase().as_bytes());
    let out = mac.finalize().into_bytes();
    out.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `host:port` of a control URL (`http://host:port`).
pub fn authority_of(base_url: &str) -> &str {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_sessions_are_long_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
        assert_ne!(a, b);
        assert_ne!(new_session_id(), new_session_id());
        assert_eq!(digest("x").len(), 32);
    }

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsE", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        assert!(!verify_password("x", decoy_hash()));
    }

    #[test]
    fn each_agent_has_its_own_credential() {
        let a = agent_credential("fleet-key", "10.0.0.1:8888");
        assert_eq!(a.len(), 64);
        assert_eq!(a, agent_credential("fleet-key", "10.0.0.1:8888"), "stable");
        assert_ne!(a, agent_credential("fleet-key", "10.0.0.2:8888"), "another host, another credential");
        assert_ne!(a, agent_credential("other-key", "10.0.0.1:8888"));
        assert_eq!(authority_of("http://[::1]:8888"), "[::1]:8888");
    }
}
