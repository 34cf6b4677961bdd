//! The dims wire model and the rules every node applies to it.
//!
//! **Contract: this crate is pure.** It performs no I/O, never reads a clock and never draws OS randomness. Time
//! (milliseconds since the Unix epoch), keys and any random values come in as arguments, so every function here is
//! deterministic and can be tested with fixed vectors. The workspace `clippy.toml` bans the clock and randomness
//! entry points; `cargo clippy -p dims-protocol` enforces it.
//!
//! Map of the crate:
//! * [`bundle`], [`content`], [`indicator`], [`audience`], [`tlp`], [`ids`]: the model.
//! * [`encoding`]: canonical CBOR and the envelope; [`signing`]: keys, signatures, decode-and-verify.
//! * [`policy`]: the one function that decides who may receive what.
//! * [`stix`]: STIX 2.1 import and export. [`cryptopan`] and [`redact`]: redacted derivatives.
//! * [`reconcile`]: range-based set reconciliation.
//! * [`roster`]: signed, versioned federation rosters and the rules for trusting them.
//! * [`key_statement`]: a node's signed statements about its own key (rotation, revocation).

pub mod audience;
pub mod bundle;
pub mod content;
pub mod cryptopan;
pub mod encoding;
pub mod error;
pub mod ids;
pub mod indicator;
pub mod key_statement;
pub mod policy;
pub mod reconcile;
pub mod redact;
pub mod roster;
pub mod samples;
pub mod signing;
pub mod stix;
pub mod text;
pub mod tlp;
mod wire;

pub use audience::{Audience, Recipient};
pub use bundle::{Author, Body, Provenance, Redaction, VerifiedBundle};
pub use content::{
    Content, CourseOfAction, IncidentReport, IncidentStatus, IndicatorRef, Observer, Retraction, Sighting, Sitrep,
};
pub use error::FieldError;
pub use ids::{AdminId, BundleId, FederationId, GroupId, MemberId, NodeId, OrgId};
pub use indicator::{Indicator, IndicatorKind, IndicatorValue, KillChainPhase};
pub use key_statement::{KeyStatement, KeyStatementError, StatementKind, VerifiedStatement};
pub use policy::{
    Carriage, Decision, Denial, Marking, MemberView, Membership, NodeView, Receiver, may_originate, may_receive,
};
pub use roster::{AdminKey, NodeRole, Roster, RosterEntry, RosterError, SignedRoster, VerifiedRoster};
pub use signing::{BundleError, NodeKey, Unverified, VerifyError, decode, decode_and_verify, verify_batch};
pub use tlp::Tlp;
