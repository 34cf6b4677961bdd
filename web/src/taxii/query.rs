//! The query parameters of TAXII's object routes (TAXII 2.1 §3.4): `added_after`, `limit`, `next`, `match[id]`,
//! `match[type]`, `match[version]` and `match[spec_version]`, each `match[...]` a comma-separated list.
//!
//! Untrusted text, so everything is bounded: at most [`MAX_MATCH_VALUES`] values per filter, each of a checked shape,
//! a cursor of at most [`MAX_NEXT_CHARS`] URL-safe characters (the node opens it; this module checks only its shape),
//! and an unknown parameter refused by name, so a misspelt filter never silently matches everything. Fuzzed with the
//! node's cursor decoder (`fuzz/fuzz_targets/taxii_query.rs`).

use super::errors::TaxiiError;
use super::time::{format_us, parse_us};

/// The most objects a page holds; a larger `limit` is lowered to it (TAXII lets a server return fewer).
pub const MAX_LIMIT: usize = 1000;
/// The page size when the request sets none.
pub const DEFAULT_LIMIT: usize = 100;
/// The most values one `match[...]` filter takes.
pub const MAX_MATCH_VALUES: usize = 100;
/// The longest `next` taken.
pub const MAX_NEXT_CHARS: usize = 256;

/// Which versions of each object a request asks for (`match[version]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Versions {
    /// The latest version of each object (the default).
    #[default]
    Last,
    /// The earliest version of each object.
    First,
    /// Every version.
    All,
    /// Exactly these versions (`modified` times, µs), and any of `last`/`first` also named.
    Some {
        /// The times named.
        at_us: Vec<u64>,
        /// `last` was named too.
        last: bool,
        /// `first` was named too.
        first: bool,
    },
}

/// A parsed object query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectQuery {
    /// Only objects added after this (µs since the epoch, the node's arrival time).
    pub added_after_us: Option<u64>,
    /// At most this many objects (1 to [`MAX_LIMIT`]).
    pub limit: usize,
    /// Where the previous page stopped: the `next` the node gave, unopened.
    pub next: Option<String>,
    /// Only these STIX ids (empty: any).
    pub ids: Vec<String>,
    /// Only these STIX types (empty: any).
    pub types: Vec<String>,
    /// Which versions.
    pub versions: Versions,
    /// Only these STIX spec versions (empty: any).
    pub spec_versions: Vec<String>,
}

impl Default for ObjectQuery {
    fn default() -> Self {
        Self {
            added_after_us: None,
            limit: DEFAULT_LIMIT,
            next: None,
            ids: Vec::new(),
            types: Vec::new(),
            versions: Versions::Last,
            spec_versions: Vec::new(),
        }
    }
}

impl ObjectQuery {
    /// Whether `version` (an object's `modified`, µs) is named by a [`Versions::Some`] filter; `false` for the
    /// others, which the node applies by position.
    pub fn names_version(&self, version_us: u64) -> bool {
        matches!(&self.versions, Versions::Some { at_us, .. } if at_us.contains(&version_us))
    }
}

/// What a route takes besides the common parameters: the object routes take all of them, an object's own route
/// and its versions no `match[id]` (the id is in the path), the manifest all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `objects/` and `manifest/`.
    Objects,
    /// `objects/{id}/`.
    Object,
    /// `objects/{id}/versions/` (takes no `match[...]` but `spec_version`).
    Versions,
}

/// Parses the query string of a TAXII object route. Errors name the parameter.
pub fn parse(query: Option<&str>, route: Route) -> Result<ObjectQuery, TaxiiError> {
    let mut parsed = ObjectQuery::default();
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let shown = crate::api::errors::shorten(&name, 40);
        if seen.iter().any(|before| *before == name) {
            return Err(TaxiiError::bad_request(format!("{shown} is given more than once")));
        }
        let allowed = match name.as_ref() {
            "added_after" | "limit" | "next" => true,
            "match[spec_version]" => true,
            "match[version]" => route != Route::Versions,
            "match[type]" | "match[id]" => route == Route::Objects,
            _ => false,
        };
        if !allowed {
            return Err(TaxiiError::bad_request(format!(
                "{shown} is not a parameter of this route: it takes added_after, limit, next{}",
                match route {
                    Route::Objects => ", match[id], match[type], match[version] and match[spec_version]",
                    Route::Object => ", match[version] and match[spec_version]",
                    Route::Versions => " and match[spec_version]",
                }
            )));
        }
        seen.push(name.clone().into_owned());
        match name.as_ref() {
            "added_after" => {
                parsed.added_after_us = Some(parse_us(&value).ok_or_else(|| {
                    TaxiiError::bad_request(format!(
                        "added_after: {:?} is not a timestamp; write it as {}",
                        crate::api::errors::shorten(&value, 40),
                        format_us(0)
                    ))
                })?);
            }
            "limit" => {
                let limit: usize = value
                    .parse()
                    .ok()
                    .filter(|limit| *limit > 0)
                    .ok_or_else(|| TaxiiError::bad_request("limit: must be a positive whole number"))?;
                parsed.limit = limit.min(MAX_LIMIT);
            }
            "next" => {
                let ok = !value.is_empty()
                    && value.len() <= MAX_NEXT_CHARS
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    return Err(TaxiiError::bad_request(
                        "next: not a value this node gave; pass the `next` of the previous page unchanged",
                    ));
                }
                parsed.next = Some(value.into_owned());
            }
            "match[id]" => parsed.ids = list(&name, &value, is_stix_id)?,
            "match[type]" => parsed.types = list(&name, &value, is_stix_type)?,
            "match[spec_version]" => parsed.spec_versions = list(&name, &value, |v| v.len() <= 8)?,
            "match[version]" => parsed.versions = versions(&value)?,
            _ => {}
        }
    }
    Ok(parsed)
}

fn list(name: &str, value: &str, check: impl Fn(&str) -> bool) -> Result<Vec<String>, TaxiiError> {
    let values: Vec<&str> = value.split(',').collect();
    if values.len() > MAX_MATCH_VALUES {
        return Err(TaxiiError::bad_request(format!(
            "{name}: at most {MAX_MATCH_VALUES} values"
        )));
    }
    values
        .into_iter()
        .map(|one| {
            if one.is_empty() || !check(one) {
                Err(TaxiiError::bad_request(format!(
                    "{name}: {:?} is not a value this filter takes",
                    crate::api::errors::shorten(one, 80)
                )))
            } else {
                Ok(one.to_owned())
            }
        })
        .collect()
}

fn versions(value: &str) -> Result<Versions, TaxiiError> {
    let (mut at_us, mut last, mut first) = (Vec::new(), false, false);
    for one in list("match[version]", value, |_| true)? {
        match one.as_str() {
            "all" => return Ok(Versions::All),
            "last" => last = true,
            "first" => first = true,
            time => at_us.push(parse_us(time).ok_or_else(|| {
                TaxiiError::bad_request(format!(
                    "match[version]: {:?} is not last, first, all or a timestamp",
                    crate::api::errors::shorten(time, 40)
                ))
            })?),
        }
    }
    Ok(match (at_us.is_empty(), last, first) {
        (true, true, false) => Versions::Last,
        (true, false, true) => Versions::First,
        _ => Versions::Some { at_us, last, first },
    })
}

/// `type--uuid`, as STIX writes ids.
pub fn is_stix_id(text: &str) -> bool {
    let Some((kind, uuid)) = text.split_once("--") else {
        return false;
    };
    is_stix_type(kind)
        && uuid.len() == 36
        && uuid.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

/// A STIX type name: lowercase letters, digits and hyphens, 3 to 250 characters.
pub fn is_stix_type(text: &str) -> bool {
    (3..=250).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";

    fn ok(query: &str) -> ObjectQuery {
        parse(Some(query), Route::Objects).unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    fn refused(query: &str, route: Route, names: &str) {
        let error = parse(Some(query), route).expect_err(query);
        assert!(error.body().description.contains(names), "{query}: {error}");
    }

    #[test]
    fn parameters_are_read() {
        assert_eq!(ok(""), ObjectQuery::default());
        let q = ok(&format!(
            "added_after=2026-12-08T00:00:00.000001Z&limit=5000&match[type]=indicator,report&match[id]={ID}\
             &match[spec_version]=2.1&next=abc_-9"
        ));
        assert_eq!(
            q.added_after_us,
            Some(parse_us("2026-12-08T00:00:00Z").expect("a time") + 1)
        );
        assert_eq!(q.limit, MAX_LIMIT, "a larger limit is lowered");
        assert_eq!(q.types, ["indicator", "report"]);
        assert_eq!(q.ids, [ID]);
        assert_eq!(q.next.as_deref(), Some("abc_-9"));
        assert_eq!(ok("match[version]=all").versions, Versions::All);
        assert_eq!(ok("match[version]=first").versions, Versions::First);
        assert_eq!(ok("match%5Bversion%5D=last").versions, Versions::Last);
        let q = ok("match[version]=2026-01-01T00:00:00.000Z,last");
        assert!(q.names_version(parse_us("2026-01-01T00:00:00Z").expect("a time")));
    }

    #[test]
    fn bad_parameters_are_named() {
        refused("limit=0", Route::Objects, "limit");
        refused("limit=-3", Route::Objects, "limit");
        refused("added_after=yesterday", Route::Objects, "added_after");
        refused("match[colour]=red", Route::Objects, "match[colour]");
        refused("match[id]=nope", Route::Objects, "match[id]");
        refused("match[type]=Indicator", Route::Objects, "match[type]");
        refused("match[id]=x", Route::Object, "match[id]");
        refused("match[version]=all", Route::Versions, "match[version]");
        refused("next=a.b", Route::Objects, "next");
        refused("limit=1&limit=2", Route::Objects, "more than once");
        refused(
            &format!("match[type]={}", vec!["indicator"; 101].join(",")),
            Route::Objects,
            "at most",
        );
    }
}
