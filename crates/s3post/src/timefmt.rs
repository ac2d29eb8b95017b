//! The three timestamp spellings the protocol uses.

use chrono::{DateTime, NaiveDate, Utc};

/// `yyyymmdd`, the date element of a credential scope.
pub fn scope_date(date: NaiveDate) -> String {
    date.format("%Y%m%d").to_string()
}

/// `yyyymmddThhmmssZ`, the ISO 8601 basic format of `x-amz-date`.
pub fn amz_date(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// `yyyy-mm-ddThh:mm:ss.sssZ`, the policy expiration format of AWS's own examples.
pub fn policy_expiration(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parses an `x-amz-date` value (`yyyymmddThhmmssZ`).
pub fn parse_amz_date(value: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|naive| naive.and_utc())
}

/// Parses a policy expiration: RFC 3339 in UTC, with or without fractional seconds
/// (botocore writes `2015-12-30T12:00:00Z`, AWS's examples `2015-12-30T12:00:00.000Z`).
pub fn parse_policy_expiration(value: &str) -> Option<DateTime<Utc>> {
    if !value.ends_with('Z') {
        return None;
    }
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_match_aws_examples() {
        let at = Utc
            .with_ymd_and_hms(2015, 12, 29, 0, 0, 0)
            .single()
            .expect("valid date");
        assert_eq!(scope_date(at.date_naive()), "20151229");
        assert_eq!(amz_date(at), "20151229T000000Z");
        assert_eq!(policy_expiration(at), "2015-12-29T00:00:00.000Z");
    }

    #[test]
    fn parses_both_expiration_spellings_and_rejects_offsets() {
        let want = Utc
            .with_ymd_and_hms(2015, 12, 30, 12, 0, 0)
            .single()
            .expect("valid date");
        assert_eq!(
            parse_policy_expiration("2015-12-30T12:00:00.000Z"),
            Some(want)
        );
        assert_eq!(parse_policy_expiration("2015-12-30T12:00:00Z"), Some(want));
        assert_eq!(parse_policy_expiration("2015-12-30T12:00:00+01:00"), None);
        assert_eq!(parse_policy_expiration("yesterday"), None);
        assert_eq!(
            parse_amz_date("20151229T000000Z"),
            Some(want - chrono::Duration::hours(36))
        );
        assert_eq!(parse_amz_date("2015-12-29"), None);
    }
}
