//! A dims node: the service core behind the `dims` binary, and everything it runs.
//!
//! Map: [`node`] (the one start-up path: a node's store, rosters and service core, and its parts started as named
//! [`workers`]), [`config`] (layered configuration), [`keys`] (the node and admin key files), [`files`]
//! (the data folder, store, backups and exports kept to the node's owner), [`clock`] (the only
//! clock), [`store`] (redb, group commit; also tokens, members and trust groups), [`rosters`] (the pinned federation
//! rosters), [`service`] (publish, ingest and queries, all through the policy function), [`federation`] (libp2p:
//! gossip, addressed delivery, reconciliation), [`bridge`] (re-shares received bundles as signed redacted
//! derivatives: an egress path, checked by `check_reshare`), [`grant`] (what an API token allows), [`login`] (the
//! OpenID Connect login with LDAP roles that `dims auth test-login` walks), [`intake`] (freetext and CSV input),
//! [`http`] (health, metrics, workers and federation status), [`api`] (the REST API over the service core),
//! [`metrics`], [`control`] (the command line's socket to a running node), and [`cli`] (the commands).

pub mod api;
pub mod bridge;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod federation;
pub mod files;
pub mod grant;
pub mod http;
pub mod intake;
pub mod keys;
pub mod login;
pub mod metrics;
pub mod node;
pub mod portal;
pub mod rosters;
pub mod service;
pub mod store;
pub mod taxii;
pub mod workers;
