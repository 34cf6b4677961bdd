//! Many dims nodes in one process (or on loopback TCP): scenarios, faults, a leak oracle and propagation benchmarks.
//!
//! A run ([`run::run`]) builds the nodes and a roster for them on the spot ([`topology`]), starts one real node per
//! honest member (store, service, rosters and federation, `dims_node::node::Node`) and a bare
//! swarm per hostile member ([`hostile`]), publishes a seeded workload ([`workload`]) while applying the scenario's
//! faults ([`scenario`]), waits for convergence, and reports ([`report`], with plots from [`svg`]): delivery
//! completeness, latency percentiles, duplicates, reconciliation cost, wire bytes per node, hostile peers' scores, CPU
//! and memory ([`measure`]). The leak oracle judges every stored bundle against the roster as the scenario built it, never the
//! node's own view, and any leak fails the run.
//!
//! The deterministic tier ([`model`]) runs the node's decision functions, the policy and reconciliation in a
//! discrete-event model with a virtual clock and a seeded network: no stores, no swarm, no threads, so a property
//! test can run hundreds of random federations and any failure replays bit for bit from its seed.
//! Process mode ([`processes`], `--processes`) runs every honest node as a real `dims run` process instead, set up
//! through the command line and driven through the REST API, with the same oracle and report.
//!
//! Invariant: the simulator only drives nodes through their public handles (`Service`, `Federation`, `Node`);
//! it never reaches into a node, so what it measures is what a deployment does.

mod driver;
pub mod hostile;
pub mod measure;
pub mod model;
pub mod processes;
pub mod report;
pub mod rng;
pub mod run;
pub mod scenario;
mod schedule;
pub mod svg;
pub mod topology;
mod truth;
pub mod workload;

pub use report::Report;
pub use run::{Options, run};
pub use scenario::Scenario;
pub use topology::Transport;
