//! One declared indicator value: a cell that is meant to hold an indicator, with an optional type, as a CSV row and
//! the REST API's `indicators[]` give it. The value may be defanged; without a type it is detected with the rules
//! for cells (a cell is declared to hold an indicator, so `evil.zip` is a domain here, unlike in prose). Also the
//! time forms both accept.
//!
//! Errors name the field `value` or `type`; callers put their own names on them (a CSV column, `indicators[3].value`).

use dims_protocol::{FieldError, IndicatorKind, IndicatorValue};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use super::detect::{Context, Detection, classify_refanged};
use super::refang::refang;

/// What a type may say, for messages.
pub const TYPE_EXPECTED: &str = "one of ipv4, ipv6, cidr, domain, url, email, md5, sha1, sha256, sha512, asn (MISP's \
                                 ip-src, ip-dst, hostname, email-src, email-dst and AS work too), or leave it \
                                 empty to detect the type";

/// What a type may say, beyond [`IndicatorKind`] names.
enum TypeSpec {
    Kind(IndicatorKind),
    /// MISP's `ip-src` and `ip-dst`: an address or a network, either family.
    Address,
}

fn type_spec(text: &str) -> Option<TypeSpec> {
    if let Ok(kind) = text.parse::<IndicatorKind>() {
        return Some(TypeSpec::Kind(kind));
    }
    let kind = match text.trim().to_ascii_lowercase().as_str() {
        "ip-src" | "ip-dst" | "ip" => return Some(TypeSpec::Address),
        "ipv4-addr" => IndicatorKind::Ipv4,
        "ipv6-addr" => IndicatorKind::Ipv6,
        "hostname" | "domain-name" | "fqdn" => IndicatorKind::Domain,
        "uri" | "link" => IndicatorKind::Url,
        "email-src" | "email-dst" | "email-addr" => IndicatorKind::Email,
        "as" | "autonomous-system" => IndicatorKind::Asn,
        _ => return None,
    };
    Some(TypeSpec::Kind(kind))
}

/// The value of `text` (refanged), of type `kind` or detected, in normal form.
pub fn value(text: &str, kind: Option<&str>) -> Result<IndicatorValue, FieldError> {
    let refanged = refang(text);
    let as_value_error = |error: FieldError| FieldError::new("value", text, error.expected);
    let spec = match kind.map(str::trim).filter(|kind| !kind.is_empty()) {
        Some(kind) => Some(type_spec(kind).ok_or_else(|| FieldError::new("type", kind, TYPE_EXPECTED))?),
        None => None,
    };
    match spec {
        Some(TypeSpec::Kind(kind)) => IndicatorValue::parse(kind, &refanged).map_err(as_value_error),
        Some(TypeSpec::Address) => match classify_refanged(&refanged, Context::Cell) {
            Detection::Found(value) if value.is_address() => Ok(value),
            Detection::Invalid(error) => Err(as_value_error(error)),
            Detection::Found(_) | Detection::NotAnIndicator => Err(FieldError::new(
                "value",
                text,
                "an IP address or network, as the type says",
            )),
        },
        None => match classify_refanged(&refanged, Context::Cell) {
            Detection::Found(value) => Ok(value),
            Detection::Invalid(error) => Err(as_value_error(error)),
            Detection::NotAnIndicator => Err(FieldError::new(
                "value",
                text,
                "an indicator of a recognisable type: correct it, or give its type",
            )),
        },
    }
}

/// Milliseconds since the epoch from RFC 3339, a date, or milliseconds; the error says what would be accepted.
pub fn time_ms(text: &str) -> Result<u64, String> {
    const EXPECTED: &str = "an RFC 3339 time such as 2026-11-01T00:00:00Z, a date such as 2026-11-01, or milliseconds \
                            since the epoch";
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let ms: u64 = text.parse().map_err(|_| EXPECTED.to_owned())?;
        // Before 1973 in milliseconds is almost surely a time in seconds, and would silently expire everything.
        if ms < 100_000_000_000 {
            return Err(format!(
                "milliseconds since the epoch (this looks like seconds: multiply by 1000), or {EXPECTED}"
            ));
        }
        return Ok(ms);
    }
    let nanos = if let Ok(time) = OffsetDateTime::parse(text, &Rfc3339) {
        time.unix_timestamp_nanos()
    } else if let Ok(date) = Date::parse(text, format_description!("[year]-[month]-[day]")) {
        date.midnight().assume_utc().unix_timestamp_nanos()
    } else {
        return Err(EXPECTED.to_owned());
    };
    u64::try_from(nanos.div_euclid(1_000_000)).map_err(|_| format!("a time after 1970: {EXPECTED}"))
}
