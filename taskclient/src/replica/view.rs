//! [`ReplicaView`]: what a replica shows, in one file beside its database,
//! for programs that only read.
//!
//! Opening the sled database costs a process several milliseconds (its
//! threads, its recovery) and waits while another process has it open; a
//! command that only lists tasks needs neither. So the replica keeps
//! `view.json` in its directory: the tasks as shown, the last sync, the
//! length of the queue. The file never shows what the database does not
//! hold durably, nor hides a local write:
//! - the first local write of a handle deletes it, so a crash before it is
//!   written again leaves no view (readers open the database) rather than
//!   one without the write;
//! - it is written at the end of each sync, after what the sync recorded
//!   is flushed, and when a handle that left it stale (or found none) is
//!   dropped: once per process, not once per write;
//! - it is replaced by a rename, so a reader sees the old file or the new.

use super::store::{FORMAT, Stored};
use super::{Identity, LocalRef, LocalTask, ReplicaError};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use taskcore::{ListQuery, ProjectCount, Timestamp, UserId};

/// The file's name in the replica's directory.
const VIEW_FILE: &str = "view.json";

/// The file's content.
#[derive(Serialize, Deserialize)]
struct ViewFile {
    format: u32,
    server: String,
    user: UserId,
    last_sync: Option<Timestamp>,
    queued: usize,
    tasks: Vec<Stored>,
}

/// What a replica shows, read from the file it keeps for readers, without
/// opening its database: no threads, no waiting for a process that has it
/// open. It answers like [`Replica`](super::Replica)'s reads.
///
/// [`ReplicaView::open`] finds no view when the replica has none that can
/// be trusted (a process has written to it and not yet synced or closed
/// it, or was killed before it could; the replica was never opened by this
/// version): open the [`Replica`](super::Replica) then, which writes one
/// when it is dropped.
#[derive(Debug)]
pub struct ReplicaView {
    last_sync: Option<Timestamp>,
    queued: usize,
    tasks: Vec<Stored>,
}

impl ReplicaView {
    /// The view of the replica in `dir`, if it has one that belongs to
    /// `identity` and this version can read; `None` otherwise (nothing of
    /// another user's view is returned).
    pub fn open(dir: impl AsRef<Path>, identity: &Identity) -> Option<Self> {
        read(dir.as_ref(), identity).map(|file| Self {
            last_sync: file.last_sync,
            queued: file.queued,
            tasks: file.tasks,
        })
    }

    /// When the replica last synced, if ever.
    pub fn last_sync(&self) -> Option<Timestamp> {
        self.last_sync
    }

    /// How many local changes wait to be sent.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// The task named by `task`, as the replica shows it.
    pub fn get(&self, task: &LocalRef) -> Option<LocalTask> {
        self.tasks
            .iter()
            .find(|stored| match *task {
                LocalRef::Id(id) => stored.task.id == id,
                LocalRef::Number(n) => stored.task.number == n && n != 0,
                LocalRef::Handle(h) => stored.handle == Some(h),
            })
            .cloned()
            .map(LocalTask::from)
    }

    /// Every task that passes `query`'s filters, in its order, as
    /// [`Replica::list`](super::Replica::list).
    pub fn list(&self, query: &ListQuery) -> Vec<LocalTask> {
        super::list_of(self.tasks.iter().cloned(), query)
    }

    /// The projects with their counts, as
    /// [`Replica::projects`](super::Replica::projects).
    pub fn projects(&self) -> Vec<ProjectCount> {
        super::projects_of(&self.tasks)
    }
}

/// The view file of the replica in `dir`, if it is `identity`'s and this
/// version's.
fn read(dir: &Path, identity: &Identity) -> Option<ViewFile> {
    let bytes = std::fs::read(view_path(dir)).ok()?;
    let file: ViewFile = serde_json::from_slice(&bytes).ok()?;
    let identity = Identity::new(identity.server.clone(), identity.user);
    (file.format == FORMAT && file.server == identity.server && file.user == identity.user)
        .then_some(file)
}

/// The tasks of the view of the replica in `dir`, if it has one.
pub(super) fn load(dir: &Path, identity: &Identity) -> Option<Vec<Stored>> {
    read(dir, identity).map(|file| file.tasks)
}

/// Where the view of the replica in `dir` is.
fn view_path(dir: &Path) -> PathBuf {
    dir.join(VIEW_FILE)
}

/// Deletes the view: the replica is about to change.
pub(super) fn forget(dir: &Path) -> Result<(), ReplicaError> {
    match std::fs::remove_file(view_path(dir)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ReplicaError::Storage {
            path: dir.to_path_buf(),
            reason: format!("cannot delete its view: {e}"),
        }),
    }
}

/// Whether the replica in `dir` has a view.
pub(super) fn exists(dir: &Path) -> bool {
    view_path(dir).exists()
}

/// Writes the view of a replica whose durable state is this. Best effort:
/// without a view, readers open the database, which is slower, not wrong.
pub(super) fn save(
    dir: &Path,
    identity: &Identity,
    last_sync: Option<Timestamp>,
    queued: usize,
    tasks: Vec<Stored>,
) {
    let file = ViewFile {
        format: FORMAT,
        server: identity.server.clone(),
        user: identity.user,
        last_sync,
        queued,
        tasks,
    };
    let Ok(bytes) = serde_json::to_vec(&file) else {
        return;
    };
    // A crash may leave the new file empty, which readers do not trust:
    // no need to sync it.
    let written = tempfile::NamedTempFile::new_in(dir).and_then(|mut temp| {
        temp.write_all(&bytes)?;
        temp.persist(view_path(dir)).map_err(|e| e.error)
    });
    drop(written);
}
