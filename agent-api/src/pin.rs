//! Certificate pins of an agent's control API over TLS (#10).
//!
//! An agent started with `--tls-cert`/`--tls-key` serves its control API over
//! HTTPS; the backend accepts only the certificate it pinned for that agent:
//! the SHA-256 of the certificate's DER bytes, written `sha256:<64 hex>`.
//! Pinning the whole certificate (not a CA, not a host name) suits self-signed
//! agent certificates and needs no X.509 parsing; a renewed certificate is a
//! new pin, announced by the agent's next registration or set by an admin.
//!
//! A pin list holds up to [`MAX_PINS`] pins (comma-separated), any of which is
//! accepted: during a rotation the backend accepts the new certificate and the
//! old one. Input may be bare hex, colon-separated pairs (what `openssl x509
//! -fingerprint -sha256` prints) and any case; the stored form is canonical.

use sha2::{Digest, Sha256};
use std::fmt;

/// Pins accepted at once (a rotation needs two).
pub const MAX_PINS: usize = 4;

/// One or more certificate pins, in canonical order of input, no duplicates.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertPins(Vec<[u8; 32]>);

impl CertPins {
    /// The pin of a certificate (its DER bytes).
    pub fn of_der(cert: &[u8]) -> Self {
        CertPins(vec![Sha256::digest(cert).into()])
    }

    /// Parses `sha256:<hex>[,sha256:<hex>…]`; the `sha256:` prefix is optional
    /// and hex may be split by colons. `Ok(None)` for a blank string (no pin).
    /// The error says what is wrong, quoting the piece.
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        let mut pins: Vec<[u8; 32]> = Vec::new();
        for piece in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let pin = parse_one(piece)?;
            if !pins.contains(&pin) {
                pins.push(pin);
            }
        }
        if pins.len() > MAX_PINS {
            return Err(format!("holds {} pins; at most {MAX_PINS} (comma-separated)", pins.len()));
        }
        Ok((!pins.is_empty()).then_some(CertPins(pins)))
    }

    /// Whether a certificate (DER) is one of the pinned ones.
    pub fn accepts(&self, cert: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(cert).into();
        self.0.contains(&digest)
    }
}

fn parse_one(piece: &str) -> Result<[u8; 32], String> {
    let lower = piece.to_ascii_lowercase();
    let hex: String = lower.strip_prefix("sha256:").unwrap_or(&lower).chars().filter(|c| *c != ':').collect();
    let bad = || {
        format!(
            "{piece:?} is not a certificate pin: give sha256:<64 hex digits> (e.g. from `openssl x509 -noout -fingerprint -sha256`)"
        )
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

impl fmt::Display for CertPins {
    /// `sha256:<hex>[,sha256:<hex>…]`, lower case: the stored form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pin) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str("sha256:")?;
            for b in pin {
                write!(f, "{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for CertPins {
    /// As displayed: logs show the pins as an admin types them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertPins({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn a_pin_is_the_sha256_of_the_certificate_bytes() {
        let pin = CertPins::of_der(b"test");
        assert_eq!(pin.to_string(), format!("sha256:{HEX}"));
        assert!(pin.accepts(b"test") && !pin.accepts(b"other"));
    }

    #[test]
    fn pins_parse_from_hex_openssl_fingerprints_and_lists() {
        let canonical = format!("sha256:{HEX}");
        let colons: String = HEX
            .to_ascii_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        for input in [canonical.clone(), HEX.to_string(), colons, format!(" SHA256:{} ", HEX.to_ascii_uppercase())] {
            assert_eq!(CertPins::parse(&input).unwrap().unwrap().to_string(), canonical, "{input}");
        }
        let other = "00".repeat(32);
        let two = CertPins::parse(&format!("{HEX}, sha256:{other},{HEX}")).unwrap().unwrap();
        assert_eq!(two.to_string(), format!("{canonical},sha256:{other}"), "duplicates merged, order kept");
        assert!(two.accepts(b"test"));
        assert_eq!(CertPins::parse(" ").unwrap(), None, "blank: no pin");
    }

    #[test]
    fn malformed_pins_are_refused_quoting_the_piece() {
        for bad in ["sha256:abc", "md5:0011", &"zz".repeat(32), &format!("sha1:{HEX}")] {
            let err = CertPins::parse(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")) && err.contains("sha256:<64 hex digits>"), "{err}");
        }
        let many = (0..5).map(|i| format!("{i:02}").repeat(32)).collect::<Vec<_>>().join(",");
        assert!(CertPins::parse(&many).unwrap_err().contains("at most 4"));
    }
}
