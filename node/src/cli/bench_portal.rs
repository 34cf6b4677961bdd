//! `dims bench portal`: the member portal's server time, each page beside the store's raw read of the same rows in
//! the same run. A node in a temporary folder is loaded with signed bundles (`Store::put_many`, no ingest checks),
//! a member is added and given a session ([`NodePortal::open_session`]), and the portal's real router
//! (`dims_web::portal::router`) is driven in process with `tower::ServiceExt::oneshot`: each timed request is the
//! whole server side (session, handler, policy, audit of AMBER reads, rendering, the body collected), with no socket.
//!
//! The data set is deterministic: `--indicator-bundles` bundles of `--indicators` distinct values each (IPv4 and
//! domains, one every `bundles / indicator_bundles` bundles by creation time), the other bundles of
//! [`SMALL_INDICATORS`] values re-reported from them, so a search value and a bundle's related lookup find more than
//! one bundle. Markings and audiences are a mix (CLEAR, GREEN, AMBER, AMBER+STRICT; org or community) by two orgs;
//! the reader is of one of them, so the policy hides the other org's org-only bundles from them.
//!
//! Beside the pages, the many-value search the REST API offers is timed where it enters the service core:
//! [`Service::search_values`](crate::service::Service::search_values) of `--service-search-values` values (10,000 by
//! default) for a member reader, as a caller with a member's token asks it, beside the raw index lookup of the same
//! values (`Store::ids_by_value`, value by value) and the store's one-pass read (`Store::by_values`, no policy).
//!
//! Pages and their baselines alternate request by request, so a change in the machine's load hits both alike. The
//! result is a block for docs/benchmarks.md: the command, the machine and its load, and p50/p95/p99 of each page
//! beside its baseline, with the ratio. Never a timed assertion: the targets are printed as met or missed.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Body as HttpBody;
use axum::http::{Request, StatusCode, header};
use clap::Args;
use dims_identity::directory::{Contact, Profile};
use dims_identity::session::{COOKIE_NAME, Timeouts};
use dims_protocol::policy::{MemberView, Receiver};
use dims_protocol::{
    Audience, Author, Body, BundleId, Content, Indicator, IndicatorValue, MemberId, NodeKey, OrgId, Tlp,
};
use dims_web::portal::Portal;
use tower::ServiceExt;

use crate::node::Node;
use crate::portal::{NodePortal, PAGE_ROWS, PortalSettings, RELATED, SEARCH_ROWS_PER_VALUE};
use crate::store::{ListQuery, MemberRecord, Store};

/// Values in each bundle that is not an indicator bundle, re-reported from the indicator bundles.
pub const SMALL_INDICATORS: usize = 5;
/// Bundles signed and stored per `put_many`.
const LOAD_CHUNK: usize = 2_000;
/// Creation times of consecutive bundles this far apart (ms), the newest a minute before the run.
const SPACING_MS: u64 = 60_000;

/// `dims bench portal` arguments.
#[derive(Clone, Debug, Args)]
pub struct PortalBenchArgs {
    /// Bundles in the store.
    #[arg(long, env = "DIMS_BENCH_PORTAL_BUNDLES", default_value_t = 100_000)]
    pub bundles: usize,
    /// How many of them carry `--indicators` distinct values each (the values searched); the others carry 5
    /// values re-reported from these.
    #[arg(long, env = "DIMS_BENCH_PORTAL_INDICATOR_BUNDLES", default_value_t = 10_000)]
    pub indicator_bundles: usize,
    /// Values in each indicator bundle.
    #[arg(long, env = "DIMS_BENCH_PORTAL_INDICATORS", default_value_t = 100)]
    pub indicators: usize,
    /// Timed requests of the index and of the view each (and as many baseline reads), after a tenth more as warm-up.
    #[arg(long, env = "DIMS_BENCH_PORTAL_PAGES", default_value_t = 1_000)]
    pub pages: usize,
    /// Timed searches (and as many baseline reads), after a tenth more as warm-up; each with other values.
    #[arg(long, env = "DIMS_BENCH_PORTAL_SEARCHES", default_value_t = 50)]
    pub searches: usize,
    /// Values pasted into each search, one per line, each stored in some bundle.
    #[arg(long, env = "DIMS_BENCH_PORTAL_SEARCH_VALUES", default_value_t = 1_000)]
    pub search_values: usize,
    /// Timed many-value searches through the service core (and as many baseline reads), after a tenth more as
    /// warm-up; each with other values.
    #[arg(long, env = "DIMS_BENCH_PORTAL_SERVICE_SEARCHES", default_value_t = 20)]
    pub service_searches: usize,
    /// Values in each many-value search through the service core, each stored in some bundle.
    #[arg(long, env = "DIMS_BENCH_PORTAL_SERVICE_SEARCH_VALUES", default_value_t = 10_000)]
    pub service_search_values: usize,
}

impl PortalBenchArgs {
    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=self.bundles).contains(&self.indicator_bundles),
            "--indicator-bundles must be between 1 and --bundles ({})",
            self.bundles
        );
        anyhow::ensure!(
            (1..=dims_protocol::content::MAX_INDICATORS).contains(&self.indicators),
            "--indicators must be between 1 and {}",
            dims_protocol::content::MAX_INDICATORS
        );
        let values = self.indicator_bundles.saturating_mul(self.indicators);
        anyhow::ensure!(
            values <= 1 << 26,
            "at most 67,108,864 distinct values (--indicator-bundles × --indicators)"
        );
        anyhow::ensure!(
            (1..=values).contains(&self.search_values),
            "--search-values must be between 1 and the distinct values stored ({values})"
        );
        anyhow::ensure!(
            self.search_values <= crate::portal::MAX_SEARCH_VALUES,
            "--search-values: a portal search takes at most {} values",
            crate::portal::MAX_SEARCH_VALUES
        );
        anyhow::ensure!(
            (1..=values).contains(&self.service_search_values),
            "--service-search-values must be between 1 and the distinct values stored ({values})"
        );
        anyhow::ensure!(
            self.pages >= 1 && self.searches >= 1 && self.service_searches >= 1,
            "--pages, --searches and --service-searches must be at least 1"
        );
        Ok(())
    }

    fn command(&self) -> String {
        format!(
            "dims bench portal --bundles {} --indicator-bundles {} --indicators {} --pages {} --searches {} \
             --search-values {} --service-searches {} --service-search-values {}",
            self.bundles,
            self.indicator_bundles,
            self.indicators,
            self.pages,
            self.searches,
            self.search_values,
            self.service_searches,
            self.service_search_values
        )
    }
}

/// Runs the benchmark in a temporary folder and prints its result block.
pub fn run(args: &PortalBenchArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    args.check()?;
    let report = super::runtime()?.block_on(measure(args, dir))?;
    print!("{}", report.render(args));
    Ok(ExitCode::SUCCESS)
}

/// Latencies of one kind of request: p50, p95, p99 and how many were timed.
#[derive(Clone, Copy, Debug)]
pub struct Percentiles {
    /// The median.
    pub p50: Duration,
    /// The 95th percentile.
    pub p95: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// How many were timed.
    pub samples: usize,
}

impl Percentiles {
    /// The nearest-rank percentiles of `samples`.
    pub(super) fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |p: f64| {
            let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len().max(1));
            samples.get(rank - 1).copied().unwrap_or_default()
        };
        Self {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            samples: samples.len(),
        }
    }
}

/// A page beside its baselines.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// The portal's requests, end to end.
    pub portal: Percentiles,
    /// The store's raw read of the same rows through its per-row reads (`list`, `get`, `ids_by_value`).
    pub baseline: Percentiles,
    /// The store read the portal's page makes, without policy, triage, audit or rendering, where it differs from
    /// the baseline (`Store::by_values`).
    pub read: Option<Percentiles>,
}

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    /// The load averages (1, 5, 15 minutes) before the store was loaded.
    pub load_before: String,
    /// The load averages after the last timed request.
    pub load_after: String,
    /// Bundles stored.
    pub stored: u64,
    /// Indicators stored, over every bundle.
    pub indicators: u64,
    /// Bundles the reader may see.
    pub visible: usize,
    /// How long signing and storing took (not part of any figure).
    pub load_time: Duration,
    /// Rows on the index page.
    pub index_rows: usize,
    /// `GET /bundles`.
    pub index: Measured,
    /// `GET /bundles/{id}`.
    pub view: Measured,
    /// The most related bundles a view's baseline read.
    pub related: usize,
    /// `POST /search`.
    pub search: Measured,
    /// Values of the first timed search the reader found in some bundle they may see.
    pub search_found: usize,
    /// `Service::search_values` of many values for a member reader.
    pub service_search: Measured,
    /// Values of the first timed many-value search the reader found in some bundle they may see.
    pub service_found: usize,
}

/// One bundle of the data set: its place in creation order and its marking, audience and author.
struct Spec {
    created: u64,
    tlp: Tlp,
    audience: Audience,
    org_b: bool,
}

/// The deterministic data set `args` describe.
struct DataSet<'a> {
    args: &'a PortalBenchArgs,
    stride: usize,
    newest: u64,
}

impl<'a> DataSet<'a> {
    fn new(args: &'a PortalBenchArgs, now_ms: u64) -> Self {
        Self {
            args,
            stride: args.bundles / args.indicator_bundles,
            newest: now_ms - SPACING_MS,
        }
    }

    /// The ordinal of bundle `i` among the indicator bundles, if it is one.
    fn indicator_bundle(&self, i: usize) -> Option<usize> {
        (i.is_multiple_of(self.stride) && i / self.stride < self.args.indicator_bundles).then_some(i / self.stride)
    }

    fn distinct_values(&self) -> usize {
        self.args.indicator_bundles * self.args.indicators
    }

    /// The `k`-th distinct value: IPv4 addresses and domains, alternately.
    fn value(k: usize) -> IndicatorValue {
        let k = u32::try_from(k).expect("checked: at most 2^26 values");
        if k.is_multiple_of(2) {
            IndicatorValue::Ipv4(Ipv4Addr::from(0x0b00_0000 + k / 2))
        } else {
            IndicatorValue::Domain(format!("c2-{k}.bench.example"))
        }
    }

    fn spec(&self, i: usize) -> Spec {
        let draw = mix(i as u64);
        // Of ten: CLEAR 2, GREEN 4 (one org-only), AMBER 3 (two org-only), AMBER+STRICT 1 (org-only).
        let (tlp, audience) = match draw % 10 {
            0 | 1 => (Tlp::Clear, Audience::Community),
            2..=4 => (Tlp::Green, Audience::Community),
            5 => (Tlp::Green, Audience::Org),
            6 => (Tlp::Amber, Audience::Community),
            7 | 8 => (Tlp::Amber, Audience::Org),
            _ => (Tlp::AmberStrict, Audience::Org),
        };
        Spec {
            created: self.newest - (self.args.bundles - 1 - i) as u64 * SPACING_MS,
            tlp,
            audience,
            org_b: (draw >> 8) % 2 == 1,
        }
    }

    /// Whether the reader (of `org-a`) may see bundle `i`.
    fn visible(&self, i: usize) -> bool {
        let spec = self.spec(i);
        !(spec.org_b && spec.audience == Audience::Org)
    }

    fn body(&self, key: &NodeKey, i: usize) -> Body {
        let spec = self.spec(i);
        let values: Vec<usize> = match self.indicator_bundle(i) {
            Some(ordinal) => (0..self.args.indicators)
                .map(|j| ordinal * self.args.indicators + j)
                .collect(),
            None => (0..SMALL_INDICATORS as u64)
                .map(|j| (mix(i as u64 * 31 + j) % self.distinct_values() as u64) as usize)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        let indicators = values
            .into_iter()
            .map(|k| {
                let mut indicator = Indicator::new(Self::value(k));
                indicator.labels = vec!["botnet".to_owned(), format!("campaign-{}", k % 7)];
                indicator.confidence = Some(50 + (k % 50) as u8);
                indicator.valid_from = Some(spec.created);
                indicator.valid_until = Some(spec.created + 30 * 86_400_000);
                indicator.normalise();
                indicator
            })
            .collect();
        let author = Author {
            org: org(if spec.org_b { "org-b" } else { "org-a" }),
            member: None,
        };
        Body::new(
            key.node_id(),
            author,
            spec.created,
            spec.tlp,
            spec.audience,
            Content::Indicators(indicators),
        )
    }
}

/// SplitMix64: a fixed, well-spread draw per index.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn org(name: &str) -> OrgId {
    OrgId::new(name).expect("a valid slug")
}

/// Measures the three pages on a node made in `dir`.
pub async fn measure(args: &PortalBenchArgs, dir: &Path) -> anyhow::Result<Report> {
    args.check()?;
    let load_before = load_average();
    let key = NodeKey::from_secret(&[42; 32]);
    let author = Author {
        org: org("org-a"),
        member: None,
    };
    let node = Node::open_in(dir, NodeKey::from_secret(&[42; 32]), author).context("opening the bench node")?;
    let store = node.service().store().clone();
    let data = DataSet::new(args, crate::clock::now_ms());

    eprintln!(
        "signing and storing {} bundles ({} of {} values)…",
        args.bundles, args.indicator_bundles, args.indicators
    );
    let started = crate::clock::monotonic();
    let mut viewable = Vec::new();
    let mut indicators = 0u64;
    for chunk in (0..args.bundles).collect::<Vec<_>>().chunks(LOAD_CHUNK) {
        let mut bundles = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let bundle = key.sign(data.body(&key, i))?;
            indicators += bundle.body().content.indicators().len() as u64;
            if data.indicator_bundle(i).is_some() && data.visible(i) {
                viewable.push(bundle.id());
            }
            bundles.push(bundle);
        }
        store.put_many(bundles).await?;
    }
    store.compact().await?;
    let load_time = started.elapsed();
    let stored = store.count()?;
    anyhow::ensure!(
        stored == args.bundles as u64,
        "stored {stored} of {} bundles",
        args.bundles
    );
    anyhow::ensure!(
        !viewable.is_empty(),
        "no indicator bundle the reader may see: use more bundles"
    );
    let visible = (0..args.bundles).filter(|&i| data.visible(i)).count();

    let member = reader(&store).await?;
    let portal = Arc::new(NodePortal::new(node.service().clone(), settings(), None));
    let opened = portal
        .open_session(member, &["member"])
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    // `NAME=ID` of the `Set-Cookie` value: what a browser sends back.
    let cookie = opened.set_cookie.split(';').next().unwrap_or_default().to_owned();
    let session = cookie
        .strip_prefix(&format!("{COOKIE_NAME}="))
        .context("the session cookie's name")?
        .to_owned();
    let router = dims_web::portal::router(Arc::clone(&portal));
    let client = Client { router, cookie };
    let viewer = portal
        .viewer(Some(&session))
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let csrf = csrf_in(&client.get("/search").await?)?;

    // Outside the timed part: the pages show what they should.
    let first = portal
        .index(&viewer, &Default::default())
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    anyhow::ensure!(
        first.problem.is_none(),
        "the index page has a problem: {:?}",
        first.problem
    );
    let index_rows = first.rows.len();
    anyhow::ensure!(
        index_rows == PAGE_ROWS.min(visible),
        "the index shows {index_rows} rows, not {}",
        PAGE_ROWS.min(visible)
    );

    eprintln!("timing the index page…");
    let warm = args.pages.div_ceil(10);
    let newest = ListQuery {
        limit: PAGE_ROWS,
        newest_first: true,
        now_ms: Some(crate::clock::now_ms()),
        ..ListQuery::default()
    };
    let mut pair = Pair::default();
    for round in 0..warm + args.pages {
        let timed = round >= warm;
        pair.portal(timed, client.get("/bundles")).await?;
        pair.baseline(timed, || Ok(store.list(&newest)?.len()))?;
    }
    let index = pair.finish();

    eprintln!("timing the bundle view…");
    let mut pair = Pair::default();
    let mut related = 0;
    for round in 0..warm + args.pages {
        let timed = round >= warm;
        let id = viewable[(mix(round as u64 ^ 0x5eed) % viewable.len() as u64) as usize];
        pair.portal(timed, client.get(&format!("/bundles/{id}"))).await?;
        let found = pair.baseline(timed, || view_baseline(&store, id))?;
        related = related.max(found);
        pair.read(timed, || view_read(&store, id))?;
    }
    let view = pair.finish();

    eprintln!("timing the search…");
    let warm = args.searches.div_ceil(10);
    let texts: Vec<Vec<String>> = (0..warm + args.searches)
        .map(|round| search_values(&data, args.search_values, round as u64))
        .collect();
    let found = portal
        .search(&viewer, &texts[warm].join("\n"))
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    anyhow::ensure!(
        found.asked == args.search_values,
        "the search read {} of {} values (rejected: {:?})",
        found.asked,
        args.search_values,
        found.rejected
    );
    let search_found = found.found.len();
    let mut pair = Pair::default();
    for (round, values) in texts.iter().enumerate() {
        let timed = round >= warm;
        let text = values.join("\n");
        pair.portal(timed, client.post("/search", &[("csrf", &csrf), ("values", &text)]))
            .await?;
        pair.baseline(timed, || {
            let mut ids = 0;
            for value in values {
                ids += store.ids_by_value(value)?.len();
            }
            Ok(ids)
        })?;
        pair.read(timed, || {
            Ok(store.by_values(values, SEARCH_ROWS_PER_VALUE, |_| true)?.len())
        })?;
    }
    let search = pair.finish();

    eprintln!("timing the many-value search through the service core…");
    let service = node.service();
    let member_reader = MemberView {
        node: service.node_view(),
        member,
        org: org("org-a"),
        groups: Vec::new(),
        ceiling: Tlp::Red,
    };
    let warm = args.service_searches.div_ceil(10);
    let texts: Vec<Vec<String>> = (0..warm + args.service_searches)
        .map(|round| search_values(&data, args.service_search_values, round as u64 ^ 0x10_000))
        .collect();
    let search_now = crate::clock::now_ms();
    let first = service.search_values(
        &texts[warm],
        SEARCH_ROWS_PER_VALUE,
        Receiver::Member(&member_reader),
        search_now,
    )?;
    anyhow::ensure!(
        first.len() == args.service_search_values,
        "the search answered for {} of {} values",
        first.len(),
        args.service_search_values
    );
    let service_found = first.iter().filter(|rows| !rows.is_empty()).count();
    let mut pair = Pair::default();
    for (round, values) in texts.iter().enumerate() {
        let timed = round >= warm;
        pair.baseline(timed, || {
            let mut ids = 0;
            for value in values {
                ids += store.ids_by_value(value)?.len();
            }
            Ok(ids)
        })?;
        pair.time_service(timed, || {
            Ok(service
                .search_values(
                    values,
                    SEARCH_ROWS_PER_VALUE,
                    Receiver::Member(&member_reader),
                    search_now,
                )?
                .len())
        })?;
        pair.read(timed, || {
            Ok(store.by_values(values, SEARCH_ROWS_PER_VALUE, |_| true)?.len())
        })?;
    }
    let service_search = pair.finish();

    drop(client);
    drop(portal);
    drop(store);
    drop(node);
    Ok(Report {
        load_before,
        load_after: load_average(),
        stored,
        indicators,
        visible,
        load_time,
        index_rows,
        index,
        view,
        related,
        search,
        search_found,
        service_search,
        service_found,
    })
}

/// The reader: a member of `org-a`, stored as `dims members add` stores one.
async fn reader(store: &Store) -> anyhow::Result<MemberId> {
    let now = crate::clock::now_ms();
    let id = MemberId([7; 16]);
    store
        .put_member(MemberRecord {
            profile: Profile {
                id,
                name: "Bench Reader".to_owned(),
                org: org("org-a"),
                time_zone: None,
                nearest_airport: None,
                contact: Contact {
                    email: Some("reader@org-a.example".to_owned()),
                    ..Contact::default()
                },
                pgp_fingerprint: None,
            },
            login: None,
            created_ms: now,
            updated_ms: now,
            suspended: None,
        })
        .await?;
    Ok(id)
}

/// Portal settings without a provider: the reader's session is opened directly, nobody logs in.
fn settings() -> PortalSettings {
    PortalSettings {
        oidc: None,
        ldap: None,
        timeouts: Timeouts::default(),
        federation: None,
        logins_per_minute: crate::portal::LOGINS_PER_MINUTE,
    }
}

/// The baseline of a view: the store's raw read of the bundle, of the ids carrying its first [`RELATED`] values,
/// and of the related bundles the page shows. Returns how many related bundles it read.
fn view_baseline(store: &Store, id: BundleId) -> anyhow::Result<usize> {
    let stored = store.get(&id)?.context("a viewed bundle is stored")?;
    let mut related: Vec<BundleId> = Vec::new();
    for indicator in stored.bundle.body().content.indicators().iter().take(RELATED) {
        for other in store.ids_by_value(&indicator.value.to_string())? {
            if other != id && !related.contains(&other) {
                related.push(other);
            }
        }
        if related.len() >= RELATED {
            break;
        }
    }
    related.truncate(RELATED);
    Ok(store.get_many(&related)?.len())
}

/// The read a view makes, without policy: the bundle, and the bundles carrying its first [`RELATED`] values.
fn view_read(store: &Store, id: BundleId) -> anyhow::Result<usize> {
    let stored = store.get(&id)?.context("a viewed bundle is stored")?;
    let values: Vec<String> = stored
        .bundle
        .body()
        .content
        .indicators()
        .iter()
        .take(RELATED)
        .map(|indicator| indicator.value.to_string())
        .collect();
    Ok(store.by_values(&values, RELATED + 1, |_| true)?.len())
}

/// `count` distinct stored values for search `round`, in their text form.
fn search_values(data: &DataSet<'_>, count: usize, round: u64) -> Vec<String> {
    let mut picked = HashSet::with_capacity(count);
    let mut values = Vec::with_capacity(count);
    let mut draw = round.wrapping_mul(1_000_003) ^ 0xa5a5;
    while values.len() < count {
        draw += 1;
        let k = (mix(draw) % data.distinct_values() as u64) as usize;
        if picked.insert(k) {
            values.push(DataSet::value(k).to_string());
        }
    }
    values
}

/// The router with the reader's session cookie.
struct Client {
    router: axum::Router,
    cookie: String,
}

impl Client {
    /// `GET path`; the page, which must be 200.
    async fn get(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let request = Request::get(path)
            .header(header::COOKIE, &self.cookie)
            .body(HttpBody::empty())?;
        self.send(request).await
    }

    /// `POST path` with a form; the page, which must be 200.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Vec<u8>> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = Request::post(path)
            .header(header::COOKIE, &self.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(HttpBody::from(body))?;
        self.send(request).await
    }

    async fn send(&self, request: Request<HttpBody>) -> anyhow::Result<Vec<u8>> {
        let path = request.uri().to_string();
        let response = self.router.clone().oneshot(request).await?;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
        anyhow::ensure!(
            status == StatusCode::OK,
            "{path} answered {status}: {}",
            String::from_utf8_lossy(&body).chars().take(400).collect::<String>()
        );
        Ok(body.to_vec())
    }
}

/// The CSRF token in a page's forms.
fn csrf_in(page: &[u8]) -> anyhow::Result<String> {
    let page = std::str::from_utf8(page)?;
    let marker = r#"name="csrf" value=""#;
    let at = page.find(marker).context("a form with the CSRF token")? + marker.len();
    Ok(page[at..].split('"').next().unwrap_or_default().to_owned())
}

/// The timings of a page and of its baselines, request by request.
#[derive(Default)]
struct Pair {
    portal: Vec<Duration>,
    baseline: Vec<Duration>,
    read: Vec<Duration>,
}

impl Pair {
    async fn portal(
        &mut self,
        timed: bool,
        request: impl Future<Output = anyhow::Result<Vec<u8>>>,
    ) -> anyhow::Result<()> {
        let started = crate::clock::monotonic();
        request.await?;
        if timed {
            self.portal.push(started.elapsed());
        }
        Ok(())
    }

    /// Times a call into the service core as the page's side of the pair.
    fn time_service<T>(&mut self, timed: bool, call: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        Self::time(&mut self.portal, timed, call)
    }

    fn baseline<T>(&mut self, timed: bool, read: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        Self::time(&mut self.baseline, timed, read)
    }

    fn read<T>(&mut self, timed: bool, read: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        Self::time(&mut self.read, timed, read)
    }

    fn time<T>(into: &mut Vec<Duration>, timed: bool, read: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        let started = crate::clock::monotonic();
        let result = read()?;
        if timed {
            into.push(started.elapsed());
        }
        Ok(result)
    }

    fn finish(self) -> Measured {
        Measured {
            portal: Percentiles::of(self.portal),
            baseline: Percentiles::of(self.baseline),
            read: (!self.read.is_empty()).then(|| Percentiles::of(self.read)),
        }
    }
}

/// The 1, 5 and 15 minute load averages.
pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// One page's lines in the result block: its name, its baselines' names, what was measured, its target.
struct Lines<'a> {
    portal: &'a str,
    baseline: &'a str,
    read: Option<&'a str>,
    measured: &'a Measured,
    target: Option<Duration>,
    note: String,
}

pub(super) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

impl Report {
    /// The result block for docs/benchmarks.md.
    pub fn render(&self, args: &PortalBenchArgs) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let small = args.bundles - args.indicator_bundles;
        let _ = writeln!(out, "{}", args.command());
        let _ = writeln!(
            out,
            "machine: {} cores, {}; load average {} at the start, {} at the end",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            super::bench::cpu_model(),
            self.load_before,
            self.load_after
        );
        let _ = writeln!(
            out,
            "store: {} bundles ({} of {} values, {small} of {SMALL_INDICATORS} re-reported), {} indicators, {} \
             distinct values; the reader may see {}; loaded in {:.1} s",
            self.stored,
            args.indicator_bundles,
            args.indicators,
            self.indicators,
            args.indicator_bundles * args.indicators,
            self.visible,
            self.load_time.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "{:<64} {:>10} {:>10} {:>10} {:>8}",
            "", "p50", "p95", "p99", "samples"
        );
        let pages = [
            Lines {
                portal: "portal    GET /bundles (first page, newest first)",
                baseline: "baseline  Store::list of the 50 newest rows",
                read: None,
                measured: &self.index,
                target: Some(Duration::from_millis(50)),
                note: format!("{} rows", self.index_rows),
            },
            Lines {
                portal: "portal    GET /bundles/{id} (with its related lookup)",
                baseline: "baseline  Store::get + ids_by_value of 20 values + get_many",
                read: Some("read      Store::get + by_values of 20 values (no policy)"),
                measured: &self.view,
                target: Some(Duration::from_millis(20)),
                note: format!("up to {} related bundles", self.related),
            },
            Lines {
                portal: "portal    POST /search",
                baseline: "baseline  Store::ids_by_value of the same values",
                read: Some("read      Store::by_values of the same values (no policy)"),
                measured: &self.search,
                target: Some(Duration::from_millis(200)),
                note: format!(
                    "{} values, {} of the first search's found where the reader may see them",
                    args.search_values, self.search_found
                ),
            },
            Lines {
                portal: "service   Service::search_values (member reader)",
                baseline: "baseline  Store::ids_by_value of the same values",
                read: Some("read      Store::by_values of the same values (no policy)"),
                measured: &self.service_search,
                target: None,
                note: format!(
                    "{} values, {} of the first search's found where the reader may see them",
                    args.service_search_values, self.service_found
                ),
            },
        ];
        let line = |out: &mut String, name: &str, p: &Percentiles| {
            let _ = writeln!(
                out,
                "{name:<64} {:>10} {:>10} {:>10} {:>8}",
                ms(p.p50),
                ms(p.p95),
                ms(p.p99),
                p.samples
            );
        };
        let ratio = |a: &Percentiles, b: &Percentiles| {
            let of = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
            format!(
                "{:.1} / {:.1} / {:.1}",
                of(a.p50, b.p50),
                of(a.p95, b.p95),
                of(a.p99, b.p99)
            )
        };
        for Lines {
            portal,
            baseline,
            read,
            measured,
            target,
            note,
        } in pages
        {
            line(&mut out, portal, &measured.portal);
            line(&mut out, baseline, &measured.baseline);
            let side = portal.split_whitespace().next().unwrap_or("portal");
            let mut ratios = format!("{side} / baseline {}", ratio(&measured.portal, &measured.baseline));
            if let (Some(name), Some(read)) = (read, &measured.read) {
                line(&mut out, name, read);
                ratios += &format!(", {side} / read {}", ratio(&measured.portal, read));
            }
            let verdict = match target {
                Some(target) if measured.portal.p95 < target => format!("target p95 < {} ms: met", target.as_millis()),
                Some(target) => format!("target p95 < {} ms: MISSED", target.as_millis()),
                None => "no target".to_owned(),
            };
            let _ = writeln!(out, "ratio     {ratios} (p50 / p95 / p99); {verdict}; {note}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The benchmark at a tiny size still runs every page end to end and produces numbers (never judged as timings).
    #[test]
    fn a_tiny_run_measures_every_page() {
        let args = PortalBenchArgs {
            bundles: 200,
            indicator_bundles: 20,
            indicators: 10,
            pages: 20,
            searches: 20,
            search_values: 50,
            service_searches: 10,
            service_search_values: 150,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = crate::cli::runtime().expect("runtime");
        let report = runtime.block_on(measure(&args, dir.path())).expect("the bench runs");
        assert_eq!(report.stored, 200);
        assert_eq!(report.index_rows, PAGE_ROWS);
        assert!(
            report.search_found > 0,
            "some searched values are visible to the reader"
        );
        assert!(
            report.service_found > 0,
            "some values of the many-value search are visible"
        );
        for measured in [report.index, report.view, report.search, report.service_search] {
            assert!(measured.portal.samples > 0 && measured.baseline.samples > 0);
            assert!(measured.portal.p50 > Duration::ZERO && measured.portal.p50 <= measured.portal.p99);
        }
        let block = report.render(&args);
        assert!(block.starts_with("dims bench portal --bundles 200 "), "{block}");
        assert_eq!(block.matches("ratio ").count(), 4, "{block}");
        assert!(block.contains("service / baseline"), "{block}");
    }
}
