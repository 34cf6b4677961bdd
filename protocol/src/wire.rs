//! serde adapters for values whose wire form is a CBOR byte string: IP addresses travel as their 4 or 16 network
//! bytes, never as text, so that one address has one encoding.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::de::Error as _;
use serde::{Deserializer, Serializer};
use serde_bytes::{ByteBuf, Deserialize as _, Serialize as _};

/// An IPv4 address as 4 bytes.
pub mod ipv4 {
    use super::*;

    /// Writes the 4 address bytes.
    pub fn serialize<S: Serializer>(addr: &Ipv4Addr, serializer: S) -> Result<S::Ok, S::Error> {
        addr.octets().serialize(serializer)
    }

    /// Reads exactly 4 bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Ipv4Addr, D::Error> {
        <[u8; 4]>::deserialize(deserializer).map(Ipv4Addr::from)
    }
}

/// An IPv6 address as 16 bytes.
pub mod ipv6 {
    use super::*;

    /// Writes the 16 address bytes.
    pub fn serialize<S: Serializer>(addr: &Ipv6Addr, serializer: S) -> Result<S::Ok, S::Error> {
        addr.octets().serialize(serializer)
    }

    /// Reads exactly 16 bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Ipv6Addr, D::Error> {
        <[u8; 16]>::deserialize(deserializer).map(Ipv6Addr::from)
    }
}

/// Either address family: 4 bytes for IPv4, 16 for IPv6 (an IPv4-mapped IPv6 address stays IPv6).
pub mod ip {
    use super::*;

    /// Writes 4 or 16 bytes.
    pub fn serialize<S: Serializer>(addr: &IpAddr, serializer: S) -> Result<S::Ok, S::Error> {
        match addr {
            IpAddr::V4(v4) => v4.octets().serialize(serializer),
            IpAddr::V6(v6) => v6.octets().serialize(serializer),
        }
    }

    /// Reads 4 or 16 bytes; any other length is an error.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<IpAddr, D::Error> {
        from_bytes(&ByteBuf::deserialize(deserializer)?).map_err(D::Error::custom)
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<IpAddr, String> {
        if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
            Ok(IpAddr::from(v4))
        } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
            Ok(IpAddr::from(v6))
        } else {
            Err(format!("an IP address is 4 or 16 bytes, not {}", bytes.len()))
        }
    }
}

/// A list of addresses, each as 4 or 16 bytes.
pub mod ip_list {
    use serde::ser::SerializeSeq;

    use super::*;

    /// Writes an array of byte strings.
    pub fn serialize<S: Serializer>(addrs: &[IpAddr], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(addrs.len()))?;
        for addr in addrs {
            match addr {
                IpAddr::V4(v4) => seq.serialize_element(serde_bytes::Bytes::new(&v4.octets()))?,
                IpAddr::V6(v6) => seq.serialize_element(serde_bytes::Bytes::new(&v6.octets()))?,
            }
        }
        seq.end()
    }

    /// Reads an array of byte strings of 4 or 16 bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpAddr>, D::Error> {
        let raw: Vec<ByteBuf> = serde::Deserialize::deserialize(deserializer)?;
        raw.iter()
            .map(|bytes| ip::from_bytes(bytes).map_err(D::Error::custom))
            .collect()
    }
}
