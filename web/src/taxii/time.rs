//! TAXII timestamps ↔ microseconds since the epoch: `date_added`, `added_after` and the `X-TAXII-Date-Added-*`
//! headers carry the node's arrival times, which it keeps in µs (TAXII asks for at least millisecond precision; µs
//! keeps arrivals distinct). Written with six fractional digits; read with any number up to nine, truncated.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// `us` as `2026-12-08T00:00:00.000000Z`; the year 9999's last instant for anything later.
pub fn format_us(us: u64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(time::macros::datetime!(9999-12-31 23:59:59.999999 UTC));
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    ))
    .unwrap_or_default()
}

/// A UTC RFC 3339 timestamp (`Z`) as µs since the epoch; `None` for anything else or a time before 1970.
pub fn parse_us(text: &str) -> Option<u64> {
    if text.len() > 40 || !text.ends_with('Z') {
        return None;
    }
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    u64::try_from(at.unix_timestamp_nanos() / 1000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_to_the_microsecond() {
        for us in [0, 1, 1_765_152_000_123_456, 253_402_300_799_999_999] {
            assert_eq!(parse_us(&format_us(us)), Some(us), "{us}");
        }
        assert_eq!(format_us(1_765_152_000_123_456), "2025-12-08T00:00:00.123456Z");
        assert_eq!(parse_us("2025-12-08T00:00:00.123456789Z"), Some(1_765_152_000_123_456));
        assert_eq!(parse_us("2025-12-08T00:00:00Z"), Some(1_765_152_000_000_000));
        for bad in [
            "",
            "yesterday",
            "2025-12-08T00:00:00+01:00",
            "1969-12-31T23:59:59Z",
            "2025-12-08",
        ] {
            assert_eq!(parse_us(bad), None, "{bad}");
        }
    }
}
