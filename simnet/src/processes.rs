//! Process mode (`dims-simnet run --processes`): every honest node of the scenario is a real `dims run` process on
//! loopback TCP, set up and driven only as an operator and automation would: `dims init`, a roster made with
//! `dims roster keygen|init|add|sign` and pinned with `dims federation join`, an API token from `dims tokens create`,
//! the configuration file, then `POST /api/v1/bundles` to publish and `GET /api/v1/bundles` to watch.
//!
//! * Arrivals are first-seen times from polling each node's API every [`POLL`] (the latency resolution). A poll asks
//!   for bundles created at or after the oldest one the node still lacks (or the oldest publication in flight), so
//!   it stays small, and pages with the API's cursor.
//! * The leak oracle checks every (node, bundle) pair a node *served* against the scenario's truth, and after the
//!   processes stop (SIGTERM, which must end each with exit 0) it opens each store and scans it as the in-process
//!   oracle does.
//! * Faults: `kill` is SIGKILL, `restart` starts `dims run` again on the same folder and ports. Partitions need the
//!   federation handle, which a process does not expose, and hostile members are bare swarms: both are refused at
//!   the start, naming what needs the in-process mode.
//! * Resources: the `dims run` processes' CPU from getrusage of waited children, each one's peak RSS read from
//!   `/proc/PID/status` just before it is stopped.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use dims_node::clock;
use dims_node::federation::StatsSnapshot;
use dims_node::http::PeersReport;
use dims_node::metrics::Metrics;
use dims_node::store::{Store, StoreConfig};
use dims_protocol::policy::Receiver;
use dims_protocol::{BundleId, NodeId, OrgId, may_receive};
use dims_web::api::{BundlePage, BundleSummary, IndicatorInput, PublishBody, Published as PublishAnswer};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::measure::{Cpu, peak_rss_mib_of};
use crate::report::{
    Delivery, Duplicates, FaultEvent, NodeReport, ProcessNode, ProcessesReport, Reconciliation, Report, Resources,
    Traffic, WorkloadReport,
};
use crate::run::{Mark, Published, Shared, convergence_curve, describe_leak, latencies, lock, scan_stores};
use crate::scenario::{Action, Scenario, When, pick_all};
use crate::topology::{Kind, Topology};
use crate::workload::{self, Planned};

/// How often each node's API is polled for arrivals.
pub const POLL: Duration = Duration::from_millis(20);

/// How long a `dims run` may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The `dims` binary beside `exe` (the simulator, or a test executable in `target/*/deps`), or an error that says
/// how to build it.
pub fn dims_beside(exe: &Path) -> anyhow::Result<PathBuf> {
    let dir = exe.parent().context("the executable has no folder")?;
    for candidate in [dir.join("dims"), dir.join("..").join("dims")] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "no dims binary next to {}: build it with `cargo build -p dims-node --bin dims` (same profile), or pass --dims \
         PATH",
        exe.display()
    )
}

/// Refuses what process mode cannot do, naming it, before anything starts.
pub fn check_supported(scenario: &Scenario) -> anyhow::Result<()> {
    if let Some(hostile) = &scenario.hostile
        && hostile.count > 0
    {
        bail!(
            "scenario {}: hostile members are not supported in process mode (they are bare libp2p swarms inside the \
             simulator); run it without --processes",
            scenario.name
        );
    }
    for (index, fault) in scenario.faults.iter().enumerate() {
        let (_, action) = fault.parts()?;
        let name = match action {
            Action::Kill(_) | Action::Restart(_) => continue,
            Action::Partition(_) => "partition",
            Action::Heal => "heal",
            Action::Delay { .. } => "delay",
            Action::Drop { .. } => "drop",
            Action::Restore(_) => "restore",
        };
        bail!(
            "scenario {}: fault {} ({name}) needs the in-process mode: a `dims` process has no partition or link-fault \
             control; process mode supports kill and restart only, so run it without --processes",
            scenario.name,
            index + 1
        );
    }
    Ok(())
}

/// One node's `dims` process and everything needed to start it again.
struct Proc {
    name: String,
    root: PathBuf,
    config: PathBuf,
    org: OrgId,
    http: SocketAddr,
    api: SocketAddr,
    token: String,
    child: Option<Child>,
    peak_rss: Option<f64>,
    exits: Vec<String>,
    clean: bool,
}

impl Proc {
    fn log_path(&self) -> PathBuf {
        self.root.join("dims-run.log")
    }

    /// The last lines of its log, for error messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Reads the running process's peak RSS into the node's highest.
    fn sample_peak(&mut self) {
        if let Some(pid) = self.pid()
            && let Some(mib) = peak_rss_mib_of(&pid.to_string())
        {
            self.peak_rss = Some(self.peak_rss.map_or(mib, |p| p.max(mib)));
        }
    }
}

/// A `dims` command line: the binary, without the caller's `DIMS_*` settings (they would configure the node).
fn dims_command(dims: &Path) -> Command {
    let mut command = Command::new(dims);
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("DIMS_")) {
            command.env_remove(key);
        }
    }
    command
}

/// Runs `dims ARGS` to completion; its standard output, or an error with its standard error.
fn dims_ok(dims: &Path, config: Option<&Path>, args: &[&str]) -> anyhow::Result<String> {
    let mut command = dims_command(dims);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let out = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", dims.display()))?;
    if !out.status.success() {
        bail!(
            "dims {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .context("cannot find a free loopback port")?
        .local_addr()?)
}

/// Sets `section.key` in a configuration table.
fn set(table: &mut toml::Table, section: &str, key: &str, value: toml::Value) {
    let entry = table
        .entry(section.to_owned())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(section) = entry {
        section.insert(key.to_owned(), value);
    }
}

fn seconds(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

/// Makes every honest node with the command line, in `dir`: `dims init`, the roster, `federation join`, a token, the
/// configuration. Replaces the topology's ids with the nodes' own keys.
fn set_up(dims: &Path, dir: &Path, scenario: &Scenario, topology: &mut Topology) -> anyhow::Result<Vec<Option<Proc>>> {
    let federation = topology.federation.to_string();
    let mut procs: Vec<Option<Proc>> = Vec::new();
    let mut ids = Vec::new();
    for (index, spec) in topology.specs.iter().enumerate() {
        if spec.kind == Kind::National || spec.kind == Kind::Region || spec.kind == Kind::Observer {
            let root = dir.join(&spec.name);
            let root_text = root.to_str().context("the node folder is not UTF-8")?;
            let org =
                OrgId::new(format!("{}-soc", spec.name)).map_err(|e| anyhow::anyhow!("org of {}: {e}", spec.name))?;
            dims_ok(
                dims,
                None,
                &[
                    "init",
                    "--dir",
                    root_text,
                    "--org",
                    org.as_str(),
                    "--name",
                    &spec.name,
                    "--federation",
                    &federation,
                ],
            )?;
            let config = root.join("dims.toml");
            let shown = dims_ok(dims, Some(&config), &["keys", "show"])?;
            let id: NodeId = shown
                .lines()
                .find_map(|line| line.strip_prefix("node id"))
                .map(str::trim)
                .context("dims keys show printed no node id")?
                .parse()
                .map_err(|e| anyhow::anyhow!("dims keys show: {e}"))?;
            ids.push((index, id));
            procs.push(Some(Proc {
                name: spec.name.clone(),
                root,
                config,
                org,
                http: free_addr()?,
                api: free_addr()?,
                token: String::new(),
                child: None,
                peak_rss: None,
                exits: Vec::new(),
                clean: true,
            }));
        } else {
            procs.push(None);
        }
    }
    topology.adopt_ids(&ids)?;

    // The roster, as federation admins make it.
    let admin_key = dir.join("admin.key");
    let roster = dir.join("federation.roster");
    let roster_text = roster.to_str().context("the roster path is not UTF-8")?;
    let admin = dims_ok(
        dims,
        None,
        &["roster", "keygen", "--out", admin_key.to_str().context("UTF-8")?],
    )?;
    dims_ok(
        dims,
        None,
        &[
            "roster",
            "init",
            "--federation",
            &federation,
            "--threshold",
            "1",
            "--admin",
            admin.trim(),
            "--out",
            roster_text,
        ],
    )?;
    for spec in &topology.specs {
        let role = match spec.kind {
            Kind::National => "national",
            Kind::Region => "regional",
            Kind::Observer => "observer",
            Kind::Hostile(_) => continue,
        };
        dims_ok(
            dims,
            None,
            &[
                "roster",
                "add",
                roster_text,
                "--node",
                &spec.id().to_string(),
                "--name",
                &spec.name,
                "--community",
                &format!("{} community", spec.name),
                "--address",
                &spec.address.to_string(),
                "--role",
                role,
                "--ceiling",
                spec.ceiling.name(),
                // The scenario's roster holds from the epoch; so does this one, so the two say the same.
                "--valid-from",
                "1970-01-01T00:00:00.000Z",
            ],
        )?;
    }
    dims_ok(
        dims,
        None,
        &[
            "roster",
            "sign",
            roster_text,
            "--admin-key",
            admin_key.to_str().context("UTF-8")?,
        ],
    )?;
    // The roster the nodes pin must say what the scenario's truth says of every node.
    let bytes = std::fs::read(&roster).context("reading the roster")?;
    let pinned = dims_protocol::VerifiedRoster::genesis(&bytes).map_err(|e| anyhow::anyhow!("the roster: {e}"))?;
    let now = clock::now_ms();
    for (index, spec) in topology.specs.iter().enumerate() {
        let made = pinned.membership(&spec.id(), now);
        let truth = topology.truth_view(index).memberships.into_iter().next();
        anyhow::ensure!(
            made == truth,
            "the roster made with the command line says {made:?} of {}, the scenario {truth:?}",
            spec.name
        );
    }

    let tuning = &scenario.federation;
    for (index, proc) in procs.iter_mut().enumerate() {
        let Some(proc) = proc else { continue };
        dims_ok(dims, Some(&proc.config), &["federation", "join", roster_text])?;
        proc.token = dims_ok(
            dims,
            Some(&proc.config),
            &[
                "tokens",
                "create",
                "--label",
                "simnet",
                "--scopes",
                "read,publish",
                "--audience",
                "org,community,federation,recipients",
                "--tlp-ceiling",
                "red",
                "--expires",
                "never",
            ],
        )?
        .trim()
        .to_owned();
        let text = std::fs::read_to_string(&proc.config)?;
        let mut table: toml::Table = text
            .parse()
            .context("dims init wrote a configuration that is not TOML")?;
        set(&mut table, "http", "enabled", true.into());
        set(&mut table, "http", "listen", proc.http.to_string().into());
        set(&mut table, "api", "enabled", true.into());
        set(&mut table, "api", "listen", proc.api.to_string().into());
        set(
            &mut table,
            "federation",
            "listen",
            toml::Value::Array(vec![topology.specs[index].address.to_string().into()]),
        );
        set(
            &mut table,
            "federation",
            "reconcile_interval_s",
            toml::Value::Integer(seconds(tuning.reconcile_interval_ms) as i64),
        );
        set(
            &mut table,
            "federation",
            "redial_interval_s",
            toml::Value::Integer(seconds(tuning.redial_ms) as i64),
        );
        std::fs::write(&proc.config, toml::to_string(&table)?)?;
    }
    Ok(procs)
}

/// Starts `dims run` for `proc` and waits for `/readyz`.
async fn start(dims: &Path, proc: &mut Proc, client: &reqwest::Client) -> anyhow::Result<()> {
    let log = File::options().create(true).append(true).open(proc.log_path())?;
    let child = dims_command(dims)
        .arg("--config")
        .arg(&proc.config)
        .args(["--log-format", "json", "run"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {} run", dims.display()))?;
    proc.child = Some(child);
    let deadline = clock::monotonic() + READY_TIMEOUT;
    let url = format!("http://{}/readyz", proc.http);
    loop {
        if let Ok(answer) = client.get(&url).send().await
            && answer.status() == 200
        {
            return Ok(());
        }
        if let Some(child) = proc.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            proc.child = None;
            bail!(
                "dims run of {} exited at start ({status}):\n{}",
                proc.name,
                proc.log_tail()
            );
        }
        if clock::monotonic() > deadline {
            bail!(
                "dims run of {} was not ready in {READY_TIMEOUT:?}:\n{}",
                proc.name,
                proc.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(9)) => "SIGKILL".to_owned(),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// SIGKILL (a fault): the process is gone at once; its peak RSS is read first.
async fn kill(proc: &mut Proc) -> anyhow::Result<()> {
    proc.sample_peak();
    let Some(mut child) = proc.child.take() else {
        return Ok(());
    };
    child.kill().context("SIGKILL")?;
    let status = tokio::task::spawn_blocking(move || child.wait()).await??;
    proc.exits.push(format!("{} (fault)", describe(status)));
    Ok(())
}

/// SIGTERM, and waits (up to a minute) for the exit, which must be 0.
async fn stop(proc: &mut Proc) -> anyhow::Result<()> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    proc.sample_peak();
    let Some(mut child) = proc.child.take() else {
        return Ok(());
    };
    let pid = Pid::from_raw(i32::try_from(child.id()).context("pid")?);
    kill(pid, Signal::SIGTERM).context("SIGTERM")?;
    let status = tokio::task::spawn_blocking(move || -> std::io::Result<Option<ExitStatus>> {
        let deadline = clock::monotonic() + Duration::from_secs(60);
        while clock::monotonic() < deadline {
            if let Some(status) = child.try_wait()? {
                return Ok(Some(status));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill()?;
        child.wait().map(|_| None)
    })
    .await??;
    match status {
        Some(status) => {
            proc.clean &= status.success();
            proc.exits.push(describe(status));
        }
        None => {
            proc.clean = false;
            proc.exits.push("no exit within 60 s of SIGTERM (killed)".to_owned());
        }
    }
    Ok(())
}

/// What the pollers and publishers share beyond [`Shared`].
struct Watch {
    /// Per node: whether its process is up (pollers skip it otherwise).
    up: Vec<AtomicBool>,
    /// Per node: (created, id) of entitled bundles it has not served yet.
    pending: Vec<Mutex<BTreeSet<(u64, BundleId)>>>,
    /// Wall-clock start (ms) of each publication in flight, by sequence: a bundle is created after its request left.
    in_flight: Mutex<HashMap<u64, u64>>,
    /// Every (node, bundle) pair served.
    served: Mutex<HashSet<(usize, BundleId)>>,
    /// The first summary served of each bundle: how a bundle the truth does not know (a publication whose answer
    /// was lost to a kill) is judged, by its own marking.
    summaries: Mutex<HashMap<BundleId, BundleSummary>>,
    /// Publications sent again after the connection to their node failed (killed or restarting).
    retries: AtomicU64,
    /// Poll failures other than a node being down (for the log).
    poll_errors: AtomicU64,
}

impl Watch {
    /// The `since_ms` of the next poll of `node`: the oldest bundle it lacks, or the oldest publication in flight,
    /// or now.
    fn floor(&self, node: usize) -> u64 {
        let pending = lock(&self.pending[node]).first().map(|(created, _)| *created);
        let in_flight = lock(&self.in_flight).values().min().copied();
        [pending, in_flight, Some(clock::now_ms())]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(0)
    }
}

/// Polls one node's API every [`POLL`] until `cancel`, recording what it serves.
async fn poll(
    index: usize,
    api: SocketAddr,
    token: String,
    client: reqwest::Client,
    shared: Arc<Shared>,
    watch: Arc<Watch>,
    cancel: CancellationToken,
) {
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            _ = ticks.tick() => {}
        }
        if !watch.up[index].load(Ordering::Acquire) {
            continue;
        }
        let since = watch.floor(index);
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("http://{api}/api/v1/bundles?limit=1000&since_ms={since}");
            if let Some(cursor) = &after {
                url.push_str("&after=");
                url.push_str(cursor);
            }
            let page = match client.get(&url).bearer_auth(&token).send().await {
                Ok(answer) if answer.status() == 200 => match answer.bytes().await {
                    Ok(bytes) => serde_json::from_slice::<BundlePage>(&bytes).ok(),
                    Err(_) => None,
                },
                Ok(answer) => {
                    watch.poll_errors.fetch_add(1, Ordering::Relaxed);
                    warn!(node = index, status = %answer.status(), "arrival poll refused");
                    None
                }
                // Connection refused or reset: the node is being killed or restarted.
                Err(_) => None,
            };
            let Some(page) = page else { break };
            let now = shared.now();
            for summary in &page.bundles {
                let Ok(id) = summary.id.parse::<BundleId>() else {
                    continue;
                };
                if lock(&watch.served).insert((index, id)) {
                    lock(&watch.summaries).entry(id).or_insert_with(|| summary.clone());
                    shared.arrived(index, id, now);
                    lock(&watch.pending[index]).remove(&(summary.created_ms, id));
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
}

/// The publish body of a planned bundle: the draft the in-process runner would sign, as JSON.
fn body(planned: &Planned, indicators: u32, federation: &dims_protocol::FederationId, ids: &[NodeId]) -> PublishBody {
    let draft = workload::draft(planned, indicators, federation, ids);
    PublishBody {
        tlp: draft.tlp.name().to_owned(),
        audience: Some(dims_node::intake::audience::spec(&draft.audience)),
        indicators: Some(
            draft
                .content
                .indicators()
                .iter()
                .map(|indicator| IndicatorInput {
                    value: indicator.value.to_string(),
                    kind: Some(indicator.value.kind().name().to_owned()),
                    ..IndicatorInput::default()
                })
                .collect(),
        ),
        ..PublishBody::default()
    }
}

/// Everything the publisher needs.
struct Publishing {
    plan: Vec<Planned>,
    apis: Vec<Option<(SocketAddr, String, OrgId)>>,
    ids: Vec<NodeId>,
    federation: dims_protocol::FederationId,
    indicators: u32,
    client: reqwest::Client,
    shared: Arc<Shared>,
    watch: Arc<Watch>,
    start: Instant,
}

/// Publishes the plan through the nodes' APIs, each bundle at its offset, up to 64 requests at once. Returns
/// (published, failed, first error).
async fn publish_all(p: Publishing) -> (u64, u64, Option<String>) {
    const IN_FLIGHT: u32 = 64;
    let permits = Arc::new(Semaphore::new(IN_FLIGHT as usize));
    let failures = Arc::new(Mutex::new((0u64, None::<String>)));
    let published = Arc::new(AtomicU64::new(0));
    let p = Arc::new(p);
    for planned in p.plan.clone() {
        tokio::time::sleep_until(tokio::time::Instant::from_std(p.start + planned.offset)).await;
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let p = Arc::clone(&p);
        let failures = Arc::clone(&failures);
        let published = Arc::clone(&published);
        tokio::spawn(async move {
            let outcome = publish_one(&p, &planned).await;
            lock(&p.watch.in_flight).remove(&planned.seq);
            match outcome {
                Ok(()) => {
                    published.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    let mut failures = lock(&failures);
                    failures.0 += 1;
                    failures.1.get_or_insert(format!("{e:#}"));
                }
            }
            drop(permit);
        });
    }
    let _ = permits.acquire_many(IN_FLIGHT).await;
    let (failed, first) = lock(&failures).clone();
    (published.load(Ordering::Relaxed), failed, first)
}

/// Publishes one planned bundle through its publisher's API. A publisher that is down (killed) takes it once it is up
/// again, as a client would retry; a request cut by a kill is sent again (if the first one was stored after all, that
/// bundle is judged by its own marking when it shows up).
async fn publish_one(p: &Publishing, planned: &Planned) -> anyhow::Result<()> {
    const GIVE_UP: Duration = Duration::from_secs(60);
    let (api, token, org) = p.apis[planned.publisher]
        .clone()
        .context("the publisher is not a dims process")?;
    let body = serde_json::to_vec(&body(planned, p.indicators, &p.federation, &p.ids))?;
    let give_up = clock::monotonic() + GIVE_UP;
    let (status, bytes, at) = loop {
        while !p.watch.up[planned.publisher].load(Ordering::Acquire) {
            anyhow::ensure!(
                clock::monotonic() < give_up,
                "the publisher stayed down for {GIVE_UP:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        lock(&p.watch.in_flight).insert(planned.seq, clock::now_ms());
        let at = p.shared.now();
        let sent = p
            .client
            .post(format!("http://{api}/api/v1/bundles"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) => {
                anyhow::ensure!(clock::monotonic() < give_up, "POST /api/v1/bundles: {e}");
                p.watch.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let status = answer.status();
        match answer.bytes().await {
            Ok(bytes) => break (status, bytes, at),
            Err(e) => {
                anyhow::ensure!(clock::monotonic() < give_up, "POST /api/v1/bundles: {e}");
                p.watch.retries.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    if status != 201 {
        bail!(
            "POST /api/v1/bundles answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    let published: PublishAnswer = serde_json::from_slice(&bytes).context("the publish answer")?;
    let id: BundleId = published
        .id
        .parse()
        .map_err(|e| anyhow::anyhow!("the published id: {e}"))?;
    let draft = workload::draft(planned, p.indicators, &p.federation, &p.ids);
    let mark = Mark {
        origin: p.ids[planned.publisher],
        author_org: org,
        author_member: None,
        tlp: draft.tlp,
        audience: draft.audience,
    };
    for (node, view) in p.shared.views.iter().enumerate() {
        if node != planned.publisher
            && p.watch.up.get(node).is_some()
            && p.apis[node].is_some()
            && may_receive(&mark.marking(), Receiver::Node(view)).is_ok()
            && !lock(&p.watch.served).contains(&(node, id))
        {
            lock(&p.watch.pending[node]).insert((published.created_ms, id));
        }
    }
    lock(&p.shared.truth).insert(
        id,
        Published {
            publisher: planned.publisher,
            mark,
            at,
        },
    );
    Ok(())
}

/// Applies one fault (kill or restart) to the processes.
async fn apply(
    action: &Action,
    procs: &mut [Option<Proc>],
    names: &[String],
    dims: &Path,
    client: &reqwest::Client,
    watch: &Watch,
) -> anyhow::Result<String> {
    match action {
        Action::Kill(selectors) => {
            let picked = pick_all(selectors, names)?;
            for &index in &picked {
                if let Some(proc) = procs[index].as_mut()
                    && proc.child.is_some()
                {
                    watch.up[index].store(false, Ordering::Release);
                    kill(proc).await?;
                }
            }
            Ok(format!("kill (SIGKILL) {}", join(&picked, names)))
        }
        Action::Restart(selectors) => {
            let picked = pick_all(selectors, names)?;
            for &index in &picked {
                if let Some(proc) = procs[index].as_mut()
                    && proc.child.is_none()
                {
                    start(dims, proc, client).await?;
                    watch.up[index].store(true, Ordering::Release);
                }
            }
            Ok(format!("restart (dims run) {}", join(&picked, names)))
        }
        Action::Partition(_) | Action::Heal | Action::Delay { .. } | Action::Drop { .. } | Action::Restore(_) => {
            bail!("{action:?} needs the in-process mode")
        }
    }
}

fn join(picked: &[usize], names: &[String]) -> String {
    picked.iter().map(|&i| names[i].as_str()).collect::<Vec<_>>().join(", ")
}

/// Each up node's `/federation/peers`.
async fn peers(procs: &[Option<Proc>], client: &reqwest::Client) -> Vec<Option<PeersReport>> {
    let mut reports = Vec::new();
    for proc in procs {
        let report = match proc.as_ref().filter(|p| p.child.is_some()) {
            Some(proc) => match client
                .get(format!("http://{}/federation/peers", proc.http))
                .send()
                .await
            {
                Ok(answer) if answer.status() == 200 => answer
                    .bytes()
                    .await
                    .ok()
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok()),
                _ => None,
            },
            None => None,
        };
        reports.push(report);
    }
    reports
}

/// One run of `scenario` with every honest node a `dims` process.
pub(crate) async fn run_once(
    scenario: &Scenario,
    dims: &Path,
    store_dir: Option<&Path>,
    seed: u64,
    mut topology: Topology,
    plan: Vec<Planned>,
    baseline: bool,
) -> anyhow::Result<Report> {
    check_supported(scenario)?;
    let label = if baseline {
        format!("{} (flood baseline)", scenario.name)
    } else {
        scenario.name.clone()
    };
    info!(scenario = %label, seed, nodes = topology.specs.len(), dims = %dims.display(), "simnet run (processes) starts");
    let dir = match store_dir {
        Some(parent) => tempfile::Builder::new().prefix("dims-simnet-").tempdir_in(parent),
        None => tempfile::Builder::new().prefix("dims-simnet-").tempdir(),
    }
    .context("cannot make a directory for the nodes")?;
    let set_up_dims = dims.to_owned();
    let set_up_dir = dir.path().to_owned();
    let set_up_scenario = scenario.clone();
    let (mut procs, topology) = tokio::task::spawn_blocking(move || {
        set_up(&set_up_dims, &set_up_dir, &set_up_scenario, &mut topology).map(|procs| (procs, topology))
    })
    .await??;
    let specs = &topology.specs;
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let ids: Vec<NodeId> = specs.iter().map(|s| s.id()).collect();
    let shared = Arc::new(Shared::new((0..specs.len()).map(|i| topology.truth_view(i)).collect()));
    let watch = Arc::new(Watch {
        up: (0..specs.len()).map(|_| AtomicBool::new(false)).collect(),
        pending: (0..specs.len()).map(|_| Mutex::new(BTreeSet::new())).collect(),
        in_flight: Mutex::new(HashMap::new()),
        served: Mutex::new(HashSet::new()),
        summaries: Mutex::new(HashMap::new()),
        retries: AtomicU64::new(0),
        poll_errors: AtomicU64::new(0),
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("the HTTP client")?;

    // Start every node; the nodes' CPU is what their exits add to the children's usage from here on.
    let children_start = Cpu::children_now();
    let own_start = Cpu::now();
    for (index, proc) in procs.iter_mut().enumerate() {
        if let Some(proc) = proc {
            start(dims, proc, &client)
                .await
                .with_context(|| format!("node {}", names[index]))?;
            watch.up[index].store(true, Ordering::Release);
        }
    }
    let cancel = CancellationToken::new();
    let mut pollers = Vec::new();
    for (index, proc) in procs.iter().enumerate() {
        if let Some(proc) = proc {
            pollers.push(tokio::spawn(poll(
                index,
                proc.api,
                proc.token.clone(),
                client.clone(),
                Arc::clone(&shared),
                Arc::clone(&watch),
                cancel.clone(),
            )));
        }
    }
    let everyone = procs.iter().flatten().count() as u64 - 1;
    let connect_deadline = clock::monotonic() + Duration::from_secs(60 + specs.len() as u64);
    loop {
        let reports = peers(&procs, &client).await;
        let lagging: Vec<&str> = procs
            .iter()
            .zip(&reports)
            .enumerate()
            .filter(|(_, (proc, report))| {
                proc.is_some() && report.as_ref().is_none_or(|r| r.stats.peers_connected < everyone)
            })
            .map(|(i, _)| names[i].as_str())
            .collect();
        if lagging.is_empty() {
            break;
        }
        if clock::monotonic() >= connect_deadline {
            for proc in procs.iter_mut().flatten() {
                let _ = stop(proc).await;
            }
            bail!("nodes not connected to all {everyone} peers in time: {lagging:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Gossip meshes form at heartbeats (a second by default in dims run): give them a few.
    tokio::time::sleep(Duration::from_secs(3)).await;
    info!(ms = shared.now().as_millis() as u64, "all dims processes connected");

    // Publishing, with the faults on schedule.
    let mut faults: Vec<(When, Action)> = scenario.faults.iter().map(|f| f.parts()).collect::<Result<_, _>>()?;
    faults.sort_by_key(|(when, _)| *when);
    let mut events = Vec::new();
    let mut last_fault = None;
    let mut pending = faults.into_iter().peekable();
    while let Some((When::At(Duration::ZERO), _)) = pending.peek() {
        let (_, action) = pending.next().expect("peeked");
        let action = apply(&action, &mut procs, &names, dims, &client, &watch).await?;
        events.push(FaultEvent { at_ms: 0.0, action });
        last_fault = Some(Duration::ZERO);
    }
    let start_at = clock::monotonic();
    let apis = procs
        .iter()
        .map(|p| p.as_ref().map(|p| (p.api, p.token.clone(), p.org.clone())))
        .collect();
    let mut publisher = tokio::spawn(publish_all(Publishing {
        plan: plan.clone(),
        apis,
        ids: ids.clone(),
        federation: topology.federation.clone(),
        indicators: scenario.workload.indicators,
        client: client.clone(),
        shared: Arc::clone(&shared),
        watch: Arc::clone(&watch),
        start: start_at,
    }));
    let mut publish_result = None;
    let mut publish_done: Option<Instant> = None;
    while pending.peek().is_some() || publish_result.is_none() {
        let due = pending.peek().and_then(|(when, _)| match when {
            When::At(at) => Some(start_at + *at),
            When::AfterPublish(after) => publish_done.map(|done| done + *after),
        });
        tokio::select! {
            result = &mut publisher, if publish_result.is_none() => {
                publish_result = Some(result.context("the publisher task failed")?);
                publish_done = Some(clock::monotonic());
            }
            () = sleep_until(due), if due.is_some() => {
                let (_, action) = pending.next().expect("peeked");
                let at = clock::monotonic().duration_since(start_at);
                let action = apply(&action, &mut procs, &names, dims, &client, &watch).await?;
                info!(at_ms = at.as_millis() as u64, fault = %action, "fault applied");
                events.push(FaultEvent { at_ms: at.as_secs_f64() * 1000.0, action });
                last_fault = Some(at);
            }
        }
    }
    let (published_count, failed, first_error) = publish_result.expect("the loop ends after publishing");
    let publish_done = publish_done.expect("set with the result");
    info!(published = published_count, failed, "publishing done");

    // Convergence: every entitled node that is up at the end serves every bundle.
    let up: Vec<bool> = procs
        .iter()
        .map(|p| p.as_ref().is_some_and(|p| p.child.is_some()))
        .collect();
    let expected = shared.expected(|index| up[index]);
    let reference = last_fault.map_or(publish_done, |at| (start_at + at).max(publish_done));
    let deadline = reference + Duration::from_millis(scenario.assertions.converge_timeout_ms);
    let mut converged_at = None;
    loop {
        let held = {
            let first = lock(&shared.first);
            expected.iter().filter(|pair| first.contains_key(pair)).count()
        };
        if held == expected.len() {
            converged_at = Some(clock::monotonic());
            break;
        }
        if clock::monotonic() >= deadline {
            warn!(held, expected = expected.len(), "not converged by the deadline");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wall = shared.now();

    // Counters, then stop everything (SIGTERM), then the oracle's full scan of every store.
    let reports = peers(&procs, &client).await;
    cancel.cancel();
    for poller in pollers {
        let _ = poller.await;
    }
    for proc in procs.iter_mut().flatten() {
        stop(proc).await?;
    }
    let nodes_cpu = Cpu::children_now().since(children_start);
    let own_cpu = Cpu::now().since(own_start);
    let paths: Vec<Option<PathBuf>> = procs
        .iter()
        .map(|p| p.as_ref().map(|p| p.root.join("data").join("dims.redb")))
        .collect();
    let stores = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Option<Store>>> {
        paths
            .into_iter()
            .map(|path| {
                path.map(|path| {
                    Store::open(&path, StoreConfig::default(), Arc::new(Metrics::new()))
                        .with_context(|| format!("opening {} after the run", path.display()))
                })
                .transpose()
            })
            .collect()
    })
    .await??;
    let counts: Vec<u64> = stores
        .iter()
        .map(|s| s.as_ref().and_then(|s| s.count().ok()).unwrap_or(0))
        .collect();
    let scan = scan_stores(stores, &shared).await?;

    // Judge: leaks served during the run (against the complete truth) and leaks stored.
    let mut leaks = Vec::new();
    let mut leaked: HashSet<(usize, BundleId)> = HashSet::new();
    let mut served: Vec<(usize, BundleId)> = lock(&watch.served).iter().copied().collect();
    served.sort();
    let served_violations: Vec<(usize, BundleId, String)> = {
        let truth = lock(&shared.truth);
        let summaries = lock(&watch.summaries);
        served
            .iter()
            .filter_map(|&(node, id)| {
                let mark = match truth.get(&id) {
                    Some(published) => published.mark.clone(),
                    None => match summaries.get(&id).map(|s| mark_of(s, &ids, &procs)) {
                        Some(Ok(mark)) => mark,
                        Some(Err(e)) => return Some((node, id, format!("served over the API: {e}"))),
                        None => return Some((node, id, "served over the API, with no summary".to_owned())),
                    },
                };
                may_receive(&mark.marking(), Receiver::Node(&shared.views[node]))
                    .err()
                    .map(|denial| (node, id, format!("served over the API: {denial}")))
            })
            .collect()
    };
    let online: Vec<(usize, BundleId, String)> = lock(&shared.online_leaks).clone();
    for (node, id, reason) in online
        .into_iter()
        .chain(served_violations)
        .chain(scan.violations.clone())
    {
        if leaked.insert((node, id)) {
            leaks.push(describe_leak(node, id, reason, &shared, &names, &scan));
        }
    }
    for leak in &leaks {
        eprintln!(
            "LEAK: {} holds {} ({} {}) published by {}: {}; arrivals {:?}",
            leak.node, leak.bundle, leak.tlp, leak.audience, leak.publisher, leak.reason, leak.path
        );
    }
    let held_at_end: HashSet<(usize, BundleId)> = scan.held.iter().copied().collect();
    let held_pairs = expected.iter().filter(|p| held_at_end.contains(p)).count() as u64;
    let (latency, samples) = latencies(&expected, &shared, specs);
    let convergence = convergence_curve(&expected, &shared, start_at.duration_since(shared.t0));
    let mut by_tlp = std::collections::BTreeMap::new();
    for published in lock(&shared.truth).values() {
        *by_tlp.entry(published.mark.tlp.to_string()).or_insert(0) += 1;
    }
    let new_arrivals = {
        let truth = lock(&shared.truth);
        scan.held
            .iter()
            .filter(|(node, id)| truth.get(id).is_some_and(|p| p.publisher != *node))
            .count() as u64
    };
    let per_node: Vec<NodeReport> = procs
        .iter()
        .enumerate()
        .filter_map(|(index, proc)| {
            proc.as_ref().map(|_| NodeReport {
                name: names[index].clone(),
                up: up[index],
                stored: counts[index],
                stats: reports[index]
                    .as_ref()
                    .map(|r| r.stats.clone())
                    .unwrap_or_else(StatsSnapshot::default),
                // Link faults are refused in process mode (`check_supported`).
                resets: 0,
            })
        })
        .collect();
    let expected_pairs = expected.len() as u64;
    let process_nodes: Vec<ProcessNode> = procs
        .iter()
        .flatten()
        .map(|p| ProcessNode {
            name: p.name.clone(),
            peak_rss_mib: p.peak_rss,
            exits: p.exits.clone(),
            clean: p.clean,
        })
        .collect();
    let poll_errors = watch.poll_errors.load(Ordering::Relaxed);
    if poll_errors > 0 {
        warn!(poll_errors, "some arrival polls were refused");
    }
    let peak_sum: f64 = process_nodes.iter().filter_map(|n| n.peak_rss_mib).sum();
    let report = Report {
        scenario: label,
        seed,
        mode: "processes".to_owned(),
        transport: "tcp".to_owned(),
        nodes: specs.len(),
        honest: specs.iter().filter(|s| s.is_honest()).count(),
        hostile: 0,
        workload: WorkloadReport {
            planned: plan.len() as u64,
            published: published_count,
            failed,
            first_error,
            seconds: publish_done.duration_since(start_at).as_secs_f64(),
            by_tlp,
        },
        delivery: Delivery::new(
            expected_pairs,
            held_pairs,
            converged_at.map(|at| at.duration_since(reference)),
            0,
        ),
        latency,
        leaks,
        traffic: Traffic::of(&per_node, held_pairs),
        // Gossip scores are for hostile scenarios, which process mode refuses.
        honest_min_score: None,
        duplicates: Duplicates::of(&per_node, new_arrivals),
        reconciliation: Reconciliation {
            rounds: per_node.iter().map(|n| n.stats.sync_rounds).sum(),
            bytes: per_node.iter().map(|n| n.stats.sync_bytes).sum(),
            heal: None,
        },
        hostile_members: Vec::new(),
        faults: events,
        resources: Resources {
            wall_s: wall.as_secs_f64(),
            cpu_user_s: nodes_cpu.user.as_secs_f64(),
            cpu_system_s: nodes_cpu.system.as_secs_f64(),
            peak_rss_mib: (peak_sum > 0.0).then_some(peak_sum),
            peak_reset: true,
        },
        per_node,
        processes: Some(ProcessesReport {
            dims: dims.display().to_string(),
            poll_ms: POLL.as_millis() as u64,
            served_pairs: served.len() as u64,
            reconcile_interval_s: seconds(scenario.federation.reconcile_interval_ms),
            redial_interval_s: seconds(scenario.federation.redial_ms),
            simulator_cpu_s: (own_cpu.user + own_cpu.system).as_secs_f64(),
            publish_retries: watch.retries.load(Ordering::Relaxed),
            nodes: process_nodes,
        }),
        checks: Vec::new(),
        baseline: None,
        convergence,
        samples,
    };
    drop(dir);
    Ok(report)
}

/// The marking of a served bundle the truth does not know, from its summary: its origin must be one of the run's
/// nodes, whose org its automation token publishes as.
fn mark_of(summary: &BundleSummary, ids: &[NodeId], procs: &[Option<Proc>]) -> anyhow::Result<Mark> {
    let origin: NodeId = summary
        .origin
        .parse()
        .map_err(|e| anyhow::anyhow!("origin {}: {e}", summary.origin))?;
    let index = ids
        .iter()
        .position(|id| *id == origin)
        .context("a bundle from an origin that is not a node of this run")?;
    let org = procs[index]
        .as_ref()
        .map(|p| p.org.clone())
        .context("a bundle from a node that runs no dims process")?;
    Ok(Mark {
        origin,
        author_org: org,
        author_member: None,
        tlp: summary.tlp.parse().map_err(|e| anyhow::anyhow!("tlp: {e}"))?,
        audience: dims_node::intake::audience::parse(&summary.audience, None)
            .map_err(|e| anyhow::anyhow!("audience: {e}"))?,
    })
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}
