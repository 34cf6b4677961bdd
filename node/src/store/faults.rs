//! Fault injection for the tests of the store's failure paths: a failed group commit, and a failed write to the
//! database file underneath redb.
//!
//! Production code never sets [`super::StoreConfig::faults`], and then none of this is on the path: the database is
//! opened on redb's own file backend. With faults configured, the file backend is wrapped in `FaultyBackend`,
//! which delegates every call (locks included, so the single-process guarantee still holds) and fails a write when
//! asked to.

use std::fmt;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// Switches for injected failures, shared between a test and the store it configures.
#[derive(Clone, Default)]
pub struct Faults {
    state: Arc<FaultState>,
}

#[derive(Default)]
struct FaultState {
    commits: AtomicU32,
    writes: AtomicU32,
}

impl Faults {
    /// No faults armed.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `count` group commits write every row of their batch and then abort instead of committing, which is
    /// what a failing commit looks like to the callers: every request of the batch gets the error and nothing of it
    /// becomes visible.
    pub fn fail_commits(&self, count: u32) {
        self.state.commits.store(count, Ordering::SeqCst);
    }

    /// The next `count` writes to the database file fail with an I/O error. redb then fails the commit for real and
    /// refuses the handle until it is reopened, which exercises the writer's recovery.
    pub fn fail_writes(&self, count: u32) {
        self.state.writes.store(count, Ordering::SeqCst);
    }

    /// Consumes one armed commit failure, if any.
    pub(crate) fn take_commit_failure(&self) -> bool {
        take(&self.state.commits)
    }

    fn take_write_failure(&self) -> bool {
        take(&self.state.writes)
    }
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults")
            .field("commits", &self.state.commits.load(Ordering::Relaxed))
            .field("writes", &self.state.writes.load(Ordering::Relaxed))
            .finish()
    }
}

fn take(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1))
        .is_ok()
}

/// redb's file backend with injectable write failures.
#[derive(Debug)]
pub(crate) struct FaultyBackend {
    inner: FileBackend,
    faults: Faults,
}

impl FaultyBackend {
    pub(crate) fn new(inner: FileBackend, faults: Faults) -> Self {
        Self { inner, faults }
    }
}

impl StorageBackend for FaultyBackend {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        if self.faults.take_write_failure() {
            return Err(std::io::Error::other("injected write failure"));
        }
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}
