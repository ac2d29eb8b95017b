//! Timestamps as Webflow writes them: RFC 3339, UTC, milliseconds (`2023-02-09T23:58:22.294Z`).
//! Stored as integer milliseconds since the epoch, which every metadata backend sorts natively.

use chrono::{DateTime, SecondsFormat, Utc};

/// Now, at the millisecond precision timestamps are stored with, so a response built from it
/// equals what a later read returns.
pub fn now() -> DateTime<Utc> {
    from_millis(Utc::now().timestamp_millis())
}

/// Milliseconds since the Unix epoch.
pub fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// The instant `millis` after the epoch (the epoch itself if out of range).
pub fn from_millis(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// Webflow's wire format.
pub fn format(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_webflow_with_milliseconds() {
        let at = from_millis(1_675_987_102_294);
        assert_eq!(format(at), "2023-02-09T23:58:22.294Z");
        assert_eq!(to_millis(at), 1_675_987_102_294);
        assert_eq!(
            format(from_millis(1_675_987_102_000)),
            "2023-02-09T23:58:22.000Z"
        );
    }
}
