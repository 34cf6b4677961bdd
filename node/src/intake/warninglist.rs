//! Warninglists: values that are almost never malicious and usually mean a copy-paste mistake or a victim address
//! (private networks, documentation ranges, public resolvers, `example.com`).
//!
//! As DESIGN §10 asks, a listed value is **flagged, not dropped**: the analyst sees the warning in the preview and
//! decides. The lists are a small built-in table in the spirit of MISP's warninglists of the same names; they are
//! deliberately few and stable, so that a flag means something. An address matches a network that contains it; a
//! network matches a listed network it overlaps; a URL or e-mail address matches through its host; a domain matches
//! a listed name and every name below it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dims_protocol::IndicatorValue;
use dims_protocol::indicator::mask;

/// One warninglist a value is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Warning {
    /// The list's short name: `private`, `loopback`, `link-local`, `documentation`, `multicast`, `unspecified`,
    /// `public-resolver`, `special-use`.
    pub list: &'static str,
    /// What the list holds, for people.
    pub about: &'static str,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "on the {} warninglist ({})", self.list, self.about)
    }
}

const PRIVATE: Warning = Warning {
    list: "private",
    about: "private network, RFC 1918, RFC 6598 or RFC 4193",
};
const LOOPBACK: Warning = Warning {
    list: "loopback",
    about: "loopback address or name",
};
const LINK_LOCAL: Warning = Warning {
    list: "link-local",
    about: "link-local address",
};
const DOCUMENTATION: Warning = Warning {
    list: "documentation",
    about: "reserved for documentation and examples, RFC 5737, RFC 3849 or RFC 2606",
};
const MULTICAST: Warning = Warning {
    list: "multicast",
    about: "multicast address",
};
const UNSPECIFIED: Warning = Warning {
    list: "unspecified",
    about: "unspecified or broadcast address",
};
const PUBLIC_RESOLVER: Warning = Warning {
    list: "public-resolver",
    about: "well-known public DNS resolver",
};
const SPECIAL_USE: Warning = Warning {
    list: "special-use",
    about: "special-use domain that never resolves publicly, RFC 6761",
};

/// A listed network.
struct Network {
    addr: IpAddr,
    prefix: u8,
    warning: Warning,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8, warning: Warning) -> Network {
    Network {
        addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        prefix,
        warning,
    }
}

const fn v6(groups: [u16; 8], prefix: u8, warning: Warning) -> Network {
    let [a, b, c, d, e, f, g, h] = groups;
    Network {
        addr: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
        prefix,
        warning,
    }
}

const NETWORKS: &[Network] = &[
    v4(10, 0, 0, 0, 8, PRIVATE),
    v4(172, 16, 0, 0, 12, PRIVATE),
    v4(192, 168, 0, 0, 16, PRIVATE),
    v4(100, 64, 0, 0, 10, PRIVATE),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, PRIVATE),
    v4(127, 0, 0, 0, 8, LOOPBACK),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, LOOPBACK),
    v4(169, 254, 0, 0, 16, LINK_LOCAL),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, LINK_LOCAL),
    v4(192, 0, 2, 0, 24, DOCUMENTATION),
    v4(198, 51, 100, 0, 24, DOCUMENTATION),
    v4(203, 0, 113, 0, 24, DOCUMENTATION),
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, DOCUMENTATION),
    v4(224, 0, 0, 0, 4, MULTICAST),
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, MULTICAST),
    v4(0, 0, 0, 0, 8, UNSPECIFIED),
    v4(255, 255, 255, 255, 32, UNSPECIFIED),
    v6([0, 0, 0, 0, 0, 0, 0, 0], 128, UNSPECIFIED),
    // Google, Cloudflare, Quad9 and OpenDNS.
    v4(8, 8, 8, 8, 32, PUBLIC_RESOLVER),
    v4(8, 8, 4, 4, 32, PUBLIC_RESOLVER),
    v4(1, 1, 1, 1, 32, PUBLIC_RESOLVER),
    v4(1, 0, 0, 1, 32, PUBLIC_RESOLVER),
    v4(9, 9, 9, 9, 32, PUBLIC_RESOLVER),
    v4(149, 112, 112, 112, 32, PUBLIC_RESOLVER),
    v4(208, 67, 222, 222, 32, PUBLIC_RESOLVER),
    v4(208, 67, 220, 220, 32, PUBLIC_RESOLVER),
    v6([0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888], 128, PUBLIC_RESOLVER),
    v6([0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8844], 128, PUBLIC_RESOLVER),
    v6([0x2606, 0x4700, 0x4700, 0, 0, 0, 0, 0x1111], 128, PUBLIC_RESOLVER),
    v6([0x2606, 0x4700, 0x4700, 0, 0, 0, 0, 0x1001], 128, PUBLIC_RESOLVER),
    v6([0x2620, 0xfe, 0, 0, 0, 0, 0, 0xfe], 128, PUBLIC_RESOLVER),
    v6([0x2620, 0x119, 0x35, 0, 0, 0, 0, 0x35], 128, PUBLIC_RESOLVER),
];

/// Listed names; each also covers every name below it.
const DOMAINS: &[(&str, Warning)] = &[
    ("example.com", DOCUMENTATION),
    ("example.net", DOCUMENTATION),
    ("example.org", DOCUMENTATION),
    ("example", DOCUMENTATION),
    ("localhost", LOOPBACK),
    ("test", SPECIAL_USE),
    ("invalid", SPECIAL_USE),
    ("local", SPECIAL_USE),
    ("home.arpa", SPECIAL_USE),
];

/// The warninglists `value` is on, most specific first; empty for ordinary values and for hashes and ASNs.
pub fn check(value: &IndicatorValue) -> Vec<Warning> {
    match value {
        IndicatorValue::Ipv4(addr) => networks(IpAddr::V4(*addr), 32),
        IndicatorValue::Ipv6(addr) => networks(IpAddr::V6(*addr), 128),
        IndicatorValue::Cidr { addr, prefix } => networks(*addr, *prefix),
        IndicatorValue::Domain(name) => domains(name),
        IndicatorValue::Url(url) => url_host(url).map_or_else(Vec::new, host),
        IndicatorValue::Email(address) => address
            .rsplit_once('@')
            .map_or_else(Vec::new, |(_, name)| domains(name)),
        IndicatorValue::Md5(_)
        | IndicatorValue::Sha1(_)
        | IndicatorValue::Sha256(_)
        | IndicatorValue::Sha512(_)
        | IndicatorValue::Asn(_) => Vec::new(),
    }
}

fn host(name: &str) -> Vec<Warning> {
    match name.parse::<IpAddr>() {
        Ok(IpAddr::V4(addr)) => networks(IpAddr::V4(addr), 32),
        Ok(IpAddr::V6(addr)) => networks(IpAddr::V6(addr), 128),
        Err(_) => domains(name),
    }
}

/// Networks that overlap `addr/prefix`. IPv4-mapped IPv6 addresses are checked as the IPv4 address they carry.
fn networks(addr: IpAddr, prefix: u8) -> Vec<Warning> {
    let (addr, prefix) = match addr {
        IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => (IpAddr::V4(v4), prefix - 96),
            None => (addr, prefix),
        },
        _ => (addr, prefix),
    };
    let mut found: Vec<(u8, Warning)> = NETWORKS
        .iter()
        .filter(|listed| listed.addr.is_ipv4() == addr.is_ipv4())
        .filter(|listed| {
            let common = listed.prefix.min(prefix);
            mask(listed.addr, common) == mask(addr, common)
        })
        .map(|listed| (listed.prefix, listed.warning))
        .collect();
    // The longest listed prefix is the most specific statement about the value.
    found.sort_by_key(|&(prefix, _)| std::cmp::Reverse(prefix));
    let mut warnings: Vec<Warning> = found.into_iter().map(|(_, warning)| warning).collect();
    warnings.dedup();
    warnings
}

fn domains(name: &str) -> Vec<Warning> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let mut warnings: Vec<Warning> = DOMAINS
        .iter()
        .filter(|(listed, _)| name == *listed || name.strip_suffix(listed).is_some_and(|head| head.ends_with('.')))
        .map(|(_, warning)| *warning)
        .collect();
    warnings.dedup();
    warnings
}

/// The host of a URL in the WHATWG serialisation (which every `IndicatorValue::Url` is in), without brackets or
/// port.
fn url_host(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if let Some(bracketed) = host_port.strip_prefix('[') {
        return bracketed.split_once(']').map(|(host, _)| host);
    }
    Some(host_port.split_once(':').map_or(host_port, |(host, _)| host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts() {
        let cases = [
            ("http://evil.example/a", Some("evil.example")),
            ("https://user:pw@evil.example:8443/a?b#c", Some("evil.example")),
            ("http://[2001:db8::1]:80/", Some("2001:db8::1")),
            ("http://192.0.2.1/", Some("192.0.2.1")),
            ("no scheme", None),
        ];
        for (url, expected) in cases {
            assert_eq!(url_host(url), expected, "{url}");
        }
    }
}
