//! A dims node: the service core behind the `dims` binary, and everything it runs.
//!
//! Map: [`config`] (layered configuration), [`keys`] (the node and admin key files), [`clock`] (the only clock),
//! [`store`] (redb, group commit), [`rosters`] (the pinned federation rosters), [`service`] (publish, ingest and
//! queries, all through the policy function), [`intake`] (freetext and CSV input), [`http`] (health and metrics),
//! [`metrics`], and [`cli`] (the commands).

pub mod cli;
pub mod clock;
pub mod config;
pub mod federation;
pub mod http;
pub mod intake;
pub mod keys;
pub mod metrics;
pub mod rosters;
pub mod service;
pub mod store;
