//! A dims node: the service core behind the `dims` binary, and everything it runs.
//!
//! Map: [`config`] (layered configuration), [`keys`] (the node key file), [`clock`] (the only clock), [`store`]
//! (redb, group commit), [`core`] (publish, ingest and queries, all through the policy function), [`intake`]
//! (freetext and CSV input), [`http`] (health and metrics), [`metrics`], and [`cli`] (the commands).

pub mod clock;
pub mod intake;
pub mod metrics;
pub mod store;
