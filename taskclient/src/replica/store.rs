//! The replica on disk: one sled tree, its keys, and durable writes.
//!
//! Keys, each under a one-letter prefix so that one atomic batch can change
//! several kinds at once:
//! - `m/NAME`: metadata, JSON (format, server, user, feed cursor, last sync);
//! - `t/ID` (16 bytes): a task as the replica shows it, JSON [`Stored`];
//! - `n/NUMBER` (8 bytes, big-endian) → task id: tasks by server number;
//! - `h/HANDLE` (big-endian) → task id: tasks created here, not yet numbered;
//! - `q/SEQ` (big-endian, so in order) → a queued change, JSON [`Queued`];
//! - `p/ID SEQ` → nothing: the queued changes of one task, in order.

use super::error::ReplicaError;
use super::queue::Queued;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use taskcore::{Task, TaskId};

/// The format this code writes and reads. A replica with a higher one was
/// written by a newer version: refused as [`ReplicaError::FutureFormat`].
pub(super) const FORMAT: u32 = 1;

/// How long opening waits for a replica that is in use: by another
/// process (one writer at a time), or by a handle this process just
/// dropped (sled's background threads let go of the files a moment later).
const OPEN_WAIT: Duration = Duration::from_secs(3);
const OPEN_RETRY: Duration = Duration::from_millis(10);

/// sled's page cache: a replica is one user's tasks, a few MiB at most.
const CACHE_BYTES: u64 = 16 * 1024 * 1024;

pub(super) const META_FORMAT: &str = "format";
pub(super) const META_SERVER: &str = "server";
pub(super) const META_USER: &str = "user";
pub(super) const META_CURSOR: &str = "cursor";
pub(super) const META_LAST_SYNC: &str = "last_sync";

const TASK: &[u8] = b"t/";
const NUMBER: &[u8] = b"n/";
const HANDLE: &[u8] = b"h/";
const QUEUE: &[u8] = b"q/";
const PENDING: &[u8] = b"p/";
const META: &[u8] = b"m/";

/// A task as the replica keeps it: `task.number` is 0 until the server has
/// numbered it (no server task has 0), and until then `handle` is its local
/// handle (`~1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Stored {
    pub task: Task,
    pub handle: Option<u64>,
}

/// Whether a write must be on disk before it returns.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    /// Flushed and synced: a local write, which nothing else could redo.
    Durable,
    /// Left to the next durable write (or sled's own flush every 500 ms):
    /// what a sync records, which the next sync redoes if it is lost.
    Lazy,
}

/// The replica's sled database.
pub(super) struct Store {
    db: sled::Db,
    /// The `db` file, synced after each flush: sled's flush ends with
    /// `sync_file_range`, which leaves the device cache and metadata out.
    file: File,
    path: PathBuf,
    /// The tasks written since [`Store::take_touched`] last ran.
    touched: Mutex<HashSet<TaskId>>,
}

impl Store {
    /// Opens (or creates, mode 0700) the database in `dir`; whether it was
    /// empty (new) is the second value.
    pub(super) fn open(dir: &Path) -> Result<(Self, bool), ReplicaError> {
        let path = dir.to_path_buf();
        prepare_directory(dir).map_err(|e| ReplicaError::Storage {
            path: path.clone(),
            reason: format!("cannot create the directory: {e}"),
        })?;
        let config = sled::Config::new().path(dir).cache_capacity(CACHE_BYTES);
        let started = Instant::now();
        let db = loop {
            match config.open().map_err(|e| open_error(&path, e)) {
                Err(ReplicaError::Busy { .. }) if started.elapsed() < OPEN_WAIT => {
                    std::thread::sleep(OPEN_RETRY);
                }
                other => break other?,
            }
        };
        restrict_permissions(dir);
        let file = File::open(dir.join("db")).map_err(|e| ReplicaError::Storage {
            path: path.clone(),
            reason: format!("cannot open its db file: {e}"),
        })?;
        let empty = db.is_empty();
        Ok((
            Self {
                db,
                file,
                path,
                touched: Mutex::new(HashSet::new()),
            },
            empty,
        ))
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    fn storage(&self, error: impl std::fmt::Display) -> ReplicaError {
        ReplicaError::Storage {
            path: self.path.clone(),
            reason: error.to_string(),
        }
    }

    fn damaged(&self, what: &str, error: impl std::fmt::Display) -> ReplicaError {
        ReplicaError::Unreadable {
            path: self.path.clone(),
            reason: format!("{what}: {error}"),
        }
    }

    fn decode<T: DeserializeOwned>(&self, what: &str, bytes: &[u8]) -> Result<T, ReplicaError> {
        serde_json::from_slice(bytes).map_err(|e| self.damaged(what, e))
    }

    fn get(&self, key: &[u8]) -> Result<Option<sled::IVec>, ReplicaError> {
        self.db.get(key).map_err(|e| self.storage(e))
    }

    /// A metadata value.
    pub(super) fn meta<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ReplicaError> {
        self.get(&meta_key(name))?
            .map(|bytes| self.decode(name, &bytes))
            .transpose()
    }

    /// The task with this id, as the replica shows it.
    pub(super) fn task(&self, id: TaskId) -> Result<Option<Stored>, ReplicaError> {
        self.get(&task_key(id))?
            .map(|bytes| self.decode("a task", &bytes))
            .transpose()
    }

    /// The id of the task with this server number.
    pub(super) fn by_number(&self, number: u64) -> Result<Option<TaskId>, ReplicaError> {
        self.id_at(&index_key(NUMBER, number))
    }

    /// The id of the task with this local handle.
    pub(super) fn by_handle(&self, handle: u64) -> Result<Option<TaskId>, ReplicaError> {
        self.id_at(&index_key(HANDLE, handle))
    }

    fn id_at(&self, key: &[u8]) -> Result<Option<TaskId>, ReplicaError> {
        match self.get(key)? {
            None => Ok(None),
            Some(bytes) => <[u8; 16]>::try_from(bytes.as_ref())
                .map(|b| Some(TaskId::from_bytes(b)))
                .map_err(|_| self.damaged("an index entry", "not a task id")),
        }
    }

    /// Every task the replica shows.
    pub(super) fn tasks(&self) -> Result<Vec<Stored>, ReplicaError> {
        self.db
            .scan_prefix(TASK)
            .values()
            .map(|value| {
                let value = value.map_err(|e| self.storage(e))?;
                self.decode("a task", &value)
            })
            .collect()
    }

    /// The highest local handle in use (0 if none).
    pub(super) fn last_handle(&self) -> Result<u64, ReplicaError> {
        match self.db.scan_prefix(HANDLE).keys().next_back() {
            None => Ok(0),
            Some(key) => {
                let key = key.map_err(|e| self.storage(e))?;
                Ok(index_of(&key))
            }
        }
    }

    /// The queued changes of one task, in order, with their sequence numbers.
    pub(super) fn pending(&self, id: TaskId) -> Result<Vec<(u64, Queued)>, ReplicaError> {
        let prefix = [PENDING, id.as_bytes().as_slice()].concat();
        let mut found = Vec::new();
        for key in self.db.scan_prefix(&prefix).keys() {
            let key = key.map_err(|e| self.storage(e))?;
            let seq = be_u64(key.get(PENDING.len() + 16..));
            let value = self
                .get(&index_key(QUEUE, seq))?
                .ok_or_else(|| self.damaged("the queue", "an index entry without its change"))?;
            found.push((seq, self.decode("a queued change", &value)?));
        }
        Ok(found)
    }

    /// The oldest queued change.
    pub(super) fn first_queued(&self) -> Result<Option<(u64, Queued)>, ReplicaError> {
        match self.db.scan_prefix(QUEUE).next() {
            None => Ok(None),
            Some(entry) => {
                let (key, value) = entry.map_err(|e| self.storage(e))?;
                Ok(Some((
                    index_of(&key),
                    self.decode("a queued change", &value)?,
                )))
            }
        }
    }

    /// Every queued change that can still be read, in order, and how many
    /// could not be: what is kept of a replica that is being replaced.
    pub(super) fn readable_queue(&self) -> (Vec<Queued>, usize) {
        let mut kept = Vec::new();
        let mut unreadable = 0;
        for entry in self.db.scan_prefix(QUEUE).values() {
            match entry.map(|value| serde_json::from_slice::<Queued>(&value)) {
                Ok(Ok(queued)) => kept.push(queued),
                _ => unreadable += 1,
            }
        }
        (kept, unreadable)
    }

    /// How many changes wait in the queue.
    pub(super) fn queue_len(&self) -> usize {
        self.db.scan_prefix(QUEUE).count()
    }

    /// A new queue sequence number, higher than every earlier one (also
    /// across restarts).
    pub(super) fn next_seq(&self) -> Result<u64, ReplicaError> {
        self.db.generate_id().map_err(|e| self.storage(e))
    }

    /// Applies `writes` atomically; with [`Durability::Durable`], they are
    /// on disk when this returns.
    pub(super) fn write(&self, writes: Writes, durability: Durability) -> Result<(), ReplicaError> {
        if let Some(error) = writes.error {
            return Err(self.storage(error));
        }
        self.db
            .apply_batch(writes.batch)
            .map_err(|e| self.storage(e))?;
        self.touched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(writes.tasks.into_keys());
        if durability == Durability::Durable {
            self.flush()?;
        }
        Ok(())
    }

    /// The tasks written since the last call (or since opening).
    pub(super) fn take_touched(&self) -> HashSet<TaskId> {
        std::mem::take(
            &mut *self
                .touched
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Makes every write so far durable.
    pub(super) fn flush(&self) -> Result<(), ReplicaError> {
        self.db.flush().map_err(|e| self.storage(e))?;
        self.file
            .sync_data()
            .map_err(|e| self.storage(format!("sync: {e}")))
    }
}

/// Changes to apply in one atomic batch. Tasks written to it read back
/// from it ([`Writes::task`]), so one batch can change a task twice.
#[derive(Default)]
pub(super) struct Writes {
    batch: sled::Batch,
    tasks: HashMap<TaskId, Option<Stored>>,
    /// A value that could not be encoded: the write fails as a whole.
    error: Option<String>,
}

impl Writes {
    fn encode<T: Serialize>(&mut self, value: &T) -> Vec<u8> {
        serde_json::to_vec(value).unwrap_or_else(|e| {
            self.error = Some(format!("cannot encode a record: {e}"));
            Vec::new()
        })
    }

    /// Sets a metadata value.
    pub(super) fn set_meta<T: Serialize>(&mut self, name: &str, value: &T) {
        let bytes = self.encode(value);
        self.batch.insert(meta_key(name), bytes);
    }

    /// The task as this batch leaves it, else as the store has it.
    pub(super) fn task(&self, store: &Store, id: TaskId) -> Result<Option<Stored>, ReplicaError> {
        match self.tasks.get(&id) {
            Some(task) => Ok(task.clone()),
            None => store.task(id),
        }
    }

    /// Replaces the task `id` (shown as `old`) with `new` (`None`: the
    /// replica no longer shows it), keeping the number and handle indexes.
    pub(super) fn put_task(&mut self, id: TaskId, old: Option<&Stored>, new: Option<&Stored>) {
        if let Some(old) = old {
            if old.task.number != 0 {
                self.batch.remove(index_key(NUMBER, old.task.number));
            }
            if let Some(handle) = old.handle {
                self.batch.remove(index_key(HANDLE, handle));
            }
        }
        match new {
            Some(new) => {
                let bytes = self.encode(new);
                self.batch.insert(task_key(id).to_vec(), bytes);
                if new.task.number != 0 {
                    self.batch
                        .insert(index_key(NUMBER, new.task.number), id.as_bytes().to_vec());
                }
                if let Some(handle) = new.handle {
                    self.batch
                        .insert(index_key(HANDLE, handle), id.as_bytes().to_vec());
                }
            }
            None => self.batch.remove(task_key(id).to_vec()),
        }
        self.tasks.insert(id, new.cloned());
    }

    /// Appends a change to the queue.
    pub(super) fn push_queue(&mut self, seq: u64, change: &Queued) {
        let bytes = self.encode(change);
        self.batch.insert(index_key(QUEUE, seq), bytes);
        self.batch.insert(pending_key(change.task, seq), Vec::new());
    }

    /// Takes a change out of the queue.
    pub(super) fn remove_queue(&mut self, seq: u64, change: &Queued) {
        self.batch.remove(index_key(QUEUE, seq));
        self.batch.remove(pending_key(change.task, seq));
    }
}

fn meta_key(name: &str) -> Vec<u8> {
    [META, name.as_bytes()].concat()
}

fn task_key(id: TaskId) -> [u8; 18] {
    let mut key = [0; 18];
    key[..2].copy_from_slice(TASK);
    key[2..].copy_from_slice(id.as_bytes());
    key
}

fn pending_key(id: TaskId, seq: u64) -> Vec<u8> {
    [PENDING, id.as_bytes().as_slice(), &seq.to_be_bytes()].concat()
}

fn index_key(prefix: &[u8], n: u64) -> Vec<u8> {
    [prefix, &n.to_be_bytes()].concat()
}

/// The number in a key made by [`index_key`].
fn index_of(key: &[u8]) -> u64 {
    be_u64(key.get(2..))
}

/// The big-endian number that `bytes` starts with (0 if too short: keys
/// are made here, always long enough).
fn be_u64(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| b.get(..8))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

/// Creates the directory, owner only (it holds the user's tasks).
fn prepare_directory(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// sled creates its files with the process umask: tighten the directory and
/// them to the owner. Best effort (a directory of another owner stays as
/// it is; the replica still works).
#[cfg(unix)]
fn restrict_permissions(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let restrict = |path: &Path, mode: u32| -> std::io::Result<()> {
        if std::fs::metadata(path)?.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    };
    let _ = restrict(dir, 0o700);
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let dir_entry = entry.file_type().is_ok_and(|t| t.is_dir());
            let _ = restrict(&entry.path(), if dir_entry { 0o700 } else { 0o600 });
        }
    }
}

#[cfg(not(unix))]
fn restrict_permissions(_dir: &Path) {}

fn open_error(path: &Path, error: sled::Error) -> ReplicaError {
    let path = path.to_path_buf();
    match error {
        sled::Error::Io(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.to_string().contains("could not acquire lock") =>
        {
            ReplicaError::Busy { path }
        }
        sled::Error::Io(e) => ReplicaError::Storage {
            path,
            reason: e.to_string(),
        },
        sled::Error::Unsupported(what) => ReplicaError::Unreadable { path, reason: what },
        sled::Error::Corruption { .. } => ReplicaError::Unreadable {
            path,
            reason: "its files are damaged".into(),
        },
        other => ReplicaError::Unreadable {
            path,
            reason: other.to_string(),
        },
    }
}
