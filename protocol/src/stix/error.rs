//! What can go wrong in a STIX import or export, and what to do about it.
//!
//! An import fails as a whole ([`ImportError`]) only when the input cannot be read at all or breaks a limit. A
//! problem with one object is an [`ObjectError`] in the outcome's `unsupported` list, naming the object's id and
//! property, while the rest of the input is still imported: one bad indicator in a feed of thousands must not cost
//! the other thousands.

use crate::bundle::Body;
use crate::error::FieldError;
use crate::ids::BundleId;

use super::pattern::PatternError;
use super::time::TimeError;

/// Why an export failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// A time of the bundle has no STIX form.
    #[error("bundle {bundle}: {field}: {error}; the bundle cannot be exported to STIX")]
    Time {
        /// The bundle.
        bundle: BundleId,
        /// Which time (`created`, `content.sightings[0].last_seen`, ...).
        field: String,
        /// The conversion error.
        error: TimeError,
    },
    /// The time the export was made at has no STIX form.
    #[error("the export's time: {error}; check the node's clock")]
    MadeAt {
        /// The conversion error.
        error: TimeError,
    },
}

/// Why an import failed as a whole.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The input is larger than the limit.
    #[error("the input is {bytes} bytes, more than the limit of {limit}: split it into several files")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The input is not JSON.
    #[error("the input is not JSON (line {line}, column {column}: {reason}): check that it is a STIX 2.1 file")]
    Json {
        /// Where the parser stopped.
        line: usize,
        /// Where the parser stopped.
        column: usize,
        /// What the parser said.
        reason: String,
    },
    /// The input is JSON but not STIX.
    #[error("the input is {found}, not STIX: expected a bundle, one STIX object or a list of STIX objects")]
    NotStix {
        /// What was found instead.
        found: &'static str,
    },
    /// The input has more objects than the limit.
    #[error("the input has {count} objects, more than the limit of {limit}: split it into several files")]
    TooManyObjects {
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The input's patterns yield more indicators than the limit.
    #[error("the input yields more than {limit} indicators: split it into several files")]
    TooManyIndicators {
        /// The limit.
        limit: usize,
    },
    /// The context's default audience cannot be used for CLEAR and GREEN.
    #[error("the import's default audience is unusable: {0}; configure org, community, a federation or recipients")]
    DefaultAudience(FieldError),
}

/// Why one object (or one part of it) was not imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// An entry of the input is not a STIX object.
    #[error("{at}: not a STIX object (a JSON object with a string type and id); remove it or fix its producer")]
    NotAnObject {
        /// Where it was (`objects[3]`).
        at: String,
    },
    /// The id is not `type--uuid`.
    #[error("{at}: id {id:?} is not of the form {kind}--<uuid>; fix the producer")]
    BadId {
        /// Where it was.
        at: String,
        /// The id.
        id: String,
        /// The object's type.
        kind: String,
    },
    /// dims has no model for this kind of object.
    #[error("{id}: dims does not model STIX {kind} objects; it was left out")]
    UnknownType {
        /// The object.
        id: String,
        /// Its type.
        kind: String,
    },
    /// A required property is missing.
    #[error("{id}: property {property} is missing; STIX 2.1 requires it")]
    Missing {
        /// The object.
        id: String,
        /// The property.
        property: &'static str,
    },
    /// A property has the wrong JSON type or an impossible value.
    #[error("{id}: property {property} should be {expected}, found {found}")]
    WrongType {
        /// The object.
        id: String,
        /// The property.
        property: &'static str,
        /// What STIX and dims accept.
        expected: &'static str,
        /// What was there.
        found: String,
    },
    /// A timestamp is not a STIX timestamp.
    #[error("{id}: property {property}: {error}")]
    Timestamp {
        /// The object.
        id: String,
        /// The property.
        property: &'static str,
        /// Why.
        error: TimeError,
    },
    /// The indicator's pattern type is not STIX.
    #[error("{id}: pattern_type {found:?} is not supported: dims imports STIX patterns only")]
    PatternType {
        /// The indicator.
        id: String,
        /// Its pattern type.
        found: String,
    },
    /// The pattern cannot be read or changes meaning beyond a list of values.
    #[error("{id}: property pattern: {error}")]
    Pattern {
        /// The indicator.
        id: String,
        /// Why.
        error: PatternError,
    },
    /// One comparison of an `OR` pattern was left out; the others were imported.
    #[error("{id}: property pattern: the comparison {term} was left out: {reason}")]
    PatternTerm {
        /// The indicator.
        id: String,
        /// The comparison.
        term: String,
        /// Why.
        reason: String,
    },
    /// No comparison of the pattern maps to a dims indicator.
    #[error("{id}: property pattern: no comparison maps to a dims indicator (see the entries for its comparisons)")]
    NoIndicator {
        /// The indicator.
        id: String,
    },
    /// A value or field fails dims validation.
    #[error("{id}: {error}")]
    Invalid {
        /// The object.
        id: String,
        /// The validation error, naming the field and value.
        error: FieldError,
    },
    /// A reference points at nothing in the input.
    #[error("{id}: property {property} refers to {target}, which is not in the input; include it in the same file")]
    Dangling {
        /// The object.
        id: String,
        /// The property.
        property: &'static str,
        /// The missing id.
        target: String,
    },
    /// A reference points at an object that could not be used.
    #[error("{id}: property {property} refers to {target}, which {problem}")]
    BadReference {
        /// The object.
        id: String,
        /// The property.
        property: &'static str,
        /// The referenced id.
        target: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A relationship dims does not model.
    #[error(
        "{id}: dims does not model a {relationship:?} relationship from {source_kind} to {target_kind}; it was left out"
    )]
    Relationship {
        /// The relationship.
        id: String,
        /// Its type.
        relationship: String,
        /// The source's type.
        source_kind: String,
        /// The target's type.
        target_kind: String,
    },
    /// An object nothing imported refers to.
    #[error("{id}: no imported object refers to this {kind}; dims keeps it only as part of what it describes")]
    Unreferenced {
        /// The object.
        id: String,
        /// Its type.
        kind: String,
    },
    /// A RED object, imported without a member to address it to.
    #[error(
        "{id} is TLP:RED, which is for named individuals only: import it as a member (ImportContext.author.member) \
         so that it is addressed to you"
    )]
    RedWithoutMember {
        /// The object.
        id: String,
    },
    /// A sighting with a count of zero.
    #[error("{id}: property count is 0; dims records only things that were seen (count of at least 1)")]
    ZeroCount {
        /// The sighting.
        id: String,
    },
    /// Objects of one dims bundle that cannot form one body.
    #[error("{id}: objects of one dims bundle disagree ({problem}); import them from separate exports")]
    Inconsistent {
        /// The first object.
        id: String,
        /// What disagrees.
        problem: &'static str,
    },
    /// The body made from the objects fails dims validation.
    #[error("{id}: the {kind} bundle made from it is invalid: {error}")]
    Body {
        /// The first object the body came from.
        id: String,
        /// The content kind.
        kind: &'static str,
        /// The validation error.
        error: FieldError,
    },
}

impl ObjectError {
    /// The id (or position) of the object concerned.
    pub fn object(&self) -> &str {
        match self {
            ObjectError::NotAnObject { at } | ObjectError::BadId { at, .. } => at,
            ObjectError::UnknownType { id, .. }
            | ObjectError::Missing { id, .. }
            | ObjectError::WrongType { id, .. }
            | ObjectError::Timestamp { id, .. }
            | ObjectError::PatternType { id, .. }
            | ObjectError::Pattern { id, .. }
            | ObjectError::PatternTerm { id, .. }
            | ObjectError::NoIndicator { id }
            | ObjectError::Invalid { id, .. }
            | ObjectError::Dangling { id, .. }
            | ObjectError::BadReference { id, .. }
            | ObjectError::Relationship { id, .. }
            | ObjectError::Unreferenced { id, .. }
            | ObjectError::RedWithoutMember { id }
            | ObjectError::ZeroCount { id }
            | ObjectError::Inconsistent { id, .. }
            | ObjectError::Body { id, .. } => id,
        }
    }
}

/// Something imported with a caveat: text shortened, a marking ignored, a value assumed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {message}")]
pub struct Warning {
    /// The object concerned.
    pub object: String,
    /// What happened.
    pub message: String,
}

/// The body check of a draft, with the error naming where the body came from.
pub(crate) fn check_body(body: &Body, first_source: &str) -> Result<(), ObjectError> {
    body.check().map_err(|error| ObjectError::Body {
        id: first_source.to_owned(),
        kind: body.content.kind(),
        error,
    })
}
