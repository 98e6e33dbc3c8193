//! Digests and HMACs of `k6/crypto`, over the RustCrypto crates.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The digest of `data` by `alg` (`md5`, `sha1`, `sha256`, `sha384`, `sha512`).
pub fn digest(alg: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    Ok(match alg {
        "md5" => md5::Md5::digest(data).to_vec(),
        "sha1" => Sha1::digest(data).to_vec(),
        "sha256" => Sha256::digest(data).to_vec(),
        "sha384" => Sha384::digest(data).to_vec(),
        "sha512" => Sha512::digest(data).to_vec(),
        a => return Err(format!("hash algorithm {a:?} is not supported (md5, sha1, sha256, sha384, sha512)")),
    })
}

/// The HMAC of `data` under `key` by `alg`.
pub fn hmac(alg: &str, key: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
    Ok(match alg {
        "md5" => mac::<Hmac<md5::Md5>>(key, data),
        "sha1" => mac::<Hmac<Sha1>>(key, data),
        "sha256" => mac::<Hmac<Sha256>>(key, data),
        "sha384" => mac::<Hmac<Sha384>>(key, data),
        "sha512" => mac::<Hmac<Sha512>>(key, data),
        a => return Err(format!("HMAC algorithm {a:?} is not supported (md5, sha1, sha256, sha384, sha512)")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: Vec<u8>) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn known_digests_and_macs() {
        assert_eq!(hex(digest("md5", b"abc").unwrap()), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(hex(digest("sha1", b"abc").unwrap()), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            hex(digest("sha256", b"abc").unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(hmac("sha256", b"key", b"The quick brown fox jumps over the lazy dog").unwrap()),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        assert!(digest("sha3", b"").unwrap_err().contains("sha3"));
    }
}
