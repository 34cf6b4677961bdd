//! The HTTP faces of a dims node: the REST API under `/api/v1` ([`api`]) and the member portal ([`portal`]); TAXII
//! 2.1 under `/taxii2/` later.
//!
//! This crate must not depend on `dims-node` (the node starts the web server, so that would be a cycle): it defines
//! the narrow interfaces it needs from the node ([`api::Api`]: authenticate a token, publish, list, get;
//! [`portal::Portal`]: log in, the session's member, their dashboard, index and bundle), and the node implements them
//! over its service core. So the routes can be tested without a node, and every answer about bundles
//! comes from the node, which alone applies the policy function.

pub mod api;
pub mod portal;

pub use api::{Api, ApiError, router};
