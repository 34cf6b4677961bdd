//! Freetext import: indicators picked out of a pasted threat report, a mail, a chat log or a plain list.
//!
//! Each line is refanged, cut into tokens and every token classified by the rules of [`detect`](mod@super::detect).
//! Tokens are separated by whitespace and by `, ; " ' < > ( ) [ ] { } | \` and backticks; `=` also separates when
//! the piece holds no `/` (so `src=192.0.2.1` yields the address but a URL query keeps its `=`). Trailing sentence
//! punctuation (`.`, `?`, `!`, a single `:`) and a leading `*.` (wildcard names) are trimmed. A URL with a scheme is
//! kept intact up to the next whitespace, quote, backtick, `|` or angle bracket, so its commas, semicolons and
//! brackets survive; unbalanced closing brackets and punctuation at its end are trimmed (`(see http://x.example/a).`
//! yields `http://x.example/a`).
//!
//! **Invariants:** values are deduplicated by their normal form and keep their first occurrence; at most
//! `options.max` values are returned and [`FreetextOutcome::cut`] says where input was left unread; plain words are
//! never reported, only tokens that have the shape of an indicator and fail its validation; every position (line,
//! column) and `original` text refer to the text as pasted, defanged, so the CLI and the portal can point at it.

use std::collections::HashSet;
use std::fmt;

use dims_protocol::content::MAX_INDICATORS;
use dims_protocol::{FieldError, IndicatorValue};

use super::detect::{Context, Detection, classify_refanged};
use super::refang::refang_mapped;
use super::warninglist::{self, Warning};

/// The most rejected tokens one import lists; the rest are only counted, so hostile input cannot grow the report
/// without bound.
pub const MAX_REJECTED: usize = 1_000;

/// Freetext import settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreetextOptions {
    /// The most distinct indicators to return; input past the one that would exceed it is not read. Defaults to the
    /// most one bundle may carry ([`MAX_INDICATORS`]).
    pub max: usize,
}

impl Default for FreetextOptions {
    fn default() -> Self {
        Self { max: MAX_INDICATORS }
    }
}

/// An indicator found in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The value, in normal form.
    pub value: IndicatorValue,
    /// The line it was on, from 1.
    pub line: usize,
    /// The column (in characters, from 1) where its token starts in the text as given.
    pub column: usize,
    /// The token as it was written, possibly defanged (`hxxp://evil[.]example`).
    pub original: String,
    /// The warninglists the value is on; flagged, not dropped.
    pub warnings: Vec<Warning>,
}

/// A token that looks like an indicator but is not a valid one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The line it was on, from 1.
    pub line: usize,
    /// The column (in characters, from 1) where it starts.
    pub column: usize,
    /// The token as it was written.
    pub token: String,
    /// What is wrong with it and what would be accepted.
    pub reason: FieldError,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.reason)
    }
}

/// Where the cap on indicators stopped the import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    /// The line of the first indicator left out, from 1.
    pub line: usize,
    /// Its column, from 1.
    pub column: usize,
    /// The cap that was reached.
    pub max: usize,
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stopped at line {}, column {}: at most {} indicators per import; import the rest separately",
            self.line, self.column, self.max
        )
    }
}

/// What a freetext import found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FreetextOutcome {
    /// The distinct indicators, in the order they first appear.
    pub indicators: Vec<Found>,
    /// Tokens that look like indicators but are invalid, at most [`MAX_REJECTED`].
    pub rejected: Vec<Rejected>,
    /// Rejected tokens beyond [`MAX_REJECTED`], counted only.
    pub rejected_omitted: usize,
    /// Occurrences of a value already found (each is dropped, the first kept).
    pub duplicates: usize,
    /// Set when the cap on indicators cut the input short.
    pub cut: Option<Cut>,
}

/// Picks the indicators out of `text`. Never fails: what cannot be used is reported in the outcome.
///
/// ```
/// use dims_node::intake::{freetext, FreetextOptions};
/// let outcome = freetext("C2 at 203.0.113[.]7, see hxxp://evil[.]example/x.", FreetextOptions::default());
/// let values: Vec<String> = outcome.indicators.iter().map(|found| found.value.to_string()).collect();
/// assert_eq!(values, ["203.0.113.7", "http://evil.example/x"]);
/// ```
pub fn freetext(text: &str, options: FreetextOptions) -> FreetextOutcome {
    let mut outcome = FreetextOutcome::default();
    let mut seen: HashSet<IndicatorValue> = HashSet::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let refanged = refang_mapped(line);
        let mut columns = ColumnCounter::new(line);
        for (start, end) in tokens(&refanged.text) {
            let token = &refanged.text[start..end];
            let (from, to) = refanged.source_range(start, end);
            let column = columns.at(from);
            let original = || line.get(from..to).unwrap_or(token).to_owned();
            match classify_refanged(token, Context::Prose) {
                Detection::Found(value) => {
                    if seen.contains(&value) {
                        outcome.duplicates += 1;
                        continue;
                    }
                    if outcome.indicators.len() >= options.max {
                        outcome.cut = Some(Cut {
                            line: number,
                            column,
                            max: options.max,
                        });
                        return outcome;
                    }
                    seen.insert(value.clone());
                    outcome.indicators.push(Found {
                        warnings: warninglist::check(&value),
                        value,
                        line: number,
                        column,
                        original: original(),
                    });
                }
                Detection::Invalid(reason) => {
                    if outcome.rejected.len() < MAX_REJECTED {
                        outcome.rejected.push(Rejected {
                            line: number,
                            column,
                            token: original(),
                            reason,
                        });
                    } else {
                        outcome.rejected_omitted += 1;
                    }
                }
                Detection::NotAnIndicator => {}
            }
        }
    }
    outcome
}

/// Turns byte offsets into character columns, walking forward only: tokens come in order, so a long line costs one
/// pass instead of one pass per token.
struct ColumnCounter<'a> {
    line: &'a str,
    byte: usize,
    chars: usize,
}

impl<'a> ColumnCounter<'a> {
    fn new(line: &'a str) -> Self {
        Self {
            line,
            byte: 0,
            chars: 0,
        }
    }

    /// The column (from 1) of byte offset `at`, which must not lie before the previous one asked for.
    fn at(&mut self, at: usize) -> usize {
        if at >= self.byte {
            self.chars += self
                .line
                .get(self.byte..at)
                .map_or(0, |skipped| skipped.chars().count());
            self.byte = at;
        }
        self.chars + 1
    }
}

/// Characters that end a URL written in text: they cannot stand unescaped in a URL, and quote it in prose.
const URL_STOPS: &[char] = &['"', '\'', '<', '>', '`', '|'];

/// Characters that separate tokens outside URLs.
const SEPARATORS: &[char] = &[
    ',', ';', '"', '\'', '<', '>', '(', ')', '[', ']', '{', '}', '|', '`', '\\',
];

/// The byte ranges of the candidate tokens in one refanged line, in order.
pub(crate) fn tokens(line: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut word_start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), word_start) {
            (true, Some(start)) => {
                word_tokens(line, start, i, &mut out);
                word_start = None;
            }
            (false, None) => word_start = Some(i),
            _ => {}
        }
    }
    if let Some(start) = word_start {
        word_tokens(line, start, line.len(), &mut out);
    }
    out
}

/// Tokens of one whitespace-free word: URLs kept whole, the rest split at separators.
fn word_tokens(line: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let mut pos = start;
    while pos < end {
        let word = &line[pos..end];
        let Some(url_at) = url_start(word) else {
            plain_tokens(line, pos, end, out);
            return;
        };
        plain_tokens(line, pos, pos + url_at, out);
        let stop = word[url_at..]
            .find(URL_STOPS)
            .map_or(word.len(), |offset| url_at + offset);
        let kept = trim_url_end(&word[url_at..stop]);
        out.push((pos + url_at, pos + url_at + kept));
        // `stop` lies past the `://`, so every round moves forward.
        pos += stop;
    }
}

/// The offset of the scheme of the first URL in `word`, if it has one.
fn url_start(word: &str) -> Option<usize> {
    let separator = word.find("://")?;
    let bytes = word.as_bytes();
    let mut start = separator;
    while start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || matches!(bytes[start - 1], b'+' | b'-')) {
        start -= 1;
    }
    // A scheme starts with a letter; skip digits and signs glued in front of it.
    while start < separator && !bytes[start].is_ascii_alphabetic() {
        start += 1;
    }
    (separator - start >= 2).then_some(start)
}

/// The length of `url` without trailing punctuation and unbalanced closing brackets.
fn trim_url_end(url: &str) -> usize {
    // Counted once and updated as closers are trimmed, so a URL followed by a megabyte of `)` stays linear.
    let pairs = [('(', ')'), ('[', ']'), ('{', '}')];
    let mut open = pairs.map(|(open, _)| url.matches(open).count());
    let mut close = pairs.map(|(_, close)| url.matches(close).count());
    let mut end = url.len();
    while let Some(last) = url[..end].chars().next_back() {
        let closer = pairs.iter().position(|&(_, close)| close == last);
        let unbalanced = closer.is_some_and(|at| close[at] > open[at]);
        if !(unbalanced || matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '*')) {
            break;
        }
        if let Some(at) = closer {
            close[at] -= 1;
        }
        if let Some(at) = pairs.iter().position(|&(open, _)| open == last) {
            open[at] -= 1;
        }
        end -= last.len_utf8();
    }
    end
}

/// Splits a piece of text without URLs at separators and trims each token.
fn plain_tokens(line: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let mut piece_start = start;
    for (offset, c) in line[start..end].char_indices() {
        if SEPARATORS.contains(&c) {
            split_assignments(line, piece_start, start + offset, out);
            piece_start = start + offset + c.len_utf8();
        }
    }
    split_assignments(line, piece_start, end, out);
}

/// `key=value` pieces without a `/` are split at `=`, so log fields yield their values.
fn split_assignments(line: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let piece = &line[start..end];
    if piece.contains('=') && !piece.contains('/') {
        let mut part_start = start;
        for (offset, _) in piece.match_indices('=') {
            push_trimmed(line, part_start, start + offset, out);
            part_start = start + offset + 1;
        }
        push_trimmed(line, part_start, end, out);
    } else {
        push_trimmed(line, start, end, out);
    }
}

fn push_trimmed(line: &str, mut start: usize, mut end: usize, out: &mut Vec<(usize, usize)>) {
    while start < end && matches!(line.as_bytes()[start], b'*' | b'.') {
        start += 1;
    }
    while start < end {
        let token = &line[start..end];
        let trailing_dot = token.ends_with(['.', '?', '!']);
        let single_colon = token.ends_with(':') && !token.ends_with("::");
        if trailing_dot || single_colon {
            end -= 1;
        } else {
            break;
        }
    }
    if start < end {
        out.push((start, end));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<&str> {
        tokens(line).into_iter().map(|(start, end)| &line[start..end]).collect()
    }

    #[test]
    fn tokeniser_keeps_urls_and_splits_prose() {
        let cases: &[(&str, &[&str])] = &[
            ("a, b; c", &["a", "b", "c"]),
            (
                "(see http://x.example/a(b)?q=1,2).",
                &["see", "http://x.example/a(b)?q=1,2"],
            ),
            (
                "\"http://x.example/\",'http://y.example/'",
                &["http://x.example/", "http://y.example/"],
            ),
            ("<bob@evil.example>", &["bob@evil.example"]),
            (
                "src=192.0.2.1 dst=198.51.100.2",
                &["src", "192.0.2.1", "dst", "198.51.100.2"],
            ),
            (
                "end of sentence evil.example.",
                &["end", "of", "sentence", "evil.example"],
            ),
            ("*.evil.example 2001:db8:: IPs:", &["evil.example", "2001:db8::", "IPs"]),
            ("C:\\Users\\x\\invoice.pdf", &["C", "Users", "x", "invoice.pdf"]),
        ];
        for (line, expected) in cases {
            assert_eq!(words(line), *expected, "{line:?}");
        }
    }
}
