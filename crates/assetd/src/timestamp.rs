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

/// A duration as people write it on a command line: a whole number and a unit, `s`, `m`, `h`,
/// `d` or `w` (`90s`, `15m`, `12h`, `30d`, `2w`).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, BadDuration> {
    let bad = || BadDuration(text.to_owned());
    let unit_at = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(unit_at);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    let total = number.checked_mul(seconds).ok_or_else(bad)?;
    // Past the year 10000 chrono cannot represent the expiry: refuse rather than wrap.
    if number == 0 || total > 100 * 365 * 86_400 {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs(total))
}

/// A duration [`parse_duration`] does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a duration: write a whole number and a unit (s, m, h, d or w), e.g. 30d; at most 100 years"
)]
pub struct BadDuration(pub String);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_are_a_number_and_a_unit() {
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("15m").unwrap().as_secs(), 900);
        assert_eq!(parse_duration("12h").unwrap().as_secs(), 43_200);
        assert_eq!(parse_duration("30d").unwrap().as_secs(), 2_592_000);
        assert_eq!(parse_duration("2w").unwrap().as_secs(), 1_209_600);
        for bad in [
            "",
            "30",
            "d",
            "-5d",
            "1.5h",
            "5y",
            "0s",
            "30 d",
            "99999999999w",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

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
