//! Named workers: every long-running part of a node (a listener, the federation's event loop, the bridge, the purge
//! schedule, and later the portal, TAXII, the flow collector, detectors and feeds) runs as a worker with a name and a
//! status that the operations listener and `dims doctor` show.
//!
//! Invariants kept here: a worker is stopped only through its own cancellation token and then awaited, so stopping
//! is orderly; [`Workers::stop`] stops them in the reverse order of their start, so a listener stops taking requests
//! before the parts it serves go away; a worker's status is written only by its supervisor and by the worker itself
//! through its [`WorkerContext`], never guessed from outside. A worker that returns an error either stays failed, with
//! the reason, or (when spawned with [`Workers::spawn_restarting`]) is started again after a backoff that doubles per
//! consecutive failure, so a transient fault heals without taking the node down and a persistent one does not spin.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Why a worker stopped working: its message is shown as the worker's status, so it says what to do.
pub type WorkerError = Box<dyn std::error::Error + Send + Sync>;

/// What a worker is doing now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WorkerState {
    /// Working, or ready to work as soon as something arrives (a listener, an event loop).
    Running,
    /// A scheduled worker between its runs.
    Idle,
    /// Ended with an error and will not be started again.
    Failed {
        /// The error.
        reason: String,
    },
    /// Ended with an error; it is started again after a backoff.
    Restarting {
        /// The error.
        reason: String,
        /// Consecutive failures so far.
        attempt: u32,
        /// Milliseconds until the next start.
        retry_in_ms: u64,
    },
    /// Stopped on request, or finished.
    Stopped,
}

/// One worker's row in the status table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WorkerStatus {
    /// The worker's name (`federation`, `api`, `purge`, ...).
    pub name: String,
    /// What it is doing.
    #[serde(flatten)]
    pub state: WorkerState,
    /// When it entered that state, in ms since the epoch.
    pub since_ms: u64,
}

impl WorkerStatus {
    /// Whether the worker needs an operator's attention.
    pub fn is_unhealthy(&self) -> bool {
        matches!(self.state, WorkerState::Failed { .. } | WorkerState::Restarting { .. })
    }
}

/// The status of every worker of a node, in start order; cheap to clone and read from any task.
#[derive(Clone, Debug, Default)]
pub struct WorkerTable(Arc<Mutex<Vec<WorkerStatus>>>);

impl WorkerTable {
    /// A copy of every worker's status, in start order.
    pub fn snapshot(&self) -> Vec<WorkerStatus> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set(&self, name: &str, state: WorkerState) {
        let mut rows = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let since_ms = crate::clock::now_ms();
        match rows.iter_mut().find(|row| row.name == name) {
            Some(row) if row.state == state => {}
            Some(row) => {
                row.state = state;
                row.since_ms = since_ms;
            }
            None => rows.push(WorkerStatus {
                name: name.to_owned(),
                state,
                since_ms,
            }),
        }
    }
}

/// What a running worker holds: its cancellation token, and a way to report that it is idle or busy.
#[derive(Clone, Debug)]
pub struct WorkerContext {
    name: &'static str,
    table: WorkerTable,
    cancel: CancellationToken,
}

impl WorkerContext {
    /// The token that fires when the worker must stop; a worker selects on it (cancel arm first).
    pub fn cancel(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The worker waits for its next run.
    pub fn idle(&self) {
        self.table.set(self.name, WorkerState::Idle);
    }

    /// The worker is working.
    pub fn busy(&self) {
        self.table.set(self.name, WorkerState::Running);
    }
}

/// How long a restarting worker waits after its `attempt`-th consecutive failure (1-based): `base`, doubling per
/// failure, at most `max`.
pub fn restart_delay(attempt: u32, base: Duration, max: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    base.saturating_mul(1 << doublings).min(max)
}

/// The first and the longest wait before a failed worker is started again.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// After the first failure.
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

struct Running {
    name: &'static str,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// A node's workers: started one by one, stopped together in reverse order.
#[derive(Default)]
pub struct Workers {
    table: WorkerTable,
    running: Vec<Running>,
}

impl Workers {
    /// No workers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The status table, to serve or print.
    pub fn table(&self) -> WorkerTable {
        self.table.clone()
    }

    /// Whether a worker of this name runs.
    pub fn is_running(&self, name: &str) -> bool {
        self.running.iter().any(|running| running.name == name)
    }

    /// Runs `work` once as the worker `name`: when it returns `Ok` the worker is stopped; when it returns an error
    /// (or panics) the worker is failed with that reason, and the rest of the node goes on.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, work: F)
    where
        F: FnOnce(WorkerContext) -> Fut,
        Fut: Future<Output = Result<(), WorkerError>> + Send + 'static,
    {
        let context = self.context(name);
        let table = self.table.clone();
        let task = tokio::spawn(work(context.clone()));
        let supervised = tokio::spawn(async move {
            let state = match task.await {
                Ok(Ok(())) => WorkerState::Stopped,
                Ok(Err(e)) => failed(name, &*e),
                Err(e) => failed(name, &e),
            };
            table.set(name, state);
        });
        self.push(&context, supervised);
    }

    /// Supervises a task already started with `cancel` as its stop signal (the federation's event loop, which its
    /// own `spawn` starts): the worker is stopped when the task returns, failed if it panics.
    pub fn adopt(&mut self, name: &'static str, cancel: CancellationToken, task: JoinHandle<()>) {
        self.table.set(name, WorkerState::Running);
        let table = self.table.clone();
        let supervised = tokio::spawn(async move {
            let state = match task.await {
                Ok(()) => WorkerState::Stopped,
                Err(e) => failed(name, &e),
            };
            table.set(name, state);
        });
        self.running.push(Running {
            name,
            cancel,
            task: supervised,
        });
    }

    /// Runs `make` as the worker `name`, and again after a backoff whenever its run ends with an error, until the
    /// worker is stopped. A run that ends `Ok` stops the worker. A run that lasted longer than `backoff.max` before
    /// failing starts the count again, so one failure a day never waits the longest delay.
    pub fn spawn_restarting<F, Fut>(&mut self, name: &'static str, backoff: Backoff, mut make: F)
    where
        F: FnMut(WorkerContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), WorkerError>> + Send + 'static,
    {
        let context = self.context(name);
        let handle = context.clone();
        let table = self.table.clone();
        let supervised = tokio::spawn(async move {
            let mut attempt = 0u32;
            loop {
                let started = crate::clock::monotonic();
                table.set(name, WorkerState::Running);
                let outcome = tokio::spawn(make(context.clone())).await;
                let reason = match outcome {
                    Ok(Ok(())) => break,
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                };
                if context.cancel.is_cancelled() {
                    break;
                }
                attempt = if started.elapsed() > backoff.max {
                    1
                } else {
                    attempt + 1
                };
                let wait = restart_delay(attempt, backoff.base, backoff.max);
                warn!(worker = name, error = %reason, attempt, retry_in_ms = wait.as_millis() as u64,
                      "worker failed; restarting after a backoff");
                table.set(
                    name,
                    WorkerState::Restarting {
                        reason,
                        attempt,
                        retry_in_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    },
                );
                tokio::select! {
                    biased;
                    () = context.cancel.cancelled() => break,
                    () = tokio::time::sleep(wait) => {}
                }
            }
            table.set(name, WorkerState::Stopped);
        });
        self.push(&handle, supervised);
    }

    /// Stops every worker, the last started first, each awaited before the next is told to stop.
    pub async fn stop(&mut self) {
        while let Some(running) = self.running.pop() {
            running.cancel.cancel();
            if let Err(e) = running.task.await {
                warn!(worker = running.name, error = %e, "worker supervisor ended abnormally");
            }
            info!(worker = running.name, "stopped");
        }
    }

    /// Stops one worker (and waits for it); the others go on.
    pub async fn stop_one(&mut self, name: &str) {
        if let Some(index) = self.running.iter().position(|running| running.name == name) {
            let running = self.running.remove(index);
            running.cancel.cancel();
            let _ = running.task.await;
        }
    }

    fn context(&self, name: &'static str) -> WorkerContext {
        self.table.set(name, WorkerState::Running);
        WorkerContext {
            name,
            table: self.table.clone(),
            cancel: CancellationToken::new(),
        }
    }

    fn push(&mut self, context: &WorkerContext, task: JoinHandle<()>) {
        self.running.push(Running {
            name: context.name,
            cancel: context.cancel.clone(),
            task,
        });
    }
}

fn failed(name: &str, error: &dyn std::fmt::Display) -> WorkerState {
    warn!(worker = name, error = %error, "worker failed");
    WorkerState::Failed {
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn state_of(workers: &Workers, name: &str) -> WorkerState {
        let rows = workers.table().snapshot();
        rows.into_iter()
            .find(|row| row.name == name)
            .map(|row| row.state)
            .expect("a row for the worker")
    }

    async fn wait_for(workers: &Workers, name: &str, done: impl Fn(&WorkerState) -> bool) -> WorkerState {
        for _ in 0..500 {
            let state = state_of(workers, name);
            if done(&state) {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("{name} never reached the expected state: {:?}", state_of(workers, name));
    }

    #[test]
    fn restart_delays_double_up_to_the_maximum() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let delays: Vec<u64> = (1..=8).map(|a| restart_delay(a, base, max).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(restart_delay(u32::MAX, base, max), max);
    }

    #[tokio::test]
    async fn a_failing_worker_is_failed_with_its_reason_and_the_others_go_on() {
        let mut workers = Workers::new();
        workers.spawn("steady", |context| async move {
            context.cancel().cancelled().await;
            Ok(())
        });
        workers.spawn("broken", |_| async {
            Err("the socket is gone: restart the node".into())
        });
        let state = wait_for(&workers, "broken", |s| matches!(s, WorkerState::Failed { .. })).await;
        assert_eq!(
            state,
            WorkerState::Failed {
                reason: "the socket is gone: restart the node".into()
            }
        );
        assert_eq!(state_of(&workers, "steady"), WorkerState::Running);
        workers.stop().await;
        assert_eq!(state_of(&workers, "steady"), WorkerState::Stopped);
    }

    #[tokio::test]
    async fn a_panicking_worker_is_failed_not_the_node() {
        let mut workers = Workers::new();
        #[allow(clippy::panic)]
        workers.spawn("panics", |_| async { panic!("boom") });
        let state = wait_for(&workers, "panics", |s| matches!(s, WorkerState::Failed { .. })).await;
        assert!(matches!(state, WorkerState::Failed { reason } if reason.contains("panic")));
    }

    #[tokio::test]
    async fn a_restarting_worker_backs_off_and_recovers() {
        let mut workers = Workers::new();
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let backoff = Backoff {
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
        };
        workers.spawn_restarting("flaky", backoff, move |context| {
            let run = counted.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if run < 3 {
                    return Err(format!("run {run} failed").into());
                }
                context.cancel().cancelled().await;
                Ok(())
            }
        });
        let state = wait_for(&workers, "flaky", |s| matches!(s, WorkerState::Restarting { .. })).await;
        assert_eq!(
            state,
            WorkerState::Restarting {
                reason: "run 1 failed".into(),
                attempt: 1,
                retry_in_ms: 200
            }
        );
        // 200 ms, then 400 ms of backoff bring the third run, which lasts.
        while runs.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        wait_for(&workers, "flaky", |s| *s == WorkerState::Running).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        workers.stop().await;
        assert_eq!(state_of(&workers, "flaky"), WorkerState::Stopped);
    }

    #[tokio::test]
    async fn workers_stop_in_reverse_order_of_their_start() {
        let mut workers = Workers::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        for name in ["store-writer", "federation", "api"] {
            let order = order.clone();
            workers.spawn(name, move |context| async move {
                context.cancel().cancelled().await;
                order.lock().unwrap_or_else(PoisonError::into_inner).push(name);
                Ok(())
            });
        }
        workers.stop().await;
        assert_eq!(
            *order.lock().unwrap_or_else(PoisonError::into_inner),
            ["api", "federation", "store-writer"]
        );
    }

    #[tokio::test]
    async fn a_scheduled_worker_reports_idle_between_runs() {
        let mut workers = Workers::new();
        workers.spawn("purge", |context| async move {
            context.idle();
            context.cancel().cancelled().await;
            Ok(())
        });
        wait_for(&workers, "purge", |s| *s == WorkerState::Idle).await;
        workers.stop().await;
    }
}
