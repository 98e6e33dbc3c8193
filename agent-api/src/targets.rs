//! Target allow-lists: which hosts a job's requests may go to. Pure: host
//! names and addresses in, a verdict out. The backend checks a script's hosts
//! with [`TargetList`] when it is saved, imported and started; an agent checks
//! every request of a job with [`Policy`] (the lists the backend put into the
//! job's `allowed_targets`), which is what catches the hosts of extended
//! scripts, known only when they run.
//!
//! A list is comma-separated (or given as items) entries:
//! - a host name (`shop.example.com`), matched exactly, case-insensitively;
//! - `*.suffix` (`*.staging.example.com`): any host under that suffix, not the suffix itself;
//! - an IP address or CIDR block (`10.1.0.0/16`, `::1`, `127.0.0.1/32`);
//! - `*`: any host (an explicit "no restriction").
//!
//! A host name matches name entries only, an IP address (as written in the
//! URL) address entries only. An agent also matches **resolved addresses**: a
//! host name no name entry covers still passes a list when every address it
//! connects to is in one of the list's IP/CIDR entries (the other addresses are
//! dropped, never tried), so `127.0.0.0/8` lets a script reach `localhost` but
//! nothing a name resolves to outside it.
//!
//! Several lists combine with AND: a host must pass each one ([`Policy`]).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Entries a list may have at most (a list is read at every save and start).
pub const MAX_ENTRIES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Any,
    Host(String),
    Suffix(String),
    Net(IpAddr, u8),
}

/// One parsed list; `None` inside means unset (every host passes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetList {
    entries: Option<Vec<Entry>>,
    /// The entries as given, for the wire.
    raw: Vec<String>,
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
pub fn canonical(ip: IpAddr) -> IpAddr {
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
    let host = normal_host(host);
    (!host.is_empty()).then_some(host)
}

/// A host as the lists compare it: lower case, no brackets, no final dot.
fn normal_host(host: &str) -> String {
    host.trim().trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase()
}

fn entry(e: &str) -> Result<Entry, String> {
    let lower = e.to_ascii_lowercase();
    if lower == "*" {
        return Ok(Entry::Any);
    }
    if let Some(suffix) = lower.strip_prefix("*.") {
        if suffix.is_empty() || !is_name(suffix) {
            return Err(format!("entry {e:?} is not a host, *.suffix, IP or CIDR"));
        }
        return Ok(Entry::Suffix(suffix.trim_end_matches('.').to_string()));
    }
    if let Some((ip, bits)) = parse_net(&lower) {
        return Ok(Entry::Net(ip, bits));
    }
    if is_name(&lower) {
        return Ok(Entry::Host(lower.trim_end_matches('.').to_string()));
    }
    Err(format!("entry {e:?} is not a host, *.suffix, IP or CIDR"))
}

fn is_name(s: &str) -> bool {
    s.len() <= 253
        && s.bytes().any(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

impl TargetList {
    /// Parse a comma-separated list; `None` or blank means unset. The error
    /// quotes the bad entry.
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        match raw.filter(|r| !r.trim().is_empty()) {
            None => Ok(Self::default()),
            Some(raw) => Self::from_entries(raw.split(',')),
        }
    }

    /// Parse entries given one by one (blank ones skipped); none at all means unset.
    pub fn from_entries<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Result<Self, String> {
        let mut entries = Vec::new();
        let mut raw = Vec::new();
        for e in items {
            let e = e.as_ref().trim();
            if e.is_empty() {
                continue;
            }
            if entries.len() == MAX_ENTRIES {
                return Err(format!("has more than {MAX_ENTRIES} entries"));
            }
            entries.push(entry(e)?);
            raw.push(e.to_string());
        }
        if entries.is_empty() {
            return Ok(Self::default());
        }
        Ok(Self { entries: Some(entries), raw })
    }

    /// Whether the list is configured at all.
    pub fn is_set(&self) -> bool {
        self.entries.is_some()
    }

    /// The entries as given (empty when unset).
    pub fn entries(&self) -> &[String] {
        &self.raw
    }

    /// Whether `host` (a name, or an IP address as written in a URL) is on
    /// the list. `explicit_only`: only IP/CIDR entries count (not names, not `*`).
    pub fn matches(&self, host: &str, explicit_only: bool) -> bool {
        let Some(entries) = &self.entries else {
            return false;
        };
        let host = normal_host(host);
        let ip = host.parse::<IpAddr>().ok();
        entries.iter().any(|e| match e {
            Entry::Any => !explicit_only,
            Entry::Host(h) => !explicit_only && ip.is_none() && *h == host,
            Entry::Suffix(s) => {
                !explicit_only
                    && ip.is_none()
                    && host.len() > s.len() + 1
                    && host.ends_with(s.as_str())
                    && host.as_bytes()[host.len() - s.len() - 1] == b'.'
            }
            Entry::Net(net, bits) => ip.is_some_and(|ip| in_net(ip, *net, *bits)),
        })
    }

    /// Whether a resolved address is in one of the list's IP/CIDR entries (or `*`).
    pub fn matches_address(&self, ip: IpAddr) -> bool {
        self.entries.as_ref().is_some_and(|entries| {
            entries.iter().any(|e| match e {
                Entry::Any => true,
                Entry::Net(net, bits) => in_net(ip, *net, *bits),
                _ => false,
            })
        })
    }

    /// Whether the list has IP/CIDR entries (a name may then pass by its addresses).
    fn has_nets(&self) -> bool {
        self.entries.as_ref().is_some_and(|e| e.iter().any(|e| matches!(e, Entry::Net(..))))
    }
}

/// One list of a job, as the backend sends it in `JobSpec::allowed_targets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowList {
    /// Which list this is, as refusals name it: `ALILO_ALLOWED_TARGETS`,
    /// `of project 7`.
    pub name: String,
    /// Its entries (see the module doc).
    pub entries: Vec<String>,
}

/// Why a host is refused: names the host and the list.
pub fn refusal(host: &str, list: &str) -> String {
    format!("host {host:?} is not in the target allow-list {list}")
}

/// The lists a job's requests must all pass; none: every host passes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    lists: Vec<(String, TargetList)>,
}

impl Policy {
    /// Parse a job's lists; the error names the list and quotes the entry.
    pub fn from_wire(lists: &[AllowList]) -> Result<Policy, String> {
        let mut out = Vec::new();
        for (i, l) in lists.iter().enumerate() {
            let list =
                TargetList::from_entries(&l.entries).map_err(|e| format!("allowed_targets[{i}] ({}): {e}", l.name))?;
            if !list.is_set() {
                return Err(format!("allowed_targets[{i}] ({}): has no entries", l.name));
            }
            out.push((l.name.clone(), list));
        }
        Ok(Policy { lists: out })
    }

    /// Whether no list applies.
    pub fn is_open(&self) -> bool {
        self.lists.is_empty()
    }

    /// A refusal known from the name alone, before resolving it: a list
    /// neither matches `host` nor could match its addresses (it has no
    /// IP/CIDR entry, or the host is already an address).
    pub fn refuses_by_name(&self, host: &str) -> Option<String> {
        if self.is_open() {
            return None;
        }
        let host = normal_host(host);
        let is_ip = host.parse::<IpAddr>().is_ok();
        self.lists
            .iter()
            .find(|(_, l)| !l.matches(&host, false) && (is_ip || !l.has_nets()))
            .map(|(name, _)| refusal(&host, name))
    }

    /// The addresses of `host` a request may connect to: all of them for a
    /// list that matches the host itself, else those in the list's IP/CIDR
    /// entries. None left: the refusal naming the first list that left none.
    pub fn admit<A>(&self, host: &str, mut addrs: Vec<A>, ip: impl Fn(&A) -> IpAddr) -> Result<Vec<A>, String> {
        if self.is_open() {
            return Ok(addrs);
        }
        let host = normal_host(host);
        for (name, list) in &self.lists {
            if list.matches(&host, false) {
                continue;
            }
            addrs.retain(|a| list.matches_address(ip(a)));
            if addrs.is_empty() {
                return Err(refusal(&host, name));
            }
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(raw: &str) -> TargetList {
        TargetList::parse(Some(raw)).unwrap()
    }

    fn policy(lists: &[(&str, &str)]) -> Policy {
        let wire: Vec<AllowList> = lists
            .iter()
            .map(|(n, e)| AllowList { name: n.to_string(), entries: e.split(',').map(str::to_string).collect() })
            .collect();
        Policy::from_wire(&wire).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn hosts_suffixes_and_cidrs_match_as_written() {
        let l = list("shop.example.com, *.staging.example, 10.1.0.0/16, ::1");
        let table = [
            ("shop.example.com", true),
            ("SHOP.example.com.", true),
            ("api.staging.example", true),
            ("staging.example", false),
            ("evilstaging.example", false),
            ("10.1.200.3", true),
            ("10.2.0.1", false),
            ("[::1]", true),
            ("::ffff:10.1.0.1", true),
            ("evil.example", false),
        ];
        for (host, want) in table {
            assert_eq!(l.matches(host, false), want, "{host}");
        }
        assert!(!l.matches("shop.example.com", true), "a name entry is not an explicit address entry");
    }

    #[test]
    fn a_list_keeps_its_entries_as_given_and_blank_is_unset() {
        let l = TargetList::from_entries([" a.example ", "", "10.0.0.0/8"]).unwrap();
        assert_eq!(l.entries(), ["a.example", "10.0.0.0/8"]);
        assert!(!TargetList::from_entries(["", " "]).unwrap().is_set());
        assert_eq!(TargetList::parse(Some("  ")).unwrap(), TargetList::default());
    }

    #[test]
    fn bad_entries_are_quoted() {
        for bad in ["bad host", "10.0.0.0/33", "*.", "*.*.x", "a/b", "-", "http://x"] {
            let err = TargetList::parse(Some(bad)).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
        let many: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("h{i}.example")).collect();
        assert!(TargetList::from_entries(&many).unwrap_err().contains("more than"));
    }

    #[test]
    fn hosts_are_read_from_urls() {
        assert_eq!(host_of("http://user@Shop.example:8080/a?b").as_deref(), Some("shop.example"));
        assert_eq!(host_of("https://[::1]:9/x").as_deref(), Some("::1"));
        assert_eq!(host_of("127.0.0.1:9/items").as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn an_open_policy_admits_everything() {
        let p = Policy::default();
        assert!(p.is_open());
        assert_eq!(p.refuses_by_name("anything.example"), None);
        assert_eq!(p.admit("anything.example", vec![ip("10.0.0.1")], |a| *a), Ok(vec![ip("10.0.0.1")]));
    }

    /// (lists, host, resolved addresses, admitted addresses or the list named in the refusal)
    #[test]
    fn every_list_must_pass_by_name_or_by_address() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a [&'a str], Result<&'a [&'a str], &'a str>);
        let g = ("ALILO_ALLOWED_TARGETS", "*.example.com,127.0.0.0/8");
        let p = ("of project 7", "api.example.com,127.0.0.1");
        let cases: &[Case] = &[
            (&[g], "api.example.com", &["93.184.216.34"], Ok(&["93.184.216.34"])),
            (&[g], "localhost", &["127.0.0.1", "::1"], Ok(&["127.0.0.1"])),
            (&[g], "evil.test", &["10.0.0.1"], Err("ALILO_ALLOWED_TARGETS")),
            (&[g, p], "api.example.com", &["10.0.0.1"], Ok(&["10.0.0.1"])),
            (&[g, p], "www.example.com", &["93.184.216.34"], Err("of project 7")),
            (&[g, p], "127.0.0.1", &["127.0.0.1"], Ok(&["127.0.0.1"])),
            (&[g, p], "127.0.0.2", &["127.0.0.2"], Err("of project 7")),
            (&[p], "127.0.0.9", &["127.0.0.9"], Err("of project 7")),
            (&[p], "localhost", &["::1", "127.0.0.1"], Ok(&["127.0.0.1"])),
        ];
        for (lists, host, addrs, want) in cases {
            let policy = policy(lists);
            let addrs: Vec<IpAddr> = addrs.iter().map(|a| ip(a)).collect();
            let got = policy.admit(host, addrs, |a| *a);
            match want {
                Ok(w) => assert_eq!(got, Ok(w.iter().map(|a| ip(a)).collect()), "{host} under {lists:?}"),
                Err(list) => {
                    let e = got.unwrap_err();
                    assert!(e.contains(&format!("{host:?}")) && e.ends_with(list), "{host} under {lists:?}: {e}");
                }
            }
        }
    }

    #[test]
    fn a_refusal_by_name_needs_no_resolution() {
        let names_only = policy(&[("L", "shop.example")]);
        assert!(names_only.refuses_by_name("evil.example").unwrap().contains("\"evil.example\""));
        assert_eq!(names_only.refuses_by_name("SHOP.example"), None);
        let with_nets = policy(&[("L", "10.0.0.0/8")]);
        assert_eq!(with_nets.refuses_by_name("internal.name"), None, "its addresses decide");
        assert!(with_nets.refuses_by_name("192.168.0.1").is_some(), "an address is known already");
    }

    #[test]
    fn a_job_list_without_entries_or_with_a_bad_one_is_refused() {
        let empty = [AllowList { name: "L".into(), entries: vec![] }];
        assert!(Policy::from_wire(&empty).unwrap_err().contains("no entries"));
        let bad = [AllowList { name: "L".into(), entries: vec!["bad host".into()] }];
        assert!(Policy::from_wire(&bad).unwrap_err().starts_with("allowed_targets[0] (L): entry \"bad host\""));
    }
}
