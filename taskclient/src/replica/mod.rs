//! [`Replica`]: a local copy of one user's tasks that works offline and
//! syncs with the server. The merge rules are in [`Replica`]'s
//! documentation; one module per concept: the files on disk (`store`), the
//! queue of local changes (`queue`), the merge rules (`merge`) and the sync
//! (`sync`).

mod error;
mod merge;
mod queue;
mod store;
mod sync;
mod view;

pub use error::ReplicaError;
pub use queue::ChangeKind;
pub use sync::{DropReason, Dropped, Numbered, Successor, SyncReport};
pub use view::ReplicaView;

use crate::Client;
use queue::Queued;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use store::{Durability, Store, Stored, Writes};
use taskcore::{
    ListQuery, ProjectCount, Task, TaskDraft, TaskId, TaskPatch, TaskRef, Timestamp, UserId,
    project_counts,
};

/// Who a replica belongs to: one user of one server. A replica is opened
/// for an identity and refuses any other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The server's base URL, as the [`Client`] has it (a trailing `/` is
    /// dropped).
    pub server: String,
    /// The user's id.
    pub user: UserId,
}

impl Identity {
    /// The identity of `user` on the server at `server`.
    ///
    /// ```
    /// use taskclient::Identity;
    /// use taskcore::UserId;
    ///
    /// let user = UserId::generate();
    /// let identity = Identity::new("https://tasks.example.com/", user);
    /// assert_eq!(identity.server, "https://tasks.example.com");
    /// ```
    pub fn new(server: impl Into<String>, user: UserId) -> Self {
        let server: String = server.into();
        Self {
            server: server.trim_end_matches('/').to_string(),
            user,
        }
    }

    /// The identity of the user `client` is logged in as (asks the server:
    /// `GET /api/auth/me`).
    pub async fn of(client: &Client) -> crate::Result<Self> {
        let me = client.me().await?;
        Ok(Self::new(client.base_url(), me.id))
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user {} of {}", self.user, self.server)
    }
}

/// How a program names a task of a replica: by the server's number, by
/// the local handle of a task created here and not yet numbered (`~1`), or
/// by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LocalRef {
    /// The server's number (`12`).
    Number(u64),
    /// The local handle (`~1`).
    Handle(u64),
    /// The task's id.
    Id(TaskId),
}

impl LocalRef {
    /// Parses `12`, `~1` or a hyphenated UUID; `None` for anything else.
    ///
    /// ```
    /// use taskclient::LocalRef;
    ///
    /// assert_eq!(LocalRef::parse("~1"), Some(LocalRef::Handle(1)));
    /// assert_eq!(LocalRef::parse("12"), Some(LocalRef::Number(12)));
    /// assert_eq!(LocalRef::parse("~0"), None);
    /// assert_eq!(LocalRef::parse("~x"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(handle) = text.strip_prefix('~') {
            return taskcore::parse_decimal(handle)
                .filter(|&h| h > 0)
                .map(Self::Handle);
        }
        match TaskRef::parse(text)? {
            TaskRef::Id(id) => Some(Self::Id(id)),
            TaskRef::Number(n) => Some(Self::Number(n)),
        }
    }
}

impl fmt::Display for LocalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Handle(h) => write!(f, "~{h}"),
            Self::Id(id) => write!(f, "{id}"),
        }
    }
}

impl From<TaskId> for LocalRef {
    fn from(id: TaskId) -> Self {
        Self::Id(id)
    }
}

/// A task as the replica shows it: the server's state with the changes
/// still queued here applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalTask {
    /// The task. Its `number` is 0 until the server has numbered it (no
    /// server task has 0): use [`LocalTask::number`]. Its `version` and
    /// `updated_at` are the replica's until the next sync brings the
    /// server's.
    pub task: Task,
    /// The local handle (`~1`) of a task created here that the server has
    /// not numbered yet; `None` once it has.
    pub handle: Option<u64>,
}

impl LocalTask {
    /// The server's number, once the task has one.
    pub fn number(&self) -> Option<u64> {
        (self.task.number != 0).then_some(self.task.number)
    }

    /// The shortest way to name it: its number, else its handle.
    pub fn reference(&self) -> LocalRef {
        match (self.number(), self.handle) {
            (Some(n), _) => LocalRef::Number(n),
            (None, Some(h)) => LocalRef::Handle(h),
            (None, None) => LocalRef::Id(self.task.id),
        }
    }

    /// [`LocalTask::reference`] as text: `12`, or `~1`.
    pub fn label(&self) -> String {
        self.reference().to_string()
    }
}

impl From<Stored> for LocalTask {
    fn from(stored: Stored) -> Self {
        Self {
            task: stored.task,
            handle: stored.handle,
        }
    }
}

/// A local copy of one user's tasks on one server that works offline and
/// syncs (feature `replica`), on sled: the tasks, the queue of local
/// changes, the change-feed cursor, and the local handles of tasks not yet
/// numbered.
///
/// Reads come from the local copy, at local speed, with or without a
/// network. Writes apply to it at once, are queued, and are on disk before
/// they return. [`Replica::sync`] sends the queue in order, then pulls the
/// change feed, and reports what it sent, received and dropped.
///
/// The merge rules, the same for every program that embeds a replica: the
/// server's state is the truth, and a queued change carries only what the
/// user changed.
/// - A create is `PUT /api/tasks/{id}` with `If-None-Match: *` and the
///   UUIDv7 chosen here: sent twice (a sync cut off after the server got
///   it), it is `412 already_exists`, which counts as done.
/// - An edit is a `PATCH` of just the edited fields, without `If-Match`,
///   tags as `add_tags`/`remove_tags`: two devices that changed different
///   fields or different tags of one task both keep their change; for the
///   same field, the change that reaches the server last wins.
/// - A delete is a `DELETE` (404 counts as done); an edit of a task deleted
///   elsewhere is dropped and reported, and so is a change the server
///   refuses (422, with its message): the rest of the queue goes on.
/// - Completing a recurring task is an edit like any other; the server
///   makes the successor, once, and the next pull brings it.
///
/// A task created here has no number until the server gives it one: until
/// then [`LocalTask::number`] is `None` (its `task.number` is 0, which no
/// server task has) and it answers to its local handle, `~1`, `~2`, ...
/// ([`LocalRef::Handle`]). Handles are given from 1 up, and freed when the
/// task is numbered.
///
/// ```no_run
/// use taskclient::{Client, Identity, LocalRef, Replica};
/// use taskcore::{ListQuery, TaskDraft, TaskPatch};
///
/// # async fn run(client: Client) -> Result<(), Box<dyn std::error::Error>> {
/// // Once, online: who the replica belongs to (or keep it from the login).
/// let identity = Identity::of(&client).await?;
/// let replica = Replica::open("replica-dir", &identity)?;
///
/// // Offline or not: at once, and durable.
/// let added = replica.create(TaskDraft::new("Buy oat milk")?)?;
/// println!("added task {}", added.label()); // ~1
/// let done = TaskPatch { completed: Some(true), ..TaskPatch::default() };
/// replica.update(&LocalRef::parse("~1").ok_or("a handle")?, done)?;
/// for local in replica.list(&ListQuery::default())? {
///     println!("{} {}", local.label(), local.task.title);
/// }
///
/// // When the server can be reached.
/// let report = replica.sync(&client).await?;
/// println!("sent {}, received {}, dropped {}", report.sent, report.received, report.dropped.len());
/// for dropped in &report.dropped {
///     eprintln!("{dropped}");
/// }
/// # Ok(())
/// # }
/// ```
///
/// One process at a time has a replica open (a second [`Replica::open`]
/// of the same directory is [`ReplicaError::Busy`]); within the process,
/// share it (it is `Send + Sync`): writes and syncs take turns. A program
/// that only reads can use [`ReplicaView`] instead, which opens nothing
/// and waits for no one: the replica keeps that view at the end of each
/// sync, and when a handle that wrote since is dropped (one file written
/// in `drop`).
pub struct Replica {
    store: Store,
    identity: Identity,
    /// One local write (or one step of a sync) at a time: each reads, then
    /// writes what it read.
    writing: Mutex<()>,
    /// One sync at a time.
    syncing: tokio::sync::Mutex<()>,
    /// The view for readers, as this handle knows it.
    view: Mutex<ViewState>,
}

/// What a handle knows of the view for readers ([`ReplicaView`]).
struct ViewState {
    /// Whether the file lags the database (deleted by a write, or never
    /// written): then it is written when the handle is dropped.
    stale: bool,
    /// The tasks of the last view this handle read or wrote: with the
    /// tasks written since ([`Store::take_touched`]) read again, the next
    /// view, without reading every task.
    tasks: Option<HashMap<TaskId, Stored>>,
}

impl Drop for Replica {
    /// Writes the view for readers if it lags: what every write made
    /// durable, at the cost of one file for all of them.
    fn drop(&mut self) {
        let stale = self.view.lock().map_or(true, |view| view.stale);
        if stale {
            self.save_view();
        }
    }
}

impl fmt::Debug for Replica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replica")
            .field("path", &self.store.path())
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// Opens the replica in `dir` for `identity`, creating it (and the
    /// directory, mode 0700) if there is none.
    ///
    /// - A replica of another user or server is [`ReplicaError::Foreign`],
    ///   and nothing of it is read.
    /// - One from a newer version is [`ReplicaError::FutureFormat`], a
    ///   damaged one (or another sled database) [`ReplicaError::Unreadable`]:
    ///   move it aside ([`ReplicaError::is_unreadable`]) and open a new one;
    ///   its first sync fills it.
    /// - One open in another process is waited for, up to 3 s (one
    ///   writer at a time), then [`ReplicaError::Busy`]. So is one that a
    ///   handle of this process has just closed: sled lets go of its files
    ///   a moment after the last handle is dropped.
    pub fn open(dir: impl AsRef<Path>, identity: &Identity) -> Result<Self, ReplicaError> {
        let dir = dir.as_ref();
        let identity = Identity::new(identity.server.clone(), identity.user);
        let (store, empty) = Store::open(dir)?;
        if empty {
            let mut writes = Writes::default();
            writes.set_meta(store::META_FORMAT, &store::FORMAT);
            writes.set_meta(store::META_SERVER, &identity.server);
            writes.set_meta(store::META_USER, &identity.user);
            store.write(writes, Durability::Durable)?;
        } else {
            check_owner(&store, &identity)?;
        }
        // Without a view, this handle writes one when it is done.
        let view = Mutex::new(ViewState {
            stale: !view::exists(dir),
            tasks: None,
        });
        Ok(Self {
            store,
            identity,
            writing: Mutex::new(()),
            syncing: tokio::sync::Mutex::new(()),
            view,
        })
    }

    /// Writes the view of what is durable now, for readers
    /// ([`ReplicaView`]). Best effort: without one, readers open the
    /// database.
    fn save_view(&self) {
        // Under the write lock: no write slips in between reading the
        // tasks and marking the view current.
        let _writing = self.write_lock();
        let mut state = self.view_state();
        let Ok(last_sync) = self.last_sync() else {
            return;
        };
        let Some(tasks) = self.view_tasks(&mut state) else {
            return;
        };
        let list: Vec<Stored> = tasks.values().cloned().collect();
        view::save(self.path(), &self.identity, last_sync, self.queued(), list);
        state.tasks = Some(tasks);
        state.stale = false;
    }

    /// The tasks the next view shows: the last view's, with the tasks
    /// written since read again; every task when this handle knows no
    /// view. `None` if the database cannot be read.
    fn view_tasks(&self, state: &mut ViewState) -> Option<HashMap<TaskId, Stored>> {
        self.read_current_view(state);
        let touched = self.store.take_touched();
        match state.tasks.take() {
            Some(mut tasks) => {
                for id in touched {
                    match self.store.task(id).ok()? {
                        Some(stored) => tasks.insert(id, stored),
                        None => tasks.remove(&id),
                    };
                }
                Some(tasks)
            }
            None => Some(by_id(self.store.tasks().ok()?)),
        }
    }

    /// Reads the view's tasks into `state` when the file is current and
    /// not read yet: the base the next view is built on.
    fn read_current_view(&self, state: &mut ViewState) {
        if state.tasks.is_none() && !state.stale {
            state.tasks = view::load(self.path(), &self.identity).map(by_id);
        }
    }

    fn view_state(&self) -> MutexGuard<'_, ViewState> {
        // A panic elsewhere leaves at worst a stale flag: writes check it.
        self.view
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies `writes` durably. The first write after the view was
    /// written deletes it, so that a crash before the next one leaves no
    /// view rather than a stale one; the view is written again at the end
    /// of the next sync, or when the replica is dropped.
    fn write_durably(&self, writes: Writes) -> Result<(), ReplicaError> {
        {
            let mut state = self.view_state();
            if !state.stale {
                // Its tasks first: the next view is built on them.
                self.read_current_view(&mut state);
                view::forget(self.path())?;
                state.stale = true;
            }
        }
        self.store.write(writes, Durability::Durable)
    }

    /// [`Replica::open`], and for a replica that cannot be read (damaged,
    /// or from a newer version): moves it aside (to `DIR.unreadable-SECONDS`),
    /// opens a new one in `dir`, and queues there again every change of the
    /// old queue that can still be read, so that nothing the user did
    /// waits in vain. The new replica's first sync fills it from the
    /// server. The old one stays where it was moved, for the user to
    /// delete.
    ///
    /// The old queue is read only when the old replica says it belongs to
    /// `identity`: another user's changes are never read.
    pub fn open_or_rebuild(
        dir: impl AsRef<Path>,
        identity: &Identity,
    ) -> Result<(Self, Option<Rebuilt>), ReplicaError> {
        let dir = dir.as_ref();
        let reason = match Self::open(dir, identity) {
            Err(error) if error.is_unreadable() => error,
            other => return other.map(|replica| (replica, None)),
        };
        let moved_to = aside(dir);
        std::fs::rename(dir, &moved_to).map_err(|e| ReplicaError::Storage {
            path: dir.to_path_buf(),
            reason: format!("cannot move the unreadable replica aside: {e}"),
        })?;
        let replica = Self::open(dir, identity)?;
        let (queue, lost) = old_queue(&moved_to, &replica.identity);
        let kept = queue.len();
        replica.requeue(queue)?;
        Ok((
            replica,
            Some(Rebuilt {
                reason,
                moved_to,
                kept,
                lost,
            }),
        ))
    }

    /// Queues `changes` again, in order, and shows what they make of tasks
    /// the replica does not have yet (the ones created here).
    fn requeue(&self, changes: Vec<Queued>) -> Result<(), ReplicaError> {
        let _writing = self.write_lock();
        let mut writes = Writes::default();
        let mut tasks: Vec<TaskId> = Vec::new();
        for queued in &changes {
            writes.push_queue(self.store.next_seq()?, queued);
            if !tasks.contains(&queued.task) {
                tasks.push(queued.task);
            }
        }
        for id in tasks {
            let pending = changes.iter().filter(|q| q.task == id);
            if let Some(shown) = merge::replay(None, pending) {
                writes.put_task(id, None, Some(&shown));
            }
        }
        self.write_durably(writes)
    }

    /// Who the replica belongs to.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The replica's directory.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// The task named by `task`, as the replica shows it; `None` if it has
    /// no such task.
    pub fn get(&self, task: &LocalRef) -> Result<Option<LocalTask>, ReplicaError> {
        Ok(self.find(task)?.map(LocalTask::from))
    }

    /// Every task that passes the filters of `query`, in its order: the
    /// same filters and order as the server's `GET /api/tasks`
    /// (`ListQuery::matches`, `ListQuery::compare`). A local read has no
    /// pages: `limit` and `cursor` are not used.
    pub fn list(&self, query: &ListQuery) -> Result<Vec<LocalTask>, ReplicaError> {
        Ok(list_of(self.store.tasks()?, query))
    }

    /// Every project the replica's tasks name, and every parent of one,
    /// with their counts: what `GET /api/projects` answers.
    pub fn projects(&self) -> Result<Vec<ProjectCount>, ReplicaError> {
        Ok(projects_of(&self.store.tasks()?))
    }

    /// How many local changes wait to be sent.
    pub fn queued(&self) -> usize {
        self.store.queue_len()
    }

    /// When the last sync ended (the server's changes pulled), if ever.
    pub fn last_sync(&self) -> Result<Option<Timestamp>, ReplicaError> {
        self.store.meta(store::META_LAST_SYNC)
    }

    /// Creates a task here: a UUIDv7 chosen now, the next local handle, no
    /// number until the server gives one; queued as a create. On disk when
    /// this returns.
    ///
    /// [`ReplicaError::Invalid`] if the draft breaks a rule (a rule
    /// without a due date).
    pub fn create(&self, draft: TaskDraft) -> Result<LocalTask, ReplicaError> {
        draft.check_rule().map_err(ReplicaError::Invalid)?;
        let _writing = self.write_lock();
        let id = TaskId::generate();
        let now = Timestamp::now();
        let handle = self.store.last_handle()?.saturating_add(1);
        let queued = Queued::create(id, &draft, handle, now);
        let stored = Stored {
            task: Task::new(id, 0, draft, now),
            handle: Some(handle),
        };
        let mut writes = Writes::default();
        writes.push_queue(self.store.next_seq()?, &queued);
        writes.put_task(id, None, Some(&stored));
        self.write_durably(writes)?;
        Ok(stored.into())
    }

    /// Changes the fields `patch` sets (`tags` replaces the set; or
    /// `add_tags`/`remove_tags`), here at once, and queues an edit of just
    /// the fields that changed, tags as additions and removals. A patch
    /// that changes nothing queues nothing. On disk when this returns.
    ///
    /// [`ReplicaError::NotFound`] if the replica has no such task;
    /// [`ReplicaError::Invalid`] if the result breaks a rule (nothing
    /// changes).
    pub fn update(&self, task: &LocalRef, patch: TaskPatch) -> Result<LocalTask, ReplicaError> {
        let _writing = self.write_lock();
        let current = self
            .find(task)?
            .ok_or_else(|| ReplicaError::NotFound(task.to_string()))?;
        let now = Timestamp::now();
        let mut edited = current.task.clone();
        edited
            .apply(patch, &mut None, now)
            .map_err(ReplicaError::Invalid)?;
        let edit = merge::edit_between(&current.task, &edited);
        if merge::is_empty(&edit) {
            return Ok(current.into());
        }
        let queued = Queued::edit(current.task.id, &edit, now);
        // What the replica shows is what replaying the queue gives.
        let shown = merge::replay(Some(current.task.clone()), [&queued]).map(|s| Stored {
            handle: current.handle,
            ..s
        });
        let mut writes = Writes::default();
        writes.push_queue(self.store.next_seq()?, &queued);
        writes.put_task(current.task.id, Some(&current), shown.as_ref());
        self.write_durably(writes)?;
        shown
            .map(LocalTask::from)
            .ok_or_else(|| ReplicaError::NotFound(task.to_string()))
    }

    /// Deletes a task here and queues the deletion. On disk when this
    /// returns. [`ReplicaError::NotFound`] if the replica has no such task.
    pub fn delete(&self, task: &LocalRef) -> Result<(), ReplicaError> {
        let _writing = self.write_lock();
        let current = self
            .find(task)?
            .ok_or_else(|| ReplicaError::NotFound(task.to_string()))?;
        let id = current.task.id;
        let mut writes = Writes::default();
        writes.push_queue(
            self.store.next_seq()?,
            &Queued::delete(id, Timestamp::now()),
        );
        writes.put_task(id, Some(&current), None);
        self.write_durably(writes)
    }

    fn find(&self, task: &LocalRef) -> Result<Option<Stored>, ReplicaError> {
        let id = match *task {
            LocalRef::Id(id) => Some(id),
            LocalRef::Number(n) => self.store.by_number(n)?,
            LocalRef::Handle(h) => self.store.by_handle(h)?,
        };
        match id {
            Some(id) => self.store.task(id),
            None => Ok(None),
        }
    }

    fn write_lock(&self) -> MutexGuard<'_, ()> {
        // The guarded data is `()`: a panic elsewhere leaves nothing broken.
        self.writing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What [`Replica::open_or_rebuild`] did with a replica it could not read.
#[derive(Debug)]
pub struct Rebuilt {
    /// Why it could not be read.
    pub reason: ReplicaError,
    /// Where it was moved.
    pub moved_to: PathBuf,
    /// How many of its queued changes wait in the new replica.
    pub kept: usize,
    /// What of its queue was lost.
    pub lost: Lost,
}

/// What of an unreadable replica's queue [`Replica::open_or_rebuild`]
/// could not keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lost {
    /// Nothing: every queued change was read (or there was none).
    Nothing,
    /// This many queued changes could not be read.
    Changes(usize),
    /// Its files could not be opened at all: whatever it queued is lost.
    Unknown,
}

/// `dir.unreadable-SECONDS`, or with a counter if that is taken.
fn aside(dir: &Path) -> PathBuf {
    let stamp = Timestamp::now().as_secs();
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut candidate = dir.with_file_name(format!("{name}.unreadable-{stamp}"));
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = dir.with_file_name(format!("{name}.unreadable-{stamp}-{n}"));
    }
    candidate
}

/// The queued changes of the replica moved to `path` that can be read,
/// and what could not be. Nothing is read of a replica that does not say
/// it belongs to `identity`.
fn old_queue(path: &Path, identity: &Identity) -> (Vec<Queued>, Lost) {
    let Ok((store, _)) = Store::open(path) else {
        // Not even sled can open it: whatever it queued is gone.
        return (Vec::new(), Lost::Unknown);
    };
    let server: Option<String> = store.meta(store::META_SERVER).ok().flatten();
    let user: Option<UserId> = store.meta(store::META_USER).ok().flatten();
    if server.as_deref() != Some(identity.server.as_str()) || user != Some(identity.user) {
        return (Vec::new(), Lost::Unknown);
    }
    let (queue, unreadable) = store.readable_queue();
    let lost = match unreadable {
        0 => Lost::Nothing,
        n => Lost::Changes(n),
    };
    (queue, lost)
}

/// `tasks` by id.
fn by_id(tasks: Vec<Stored>) -> HashMap<TaskId, Stored> {
    tasks.into_iter().map(|s| (s.task.id, s)).collect()
}

/// The tasks of `tasks` that pass `query`'s filters, in its order: the
/// same filters and order as the server's `GET /api/tasks`.
fn list_of(tasks: impl IntoIterator<Item = Stored>, query: &ListQuery) -> Vec<LocalTask> {
    // The server lowercases the search text as it reads the query string;
    // `ListQuery::matches` expects it so.
    let lowered;
    let query = match &query.q {
        Some(q) if q.chars().any(char::is_uppercase) => {
            lowered = ListQuery {
                q: Some(q.to_lowercase()),
                ..query.clone()
            };
            &lowered
        }
        _ => query,
    };
    let mut found: Vec<_> = tasks
        .into_iter()
        .filter(|stored| query.matches(&stored.task))
        .map(|stored| (query.position_of(&stored.task), stored))
        .collect();
    found.sort_by(|a, b| query.compare(&a.0, &b.0));
    found.into_iter().map(|(_, stored)| stored.into()).collect()
}

/// The projects `tasks` name, and every parent of one, with their counts.
fn projects_of(tasks: &[Stored]) -> Vec<ProjectCount> {
    project_counts(tasks.iter().filter_map(|stored| {
        let task = &stored.task;
        task.project.as_ref().map(|p| (p, task.completed, 1))
    }))
}

/// Refuses a replica that is not `identity`'s, or not readable by this
/// version, before anything else of it is read.
fn check_owner(store: &Store, identity: &Identity) -> Result<(), ReplicaError> {
    let unreadable = |reason: &str| ReplicaError::Unreadable {
        path: store.path().to_path_buf(),
        reason: reason.to_string(),
    };
    let format: u32 = store
        .meta(store::META_FORMAT)?
        .ok_or_else(|| unreadable("it is not a replica (no format marker)"))?;
    if format > store::FORMAT {
        return Err(ReplicaError::FutureFormat {
            path: store.path().to_path_buf(),
            found: format,
            supported: store::FORMAT,
        });
    }
    if format < store::FORMAT {
        return Err(unreadable(&format!("unknown format {format}")));
    }
    let server: String = store
        .meta(store::META_SERVER)?
        .ok_or_else(|| unreadable("its server is not recorded"))?;
    let user: UserId = store
        .meta(store::META_USER)?
        .ok_or_else(|| unreadable("its user is not recorded"))?;
    if server != identity.server || user != identity.user {
        return Err(ReplicaError::Foreign {
            path: store.path().to_path_buf(),
            server: identity.server.clone(),
            user: identity.user,
            found_server: server,
            found_user: user,
        });
    }
    Ok(())
}
