//! Search result entries read from the raw BER that ldap3 hands over, without ever panicking.
//!
//! ldap3's own `SearchEntry::construct` unwraps at every step: a directory (or anything answering on its port) that
//! sends a malformed SearchResultEntry, or a search reference where an entry was expected, would panic the task doing
//! the login. [`parse`] reads the same structure (RFC 4511 §4.5.2) and turns anything unexpected into an error that
//! refuses the login, which keeps the module's rule: a directory that answers nonsense fails closed.
//!
//! ```text
//! SearchResultEntry ::= [APPLICATION 4] SEQUENCE {
//!      objectName      LDAPDN,                       -- OCTET STRING
//!      attributes      PartialAttributeList }        -- SEQUENCE OF SEQUENCE { type OCTET STRING, vals SET OF OCTET STRING }
//! ```
//!
//! Values that are not UTF-8 are dropped (dims reads names, mail addresses, org slugs and DNs, all text); the number
//! dropped is counted so the caller can log it.

use std::collections::HashMap;

use ldap3::ResultEntry;
use ldap3::asn1::{PL, StructureTag, TagClass};

/// The protocol op tags of the messages a search returns besides its result (RFC 4511 §4.5.2, §4.13).
const SEARCH_RESULT_ENTRY: u64 = 4;
const SEARCH_RESULT_REFERENCE: u64 = 19;
const INTERMEDIATE_RESPONSE: u64 = 25;

/// A directory entry as dims uses it: its DN and its text-valued attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The entry's DN as the server sent it.
    pub(crate) dn: String,
    /// Attribute name (as the server spells it) to its UTF-8 values.
    pub(crate) attrs: HashMap<String, Vec<String>>,
    /// How many values were dropped because they are not UTF-8.
    pub(crate) binary_values: usize,
}

/// What one message of a search's answer turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// An entry.
    Entry(Entry),
    /// A search reference (a referral to another server) or an intermediate response: not an entry, and not
    /// followed.
    Skipped(&'static str),
}

/// Reads one message of a search's answer. Never panics: a malformed message is an error naming what is wrong.
pub(crate) fn parse(message: ResultEntry) -> Result<Parsed, String> {
    let tag = message.0;
    if tag.class != TagClass::Application {
        return Err(format!(
            "a search answer with a {:?}-class tag where an entry was expected",
            tag.class
        ));
    }
    match tag.id {
        SEARCH_RESULT_ENTRY => parse_entry(tag).map(Parsed::Entry),
        SEARCH_RESULT_REFERENCE => Ok(Parsed::Skipped("search reference")),
        INTERMEDIATE_RESPONSE => Ok(Parsed::Skipped("intermediate response")),
        other => Err(format!(
            "a search answer with protocol op {other} where an entry (4) was expected"
        )),
    }
}

fn parse_entry(tag: StructureTag) -> Result<Entry, String> {
    let mut parts = constructed(tag, "the entry")?.into_iter();
    let dn = text(next(&mut parts, "the entry's DN")?, "the entry's DN")?;
    let attributes = constructed(next(&mut parts, "the entry's attribute list")?, "the attribute list")?;
    if parts.next().is_some() {
        return Err("the entry has more than a DN and an attribute list".to_owned());
    }
    let mut entry = Entry { dn, ..Entry::default() };
    for attribute in attributes {
        let mut attribute = constructed(attribute, "an attribute")?.into_iter();
        let name = text(next(&mut attribute, "an attribute's type")?, "an attribute's type")?;
        let values = constructed(
            next(&mut attribute, "the values of an attribute")?,
            "the values of an attribute",
        )?;
        let mut texts = Vec::with_capacity(values.len());
        for value in values {
            match String::from_utf8(primitive(value, "an attribute value")?) {
                Ok(value) => texts.push(value),
                Err(_) => entry.binary_values += 1,
            }
        }
        entry.attrs.entry(name).or_default().extend(texts);
    }
    Ok(entry)
}

fn next(parts: &mut impl Iterator<Item = StructureTag>, what: &str) -> Result<StructureTag, String> {
    parts.next().ok_or_else(|| format!("{what} is missing"))
}

fn constructed(tag: StructureTag, what: &str) -> Result<Vec<StructureTag>, String> {
    match tag.payload {
        PL::C(inner) => Ok(inner),
        PL::P(_) => Err(format!("{what} is a primitive value where a sequence was expected")),
    }
}

fn primitive(tag: StructureTag, what: &str) -> Result<Vec<u8>, String> {
    match tag.payload {
        PL::P(bytes) => Ok(bytes),
        PL::C(_) => Err(format!("{what} is a sequence where an octet string was expected")),
    }
}

fn text(tag: StructureTag, what: &str) -> Result<String, String> {
    String::from_utf8(primitive(tag, what)?).map_err(|_| format!("{what} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn octets(bytes: &[u8]) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id: 4,
            payload: PL::P(bytes.to_vec()),
        }
    }

    fn sequence(inner: Vec<StructureTag>) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id: 16,
            payload: PL::C(inner),
        }
    }

    fn op(id: u64, payload: PL) -> ResultEntry {
        ResultEntry::new(StructureTag {
            class: TagClass::Application,
            id,
            payload,
        })
    }

    fn entry(dn: StructureTag, attributes: StructureTag) -> ResultEntry {
        op(SEARCH_RESULT_ENTRY, PL::C(vec![dn, attributes]))
    }

    fn attribute(name: &str, values: &[&[u8]]) -> StructureTag {
        sequence(vec![
            octets(name.as_bytes()),
            StructureTag {
                class: TagClass::Universal,
                id: 17,
                payload: PL::C(values.iter().map(|value| octets(value)).collect()),
            },
        ])
    }

    #[test]
    fn a_well_formed_entry_is_read() {
        let message = entry(
            octets(b"uid=alice,ou=people,dc=dims,dc=test"),
            sequence(vec![
                attribute("uid", &[b"alice"]),
                attribute("memberOf", &[b"cn=a,dc=x", b"cn=b,dc=x"]),
                attribute("jpegPhoto", &[&[0xff, 0xd8, 0xff]]),
            ]),
        );
        let Ok(Parsed::Entry(entry)) = parse(message) else {
            panic!("a well-formed entry must parse");
        };
        assert_eq!(entry.dn, "uid=alice,ou=people,dc=dims,dc=test");
        assert_eq!(entry.attrs["uid"], ["alice"]);
        assert_eq!(entry.attrs["memberOf"], ["cn=a,dc=x", "cn=b,dc=x"]);
        assert_eq!(entry.attrs["jpegPhoto"], Vec::<String>::new());
        assert_eq!(entry.binary_values, 1);
    }

    #[test]
    fn references_and_intermediate_responses_are_skipped() {
        let reference = op(SEARCH_RESULT_REFERENCE, PL::C(vec![octets(b"ldap://elsewhere/")]));
        assert_eq!(parse(reference), Ok(Parsed::Skipped("search reference")));
        let intermediate = op(INTERMEDIATE_RESPONSE, PL::C(vec![]));
        assert_eq!(parse(intermediate), Ok(Parsed::Skipped("intermediate response")));
    }

    /// Every shape that made ldap3's `SearchEntry::construct` panic is an error here.
    #[test]
    fn malformed_entries_are_errors_not_panics() {
        let good_attributes = || sequence(vec![attribute("uid", &[b"alice"])]);
        let cases: Vec<(&str, ResultEntry)> = vec![
            ("an unknown op", op(7, PL::C(vec![]))),
            (
                "a context-class tag",
                ResultEntry::new(StructureTag {
                    class: TagClass::Context,
                    id: 4,
                    payload: PL::C(vec![]),
                }),
            ),
            ("a primitive entry", op(SEARCH_RESULT_ENTRY, PL::P(b"x".to_vec()))),
            ("an empty entry", op(SEARCH_RESULT_ENTRY, PL::C(vec![]))),
            (
                "no attribute list",
                op(SEARCH_RESULT_ENTRY, PL::C(vec![octets(b"dc=x")])),
            ),
            ("a DN that is a sequence", entry(sequence(vec![]), good_attributes())),
            (
                "a DN that is not UTF-8",
                entry(octets(&[0xc3, 0x28]), good_attributes()),
            ),
            ("attributes that are primitive", entry(octets(b"dc=x"), octets(b"uid"))),
            (
                "an attribute that is primitive",
                entry(octets(b"dc=x"), sequence(vec![octets(b"uid")])),
            ),
            (
                "an attribute without values",
                entry(octets(b"dc=x"), sequence(vec![sequence(vec![octets(b"uid")])])),
            ),
            (
                "an attribute type that is a sequence",
                entry(
                    octets(b"dc=x"),
                    sequence(vec![sequence(vec![sequence(vec![]), sequence(vec![])])]),
                ),
            ),
            (
                "values that are primitive",
                entry(
                    octets(b"dc=x"),
                    sequence(vec![sequence(vec![octets(b"uid"), octets(b"alice")])]),
                ),
            ),
            (
                "a value that is a sequence",
                entry(
                    octets(b"dc=x"),
                    sequence(vec![sequence(vec![octets(b"uid"), sequence(vec![sequence(vec![])])])]),
                ),
            ),
            (
                "a third part",
                op(
                    SEARCH_RESULT_ENTRY,
                    PL::C(vec![octets(b"dc=x"), good_attributes(), octets(b"extra")]),
                ),
            ),
        ];
        for (what, message) in cases {
            assert!(parse(message).is_err(), "{what} must be refused");
        }
    }
}
