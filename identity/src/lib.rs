//! Who may see and do what on a dims node: members, orgs, roles, trust groups with vetting, the OpenID Connect
//! relying party, LDAP lookups, OpenPGP and API tokens.
//!
//! Not built yet: this crate holds the place DESIGN §3 gives it so that the workspace has its final shape. The
//! identity issue fills it; until then nothing here decides anything, and nothing depends on it deciding.

pub mod oidc;
