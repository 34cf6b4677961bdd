//! The deterministic tier: a discrete-event model of a federation that runs the node's real decision functions
//! against a virtual clock and a seeded simulated network, fast enough for hundreds of property cases a second and
//! bit-for-bit reproducible from its seed.
//!
//! What is real: the decisions (`dims_node::federation::decide`: gossip domain and topics, gossip and delivery checks,
//! outbox recipients, the egress guard, retry delays, reconciliation sets), the policy (`may_receive`,
//! `may_originate`), and reconciliation (the protocol's `Reconciler` exchanging encoded messages, with the node's own
//! settings). What is modelled: the transport (messages with latency, jitter and loss over links that partitions and
//! downed nodes cut), gossipsub (flooding within the gossip domain, with a seen-set), the store (a map, durable across
//! a node going down; everything else is forgotten), and bundles (ids and markings only, unsigned).
//!
//! Modules: [`spec`] (what to simulate), [`clock`] (virtual time, the event queue), [`net`] (links, partitions, loss),
//! [`node`] (one node's state and reactions), [`run`] (the run and the leak oracle), [`report`] (what it found).

pub mod clock;
pub mod net;
pub mod node;
pub mod report;
pub mod run;
pub mod spec;

pub use report::{ModelLeak, ModelReport, PathHop, Traffic};
pub use run::simulate;
pub use spec::{ModelFault, ModelSpec};
