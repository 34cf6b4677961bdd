//! Names of things: nodes, bundles, orgs, members, trust groups and federations.
//!
//! Each role has its own type, so a bundle id can never be passed where a node id is meant, and the signing key
//! (in [`crate::signing`]) is a different type from the [`NodeId`] that names the node publicly. Byte identifiers
//! travel as CBOR byte strings and print as lowercase hex; text identifiers are validated slugs so that they are safe
//! in file names, URLs, log fields and LDAP filters alike.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// The public ed25519 key that names a node (its libp2p identity) and verifies the bundles it originates.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(#[serde(with = "serde_bytes")] pub [u8; 32]);

/// The public ed25519 key of a federation admin: it signs roster versions (see [`crate::roster`]). A different type
/// from [`NodeId`] although both are public keys, because an admin key names a person's authority over a roster, not
/// a node, and must never be accepted where the other is meant.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AdminId(#[serde(with = "serde_bytes")] pub [u8; 32]);

/// The content hash that names a bundle: BLAKE3 (derive-key mode, context [`BUNDLE_ID_CONTEXT`]) of the canonical
/// body bytes. Gossip message ids are the same hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BundleId(#[serde(with = "serde_bytes")] pub [u8; 32]);

/// The BLAKE3 derive-key context for bundle ids. Versioned: a new body format gets a new context.
pub const BUNDLE_ID_CONTEXT: &str = "dims 2026 bundle id v1";

impl BundleId {
    /// The id of a canonical body encoding.
    pub fn of_body(body_bytes: &[u8]) -> Self {
        let mut hasher = blake3::Hasher::new_derive_key(BUNDLE_ID_CONTEXT);
        hasher.update(body_bytes);
        Self(*hasher.finalize().as_bytes())
    }
}

/// A member (a person) of a community, named by the UUID of their profile (Ops-Trust style), never by e-mail.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MemberId(#[serde(with = "serde_bytes")] pub [u8; 16]);

macro_rules! hex_display {
    ($ty:ident, $len:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), self)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = FieldError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let mut bytes = [0u8; $len];
                hex::decode_to_slice(text, &mut bytes).map_err(|_| {
                    FieldError::new(
                        stringify!($ty),
                        text,
                        concat!("expected ", stringify!($len), " bytes as lowercase hex"),
                    )
                })?;
                Ok(Self(bytes))
            }
        }
    };
}

hex_display!(NodeId, 32);
hex_display!(AdminId, 32);
hex_display!(BundleId, 32);

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            uuid::Uuid::from_bytes(self.0)
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        )
    }
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemberId({self})")
    }
}

impl std::str::FromStr for MemberId {
    type Err = FieldError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::try_parse(text)
            .map(|uuid| Self(uuid.into_bytes()))
            .map_err(|_| {
                FieldError::new(
                    "member id",
                    text,
                    "expected a UUID such as 5f0c6f9e-8d1a-4c1e-9a51-3f1d2b7c9e10",
                )
            })
    }
}

/// The longest slug accepted for org, group and federation names.
pub const MAX_SLUG_LEN: usize = 64;

/// Checks that `text` is a slug: 1 to 64 characters of `a-z`, `0-9`, `-`, `_` and `.`, starting with a letter or
/// digit. Slugs are safe in URLs, file names, metric labels and LDAP filters without escaping.
pub fn check_slug(what: &'static str, text: &str) -> Result<(), FieldError> {
    let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.');
    let starts_well = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if text.is_empty() || text.len() > MAX_SLUG_LEN || !starts_well || !text.chars().all(valid_char) {
        return Err(FieldError::new(
            what,
            text,
            "expected 1 to 64 characters of a-z, 0-9, '-', '_' or '.', starting with a letter or digit",
        ));
    }
    Ok(())
}

macro_rules! slug {
    ($(#[$doc:meta])* $ty:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $ty(String);

        impl $ty {
            /// Validates and wraps a slug.
            pub fn new(text: impl Into<String>) -> Result<Self, FieldError> {
                let text = text.into();
                check_slug($what, &text)?;
                Ok(Self(text))
            }

            /// The slug as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Re-checks a value that came off the wire, where serde built it without [`Self::new`].
            pub(crate) fn check(&self) -> Result<(), FieldError> {
                check_slug($what, &self.0)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), self.0)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = FieldError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::new(text)
            }
        }
    };
}

slug!(
    /// An organisation inside a community (`seattle-it`, `port-of-seattle`), unique within its node.
    OrgId,
    "org id"
);
slug!(
    /// A trust group inside a community (Trident's vetted unit), unique within its node.
    GroupId,
    "trust group id"
);
slug!(
    /// A federation: the set of nodes on one signed roster (`us-sltt`).
    FederationId,
    "federation id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_accept_and_reject() {
        for good in ["a", "seattle-it", "port_of.seattle", "0day", &"x".repeat(64)] {
            assert!(OrgId::new(good).is_ok(), "{good} should be a valid slug");
        }
        for bad in [
            "",
            "-lead",
            "Upper",
            "sp ace",
            "semi;colon",
            "star*",
            &"x".repeat(65),
            "ünï",
        ] {
            let err = OrgId::new(bad).expect_err(bad);
            assert_eq!(err.field, "org id");
        }
    }

    #[test]
    fn ids_round_trip_through_text() {
        let node = NodeId([7; 32]);
        assert_eq!(node.to_string().parse::<NodeId>().expect("hex"), node);
        let member = MemberId([0xab; 16]);
        assert_eq!(member.to_string(), "abababab-abab-abab-abab-abababababab");
        assert_eq!(member.to_string().parse::<MemberId>().expect("uuid"), member);
        assert!("zz".parse::<BundleId>().is_err());
    }
}
