//! The faults process mode supports, applied to the processes: `kill` is SIGKILL and `restart` starts `dims run` again
//! on the same folder and ports. [`Watch::up`] tells the pollers to skip a down node and the
//! publisher to wait for it. Every other fault needs the in-process mode and is refused before the run
//! (`check_supported`).

use std::path::Path;
use std::sync::atomic::Ordering;

use anyhow::bail;

use super::node::{Proc, kill, start};
use super::watch::Watch;
use crate::driver::join;
use crate::scenario::{Action, pick_all};

/// Applies one fault (kill or restart) to the processes.
pub(super) async fn apply(
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
