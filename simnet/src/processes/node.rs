//! One node's `dims` process ([`Proc`]) and its lifecycle: `dims` command lines without the simulator's own `DIMS_*`
//! settings, `dims run` started and waited for on `/readyz`, SIGKILL for a fault, SIGTERM (which must end it with
//! exit 0) at the end. Each exit is recorded, and the peak RSS
//! is read before the process goes, since `/proc/PID/status` goes with it.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use dims_node::clock;
use dims_protocol::OrgId;

use crate::measure::peak_rss_mib_of;

/// How long a `dims run` may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One node's `dims` process and everything needed to start it again.
pub(super) struct Proc {
    pub(super) name: String,
    pub(super) root: PathBuf,
    pub(super) config: PathBuf,
    pub(super) org: OrgId,
    pub(super) http: SocketAddr,
    pub(super) api: SocketAddr,
    pub(super) token: String,
    pub(super) child: Option<Child>,
    pub(super) peak_rss: Option<f64>,
    pub(super) exits: Vec<String>,
    pub(super) clean: bool,
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
pub(super) fn dims_ok(dims: &Path, config: Option<&Path>, args: &[&str]) -> anyhow::Result<String> {
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

/// Starts `dims run` for `proc` and waits for `/readyz`.
pub(super) async fn start(dims: &Path, proc: &mut Proc, client: &reqwest::Client) -> anyhow::Result<()> {
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
pub(super) async fn kill(proc: &mut Proc) -> anyhow::Result<()> {
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
pub(super) async fn stop(proc: &mut Proc) -> anyhow::Result<()> {
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
