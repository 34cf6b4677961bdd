//! Indicators of compromise: typed values, each validated, and the facts that travel with them.
//!
//! A value has exactly one encoding: addresses and hashes travel as fixed-size byte strings, names and URLs as
//! normalised text (lowercase host names, no trailing dot, URLs as the WHATWG URL standard serialises them).
//! [`IndicatorValue::parse`] normalises human input; [`IndicatorValue::check`] refuses anything on the wire that is
//! not already normal, so that equal indicators are equal bytes and hash to the same id everywhere.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::text::{check_block, check_line};

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// The most labels one indicator may carry.
pub const MAX_LABELS: usize = 64;
/// The most kill-chain phases one indicator may carry.
pub const MAX_KILL_CHAIN: usize = 16;

/// The kind of an indicator value, as written in CSV headers, the CLI and the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IndicatorKind {
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// An IPv4 or IPv6 network.
    Cidr,
    /// A DNS name.
    Domain,
    /// A URL.
    Url,
    /// An e-mail address.
    Email,
    /// An MD5 file hash.
    Md5,
    /// A SHA-1 file hash.
    Sha1,
    /// A SHA-256 file hash.
    Sha256,
    /// A SHA-512 file hash.
    Sha512,
    /// An autonomous system number.
    Asn,
}

impl IndicatorKind {
    /// Every kind.
    pub const ALL: [IndicatorKind; 11] = [
        IndicatorKind::Ipv4,
        IndicatorKind::Ipv6,
        IndicatorKind::Cidr,
        IndicatorKind::Domain,
        IndicatorKind::Url,
        IndicatorKind::Email,
        IndicatorKind::Md5,
        IndicatorKind::Sha1,
        IndicatorKind::Sha256,
        IndicatorKind::Sha512,
        IndicatorKind::Asn,
    ];

    /// The kind's name: `ipv4`, `sha256`, ...
    pub fn name(self) -> &'static str {
        match self {
            IndicatorKind::Ipv4 => "ipv4",
            IndicatorKind::Ipv6 => "ipv6",
            IndicatorKind::Cidr => "cidr",
            IndicatorKind::Domain => "domain",
            IndicatorKind::Url => "url",
            IndicatorKind::Email => "email",
            IndicatorKind::Md5 => "md5",
            IndicatorKind::Sha1 => "sha1",
            IndicatorKind::Sha256 => "sha256",
            IndicatorKind::Sha512 => "sha512",
            IndicatorKind::Asn => "asn",
        }
    }
}

impl fmt::Display for IndicatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for IndicatorKind {
    type Err = FieldError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        IndicatorKind::ALL
            .into_iter()
            .find(|kind| kind.name() == lower)
            .ok_or_else(|| {
                FieldError::new(
                    "indicator kind",
                    text,
                    "one of ipv4, ipv6, cidr, domain, url, email, md5, sha1, sha256, sha512, asn",
                )
            })
    }
}

/// A typed indicator value.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IndicatorValue {
    /// An IPv4 address (4 bytes on the wire).
    #[serde(rename = "ipv4", with = "crate::wire::ipv4")]
    Ipv4(Ipv4Addr),
    /// An IPv6 address (16 bytes on the wire).
    #[serde(rename = "ipv6", with = "crate::wire::ipv6")]
    Ipv6(Ipv6Addr),
    /// A network; host bits must be zero.
    #[serde(rename = "cidr")]
    Cidr {
        /// The network address (4 or 16 bytes on the wire).
        #[serde(with = "crate::wire::ip")]
        addr: IpAddr,
        /// The prefix length: at most 32 for IPv4, 128 for IPv6.
        prefix: u8,
    },
    /// A lowercase DNS name of at least two labels, without a trailing dot.
    #[serde(rename = "domain")]
    Domain(String),
    /// A URL with a host, in the WHATWG serialisation.
    #[serde(rename = "url")]
    Url(String),
    /// An e-mail address with a lowercase domain.
    #[serde(rename = "email")]
    Email(String),
    /// An MD5 hash.
    #[serde(rename = "md5", with = "serde_bytes")]
    Md5([u8; 16]),
    /// A SHA-1 hash.
    #[serde(rename = "sha1", with = "serde_bytes")]
    Sha1([u8; 20]),
    /// A SHA-256 hash.
    #[serde(rename = "sha256", with = "serde_bytes")]
    Sha256([u8; 32]),
    /// A SHA-512 hash.
    #[serde(rename = "sha512", with = "serde_bytes")]
    Sha512([u8; 64]),
    /// An autonomous system number.
    #[serde(rename = "asn")]
    Asn(u32),
}

impl IndicatorValue {
    /// The value's kind.
    pub fn kind(&self) -> IndicatorKind {
        match self {
            IndicatorValue::Ipv4(_) => IndicatorKind::Ipv4,
            IndicatorValue::Ipv6(_) => IndicatorKind::Ipv6,
            IndicatorValue::Cidr { .. } => IndicatorKind::Cidr,
            IndicatorValue::Domain(_) => IndicatorKind::Domain,
            IndicatorValue::Url(_) => IndicatorKind::Url,
            IndicatorValue::Email(_) => IndicatorKind::Email,
            IndicatorValue::Md5(_) => IndicatorKind::Md5,
            IndicatorValue::Sha1(_) => IndicatorKind::Sha1,
            IndicatorValue::Sha256(_) => IndicatorKind::Sha256,
            IndicatorValue::Sha512(_) => IndicatorKind::Sha512,
            IndicatorValue::Asn(_) => IndicatorKind::Asn,
        }
    }

    /// Parses human or feed input of a known kind into its normal form: trims, lowercases host names, drops a
    /// trailing dot, masks nothing (a CIDR with host bits set is an error, since it probably means a typo).
    pub fn parse(kind: IndicatorKind, text: &str) -> Result<Self, FieldError> {
        let trimmed = text.trim();
        let bad = |expected: &str| FieldError::new(kind.name(), text, expected);
        let value = match kind {
            IndicatorKind::Ipv4 => IndicatorValue::Ipv4(
                trimmed
                    .parse()
                    .map_err(|_| bad("a dotted-quad IPv4 address such as 192.0.2.1"))?,
            ),
            IndicatorKind::Ipv6 => IndicatorValue::Ipv6(
                trimmed
                    .parse()
                    .map_err(|_| bad("an IPv6 address such as 2001:db8::1"))?,
            ),
            IndicatorKind::Cidr => {
                let (addr, prefix) = trimmed
                    .split_once('/')
                    .ok_or_else(|| bad("a network such as 198.51.100.0/24"))?;
                let addr: IpAddr = addr.parse().map_err(|_| bad("a network such as 198.51.100.0/24"))?;
                let prefix: u8 = prefix.parse().map_err(|_| bad("a prefix length after the slash"))?;
                IndicatorValue::Cidr { addr, prefix }
            }
            IndicatorKind::Domain => IndicatorValue::Domain(trimmed.trim_end_matches('.').to_ascii_lowercase()),
            IndicatorKind::Url => {
                let parsed = url::Url::parse(trimmed).map_err(|e| bad(&format!("an absolute URL ({e})")))?;
                IndicatorValue::Url(parsed.into())
            }
            IndicatorKind::Email => {
                let (local, domain) = trimmed
                    .rsplit_once('@')
                    .ok_or_else(|| bad("an address such as soc@example.org"))?;
                IndicatorValue::Email(format!("{local}@{}", domain.trim_end_matches('.').to_ascii_lowercase()))
            }
            IndicatorKind::Md5 => IndicatorValue::Md5(parse_hex(trimmed).ok_or_else(|| bad("32 hex digits"))?),
            IndicatorKind::Sha1 => IndicatorValue::Sha1(parse_hex(trimmed).ok_or_else(|| bad("40 hex digits"))?),
            IndicatorKind::Sha256 => IndicatorValue::Sha256(parse_hex(trimmed).ok_or_else(|| bad("64 hex digits"))?),
            IndicatorKind::Sha512 => IndicatorValue::Sha512(parse_hex(trimmed).ok_or_else(|| bad("128 hex digits"))?),
            IndicatorKind::Asn => {
                let digits = trimmed
                    .strip_prefix("AS")
                    .or_else(|| trimmed.strip_prefix("as"))
                    .unwrap_or(trimmed);
                IndicatorValue::Asn(
                    digits
                        .parse()
                        .map_err(|_| bad("an AS number such as AS64500 or 64500"))?,
                )
            }
        };
        value.check()?;
        Ok(value)
    }

    /// Checks that the value is valid and in normal form. Every decoded bundle runs this on every value.
    pub fn check(&self) -> Result<(), FieldError> {
        let kind = self.kind().name();
        match self {
            IndicatorValue::Cidr { addr, prefix } => {
                let shown = format!("{addr}/{prefix}");
                let bits = if addr.is_ipv4() { 32 } else { 128 };
                if u32::from(*prefix) > bits {
                    return Err(FieldError::new(
                        kind,
                        &shown,
                        format!("a prefix length of at most {bits}"),
                    ));
                }
                if mask(*addr, *prefix) != *addr {
                    return Err(FieldError::new(
                        kind,
                        &shown,
                        format!("host bits zero: did you mean {}/{prefix}?", mask(*addr, *prefix)),
                    ));
                }
                Ok(())
            }
            IndicatorValue::Domain(name) => check_domain(kind, name),
            IndicatorValue::Url(text) => check_url(text),
            IndicatorValue::Email(text) => check_email(text),
            IndicatorValue::Ipv4(_)
            | IndicatorValue::Ipv6(_)
            | IndicatorValue::Md5(_)
            | IndicatorValue::Sha1(_)
            | IndicatorValue::Sha256(_)
            | IndicatorValue::Sha512(_)
            | IndicatorValue::Asn(_) => Ok(()),
        }
    }

    /// Whether this value names network addresses (and so can match flows and be anonymised).
    pub fn is_address(&self) -> bool {
        matches!(
            self,
            IndicatorValue::Ipv4(_) | IndicatorValue::Ipv6(_) | IndicatorValue::Cidr { .. }
        )
    }
}

/// `addr` with all bits past `prefix` cleared.
pub fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let keep = u32::MAX
                .checked_shl(32u32.saturating_sub(u32::from(prefix)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & keep))
        }
        IpAddr::V6(v6) => {
            let keep = u128::MAX
                .checked_shl(128u32.saturating_sub(u32::from(prefix)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & keep))
        }
    }
}

fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut bytes = [0u8; N];
    hex::decode_to_slice(text.to_ascii_lowercase(), &mut bytes).ok()?;
    Some(bytes)
}

fn check_domain(field: &'static str, name: &str) -> Result<(), FieldError> {
    let expected = "a lowercase DNS name of at least two labels (letters, digits, '-', '_'), at most 253 characters, \
                    without a trailing dot";
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    let labels: Vec<&str> = name.split('.').collect();
    let top_is_numeric = labels.last().is_some_and(|top| top.bytes().all(|b| b.is_ascii_digit()));
    if name.len() > 253 || labels.len() < 2 || !labels.iter().all(|label| label_ok(label)) || top_is_numeric {
        return Err(FieldError::new(field, name, expected));
    }
    Ok(())
}

fn check_url(text: &str) -> Result<(), FieldError> {
    if text.len() > MAX_URL_LEN {
        return Err(FieldError::new("url", text, format!("at most {MAX_URL_LEN} bytes")));
    }
    let parsed = url::Url::parse(text).map_err(|e| FieldError::new("url", text, format!("an absolute URL ({e})")))?;
    if parsed.host().is_none() {
        return Err(FieldError::new("url", text, "a URL with a host"));
    }
    if parsed.as_str() != text {
        return Err(FieldError::new(
            "url",
            text,
            format!("the normal form {:?}", parsed.as_str()),
        ));
    }
    Ok(())
}

fn check_email(text: &str) -> Result<(), FieldError> {
    let expected = "an address such as soc@example.org (no spaces, a lowercase domain)";
    let (local, domain) = text
        .rsplit_once('@')
        .ok_or_else(|| FieldError::new("email", text, expected))?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'@' && b != b'"' && b != b'\\');
    if !local_ok {
        return Err(FieldError::new("email", text, expected));
    }
    check_domain("email", domain)
}

impl fmt::Display for IndicatorValue {
    /// The normal text form, which is also the search key: `192.0.2.1`, `10.0.0.0/8`, `AS64500`, lowercase hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndicatorValue::Ipv4(addr) => write!(f, "{addr}"),
            IndicatorValue::Ipv6(addr) => write!(f, "{addr}"),
            IndicatorValue::Cidr { addr, prefix } => write!(f, "{addr}/{prefix}"),
            IndicatorValue::Domain(text) | IndicatorValue::Url(text) | IndicatorValue::Email(text) => f.write_str(text),
            IndicatorValue::Md5(bytes) => f.write_str(&hex::encode(bytes)),
            IndicatorValue::Sha1(bytes) => f.write_str(&hex::encode(bytes)),
            IndicatorValue::Sha256(bytes) => f.write_str(&hex::encode(bytes)),
            IndicatorValue::Sha512(bytes) => f.write_str(&hex::encode(bytes)),
            IndicatorValue::Asn(number) => write!(f, "AS{number}"),
        }
    }
}

impl fmt::Debug for IndicatorValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self)
    }
}

/// A phase of a kill chain, as STIX models it (`lockheed-martin-cyber-kill-chain` / `delivery`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KillChainPhase {
    /// The kill chain's name.
    pub chain: String,
    /// The phase within it.
    pub phase: String,
}

/// One indicator with what is known about it. Field order is the canonical CBOR key order (shorter keys first, then
/// bytewise): the encoder writes fields in declaration order, and `encoding`'s tests check it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Indicator {
    /// A short human name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The value.
    pub value: IndicatorValue,
    /// Free tags, sorted and unique (`botnet`, `phishing`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Confidence from 0 to 100, as STIX.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<u8>,
    /// Kill-chain phases, sorted and unique.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kill_chain: Vec<KillChainPhase>,
    /// Valid from (ms since the epoch); absent means from the bundle's creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<u64>,
    /// A free description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Valid until (ms since the epoch); absent means until retracted or the bundle expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<u64>,
}

impl Indicator {
    /// An indicator with only a value.
    pub fn new(value: IndicatorValue) -> Self {
        Self {
            name: None,
            value,
            labels: Vec::new(),
            confidence: None,
            kill_chain: Vec::new(),
            valid_from: None,
            description: None,
            valid_until: None,
        }
    }

    /// Puts the lists into their canonical order (sorted, without duplicates).
    pub fn normalise(&mut self) {
        self.labels.sort();
        self.labels.dedup();
        self.kill_chain.sort();
        self.kill_chain.dedup();
    }

    /// Whether the indicator is valid at `now_ms`.
    pub fn is_valid_at(&self, now_ms: u64) -> bool {
        self.valid_from.is_none_or(|from| from <= now_ms) && self.valid_until.is_none_or(|until| now_ms < until)
    }

    /// Checks every field. Errors name the field relative to the indicator (`value`, `labels[2]`).
    pub fn check(&self) -> Result<(), FieldError> {
        self.value.check().map_err(|e| e.within("value"))?;
        if let Some(name) = &self.name {
            check_line("name", name, 256)?;
        }
        if let Some(description) = &self.description {
            check_block("description", description, 16 * 1024)?;
        }
        if let Some(confidence) = self.confidence
            && confidence > 100
        {
            return Err(FieldError::new(
                "confidence",
                &confidence.to_string(),
                "a confidence from 0 to 100",
            ));
        }
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until)
            && until <= from
        {
            return Err(FieldError::new(
                "valid_until",
                &until.to_string(),
                format!("a time after valid_from ({from})"),
            ));
        }
        if self.labels.len() > MAX_LABELS {
            return Err(FieldError::new(
                "labels",
                &self.labels.len().to_string(),
                format!("at most {MAX_LABELS} labels"),
            ));
        }
        for (index, label) in self.labels.iter().enumerate() {
            check_line("label", label, 128).map_err(|e| e.within(format!("labels[{index}]")))?;
        }
        if !self.labels.windows(2).all(|pair| pair[0] < pair[1]) {
            return Err(FieldError::new(
                "labels",
                &self.labels.join(","),
                "labels sorted and without duplicates",
            ));
        }
        if self.kill_chain.len() > MAX_KILL_CHAIN {
            return Err(FieldError::new(
                "kill_chain",
                &self.kill_chain.len().to_string(),
                format!("at most {MAX_KILL_CHAIN} phases"),
            ));
        }
        for (index, phase) in self.kill_chain.iter().enumerate() {
            let at = format!("kill_chain[{index}]");
            check_line("chain", &phase.chain, 128).map_err(|e| e.within(&at))?;
            check_line("phase", &phase.phase, 128).map_err(|e| e.within(&at))?;
        }
        if !self.kill_chain.windows(2).all(|pair| pair[0] < pair[1]) {
            return Err(FieldError::new(
                "kill_chain",
                &format!("{} phases", self.kill_chain.len()),
                "phases sorted and without duplicates",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(kind: &str, text: &str) -> Result<String, String> {
        let kind: IndicatorKind = kind.parse().map_err(|e: FieldError| e.to_string())?;
        IndicatorValue::parse(kind, text)
            .map(|value| value.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn parse_normalises_good_values() {
        let cases = [
            ("ipv4", " 192.0.2.1 ", "192.0.2.1"),
            ("ipv6", "2001:DB8::1", "2001:db8::1"),
            ("cidr", "198.51.100.0/24", "198.51.100.0/24"),
            ("cidr", "2001:db8::/32", "2001:db8::/32"),
            ("domain", "Evil.Example.COM.", "evil.example.com"),
            ("domain", "_dmarc.example.org", "_dmarc.example.org"),
            ("url", "HTTP://Evil.Example.com/a b", "http://evil.example.com/a%20b"),
            ("url", "https://example.org", "https://example.org/"),
            ("email", "Phish@Example.ORG", "Phish@example.org"),
            (
                "md5",
                "D41D8CD98F00B204E9800998ECF8427E",
                "d41d8cd98f00b204e9800998ecf8427e",
            ),
            (
                "sha1",
                "da39a3ee5e6b4b0d3255bfef95601890afd80709",
                "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            ),
            ("asn", "AS64500", "AS64500"),
            ("asn", "64501", "AS64501"),
        ];
        for (kind, input, expected) in cases {
            assert_eq!(parsed(kind, input).as_deref(), Ok(expected), "{kind} {input:?}");
        }
    }

    #[test]
    fn parse_rejects_bad_values_naming_them() {
        let cases = [
            ("ipv4", "256.1.1.1"),
            ("ipv4", "1.2.3"),
            ("ipv6", "2001:db8:::1"),
            ("cidr", "10.0.0.1/8"),
            ("cidr", "10.0.0.0/33"),
            ("cidr", "10.0.0.0"),
            ("domain", "exa mple.com"),
            ("domain", "localhost"),
            ("domain", "-bad.example.com"),
            ("domain", "1.2.3.4"),
            ("url", "not a url"),
            ("url", "mailto:x@example.org"),
            ("email", "no-at-sign"),
            ("email", "a b@example.org"),
            ("md5", "xyz"),
            ("sha256", "d41d8cd98f00b204e9800998ecf8427e"),
            ("asn", "AS-1"),
        ];
        for (kind, input) in cases {
            let err = parsed(kind, input).expect_err(input);
            assert!(
                err.contains(input.trim()),
                "error {err:?} should name the value {input:?}"
            );
        }
        assert!(parsed("ipv5", "1.2.3.4").is_err());
    }

    #[test]
    fn cidr_error_suggests_the_network() {
        let err = parsed("cidr", "10.1.2.3/8").expect_err("host bits");
        assert!(err.contains("10.0.0.0/8"), "{err}");
    }

    #[test]
    fn check_refuses_non_normal_wire_values() {
        assert!(IndicatorValue::Domain("Example.com".into()).check().is_err());
        assert!(IndicatorValue::Url("https://example.org".into()).check().is_err());
        assert!(IndicatorValue::Url("https://example.org/".into()).check().is_ok());
    }

    #[test]
    fn indicator_checks_fields() {
        let mut indicator = Indicator::new(IndicatorValue::Asn(1));
        indicator.labels = vec!["b".into(), "a".into()];
        assert_eq!(indicator.check().expect_err("unsorted").field, "labels");
        indicator.normalise();
        assert!(indicator.check().is_ok());
        indicator.confidence = Some(101);
        assert_eq!(indicator.check().expect_err("confidence").field, "confidence");
        indicator.confidence = Some(100);
        indicator.valid_from = Some(10);
        indicator.valid_until = Some(10);
        assert_eq!(indicator.check().expect_err("until").field, "valid_until");
        indicator.valid_until = Some(11);
        assert!(indicator.is_valid_at(10) && !indicator.is_valid_at(11) && !indicator.is_valid_at(9));
    }
}
