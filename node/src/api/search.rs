//! Many values in one search, and one value's correlation, for an API token.
//!
//! Each value is read as a CSV cell is (refanged, type detected, normal form); the store is read once for all of
//! them ([`Service::search_values`]), and only bundles the token's reader may see come back, so a bundle it may not
//! read is absent from every result. Correlation adds sighting counts over every current sighting report this node
//! holds, visible to the token or not: counts only (sightings, distinct observers, distinct reporting nodes), never an
//! id, an org's name or a time, so nothing of a bundle the token may not read is shown but that it exists.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use dims_protocol::content::Observer;
use dims_protocol::policy::Receiver;
use dims_protocol::{BundleId, Content, NodeId};
use dims_web::api::{ApiError, Correlation, SearchRequest, SearchResults, SightingCounts, ValueResult};

use super::{NodeApi, no_read, publish, summary};
use crate::clock;
use crate::grant::TokenGrant;
use crate::intake;
use crate::store::{ReadKind, Stored};

/// The most sighting reports of one value a correlation counts (the newest); beyond it the counts are lower bounds.
pub const SIGHTING_REPORTS: usize = 1_000;

impl NodeApi {
    pub(super) async fn search_many(
        &self,
        grant: &TokenGrant,
        request: SearchRequest,
    ) -> Result<SearchResults, ApiError> {
        let reader = grant.reader(&self.service.node_view()).map_err(no_read)?;
        // Each value read once; repeated values (after refanging) are looked up once.
        let mut results = Vec::with_capacity(request.values.len());
        let mut unique: Vec<String> = Vec::new();
        let mut slots: BTreeMap<String, usize> = BTreeMap::new();
        let mut slot_of = Vec::with_capacity(request.values.len());
        for sent in request.values {
            match intake::cell::value(&sent, None) {
                Ok(value) => {
                    let normal = value.to_string();
                    let slot = *slots.entry(normal.clone()).or_insert_with(|| {
                        unique.push(normal.clone());
                        unique.len() - 1
                    });
                    slot_of.push(Some(slot));
                    results.push(ValueResult {
                        value: sent,
                        normal: Some(normal),
                        kind: Some(value.kind().name().to_owned()),
                        error: None,
                        warning: publish::warning(&value),
                        bundles: Vec::new(),
                        more: false,
                    });
                }
                Err(e) => {
                    slot_of.push(None);
                    results.push(ValueResult {
                        value: dims_web::api::errors::shorten(&sent, dims_web::api::errors::QUOTED_CHARS),
                        normal: None,
                        kind: None,
                        error: Some(e.to_string()),
                        warning: None,
                        bundles: Vec::new(),
                        more: false,
                    });
                }
            }
        }
        let limit = request.limit;
        let now = clock::now_ms();
        // One more than shown, to tell whether there are more.
        let found = self
            .read(move |service| service.search_values(&unique, limit + 1, Receiver::Member(&reader), now))
            .await?;
        let mut shown: BTreeMap<BundleId, &Stored> = BTreeMap::new();
        for bundles in &found {
            for stored in bundles.iter().take(limit) {
                shown.insert(stored.bundle.id(), stored);
            }
        }
        self.record_read(grant, ReadKind::Page, shown.values().map(|stored| &stored.bundle))
            .await?;
        for (result, slot) in results.iter_mut().zip(slot_of) {
            if let Some(bundles) = slot.map(|slot| &found[slot]) {
                result.more = bundles.len() > limit;
                result.bundles = bundles
                    .iter()
                    .take(limit)
                    .map(|stored| stored.bundle.id().to_string())
                    .collect();
            }
        }
        Ok(SearchResults {
            results,
            bundles: shown.values().map(|stored| summary(&stored.bundle)).collect(),
        })
    }

    pub(super) async fn correlation(
        &self,
        grant: &TokenGrant,
        text: String,
        limit: usize,
    ) -> Result<Correlation, ApiError> {
        let reader = grant.reader(&self.service.node_view()).map_err(no_read)?;
        let value = intake::cell::value(&text, None).map_err(|e| {
            ApiError::bad_request(
                e.to_string(),
                "send one indicator value: an address, network, domain, URL, e-mail address, hash or ASN",
            )
        })?;
        let normal = value.to_string();
        let now = clock::now_ms();
        let asked = vec![normal.clone()];
        let (mut readable, reports) = self
            .read(move |service| {
                let readable = service.search_values(&asked, limit + 1, Receiver::Member(&reader), now)?;
                // Every current sighting report, whoever may read it: only counted below.
                let reports = service.store().by_values(&asked, SIGHTING_REPORTS, |body| {
                    matches!(body.content, Content::Sightings(_)) && !body.is_expired_at(now)
                })?;
                Ok((readable, reports))
            })
            .await?;
        let readable = readable.pop().unwrap_or_default();
        let reports = reports.into_iter().next().unwrap_or_default();
        let capped = reports.len() >= SIGHTING_REPORTS;
        let shown: Vec<&Stored> = readable.iter().take(limit).collect();
        self.record_read(grant, ReadKind::Page, shown.iter().map(|stored| &stored.bundle))
            .await?;
        Ok(Correlation {
            kind: value.kind().name().to_owned(),
            warning: publish::warning(&value),
            bundles: shown.iter().map(|stored| summary(&stored.bundle)).collect(),
            more: readable.len() > limit,
            sightings: SightingCounts {
                capped,
                ..count_sightings(&reports, &normal)
            },
            value: normal,
        })
    }
}

/// The sightings of `value` in the current (neither retracted nor superseded) reports among `reports`.
fn count_sightings(reports: &[Stored], value: &str) -> SightingCounts {
    let mut total = 0u64;
    let mut observers: HashSet<&Observer> = HashSet::new();
    let mut communities: BTreeSet<NodeId> = BTreeSet::new();
    for stored in reports {
        if stored.status.retracted_by.is_some() || stored.status.superseded_by.is_some() {
            continue;
        }
        let body = stored.bundle.body();
        let Content::Sightings(sightings) = &body.content else {
            continue;
        };
        for sighting in sightings
            .iter()
            .filter(|sighting| sighting.indicator.value.to_string() == value)
        {
            total = total.saturating_add(u64::from(sighting.count));
            observers.insert(&sighting.observer);
            communities.insert(body.origin);
        }
    }
    SightingCounts {
        total,
        orgs: observers.len(),
        communities: communities.len(),
        capped: false,
    }
}
