//! When and how long to wait before trying a request again.
//!
//! 429 waits as long as `Retry-After` says (seconds or an HTTP date; at most [`MAX_WAIT`]);
//! 5xx and connection failures back off exponentially from [`FIRST_BACKOFF`]. Other statuses are
//! final: repeating a request the server refused as invalid cannot succeed.

use std::time::Duration;

/// Attempts per request, the first included.
pub const MAX_ATTEMPTS: u32 = 6;
/// The first backoff after a 5xx or a connection failure.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest single wait.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// How long to wait before attempt `attempt + 1` after a response with `status` (or a
/// connection failure when `status` is `None`), or `None` to give up.
pub fn delay(attempt: u32, status: Option<u16>, retry_after: Option<&str>) -> Option<Duration> {
    if attempt >= MAX_ATTEMPTS {
        return None;
    }
    let backoff = FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(10))
        .min(MAX_WAIT);
    match status {
        Some(429) => Some(
            retry_after
                .and_then(parse_retry_after)
                .unwrap_or(backoff)
                .min(MAX_WAIT),
        ),
        Some(s) if s >= 500 => Some(backoff),
        Some(_) => None,
        None => Some(backoff),
    }
}

fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // An HTTP date: wait until then.
    let at = httpdate_parse(value)?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

fn httpdate_parse(value: &str) -> Option<std::time::SystemTime> {
    // IMF-fixdate, e.g. "Wed, 25 Nov 2026 02:29:50 GMT".
    let parts: Vec<&str> = value.split([' ', ':']).collect();
    let [_, day, month, year, hour, minute, second, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u64
        + 1;
    let (year, day): (u64, u64) = (year.parse().ok()?, day.parse().ok()?);
    let (hour, minute, second): (u64, u64, u64) = (
        hour.parse().ok()?,
        minute.parse().ok()?,
        second.parse().ok()?,
    );
    // Days from the civil date (Howard Hinnant's algorithm), valid for the Gregorian calendar.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe;
    let days_since_epoch = days.checked_sub(719_468)?;
    let secs = days_since_epoch * 86_400 + hour * 3600 + minute * 60 + second;
    Some(std::time::UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honours_retry_after_and_backs_off_on_5xx_only() {
        assert_eq!(delay(1, Some(429), Some("3")), Some(Duration::from_secs(3)));
        assert_eq!(delay(1, Some(429), Some("9999")), Some(MAX_WAIT));
        assert_eq!(delay(1, Some(429), None), Some(FIRST_BACKOFF));
        assert_eq!(delay(1, Some(503), None), Some(FIRST_BACKOFF));
        assert_eq!(delay(3, Some(500), None), Some(FIRST_BACKOFF * 4));
        assert_eq!(delay(2, None, None), Some(FIRST_BACKOFF * 2));
        assert_eq!(delay(1, Some(400), None), None);
        assert_eq!(delay(1, Some(404), None), None);
        assert_eq!(delay(MAX_ATTEMPTS, Some(503), None), None);
    }

    #[test]
    fn parses_http_dates() {
        let at = httpdate_parse("Thu, 01 Jan 1970 00:01:00 GMT").expect("date");
        assert_eq!(at, std::time::UNIX_EPOCH + Duration::from_secs(60));
        // Expected value from Python: calendar.timegm(datetime(2026, 11, 25, 2, 29, 50).timetuple()).
        let at = httpdate_parse("Wed, 25 Nov 2026 02:29:50 GMT").expect("date");
        assert_eq!(
            at.duration_since(std::time::UNIX_EPOCH)
                .expect("after")
                .as_secs(),
            1_795_573_790
        );
        assert_eq!(httpdate_parse("yesterday"), None);
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(Duration::ZERO)
        );
    }
}
