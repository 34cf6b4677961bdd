//! `dims-simnet`: runs a scenario file (nodes in this process, or `--processes`: real `dims` processes) and writes its
//! report (JSON, Markdown, SVG plots), or runs the deterministic model and prints its report. Exits non-zero when an
//! assertion fails, so a script or CI can run it as a check.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dims_simnet::model::ModelSpec;
use dims_simnet::{Options, Scenario, Transport};

/// Many dims nodes in one process: scenarios, faults, leak oracle, benchmarks.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario and writes report.json, report.md, latency.svg and convergence.svg.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Where to write the report.
        #[arg(long, default_value = "simnet-out")]
        out: PathBuf,
        /// The seed (default: the scenario's); printed at start so a failure replays.
        #[arg(long)]
        seed: Option<u64>,
        /// Nodes on loopback TCP instead of the in-process memory transport.
        #[arg(long, conflicts_with = "processes")]
        tcp: bool,
        /// Every honest node a real `dims run` process on loopback TCP, set up with the command line and driven
        /// through its REST API (kill and restart faults only; no hostile members).
        #[arg(long)]
        processes: bool,
        /// The `dims` binary for --processes (default: the one next to dims-simnet).
        #[arg(long, requires = "processes")]
        dims: Option<PathBuf>,
        /// Directory for the node stores (a temporary directory is made inside it).
        #[arg(long)]
        store_dir: Option<PathBuf>,
        /// Skip the baseline run even if the scenario asks for one.
        #[arg(long)]
        no_baseline: bool,
    },
    /// Runs the deterministic model (the node's decisions on a virtual clock and a seeded network) and prints its
    /// report. Exits non-zero on a leak or an entitled pair not delivered.
    Model {
        /// A model spec (TOML); without it the default spec, or with --random the spec drawn from the seed.
        spec: Option<PathBuf>,
        /// The seed; printed at start so a failure replays.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Draw the whole spec from the seed, as the property test does.
        #[arg(long, conflicts_with = "spec")]
        random: bool,
        /// Regions (overrides the spec).
        #[arg(long)]
        regions: Option<usize>,
        /// Observers (overrides the spec).
        #[arg(long)]
        observers: Option<usize>,
        /// Bundles (overrides the spec).
        #[arg(long)]
        bundles: Option<usize>,
        /// Message loss probability (overrides the spec).
        #[arg(long)]
        loss: Option<f64>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Checks a scenario file and prints it as the simulator reads it.
    Check {
        /// The scenario file (TOML).
        scenario: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DIMS_SIMNET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("dims_simnet=info,warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Check { scenario } => {
            let scenario = Scenario::load(&scenario)?;
            println!("{scenario:#?}");
            Ok(())
        }
        Command::Model {
            spec,
            seed,
            random,
            regions,
            observers,
            bundles,
            loss,
            json,
        } => {
            let mut spec = match (&spec, random) {
                (Some(path), _) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read model spec {}", path.display()))?;
                    ModelSpec::from_toml(&text)
                        .map_err(|e| anyhow::anyhow!("model spec {} is not valid: {e}", path.display()))?
                }
                (None, true) => ModelSpec::random(seed),
                (None, false) => ModelSpec::default(),
            };
            spec.regions = regions.unwrap_or(spec.regions);
            spec.observers = observers.unwrap_or(spec.observers);
            spec.bundles = bundles.unwrap_or(spec.bundles);
            spec.loss = loss.unwrap_or(spec.loss);
            eprintln!(
                "dims-simnet: model seed {seed}{}",
                if random { " (random spec)" } else { "" }
            );
            let report = dims_simnet::model::simulate(&spec, seed).map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{report}");
            }
            anyhow::ensure!(
                report.leaks.is_empty() && report.complete(),
                "model run failed (replay with --seed {seed}{}): {} leaks, {}/{} entitled pairs held",
                if random { " --random" } else { "" },
                report.leaks.len(),
                report.held_pairs,
                report.expected_pairs
            );
            Ok(())
        }
        Command::Run {
            scenario,
            out,
            seed,
            tcp,
            processes,
            dims,
            store_dir,
            no_baseline,
        } => {
            let scenario = Scenario::load(&scenario)?;
            let dims = match (processes, dims) {
                (false, _) => None,
                (true, Some(path)) if path.is_file() => Some(path),
                (true, Some(path)) => anyhow::bail!(
                    "--dims {}: no such file; build it with cargo build -p dims-node --bin dims",
                    path.display()
                ),
                (true, None) => Some(dims_simnet::processes::dims_beside(
                    &std::env::current_exe().context("cannot find the dims-simnet executable")?,
                )?),
            };
            if dims.is_some() {
                dims_simnet::processes::check_supported(&scenario)?;
            }
            let mode = match (&dims, tcp) {
                (Some(dims), _) => format!("processes: {}", dims.display()),
                (None, true) => "in-process, tcp transport".to_owned(),
                (None, false) => "in-process, memory transport".to_owned(),
            };
            let options = Options {
                seed,
                transport: if tcp || dims.is_some() {
                    Transport::Tcp
                } else {
                    Transport::Memory
                },
                store_dir,
                skip_baseline: no_baseline,
                processes: dims,
            };
            eprintln!(
                "dims-simnet: scenario {} seed {} ({mode})",
                scenario.name,
                seed.unwrap_or(scenario.seed),
            );
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the runtime")?;
            let report = runtime.block_on(dims_simnet::run(&scenario, &options))?;
            report.write(&out)?;
            println!("{}", report.markdown());
            eprintln!("report written to {}", out.display());
            let failures = report.failures();
            anyhow::ensure!(
                failures.is_empty(),
                "scenario {} failed (replay with --seed {}):\n  {}",
                scenario.name,
                report.seed,
                failures.join("\n  ")
            );
            Ok(())
        }
    }
}
