//! Measurements of the process running the simulation: latency percentiles, CPU time (getrusage) and peak resident
//! memory (VmHWM from `/proc/self/status`).

use std::time::Duration;

use serde::Serialize;

/// Percentiles of a set of latencies, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// How many samples.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// The largest.
    pub max: f64,
    /// The mean.
    pub mean: f64,
}

impl Percentiles {
    /// Percentiles (nearest rank) of `samples` in milliseconds; all zero when there are none.
    pub fn of(samples: &[f64]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let at = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[at - 1]
        };
        Percentiles {
            count: sorted.len(),
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: sorted[sorted.len() - 1],
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
        }
    }
}

/// CPU time used by this process so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    /// User time.
    pub user: Duration,
    /// System time.
    pub system: Duration,
}

impl Cpu {
    /// The process's CPU time now (zero if getrusage fails, which it does not on Linux).
    pub fn now() -> Cpu {
        use nix::sys::resource::{UsageWho, getrusage};
        match getrusage(UsageWho::RUSAGE_SELF) {
            Ok(usage) => Cpu {
                user: timeval(usage.user_time()),
                system: timeval(usage.system_time()),
            },
            Err(_) => Cpu::default(),
        }
    }

    /// The CPU time of this process's children that have been waited for (getrusage `RUSAGE_CHILDREN`): in process
    /// mode, the `dims` processes that have exited.
    pub fn children_now() -> Cpu {
        use nix::sys::resource::{UsageWho, getrusage};
        match getrusage(UsageWho::RUSAGE_CHILDREN) {
            Ok(usage) => Cpu {
                user: timeval(usage.user_time()),
                system: timeval(usage.system_time()),
            },
            Err(_) => Cpu::default(),
        }
    }

    /// The CPU time spent since `earlier`.
    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

fn timeval(tv: nix::sys::time::TimeVal) -> Duration {
    Duration::from_secs(tv.tv_sec().max(0) as u64) + Duration::from_micros(tv.tv_usec().max(0) as u64)
}

/// The process's peak resident set size in MiB (`VmHWM`), if the platform reports it.
pub fn peak_rss_mib() -> Option<f64> {
    peak_rss_mib_of("self")
}

/// The peak resident set size of process `pid` (`self` or a number) in MiB, while it runs.
pub fn peak_rss_mib_of(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets the peak RSS counter (Linux: writing 5 to `/proc/self/clear_refs`), so that a second run in the same
/// process reports its own peak. Returns whether it worked; if not, peaks are the process's since its start.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(&samples);
        assert_eq!((p.p50, p.p90, p.p99, p.max, p.count), (50.0, 90.0, 99.0, 100.0, 100));
        assert_eq!(Percentiles::of(&[]), Percentiles::default());
        assert_eq!(Percentiles::of(&[7.0]).p99, 7.0);
    }

    #[test]
    fn the_process_has_used_cpu_and_memory() {
        let spin: u64 = (0..1_000_000u64).fold(0, |a, b| a.wrapping_add(b * b));
        assert!(spin > 0);
        assert!(peak_rss_mib().is_some_and(|mib| mib > 0.0));
    }
}
