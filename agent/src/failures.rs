//! A job's failed-request sample: the first and the last
//! [`FAILURE_SAMPLE`] failed requests (time, status or error kind, a
//! message, the first KB of the body), and how many failed in all. What a
//! user looked for in k6's logs, kept in bounded memory: a failure past the
//! first ones replaces the oldest of the last ones.
//!
//! Workers record under a `try_lock`: when two fail at the same instant one
//! is only counted, so a storm of failures never makes workers wait on each
//! other.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use alilo_agent_api::{FAILURE_BODY_BYTES, FAILURE_SAMPLE, FailedRequest, FailureSample};

use crate::client::{ErrorKind, Outcome, Refusals};

/// The sample of one job.
#[derive(Default)]
pub struct FailureLog {
    total: AtomicU64,
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    first: Vec<FailedRequest>,
    last: VecDeque<FailedRequest>,
}

/// The words of an error kind, as the API names it.
pub fn kind_name(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::Connect => "connect",
        ErrorKind::Dns => "dns",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Tls => "tls",
        ErrorKind::Reset => "reset",
        ErrorKind::InvalidRequest => "invalid_request",
        ErrorKind::BodyTooLarge => "body_too_large",
        ErrorKind::NotAllowed => "not_allowed",
        ErrorKind::Other => "other",
    }
}

fn message(outcome: Outcome) -> String {
    match outcome {
        Outcome::Status(s) => format!("status {s} is not a success for this job's checks"),
        Outcome::Error(k) => match k {
            ErrorKind::Connect => "cannot connect to the target".into(),
            ErrorKind::Dns => "the target's host name does not resolve".into(),
            ErrorKind::Timeout => "no complete response within the job's timeout".into(),
            ErrorKind::Tls => "the TLS handshake failed (certificate or protocol)".into(),
            ErrorKind::Reset => "the connection was reset or closed mid-response".into(),
            ErrorKind::InvalidRequest => "the request cannot be sent as given (URL, method or header)".into(),
            ErrorKind::BodyTooLarge => "the response body is larger than allowed".into(),
            ErrorKind::NotAllowed => "the host is not on the job's target allow-list: not sent".into(),
            ErrorKind::Other => "malformed response or other failure".into(),
        },
    }
}

impl FailureLog {
    /// Records a failed request that ended at `at_ms`, with the first bytes of its body.
    pub fn record(&self, outcome: Outcome, at_ms: u64, body: &[u8]) {
        self.record_as(outcome, at_ms, message(outcome), body);
    }

    /// Records a failed request of a script: `what` names it (`GET
    /// http://… (name)`), `error` is the client's own words for an error,
    /// and a status fails because the script did not expect it
    /// (`expectedStatuses`), not because of the job's checks.
    pub fn record_script(&self, outcome: Outcome, at_ms: u64, what: &str, error: Option<&str>, body: &[u8]) {
        let why = match (outcome, error) {
            (Outcome::Status(s), _) => format!("{what}: status {s} is not an expected status"),
            (Outcome::Error(_), Some(e)) => format!("{what}: {e}"),
            (Outcome::Error(_), None) => format!("{what}: {}", message(outcome)),
        };
        self.record_as(outcome, at_ms, why, body);
    }

    fn record_as(&self, outcome: Outcome, at_ms: u64, message: String, body: &[u8]) {
        let (status, error) = match outcome {
            Outcome::Status(s) => (s, "status".to_string()),
            Outcome::Error(k) => (0, kind_name(k).to_string()),
        };
        let body = String::from_utf8_lossy(&body[..body.len().min(FAILURE_BODY_BYTES)]).into_owned();
        self.push(FailedRequest { at_ms, status, error, message, body });
    }

    fn push(&self, failed: FailedRequest) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let Ok(mut kept) = self.kept.try_lock() else { return };
        if kept.first.len() < FAILURE_SAMPLE {
            kept.first.push(failed);
            return;
        }
        if kept.last.len() == FAILURE_SAMPLE {
            kept.last.pop_front();
        }
        kept.last.push_back(failed);
    }

    /// The sample now.
    pub fn sample(&self) -> FailureSample {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        FailureSample {
            total: self.total.load(Ordering::Relaxed),
            first: kept.first.clone(),
            last: kept.last.iter().cloned().collect(),
        }
    }
}

/// A request the job's target allow-list refused, in the job's words
/// (which host, which list): logged like any failed request.
impl Refusals for FailureLog {
    fn refused(&self, message: &str) {
        let error = kind_name(ErrorKind::NotAllowed).to_string();
        self.push(FailedRequest {
            at_ms: crate::engine::job::unix_ms(),
            status: 0,
            error,
            message: message.to_string(),
            body: String::new(),
        });
    }
}

/// The sample as text, one failure a line: the first ones (`head`) or the
/// last ones, at most `len` bytes (the original web UI's log link).
pub fn as_text(sample: &FailureSample, head: bool, len: usize) -> String {
    use std::fmt::Write as _;
    let mut out =
        format!("{} failed requests in all; the {} ones:\n", sample.total, if head { "first" } else { "last" });
    let list = if head || sample.last.is_empty() { &sample.first } else { &sample.last };
    for f in list {
        let at = chrono_like(f.at_ms);
        let what = if f.status > 0 { format!("status {}", f.status) } else { f.error.clone() };
        let _ = writeln!(
            out,
            "{at} {what}: {}{}",
            f.message,
            if f.body.is_empty() { String::new() } else { format!(" | {}", f.body.replace('\n', " ")) }
        );
    }
    if out.len() > len {
        let mut cut = len;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of Unix milliseconds (civil-from-days, no date crate).
fn chrono_like(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem / 60 % 60, rem % 60, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_and_the_last_failures_are_kept_and_all_are_counted() {
        let log = FailureLog::default();
        for i in 0..100u64 {
            log.record(Outcome::Status(500), i, format!("body {i}").as_bytes());
        }
        log.record(Outcome::Error(ErrorKind::Timeout), 100, b"");
        let s = log.sample();
        assert_eq!(s.total, 101);
        assert_eq!(s.first.len(), FAILURE_SAMPLE);
        assert_eq!(s.first[0].at_ms, 0);
        assert_eq!(s.first[0].body, "body 0");
        assert_eq!(s.first[0].error, "status");
        assert_eq!(s.last.len(), FAILURE_SAMPLE);
        assert_eq!(s.last.last().unwrap().error, "timeout");
        assert_eq!(s.last[0].at_ms, 100 - FAILURE_SAMPLE as u64 + 1, "the oldest of the last ones");
    }

    #[test]
    fn bodies_are_cut_at_a_kilobyte_and_text_at_len() {
        let log = FailureLog::default();
        log.record(Outcome::Status(503), 1_764_417_600_123, &[b'x'; 5000]);
        let s = log.sample();
        assert_eq!(s.first[0].body.len(), FAILURE_BODY_BYTES);
        let text = as_text(&s, true, 10_000);
        assert!(
            text.starts_with("1 failed requests in all; the first ones:\n2025-11-29T12:00:00.123Z status 503: "),
            "{text}"
        );
        assert_eq!(as_text(&s, true, 40).len(), 40);
    }
}
