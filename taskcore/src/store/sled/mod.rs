//! The embedded sled backend, [`SledStore`]: the default store.
//!
//! # Layout
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | `format_version`, `jwt_secret` | `u32` big-endian; secret bytes |
//! | `users` | user id | [`UserRecord`](records::UserRecord) (email, password hash, creation time) |
//! | `emails` | normalized email of a local account | user id |
//! | `external_ids` | issuer length ++ issuer ++ subject | user id of an external user |
//! | `tasks` | owner id ++ task id | [`Task`](crate::domain::Task) |
//! | `task_numbers` | owner id ++ number (`u64` big-endian) | task id |
//! | `task_counters` | owner id; owner id ++ `c` | next task number (`u64` big-endian), written when the highest-numbered task is deleted; the last change number, written when pruning removes the entry that held it |
//! | `task_anchors` | owner id ++ task id | the anchor of a recurring task's rule (micros, `i64` big-endian): hidden state, so not in the task's JSON |
//! | `task_tombstones` | owner id ++ task id | number (`u64` big-endian) ++ deletion time (micros, `i64` big-endian) of every deleted task |
//! | `task_projects` | owner id ++ project ++ 0x00 ++ task id | empty: the project index, of tasks in a project (see `tasks.rs`) |
//! | `task_changes` | owner id ++ change number (`u64` big-endian) | task id: the change feed, each task at its latest change (see `changes.rs`) |
//! | `task_change_numbers` | owner id ++ task id | the number of the task's latest change (`u64` big-endian) |
//! | `task_deletions` | deletion time ++ owner id ++ task id | empty: deletions still in the feed, oldest first, for pruning |
//! | `sessions` | session id | [`SessionRecord`](records::SessionRecord) |
//! | `user_sessions` | user id ++ login time ++ session id | empty |
//! | `refresh` | SHA-256 of a refresh token | [`RefreshRecord`](records::RefreshRecord) |
//! | `session_refresh` | session id ++ refresh hash | empty |
//! | `api_tokens` | SHA-256 of an API token | [`ApiTokenRecord`](records::ApiTokenRecord) |
//! | `user_api_tokens` | user id ++ token id | the token's hash |
//! | `deleting` | user id | empty: an account whose records are gone and whose tasks are still being removed (see `users.rs`) |
//!
//! Ids are UUIDv7, 16 bytes big-endian, so one user's tasks are one key range
//! in creation order: listing costs the size of that user's list, never the
//! size of the database, and every task lookup is made under the owner's
//! prefix, so another user's task is simply not found. Changes to accounts,
//! sessions and tokens that touch several trees are one sled transaction
//! (sled transactions cannot scan, so scans happen first and what matters is
//! re-checked inside). Task writes, the hot path, are ordered single-key
//! writes under a per-owner lock instead; `tasks.rs` says why that is as
//! safe and four times faster, and why the one task write that is a
//! transaction (a change that writes beside the task: its project, its
//! rule's anchor, or a recurring task's successor) has to be one.
//!
//! # Durability
//!
//! sled applies a write in memory and logs it; it reaches the disk on a
//! flush. A write method here applies its change (transactions are in-memory
//! work, cheap enough to run on the async task, as are reads), then awaits
//! the [group commit](commit) thread, which flushes sled's log and
//! `fdatasync`s the `db` file for every writer that arrived meanwhile. So a
//! method returns only once its change survives kill -9 and power loss,
//! without blocking a runtime thread and with one fsync per batch rather
//! than per write. The exception is [`TaskStore::touch_api_token`], which
//! may lag (sled's own background flush, every 500 ms, picks it up).
//!
//! A failed flush (a full disk, an I/O error) leaves memory ahead of the
//! disk, so from then on every call fails with [`StoreError::Unavailable`],
//! reads included: no answer shows a write that may not be on disk. Only
//! reopening (a restart, which recovers what the log holds) makes the store
//! usable again.

mod api_tokens;
mod changes;
mod commit;
mod keys;
mod list_gate;
mod page_cache;
mod records;
mod sessions;
mod tasks;
mod transfer;
mod upgrade;
mod users;

use self::commit::GroupCommit;
use crate::domain::{
    ApiTokenId, ChangePage, Credentials, Email, ExternalIdentity, FeedPosition, ListQuery,
    Position, Precondition, ProjectCount, SessionId, Task, TaskDraft, TaskId, TaskPage, TaskPatch,
    TaskRef, Timestamp, User, UserId,
};
use crate::store::lock;
use crate::store::{
    ApiTokenInfo, ApiTokenUse, ExportRecord, ExportReport, FORMAT_VERSION, ImportReport,
    NewApiToken, NewSession, RefreshOutcome, RefreshRequest, SessionInfo, Signals, StoreError,
    StoreMetrics, TaskJson, TaskPageJson, TaskStore, TokenHash,
};
use async_trait::async_trait;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Default size of sled's page cache: 16 MiB.
pub const DEFAULT_CACHE_CAPACITY_BYTES: u64 = 16 * 1024 * 1024;

/// Where and how to open a [`SledStore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SledConfig {
    /// The data directory; created (mode 0700) if missing.
    pub path: PathBuf,
    /// The most memory sled's page cache may use, in bytes.
    pub cache_capacity_bytes: u64,
}

impl SledConfig {
    /// A configuration for `path` with the default cache size (16 MiB).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cache_capacity_bytes: DEFAULT_CACHE_CAPACITY_BYTES,
        }
    }
}

/// The embedded store: sled in one data directory, owned by one process.
///
/// Cheap to clone (the clones share one database). The database closes, and
/// the directory is free for another process, when the last clone is
/// dropped (which waits for the flusher thread's last flush).
///
/// After a failed flush every call, reads included, fails with
/// [`StoreError::Unavailable`] until the store is reopened: memory may then
/// hold writes that are not on disk, and no answer may show those.
#[derive(Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for SledStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// The trees of the layout above.
struct Trees {
    meta: sled::Tree,
    users: sled::Tree,
    emails: sled::Tree,
    external_ids: sled::Tree,
    tasks: sled::Tree,
    task_numbers: sled::Tree,
    task_counters: sled::Tree,
    task_anchors: sled::Tree,
    task_tombstones: sled::Tree,
    task_projects: sled::Tree,
    task_changes: sled::Tree,
    task_change_numbers: sled::Tree,
    task_deletions: sled::Tree,
    sessions: sled::Tree,
    user_sessions: sled::Tree,
    refresh: sled::Tree,
    session_refresh: sled::Tree,
    api_tokens: sled::Tree,
    user_api_tokens: sled::Tree,
    deleting: sled::Tree,
}

impl Trees {
    fn open(db: &sled::Db) -> Result<Self, StoreError> {
        let tree = |name: &str| db.open_tree(name).map_err(backend);
        Ok(Self {
            meta: tree("meta")?,
            users: tree("users")?,
            emails: tree("emails")?,
            external_ids: tree("external_ids")?,
            tasks: tree("tasks")?,
            task_numbers: tree("task_numbers")?,
            task_counters: tree("task_counters")?,
            task_anchors: tree("task_anchors")?,
            task_tombstones: tree("task_tombstones")?,
            task_projects: tree("task_projects")?,
            task_changes: tree("task_changes")?,
            task_change_numbers: tree("task_change_numbers")?,
            task_deletions: tree("task_deletions")?,
            sessions: tree("sessions")?,
            user_sessions: tree("user_sessions")?,
            refresh: tree("refresh")?,
            session_refresh: tree("session_refresh")?,
            api_tokens: tree("api_tokens")?,
            user_api_tokens: tree("user_api_tokens")?,
            deleting: tree("deleting")?,
        })
    }
}

struct Inner {
    path: PathBuf,
    trees: Trees,
    /// Serializes `create_session`, so the per-user cap holds under concurrent logins.
    session_lock: Mutex<()>,
    /// Serializes `create_api_token`, so the per-user cap holds under concurrent creates.
    api_token_lock: Mutex<()>,
    /// Each owner's task numbering, loaded on first use; see `tasks.rs`.
    counters: tasks::CounterMap,
    /// First pages of recent list queries, until the owner writes.
    pages: page_cache::PageCache,
    /// Each owner's share of the blocking pool for long lists.
    long_lists: list_gate::ListGate,
    /// Wakes live streams (see [`Signals`]).
    signals: Arc<Signals>,
    /// Dropped last: its thread holds a clone of the database.
    commit: GroupCommit,
}

impl SledStore {
    /// Opens (or creates) the store in `config.path`.
    ///
    /// Fails with a clear message when another process has the directory
    /// open, and with [`StoreError::Incompatible`] when the data was written
    /// by a newer version or is damaged.
    pub fn open(config: SledConfig) -> Result<Self, StoreError> {
        prepare_directory(&config.path)?;
        let db = open_db(&config)?;
        Self::open_on(config.path, db)
    }

    /// Whether `path` holds a store: sled's `conf` and `db` files are
    /// there. Only looks; creates nothing. A missing or empty directory, or
    /// one with other files, holds none.
    pub fn holds_store(path: &Path) -> std::io::Result<bool> {
        for file in ["conf", "db"] {
            match std::fs::metadata(path.join(file)) {
                Ok(meta) if meta.is_file() => {}
                Ok(_) => return Ok(false),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) =>
                {
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Opens the store in `config.path` only if there is one: `Ok(None)`
    /// when the directory holds none ([`holds_store`](Self::holds_store)),
    /// or holds a sled database without this store's format marker; then
    /// nothing is created or written. For tools that read a store, where
    /// a mistyped path must not pass for an empty store.
    pub fn open_existing(config: SledConfig) -> Result<Option<Self>, StoreError> {
        let holds = Self::holds_store(&config.path).map_err(|e| {
            StoreError::backend(format!(
                "cannot look into the data directory {}: {e}",
                config.path.display()
            ))
        })?;
        if !holds {
            return Ok(None);
        }
        let db = open_db(&config)?;
        // Every store this product ever wrote has `meta` with its format
        // version; without it this is someone else's sled database, which
        // opening the trees would write to.
        let ours = db.tree_names().iter().any(|name| name.as_ref() == b"meta")
            && db
                .open_tree("meta")
                .and_then(|meta| meta.contains_key(keys::META_FORMAT_VERSION))
                .map_err(backend)?;
        if !ours {
            return Ok(None);
        }
        Self::open_on(config.path, db).map(Some)
    }

    /// The store on an opened sled database in `path`.
    fn open_on(path: PathBuf, db: sled::Db) -> Result<Self, StoreError> {
        restrict_permissions(&path);
        let trees = Trees::open(&db)?;
        check_format(&trees, &path)?;
        // A deletion a crash interrupted is finished before anyone can look.
        trees.finish_deletions()?;
        let io = |what: &str, e: std::io::Error| {
            StoreError::backend(format!(
                "{what} in the data directory {}: {e}",
                path.display()
            ))
        };
        let file = File::open(path.join("db")).map_err(|e| io("cannot open the db file", e))?;
        // Make the new directory entries and the format version durable now.
        db.flush().map_err(backend)?;
        file.sync_data()
            .map_err(|e| io("cannot sync the db file", e))?;
        sync_directory(&path).map_err(|e| io("cannot sync", e))?;
        let commit = GroupCommit::start(commit::Target {
            db,
            file,
            blobs: path.join("blobs"),
        })
        .map_err(|e| StoreError::backend(format!("cannot start the flusher thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                trees,
                session_lock: Mutex::new(()),
                api_token_lock: Mutex::new(()),
                counters: tasks::CounterMap::default(),
                pages: page_cache::PageCache::default(),
                long_lists: list_gate::ListGate::default(),
                signals: Arc::default(),
                commit,
            }),
        })
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Passes a write's result on; a write that failed for the storage's
    /// sake fails the store, as a failed flush does, so nothing it may
    /// have left in memory is ever shown.
    fn applied<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(StoreError::Unavailable(reason)) = &result {
            self.inner.commit.fail(reason);
        }
        result
    }

    /// Runs `list` where it is cheap: on this task when the page is all it
    /// reads or the owner has few tasks, else on the blocking pool in one of
    /// the owner's long-list slots (see `list_gate`).
    async fn list_where_cheap<T: Send + 'static>(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
        list: impl FnOnce(&Inner, &ListQuery, Option<&Position>) -> Result<T, StoreError>
        + Send
        + 'static,
    ) -> Result<T, StoreError> {
        if list_gate::walks_only_its_page(query)
            || self
                .inner
                .known_live_task_count(owner)
                .is_some_and(|live| live <= list_gate::SHORT_WALK)
        {
            return list(&self.inner, query, after);
        }
        let slot = self.inner.long_lists.enter(owner).await?;
        let (store, query, after) = (self.clone(), query.clone(), after.cloned());
        off_runtime(move || {
            let _slot = slot;
            list(&store.inner, &query, after.as_ref())
        })
        .await
    }

    /// Waits until every change made so far is durable.
    async fn durable<T>(&self, value: T) -> Result<T, StoreError> {
        self.inner.commit.wait().await?;
        Ok(value)
    }

    /// Waits until a task write of `owner` is durable, then wakes their
    /// live streams.
    async fn durable_task_write<T>(&self, owner: UserId, value: T) -> Result<T, StoreError> {
        // Every change of the owner's up to the head read now was made
        // before the wait, so the flush it waits for covers them: a feed
        // read that follows (a client pulling right after it pushed, a
        // live stream woken below) need not wait for another flush.
        let head = self.inner.feed_head(owner).map(|(head, _)| head);
        self.inner.commit.wait().await?;
        if let Ok(head) = head {
            self.inner.mark_durable(owner, head);
        }
        self.inner.signals.notify(owner);
        Ok(value)
    }
}

/// Opens sled in the configured directory, which must exist.
fn open_db(config: &SledConfig) -> Result<sled::Db, StoreError> {
    sled::Config::new()
        .path(&config.path)
        .cache_capacity(config.cache_capacity_bytes)
        .open()
        .map_err(|e| open_error(&config.path, e))
}

fn prepare_directory(path: &Path) -> Result<(), StoreError> {
    let fail = |e: std::io::Error| {
        StoreError::backend(format!(
            "cannot create the data directory {}: {e}",
            path.display()
        ))
    };
    let existed = path.is_dir();
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).map_err(fail)?;
    if !existed && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_directory(parent).map_err(fail)?;
    }
    Ok(())
}

/// The directory holds password hashes and the JWT secret: owner only. sled
/// creates its files with the process umask, so tighten them after opening.
/// A failure (a directory owned by someone else) is logged, not fatal.
#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let restrict = |p: &Path, mode: u32| -> std::io::Result<()> {
        let meta = std::fs::metadata(p)?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    };
    let walk = || -> std::io::Result<()> {
        restrict(path, 0o700)?;
        for dir in [path.to_path_buf(), path.join("blobs")] {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let mode = if entry.file_type()?.is_dir() {
                    0o700
                } else {
                    0o600
                };
                restrict(&entry.path(), mode)?;
            }
        }
        Ok(())
    };
    if let Err(e) = walk() {
        tracing::warn!(
            path = %path.display(),
            error = %e,
            "cannot make the data directory readable by its owner alone"
        );
    }
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) {}

fn sync_directory(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(path)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn open_error(path: &Path, error: sled::Error) -> StoreError {
    match error {
        sled::Error::Io(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.to_string().contains("could not acquire lock") =>
        {
            StoreError::backend(format!(
                "the data directory {} is in use by another process (stop it, or use another directory)",
                path.display()
            ))
        }
        sled::Error::Io(e) => StoreError::backend(format!(
            "cannot open the data directory {}: {e}",
            path.display()
        )),
        sled::Error::Unsupported(what) => StoreError::Incompatible(format!(
            "the data directory {} cannot be opened: {what}",
            path.display()
        )),
        sled::Error::Corruption { .. } => {
            StoreError::Incompatible(format!("the data directory {} is damaged", path.display()))
        }
        other => StoreError::backend(format!(
            "cannot open the data directory {}: {other}",
            path.display()
        )),
    }
}

/// Checks the on-disk format, upgrading an older one in place (see
/// [`upgrade`]); a new directory gets the current version.
fn check_format(trees: &Trees, path: &Path) -> Result<(), StoreError> {
    let meta = &trees.meta;
    let write_current = || {
        meta.insert(keys::META_FORMAT_VERSION, &FORMAT_VERSION.to_be_bytes()[..])
            .map(|_| ())
            .map_err(backend)
    };
    let Some(stored) = meta.get(keys::META_FORMAT_VERSION).map_err(backend)? else {
        return write_current();
    };
    let version = <[u8; 4]>::try_from(stored.as_ref())
        .map(u32::from_be_bytes)
        .map_err(|_| {
            StoreError::Incompatible(format!(
                "the data directory {} has an unreadable format version",
                path.display()
            ))
        })?;
    match version.cmp(&FORMAT_VERSION) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(StoreError::Incompatible(format!(
            "the data directory {} was written by a newer version (data format {version}; \
             this version reads format {FORMAT_VERSION}): upgrade, or use another directory",
            path.display()
        ))),
        std::cmp::Ordering::Less => {
            tracing::info!(
                path = %path.display(),
                from = version,
                to = FORMAT_VERSION,
                "upgrading the data directory's format in place"
            );
            upgrade::upgrade(trees, version)?;
            write_current()
        }
    }
}

// ----- helpers shared by the submodules -----

/// Runs a long scan or bulk write on the blocking pool.
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::backend(format!("a store thread failed: {e}")))?
}

/// A sled failure; an I/O error (a full disk, a failing device) means the
/// store cannot serve.
fn backend(error: sled::Error) -> StoreError {
    match error {
        sled::Error::Io(_) => StoreError::Unavailable(format!("sled: {error}")),
        other => StoreError::backend_caused_by("sled", other),
    }
}

/// A key or index value of the wrong shape.
fn damaged(tree: &str) -> StoreError {
    StoreError::Incompatible(format!("an entry in `{tree}` is malformed"))
}

/// What a transaction closure returns.
type TxResult<T> = sled::transaction::ConflictableTransactionResult<T, StoreError>;

/// Aborts a transaction with `error`.
fn abort<T>(error: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(error))
}

/// Decodes a record inside a transaction.
fn tx_decode<T: serde::de::DeserializeOwned>(tree: &str, bytes: &[u8]) -> TxResult<T> {
    records::decode(tree, bytes).map_err(ConflictableTransactionError::Abort)
}

/// Encodes a record inside a transaction.
fn tx_encode<T: serde::Serialize>(record: &T) -> TxResult<Vec<u8>> {
    records::encode(record).map_err(ConflictableTransactionError::Abort)
}

/// The outcome of a transaction.
fn finish<T>(result: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    result.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => backend(e),
    })
}

/// Reads and decodes one record.
fn get<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    name: &str,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    match tree.get(key).map_err(backend)? {
        Some(bytes) => records::decode(name, &bytes).map(Some),
        None => Ok(None),
    }
}

#[async_trait]
impl TaskStore for SledStore {
    async fn create_user(&self, email: &Email, password_hash: &str) -> Result<User, StoreError> {
        self.inner.commit.health()?;
        let user = self.applied(self.inner.create_user(email, password_hash))?;
        self.durable(user).await
    }

    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        self.inner.commit.health()?;
        self.inner.credentials(email)
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.inner.commit.health()?;
        self.inner.user(id)
    }

    async fn external_user(
        &self,
        identity: &ExternalIdentity,
        email: Option<&str>,
    ) -> Result<User, StoreError> {
        self.inner.commit.health()?;
        if let Some(user) = self.inner.known_external_user(identity)? {
            return Ok(user);
        }
        self.inner.commit.health()?;
        let user = self.applied(self.inner.create_external_user(identity, email))?;
        self.durable(user).await
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        self.inner.commit.health()?;
        // Scans and batch removals of every task of the user: off the runtime.
        let store = self.clone();
        let existed = self.applied(off_runtime(move || store.inner.delete_user(id)).await)?;
        self.durable(existed).await
    }

    async fn create_session(
        &self,
        session: NewSession,
        max_sessions: usize,
    ) -> Result<(), StoreError> {
        self.inner.commit.health()?;
        self.applied(self.inner.create_session(&session, max_sessions))?;
        self.durable(()).await
    }

    async fn session(
        &self,
        id: SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionInfo>, StoreError> {
        self.inner.commit.health()?;
        self.inner.session(id, now)
    }

    async fn session_of_refresh(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<SessionInfo>, StoreError> {
        self.inner.commit.health()?;
        self.inner.session_of_refresh(hash)
    }

    async fn refresh(&self, request: RefreshRequest) -> Result<RefreshOutcome, StoreError> {
        self.inner.commit.health()?;
        let (outcome, wrote) = self.applied(self.inner.refresh(&request))?;
        if wrote {
            self.inner.commit.wait().await?;
        }
        Ok(outcome)
    }

    async fn revoke_session(&self, id: SessionId) -> Result<bool, StoreError> {
        self.inner.commit.health()?;
        let existed = self.applied(self.inner.revoke_session(id))?;
        if existed {
            self.inner.commit.wait().await?;
        }
        Ok(existed)
    }

    async fn prune_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.inner.commit.health()?;
        let removed = self.applied(self.inner.prune_expired(now))?;
        if removed > 0 {
            self.inner.commit.wait().await?;
        }
        Ok(removed)
    }

    async fn create_api_token(
        &self,
        token: NewApiToken,
        max_live: usize,
    ) -> Result<ApiTokenInfo, StoreError> {
        self.inner.commit.health()?;
        let info = self.applied(self.inner.create_api_token(&token, max_live))?;
        self.durable(info).await
    }

    async fn api_token_owner(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<ApiTokenUse>, StoreError> {
        self.inner.commit.health()?;
        self.inner.api_token_owner(hash, now)
    }

    async fn touch_api_token(&self, hash: &TokenHash, at: Timestamp) -> Result<(), StoreError> {
        // Deliberately not awaiting durability: last_used_at may lag.
        self.inner.touch_api_token(hash, at)
    }

    async fn api_tokens(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<Vec<ApiTokenInfo>, StoreError> {
        self.inner.commit.health()?;
        self.inner.api_tokens(user, now)
    }

    async fn revoke_api_token(
        &self,
        user: UserId,
        id: ApiTokenId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.commit.health()?;
        self.applied(self.inner.revoke_api_token(user, id, now))?;
        self.durable(()).await
    }

    async fn create_task(
        &self,
        owner: UserId,
        draft: TaskDraft,
        max_live: u64,
    ) -> Result<Task, StoreError> {
        self.inner.commit.health()?;
        let task = self.applied(self.inner.create_task(owner, None, &draft, max_live))?;
        self.durable_task_write(owner, task).await
    }

    async fn create_task_with_id(
        &self,
        owner: UserId,
        id: TaskId,
        draft: TaskDraft,
        max_live: u64,
    ) -> Result<Task, StoreError> {
        self.inner.commit.health()?;
        let task = self.applied(self.inner.create_task(owner, Some(id), &draft, max_live))?;
        self.durable_task_write(owner, task).await
    }

    async fn task(&self, owner: UserId, task: TaskRef) -> Result<Option<Task>, StoreError> {
        self.inner.commit.health()?;
        self.inner.task(owner, task)
    }

    async fn task_json(
        &self,
        owner: UserId,
        task: TaskRef,
    ) -> Result<Option<TaskJson>, StoreError> {
        self.inner.commit.health()?;
        self.inner.task_json(owner, task)
    }

    async fn update_task(
        &self,
        owner: UserId,
        task: TaskRef,
        patch: TaskPatch,
        precondition: &Precondition,
    ) -> Result<Task, StoreError> {
        self.inner.commit.health()?;
        let (task, changed) =
            self.applied(self.inner.update_task(owner, task, &patch, precondition))?;
        if changed {
            return self.durable_task_write(owner, task).await;
        }
        Ok(task)
    }

    async fn delete_task(
        &self,
        owner: UserId,
        task: TaskRef,
        precondition: &Precondition,
    ) -> Result<(), StoreError> {
        self.inner.commit.health()?;
        self.applied(self.inner.delete_task(owner, task, precondition))?;
        self.durable_task_write(owner, ()).await
    }

    async fn list_tasks(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
    ) -> Result<TaskPage, StoreError> {
        self.inner.commit.health()?;
        self.list_where_cheap(owner, query, after, move |inner, query, after| {
            inner.list_tasks(owner, query, after)
        })
        .await
    }

    async fn list_tasks_json(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
    ) -> Result<TaskPageJson, StoreError> {
        self.inner.commit.health()?;
        let kept = match self.inner.kept_first_page(owner, query, after) {
            Ok(page) => return Ok(page),
            Err(keep) => keep,
        };
        self.list_where_cheap(owner, query, after, move |inner, query, after| {
            inner.build_page_json(owner, query, after, kept)
        })
        .await
    }

    async fn live_task_count(&self, owner: UserId) -> Result<u64, StoreError> {
        self.inner.commit.health()?;
        self.inner.live_task_count(owner)
    }

    async fn changes(
        &self,
        owner: UserId,
        from: Option<FeedPosition>,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        self.inner.commit.health()?;
        let (head, durable) = self.inner.feed_head(owner)?;
        if !durable {
            // Show nothing a crash could still undo.
            self.inner.commit.wait().await?;
            self.inner.mark_durable(owner, head);
        }
        let from = from.unwrap_or(FeedPosition {
            after: 0,
            full_until: Some(head),
        });
        // Up to a thousand tasks read and decoded: off the runtime.
        let store = self.clone();
        off_runtime(move || store.inner.read_changes(owner, from, head, limit)).await
    }

    async fn latest_change(&self, owner: UserId) -> Result<u64, StoreError> {
        self.inner.commit.health()?;
        Ok(self.inner.feed_head(owner)?.0)
    }

    async fn prune_deletions(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.inner.commit.health()?;
        let store = self.clone();
        let pruned =
            self.applied(off_runtime(move || store.inner.prune_deletions(before)).await)?;
        if pruned > 0 {
            self.inner.commit.wait().await?;
        }
        Ok(pruned)
    }

    fn signals(&self) -> &Arc<Signals> {
        &self.inner.signals
    }

    async fn projects(&self, owner: UserId) -> Result<Vec<ProjectCount>, StoreError> {
        self.inner.commit.health()?;
        let slot = self.inner.long_lists.enter(owner).await?;
        let store = self.clone();
        off_runtime(move || {
            let _slot = slot;
            store.inner.projects(owner)
        })
        .await
    }

    async fn export(
        &self,
        out: tokio::sync::mpsc::Sender<ExportRecord>,
    ) -> Result<ExportReport, StoreError> {
        self.inner.commit.health()?;
        let store = self.clone();
        off_runtime(move || store.inner.export(&out)).await
    }

    async fn import(&self, records: Vec<ExportRecord>) -> Result<ImportReport, StoreError> {
        self.inner.commit.health()?;
        let store = self.clone();
        let report = self.applied(off_runtime(move || store.inner.import(&records)).await)?;
        self.durable(report).await
    }

    async fn jwt_secret(
        &self,
        generate: &(dyn Fn() -> Vec<u8> + Send + Sync),
    ) -> Result<Vec<u8>, StoreError> {
        self.inner.commit.health()?;
        let meta = &self.inner.trees.meta;
        if let Some(secret) = meta.get(keys::META_JWT_SECRET).map_err(backend)? {
            return Ok(secret.to_vec());
        }
        let fresh = generate();
        let swapped = meta
            .compare_and_swap(keys::META_JWT_SECRET, None::<&[u8]>, Some(fresh.as_slice()))
            .map_err(backend)?;
        let secret = match swapped {
            Ok(()) => fresh,
            // Another caller stored one first: everyone uses that one.
            Err(lost) => lost
                .current
                .map(|s| s.to_vec())
                .ok_or_else(|| damaged("meta"))?,
        };
        self.durable(secret).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.commit.health()?;
        self.inner
            .trees
            .meta
            .get(keys::META_FORMAT_VERSION)
            .map_err(backend)?;
        Ok(())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.inner.commit.wait().await
    }

    fn broken(&self) -> Option<String> {
        self.inner.commit.health().err().map(|e| e.to_string())
    }

    fn metrics(&self) -> StoreMetrics {
        StoreMetrics {
            flushes: Some(self.inner.commit.metrics()),
            pool: None,
        }
    }

    async fn size_on_disk(&self) -> Result<Option<u64>, StoreError> {
        // Kept by the flusher thread: no I/O here.
        Ok(Some(self.inner.commit.size_on_disk()))
    }
}

#[cfg(test)]
mod test_support {
    use super::*;

    /// A store in a fresh temporary directory (kept alive by the guard).
    pub fn open_temp() -> (tempfile::TempDir, SledStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(SledConfig::new(dir.path().join("data"))).expect("opens");
        (dir, store)
    }

    /// Runs `open` again while it fails because the directory is still
    /// locked: sled releases its lock when its last thread lets go of the
    /// database, which on a busy machine may be a moment after the store
    /// was dropped.
    pub fn while_in_use<T>(
        mut open: impl FnMut() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match open() {
                Err(e)
                    if e.to_string().contains("is in use")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    /// The store in `dir` again, after it was dropped.
    pub fn reopen(dir: &tempfile::TempDir) -> SledStore {
        while_in_use(|| SledStore::open(SledConfig::new(dir.path().join("data")))).expect("reopens")
    }

    /// A new local user.
    pub async fn user(store: &SledStore, email: &str) -> User {
        let email = Email::parse(email).expect("valid email");
        store
            .create_user(&email, "$argon2id$fake")
            .await
            .expect("creates the user")
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[tokio::test]
    async fn a_second_open_says_the_directory_is_in_use() {
        let (dir, store) = open_temp();
        let err = SledStore::open(SledConfig::new(dir.path().join("data"))).expect_err("locked");
        assert!(
            err.to_string().contains("is in use by another process"),
            "{err}"
        );
        drop(store);
        reopen(&dir);
    }

    /// `open()` again while the directory is still locked by a handle
    /// just dropped (up to 3 s), then its result.
    fn when_free<T, E: std::fmt::Display>(open: impl Fn() -> Result<T, E>) -> Result<T, E> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            match open() {
                Err(e) if e.to_string().contains("in use") || e.to_string().contains("lock") => {
                    if std::time::Instant::now() > deadline {
                        return Err(e);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    #[test]
    fn open_existing_creates_nothing_where_there_is_no_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("typo");
        assert!(!SledStore::holds_store(&missing).expect("looks"));
        assert!(
            SledStore::open_existing(SledConfig::new(&missing))
                .expect("no error")
                .is_none()
        );
        assert!(!missing.exists(), "nothing is created");
        // An empty directory, and one with other files, hold no store either.
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).expect("mkdir");
        assert!(
            SledStore::open_existing(SledConfig::new(&empty))
                .expect("no error")
                .is_none()
        );
        assert_eq!(std::fs::read_dir(&empty).expect("reads").count(), 0);
        // A sled database that is not ours (no format marker) is left alone.
        let foreign = dir.path().join("foreign");
        drop(sled::open(&foreign).expect("a sled database"));
        assert!(SledStore::holds_store(&foreign).expect("looks"));
        // sled lets go of its lock a moment after the last handle is
        // dropped: wait for it rather than race it.
        assert!(
            when_free(|| SledStore::open_existing(SledConfig::new(&foreign)))
                .expect("no error")
                .is_none()
        );
        assert!(
            !when_free(|| sled::open(&foreign))
                .expect("reopens")
                .tree_names()
                .iter()
                .any(|n| n.as_ref() == b"meta")
        );
    }

    #[tokio::test]
    async fn open_existing_opens_a_store() {
        let (dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        drop(store);
        let data = dir.path().join("data");
        assert!(SledStore::holds_store(&data).expect("looks"));
        let store = while_in_use(|| SledStore::open_existing(SledConfig::new(&data)))
            .expect("opens")
            .expect("a store");
        assert_eq!(
            store.user(ada.id).await.expect("reads").map(|u| u.id),
            Some(ada.id)
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_directory_and_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, _store) = open_temp();
        let data = dir.path().join("data");
        let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("db")), 0o600);
    }

    #[tokio::test]
    async fn data_survives_reopening() {
        let (dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let draft = TaskDraft::new("persist me").expect("valid");
        let task = store.create_task(ada.id, draft, 10).await.expect("creates");
        let secret = store.jwt_secret(&|| vec![7; 32]).await.expect("secret");
        drop(store);
        let store = reopen(&dir);
        assert_eq!(
            store.task(ada.id, TaskRef::Number(1)).await.expect("reads"),
            Some(task)
        );
        assert_eq!(
            store.jwt_secret(&|| vec![9; 32]).await.expect("secret"),
            secret
        );
        store.ping().await.expect("answers");
        store.flush().await.expect("flushes");
    }

    #[tokio::test]
    async fn numbers_continue_past_every_number_issued_after_reopening() {
        let (dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let draft = || TaskDraft::new("t").expect("valid");
        for _ in 0..3 {
            store
                .create_task(ada.id, draft(), 10)
                .await
                .expect("creates");
        }
        // The highest number is deleted: only the counter remembers it.
        let none = Precondition::None;
        store
            .delete_task(ada.id, TaskRef::Number(3), &none)
            .await
            .expect("deletes");
        drop(store);
        let store = reopen(&dir);
        assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 2);
        let next = store
            .create_task(ada.id, draft(), 10)
            .await
            .expect("creates");
        assert_eq!(next.number, 4);
        // A lower one deleted: the highest index entry carries the count.
        store
            .delete_task(ada.id, TaskRef::Number(2), &none)
            .await
            .expect("deletes");
        drop(store);
        let store = reopen(&dir);
        let next = store
            .create_task(ada.id, draft(), 10)
            .await
            .expect("creates");
        assert_eq!(next.number, 5);
        assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 3);
    }

    #[tokio::test]
    async fn a_newer_format_is_refused() {
        let (dir, store) = open_temp();
        store
            .inner
            .trees
            .meta
            .insert(
                keys::META_FORMAT_VERSION,
                &(FORMAT_VERSION + 1).to_be_bytes()[..],
            )
            .expect("writes");
        store.flush().await.expect("flushes");
        drop(store);
        let err = SledStore::open(SledConfig::new(dir.path().join("data"))).expect_err("refused");
        assert!(
            matches!(&err, StoreError::Incompatible(m) if m.contains("newer version")),
            "{err}"
        );
    }
}
