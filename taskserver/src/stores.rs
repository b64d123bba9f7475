//! The store the flags select: PostgreSQL with `--database-url`, else the
//! embedded sled store in `--data-dir`.
//!
//! The server and `import` create the store when there is none; tools that
//! read a store ([`Missing::Refuse`]) refuse a path or a database that holds
//! none, and create nothing: a mistyped `--data-dir` must not pass for an
//! empty store and make an empty backup.

use crate::config::{Config, DatabaseUrl};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use taskcore::store::bounded::Bounded;
use taskcore::{SledConfig, SledStore, StoreError, TaskStore};

/// What to do when the selected store does not exist yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// Create it: the server, `import`, the target of `migrate-store`.
    Create,
    /// Refuse with [`OpenError::NoStore`] or [`OpenError::NoSchema`] and
    /// create nothing: `export`, the source of `migrate-store`.
    Refuse,
}

/// Where a store lives, as logs and reports name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// The sled data directory, made absolute (a relative path says
    /// nothing about where the server was started).
    Dir(PathBuf),
    /// The PostgreSQL database, shown without user or password.
    Database(DatabaseUrl),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(path) => write!(f, "{}", path.display()),
            Self::Database(url) => write!(f, "{url}"),
        }
    }
}

/// A store opened by [`open`], [`open_sled`] or [`open_postgres`].
pub struct Opened {
    /// The store.
    pub store: Arc<dyn TaskStore>,
    /// Where it lives.
    pub location: Location,
    /// Whether it was created now: a new data directory, or the schema in
    /// a database that had none.
    pub created: bool,
}

impl Opened {
    /// What happened, in words: `created a new store at /abs/dir`,
    /// `opened the store at /abs/dir`, and the like for a database.
    pub fn summary(&self) -> String {
        match (&self.location, self.created) {
            (Location::Dir(_), true) => format!("created a new store at {}", self.location),
            (Location::Dir(_), false) => format!("opened the store at {}", self.location),
            (Location::Database(_), true) => format!(
                "created the store's schema in the database {} (it had none)",
                self.location
            ),
            (Location::Database(_), false) => {
                format!("opened the store in the database {}", self.location)
            }
        }
    }
}

/// Why no store was opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A tool that reads a store was pointed at a directory without one.
    #[error("there is no store at {}: {why}; nothing was created", .path.display())]
    NoStore {
        /// The directory, absolute.
        path: PathBuf,
        /// What is there instead, in words.
        why: &'static str,
    },
    /// A tool that reads a store was pointed at a database without its schema.
    #[error(
        "the database {url} holds no store (it has no taskserver schema); nothing was created: \
         check the URL, or create an empty store with `taskserver migrate`"
    )]
    NoSchema {
        /// The database, without its password.
        url: DatabaseUrl,
    },
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the store `config` selects: connects to PostgreSQL and applies its
/// migrations, or opens the data directory; with [`Missing::Create`],
/// creating either when there is none. Opening, and every call on the
/// store after, ends within `--storage-timeout`.
pub async fn open(config: &Config, missing: Missing) -> Result<Opened, OpenError> {
    let timeout = config.storage_timeout;
    let mut opened = match &config.database_url {
        // A local directory opens as fast as its disk (an upgrade of a big
        // store may take a while, and must not be cut off); a database may
        // not answer at all.
        Some(url) => tokio::time::timeout(
            timeout,
            open_postgres(url, config.database_pool_size, missing),
        )
        .await
        .map_err(|_| not_answering(url, timeout))??,
        None => open_sled(&config.data_dir, config.cache_mb, missing).await?,
    };
    opened.store = Arc::new(Bounded::new(opened.store, timeout));
    Ok(opened)
}

/// The one sentence for a database that did not answer in time.
fn not_answering(url: &DatabaseUrl, timeout: Duration) -> StoreError {
    StoreError::Unavailable(format!(
        "PostgreSQL at {url} did not answer within {}; is it running and reachable?",
        humantime::format_duration(timeout)
    ))
}

/// Opens the sled store in `dir` off the runtime (opening reads its log).
pub async fn open_sled(dir: &Path, cache_mb: u64, missing: Missing) -> Result<Opened, OpenError> {
    // Absolute, so that every message and log line says where it is.
    let path = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let sled = SledConfig {
        path: path.clone(),
        cache_capacity_bytes: cache_mb.saturating_mul(1024 * 1024),
    };
    let looked = path.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let existed = SledStore::holds_store(&looked).map_err(|e| {
            StoreError::backend(format!(
                "cannot look into the data directory {}: {e}",
                looked.display()
            ))
        })?;
        let store = match missing {
            Missing::Create => Some(SledStore::open(sled)?),
            Missing::Refuse => SledStore::open_existing(sled)?,
        };
        Ok::<_, StoreError>(store.map(|store| (store, !existed)))
    })
    .await
    .map_err(|e| StoreError::backend(format!("opening the store failed: {e}")))??;
    match opened {
        Some((store, created)) => Ok(Opened {
            store: Arc::new(store),
            location: Location::Dir(path),
            created,
        }),
        None => Err(OpenError::NoStore {
            why: absence(&path),
            path,
        }),
    }
}

/// What a directory without a store holds instead.
fn absence(path: &Path) -> &'static str {
    match std::fs::read_dir(path).map(|mut entries| entries.next().is_none()) {
        Ok(true) => "the directory is empty",
        Ok(false) => "the directory holds other files, not a taskserver store",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "no such directory",
        Err(_) if path.exists() => "it is not a directory",
        Err(_) => "no such directory",
    }
}

/// Connects to PostgreSQL with a pool of at most `pool_size` connections and
/// applies pending migrations; with [`Missing::Refuse`], only to a database
/// that already has the schema.
#[cfg(feature = "postgres")]
pub async fn open_postgres(
    url: &DatabaseUrl,
    pool_size: usize,
    missing: Missing,
) -> Result<Opened, OpenError> {
    let config = taskcore::PgConfig {
        url: url.expose().to_string(),
        pool_size,
    };
    // Looked at first, so that a tool creates nothing in a wrong database.
    let had_schema = taskcore::PgStore::has_schema(&config).await?;
    if !had_schema && missing == Missing::Refuse {
        return Err(OpenError::NoSchema { url: url.clone() });
    }
    Ok(Opened {
        store: Arc::new(taskcore::PgStore::connect(config).await?),
        location: Location::Database(url.clone()),
        created: !had_schema,
    })
}

/// This build has no PostgreSQL support.
#[cfg(not(feature = "postgres"))]
pub async fn open_postgres(
    url: &DatabaseUrl,
    _pool_size: usize,
    _missing: Missing,
) -> Result<Opened, OpenError> {
    Err(StoreError::backend(format!(
        "cannot use {url}: this taskserver was built without the `postgres` feature"
    ))
    .into())
}
