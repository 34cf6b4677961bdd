//! The HTTP faces of a dims node: the REST API under `/api/v1` ([`api`]), the member portal ([`portal`]) and TAXII
//! 2.1 under `/taxii2/` ([`taxii`], served beside the REST API on its listener).
//!
//! This crate must not depend on `dims-node` (the node starts the web server, so that would be a cycle): it defines
//! the narrow interfaces it needs from the node ([`api::Api`]: authenticate a token, publish, list, get;
//! [`taxii::Taxii`]: authenticate, the caller's collections, a page of a collection's objects;
//! [`portal::Portal`]: log in, the session's member, their dashboard, index and bundle), and the node implements them
//! over its service core. So the routes can be tested without a node, and every answer about bundles
//! comes from the node, which alone applies the policy function.

pub mod api;
pub mod portal;
pub mod taxii;

pub use api::{Api, ApiError, router};
