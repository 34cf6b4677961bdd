//! A dims node: the service core behind the `dims` binary, and everything it runs.
//!
//! Map: [`config`] (layered configuration), [`keys`] (the node key file), [`clock`] (the only clock), [`store`]
//! (redb, group commit; also tokens, members and trust groups), [`service`] (publish, ingest and queries, all
//! through the policy function), [`grant`] (what an API token allows), [`login`] (the OpenID Connect login with
//! LDAP roles that `dims auth test-login` walks), [`intake`] (freetext and CSV input), [`http`] (health and
//! metrics), [`metrics`], and [`cli`] (the commands).

pub mod cli;
pub mod clock;
pub mod config;
pub mod grant;
pub mod http;
pub mod intake;
pub mod keys;
pub mod login;
pub mod metrics;
pub mod service;
pub mod store;
