//! Flows: what a node's NetFlow exporters send it, decoded and kept.
//!
//! Empty for now. What will live here:
//!
//! * the decoders of NetFlow v5, NetFlow v9 and IPFIX datagrams (v9 and IPFIX with their per-exporter template
//!   caches), each a fuzz target, since every byte they read comes from the network;
//! * the normal flow record that every decoder yields, one shape whatever the exporter spoke;
//! * the Parquet archive the records are written to, and its reader.
//!
//! This is leaf code: it parses untrusted bytes and owns a file format, and it has no dependency on the node, so it
//! builds, fuzzes and benches alone. The node will use it; it never calls back into the node. It sits under `node/`
//! rather than at the top level, which keeps the top level to the crates the design fixes.
