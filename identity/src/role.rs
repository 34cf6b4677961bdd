//! The four roles a member can hold on a node (DESIGN §7): `admin`, `publisher`, `member` and `read-only`.
//!
//! Roles are a flat set, not a ladder: whoever grants them (the LDAP group mapping, OIDC claims, an admin) grants
//! each one explicitly, and whatever checks them asks for the one it needs. The text forms are the ones used in
//! configuration files and logs; [`Role::as_str`], [`std::str::FromStr`] and serde agree on them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a member may do on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Runs the node: configuration, members, trust groups, peers.
    Admin,
    /// Publishes bundles on behalf of their org.
    Publisher,
    /// A vetted member: reads what their audiences allow and takes part in trust groups.
    Member,
    /// Reads what their audiences allow and nothing more.
    ReadOnly,
}

impl Role {
    /// Every role, in order.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Publisher, Role::Member, Role::ReadOnly];

    /// The role's name as written in configuration: `admin`, `publisher`, `member` or `read-only`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Publisher => "publisher",
            Role::Member => "member",
            Role::ReadOnly => "read-only",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of the four.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected admin, publisher, member or read-only")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| UnknownRole(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_agree_between_from_str_display_and_serde() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
            let json = serde_json::to_string(&role).expect("serialize");
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).expect("deserialize"), role);
        }
    }

    #[test]
    fn unknown_names_are_refused_with_the_accepted_ones() {
        for bad in ["", "Admin", "readonly", "read_only", "root"] {
            let error = bad.parse::<Role>().expect_err(bad);
            assert!(error.to_string().contains("read-only"), "{error}");
        }
    }
}
