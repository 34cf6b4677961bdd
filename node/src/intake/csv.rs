//! CSV import: a header row naming the columns, then one indicator per row.
//!
//! Columns (names are matched without regard to case, with spaces and `-` read as `_`):
//!
//! * `value` or `indicator` (required): the indicator; it may be defanged.
//! * `type` or `kind`: an [`IndicatorKind`](dims_protocol::IndicatorKind) name, or MISP's `ip-src`, `ip-dst`, `hostname`, `email-src`,
//!   `email-dst`, `AS`, or STIX's `ipv4-addr`, `ipv6-addr`, `domain-name`, `email-addr`. Empty or absent: detected.
//! * `labels`, `label`, `tags` or `tag`: labels separated by `;` or `|`.
//! * `confidence`: a whole number from 0 to 100.
//! * `valid_from`, `valid_until`: RFC 3339 (`2026-11-01T00:00:00Z`), a date (`2026-11-01`, midnight UTC), or
//!   milliseconds since the epoch. A number small enough to be seconds is refused rather than read as 1970.
//! * `description` or `comment`: free text. `name`: a short name.
//!
//! Other columns are **ignored with a warning** that names them, as MISP ignores columns it does not know: exports
//! from other tools carry many (`uuid`, `category`, `to_ids`), and refusing them would make every foreign file fail.
//! [`CsvOptions::strict_columns`] turns the warning into an error for automation that wants to be told.
//!
//! The delimiter is `,`, or `;` or a tab when the header line holds more of those than commas (spreadsheets in many
//! locales write `;`). Lines starting with `#` are comments, as in most public feeds. Empty cells mean "absent".
//!
//! **Invariant: all or nothing.** One bad row (with its line number and column named) refuses the whole import, so a
//! half-read file never becomes a half-published bundle, unless [`CsvOptions::skip_bad_rows`] asks to keep the good
//! rows and report the bad. Values are detected with the CSV rules of [`detect`](mod@super::detect) (a cell is
//! declared to hold an indicator, so `evil.zip` is a domain here), deduplicated (the first row wins, later ones are
//! reported), and every indicator leaves normalised ([`Indicator::normalise`]) and checked ([`Indicator::check`]).

use std::collections::HashMap;
use std::fmt;

use dims_protocol::content::MAX_INDICATORS;
use dims_protocol::{FieldError, Indicator, IndicatorValue};

use super::cell::{self, TYPE_EXPECTED};
use super::warninglist::{self, Warning};

/// The columns dims reads, for messages.
pub const ACCEPTED_COLUMNS: &str = "value (or indicator), type (or kind), labels (or tags), confidence, valid_from, \
                                    valid_until, description (or comment), name";

/// The most bad rows one report lists; the rest are only counted.
pub const MAX_REPORTED_ROWS: usize = 1_000;

/// CSV import settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// The most indicators to accept; a file with more is refused. Defaults to the most one bundle may carry
    /// ([`MAX_INDICATORS`]); feed pulls that split into several bundles raise it.
    pub max: usize,
    /// Keep the good rows and report the bad ones, instead of refusing the whole file.
    pub skip_bad_rows: bool,
    /// Refuse unknown columns instead of ignoring them with a warning.
    pub strict_columns: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            max: MAX_INDICATORS,
            skip_bad_rows: false,
            strict_columns: false,
        }
    }
}

/// One bad row: its line (from 1, as an editor counts) and what is wrong in which column.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct RowError {
    /// The line the row starts on.
    pub line: usize,
    /// The column (as the header names it), the value and what would be accepted.
    pub error: FieldError,
}

/// Something the importer noticed but did not refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CsvWarning {
    /// Header columns that dims does not read.
    IgnoredColumns {
        /// How many.
        count: usize,
        /// The first few names, as written but shortened (a header may name a million columns).
        first: Vec<String>,
    },
    /// A value on a warninglist (DESIGN §10: flagged, not dropped).
    Listed {
        /// The row's line.
        line: usize,
        /// The value.
        value: IndicatorValue,
        /// The list.
        warning: Warning,
    },
    /// A value already imported from an earlier row; this row was dropped.
    Duplicate {
        /// The row's line.
        line: usize,
        /// The line of the row that was kept.
        first_line: usize,
        /// The value.
        value: IndicatorValue,
    },
}

impl fmt::Display for CsvWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsvWarning::IgnoredColumns { count, first } => write!(
                f,
                "ignored {}: dims reads only {ACCEPTED_COLUMNS}",
                ColumnList { count: *count, first }
            ),
            CsvWarning::Listed { line, value, warning } => write!(f, "line {line}: {value} is {warning}"),
            CsvWarning::Duplicate {
                line,
                first_line,
                value,
            } => write!(f, "line {line}: {value} repeats line {first_line}, which was kept"),
        }
    }
}

/// What a CSV import produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CsvOutcome {
    /// The indicators, normalised and checked, in file order.
    pub indicators: Vec<Indicator>,
    /// Ignored columns, warninglisted values, dropped duplicates.
    pub warnings: Vec<CsvWarning>,
    /// With [`CsvOptions::skip_bad_rows`]: the bad rows left out, at most [`MAX_REPORTED_ROWS`].
    pub skipped: Vec<RowError>,
    /// How many bad rows were left out in all.
    pub skipped_rows: usize,
    /// How many rows repeated an earlier value.
    pub duplicates: usize,
}

/// Why a CSV import was refused. Nothing of a refused file is imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// No header row at all.
    #[error("the CSV has no header row: its first line must name the columns, e.g. value,type,labels")]
    NoHeader,
    /// The header is not UTF-8.
    #[error("the header row is not UTF-8: save the file as UTF-8")]
    HeaderNotUtf8,
    /// No column holds the values.
    #[error(
        "the header names no value column (it has {found}): call the column of indicators `value` or `indicator`, \
         or import a plain list of values as freetext"
    )]
    NoValueColumn {
        /// The header's columns, quoted.
        found: String,
    },
    /// Two columns mean the same thing.
    #[error("columns {first:?} and {second:?} both mean {meaning}: keep one of them")]
    DuplicateColumn {
        /// What both mean.
        meaning: &'static str,
        /// The first one's name.
        first: String,
        /// The second one's name.
        second: String,
    },
    /// Columns dims does not read, with [`CsvOptions::strict_columns`].
    #[error("unknown {names}: rename or remove them; dims reads {accepted}", accepted = ACCEPTED_COLUMNS)]
    UnknownColumns {
        /// Their names, quoted.
        names: String,
    },
    /// The CSV reader gave up.
    #[error("line {line}: {message}: check the quoting of that line")]
    Unreadable {
        /// Where.
        line: usize,
        /// The reader's words.
        message: String,
    },
    /// More indicators than allowed.
    #[error("more than {max} indicators: split the file into several imports")]
    TooMany {
        /// The cap.
        max: usize,
    },
    /// Some rows are bad; all are refused.
    #[error("{}", bad_rows_message(rows, *total))]
    BadRows {
        /// The bad rows, at most [`MAX_REPORTED_ROWS`].
        rows: Vec<RowError>,
        /// How many rows were bad in all.
        total: usize,
    },
}

fn bad_rows_message(rows: &[RowError], total: usize) -> String {
    let what = if total == 1 { "1 bad row" } else { "bad rows" };
    let count = if total == 1 { String::new() } else { format!("{total} ") };
    match rows.first() {
        Some(first) => format!(
            "{count}{what}, nothing imported (first: {first}): correct them, or skip bad rows to import the rest"
        ),
        None => format!("{count}{what}, nothing imported"),
    }
}

/// How many column names a message repeats, and how many characters of each: a header is input, and may name a
/// million columns or one of a megabyte, while a message stays a line.
const SHOWN_COLUMNS: usize = 5;
const SHOWN_NAME_CHARS: usize = 40;

/// Column names for a message: `columns "a", "b"`, or past [`SHOWN_COLUMNS`] a count and the first few.
fn quoted_list(names: &[String]) -> String {
    ColumnList {
        count: names.len(),
        first: &shown_names(names),
    }
    .to_string()
}

/// The first [`SHOWN_COLUMNS`] names, each cut to [`SHOWN_NAME_CHARS`].
fn shown_names(names: &[String]) -> Vec<String> {
    names
        .iter()
        .take(SHOWN_COLUMNS)
        .map(|name| {
            let mut shown: String = name.chars().take(SHOWN_NAME_CHARS).collect();
            if shown.len() < name.len() {
                shown.push('…');
            }
            shown
        })
        .collect()
}

/// `count` columns of which `first` are named.
struct ColumnList<'a> {
    count: usize,
    first: &'a [String],
}

impl fmt::Display for ColumnList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = self
            .first
            .iter()
            .map(|name| format!("{name:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        if self.count <= self.first.len() {
            write!(f, "columns {quoted}")
        } else {
            write!(
                f,
                "{} columns ({quoted} and {} more)",
                thousands(self.count),
                thousands(self.count - self.first.len())
            )
        }
    }
}

/// `1234567` as `1,234,567`.
fn thousands(number: usize) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A column dims reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Value,
    Kind,
    Labels,
    Confidence,
    ValidFrom,
    ValidUntil,
    Description,
    Name,
}

impl Column {
    const COUNT: usize = 8;

    fn from_header(name: &str) -> Option<Column> {
        let key = name.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        Some(match key.as_str() {
            "value" | "indicator" => Column::Value,
            "type" | "kind" => Column::Kind,
            "labels" | "label" | "tags" | "tag" => Column::Labels,
            "confidence" => Column::Confidence,
            "valid_from" => Column::ValidFrom,
            "valid_until" => Column::ValidUntil,
            "description" | "comment" => Column::Description,
            "name" => Column::Name,
            _ => return None,
        })
    }

    /// The column an [`Indicator::check`] error field path starts with.
    fn from_field(field: &str) -> Option<Column> {
        Some(match field {
            "value" => Column::Value,
            "labels" => Column::Labels,
            "confidence" => Column::Confidence,
            "valid_from" => Column::ValidFrom,
            "valid_until" => Column::ValidUntil,
            "description" => Column::Description,
            "name" => Column::Name,
            _ => return None,
        })
    }

    fn meaning(self) -> &'static str {
        match self {
            Column::Value => "value",
            Column::Kind => "type",
            Column::Labels => "labels",
            Column::Confidence => "confidence",
            Column::ValidFrom => "valid_from",
            Column::ValidUntil => "valid_until",
            Column::Description => "description",
            Column::Name => "name",
        }
    }
}

/// The header: where each column dims reads is, and what the file calls it.
struct Header {
    positions: [Option<usize>; Column::COUNT],
    names: Vec<String>,
}

impl Header {
    fn position(&self, column: Column) -> Option<usize> {
        self.positions[column as usize]
    }

    /// The column's name as the file writes it.
    fn name(&self, column: Column) -> &str {
        self.position(column)
            .and_then(|at| self.names.get(at))
            .map_or(column.meaning(), String::as_str)
    }
}

/// Reads indicators from CSV `bytes`. See the module documentation for the columns and the rules.
///
/// ```
/// use dims_node::intake::{csv, CsvOptions};
/// # fn main() -> Result<(), dims_node::intake::CsvError> {
/// let outcome = csv(b"value,type,labels\nevil[.]example,,phishing;payroll\n", CsvOptions::default())?;
/// assert_eq!(outcome.indicators[0].value.to_string(), "evil.example");
/// assert_eq!(outcome.indicators[0].labels, ["payroll", "phishing"]);
/// # Ok(())
/// # }
/// ```
pub fn csv(bytes: &[u8], options: CsvOptions) -> Result<CsvOutcome, CsvError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(::csv::Trim::All)
        .comment(Some(b'#'))
        .delimiter(sniff_delimiter(bytes))
        .from_reader(bytes);
    let header_record = reader.byte_headers().map_err(|e| unreadable(&e, 1))?.clone();
    let mut outcome = CsvOutcome::default();
    let header = read_header(&header_record, options, &mut outcome)?;

    let mut first_lines: HashMap<IndicatorValue, usize> = HashMap::new();
    let mut bad: Vec<RowError> = Vec::new();
    let mut bad_total = 0;
    for record in reader.byte_records() {
        let record = record.map_err(|e| unreadable(&e, 0))?;
        let line = record
            .position()
            .map_or(0, |position| usize::try_from(position.line()).unwrap_or(usize::MAX));
        match read_row(&header, &record, line) {
            Ok(indicator) => {
                if let Some(&first_line) = first_lines.get(&indicator.value) {
                    outcome.duplicates += 1;
                    outcome.warnings.push(CsvWarning::Duplicate {
                        line,
                        first_line,
                        value: indicator.value,
                    });
                    continue;
                }
                if outcome.indicators.len() >= options.max {
                    return Err(CsvError::TooMany { max: options.max });
                }
                first_lines.insert(indicator.value.clone(), line);
                outcome
                    .warnings
                    .extend(
                        warninglist::check(&indicator.value)
                            .into_iter()
                            .map(|warning| CsvWarning::Listed {
                                line,
                                value: indicator.value.clone(),
                                warning,
                            }),
                    );
                outcome.indicators.push(indicator);
            }
            Err(error) => {
                bad_total += 1;
                if bad.len() < MAX_REPORTED_ROWS {
                    bad.push(error);
                }
            }
        }
    }
    if bad_total > 0 {
        if !options.skip_bad_rows {
            return Err(CsvError::BadRows {
                rows: bad,
                total: bad_total,
            });
        }
        outcome.skipped = bad;
        outcome.skipped_rows = bad_total;
    }
    Ok(outcome)
}

fn unreadable(error: &::csv::Error, default_line: usize) -> CsvError {
    let line = error.position().map_or(default_line, |position| {
        usize::try_from(position.line()).unwrap_or(usize::MAX)
    });
    CsvError::Unreadable {
        line,
        message: error.to_string(),
    }
}

/// `,` unless the first line that is not a comment holds more `;` or tabs than commas.
fn sniff_delimiter(bytes: &[u8]) -> u8 {
    let first = bytes
        .split(|&b| b == b'\n')
        .find(|line| !line.starts_with(b"#") && !line.iter().all(u8::is_ascii_whitespace))
        .unwrap_or_default();
    let count = |delimiter: u8| first.iter().filter(|&&b| b == delimiter).count();
    let commas = count(b',');
    [b';', b'\t']
        .into_iter()
        .map(|delimiter| (count(delimiter), delimiter))
        .filter(|&(found, _)| found > commas)
        .max_by_key(|&(found, _)| found)
        .map_or(b',', |(_, delimiter)| delimiter)
}

fn read_header(record: &::csv::ByteRecord, options: CsvOptions, outcome: &mut CsvOutcome) -> Result<Header, CsvError> {
    if record.iter().all(<[u8]>::is_empty) {
        return Err(CsvError::NoHeader);
    }
    let names: Vec<String> = record
        .iter()
        .map(|field| std::str::from_utf8(field).map(str::to_owned))
        .collect::<Result<_, _>>()
        .map_err(|_| CsvError::HeaderNotUtf8)?;
    let mut positions = [None; Column::COUNT];
    let mut unknown = Vec::new();
    for (at, name) in names.iter().enumerate() {
        let Some(column) = Column::from_header(name) else {
            unknown.push(name.clone());
            continue;
        };
        if let Some(first) = positions[column as usize] {
            return Err(CsvError::DuplicateColumn {
                meaning: column.meaning(),
                first: names.get(first).cloned().unwrap_or_default(),
                second: name.clone(),
            });
        }
        positions[column as usize] = Some(at);
    }
    if positions[Column::Value as usize].is_none() {
        return Err(CsvError::NoValueColumn {
            found: quoted_list(&names),
        });
    }
    if !unknown.is_empty() {
        if options.strict_columns {
            return Err(CsvError::UnknownColumns {
                names: quoted_list(&unknown),
            });
        }
        outcome.warnings.push(CsvWarning::IgnoredColumns {
            count: unknown.len(),
            first: shown_names(&unknown),
        });
    }
    Ok(Header { positions, names })
}

/// One row's cells as text, keyed by column.
struct Row<'a> {
    header: &'a Header,
    cells: Vec<&'a str>,
}

impl Row<'_> {
    /// The trimmed cell of `column`, or `None` when the column is absent or the cell empty.
    fn get(&self, column: Column) -> Option<&str> {
        let at = self.header.position(column)?;
        self.cells.get(at).copied().filter(|cell| !cell.is_empty())
    }

    fn error(&self, column: Column, value: &str, expected: impl Into<String>) -> FieldError {
        FieldError::new(self.header.name(column), value, expected)
    }
}

fn read_row(header: &Header, record: &::csv::ByteRecord, line: usize) -> Result<Indicator, RowError> {
    let fail = |error: FieldError| RowError { line, error };
    if record.len() != header.names.len() {
        return Err(fail(FieldError::new(
            "row",
            &match record.len() {
                1 => "1 field".to_owned(),
                count => format!("{count} fields"),
            },
            format!(
                "{} fields, as many as the header names (quote values that contain the delimiter)",
                header.names.len()
            ),
        )));
    }
    let mut cells = Vec::with_capacity(record.len());
    for (at, field) in record.iter().enumerate() {
        let text = std::str::from_utf8(field).map_err(|_| {
            let name = header.names.get(at).map_or("cell", String::as_str);
            fail(FieldError::new(
                name,
                &String::from_utf8_lossy(field),
                "UTF-8 text: save the file as UTF-8",
            ))
        })?;
        cells.push(text);
    }
    let row = Row { header, cells };
    build_indicator(&row).map_err(fail)
}

fn build_indicator(row: &Row<'_>) -> Result<Indicator, FieldError> {
    let text = row
        .get(Column::Value)
        .ok_or_else(|| row.error(Column::Value, "", "a value: fill it in or delete the row"))?;
    let mut indicator = Indicator::new(read_value(row, text)?);
    if let Some(labels) = row.get(Column::Labels) {
        indicator.labels = labels
            .split([';', '|'])
            .map(str::trim)
            .filter(|label| !label.is_empty())
            .map(str::to_owned)
            .collect();
    }
    if let Some(confidence) = row.get(Column::Confidence) {
        indicator.confidence = Some(
            confidence
                .parse::<u8>()
                .ok()
                .filter(|&number| number <= 100)
                .ok_or_else(|| row.error(Column::Confidence, confidence, "a whole number from 0 to 100"))?,
        );
    }
    for (column, slot) in [
        (Column::ValidFrom, &mut indicator.valid_from),
        (Column::ValidUntil, &mut indicator.valid_until),
    ] {
        if let Some(time) = row.get(column) {
            *slot = Some(cell::time_ms(time).map_err(|expected| row.error(column, time, expected))?);
        }
    }
    // Quoted cells keep the file's line ends; a description allows `\n` but no other control character.
    indicator.description = row.get(Column::Description).map(|text| text.replace("\r\n", "\n"));
    indicator.name = row.get(Column::Name).map(str::to_owned);
    indicator.normalise();
    indicator.check().map_err(|error| rename_field(row.header, error))?;
    Ok(indicator)
}

fn read_value(row: &Row<'_>, text: &str) -> Result<IndicatorValue, FieldError> {
    // The cell's own errors name `value` or `type`: name the file's columns instead.
    cell::value(text, row.get(Column::Kind)).map_err(|error| match error.field.as_str() {
        "type" => row.error(Column::Kind, row.get(Column::Kind).unwrap_or_default(), TYPE_EXPECTED),
        _ => row.error(Column::Value, text, error.expected),
    })
}

/// Names the file's column in an [`Indicator::check`] error (`labels[2]` becomes `tags[2]` in a file with `tags`).
fn rename_field(header: &Header, mut error: FieldError) -> FieldError {
    let split = error.field.find(['.', '[']).unwrap_or(error.field.len());
    if let Some(column) = Column::from_field(&error.field[..split]) {
        error.field = format!("{}{}", header.name(column), &error.field[split..]);
    }
    error
}
