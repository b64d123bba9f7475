//! The storage abstraction. [`TaskStore`] is async and backend-neutral; the
//! sled backend ([`SledStore`]) is the default, and the PostgreSQL one
//! (`postgres` module, feature `postgres`) sits behind the same trait and
//! passes the same conformance suite (`tests/conformance`).
//!
//! Every task operation takes the owner first, and the usual way in is the
//! scoped handle [`UserTasks`] from `store.tasks_of(owner)`: there
//! is no operation that reaches a task by its id alone, so one user's request
//! cannot touch another user's tasks even by mistake.

#[cfg(feature = "server")]
pub mod bounded;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "server")]
pub mod signals;
#[cfg(feature = "server")]
mod sled;
#[cfg(feature = "server")]
pub mod transfer;

#[cfg(feature = "server")]
pub use self::metrics::{FlushMetrics, Histogram, PoolMetrics, StoreMetrics};
#[cfg(feature = "server")]
#[cfg(feature = "postgres")]
pub use self::postgres::{PgConfig, PgStore};
#[cfg(feature = "server")]
pub use self::signals::{Signals, Subscription};
#[cfg(feature = "server")]
pub use self::sled::{SledConfig, SledStore};
#[cfg(feature = "server")]
pub use self::transfer::{
    ApiTokenExport, ExportRecord, ExportReport, ImportReport, RecordCounts, TaskExport, UserExport,
};

#[cfg_attr(not(feature = "server"), allow(unused_imports))]
use crate::domain::{
    ApiTokenId, ChangePage, Credentials, Email, ExternalIdentity, FeedPosition, ListQuery,
    Position, Precondition, ProjectCount, SessionId, Task, TaskDraft, TaskId, TaskPage, TaskPatch,
    TaskRef, Timestamp, User, UserId, ValidationErrors,
};
#[cfg(feature = "server")]
use async_trait::async_trait;
#[cfg(feature = "server")]
use std::time::Duration;

/// The version of the on-disk layout this code writes and reads.
#[cfg(feature = "server")]
pub const FORMAT_VERSION: u32 = 4;

/// A SHA-256 digest of a refresh token or an API token: stores keep only these.
#[cfg(feature = "server")]
pub type TokenHash = [u8; 32];

/// What can go wrong in a store.
#[cfg(feature = "server")]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The task (or token) does not exist for this owner.
    #[error("not found")]
    NotFound,
    /// The email is already registered.
    #[error("the email is already registered")]
    EmailTaken,
    /// An `If-Match` precondition failed.
    #[error("the version does not match")]
    VersionMismatch,
    /// The owner has as many live tasks as allowed.
    #[error("the task limit is reached")]
    TaskLimitReached,
    /// A create with a chosen id: the owner has a task with that id, or
    /// had one (deleted); nothing was written.
    #[error("a task with this id exists or existed")]
    AlreadyExists,
    /// The user has as many live API tokens as allowed.
    #[error("the API token limit is reached")]
    ApiTokenLimitReached,
    /// A change would break a rule that spans the stored task and the
    /// change (a rule without a due date, too many tags after `add_tags`);
    /// nothing was written.
    #[error("the change is not valid: {0}")]
    Invalid(ValidationErrors),
    /// The data on disk was written by a newer version, or is damaged.
    #[error("the store's data is not readable by this version: {0}")]
    Incompatible(String),
    /// An import found records already in the store with other content;
    /// nothing was written. Each entry says which record and why.
    #[error("the import conflicts with the store ({} conflicts): {}", .0.len(), .0.first().map(String::as_str).unwrap_or(""))]
    ImportConflict(Vec<String>),
    /// The store cannot serve now: the database is down or does not
    /// answer in time, the disk is full, or a flush failed. Retrying later
    /// may succeed; a write that failed this way may or may not have been
    /// applied.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The backend failed (I/O, a statement, ...).
    #[error("storage failure: {message}")]
    Backend {
        /// What failed, in words.
        message: String,
        /// The backend's own error, when there is one, so a log shows the chain.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

#[cfg(feature = "server")]
impl StoreError {
    /// A backend failure described in words alone.
    pub fn backend(message: impl Into<String>) -> Self {
        Self::Backend {
            message: message.into(),
            source: None,
        }
    }

    /// A backend failure with the backend's own error as its source.
    pub fn backend_caused_by(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Backend {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// A new login session, with its first refresh token.
#[cfg(feature = "server")]
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Session id (the `sid` claim).
    pub id: SessionId,
    /// Whose session.
    pub user_id: UserId,
    /// When the user logged in.
    pub created_at: Timestamp,
    /// When the session ends whatever happens (login + 90 days).
    pub expires_at: Timestamp,
    /// Hash of the first refresh token.
    pub refresh_hash: TokenHash,
    /// When that refresh token expires.
    pub refresh_expires_at: Timestamp,
}

/// A live session, as the per-request token check sees it.
#[cfg(feature = "server")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// Session id.
    pub id: SessionId,
    /// Whose session.
    pub user_id: UserId,
    /// When it ends at the latest.
    pub expires_at: Timestamp,
}

/// A refresh request: the presented token and the one that replaces it.
#[cfg(feature = "server")]
#[derive(Clone, Debug)]
pub struct RefreshRequest {
    /// Hash of the token presented.
    pub presented: TokenHash,
    /// Hash of the new token to issue if the presented one is current.
    pub replacement: TokenHash,
    /// Now.
    pub now: Timestamp,
    /// Lifetime of the new refresh token (capped by the session's end).
    pub refresh_ttl: Duration,
    /// How long after its rotation a used token is refused without revoking.
    pub reuse_grace: Duration,
}

#[cfg(feature = "server")]
impl RefreshRequest {
    /// Whether presenting a token that was rotated at `used_at` is within
    /// the reuse grace. Measured from when the reuse is seen, not from when
    /// the request started: a request that waited behind the rotation (on a
    /// lock) is a reuse, not one from before it. Both stores decide by this.
    pub fn reuse_within_grace(&self, used_at: Timestamp) -> bool {
        let seen = self.now.max(Timestamp::now());
        let since = seen.as_micros().saturating_sub(used_at.as_micros());
        i64::try_from(self.reuse_grace.as_micros()).map_or(true, |grace| since <= grace)
    }
}

/// Locks a mutex, carrying on after a panic elsewhere: the stores guard only
/// counters, queues and caches that stay consistent at every step.
#[cfg(feature = "server")]
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a refresh did.
#[cfg(feature = "server")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was current: it is now used, the replacement is current.
    Rotated {
        /// The session's user.
        user: User,
        /// The session, which continues.
        session: SessionId,
        /// When the replacement token expires.
        refresh_expires_at: Timestamp,
    },
    /// The token was unknown, expired, or its session has ended.
    Invalid,
    /// The token was used before, within the grace period: refused, nothing revoked.
    ReusedWithinGrace,
    /// The token was used before: the whole session is now revoked.
    ReusedSessionRevoked,
}

/// One page of tasks, already serialized as the API's JSON array.
#[cfg(feature = "server")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskPageJson {
    /// `[{task}, {task}, ...]`, exactly as the API returns them.
    /// Shared, so a kept page is handed out without copying.
    pub tasks: bytes::Bytes,
    /// How many tasks the array holds.
    pub count: usize,
    /// Where to continue, when more tasks match.
    pub next: Option<Position>,
}

/// One task, already serialized as the API's JSON object.
#[cfg(feature = "server")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskJson {
    /// `{...}`, exactly as the API returns it.
    pub task: bytes::Bytes,
    /// Its version: the `ETag`.
    pub version: u64,
    /// The successor a response points to ([`Task::linked_successor`]).
    pub successor: Option<TaskId>,
}

#[cfg(feature = "server")]
impl TaskJson {
    /// Serializes a task.
    pub fn of(task: &Task) -> Result<Self, StoreError> {
        let json = serde_json::to_vec(task)
            .map_err(|e| StoreError::backend(format!("cannot encode a task: {e}")))?;
        Ok(Self {
            task: json.into(),
            version: task.version,
            successor: task.linked_successor(),
        })
    }
}

/// A new API token (its value is hashed before it gets here).
#[cfg(feature = "server")]
#[derive(Clone, Debug)]
pub struct NewApiToken {
    /// Token id.
    pub id: ApiTokenId,
    /// Whose token.
    pub user_id: UserId,
    /// The user's name for it.
    pub name: String,
    /// SHA-256 of the value.
    pub hash: TokenHash,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
}

/// A live API token, as the bearer check finds it.
#[cfg(feature = "server")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiTokenUse {
    /// Token id.
    pub id: ApiTokenId,
    /// Whose token.
    pub user: UserId,
    /// When it was last used, as recorded.
    pub last_used_at: Option<Timestamp>,
}

/// An API token as listed (never with its value).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiTokenInfo {
    /// Token id.
    pub id: ApiTokenId,
    /// The user's name for it.
    pub name: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Last request made with it (may lag by up to a minute).
    pub last_used_at: Option<Timestamp>,
}

/// The storage behind the server. Implementations must make each method
/// atomic, and must not return from a write until it is durable.
#[cfg(feature = "server")]
#[async_trait]
pub trait TaskStore: Send + Sync + 'static {
    // ----- users -----

    /// Creates a local account. [`StoreError::EmailTaken`] if the email exists.
    async fn create_user(&self, email: &Email, password_hash: &str) -> Result<User, StoreError>;

    /// A local account by email, with its password hash.
    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError>;

    /// A user by id.
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// The user an external identity provider knows as `identity`: found,
    /// or created with `email` on first sight. Atomic: concurrent first
    /// requests of one identity create one user. Such a user has no
    /// password, and their email is not the key of a local account (a local
    /// account with the same email is another user). This is on every
    /// external request's path: one lookup when the user exists.
    async fn external_user(
        &self,
        identity: &ExternalIdentity,
        email: Option<&str>,
    ) -> Result<User, StoreError>;

    /// Deletes a user and everything of theirs, atomically as far as anyone
    /// can observe: the account (so its email, or its external identity,
    /// is free again), every session and refresh token, every API token,
    /// every task and the task counter. Returns whether the user existed.
    /// Durable on return. A session, API token or task created for the
    /// user while this runs is refused ([`StoreError::NotFound`]), never
    /// left behind.
    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError>;

    // ----- sessions -----

    /// Starts a session. A user keeps at most `max_sessions` live sessions:
    /// the oldest end to make room. Expired sessions of the user are pruned.
    /// [`StoreError::NotFound`] if the user does not exist (any more).
    async fn create_session(
        &self,
        session: NewSession,
        max_sessions: usize,
    ) -> Result<(), StoreError>;

    /// A session by id, if it is live at `now`. This is on every request's path: one lookup.
    async fn session(
        &self,
        id: SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionInfo>, StoreError>;

    /// The session a refresh token belongs to, if it still exists.
    async fn session_of_refresh(&self, hash: &TokenHash)
    -> Result<Option<SessionInfo>, StoreError>;

    /// Rotates a refresh token, detecting reuse. Atomic.
    async fn refresh(&self, request: RefreshRequest) -> Result<RefreshOutcome, StoreError>;

    /// Ends a session and every token of it. Returns whether it existed.
    async fn revoke_session(&self, id: SessionId) -> Result<bool, StoreError>;

    /// Removes sessions (and their refresh tokens) that ended before `now`.
    async fn prune_expired(&self, now: Timestamp) -> Result<usize, StoreError>;

    // ----- API tokens -----

    /// Stores a new API token. [`StoreError::ApiTokenLimitReached`] if the
    /// user already has `max_live` tokens live at the token's `created_at`
    /// (atomic: concurrent creates never pass the cap);
    /// [`StoreError::NotFound`] if the user does not exist (any more).
    async fn create_api_token(
        &self,
        token: NewApiToken,
        max_live: usize,
    ) -> Result<ApiTokenInfo, StoreError>;

    /// A live API token, by the hash of its value (one lookup).
    async fn api_token_owner(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<ApiTokenUse>, StoreError>;

    /// Records that a token was used at `at`, without waiting for the disk
    /// (`last_used_at` may lag). A revoked token stays revoked.
    async fn touch_api_token(&self, hash: &TokenHash, at: Timestamp) -> Result<(), StoreError>;

    /// A user's live API tokens, oldest first.
    async fn api_tokens(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<Vec<ApiTokenInfo>, StoreError>;

    /// Revokes one of the user's tokens; [`StoreError::NotFound`] if it is
    /// not theirs, already revoked, or expired.
    async fn revoke_api_token(
        &self,
        user: UserId,
        id: ApiTokenId,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    // ----- tasks, always of one owner -----

    /// Creates a task numbered after every number the owner was ever given.
    /// [`StoreError::TaskLimitReached`] if the owner has `max_live` tasks.
    async fn create_task(
        &self,
        owner: UserId,
        draft: TaskDraft,
        max_live: u64,
    ) -> Result<Task, StoreError>;

    /// Creates a task with the id the caller chose, numbered like
    /// [`create_task`](Self::create_task). [`StoreError::AlreadyExists`] if
    /// the owner has a task with that id or ever had one (a tombstone), so
    /// a retried create never makes two tasks; that is checked before the
    /// limit ([`StoreError::TaskLimitReached`]), as such a create would make
    /// nothing. Atomic with every other write of the owner: of concurrent
    /// creates of one id (and a successor that happens to have it) exactly
    /// one succeeds. Ids are per owner: another owner's tasks play no part.
    async fn create_task_with_id(
        &self,
        owner: UserId,
        id: TaskId,
        draft: TaskDraft,
        max_live: u64,
    ) -> Result<Task, StoreError>;

    /// One of the owner's tasks.
    async fn task(&self, owner: UserId, task: TaskRef) -> Result<Option<Task>, StoreError>;

    /// Like [`task`](Self::task), but as the API's JSON, ready to send.
    /// Backends that keep tasks as JSON override it to skip decoding and
    /// re-encoding; the default encodes the task.
    async fn task_json(
        &self,
        owner: UserId,
        task: TaskRef,
    ) -> Result<Option<TaskJson>, StoreError> {
        match self.task(owner, task).await? {
            Some(task) => TaskJson::of(&task).map(Some),
            None => Ok(None),
        }
    }

    /// Changes one of the owner's tasks if the precondition holds
    /// ([`StoreError::Invalid`] if the result would break a rule: see
    /// [`Task::apply`]). When it turns a recurring task completed, the same
    /// atomic write creates its successor ([`Task::successor`], with the
    /// owner's next number) unless a task with the successor's id exists or
    /// ever existed: an occurrence has at most one successor, ever,
    /// whatever races, retries or uncomplete/complete cycles happen.
    async fn update_task(
        &self,
        owner: UserId,
        task: TaskRef,
        patch: TaskPatch,
        precondition: &Precondition,
    ) -> Result<Task, StoreError>;

    /// Deletes one of the owner's tasks if the precondition holds.
    async fn delete_task(
        &self,
        owner: UserId,
        task: TaskRef,
        precondition: &Precondition,
    ) -> Result<(), StoreError>;

    /// A page of the owner's tasks matching `query`, continuing strictly after `after`.
    async fn list_tasks(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
    ) -> Result<TaskPage, StoreError>;

    /// Like [`list_tasks`](Self::list_tasks), but the tasks come as the API's
    /// JSON array, ready to send. Backends that keep tasks as JSON override
    /// it to skip decoding and re-encoding; the default encodes the page.
    async fn list_tasks_json(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
    ) -> Result<TaskPageJson, StoreError> {
        let page = self.list_tasks(owner, query, after).await?;
        let tasks = serde_json::to_vec(&page.tasks)
            .map_err(|e| StoreError::backend(format!("cannot encode tasks: {e}")))?;
        Ok(TaskPageJson {
            tasks: tasks.into(),
            count: page.tasks.len(),
            next: page.next,
        })
    }

    /// How many live tasks the owner has.
    async fn live_task_count(&self, owner: UserId) -> Result<u64, StoreError>;

    /// Every project the owner's live tasks name, and every parent of one,
    /// with counts (see [`crate::domain::project_counts`]).
    async fn projects(&self, owner: UserId) -> Result<Vec<ProjectCount>, StoreError>;

    // ----- the change feed -----

    /// A page of the owner's change feed (see [`crate::domain::Change`]):
    /// from `from`, or from the beginning when `None` (a full sync, which
    /// shows live tasks only). At most `limit` changes, each task at most
    /// once, in its latest state, ordered by each task's latest change
    /// number. Reads only the owner's changes after the position (an index
    /// range), never a scan of their tasks.
    ///
    /// Never skips: every change numbered after the returned position is
    /// one that was not yet visible when this read ran, also with
    /// concurrent writers (and, on PostgreSQL, several replicas). When
    /// `more` is false, `next` is the owner's latest change number, so
    /// reading again from it shows only later changes.
    async fn changes(
        &self,
        owner: UserId,
        from: Option<FeedPosition>,
        limit: usize,
    ) -> Result<ChangePage, StoreError>;

    /// The owner's latest change number (0 for none): a live stream that
    /// starts "from now" reads the feed after it.
    async fn latest_change(&self, owner: UserId) -> Result<u64, StoreError>;

    /// Forgets deletions made before `before` in the change feed (the
    /// tombstone retention): they leave the feed, so a reader whose cursor
    /// is older must sync in full again. The ids stay refused for chosen-id
    /// creates and successors for ever (a deleted id is never issued
    /// again). Returns how many deletions it forgot. Reads only the
    /// deletions it forgets (an index by deletion time).
    async fn prune_deletions(&self, before: Timestamp) -> Result<u64, StoreError>;

    /// The signals this store raises after each durable task write of a
    /// user, and when a session or API token of theirs ends or they are
    /// deleted: live streams wait on them (see [`Signals`]).
    fn signals(&self) -> &std::sync::Arc<Signals>;

    // ----- moving data between stores -----

    /// Sends every user, then every task, then every API token to `out`
    /// (see [`transfer`]). Returns how many of each it sent, and names each
    /// record it could not read and left out (the rest still goes out).
    /// Stops with [`StoreError::Backend`] if the receiver is dropped.
    async fn export(
        &self,
        out: tokio::sync::mpsc::Sender<ExportRecord>,
    ) -> Result<ExportReport, StoreError>;

    /// Loads exported records, all or nothing: when any record is already
    /// in the store with other content (an id, an email, an external
    /// identity, a task number or a token hash taken by something else) it
    /// writes nothing and returns [`StoreError::ImportConflict`] listing
    /// them. Records present exactly as imported are skipped, and a user's
    /// next task number becomes the larger of the two, so importing the
    /// same file twice changes nothing. Users come before their tasks and
    /// tokens in `records`, or are already in the store. Durable on return.
    async fn import(&self, records: Vec<ExportRecord>) -> Result<ImportReport, StoreError>;

    // ----- the store itself -----

    /// The HS256 secret kept in the store, generated by `generate` on first use.
    async fn jwt_secret(
        &self,
        generate: &(dyn Fn() -> Vec<u8> + Send + Sync),
    ) -> Result<Vec<u8>, StoreError>;

    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Makes everything written so far durable (for shutdown).
    async fn flush(&self) -> Result<(), StoreError>;

    /// Why the store cannot be trusted again until it is reopened (the
    /// process restarted), if so: for sled, a failed flush. `None` for a
    /// store whose failures pass (a database that comes back).
    fn broken(&self) -> Option<String> {
        None
    }

    /// The store's own counters and gauges for `/metrics` (sled's flushes,
    /// PostgreSQL's pool), read from memory: cheap, no I/O, never fails.
    /// Wrappers forward it; a store with nothing to tell keeps the default.
    fn metrics(&self) -> StoreMetrics {
        StoreMetrics::default()
    }

    /// The bytes the store takes on disk, if it can tell: sled's files
    /// (as of the last flush, no I/O), the PostgreSQL database's size (a
    /// query). For `/metrics`; the default knows nothing.
    async fn size_on_disk(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
}

#[cfg(feature = "server")]
impl dyn TaskStore {
    /// The tasks of one user: the only handle task operations need.
    pub fn tasks_of(&self, owner: UserId) -> UserTasks<'_> {
        UserTasks { store: self, owner }
    }
}

/// A handle on one user's tasks; see [`TaskStore`].
#[cfg(feature = "server")]
#[derive(Clone, Copy)]
pub struct UserTasks<'a> {
    store: &'a dyn TaskStore,
    owner: UserId,
}

#[cfg(feature = "server")]
impl UserTasks<'_> {
    /// Whose tasks these are.
    pub fn owner(&self) -> UserId {
        self.owner
    }

    /// Creates a task; see [`TaskStore::create_task`].
    pub async fn create(&self, draft: TaskDraft, max_live: u64) -> Result<Task, StoreError> {
        self.store.create_task(self.owner, draft, max_live).await
    }

    /// Creates a task with a chosen id; see [`TaskStore::create_task_with_id`].
    pub async fn create_with_id(
        &self,
        id: TaskId,
        draft: TaskDraft,
        max_live: u64,
    ) -> Result<Task, StoreError> {
        self.store
            .create_task_with_id(self.owner, id, draft, max_live)
            .await
    }

    /// One task, by id or number.
    pub async fn get(&self, task: TaskRef) -> Result<Option<Task>, StoreError> {
        self.store.task(self.owner, task).await
    }

    /// One task as JSON; see [`TaskStore::task_json`].
    pub async fn get_json(&self, task: TaskRef) -> Result<Option<TaskJson>, StoreError> {
        self.store.task_json(self.owner, task).await
    }

    /// Changes a task; see [`TaskStore::update_task`].
    pub async fn update(
        &self,
        task: TaskRef,
        patch: TaskPatch,
        precondition: &Precondition,
    ) -> Result<Task, StoreError> {
        self.store
            .update_task(self.owner, task, patch, precondition)
            .await
    }

    /// Deletes a task; see [`TaskStore::delete_task`].
    pub async fn delete(
        &self,
        task: TaskRef,
        precondition: &Precondition,
    ) -> Result<(), StoreError> {
        self.store.delete_task(self.owner, task, precondition).await
    }

    /// A page of tasks; see [`TaskStore::list_tasks`].
    pub async fn list(
        &self,
        query: &ListQuery,
        after: Option<&Position>,
    ) -> Result<TaskPage, StoreError> {
        self.store.list_tasks(self.owner, query, after).await
    }

    /// A page of tasks as JSON; see [`TaskStore::list_tasks_json`].
    pub async fn list_json(
        &self,
        query: &ListQuery,
        after: Option<&Position>,
    ) -> Result<TaskPageJson, StoreError> {
        self.store.list_tasks_json(self.owner, query, after).await
    }

    /// How many live tasks there are.
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.store.live_task_count(self.owner).await
    }

    /// A page of the change feed; see [`TaskStore::changes`].
    pub async fn changes(
        &self,
        from: Option<FeedPosition>,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        self.store.changes(self.owner, from, limit).await
    }

    /// The latest change number; see [`TaskStore::latest_change`].
    pub async fn latest_change(&self) -> Result<u64, StoreError> {
        self.store.latest_change(self.owner).await
    }

    /// The projects with their counts; see [`TaskStore::projects`].
    pub async fn projects(&self) -> Result<Vec<ProjectCount>, StoreError> {
        self.store.projects(self.owner).await
    }
}
