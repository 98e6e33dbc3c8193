//! A VU's cookie jar, as RFC 6265 has a user agent keep one (sections 5.1
//! to 5.4), kept small: what load tests meet, without a public-suffix list.
//!
//! - **Storing** a `Set-Cookie` of a response to a URL: `Domain` (leading
//!   dot dropped) must domain-match the request's host, else the cookie is
//!   ignored; without it the cookie is *host-only*. `Path` defaults to the
//!   request path's directory. `Max-Age` wins over `Expires`; a date in the
//!   past (or `Max-Age` ≤ 0) deletes the cookie. A cookie replaces the one
//!   of the same name, domain and path.
//! - **Sending** to a URL: the cookies whose domain matches its host (exact
//!   for host-only ones, else the domain or a subdomain of it), whose path
//!   is a prefix of its path on a `/` boundary, not expired, `Secure` ones
//!   only over `https`; longer paths first, then older first (5.4).
//! - Not done: the public-suffix check (a response of `a.example.com` may set
//!   a cookie for `com`, which only that VU's later requests would carry),
//!   `SameSite`, and the per-domain count limits.

use std::time::{Duration, SystemTime};

use url::Url;

/// One cookie.
#[derive(Debug, Clone, PartialEq)]
pub struct Cookie {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
    /// The host (host-only) or domain it is sent to, lower case.
    pub domain: String,
    /// Sent to `domain` only, not to its subdomains.
    pub host_only: bool,
    /// Sent to this path and below.
    pub path: String,
    /// When it expires (`None`: at the end of the VU).
    pub expires: Option<SystemTime>,
    /// Sent over `https` only.
    pub secure: bool,
    /// Order of creation, for the sending order.
    created: u64,
}

/// A VU's cookies.
#[derive(Debug, Default)]
pub struct Jar {
    cookies: Vec<Cookie>,
    created: u64,
}

/// The optional attributes of [`Jar::set`] (k6's `jar.set(url, name,
/// value, options)`).
#[derive(Debug, Default, Clone)]
pub struct SetOptions {
    /// `domain`.
    pub domain: Option<String>,
    /// `path`.
    pub path: Option<String>,
    /// `expires` (an HTTP date).
    pub expires: Option<String>,
    /// `max_age`, seconds.
    pub max_age: Option<i64>,
    /// `secure`.
    pub secure: bool,
}

impl Jar {
    /// Whether it holds no cookie.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// Stores one `Set-Cookie` header value of a response to `url`.
    pub fn store(&mut self, url: &Url, header: &str, now: SystemTime) {
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else { return };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return;
        }
        let mut o = SetOptions::default();
        for attr in parts {
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            let v = v.trim();
            match k.trim().to_ascii_lowercase().as_str() {
                "domain" if !v.is_empty() => o.domain = Some(v.to_string()),
                "path" => o.path = Some(v.to_string()),
                "expires" => o.expires = Some(v.to_string()),
                // An invalid Max-Age is ignored (5.2.2).
                "max-age" => o.max_age = v.parse().ok().or(o.max_age),
                "secure" => o.secure = true,
                _ => {}
            }
        }
        self.set(url, name, value, &o, now);
    }

    /// Adds (or replaces, or with a past expiry deletes) a cookie set by a
    /// response to `url`, or by the script for it.
    pub fn set(&mut self, url: &Url, name: &str, value: &str, o: &SetOptions, now: SystemTime) {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else { return };
        let (domain, host_only) = match o.domain.as_deref().map(|d| d.trim_start_matches('.').to_ascii_lowercase()) {
            None => (host.clone(), true),
            Some(d) if d.is_empty() => (host.clone(), true),
            Some(d) if domain_match(&host, &d) => (d, false),
            // A domain the request's host is not in: ignored (5.3 step 6).
            Some(_) => return,
        };
        let path = match o.path.as_deref() {
            Some(p) if p.starts_with('/') => p.to_string(),
            _ => default_path(url.path()),
        };
        let expires = match (o.max_age, o.expires.as_deref()) {
            (Some(secs), _) if secs <= 0 => Some(SystemTime::UNIX_EPOCH),
            (Some(secs), _) => Some(now + Duration::from_secs(secs.unsigned_abs())),
            (None, Some(date)) => parse_date(date),
            (None, None) => None,
        };
        let same = |c: &Cookie| c.name == name && c.domain == domain && c.path == path;
        let old = self.cookies.iter().position(same);
        let created = match old {
            Some(i) => self.cookies.remove(i).created,
            None => {
                self.created += 1;
                self.created
            }
        };
        if expires.is_some_and(|e| e <= now) {
            return;
        }
        self.cookies.push(Cookie {
            name: name.to_string(),
            value: value.to_string(),
            domain,
            host_only,
            path,
            expires,
            secure: o.secure,
            created,
        });
    }

    /// The cookies to send to `url`, in RFC 6265's order.
    pub fn for_url(&self, url: &Url, now: SystemTime) -> Vec<&Cookie> {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else { return Vec::new() };
        let https = url.scheme() == "https";
        let mut out: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| if c.host_only { c.domain == host } else { domain_match(&host, &c.domain) })
            .filter(|c| path_match(url.path(), &c.path))
            .filter(|c| https || !c.secure)
            .filter(|c| c.expires.is_none_or(|e| e > now))
            .collect();
        out.sort_by(|a, b| b.path.len().cmp(&a.path.len()).then(a.created.cmp(&b.created)));
        out
    }

    /// Removes the cookies that would be sent to `url` (`name`: only that one).
    pub fn clear(&mut self, url: &Url, name: Option<&str>) {
        let now = SystemTime::now();
        let gone: Vec<u64> = self
            .for_url(url, now)
            .into_iter()
            .filter(|c| name.is_none_or(|n| c.name == n))
            .map(|c| c.created)
            .collect();
        self.cookies.retain(|c| !gone.contains(&c.created));
    }
}

/// RFC 6265 5.1.3: `host` is `domain` or a subdomain of it (never for an
/// IP address, which only matches itself).
fn domain_match(host: &str, domain: &str) -> bool {
    if host == domain {
        return true;
    }
    let is_ip = host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[');
    !is_ip && host.len() > domain.len() && host.ends_with(domain) && host[..host.len() - domain.len()].ends_with('.')
}

/// RFC 6265 5.1.4: the directory of a request path.
fn default_path(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}

/// RFC 6265 5.1.4: `path` is `cookie_path` or below it.
fn path_match(path: &str, cookie_path: &str) -> bool {
    path == cookie_path
        || (path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

/// An `Expires` date: the HTTP forms, and the `Wdy, DD-Mon-YYYY` form of
/// old servers. `None` (a session cookie) when it cannot be read.
fn parse_date(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    httpdate::parse_http_date(s).ok().or_else(|| {
        // `Wed, 21-Oct-2015 07:28:00 GMT` (and two-digit years): rebuilt as
        // an IMF date, whose weekday httpdate checks, so drop it first.
        let rest = s.split_once(", ").map_or(s, |(_, r)| r);
        let mut it = rest.split([' ', '-']).filter(|p| !p.is_empty());
        let (day, month, year, time) = (it.next()?, it.next()?, it.next()?, it.next()?);
        let year: i32 = match year.parse::<i32>().ok()? {
            y @ 0..=69 => 2000 + y,
            y @ 70..=99 => 1900 + y,
            y => y,
        };
        let m = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
            .iter()
            .position(|m| month.to_ascii_lowercase().starts_with(m))?;
        let day: u32 = day.parse().ok()?;
        let mut hms = time.split(':').map(|x| x.parse::<u64>().ok());
        let (h, mi, sec) = (hms.next()??, hms.next()??, hms.next()??);
        let days = days_from_civil(year, m as u32 + 1, day)?;
        let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + mi * 60 + sec;
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i32, m: u32, d: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = i64::from(if m <= 2 { y - 1 } else { y });
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn names(jar: &Jar, url: &str, now: SystemTime) -> Vec<String> {
        jar.for_url(&u(url), now).iter().map(|c| format!("{}={}", c.name, c.value)).collect()
    }

    #[test]
    fn a_host_only_cookie_goes_to_its_host_only_and_a_domain_cookie_to_subdomains() {
        let now = SystemTime::now();
        let mut jar = Jar::default();
        jar.store(&u("http://shop.example.com/login"), "h=1", now);
        jar.store(&u("http://shop.example.com/login"), "d=2; Domain=.Example.com", now);
        jar.store(&u("http://shop.example.com/login"), "x=3; Domain=other.com", now);
        assert_eq!(names(&jar, "http://shop.example.com/", now), vec!["h=1", "d=2"]);
        assert_eq!(names(&jar, "http://api.example.com/", now), vec!["d=2"]);
        assert_eq!(names(&jar, "http://example.com/", now), vec!["d=2"]);
        assert!(names(&jar, "http://notexample.com/", now).is_empty());
        assert!(names(&jar, "http://other.com/", now).is_empty(), "a foreign Domain is ignored");
        let mut ip = Jar::default();
        ip.store(&u("http://127.0.0.1:8080/"), "a=1; Domain=0.0.1", now);
        ip.store(&u("http://127.0.0.1:8080/"), "b=2", now);
        assert_eq!(names(&ip, "http://127.0.0.1:9090/", now), vec!["b=2"], "ports do not separate cookies");
    }

    #[test]
    fn paths_match_on_slash_boundaries_and_default_to_the_directory() {
        let now = SystemTime::now();
        let mut jar = Jar::default();
        jar.store(&u("http://a.test/shop/cart/add"), "dir=1", now);
        jar.store(&u("http://a.test/x"), "root=1; Path=/", now);
        jar.store(&u("http://a.test/x"), "api=1; Path=/api", now);
        assert_eq!(names(&jar, "http://a.test/shop/cart/view", now), vec!["dir=1", "root=1"]);
        assert_eq!(names(&jar, "http://a.test/shop/cart", now), vec!["dir=1", "root=1"]);
        assert_eq!(names(&jar, "http://a.test/shop/cartoon", now), vec!["root=1"]);
        assert_eq!(names(&jar, "http://a.test/api/v1", now), vec!["api=1", "root=1"], "longer paths first");
        assert_eq!(names(&jar, "http://a.test/apix", now), vec!["root=1"]);
        assert_eq!((default_path("/"), default_path(""), default_path("/a")), ("/".into(), "/".into(), "/".into()));
    }

    #[test]
    fn expiry_by_max_age_or_expires_and_max_age_wins() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let later = now + Duration::from_secs(120);
        let mut jar = Jar::default();
        jar.store(&u("http://a.test/"), "short=1; Max-Age=60", now);
        jar.store(&u("http://a.test/"), "long=1; Max-Age=3600; Expires=Thu, 01 Jan 1970 00:00:00 GMT", now);
        jar.store(&u("http://a.test/"), "past=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT", now);
        jar.store(&u("http://a.test/"), "future=1; Expires=Wed, 21-Oct-2037 07:28:00 GMT", now);
        jar.store(&u("http://a.test/"), "session=1", now);
        assert_eq!(names(&jar, "http://a.test/", now), vec!["short=1", "long=1", "future=1", "session=1"]);
        assert_eq!(names(&jar, "http://a.test/", later), vec!["long=1", "future=1", "session=1"]);
        jar.store(&u("http://a.test/"), "session=gone; Max-Age=0", now);
        jar.store(&u("http://a.test/"), "long=2", now);
        assert_eq!(names(&jar, "http://a.test/", now), vec!["short=1", "long=2", "future=1"], "replaced in place");
        assert_eq!(
            parse_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert_eq!(parse_date("Sunday, 06-Nov-94 08:49:37 GMT"), parse_date("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(parse_date("Tue, 06-Nov-1994 08:49:37 GMT"), parse_date("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(parse_date("soon"), None);
    }

    #[test]
    fn secure_cookies_go_over_https_only_and_clear_removes_what_a_url_would_get() {
        let now = SystemTime::now();
        let mut jar = Jar::default();
        jar.store(&u("https://a.test/"), "s=1; Secure; HttpOnly", now);
        jar.store(&u("https://a.test/"), "p=1", now);
        jar.store(&u("https://a.test/"), "q=1; Path=/q", now);
        assert_eq!(names(&jar, "http://a.test/", now), vec!["p=1"]);
        assert_eq!(names(&jar, "https://a.test/", now), vec!["s=1", "p=1"]);
        jar.clear(&u("https://a.test/"), Some("p"));
        assert_eq!(names(&jar, "https://a.test/q", now), vec!["q=1", "s=1"]);
        jar.clear(&u("https://a.test/"), None);
        assert_eq!(names(&jar, "https://a.test/q", now), vec!["q=1"], "clear takes what the URL would get");
    }
}
