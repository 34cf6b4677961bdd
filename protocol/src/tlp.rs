//! Traffic Light Protocol 2.0 markings (FIRST, 2022), ordered from least to most restrictive.
//!
//! The order matters: a marking may only move up this order along a chain of re-shares (see
//! [`crate::policy::check_reshare`]), and a receiver's ceiling admits every marking at or below it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// A TLP 2.0 marking. `Clear < Green < Amber < AmberStrict < Red`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tlp {
    /// Disclosure is not limited.
    #[serde(rename = "clear")]
    Clear,
    /// Limited disclosure, restricted to the community: here the federation's nodes and their members.
    #[serde(rename = "green")]
    Green,
    /// Limited disclosure, restricted to the named recipient organisations and their clients.
    #[serde(rename = "amber")]
    Amber,
    /// Limited disclosure, restricted to the named recipient organisations only.
    #[serde(rename = "amber+strict")]
    AmberStrict,
    /// For the eyes and ears of the named individual recipients only.
    #[serde(rename = "red")]
    Red,
}

impl Tlp {
    /// Every marking, least restrictive first.
    pub const ALL: [Tlp; 5] = [Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::AmberStrict, Tlp::Red];

    /// The label as FIRST writes it: `TLP:CLEAR`, `TLP:AMBER+STRICT`.
    pub fn label(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }

    /// The lowercase name used on the wire and in configuration: `clear`, `amber+strict`.
    pub fn name(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }

    /// Whether this marking may travel by gossip to every entitled roster member (CLEAR and GREEN), as opposed to
    /// addressed delivery to named recipients.
    pub fn is_broadcast(self) -> bool {
        self <= Tlp::Green
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl std::str::FromStr for Tlp {
    type Err = FieldError;

    /// Accepts `clear`, `TLP:CLEAR`, `tlp:amber+strict`, and TLP 1.0's `white` as CLEAR, in any case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        let bare = lower.strip_prefix("tlp:").unwrap_or(&lower);
        match bare {
            "clear" | "white" => Ok(Tlp::Clear),
            "green" => Ok(Tlp::Green),
            "amber" => Ok(Tlp::Amber),
            "amber+strict" | "amber-strict" | "amber_strict" => Ok(Tlp::AmberStrict),
            "red" => Ok(Tlp::Red),
            _ => Err(FieldError::new(
                "tlp",
                text,
                "expected one of clear, green, amber, amber+strict, red",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_least_to_most_restrictive() {
        assert!(Tlp::ALL.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn parses_labels() {
        assert_eq!("TLP:AMBER+STRICT".parse::<Tlp>(), Ok(Tlp::AmberStrict));
        assert_eq!("white".parse::<Tlp>(), Ok(Tlp::Clear));
        assert_eq!(" red ".parse::<Tlp>(), Ok(Tlp::Red));
        assert!("purple".parse::<Tlp>().is_err());
        for tlp in Tlp::ALL {
            assert_eq!(tlp.label().parse::<Tlp>(), Ok(tlp));
            assert_eq!(tlp.name().parse::<Tlp>(), Ok(tlp));
        }
    }
}
