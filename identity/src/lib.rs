//! Who may see and do what on a dims node: members, orgs, roles, trust groups with vetting, the OpenID Connect
//! relying party, LDAP lookups, OpenPGP and API tokens.
//!
//! Being built (the identity issue): [`token`] (API tokens), [`vetting`] (trust groups), [`directory`] (member
//! profiles), [`session`] (portal sessions), [`pgp`] (node certificates, member key uploads, RED sealing, gpg
//! interop), [`ldap`] (directory lookups, fail closed) and [`role`] are here; the OIDC relying party follows, and
//! the node stores what these define. Nothing here decides who receives a bundle: that stays the protocol crate's
//! policy function, which this crate feeds (a token's TLP ceiling becomes the reader's ceiling, an active
//! trust-group membership becomes a group in the reader's view).

pub mod directory;
pub mod ldap;
pub mod pgp;
pub mod role;
pub mod session;
pub mod token;
pub mod vetting;
