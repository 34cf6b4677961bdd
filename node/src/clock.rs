//! The node's one clock. Everything below the node (the protocol crate, the store's logic) takes time as an argument;
//! this is the only place that reads the system clock, so tests can drive the rest with fixed times.

/// Milliseconds since the Unix epoch, as dims timestamps count them.
#[allow(clippy::disallowed_methods)]
pub fn now_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

/// Microseconds since the Unix epoch: the store's arrival times (`added_after` in TAXII).
#[allow(clippy::disallowed_methods)]
pub fn now_us() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX)
}

/// A monotonic instant, for measuring durations (commit latency, timeouts).
#[allow(clippy::disallowed_methods)]
pub fn monotonic() -> std::time::Instant {
    std::time::Instant::now()
}
