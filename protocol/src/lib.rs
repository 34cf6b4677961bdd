//! The dims wire model and the rules every node applies to it.
//!
//! **Contract: this crate is pure.** It performs no I/O, never reads a clock and never draws OS randomness. Time
//! (milliseconds since the Unix epoch), keys and any random values come in as arguments, so every function here is
//! deterministic and can be tested with fixed vectors. The workspace `clippy.toml` bans the clock and randomness
//! entry points; `cargo clippy -p dims-protocol` enforces it.

pub mod cryptopan;
pub mod reconcile;
