//! The target allow-list: which hosts the agents may be pointed at, and where a
//! script's data file may come from. Pure: host names and URLs in, a verdict out.
//!
//! `ALILO_ALLOWED_TARGETS` is a comma-separated list of entries:
//! - a host name (`shop.example.com`), matched exactly, case-insensitively;
//! - `*.suffix` (`*.staging.example.com`): any host under that suffix, not the suffix itself;
//! - an IP address or CIDR block (`10.1.0.0/16`, `::1`, `127.0.0.1/32`);
//! - `*`: any host (an explicit "no restriction").
//!
//! **Script targets.** When the list is unset, any target is allowed (the local,
//! loopback development default; startup warns when the API is exposed). When set,
//! a script's host must match an entry, at save, import and start.
//!
//! **Data files.** A data file comes from our bucket (`s3://<bucket>/…`, presigned
//! by the backend). Any other `http(s)` URL is refused unless its host is on the
//! list: with the list unset, never. Loopback, private, link-local and unspecified
//! addresses (and `localhost`) are refused even then, unless an IP/CIDR entry (not
//! a name, not `*`) covers them: the agents must not become a proxy into the
//! internal network. What this cannot stop: a listed *name* whose DNS answer is
//! internal (see docs/security.md).

use std::net::IpAddr;

/// The variable that configures the list.
pub const VAR: &str = "ALILO_ALLOWED_TARGETS";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Any,
    Host(String),
    Suffix(String),
    Net(IpAddr, u8),
}

/// The parsed list; `None` inside means unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetList {
    entries: Option<Vec<Entry>>,
}

fn parse_net(entry: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match entry.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (entry, None),
    };
    let ip: IpAddr = addr.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max)?,
        None => max,
    };
    Some((ip, bits))
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (canonical(ip), net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Loopback, private, link-local, unspecified, shared (CGNAT) or unique-local.
pub fn internal_address(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The host of `url` (`scheme://[user@]host[:port]/…`), lower-cased, brackets removed.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host =
        if let Some(v6) = host_port.strip_prefix('[') { v6.split(']').next()? } else { host_port.split(':').next()? };
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

impl TargetList {
    /// Parse `ALILO_ALLOWED_TARGETS`; `None` or blank means unset.
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
            return Ok(Self::default());
        };
        let mut entries = Vec::new();
        for e in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let lower = e.to_ascii_lowercase();
            let entry = if lower == "*" {
                Entry::Any
            } else if let Some(suffix) = lower.strip_prefix("*.") {
                if suffix.is_empty() || suffix.contains('*') {
                    return Err(format!("{VAR} entry {e:?} is not a host, *.suffix, IP or CIDR"));
                }
                Entry::Suffix(suffix.to_string())
            } else if let Some((ip, bits)) = parse_net(&lower) {
                Entry::Net(ip, bits)
            } else if lower.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
                Entry::Host(lower.trim_end_matches('.').to_string())
            } else {
                return Err(format!("{VAR} entry {e:?} is not a host, *.suffix, IP or CIDR"));
            };
            entries.push(entry);
        }
        Ok(Self { entries: Some(entries) })
    }

    /// Whether the list is configured at all.
    pub fn is_set(&self) -> bool {
        self.entries.is_some()
    }

    fn matches(&self, host: &str, explicit_only: bool) -> bool {
        let Some(entries) = &self.entries else {
            return false;
        };
        let ip = host.parse::<IpAddr>().ok();
        entries.iter().any(|e| match e {
            Entry::Any => !explicit_only,
            Entry::Host(h) => !explicit_only && ip.is_none() && h == host,
            Entry::Suffix(s) => {
                !explicit_only && ip.is_none() && host.len() > s.len() + 1 && host.ends_with(&format!(".{s}"))
            }
            Entry::Net(net, bits) => ip.is_some_and(|ip| in_net(ip, *net, *bits)),
        })
    }

    /// May a script send its requests to `host`? The error names the host and the list.
    pub fn check_target(&self, host: &str) -> Result<(), String> {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if !self.is_set() || self.matches(&host, false) {
            return Ok(());
        }
        Err(format!("host {host:?} is not in the target allow-list {VAR}"))
    }

    /// May a script's data file come from `url`? See the module doc.
    pub fn check_data_url(&self, url: &str, bucket: &str) -> Result<(), String> {
        let url = url.trim();
        if url.is_empty() {
            return Ok(());
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((b, key)) if b == bucket && !key.is_empty() => Ok(()),
                _ => Err(format!("{url:?} is not an object of our bucket (s3://{bucket}/…)")),
            };
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("{url:?} must be s3://{bucket}/… or an allowed http(s) URL"));
        }
        let host = host_of(url).ok_or_else(|| format!("{url:?} names no host"))?;
        if !self.is_set() {
            return Err(format!(
                "data files from other hosts than our bucket are off: host {host:?} is not in {VAR} (unset)"
            ));
        }
        let internal =
            host == "localhost" || host.ends_with(".localhost") || host.parse::<IpAddr>().is_ok_and(internal_address);
        if internal {
            if self.matches(&host, true) {
                return Ok(());
            }
            return Err(format!(
                "host {host:?} is an internal address; only an IP/CIDR entry of {VAR} can allow a data file from it"
            ));
        }
        if self.matches(&host, false) {
            Ok(())
        } else {
            Err(format!("host {host:?} is not in the target allow-list {VAR}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(raw: &str) -> TargetList {
        TargetList::parse(Some(raw)).unwrap()
    }

    #[test]
    fn an_unset_list_allows_every_target_but_no_foreign_data_file() {
        let open = TargetList::default();
        assert!(open.check_target("127.0.0.1").is_ok());
        assert!(open.check_target("anything.example").is_ok());
        assert!(open.check_data_url("s3://alilo/data/a.json", "alilo").is_ok());
        let err = open.check_data_url("http://127.0.0.1:9/secret.json", "alilo").unwrap_err();
        assert!(err.contains("127.0.0.1") && err.contains(VAR), "{err}");
        assert!(open.check_data_url("https://cdn.example/a.json", "alilo").is_err());
    }

    #[test]
    fn hosts_suffixes_and_cidrs_match_as_written() {
        let l = list("shop.example.com, *.staging.example, 10.1.0.0/16, ::1");
        assert!(l.check_target("shop.example.com").is_ok());
        assert!(l.check_target("SHOP.example.com").is_ok());
        assert!(l.check_target("api.staging.example").is_ok());
        assert!(l.check_target("staging.example").is_err(), "the suffix itself is not under it");
        assert!(l.check_target("evilstaging.example").is_err());
        assert!(l.check_target("10.1.200.3").is_ok());
        assert!(l.check_target("10.2.0.1").is_err());
        assert!(l.check_target("[::1]").is_ok());
        let err = l.check_target("evil.example").unwrap_err();
        assert!(err.contains("\"evil.example\"") && err.contains(VAR), "{err}");
    }

    #[test]
    fn internal_data_hosts_need_an_address_entry() {
        let by_name = list("*, localhost");
        for url in [
            "http://127.0.0.1:9/s.json",
            "http://localhost/s",
            "http://169.254.169.254/latest",
            "http://[::ffff:10.0.0.1]/x",
            "http://192.168.1.1/x",
        ] {
            assert!(by_name.check_data_url(url, "b").is_err(), "{url}");
        }
        assert!(by_name.check_data_url("https://cdn.example/a.json", "b").is_ok());
        let by_net = list("127.0.0.0/8");
        assert!(by_net.check_data_url("http://127.0.0.1:9/s.json", "b").is_ok());
    }

    #[test]
    fn only_our_bucket_is_a_data_source() {
        let l = TargetList::default();
        assert!(l.check_data_url("s3://other/a.json", "alilo").is_err());
        assert!(l.check_data_url("s3://alilo/", "alilo").is_err());
        assert!(l.check_data_url("file:///etc/passwd", "alilo").is_err());
    }

    #[test]
    fn hosts_are_read_from_urls() {
        assert_eq!(host_of("http://user@Shop.example:8080/a?b").as_deref(), Some("shop.example"));
        assert_eq!(host_of("https://[::1]:9/x").as_deref(), Some("::1"));
        assert_eq!(host_of("127.0.0.1:9/items").as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn bad_entries_are_named() {
        let err = TargetList::parse(Some("ok.example, bad host")).unwrap_err();
        assert!(err.contains("bad host"), "{err}");
        assert!(TargetList::parse(Some("10.0.0.0/33")).is_err());
        assert!(TargetList::parse(Some("  ")).unwrap() == TargetList::default());
    }
}
