//! The six counts every figure of a run carries, from one stored agent second
//! to a whole run's summary: [`Counts`], summed field by field.

use serde::Serialize;
use utoipa::ToSchema;

/// Requests and bytes over some seconds. In JSON (flattened into the
/// summaries) `sent` is named `requests`, as the v1 summary always did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Counts {
    /// Requests sent.
    #[serde(rename = "requests")]
    pub sent: i64,
    /// Responses that passed the checks.
    pub ok: i64,
    /// Responses that failed the checks, plus errors.
    pub failed: i64,
    /// Requests not started because `max_vus` were in flight.
    pub dropped: i64,
    /// Bytes written to the target's sockets (TLS included).
    pub bytes_sent: i64,
    /// Bytes read from the target's sockets (TLS included).
    pub bytes_received: i64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.sent += o.sent;
        self.ok += o.ok;
        self.failed += o.failed;
        self.dropped += o.dropped;
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_field_by_field_and_serialize_sent_as_requests() {
        let mut c = Counts { sent: 1, ok: 2, failed: 3, dropped: 4, bytes_sent: 5, bytes_received: 6 };
        c += c;
        assert_eq!(c, Counts { sent: 2, ok: 4, failed: 6, dropped: 8, bytes_sent: 10, bytes_received: 12 });
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"requests":2,"ok":4,"failed":6,"dropped":8,"bytes_sent":10,"bytes_received":12}"#
        );
    }
}
