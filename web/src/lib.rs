//! The HTTP faces of a dims node: portal pages, the REST API under `/api/v1` and TAXII 2.1 under `/taxii2/`.
//!
//! This crate must not depend on `dims-node` (the node starts the web server): it will define the narrow interface
//! it needs from the node, and the node implements it. Not built yet; the node runtime and identity issues fill it.
