//! Human and feed input turned into indicators, as a MISP user knows it from MISP's freetext and CSV imports.
//!
//! * [`refang()`] undoes defanging (`hxxp://evil[.]example`).
//! * [`detect()`] and [`classify`] tell what kind of indicator one token is; the rules, and why they are what they
//!   are, open the [`detect`](mod@detect) module.
//! * [`freetext()`] picks the indicators out of a pasted report, with line and column of each, the tokens that look
//!   like indicators but are invalid, duplicates counted, and a cap ([`FreetextOptions::max`]). The tokeniser's
//!   rules open the [`freetext`](mod@freetext) module.
//! * [`csv()`] reads a CSV file with a header row into checked [`Indicator`](dims_protocol::Indicator)s, all or
//!   nothing unless bad rows are to be skipped; the columns are listed in the [`csv`](mod@csv) module.
//! * [`cell::value`] reads one declared indicator (a value with an optional type), as CSV rows and the REST API
//!   give them; [`audience`] parses and writes the audience syntax of `dims publish --audience` and the REST API.
//! * [`warninglist`] flags known-benign values (private ranges, public resolvers, `example.com`) without dropping
//!   them (DESIGN §10).
//!
//! **Invariant: pure.** Nothing here does I/O, reads a clock or keeps state: functions take text or bytes and return
//! values, so the portal, the CLI and the feed puller share them, and tests and fuzzers can drive them directly.
//! Every value leaves through [`IndicatorValue::parse`](dims_protocol::IndicatorValue::parse) (or
//! [`Indicator::check`](dims_protocol::Indicator::check)), so it is valid and in normal form.

pub mod audience;
pub mod cell;
pub mod csv;
pub mod detect;
pub mod freetext;
pub mod refang;
pub mod warninglist;

pub use self::csv::{ACCEPTED_COLUMNS, CsvError, CsvOptions, CsvOutcome, CsvWarning, MAX_REPORTED_ROWS, RowError, csv};
pub use self::detect::{AMBIGUOUS_EXTENSIONS, Detection, FILE_EXTENSIONS, classify, detect};
pub use self::freetext::{Cut, Found, FreetextOptions, FreetextOutcome, MAX_REJECTED, Rejected, freetext};
pub use self::refang::refang;
pub use self::warninglist::Warning;
