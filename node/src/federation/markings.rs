//! The markings of stored bundles, kept in memory for reconciliation.
//!
//! Every reconciliation round needs, for every stored bundle, whether the peer may receive it: a policy question on
//! the bundle's signed metadata (origin, author, marking, audience). Decoding each envelope for it made a round cost
//! a decode of the whole store per peer (the simulator measured it as the dominant cost of a federation at rest).
//! Markings never change for a given bundle id (the id is the hash of the signed body), so they are cached here the
//! first time a bundle is looked at, and a round then costs one index scan and one hash lookup per bundle.
//!
//! Memory: about 100 bytes per bundle plus the audience's recipient list; the cache is dropped whole when it passes
//! [`MAX_ENTRIES`] and refills on the next round.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dims_protocol::{Audience, Body, BundleId, Marking, MemberId, NodeId, OrgId, Tlp};

use crate::store::{Store, StoreError};

/// The most markings kept before the cache starts over.
pub const MAX_ENTRIES: usize = 4_000_000;

/// The signed metadata of one bundle that decides who may receive it: an owned [`Marking`] (which borrows its body).
#[derive(Clone, Debug)]
pub struct Summary {
    /// The origin node.
    pub origin: NodeId,
    /// The author's org.
    pub author_org: OrgId,
    /// The author, if a person.
    pub author_member: Option<MemberId>,
    /// The marking.
    pub tlp: Tlp,
    /// Who it is for.
    pub audience: Audience,
}

impl Summary {
    /// The summary of `body`.
    pub fn of(body: &Body) -> Self {
        Self {
            origin: body.origin,
            author_org: body.author.org.clone(),
            author_member: body.author.member,
            tlp: body.tlp,
            audience: body.audience.clone(),
        }
    }

    /// The marking, as the policy function takes it.
    pub fn marking(&self) -> Marking<'_> {
        Marking {
            origin: self.origin,
            author_org: &self.author_org,
            author_member: self.author_member,
            tlp: self.tlp,
            audience: &self.audience,
        }
    }
}

/// A shared cache of markings by bundle id.
#[derive(Clone, Default)]
pub struct Markings {
    inner: Arc<Mutex<HashMap<[u8; 32], Arc<Summary>>>>,
}

impl Markings {
    /// The markings of `ids`, reading from `store` those not cached yet (in one snapshot). Ids no longer stored are
    /// left out.
    pub fn get_all(&self, store: &Store, ids: &[[u8; 32]]) -> Result<Vec<Option<Arc<Summary>>>, StoreError> {
        let missing: Vec<BundleId> = {
            let cache = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            ids.iter()
                .filter(|id| !cache.contains_key(*id))
                .map(|id| BundleId(*id))
                .collect()
        };
        let loaded = if missing.is_empty() {
            Vec::new()
        } else {
            store.bodies(&missing)?
        };
        let mut cache = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() + loaded.len() > MAX_ENTRIES {
            cache.clear();
        }
        for (id, body) in loaded {
            cache.insert(id.0, Arc::new(Summary::of(&body)));
        }
        Ok(ids.iter().map(|id| cache.get(id).cloned()).collect())
    }
}
