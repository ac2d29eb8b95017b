//! The three timestamp spellings the protocol uses.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

// Written digit by digit: these run on every presign, and chrono's strftime interpreter costs
// several times more than the signature itself. Years are four digits (0000-9999).
fn push_digits(out: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u32.pow(place)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

pub(crate) fn push_date(out: &mut String, date: NaiveDate, separator: Option<char>) {
    push_digits(out, date.year().clamp(0, 9999) as u32, 4);
    separator.into_iter().for_each(|c| out.push(c));
    push_digits(out, date.month(), 2);
    separator.into_iter().for_each(|c| out.push(c));
    push_digits(out, date.day(), 2);
}

/// `yyyymmdd`, the date element of a credential scope.
pub fn scope_date(date: NaiveDate) -> String {
    let mut out = String::with_capacity(8);
    push_date(&mut out, date, None);
    out
}

/// `yyyymmddThhmmssZ`, the ISO 8601 basic format of `x-amz-date`.
pub fn amz_date(at: DateTime<Utc>) -> String {
    // Fields read from the naive UTC time: each accessor of `DateTime<Utc>` adds the (zero)
    // offset again, which was most of the cost of formatting.
    let at = at.naive_utc();
    let mut out = String::with_capacity(16);
    push_date(&mut out, at.date(), None);
    out.push('T');
    push_digits(&mut out, at.hour(), 2);
    push_digits(&mut out, at.minute(), 2);
    push_digits(&mut out, at.second(), 2);
    out.push('Z');
    out
}

/// `yyyy-mm-ddThh:mm:ss.sssZ`, the policy expiration format of AWS's own examples.
pub fn policy_expiration(at: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(24);
    push_policy_expiration(&mut out, at);
    out
}

/// Appends `at` as [`policy_expiration`] spells it.
pub(crate) fn push_policy_expiration(out: &mut String, at: DateTime<Utc>) {
    let at = at.naive_utc();
    push_date(out, at.date(), Some('-'));
    out.push('T');
    push_digits(out, at.hour(), 2);
    out.push(':');
    push_digits(out, at.minute(), 2);
    out.push(':');
    push_digits(out, at.second(), 2);
    out.push('.');
    // A leap second shows as nanoseconds >= 1e9; clamp to .999 like chrono's %.3f would not.
    push_digits(out, (at.nanosecond() / 1_000_000).min(999), 3);
    out.push('Z');
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
    fn manual_formatting_matches_chrono_strftime() {
        let mut at = Utc
            .with_ymd_and_hms(1999, 1, 2, 3, 4, 5)
            .single()
            .expect("date");
        for step in 0..2000 {
            at += chrono::Duration::milliseconds(7_919_137_123 + step);
            assert_eq!(amz_date(at), at.format("%Y%m%dT%H%M%SZ").to_string());
            assert_eq!(
                policy_expiration(at),
                at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
            );
            assert_eq!(scope_date(at.date_naive()), at.format("%Y%m%d").to_string());
        }
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
