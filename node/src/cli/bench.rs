//! `dims bench`: `ingest` here, `portal` (with the many-value search) in [`super::bench_portal`], `taxii` in
//! [`super::bench_taxii`].
//!
//! `dims bench ingest`: sustained ingest of signed 100-indicator bundles through the service core (decode, verify,
//! policy, group commit), beside a raw redb bulk insert of the same rows on the same machine. The output names the
//! machine, the command and both results, for docs/benchmarks.md, then what the group commits looked like and how
//! many value index runs the store ended with (after an integrity check, outside the timed part).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use clap::{Args, Subcommand};
use dims_protocol::samples;

use super::runtime;
use crate::metrics::Metrics;
use crate::service::Service;
use crate::store::{Store, StoreConfig, StoreMetrics};

/// `dims bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Sustained bundle ingest through the service core, beside a raw redb bulk insert.
    Ingest(IngestBenchArgs),
    /// The member portal's server time (index, bundle view, search) and the 10,000-value search through the service
    /// core, each beside the store's raw read of the same rows.
    Portal(super::bench_portal::PortalBenchArgs),
    /// TAXII pages of a large collection (start, middle, end, filters) beside the store's raw read, and medallion
    /// serving the same objects.
    Taxii(super::bench_taxii::TaxiiBenchArgs),
}

/// `dims bench ingest` arguments.
#[derive(Debug, Args)]
pub struct IngestBenchArgs {
    /// How many bundles.
    #[arg(long, env = "DIMS_BENCH_BUNDLES", default_value_t = 20_000)]
    pub bundles: usize,
    /// Indicators per bundle.
    #[arg(long, env = "DIMS_BENCH_INDICATORS", default_value_t = 100)]
    pub indicators: u32,
    /// Concurrent senders (peers or clients) feeding the service.
    #[arg(long, env = "DIMS_BENCH_CONCURRENCY", default_value_t = 256)]
    pub concurrency: usize,
    /// The most bundles per group commit.
    #[arg(long, env = "DIMS_BENCH_MAX_BATCH", default_value_t = 512)]
    pub max_batch: usize,
}

/// Runs a benchmark.
pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("dims-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = match command {
        BenchCommand::Ingest(args) => ingest(&args, &dir),
        BenchCommand::Portal(args) => super::bench_portal::run(&args, &dir),
        BenchCommand::Taxii(args) => super::bench_taxii::run(&args, &dir),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn ingest(args: &IngestBenchArgs, dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    eprintln!("signing {} bundles of {} indicators…", args.bundles, args.indicators);
    let key = samples::node_key(42);
    let bundles: Vec<_> = (0..args.bundles)
        .map(|i| {
            key.sign(samples::indicator_bundle(
                &key,
                args.indicators,
                samples::SAMPLE_TIME + i as u64,
            ))
        })
        .collect::<Result<_, _>>()?;
    let envelopes: Arc<Vec<Vec<u8>>> = Arc::new(bundles.iter().map(|b| b.envelope().to_vec()).collect());
    let bytes: usize = envelopes.iter().map(Vec::len).sum();

    let rows: Vec<_> = bundles.iter().map(|b| (b.id(), b.envelope().to_vec())).collect();
    let started = crate::clock::monotonic();
    crate::store::bench::raw_bulk_insert_baseline(&dir.join("baseline.redb"), &rows)?;
    let baseline = started.elapsed();
    let started = crate::clock::monotonic();
    crate::store::bench::indexed_bulk_insert_baseline(&dir.join("indexed.redb"), &bundles)?;
    let indexed = started.elapsed();

    let runtime = runtime()?;
    let measured = runtime.block_on(async {
        let mut metrics = Metrics::new();
        let store_metrics = StoreMetrics::registered(&mut metrics);
        let config = StoreConfig {
            max_batch: args.max_batch,
            ..StoreConfig::default()
        };
        let store = Store::open(&dir.join("service.redb"), config, store_metrics)?;
        let author = dims_protocol::Author {
            org: samples::org("bench"),
            member: None,
        };
        let rosters = crate::rosters::RosterBook::load(&store)?;
        let service = Service::new(samples::node_key(42), author, store, rosters);
        let next = Arc::new(AtomicUsize::new(0));
        let started = crate::clock::monotonic();
        let mut senders = tokio::task::JoinSet::new();
        for _ in 0..args.concurrency {
            let (service, next, envelopes) = (service.clone(), next.clone(), envelopes.clone());
            senders.spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(envelope) = envelopes.get(index) else { break };
                    service.ingest(envelope).await?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = senders.join_next().await {
            done??;
        }
        let elapsed = started.elapsed();
        let stored = service.store().count()?;
        // Outside the timed part: the integrity check also proves the indexes whole after the run.
        let report = service.store().check()?;
        drop(service);
        anyhow::ensure!(
            stored == args.bundles as u64,
            "stored {stored} of {} bundles",
            args.bundles
        );
        anyhow::ensure!(
            report.is_ok(),
            "the store fails its integrity check after the run: {report}"
        );
        let commits = CommitStats::from_metrics(&metrics.encode(), report.value_runs);
        anyhow::Ok((elapsed, commits))
    })?;
    let (measured, commits) = measured;

    let per_second = |d: std::time::Duration| args.bundles as f64 / d.as_secs_f64();
    println!(
        "dims bench ingest --bundles {} --indicators {} --concurrency {} --max-batch {}",
        args.bundles, args.indicators, args.concurrency, args.max_batch
    );
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    println!("bundle size: {} bytes on average", bytes / args.bundles.max(1));
    println!(
        "baseline  raw redb bulk insert (one durable transaction)  {:>10.0} bundles/s  {:>12.0} indicators/s",
        per_second(baseline),
        per_second(baseline) * f64::from(args.indicators)
    );
    println!(
        "baseline  the same rows with every index, one transaction {:>10.0} bundles/s  {:>12.0} indicators/s",
        per_second(indexed),
        per_second(indexed) * f64::from(args.indicators)
    );
    println!(
        "service   decode + verify + policy + group commit         {:>10.0} bundles/s  {:>12.0} indicators/s",
        per_second(measured),
        per_second(measured) * f64::from(args.indicators)
    );
    println!(
        "ratio     service / raw = {:.2}, service / indexed = {:.2}",
        baseline.as_secs_f64() / measured.as_secs_f64(),
        indexed.as_secs_f64() / measured.as_secs_f64()
    );
    println!(
        "store     {} group commits of {:.0} bundles, {:.1} ms each; {} value index runs at the end",
        commits.commits,
        commits.bundles / commits.commits.max(1) as f64,
        commits.seconds * 1000.0 / commits.commits.max(1) as f64,
        commits.value_runs
    );
    Ok(ExitCode::SUCCESS)
}

/// What the store's metrics say about the group commits of the service run.
struct CommitStats {
    commits: u64,
    bundles: f64,
    seconds: f64,
    value_runs: u64,
}

impl CommitStats {
    /// Reads the commit histograms from the Prometheus exposition (the histograms offer no other reading).
    fn from_metrics(exposition: &str, value_runs: u64) -> Self {
        let sample = |name: &str| -> f64 {
            exposition
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
                .unwrap_or(0.0)
        };
        Self {
            commits: sample("dims_store_commit_batch_size_count") as u64,
            bundles: sample("dims_store_commit_batch_size_sum"),
            seconds: sample("dims_store_commit_seconds_sum"),
            value_runs,
        }
    }
}

/// The CPU's model name, for the machine line of a result block.
pub(super) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}
