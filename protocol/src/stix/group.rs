//! Gathering what an import reads into the bodies it will make.
//!
//! Each report, course of action and incident makes a body of its own. Objects that carry the dims extension go
//! back into the dims bundle they came from. Everything else (plain indicators, plain sightings) is pooled by marking
//! into bodies of at most [`MAX_INDICATORS`] indicators or [`MAX_SIGHTINGS`] sightings, because a body has one
//! marking and a bounded size. Bodies keep the order in which their first piece appeared in the input.

use std::collections::BTreeMap;

use crate::content::{Content, MAX_INDICATORS, MAX_SIGHTINGS, Sighting};
use crate::ids::BundleId;
use crate::indicator::Indicator;
use crate::tlp::Tlp;

use super::extension::BundleMeta;

/// What one piece of input contributes to a body. Indicators and sightings carry their position in their dims
/// bundle, when the extension states it, so that the body keeps the exported order.
pub(super) enum Partial {
    Indicators(Vec<(Option<u32>, Indicator)>),
    Sightings(Vec<(Option<u32>, Sighting)>),
    Whole(Content),
}

impl Partial {
    fn len(&self) -> usize {
        match self {
            Partial::Indicators(list) => list.len(),
            Partial::Sightings(list) => list.len(),
            Partial::Whole(_) => 1,
        }
    }

    fn limit(&self) -> usize {
        match self {
            Partial::Sightings(_) => MAX_SIGHTINGS,
            Partial::Indicators(_) | Partial::Whole(_) => MAX_INDICATORS,
        }
    }
}

/// One piece of input: a container with what it claimed, a plain indicator, or a sighting.
pub(super) struct Piece {
    /// The input position of the object the piece is named after.
    pub at: usize,
    /// The dims bundle it came from, if it says.
    pub meta: Option<BundleMeta>,
    /// Its STIX `created`.
    pub created: Option<u64>,
    /// The strictest marking of the objects it was made from.
    pub tlp: Tlp,
    /// The ids of the objects it was made from.
    pub sources: Vec<String>,
    pub partial: Partial,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    /// The objects of one dims bundle.
    Bundle(BundleId),
    /// One report, course of action or incident.
    Own(usize),
    /// Plain indicators (`false`) or sightings (`true`) of one marking, in chunks of the bundle limit.
    Pool(bool, Tlp, usize),
}

/// The makings of one body.
pub(super) struct Group {
    pub sources: Vec<String>,
    pub tlp: Tlp,
    pub meta: Option<BundleMeta>,
    pub created: Option<u64>,
    pub content: Option<Partial>,
    /// Set when pieces of one dims bundle cannot form one body.
    pub inconsistent: Option<&'static str>,
}

/// Groups in input order, found by key.
#[derive(Default)]
pub(super) struct Groups {
    list: Vec<Group>,
    index: BTreeMap<Key, usize>,
    /// The chunk each pool is filling.
    chunks: BTreeMap<(bool, Tlp), usize>,
}

impl Groups {
    pub fn add(&mut self, piece: Piece) {
        let key = match (&piece.meta, &piece.partial) {
            (Some(meta), _) => Key::Bundle(meta.bundle),
            (None, Partial::Whole(_)) => Key::Own(piece.at),
            (None, partial) => {
                let sightings = matches!(partial, Partial::Sightings(_));
                let chunk = self.chunks.entry((sightings, piece.tlp)).or_insert(0);
                let full = self
                    .index
                    .get(&Key::Pool(sightings, piece.tlp, *chunk))
                    .and_then(|&slot| self.list.get(slot))
                    .and_then(|group| group.content.as_ref())
                    .is_some_and(|content| content.len() + partial.len() > partial.limit());
                if full {
                    *chunk += 1;
                }
                Key::Pool(sightings, piece.tlp, *chunk)
            }
        };
        let slot = *self.index.entry(key).or_insert_with(|| {
            self.list.push(Group {
                sources: Vec::new(),
                tlp: piece.tlp,
                meta: piece.meta.clone(),
                created: piece.created,
                content: None,
                inconsistent: None,
            });
            self.list.len() - 1
        });
        let Some(group) = self.list.get_mut(slot) else { return };
        group.tlp = group.tlp.max(piece.tlp);
        group.sources.extend(piece.sources);
        group.content = match (group.content.take(), piece.partial) {
            (None, partial) => Some(partial),
            (Some(Partial::Indicators(mut list)), Partial::Indicators(more)) => {
                list.extend(more);
                Some(Partial::Indicators(list))
            }
            (Some(Partial::Sightings(mut list)), Partial::Sightings(more)) => {
                list.extend(more);
                Some(Partial::Sightings(list))
            }
            (Some(existing), _) => {
                group.inconsistent = Some("they would form more than one kind of content");
                Some(existing)
            }
        };
    }

    pub fn into_groups(self) -> Vec<Group> {
        self.list
    }
}

impl Group {
    /// The content the pieces make, lists in their exported order where known, else in input order.
    pub fn take_content(&mut self) -> Option<Content> {
        Some(match self.content.take()? {
            Partial::Whole(content) => content,
            Partial::Indicators(mut list) => {
                list.sort_by_key(|(index, _)| index.unwrap_or(u32::MAX));
                Content::Indicators(list.into_iter().map(|(_, indicator)| indicator).collect())
            }
            Partial::Sightings(mut list) => {
                list.sort_by_key(|(index, _)| index.unwrap_or(u32::MAX));
                Content::Sightings(list.into_iter().map(|(_, sighting)| sighting).collect())
            }
        })
    }
}
