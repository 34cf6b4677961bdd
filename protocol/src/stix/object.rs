//! One STIX object of an import's input, and how its properties are read.
//!
//! Every accessor checks the JSON type and returns an [`ObjectError`] naming the object and the property when it is
//! wrong, so that the readers in `read` never index blindly into untrusted JSON. Text bound for a dims field is
//! cleaned here too: dims refuses control characters and over-long text on the wire, so an import normalises line
//! breaks, replaces other control characters, and cuts to the limit, with a warning, rather than lose the object.

use serde_json::{Map, Value};

use crate::tlp::Tlp;

use super::error::ObjectError;
use super::extension::{BundleMeta, Ext};
use super::time;

/// One STIX object of the input, with what every object has already read (by `Importer::collect`).
pub(super) struct Obj<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub map: &'a Map<String, Value>,
    /// The dims extension, when present and well formed.
    pub ext: Option<Ext>,
    /// Its bundle-level facts, when the extension describes a bundle.
    pub meta: Option<BundleMeta>,
    /// The strictest TLP among its markings; `None` when it has none.
    pub tlp: Option<Tlp>,
    pub revoked: bool,
    /// The common properties could not be read; the error is already reported.
    pub failed: bool,
}

/// How a JSON value is named in an error message: its kind, and a short excerpt of a string.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => "true or false".to_owned(),
        Value::Number(number) => format!("the number {number}"),
        Value::String(text) => format!("the string {:?}", text.chars().take(40).collect::<String>()),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

impl<'a> Obj<'a> {
    pub fn get(&self, property: &str) -> Option<&'a Value> {
        // STIX forbids null; reading it as absent is the lenient choice that loses nothing.
        self.map.get(property).filter(|value| !value.is_null())
    }

    pub fn wrong(&self, property: &'static str, expected: &'static str, found: &Value) -> ObjectError {
        ObjectError::WrongType {
            id: self.id.to_owned(),
            property,
            expected,
            found: describe(found),
        }
    }

    pub fn string(&self, property: &'static str) -> Result<Option<&'a str>, ObjectError> {
        match self.get(property) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(self.wrong(property, "a string", other)),
        }
    }

    pub fn required(&self, property: &'static str) -> Result<&'a str, ObjectError> {
        self.string(property)?.ok_or_else(|| ObjectError::Missing {
            id: self.id.to_owned(),
            property,
        })
    }

    pub fn time(&self, property: &'static str) -> Result<Option<u64>, ObjectError> {
        self.string(property)?
            .map(|text| {
                time::parse(text).map_err(|error| ObjectError::Timestamp {
                    id: self.id.to_owned(),
                    property,
                    error,
                })
            })
            .transpose()
    }

    pub fn strings(&self, property: &'static str) -> Result<Vec<&'a str>, ObjectError> {
        match self.get(property) {
            None => Ok(Vec::new()),
            Some(Value::Array(list)) => list
                .iter()
                .map(|item| {
                    item.as_str()
                        .ok_or_else(|| self.wrong(property, "a list of strings", item))
                })
                .collect(),
            Some(other) => Err(self.wrong(property, "a list of strings", other)),
        }
    }

    pub fn flag(&self, property: &'static str) -> Result<bool, ObjectError> {
        match self.get(property) {
            None => Ok(false),
            Some(Value::Bool(flag)) => Ok(*flag),
            Some(other) => Err(self.wrong(property, "true or false", other)),
        }
    }

    pub fn part(&self) -> Option<&str> {
        self.meta.as_ref().map(|meta| meta.part.as_str())
    }

    pub fn index(&self) -> Option<u32> {
        self.meta.as_ref().and_then(|meta| meta.index)
    }
}

/// Text made fit for a dims field: CRLF line breaks become LF, other control characters (which dims refuses) become
/// spaces, invisible and bidirectional control characters (refused too, see [`crate::text::INVISIBLE`]) are removed, and text over `max` characters is cut. Surrounding space is kept, so that dims text survives a round trip
/// exactly; text that is nothing but space becomes `None`, since dims fields are never empty. The second value says
/// what was changed, for a warning.
pub(super) fn clean(text: &str, max: usize, multiline: bool) -> (Option<String>, Option<&'static str>) {
    let mut changed = None;
    let normalised: String = text
        .replace("\r\n", "\n")
        .chars()
        .filter_map(|c| {
            if c.is_control() && !(multiline && matches!(c, '\n' | '\t')) {
                changed = Some("control characters replaced by spaces");
                Some(' ')
            } else if crate::text::is_invisible(c) {
                changed = Some("invisible and bidirectional control characters removed");
                None
            } else {
                Some(c)
            }
        })
        .collect();
    if normalised.trim().is_empty() {
        return (None, changed);
    }
    if normalised.chars().count() > max {
        let mut cut: String = normalised.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        return (Some(cut), Some("shortened to the dims limit"));
    }
    (Some(normalised), changed)
}

/// Every id an object refers to: the values of its `*_ref` and `*_refs` properties.
pub(super) fn references(map: &Map<String, Value>) -> impl Iterator<Item = &str> {
    map.iter().flat_map(|(key, value)| {
        let single = key.ends_with("_ref").then(|| value.as_str()).flatten();
        let list = key
            .ends_with("_refs")
            .then(|| value.as_array())
            .flatten()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        single.into_iter().chain(list)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_keeps_good_text_and_fixes_the_rest() {
        assert_eq!(clean("Phishing", 10, false), (Some("Phishing".to_owned()), None));
        assert_eq!(clean("  ", 10, false), (None, None));
        assert_eq!(
            clean(" kept as is\n", 20, true),
            (Some(" kept as is\n".to_owned()), None)
        );
        assert_eq!(clean("a\r\nb", 10, true), (Some("a\nb".to_owned()), None));
        assert_eq!(
            clean("a\nb", 10, false),
            (Some("a b".to_owned()), Some("control characters replaced by spaces"))
        );
        assert_eq!(
            clean("abcdef", 4, false),
            (Some("abc…".to_owned()), Some("shortened to the dims limit"))
        );
        assert_eq!(
            clean("invoice\u{202E}fdp.exe pay\u{200B}pal\u{FEFF}", 40, false),
            (
                Some("invoicefdp.exe paypal".to_owned()),
                Some("invisible and bidirectional control characters removed")
            )
        );
        assert_eq!(
            crate::text::check_line("name", &clean("\u{2067}x\u{2069}", 10, false).0.expect("text"), 10),
            Ok(())
        );
    }
}
