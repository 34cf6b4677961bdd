//! Paging the REST API's bundle list over a node's own store, in process: a page stops after its scan budget at a
//! place that may be a bundle the token may not read, so the `next` cursor must reveal nothing of it, and following
//! `next` must still show every bundle the token may read exactly once, in order. The marking index keeps the rows
//! above a token's ceiling out of every page's scan. TAXII's object pages keep the same promises in arrival order,
//! while bundles keep arriving between pages, and may stop inside a bundle's objects.

use std::net::Ipv4Addr;

use dims_identity::token::{Scopes, TokenId};
use dims_node::api::NodeApi;
use dims_node::grant::{AUTOMATION, TokenGrant};
use dims_node::node::Node;
use dims_protocol::audience::check_audience;
use dims_protocol::policy::{Marking, Receiver, may_receive};
use dims_protocol::{
    Audience, Author, Body, BundleId, Content, FederationId, Indicator, IndicatorValue, MemberId, NodeKey, OrgId,
    Recipient, Tlp, VerifiedBundle,
};
use dims_web::api::{Api, Cursor, ListRequest};
use proptest::prelude::*;

const TLPS: [Tlp; 5] = [Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::AmberStrict, Tlp::Red];
/// Thirteen digits, so that a creation time cannot turn up in a cursor's 96 characters by chance.
const T0: u64 = 1_700_000_000_000;

fn org(name: &str) -> OrgId {
    OrgId::new(name).expect("slug")
}

/// One bundle to store: its marking choices, as proptest draws them.
#[derive(Clone, Debug)]
struct Spec {
    tlp: usize,
    audience: usize,
    author_b: bool,
    tick: u64,
}

/// The audiences `tlp` allows, as this test draws them.
fn audiences(node: &NodeKey, tlp: Tlp) -> Vec<Audience> {
    let id = node.node_id();
    [
        Audience::Org,
        Audience::Community,
        Audience::Federation(FederationId::new("fed").expect("slug")),
        Audience::Recipients(vec![Recipient::Org(id, org("org-b"))]),
        Audience::Recipients(vec![Recipient::Member(id, MemberId([9; 16]))]),
    ]
    .into_iter()
    .filter(|audience| check_audience(tlp, audience).is_ok())
    .collect()
}

fn bundle(key: &NodeKey, index: usize, spec: &Spec) -> VerifiedBundle {
    let tlp = TLPS[spec.tlp];
    let choices = audiences(key, tlp);
    let audience = choices[spec.audience % choices.len()].clone();
    let author = Author {
        org: org(if spec.author_b { "org-b" } else { "org-a" }),
        member: None,
    };
    let base = 0x0a00_0000 + 4 * u32::try_from(index).expect("small");
    let count = 1 + u32::try_from(index % 3).expect("small");
    let content = Content::Indicators(
        (0..count)
            .map(|n| Indicator::new(IndicatorValue::Ipv4(Ipv4Addr::from(base + n))))
            .collect(),
    );
    key.sign(Body::new(key.node_id(), author, T0 + spec.tick, tlp, audience, content))
        .expect("signs")
}

fn grant(token: u8, reader_b: bool, ceiling: Tlp) -> TokenGrant {
    TokenGrant {
        id: TokenId([token; 8]),
        label: "paging".to_owned(),
        owner: AUTOMATION,
        org: org(if reader_b { "org-b" } else { "org-a" }),
        scopes: Scopes {
            read: true,
            publish: false,
            tlp_ceiling: ceiling,
            audiences: Vec::new(),
        },
        groups: Vec::new(),
    }
}

/// What one token saw by following `next` from the first page: the ids in order, and every cursor it was given.
struct Walk {
    ids: Vec<BundleId>,
    cursors: Vec<String>,
}

async fn walk(api: &NodeApi, grant: &TokenGrant, limit: usize) -> Walk {
    let mut walk = Walk {
        ids: Vec::new(),
        cursors: Vec::new(),
    };
    let mut after: Option<Cursor> = None;
    for _ in 0..10_000 {
        let page = api
            .list(
                grant,
                ListRequest {
                    since_ms: None,
                    limit,
                    after: after.take(),
                },
            )
            .await
            .expect("a page");
        assert!(page.bundles.len() <= limit);
        walk.ids.extend(
            page.bundles
                .iter()
                .map(|summary| summary.id.parse::<BundleId>().expect("id")),
        );
        match page.next {
            None => return walk,
            Some(next) => {
                after = Some(next.parse().expect("the web layer takes the node's cursor"));
                walk.cursors.push(next);
            }
        }
    }
    panic!("paging never ended");
}

/// A fresh node in a temporary folder holding the bundles of `specs`, signed by it.
async fn stored(specs: &[Spec]) -> (tempfile::TempDir, Node, Vec<VerifiedBundle>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = NodeKey::from_secret(&[42; 32]);
    let author = Author {
        org: org("org-a"),
        member: None,
    };
    let node = Node::open_in(dir.path(), NodeKey::from_secret(&[42; 32]), author).expect("node");
    let bundles: Vec<VerifiedBundle> = specs
        .iter()
        .enumerate()
        .map(|(index, spec)| bundle(&key, index, spec))
        .collect();
    node.service().store().put_many(bundles.clone()).await.expect("stored");
    (dir, node, bundles)
}

/// Stores `specs` on a fresh node and pages through them as a token of `reader_b`'s org with `ceiling`, `limit` per
/// page and a scan budget of `budget` rows; checks the walk against the policy function.
fn check(specs: &[Spec], reader_b: bool, ceiling: Tlp, limit: usize, budget: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (_dir, node, bundles) = stored(specs).await;

        let api = NodeApi::new(node.service().clone(), None).with_scan_budget(budget);
        let token = grant(1, reader_b, ceiling);
        let reader = token.reader(&node.service().node_view()).expect("reads");
        let mut sorted = bundles.clone();
        sorted.sort_by_key(|b| (b.body().created, b.id()));
        let (visible, hidden): (Vec<&VerifiedBundle>, Vec<&VerifiedBundle>) = sorted
            .iter()
            .partition(|b| may_receive(&Marking::of(b.body()), Receiver::Member(&reader)).is_ok());

        let seen = walk(&api, &token, limit).await;
        let expected: Vec<BundleId> = visible.iter().map(|b| b.id()).collect();
        assert_eq!(
            seen.ids, expected,
            "every visible bundle exactly once, in order, and nothing else"
        );
        for cursor in &seen.cursors {
            for bundle in &hidden {
                let id = bundle.id().to_string();
                let created = bundle.body().created.to_string();
                assert!(
                    !cursor.contains(&id) && !cursor.to_lowercase().contains(&id[..16]) && !cursor.contains(&created),
                    "cursor {cursor} reveals the hidden bundle {id} created {created}"
                );
            }
            let other = grant(2, reader_b, ceiling);
            let refused = api
                .list(
                    &other,
                    ListRequest {
                        since_ms: None,
                        limit,
                        after: Some(cursor.parse().expect("cursor")),
                    },
                )
                .await
                .expect_err("another token cannot follow this token's cursor");
            assert_eq!(refused.status(), axum::http::StatusCode::BAD_REQUEST);
        }
        drop(api);
        drop(node);
    });
}

/// Pages newest first through the service (the portal's order) as a reader of `reader_b`'s org under `ceiling`:
/// following `next` yields every visible bundle exactly once, newest first, over both the time index and the
/// marking index (a ceiling below RED), whatever the page size and scan budget.
fn check_newest_first(specs: &[Spec], reader_b: bool, ceiling: Tlp, limit: usize, budget: usize) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (_dir, node, bundles) = stored(specs).await;
        let service = node.service();
        let reader = grant(1, reader_b, ceiling).reader(&service.node_view()).expect("reads");
        let mut expected: Vec<&VerifiedBundle> = bundles
            .iter()
            .filter(|b| may_receive(&Marking::of(b.body()), Receiver::Member(&reader)).is_ok())
            .collect();
        expected.sort_by_key(|b| std::cmp::Reverse((b.body().created, b.id())));
        let mut query = dims_node::store::ListQuery {
            limit,
            newest_first: true,
            ..dims_node::store::ListQuery::default()
        };
        let mut seen = Vec::new();
        for _ in 0..10_000 {
            let page = service
                .page_within(&query, Receiver::Member(&reader), T0, budget)
                .expect("a page");
            seen.extend(page.bundles.iter().map(|stored| stored.bundle.id()));
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        let expected: Vec<BundleId> = expected.iter().map(|b| b.id()).collect();
        assert_eq!(seen, expected, "every visible bundle once, newest first");
        drop(node);
    });
}

fn spec() -> impl Strategy<Value = Spec> {
    (0..TLPS.len(), 0..5usize, any::<bool>(), 0..6u64).prop_map(|(tlp, audience, author_b, tick)| Spec {
        tlp,
        audience,
        author_b,
        tick,
    })
}

/// The STIX indicator ids of `bundle`, in the order the export writes them.
fn stix_ids(bundle: &VerifiedBundle) -> Vec<String> {
    let export =
        dims_protocol::stix::export(&[bundle], &dims_protocol::stix::ExportContext::default()).expect("export");
    export.bundle["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|object| object["type"] == "indicator")
        .map(|object| object["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Stores `specs`, walks TAXII's `all` collection as a token of `reader_b`'s org with `ceiling`, `limit` objects per
/// page and a scan budget of `budget` bundles, storing `later` after the first page: every object of every bundle the
/// reader may read, stored before or during the walk, comes exactly once in arrival order; no other object comes; a
/// cursor works for its token only.
fn check_taxii(specs: &[Spec], later: &[Spec], reader_b: bool, ceiling: Tlp, limit: usize, budget: usize) {
    use dims_web::taxii::{ObjectQuery, Taxii};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let key = NodeKey::from_secret(&[42; 32]);
        let (_dir, node, mut bundles) = stored(specs).await;
        let taxii = dims_node::taxii::NodeTaxii::new(node.service().clone()).with_scan_budget(budget);
        let token = grant(1, reader_b, ceiling);
        let all = taxii.collections(&token).await.expect("collections")[0].id.clone();
        let mut seen = Vec::new();
        let mut next = None;
        let mut cursors = Vec::new();
        for page_number in 0..10_000 {
            let query = ObjectQuery {
                limit,
                next: next.take(),
                ..ObjectQuery::default()
            };
            let page = taxii
                .objects(&token, &all, query)
                .await
                .expect("a page")
                .expect("the collection");
            assert!(page.objects.len() <= limit);
            seen.extend(page.objects.iter().map(|served| served.id.clone()));
            if page_number == 0 {
                let more: Vec<VerifiedBundle> = later
                    .iter()
                    .enumerate()
                    .map(|(index, spec)| bundle(&key, 1000 + index, spec))
                    .collect();
                node.service().store().put_many(more.clone()).await.expect("stored");
                bundles.extend(more);
                if page.next.is_none() && !later.is_empty() {
                    // The walk had ended; a client polls again from the last object it saw.
                    let after = page.objects.last().map(|served| served.date_added_us);
                    let query = ObjectQuery {
                        limit,
                        added_after_us: after,
                        ..ObjectQuery::default()
                    };
                    let mut page = taxii
                        .objects(&token, &all, query)
                        .await
                        .expect("a page")
                        .expect("the collection");
                    seen.extend(page.objects.iter().map(|served| served.id.clone()));
                    match page.next.take() {
                        Some(text) => {
                            cursors.push(text.clone());
                            next = Some(text);
                        }
                        None => break,
                    }
                    continue;
                }
            }
            match page.next {
                Some(text) => {
                    cursors.push(text.clone());
                    next = Some(text);
                }
                None => break,
            }
        }
        let reader = token.reader(&node.service().node_view()).expect("reads");
        let expected: Vec<String> = bundles
            .iter()
            .filter(|b| may_receive(&Marking::of(b.body()), Receiver::Member(&reader)).is_ok())
            .flat_map(stix_ids)
            .collect();
        assert_eq!(
            seen, expected,
            "every visible object exactly once, in arrival order, and nothing else"
        );
        for cursor in cursors {
            let query = ObjectQuery {
                limit,
                next: Some(cursor),
                ..ObjectQuery::default()
            };
            let refused = taxii
                .objects(&grant(2, reader_b, ceiling), &all, query)
                .await
                .expect_err("another token cannot follow this token's cursor");
            assert_eq!(refused.status(), axum::http::StatusCode::BAD_REQUEST);
        }
        drop(taxii);
        drop(node);
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// TAXII's pages over random markings, readers, ceilings, page sizes and scan budgets, with bundles arriving
    /// after the first page: every visible object once, in arrival order, and cursors bound to their token.
    #[test]
    fn taxii_pages_show_every_visible_object_once_while_bundles_arrive(
        specs in prop::collection::vec(spec(), 0..24),
        later in prop::collection::vec(spec(), 0..8),
        reader_b in any::<bool>(),
        ceiling in 0..TLPS.len(),
        limit in 1..4usize,
        budget in 1..5usize,
    ) {
        check_taxii(&specs, &later, reader_b, TLPS[ceiling], limit, budget);
    }

    /// Over random mixes of markings and audiences, readers and ceilings, page sizes and scan budgets: no cursor
    /// shows the id or time of a bundle the reader may not read, a cursor works for its token only, and following
    /// `next` yields every visible bundle exactly once.
    #[test]
    fn cursors_reveal_nothing_hidden_and_following_them_shows_every_visible_bundle_once(
        specs in prop::collection::vec(spec(), 0..40),
        reader_b in any::<bool>(),
        ceiling in 0..TLPS.len(),
        limit in 1..5usize,
        budget in 1..6usize,
    ) {
        check(&specs, reader_b, TLPS[ceiling], limit, budget);
    }

    /// The same walks newest first, as the portal's index pages.
    #[test]
    fn newest_first_pages_show_every_visible_bundle_once_in_reverse(
        specs in prop::collection::vec(spec(), 0..40),
        reader_b in any::<bool>(),
        ceiling in 0..TLPS.len(),
        limit in 1..5usize,
        budget in 1..6usize,
    ) {
        check_newest_first(&specs, reader_b, TLPS[ceiling], limit, budget);
    }
}

/// The case, scaled down: a GREEN token over a store of org-only AMBER bundles after a few GREEN ones. The
/// walk never stops inside the AMBER rows (the marking index skips them), so its last page has no `next` at all.
#[test]
fn a_green_token_pages_over_amber_bundles_without_stepping_on_them() {
    let green = |tick| Spec {
        tlp: 1,
        audience: 2,
        author_b: false,
        tick,
    };
    let amber = |tick| Spec {
        tlp: 2,
        audience: 0,
        author_b: false,
        tick,
    };
    let mut specs: Vec<Spec> = (0..3).map(green).collect();
    specs.extend((3..60).map(amber));
    check(&specs, false, Tlp::Green, 2, 3);

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (_dir, node, _) = stored(&specs).await;
        let api = NodeApi::new(node.service().clone(), None).with_scan_budget(3);
        let token = grant(1, false, Tlp::Green);
        let first = api
            .list(
                &token,
                ListRequest {
                    since_ms: None,
                    limit: 1000,
                    after: None,
                },
            )
            .await
            .expect("page");
        assert_eq!(
            (first.bundles.len(), first.next),
            (3, None),
            "three GREEN bundles and nothing to follow"
        );
    });
}
