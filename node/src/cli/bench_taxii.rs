//! `dims bench taxii`: a TAXII collection of many objects served over loopback HTTP, a 1,000-object page at the
//! start, the middle and the end (by `added_after`) and with `match[...]` filters, each beside the store's raw read
//! of the same bundles in the same run; and, beside those, `medallion` (the OASIS reference TAXII server, its memory
//! backend) serving the same objects at the sizes asked for.
//!
//! The node is loaded like `dims bench portal`'s (`Store::put_many`, no ingest checks): `--objects` indicators in
//! bundles of `--per-bundle` distinct IPv4 values, TLP:GREEN to the community, and one org-only AMBER bundle of
//! another org after every nine, which the reader (an automation token of the first org) may not see, so every page
//! also pays for the policy's refusals. `NodeTaxii` is served by axum on a loopback port and asked with reqwest, the
//! same client that asks medallion: each timed request is the whole exchange, the body read to its end.
//!
//! medallion gets the first N objects exactly as dims served them, with dims's `date_added` in its manifest, from a
//! data file it loads at start; requests that take longer than `--medallion-timeout` seconds end that size's row
//! (reported as where it stops). The result is a block for docs/benchmarks.md; never a timed assertion.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use dims_protocol::{Audience, Author, Body, Content, Indicator, IndicatorValue, NodeKey, OrgId, Tlp};
use serde_json::{Value, json};

use super::bench_portal::{Percentiles, load_average, ms};
use crate::grant::AUTOMATION;
use crate::node::Node;
use crate::store::Store;
use crate::taxii::NodeTaxii;

/// Bundles signed and stored per `put_many`.
const LOAD_CHUNK: usize = 2_000;
/// Objects per page, as TAXII clients ask for them.
const PAGE: usize = 1_000;
/// A hidden bundle after every this many visible ones.
const HIDDEN_EVERY: usize = 9;

/// `dims bench taxii` arguments.
#[derive(Clone, Debug, Args)]
pub struct TaxiiBenchArgs {
    /// Objects (indicators) the reader may see in the collection.
    #[arg(long, env = "DIMS_BENCH_TAXII_OBJECTS", default_value_t = 1_000_000)]
    pub objects: usize,
    /// Indicators per bundle.
    #[arg(long, env = "DIMS_BENCH_TAXII_PER_BUNDLE", default_value_t = 100)]
    pub per_bundle: usize,
    /// Timed requests of each case on dims (and as many baseline reads), after a tenth more as warm-up.
    #[arg(long, env = "DIMS_BENCH_TAXII_REQUESTS", default_value_t = 200)]
    pub requests: usize,
    /// Collection sizes to serve with medallion, comma-separated; `--medallion` alone leaves medallion out.
    #[arg(
        long,
        env = "DIMS_BENCH_TAXII_MEDALLION",
        value_delimiter = ',',
        num_args = 0..,
        default_value = "1000,2000,10000,100000"
    )]
    pub medallion: Vec<usize>,
    /// Timed requests of each case on medallion.
    #[arg(long, env = "DIMS_BENCH_TAXII_MEDALLION_REQUESTS", default_value_t = 3)]
    pub medallion_requests: usize,
    /// Seconds one medallion request may take before its size's row stops.
    #[arg(long, env = "DIMS_BENCH_TAXII_MEDALLION_TIMEOUT", default_value_t = 60)]
    pub medallion_timeout: u64,
    /// The virtualenv with medallion installed (scripts/setup makes it).
    #[arg(long, env = "DIMS_VENV", default_value = ".venv")]
    pub venv: PathBuf,
}

impl TaxiiBenchArgs {
    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=dims_protocol::content::MAX_INDICATORS).contains(&self.per_bundle),
            "--per-bundle must be between 1 and {}",
            dims_protocol::content::MAX_INDICATORS
        );
        anyhow::ensure!(
            self.objects >= 2 * PAGE && self.objects.is_multiple_of(self.per_bundle),
            "--objects must be at least {} and a multiple of --per-bundle",
            2 * PAGE
        );
        anyhow::ensure!(
            self.objects / self.per_bundle <= (1 << 24),
            "--objects / --per-bundle must be at most 16,777,216 bundles (IPv4 values run out)"
        );
        for &size in &self.medallion {
            anyhow::ensure!(
                (PAGE..=self.objects).contains(&size) && size.is_multiple_of(self.per_bundle),
                "--medallion sizes must be between {PAGE} and --objects, multiples of --per-bundle"
            );
        }
        anyhow::ensure!(
            self.requests >= 1 && self.medallion_requests >= 1,
            "time at least one request"
        );
        Ok(())
    }

    fn command(&self) -> String {
        let sizes: Vec<String> = self.medallion.iter().map(ToString::to_string).collect();
        format!(
            "dims bench taxii --objects {} --per-bundle {} --requests {} --medallion {} --medallion-requests {} \
             --medallion-timeout {}",
            self.objects,
            self.per_bundle,
            self.requests,
            sizes.join(","),
            self.medallion_requests,
            self.medallion_timeout
        )
    }
}

/// Runs the benchmark in a temporary folder and prints its result block.
pub fn run(args: &TaxiiBenchArgs, dir: &Path) -> anyhow::Result<ExitCode> {
    args.check()?;
    let report = super::runtime()?.block_on(measure(args, dir))?;
    print!("{}", report.render(args));
    Ok(ExitCode::SUCCESS)
}

/// One request case: where the page starts and what it filters.
#[derive(Clone, Debug)]
struct Case {
    name: &'static str,
    /// The query string (without `limit`).
    query: String,
    /// The first bundle the page reads (for the baseline) and how many it reads.
    first_bundle: usize,
    bundles: usize,
    /// Objects the page must hold.
    expect: usize,
}

/// A measured case on dims.
#[derive(Debug)]
pub struct Measured {
    name: &'static str,
    dims: Percentiles,
    baseline: Percentiles,
}

/// A medallion row: one collection size.
#[derive(Debug)]
pub struct MedallionRow {
    size: usize,
    load: Duration,
    rss_mib: Option<u64>,
    /// Each case: its percentiles, or the seconds after which it was given up.
    cases: Vec<(&'static str, Result<Percentiles, u64>)>,
}

/// What one run measured.
#[derive(Debug)]
pub struct Report {
    load_before: String,
    load_after: String,
    bundles: usize,
    hidden: usize,
    load_time: Duration,
    cases: Vec<Measured>,
    medallion: Vec<MedallionRow>,
}

fn org(name: &str) -> OrgId {
    OrgId::new(name).expect("a valid slug")
}

/// Bundle `i` of the data set (visible ones are numbered 0.., hidden ones follow each ninth).
fn body(key: &NodeKey, visible: usize, per_bundle: usize, created: u64, hidden: bool) -> Body {
    let (org_name, tlp, audience) = if hidden {
        ("org-b", Tlp::Amber, Audience::Org)
    } else {
        ("org-a", Tlp::Green, Audience::Community)
    };
    let indicators = (0..per_bundle)
        .map(|j| {
            let k = (visible * per_bundle + j) as u32;
            let base = if hidden { 0x0b00_0000 } else { 0x0a00_0000 };
            let mut indicator = Indicator::new(IndicatorValue::Ipv4(std::net::Ipv4Addr::from(base + k)));
            indicator.labels = vec!["botnet".to_owned()];
            indicator.confidence = Some(80);
            indicator.normalise();
            indicator
        })
        .collect();
    Body::new(
        key.node_id(),
        Author {
            org: org(org_name),
            member: None,
        },
        created,
        tlp,
        audience,
        Content::Indicators(indicators),
    )
}

/// Loads the store: `bundles` visible bundles and a hidden one after every [`HIDDEN_EVERY`]. Returns the visible
/// bundles' arrival times, in order, and how many hidden ones there are.
async fn load(store: &Store, key: &NodeKey, args: &TaxiiBenchArgs) -> anyhow::Result<(Vec<u64>, usize)> {
    let bundles = args.objects / args.per_bundle;
    let now = crate::clock::now_ms();
    let mut hidden = 0;
    let mut batch = Vec::with_capacity(LOAD_CHUNK);
    let mut visible_ids = Vec::with_capacity(bundles);
    for i in 0..bundles {
        let created = now - ((bundles - i) as u64) * 1_000;
        let bundle = key.sign(body(key, i, args.per_bundle, created, false))?;
        visible_ids.push(bundle.id());
        batch.push(bundle);
        if i % HIDDEN_EVERY == HIDDEN_EVERY - 1 {
            batch.push(key.sign(body(key, hidden, args.per_bundle, created, true))?);
            hidden += 1;
        }
        if batch.len() >= LOAD_CHUNK {
            store.put_many(std::mem::take(&mut batch)).await?;
        }
    }
    store.put_many(batch).await?;
    store.compact().await?;
    // The arrival of each visible bundle, from the arrival log.
    let mut arrival_of = std::collections::HashMap::with_capacity(bundles + hidden);
    let mut from = 0;
    loop {
        let chunk = store.arrivals(from, 10_000)?;
        let Some(&(last, _)) = chunk.last() else { break };
        arrival_of.extend(chunk.into_iter().map(|(arrival, id)| (id, arrival)));
        from = last + 1;
    }
    let arrivals = visible_ids
        .iter()
        .map(|id| arrival_of.get(id).copied().context("a stored bundle has no arrival"))
        .collect::<anyhow::Result<Vec<u64>>>()?;
    Ok((arrivals, hidden))
}

/// The cases on a collection of `objects` visible objects whose visible bundles arrived at `arrivals`.
fn cases(arrivals: &[u64], per_bundle: usize, objects: usize, one_id: &str) -> Vec<Case> {
    let bundles_per_page = PAGE.div_ceil(per_bundle);
    let after = |bundle: usize| dims_web::taxii::time::format_us(arrivals[bundle] - 1);
    let middle = objects / 2 / per_bundle;
    let end = objects.saturating_sub(PAGE) / per_bundle;
    let from = |bundle: usize| PAGE.min(objects - bundle * per_bundle);
    vec![
        Case {
            name: "start",
            query: String::new(),
            first_bundle: 0,
            bundles: bundles_per_page,
            expect: from(0),
        },
        Case {
            name: "middle (added_after)",
            query: format!("added_after={}", after(middle)),
            first_bundle: middle,
            bundles: bundles_per_page,
            expect: from(middle),
        },
        Case {
            name: "end (added_after)",
            query: format!("added_after={}", after(end)),
            first_bundle: end,
            bundles: bundles_per_page,
            expect: from(end),
        },
        Case {
            name: "middle, match[type]=indicator",
            query: format!("added_after={}&match[type]=indicator", after(middle)),
            first_bundle: middle,
            bundles: bundles_per_page,
            expect: from(middle),
        },
        Case {
            name: "middle, match[id] of one object",
            query: format!("added_after={}&match[id]={one_id}", after(middle)),
            first_bundle: middle,
            bundles: 1,
            expect: 1,
        },
    ]
}

/// GETs `url` with Basic credentials; the body as JSON, and the time to its last byte.
async fn fetch(client: &reqwest::Client, url: &str, password: &str) -> anyhow::Result<(Value, Duration)> {
    let started = crate::clock::monotonic();
    let response = client
        .get(url)
        .basic_auth("bench", Some(password))
        .header("accept", "application/taxii+json;version=2.1")
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let bytes = response.bytes().await.with_context(|| format!("GET {url}: the body"))?;
    let took = started.elapsed();
    anyhow::ensure!(
        status.is_success(),
        "GET {url}: {status}: {}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(500)])
    );
    Ok((serde_json::from_slice(&bytes).context("the answer is not JSON")?, took))
}

fn count(page: &Value) -> usize {
    page.get("objects").and_then(Value::as_array).map_or(0, Vec::len)
}

/// Measures the cases on a node made in `dir`, then medallion at each size.
pub async fn measure(args: &TaxiiBenchArgs, dir: &Path) -> anyhow::Result<Report> {
    args.check()?;
    let load_before = load_average();
    let key = NodeKey::from_secret(&[43; 32]);
    let author = Author {
        org: org("org-a"),
        member: None,
    };
    let node = Node::open_in(dir, NodeKey::from_secret(&[43; 32]), author).context("opening the bench node")?;
    let store = node.service().store().clone();
    let bundles = args.objects / args.per_bundle;
    eprintln!(
        "signing and storing {bundles} bundles of {} indicators…",
        args.per_bundle
    );
    let started = crate::clock::monotonic();
    let (arrivals, hidden) = load(&store, &key, args).await?;
    let load_time = started.elapsed();

    let mut random = [0u8; 40];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness for the token: {e}"))?;
    let scopes = dims_identity::token::Scopes {
        read: true,
        publish: false,
        tlp_ceiling: Tlp::Amber,
        audiences: Vec::new(),
    };
    let (token, record) = dims_identity::token::issue(
        &random,
        "bench".to_owned(),
        AUTOMATION,
        org("org-a"),
        scopes,
        crate::clock::now_ms(),
        None,
    );
    store.put_token(record).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = NodeTaxii::new(node.service().clone()).router();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.medallion_timeout.max(60)))
        .build()?;
    let (collections, _) = fetch(&client, &format!("{base}/taxii2/root/collections/"), &token).await?;
    let all = collections["collections"][0]["id"]
        .as_str()
        .context("the first collection's id")?
        .to_owned();
    let objects_url = format!("{base}/taxii2/root/collections/{all}/objects/");

    // Outside the timed part: one object id in the middle, and each case's page holds what it should.
    let middle = args.objects / 2 / args.per_bundle;
    let (page, _) = fetch(
        &client,
        &format!(
            "{objects_url}?limit=1&added_after={}",
            dims_web::taxii::time::format_us(arrivals[middle] - 1)
        ),
        &token,
    )
    .await?;
    let one_id = page["objects"][0]["id"].as_str().context("an object id")?.to_owned();
    let cases = cases(&arrivals, args.per_bundle, args.objects, &one_id);
    for case in &cases {
        let (page, _) = fetch(&client, &format!("{objects_url}?limit={PAGE}&{}", case.query), &token).await?;
        anyhow::ensure!(
            count(&page) == case.expect,
            "{}: the page holds {} objects, not {}",
            case.name,
            count(&page),
            case.expect
        );
    }

    let mut measured = Vec::new();
    let warm = args.requests.div_ceil(10);
    for case in &cases {
        eprintln!("timing {}…", case.name);
        let url = format!("{objects_url}?limit={PAGE}&{}", case.query);
        let (mut dims, mut baseline) = (Vec::new(), Vec::new());
        for round in 0..warm + args.requests {
            let (_, took) = fetch(&client, &url, &token).await?;
            let started = crate::clock::monotonic();
            let read = raw_page(&store, &arrivals, case)?;
            let raw = started.elapsed();
            anyhow::ensure!(read >= case.bundles.min(1), "the baseline read nothing");
            if round >= warm {
                dims.push(took);
                baseline.push(raw);
            }
        }
        measured.push(Measured {
            name: case.name,
            dims: Percentiles::of(dims),
            baseline: Percentiles::of(baseline),
        });
    }

    let mut medallion = Vec::new();
    for &size in &args.medallion {
        eprintln!("medallion with {size} objects…");
        medallion.push(medallion_row(args, &client, &objects_url, &token, &arrivals, size, dir).await?);
    }
    server.abort();
    Ok(Report {
        load_before,
        load_after: load_average(),
        bundles,
        hidden,
        load_time,
        cases: measured,
        medallion,
    })
}

/// The store's part of a page: the arrival log from the case's first bundle (visible and hidden), and those
/// bundles read and verified; no policy, no STIX. How many bundles it read.
fn raw_page(store: &Store, arrivals: &[u64], case: &Case) -> anyhow::Result<usize> {
    let with_hidden = case.bundles + case.bundles.div_ceil(HIDDEN_EVERY);
    let found = store.arrivals(arrivals[case.first_bundle], with_hidden)?;
    let ids: Vec<_> = found.into_iter().map(|(_, id)| id).collect();
    Ok(store.get_many(&ids)?.len())
}

/// medallion serving the first `size` objects: loaded from a data file written from dims's own answers.
async fn medallion_row(
    args: &TaxiiBenchArgs,
    client: &reqwest::Client,
    objects_url: &str,
    token: &str,
    arrivals: &[u64],
    size: usize,
    dir: &Path,
) -> anyhow::Result<MedallionRow> {
    // The first `size` objects and their manifest records, as dims served them.
    let manifest_url = objects_url.replace("/objects/", "/manifest/");
    let (mut objects, mut manifest) = (Vec::with_capacity(size), Vec::with_capacity(size));
    let mut next: Option<String> = None;
    while objects.len() < size {
        let more = next.as_ref().map_or_else(String::new, |next| format!("&next={next}"));
        let (page, _) = fetch(client, &format!("{objects_url}?limit={PAGE}{more}"), token).await?;
        let (records, _) = fetch(client, &format!("{manifest_url}?limit={PAGE}{more}"), token).await?;
        objects.extend(page["objects"].as_array().cloned().unwrap_or_default());
        manifest.extend(records["objects"].as_array().cloned().unwrap_or_default());
        next = page["next"].as_str().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    objects.truncate(size);
    manifest.truncate(size);
    anyhow::ensure!(
        objects.len() == size,
        "dims served {} objects, not {size}",
        objects.len()
    );
    let one_id = objects[size / 2 / args.per_bundle * args.per_bundle]["id"]
        .as_str()
        .context("an object id")?
        .to_owned();
    let collection = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
    let data = json!({
        "/discovery": {"title": "bench", "default": "/api1/", "api_roots": ["/api1/"]},
        "api1": {
            "information": {"title": "bench", "versions": ["application/taxii+json;version=2.1"],
                            "max_content_length": 1_048_576},
            "status": [],
            "collections": [{"id": collection, "title": "bench", "can_read": true, "can_write": false,
                             "media_types": ["application/stix+json;version=2.1"],
                             "objects": objects, "manifest": manifest}],
        },
    });
    let data_file = dir.join(format!("medallion-{size}.json"));
    std::fs::write(&data_file, serde_json::to_vec(&data)?)?;
    let config_file = dir.join(format!("medallion-{size}.config.json"));
    std::fs::write(
        &config_file,
        serde_json::to_vec(&json!({
            "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                        "filename": data_file},
            "users": {"bench": "bench"},
            "taxii": {"max_page_size": PAGE},
        }))?,
    )?;
    drop(data);

    let python = args.venv.join("bin/python");
    anyhow::ensure!(
        python.is_file(),
        "{} is missing: run `bash scripts/setup` (it installs medallion into .venv) or pass --venv",
        python.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let started = crate::clock::monotonic();
    let mut child = Medallion(
        std::process::Command::new(&python)
            .args(["-m", "medallion.scripts.run", "--port", &port.to_string()])
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting medallion with {}", python.display()))?,
    );
    let base = format!("http://127.0.0.1:{port}");
    let objects_url = format!("{base}/api1/collections/{collection}/objects/");
    loop {
        if fetch(client, &format!("{base}/taxii2/"), "bench").await.is_ok() {
            break;
        }
        anyhow::ensure!(
            child.0.try_wait()?.is_none(),
            "medallion exited while loading {size} objects"
        );
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1_800),
            "medallion did not answer within 30 minutes of loading {size} objects"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let load = started.elapsed();
    let rss_mib = rss_mib(child.0.id());

    let mut row = MedallionRow {
        size,
        load,
        rss_mib,
        cases: Vec::new(),
    };
    for case in cases(arrivals, args.per_bundle, size, &one_id) {
        let url = format!("{objects_url}?limit={PAGE}&{}", case.query);
        let mut samples = Vec::new();
        let mut stopped = None;
        for _ in 0..args.medallion_requests {
            match tokio::time::timeout(
                Duration::from_secs(args.medallion_timeout),
                fetch(client, &url, "bench"),
            )
            .await
            {
                Ok(Ok((page, took))) => {
                    anyhow::ensure!(
                        count(&page) == case.expect,
                        "medallion, {size} objects, {}: the page holds {} objects, not {}",
                        case.name,
                        count(&page),
                        case.expect
                    );
                    samples.push(took);
                }
                Ok(Err(error)) => return Err(error.context(format!("medallion, {size} objects, {}", case.name))),
                Err(_) => {
                    stopped = Some(args.medallion_timeout);
                    break;
                }
            }
        }
        row.cases.push((
            case.name,
            match stopped {
                Some(seconds) => Err(seconds),
                None => Ok(Percentiles::of(samples)),
            },
        ));
        if stopped.is_some() {
            // A request given up may still be running in medallion: the row ends here.
            break;
        }
    }
    drop(child);
    std::fs::remove_file(&data_file).ok();
    Ok(row)
}

/// The medallion process, killed when dropped (also when a measurement fails half-way).
struct Medallion(std::process::Child);

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process's resident memory in MiB, from /proc.
fn rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

impl Report {
    /// The block for docs/benchmarks.md.
    pub fn render(&self, args: &TaxiiBenchArgs) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "command: {}", args.command());
        let _ = writeln!(
            out,
            "store: {} objects the reader may see in {} bundles, and {} hidden bundles (another org's AMBER, \
             org-only); loaded in {:.1} s",
            args.objects,
            self.bundles,
            self.hidden,
            self.load_time.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "load average before: {}; after: {}",
            self.load_before, self.load_after
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| {PAGE}-object page | dims p50 | dims p99 | raw store read p50 | p99 | ratio p50 |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for case in &self.cases {
            let ratio = case.dims.p50.as_secs_f64() / case.baseline.p50.as_secs_f64().max(1e-9);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {ratio:.1}× |",
                case.name,
                ms(case.dims.p50),
                ms(case.dims.p99),
                ms(case.baseline.p50),
                ms(case.baseline.p99)
            );
        }
        let worst = self.cases.iter().map(|case| case.dims.p99).max().unwrap_or_default();
        let _ = writeln!(
            out,
            "\ntarget p99 < 50 ms: {} (worst p99 {})",
            if worst < Duration::from_millis(50) {
                "met"
            } else {
                "missed"
            },
            ms(worst)
        );
        if !self.medallion.is_empty() {
            let _ = writeln!(out, "\nmedallion (memory backend), the same objects:\n");
            let _ = writeln!(out, "| objects | loaded in | memory | case | p50 | p99 |");
            let _ = writeln!(out, "|---|---|---|---|---|---|");
            for row in &self.medallion {
                for (name, result) in &row.cases {
                    let (p50, p99) = match result {
                        Ok(p) => (ms(p.p50), ms(p.p99)),
                        Err(seconds) => (format!("stops: > {seconds} s"), String::new()),
                    };
                    let _ = writeln!(
                        out,
                        "| {} | {:.1} s | {} | {name} | {p50} | {p99} |",
                        row.size,
                        row.load.as_secs_f64(),
                        row.rss_mib.map_or_else(|| "?".to_owned(), |mib| format!("{mib} MiB"))
                    );
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tiny_run_measures_every_case() {
        let dir = tempfile::tempdir().expect("temp dir");
        let args = TaxiiBenchArgs {
            objects: 4_000,
            per_bundle: 100,
            requests: 2,
            medallion: Vec::new(),
            medallion_requests: 1,
            medallion_timeout: 10,
            venv: PathBuf::from(".venv"),
        };
        let report = measure(&args, dir.path()).await.expect("measures");
        assert_eq!(report.cases.len(), 5);
        assert_eq!(report.bundles, 40);
        assert_eq!(report.hidden, 4);
        let text = report.render(&args);
        assert!(
            text.contains("| start |") && text.contains("target p99 < 50 ms"),
            "{text}"
        );
    }
}
