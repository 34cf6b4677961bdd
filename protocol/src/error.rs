//! The error shared by every validation in this crate: which field, which value, and what would be accepted.

use std::fmt;

/// A value that failed validation. `field` names where it was (a path such as
/// `content.indicators[3].value`), `value` shows what was there (shortened, never more than 80 characters, so a
/// hostile megabyte does not end up in a log line), and `expected` says what would be accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    /// Where the value was.
    pub field: String,
    /// The offending value, shortened for display.
    pub value: String,
    /// What would have been accepted.
    pub expected: String,
}

/// How much of an offending value an error message repeats.
const SHOWN_VALUE_CHARS: usize = 80;

impl FieldError {
    /// A new error for `field` holding `value`.
    pub fn new(field: impl Into<String>, value: &str, expected: impl Into<String>) -> Self {
        let mut shown: String = value.chars().take(SHOWN_VALUE_CHARS).collect();
        if shown.len() < value.len() {
            shown.push('…');
        }
        Self {
            field: field.into(),
            value: shown,
            expected: expected.into(),
        }
    }

    /// Prefixes the field path, as errors bubble up from a nested value (`value` becomes `indicators[3].value`).
    pub fn within(mut self, parent: impl fmt::Display) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} {:?}: {}", self.field, self.value, self.expected)
    }
}
