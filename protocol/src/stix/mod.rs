//! STIX 2.1 import and export (DESIGN §4.4).
//!
//! [`export()`] turns verified bundles into one STIX 2.1 bundle that the OASIS `stix2-validator` accepts without
//! errors; [`import()`] turns STIX 2.1 JSON (a bundle, one object or a list, as the OASIS `stix2` library and feeds
//! write it) into unsigned [`Body`](crate::Body) drafts for the importing node to sign. Like the rest of the crate
//! this module is pure: times come in through the contexts and every STIX id is derived from names (module `id`),
//! so the same input always gives the same output.
//!
//! Map of the module:
//! * [`export`](mod@export) and [`import`](mod@import): the two directions, with their tables of what maps to what;
//! * [`pattern`]: writing and reading STIX patterns; [`marking`]: TLP 2.0 and classic TLP marking-definitions;
//! * [`time`]: STIX timestamps ↔ ms since the epoch; [`error`]: what can go wrong and what to do about it;
//! * `extension`: the dims property-extension that carries what STIX cannot (bundle id, origin, audience, ...);
//! * `id`: deterministic STIX ids;
//! * `object`, `read` and `group`: the parts of an import (one input object's properties, each STIX type read
//!   into dims content, and the gathering of what was read into bodies).
//!
//! # What survives a round trip
//!
//! dims → STIX → dims, restoring the node's own export ([`ImportContext::restore`]): every body comes back equal,
//! so it signs to the same bundle id, except a retraction whose target is not in the same export (STIX expresses a
//! retraction only by revoking the target's objects; [`Export::skipped`] lists it).
//!
//! dims → STIX → another dims node: the content, marking, stated audience and expiry survive; the origin, author and
//! creation time become the importer's, supersession is dropped (it is a chain of the original origin's), and the
//! provenance names the exported bundle. Revoked objects are listed, not imported.
//!
//! What a STIX tool without the dims extension sees: every content field STIX has a property for. Only the
//! extension holds the audience, expiry, supersession and provenance, a course of action's kind of action, an
//! incident's status, victims and first and last sightings, sighting victims, and which org at which node an
//! identity is.

pub mod error;
pub mod export;
mod extension;
mod group;
mod id;
pub mod import;
pub mod marking;
mod object;
pub mod pattern;
mod read;
pub mod time;

pub use error::{ExportError, ImportError, ObjectError, Warning};
pub use export::{Export, ExportContext, MadeFor, Party, SkippedBundle, export, export_bodies};
pub use extension::{DIMS_EXTENSION_ID, DIMS_IDENTITY_ID};
pub use import::{Draft, ImportContext, ImportLimits, ImportOutcome, import};
pub use marking::{TLP2_EXTENSION_ID, marking_id};
pub use pattern::{PatternError, PatternLimits};
