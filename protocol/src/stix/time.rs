//! STIX timestamps ↔ milliseconds since the Unix epoch, the only time dims keeps.
//!
//! STIX 2.1 writes `YYYY-MM-DDTHH:MM:SS[.s+]Z`, always in UTC. Export writes exactly three fractional digits, so
//! every dims time survives the trip exactly; import accepts any number of digits up to nine and truncates below the
//! millisecond, since dims cannot hold finer times. Times before 1970 and after 9999 have no dims or STIX form
//! respectively and are errors, never clamped.

use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Why a timestamp could not be converted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text is not a STIX timestamp.
    #[error("{0:?} is not a STIX timestamp: write it as YYYY-MM-DDTHH:MM:SS.sssZ in UTC")]
    Syntax(String),
    /// The time is before the Unix epoch, which dims cannot hold.
    #[error("{0:?} is before 1970-01-01T00:00:00Z, which dims cannot hold: check the source's clock")]
    BeforeEpoch(String),
    /// The time is past what a STIX timestamp can write.
    #[error("{0} ms since the epoch is past the year 9999, which a STIX timestamp cannot express")]
    TooLate(u64),
}

/// The longest timestamp text looked at: 19 characters, a dot, nine digits and `Z`, with room to spare.
const MAX_TIMESTAMP_LEN: usize = 40;

/// Writes `ms` as a STIX timestamp with millisecond precision: `2026-11-01T00:00:00.000Z`.
pub fn format(ms: u64) -> Result<String, TimeError> {
    let nanos = i128::from(ms) * 1_000_000;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| TimeError::TooLate(ms))?;
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .map_err(|_| TimeError::TooLate(ms))
}

/// Reads a STIX timestamp into ms since the epoch, truncating below the millisecond.
pub fn parse(text: &str) -> Result<u64, TimeError> {
    let syntax = || TimeError::Syntax(shorten(text));
    if text.len() > MAX_TIMESTAMP_LEN || !text.is_ascii() {
        return Err(syntax());
    }
    let body = text.strip_suffix('Z').ok_or_else(syntax)?;
    let (main, fraction) = match body.split_once('.') {
        Some((main, fraction)) => (main, Some(fraction)),
        None => (body, None),
    };
    // The exact shape is checked here because `time`'s parser is more lenient than STIX (signs, other widths).
    let shape_ok = main.len() == 19
        && main.bytes().enumerate().all(|(index, byte)| match index {
            4 | 7 => byte == b'-',
            10 => byte == b'T',
            13 | 16 => byte == b':',
            _ => byte.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(syntax());
    }
    let at = PrimitiveDateTime::parse(
        main,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    )
    .map_err(|_| syntax())?
    .assume_utc();
    let millis = match fraction {
        None => 0,
        Some(digits) if (1..=9).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) => {
            // Pad or cut to exactly three digits: ".5" is 500 ms, ".123456" is 123 ms.
            digits
                .bytes()
                .chain(std::iter::repeat(b'0'))
                .take(3)
                .fold(0u64, |acc, digit| acc * 10 + u64::from(digit - b'0'))
        }
        Some(_) => return Err(syntax()),
    };
    let seconds = u64::try_from(at.unix_timestamp()).map_err(|_| TimeError::BeforeEpoch(shorten(text)))?;
    Ok(seconds * 1_000 + millis)
}

fn shorten(text: &str) -> String {
    text.chars().take(MAX_TIMESTAMP_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds() {
        assert_eq!(format(0).as_deref(), Ok("1970-01-01T00:00:00.000Z"));
        assert_eq!(format(1_793_491_200_123).as_deref(), Ok("2026-11-01T00:00:00.123Z"));
        assert_eq!(format(u64::MAX), Err(TimeError::TooLate(u64::MAX)));
    }

    #[test]
    fn parses_any_precision() {
        let cases = [
            ("2026-11-01T00:00:00Z", 1_793_491_200_000),
            ("2026-11-01T00:00:00.1Z", 1_793_491_200_100),
            ("2026-11-01T00:00:00.123Z", 1_793_491_200_123),
            ("2026-11-01T00:00:00.123999999Z", 1_793_491_200_123),
        ];
        for (text, ms) in cases {
            assert_eq!(parse(text), Ok(ms), "{text}");
        }
    }

    #[test]
    fn refuses_what_stix_does_not_write() {
        for bad in [
            "",
            "2026-11-01",
            "2026-11-01T00:00:00",
            "2026-11-01T00:00:00+02:00",
            "2026-11-01 00:00:00Z",
            "+2026-11-01T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-01T00:00:00.Z",
            "2026-11-01T00:00:00.1234567890Z",
            "2026-11-01T00:00:00.12aZ",
            "２026-11-01T00:00:00Z",
        ] {
            assert!(matches!(parse(bad), Err(TimeError::Syntax(_))), "{bad:?}");
        }
        assert!(matches!(parse("1969-12-31T23:59:59Z"), Err(TimeError::BeforeEpoch(_))));
    }

    #[test]
    fn round_trips() {
        for ms in [0, 1, 999, 1_000, 1_793_491_200_000, 253_402_300_799_999] {
            assert_eq!(format(ms).and_then(|text| parse(&text)), Ok(ms));
        }
    }
}
