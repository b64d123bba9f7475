//! Group commit: one flusher thread makes writes durable in batches.
//!
//! A writer first applies its change to sled (in memory), then calls
//! [`GroupCommit::wait`]: it takes the next sequence number and awaits the
//! first flush that *starts* after it registered. The thread loops: sleep
//! until someone is waiting, note the highest sequence registered, call
//! `Db::flush()` (sled's log writes, ending in `sync_file_range`), then
//! `sync_data()` on the `db` file (the device cache flush that
//! `sync_file_range` leaves out) and on any new blob file, and publish the
//! noted sequence as durable. Every writer that arrived while one flush ran
//! is covered by the next: one fsync for all of them.
//!
//! Batching: the first writer to find the thread idle is the batch's
//! leader. It yields to the runtime once before waking the thread, so the
//! other requests the runtime already has ready (on one core: every
//! connection whose request arrived meanwhile) apply their writes and
//! register first, and one flush covers them all. Waking the thread at
//! once made most flushes cover a single write, and each flush costs sled's
//! I/O thread hand-off and an fsync: most of the CPU of a durable write.
//!
//! Why not `flush_async().await` per request: with more waiters than runtime
//! worker threads it deadlocks. Why not `flush()` on `spawn_blocking` per
//! request: one fsync per write, and a blocking thread each. Waiting is a
//! [`tokio::sync::watch`] channel, so no runtime thread ever blocks on I/O.
//!
//! A failed flush is sticky: the waiting writers and every later call get
//! [`StoreError::Unavailable`] from [`GroupCommit::health`], reads
//! included, since memory may hold writes that never reached the disk (and
//! the server stops, so that a restart serves only what is on disk).
//! After a failed fsync the kernel may have dropped the dirty pages, so a
//! later success would not prove the earlier writes are on disk; the store
//! must be reopened (restart the process) to be trusted again.

use super::lock;
use crate::store::StoreError;
use crate::store::metrics::{AtomicHistogram, FlushMetrics};
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::watch;

/// Bucket bounds of the flush time, in seconds: a quiet disk syncs in about
/// 0.1 ms, a busy one in several ms.
const FLUSH_SECONDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Bucket bounds of the writes one flush makes durable.
const FLUSH_WRITES: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The flusher thread and the way writers wait for it.
pub(super) struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    status: watch::Sender<Status>,
    /// Written by the flusher thread alone, read by `/metrics`.
    stats: Stats,
}

/// What the flusher thread measures of its flushes.
struct Stats {
    seconds: AtomicHistogram,
    writes: AtomicHistogram,
    /// The `db` file and the blobs, in bytes, as of the last flush.
    size: AtomicU64,
}

#[derive(Default)]
struct State {
    /// The highest sequence number handed to a writer.
    registered: u64,
    /// Set when the store is dropped.
    shutdown: bool,
    /// Whether the thread is waiting on the condvar and no writer has
    /// taken on waking it (only then does a writer need to: a busy thread
    /// looks again when it is done).
    idle: bool,
}

#[derive(Clone, Debug, Default)]
struct Status {
    /// Every write registered at or below this sequence is durable.
    flushed: u64,
    /// The first flush failure, if any (sticky).
    failure: Option<String>,
}

/// What the thread makes durable.
pub(super) struct Target {
    /// The database (a clone of the store's).
    pub db: sled::Db,
    /// An open handle of the store's `db` file.
    pub file: File,
    /// The store's `blobs` directory.
    pub blobs: PathBuf,
}

impl GroupCommit {
    /// Starts the flusher thread.
    pub fn start(target: Target) -> io::Result<Self> {
        let (status, _) = watch::channel(Status::default());
        // Until the first flush: sled's own count (the db file and blobs).
        let size = target.db.size_on_disk().unwrap_or(0);
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            wake: Condvar::new(),
            status,
            stats: Stats {
                seconds: AtomicHistogram::new(&FLUSH_SECONDS),
                writes: AtomicHistogram::new(&FLUSH_WRITES),
                size: AtomicU64::new(size),
            },
        });
        let thread = std::thread::Builder::new()
            .name("taskstore-flush".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || run(&shared, target)
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Waits until everything written before this call is durable.
    pub async fn wait(&self) -> Result<(), StoreError> {
        let mut status = self.shared.status.subscribe();
        let (sequence, lead) = {
            let mut state = lock(&self.shared.state);
            state.registered += 1;
            (state.registered, std::mem::take(&mut state.idle))
        };
        if lead {
            // Wakes the thread also when this future is dropped during the
            // yield (a client that went away): nobody else would.
            let _wake = WakeOnDrop(&self.shared);
            // The writers that are ready now register before the flush
            // starts (see the module docs).
            tokio::task::yield_now().await;
        }
        let status = status
            .wait_for(|s| s.flushed >= sequence || s.failure.is_some())
            .await
            .map_err(|_| StoreError::backend("the store's flusher has stopped"))?;
        match &status.failure {
            Some(failure) => Err(failed(failure)),
            None => Ok(()),
        }
    }

    /// Marks the store failed as a failed flush does: sled reported an I/O
    /// error while applying a write, so memory may now hold what the disk
    /// never will (sled then fails its flushes too, but only once asked).
    pub fn fail(&self, reason: &str) {
        self.shared.status.send_modify(|status| {
            if status.failure.is_none() {
                tracing::error!(%reason, "writing to the store failed");
                status.failure = Some(reason.to_string());
            }
        });
    }

    /// The durable flushes so far: their times and the writes each covered.
    pub fn metrics(&self) -> FlushMetrics {
        FlushMetrics {
            seconds: self.shared.stats.seconds.snapshot(),
            writes: self.shared.stats.writes.snapshot(),
        }
    }

    /// The bytes of the `db` file and the blobs as of the last flush.
    pub fn size_on_disk(&self) -> u64 {
        self.shared.stats.size.load(Relaxed)
    }

    /// Whether every flush so far succeeded.
    pub fn health(&self) -> Result<(), StoreError> {
        match &self.shared.status.borrow().failure {
            Some(failure) => Err(failed(failure)),
            None => Ok(()),
        }
    }
}

/// Wakes the flusher thread when dropped.
struct WakeOnDrop<'a>(&'a Shared);

impl Drop for WakeOnDrop<'_> {
    fn drop(&mut self) {
        self.0.wake.notify_one();
    }
}

fn failed(failure: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "writing to disk failed, restart to recover: {failure}"
    ))
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        lock(&self.shared.state).shutdown = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the store's flusher thread panicked");
        }
    }
}

fn run(shared: &Shared, target: Target) {
    let mut blobs = BlobSync::default();
    let mut flushed = 0;
    loop {
        let goal = {
            let mut state = lock(&shared.state);
            while state.registered == flushed && !state.shutdown {
                state.idle = true;
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            state.idle = false;
            if state.registered == flushed {
                break;
            }
            state.registered
        };
        let started = Instant::now();
        let result = make_durable(&target, &mut blobs);
        // Before the writers are woken (a few atomics and one fstat), so a
        // write that returned is already counted.
        if result.is_ok() {
            let stats = &shared.stats;
            stats.seconds.record(started.elapsed().as_secs_f64());
            stats.writes.record((goal - flushed) as f64);
            if let Ok(meta) = target.file.metadata() {
                stats.size.store(meta.len() + blobs.total(), Relaxed);
            }
        }
        shared.status.send_modify(|status| match result {
            Ok(()) => status.flushed = goal,
            Err(e) => {
                tracing::error!(error = %e, "flushing the store failed");
                status.failure.get_or_insert(e);
            }
        });
        flushed = goal;
    }
    // Dropped with nothing waiting: leave the files synced all the same.
    if let Err(e) = make_durable(&target, &mut blobs) {
        tracing::error!(error = %e, "the final flush of the store failed");
    }
}

/// One durable flush: sled's log, then the device cache, then new blobs.
fn make_durable(target: &Target, blobs: &mut BlobSync) -> Result<(), String> {
    target.db.flush().map_err(|e| format!("flush: {e}"))?;
    blobs
        .sync_new(&target.blobs)
        .map_err(|e| format!("syncing blobs: {e}"))?;
    target.file.sync_data().map_err(|e| format!("sync: {e}"))
}

/// sled writes a page larger than a quarter segment (many large tasks in
/// one leaf) to its own file under `blobs/` and never syncs it. Each round
/// syncs the blob files not seen before at their current size, and then the
/// directory.
#[derive(Default)]
struct BlobSync {
    synced: HashMap<std::ffi::OsString, u64>,
}

impl BlobSync {
    /// The bytes of the blob files as of the last round.
    fn total(&self) -> u64 {
        self.synced.values().sum()
    }

    fn sync_new(&mut self, dir: &std::path::Path) -> io::Result<()> {
        let mut seen = HashMap::with_capacity(self.synced.len());
        let mut any = false;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let len = match entry.metadata() {
                Ok(meta) if meta.is_file() => meta.len(),
                Ok(_) => continue,
                // Removed by sled's blob GC meanwhile.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let name = entry.file_name();
            if self.synced.get(&name) != Some(&len) {
                match File::open(entry.path()) {
                    Ok(file) => file.sync_data()?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                any = true;
            }
            seen.insert(name, len);
        }
        if any {
            File::open(dir)?.sync_all()?;
        }
        self.synced = seen;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn start(dir: &std::path::Path) -> (sled::Db, GroupCommit) {
        let db = sled::Config::new().path(dir).open().expect("opens");
        let file = File::open(dir.join("db")).expect("db file");
        let commit = GroupCommit::start(Target {
            db: db.clone(),
            file,
            blobs: dir.join("blobs"),
        })
        .expect("starts");
        (db, commit)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_writers_all_complete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, commit) = start(dir.path());
        let commit = Arc::new(commit);
        let mut handles = Vec::new();
        for i in 0..64u32 {
            let db = db.clone();
            let commit = Arc::clone(&commit);
            handles.push(tokio::spawn(async move {
                db.insert(i.to_be_bytes(), &b"v"[..]).expect("insert");
                commit.wait().await
            }));
        }
        for handle in handles {
            tokio::time::timeout(Duration::from_secs(30), handle)
                .await
                .expect("no deadlock")
                .expect("joins")
                .expect("durable");
        }
        commit.health().expect("healthy");
        let metrics = commit.metrics();
        let flushes = metrics.seconds.count();
        assert!((1..=64).contains(&flushes), "{flushes} flushes");
        assert_eq!(metrics.writes.count(), flushes);
        // Every waiter is covered by exactly one flush.
        assert_eq!(metrics.writes.sum, 64.0);
        assert!(commit.size_on_disk() > 0);
    }

    /// The writer that took on waking the thread goes away before it did
    /// (its request was dropped): the writers after it are still flushed.
    #[tokio::test]
    async fn a_leader_dropped_while_it_yields_still_wakes_the_thread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_db, commit) = start(dir.path());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !lock(&commit.shared.state).idle {
            assert!(Instant::now() < deadline, "the thread never went idle");
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut leader = Box::pin(commit.wait());
        // One poll: it registers, takes the wake-up on itself, and yields.
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(leader.as_mut().poll(cx)));
        assert!(first.await.is_pending());
        assert!(!lock(&commit.shared.state).idle);
        drop(leader);
        tokio::time::timeout(Duration::from_secs(10), commit.wait())
            .await
            .expect("the thread was woken")
            .expect("durable");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_failed_sync_fails_the_waiters_and_stays_failed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::Config::new().path(dir.path()).open().expect("opens");
        // fdatasync on /dev/null is EINVAL: a flush that always fails.
        let file = File::open("/dev/null").expect("/dev/null");
        let commit = GroupCommit::start(Target {
            db,
            file,
            blobs: dir.path().join("blobs"),
        })
        .expect("starts");
        commit.health().expect("healthy before any flush");
        let err = commit.wait().await.expect_err("the flush fails");
        assert!(
            matches!(&err, StoreError::Unavailable(m) if m.contains("sync")),
            "{err}"
        );
        assert!(commit.health().is_err());
        assert!(commit.wait().await.is_err(), "sticky");
    }

    #[test]
    fn dropping_stops_the_thread_and_releases_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, commit) = start(dir.path());
        drop(commit);
        drop(db);
        // The thread's clone of the Db is gone too: the lock is free again.
        let (_db, _commit) = start(dir.path());
    }
}
