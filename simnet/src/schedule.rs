//! The scenario's faults on a timeline around the publisher, the same for nodes in this process and for `dims`
//! processes: faults at 0 ms are put in force before the first publication (not racing it), the others applied when
//! due, `at` counted from the first publication and `after_publish` from the moment publishing ended. Each mode
//! says how to apply one fault.

use std::iter::Peekable;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dims_node::clock;
use tokio::task::JoinHandle;

use crate::scenario::{Action, Scenario, When};

/// The faults not applied yet, in time order.
pub(crate) struct Schedule {
    pending: Peekable<std::vec::IntoIter<(When, Action)>>,
}

impl Schedule {
    /// The scenario's faults, sorted by when they happen.
    pub(crate) fn of(scenario: &Scenario) -> anyhow::Result<Schedule> {
        let mut faults: Vec<(When, Action)> = scenario.faults.iter().map(|f| f.parts()).collect::<Result<_, _>>()?;
        faults.sort_by_key(|(when, _)| *when);
        Ok(Schedule {
            pending: faults.into_iter().peekable(),
        })
    }

    /// Takes the faults at 0 ms, to apply before publishing starts.
    pub(crate) fn initial(&mut self) -> Vec<Action> {
        let mut initial = Vec::new();
        while let Some((When::At(Duration::ZERO), _)) = self.pending.peek() {
            initial.push(self.pending.next().expect("peeked").1);
        }
        initial
    }

    /// Waits for `publisher` (started at `start`) while applying every remaining fault when it is due, with the time
    /// since `start`; faults timed after publishing are applied after it too. Returns the publisher's result and
    /// when it finished.
    pub(crate) async fn run<T>(
        mut self,
        start: Instant,
        mut publisher: JoinHandle<T>,
        mut apply: impl AsyncFnMut(Action, Duration) -> anyhow::Result<()>,
    ) -> anyhow::Result<(T, Instant)> {
        let mut published: Option<(T, Instant)> = None;
        while self.pending.peek().is_some() || published.is_none() {
            let done = published.as_ref().map(|(_, done)| *done);
            let due = self.pending.peek().and_then(|(when, _)| match when {
                When::At(at) => Some(start + *at),
                When::AfterPublish(after) => done.map(|done| done + *after),
            });
            tokio::select! {
                result = &mut publisher, if published.is_none() => {
                    published = Some((result.context("the publisher task failed")?, clock::monotonic()));
                }
                () = sleep_until(due), if due.is_some() => {
                    let (_, action) = self.pending.next().expect("peeked");
                    apply(action, clock::monotonic().duration_since(start)).await?;
                }
            }
        }
        Ok(published.expect("the loop ends after publishing"))
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}
