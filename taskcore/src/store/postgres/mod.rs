//! The PostgreSQL backend, [`PgStore`] (feature `postgres`): any number of
//! server replicas share one database and behave as one server.
//!
//! # Layout
//!
//! See `migrations/*.sql`. Times are microseconds since the epoch (`bigint`),
//! so every `Timestamp` value round-trips exactly.
//! Everything that must hold across replicas holds in the database: task
//! numbers come from an `UPDATE ... RETURNING` on the owner's row in the
//! transaction that inserts the task, `If-Match` writes are conditional
//! statements or row-locked transactions, and a refresh token is rotated
//! under `SELECT ... FOR UPDATE`. A recurring task's successor is inserted
//! by the transaction that completes it, under that task's row lock, only
//! when neither a task nor a tombstone (written by every delete) holds the
//! successor's id: one successor per occurrence, across replicas. Every
//! task write takes the owner's next change number from the same row, which
//! it locks before any task row, so numbers commit in order (see `feed.rs`),
//! and sends a `NOTIFY` that the other replicas' listeners turn into
//! signals for live streams.
//!
//! # Row security
//!
//! The `tasks` table has row-level security (enabled and forced): a
//! statement sees only the rows of the user named by the
//! `taskserver.user_id` setting, which every task transaction sets first
//! (transaction-local). Superusers bypass row security, so each pooled
//! connection switches to the `NOLOGIN` role `taskserver_app` that the
//! migrations create; when it cannot (no such role, not a member) it logs a
//! warning once and carries on, the queries being scoped by owner anyway.
//!
//! # Round trips
//!
//! A task operation sends `BEGIN`, the `set_config` of the user, its one
//! statement and `COMMIT` together (pipelined): one round trip. An update
//! takes two (read under `FOR UPDATE`, then write and commit; the
//! successor's insert, when there is one, goes in the second flight).

mod api_tokens;
mod creates;
mod feed;
mod migrations;
mod sessions;
mod tasks;
#[doc(hidden)]
pub mod testing;
mod transfer;
mod users;

use crate::domain::{
    ApiTokenId, ChangePage, Credentials, Email, ExternalIdentity, FeedPosition, ListQuery,
    Position, Precondition, ProjectCount, SessionId, Task, TaskDraft, TaskId, TaskPage, TaskPatch,
    TaskRef, Timestamp, User, UserId,
};
use crate::store::{
    ApiTokenInfo, ApiTokenUse, ExportRecord, ExportReport, ImportReport, NewApiToken, NewSession,
    PoolMetrics, RefreshOutcome, RefreshRequest, SessionInfo, Signals, StoreError, StoreMetrics,
    TaskStore, TokenHash,
};
use async_trait::async_trait;
use deadpool_postgres::{Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_postgres::NoTls;

/// Default number of pooled connections.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// The role the store's connections act as, so row security applies.
const APP_ROLE: &str = "taskserver_app";

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to reach the database.
#[derive(Clone)]
pub struct PgConfig {
    /// A libpq-style connection string: `postgres://user:password@host:port/db`
    /// or `host=... user=... dbname=...`.
    pub url: String,
    /// The most connections the pool opens.
    pub pool_size: usize,
}

impl PgConfig {
    /// A configuration for `url` with the default pool size (16).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: DEFAULT_POOL_SIZE,
        }
    }

    /// The parsed connection settings (with a connect timeout when none is given).
    fn parsed(&self) -> Result<tokio_postgres::Config, StoreError> {
        let mut config: tokio_postgres::Config = self.url.parse().map_err(|e| {
            StoreError::backend(format!(
                "the database URL {} is not valid: {e}",
                redact(&self.url)
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        Ok(config)
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &redact(&self.url))
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// The URL with any password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if let Some((userinfo, host)) = authority.rsplit_once('@')
            && let Some((user, _password)) = userinfo.split_once(':')
        {
            return format!("{scheme}://{user}:***@{host}{tail}");
        }
        // A password may also come as a query parameter.
        return redact_key_values(url, '&');
    }
    redact_key_values(url, ' ')
}

/// Replaces the value of `password=` in `key=value` lists.
fn redact_key_values(text: &str, separator: char) -> String {
    text.split(separator)
        .map(|part| {
            let bare = part.rsplit(['?']).next().unwrap_or(part);
            if bare.trim_start().starts_with("password=") {
                let prefix_len = part.len() - bare.len();
                format!("{}password=***", &part[..prefix_len])
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(&separator.to_string())
}

/// Where a configuration points, for messages: `host:port/db`.
fn target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

/// A short, password-free cause of a driver error.
fn cause(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return db.message().to_owned();
    }
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::TimedOut => "timed out".into(),
                _ => io.to_string(),
            };
        }
        source = inner.source();
    }
    error.to_string()
}

/// A driver failure as a store error.
fn db(error: tokio_postgres::Error) -> StoreError {
    if unavailable(&error) {
        StoreError::Unavailable(format!("PostgreSQL: {}", cause(&error)))
    } else {
        StoreError::backend_caused_by("PostgreSQL", error)
    }
}

/// Whether an error means the database cannot serve now rather than that a
/// statement is wrong: no answer from the server at all (a closed or broken
/// connection), or one of the SQLSTATE classes for a server that is
/// shutting down, starting, out of resources, failing I/O or read-only, or
/// a transaction it rolled back (a deadlock between, say, completing a
/// recurring task and deleting its owner's account): retrying succeeds.
fn unavailable(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        None => error.as_db_error().is_none(),
        Some(code) => {
            let class = code.code().get(..2);
            matches!(class, Some("08" | "40" | "53" | "57" | "58"))
                || *code == tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION
        }
    }
}

/// A driver failure of a write that names a user: a foreign key violation
/// means the user is gone (deleted while the write was on its way).
fn db_or_no_user(error: tokio_postgres::Error) -> StoreError {
    if error.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) {
        StoreError::NotFound
    } else {
        db(error)
    }
}

/// A malformed value read from the database.
fn damaged(what: &str) -> StoreError {
    StoreError::Incompatible(format!("a value in `{what}` is out of range"))
}

/// A time read from the database.
fn time(micros: i64, column: &str) -> Result<Timestamp, StoreError> {
    Timestamp::from_micros(micros).ok_or_else(|| damaged(column))
}

/// An optional time read from the database.
fn time_opt(micros: Option<i64>, column: &str) -> Result<Option<Timestamp>, StoreError> {
    micros.map(|m| time(m, column)).transpose()
}

/// A counter or version as the database keeps it (bigint).
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A bigint read back as a counter or version.
fn to_u64(value: i64, column: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| damaged(column))
}

/// A token hash read from the database.
fn hash_of(bytes: &[u8]) -> Result<TokenHash, StoreError> {
    bytes.try_into().map_err(|_| damaged("hash"))
}

/// Opens one connection outside the pool (for migrations and test databases).
async fn connect_one(
    config: &tokio_postgres::Config,
) -> Result<tokio_postgres::Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await.map_err(|e| {
        StoreError::backend(format!(
            "cannot connect to PostgreSQL at {}: {}",
            target(config),
            cause(&e)
        ))
    })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %cause(&e), "a PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// The store on PostgreSQL. Cheap to clone (clones share the pool).
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    target: String,
    /// Creates waiting for their owner's next batch.
    creates: creates::CreateQueues,
    /// Wakes live streams (see [`Signals`]).
    signals: Arc<Signals>,
    /// Raises the signals of changes made through other replicas.
    listener: feed::Listener,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects (bounded pool), checks the server answers, applies migrations.
    pub async fn connect(config: PgConfig) -> Result<PgStore, StoreError> {
        let pg = config.parsed()?;
        let target = target(&pg);
        Self::migrate(&config).await?;
        let manager = Manager::from_config(
            pg.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let warned = Arc::new(AtomicBool::new(false));
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(Duration::from_secs(30)))
            .post_create(Hook::async_fn(move |client, _| {
                let warned = warned.clone();
                Box::pin(async move {
                    // Session-wide: every statement of this connection runs
                    // as the application role, subject to row security.
                    if let Err(e) = client.batch_execute(&format!("SET ROLE {APP_ROLE}")).await {
                        if client.is_closed() {
                            return Err(HookError::Backend(e));
                        }
                        if !warned.swap(true, Ordering::Relaxed) {
                            tracing::warn!(
                                role = APP_ROLE,
                                error = %cause(&e),
                                "cannot switch to the application role: row security does not \
                                 apply to a superuser connection"
                            );
                        }
                    }
                    Ok(())
                })
            }))
            .build()
            .map_err(|e| StoreError::backend(format!("cannot set up the connection pool: {e}")))?;
        let signals = Arc::<Signals>::default();
        // In the background: a failed ping drops the store, and the
        // listener with it.
        let listener = feed::Listener::start(pg, signals.clone());
        let store = PgStore {
            inner: Arc::new(Inner {
                pool,
                target,
                creates: creates::CreateQueues::default(),
                signals,
                listener,
            }),
        };
        store.ping().await?;
        Ok(store)
    }

    /// Whether the database holds this store's schema (its migrations
    /// table, created with the first migration). Only looks: a tool that
    /// reads a store refuses a database without one instead of creating it.
    pub async fn has_schema(config: &PgConfig) -> Result<bool, StoreError> {
        let pg = config.parsed()?;
        let client = connect_one(&pg).await?;
        let row = client
            .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
            .await
            .map_err(db)?;
        Ok(row.get(0))
    }

    /// Applies migrations and returns how many were newly applied (for
    /// `taskserver migrate`). Safe when several replicas start at once.
    pub async fn migrate(config: &PgConfig) -> Result<usize, StoreError> {
        let pg = config.parsed()?;
        let mut client = connect_one(&pg).await?;
        migrations::apply(&mut client).await
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.inner.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {}: {}",
                self.inner.target,
                cause(&e)
            )),
            other => StoreError::Unavailable(format!(
                "no connection to PostgreSQL at {}: {other}",
                self.inner.target
            )),
        })
    }
}

/// Sets the user whose tasks the current transaction may see.
/// Scopes a transaction to one owner for row security, and plans its
/// statements with the tables as they are now. A generic plan cached while
/// `tasks` was small (a new database) keeps scanning an owner's whole range,
/// or the whole table, after it grows, until an ANALYZE replans it:
/// measured, a mixed load ran at 1,848 req/s on such plans and 7,420 after
/// ANALYZE. Planning each task statement costs some throughput; the
/// session and token lookups, on primary keys, keep their cached plans.
const SET_USER: &str = "SELECT set_config('taskserver.user_id', $1, true), set_config('plan_cache_mode', 'force_custom_plan', true)";

/// Runs `work` (whose statements must already be prepared) inside a
/// transaction scoped to `owner`, sending `BEGIN`, the scope, the work and
/// `COMMIT` in one pipelined flight. A failing statement makes the `COMMIT`
/// a rollback.
async fn scoped<T, F>(
    client: &tokio_postgres::Client,
    set_user: &tokio_postgres::Statement,
    owner: UserId,
    work: F,
) -> Result<T, StoreError>
where
    F: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
{
    let owner = owner.to_string();
    // `join4` polls in order, and each request is sent on its first poll.
    let (begin, scope, result, commit) = futures_util::future::join4(
        client.batch_execute("BEGIN"),
        client.execute(set_user, &[&owner]),
        work,
        client.batch_execute("COMMIT"),
    )
    .await;
    begin.map_err(db)?;
    scope.map_err(db)?;
    let value = result.map_err(db)?;
    commit.map_err(db)?;
    Ok(value)
}

#[async_trait]
impl TaskStore for PgStore {
    async fn create_user(&self, email: &Email, password_hash: &str) -> Result<User, StoreError> {
        self.create_user_impl(email, password_hash).await
    }

    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        self.credentials_impl(email).await
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.user_impl(id).await
    }

    async fn external_user(
        &self,
        identity: &ExternalIdentity,
        email: Option<&str>,
    ) -> Result<User, StoreError> {
        self.external_user_impl(identity, email).await
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        self.delete_user_impl(id).await
    }

    async fn create_session(
        &self,
        session: NewSession,
        max_sessions: usize,
    ) -> Result<(), StoreError> {
        self.create_session_impl(&session, max_sessions).await
    }

    async fn session(
        &self,
        id: SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionInfo>, StoreError> {
        self.session_impl(id, now).await
    }

    async fn session_of_refresh(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<SessionInfo>, StoreError> {
        self.session_of_refresh_impl(hash).await
    }

    async fn refresh(&self, request: RefreshRequest) -> Result<RefreshOutcome, StoreError> {
        self.refresh_impl(&request).await
    }

    async fn revoke_session(&self, id: SessionId) -> Result<bool, StoreError> {
        self.revoke_session_impl(id).await
    }

    async fn prune_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.prune_expired_impl(now).await
    }

    async fn create_api_token(
        &self,
        token: NewApiToken,
        max_live: usize,
    ) -> Result<ApiTokenInfo, StoreError> {
        self.create_api_token_impl(&token, max_live).await
    }

    async fn api_token_owner(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<ApiTokenUse>, StoreError> {
        self.api_token_owner_impl(hash, now).await
    }

    async fn touch_api_token(&self, hash: &TokenHash, at: Timestamp) -> Result<(), StoreError> {
        self.touch_api_token_impl(hash, at).await
    }

    async fn api_tokens(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<Vec<ApiTokenInfo>, StoreError> {
        self.api_tokens_impl(user, now).await
    }

    async fn revoke_api_token(
        &self,
        user: UserId,
        id: ApiTokenId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.revoke_api_token_impl(user, id, now).await
    }

    async fn create_task(
        &self,
        owner: UserId,
        draft: TaskDraft,
        max_live: u64,
    ) -> Result<Task, StoreError> {
        self.create_task_impl(owner, None, draft, max_live).await
    }

    async fn create_task_with_id(
        &self,
        owner: UserId,
        id: TaskId,
        draft: TaskDraft,
        max_live: u64,
    ) -> Result<Task, StoreError> {
        self.create_task_impl(owner, Some(id), draft, max_live)
            .await
    }

    async fn task(&self, owner: UserId, task: TaskRef) -> Result<Option<Task>, StoreError> {
        self.task_impl(owner, task).await
    }

    async fn update_task(
        &self,
        owner: UserId,
        task: TaskRef,
        patch: TaskPatch,
        precondition: &Precondition,
    ) -> Result<Task, StoreError> {
        // On its own task, so a caller that gives up cannot leave the
        // transaction open on a pooled connection.
        let update = self
            .clone()
            .update_task_impl(owner, task, patch, precondition.clone());
        tokio::spawn(update)
            .await
            .map_err(|e| StoreError::backend(format!("an update failed: {e}")))?
    }

    async fn delete_task(
        &self,
        owner: UserId,
        task: TaskRef,
        precondition: &Precondition,
    ) -> Result<(), StoreError> {
        self.delete_task_impl(owner, task, precondition).await
    }

    async fn list_tasks(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
    ) -> Result<TaskPage, StoreError> {
        self.list_tasks_impl(owner, query, after).await
    }

    async fn live_task_count(&self, owner: UserId) -> Result<u64, StoreError> {
        self.live_task_count_impl(owner).await
    }

    async fn projects(&self, owner: UserId) -> Result<Vec<ProjectCount>, StoreError> {
        self.projects_impl(owner).await
    }

    async fn changes(
        &self,
        owner: UserId,
        from: Option<FeedPosition>,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        self.changes_impl(owner, from, limit).await
    }

    async fn latest_change(&self, owner: UserId) -> Result<u64, StoreError> {
        self.latest_change_impl(owner).await
    }

    async fn prune_deletions(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.prune_deletions_impl(before).await
    }

    fn signals(&self) -> &Arc<Signals> {
        &self.inner.signals
    }

    async fn export(
        &self,
        out: tokio::sync::mpsc::Sender<ExportRecord>,
    ) -> Result<ExportReport, StoreError> {
        self.export_impl(out).await
    }

    async fn import(&self, records: Vec<ExportRecord>) -> Result<ImportReport, StoreError> {
        self.import_impl(&records).await
    }

    async fn jwt_secret(
        &self,
        generate: &(dyn Fn() -> Vec<u8> + Send + Sync),
    ) -> Result<Vec<u8>, StoreError> {
        let client = self.client().await?;
        let read = client
            .prepare_cached("SELECT value FROM meta WHERE key = 'jwt_secret'")
            .await
            .map_err(db)?;
        if let Some(row) = client.query_opt(&read, &[]).await.map_err(db)? {
            return Ok(row.get(0));
        }
        let fresh = generate();
        let insert = client
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES ('jwt_secret', $1) ON CONFLICT (key) DO NOTHING",
            )
            .await
            .map_err(db)?;
        client.execute(&insert, &[&fresh]).await.map_err(db)?;
        // Whoever inserted first wins; every replica reads that one.
        let row = client.query_one(&read, &[]).await.map_err(db)?;
        Ok(row.get(0))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(db)?;
        Ok(())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        // Every write returned after its commit, which is durable.
        Ok(())
    }

    fn metrics(&self) -> StoreMetrics {
        let status = self.inner.pool.status();
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        StoreMetrics {
            flushes: None,
            pool: Some(PoolMetrics {
                in_use: count(status.size.saturating_sub(status.available)),
                idle: count(status.available),
                max: count(status.max_size),
                waiting: count(status.waiting),
            }),
        }
    }

    async fn size_on_disk(&self) -> Result<Option<u64>, StoreError> {
        // Sums the sizes of the database's files: no table is read.
        let client = self.client().await?;
        let row = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await
            .map_err(db)?;
        Ok(u64::try_from(row.get::<_, i64>(0)).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let config = PgConfig::new("postgres://ada:s3cret@db.example:5433/tasks?sslmode=disable");
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("ada:***@db.example:5433/tasks"), "{shown}");
        let kv = redact("host=db user=ada password=s3cret dbname=tasks");
        assert_eq!(kv, "host=db user=ada password=*** dbname=tasks");
        let query = redact("postgres://db/tasks?user=ada&password=s3cret");
        assert!(!query.contains("s3cret"), "{query}");
        assert_eq!(redact("postgres://db/tasks"), "postgres://db/tasks");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_one_clear_sentence() {
        // Port 1 on the loopback: nothing listens there.
        let err = PgStore::connect(PgConfig::new("postgres://ada:s3cret@127.0.0.1:1/test"))
            .await
            .expect_err("nothing listens");
        let text = err.to_string();
        assert!(
            text.contains("cannot connect to PostgreSQL at 127.0.0.1:1/test: connection refused"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
    }
}
