//! The store the flags select: PostgreSQL with `--database-url`, else the
//! embedded sled store in `--data-dir`.

use crate::config::{Config, DatabaseUrl};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use taskcore::store::bounded::Bounded;
use taskcore::{SledConfig, SledStore, StoreError, TaskStore};

/// Opens the store `config` selects: connects to PostgreSQL and applies its
/// migrations, or opens (creating) the data directory. Opening, and every
/// call on the store after, ends within `--storage-timeout`.
pub async fn open(config: &Config) -> Result<Arc<dyn TaskStore>, StoreError> {
    let timeout = config.storage_timeout;
    let store = match &config.database_url {
        // A local directory opens as fast as its disk (an upgrade of a big
        // store may take a while, and must not be cut off); a database may
        // not answer at all.
        Some(url) => tokio::time::timeout(timeout, open_postgres(url, config.database_pool_size))
            .await
            .map_err(|_| not_answering(url, timeout))??,
        None => open_sled(&config.data_dir, config.cache_mb).await?,
    };
    Ok(Arc::new(Bounded::new(store, timeout)))
}

/// The one sentence for a database that did not answer in time.
fn not_answering(url: &DatabaseUrl, timeout: Duration) -> StoreError {
    StoreError::Unavailable(format!(
        "PostgreSQL at {url} did not answer within {}; is it running and reachable?",
        humantime::format_duration(timeout)
    ))
}

/// Opens the sled store in `dir` off the runtime (opening reads its log).
pub async fn open_sled(dir: &Path, cache_mb: u64) -> Result<Arc<dyn TaskStore>, StoreError> {
    let sled = SledConfig {
        path: dir.to_path_buf(),
        cache_capacity_bytes: cache_mb.saturating_mul(1024 * 1024),
    };
    let store = tokio::task::spawn_blocking(move || SledStore::open(sled))
        .await
        .map_err(|e| StoreError::backend(format!("opening the store failed: {e}")))??;
    Ok(Arc::new(store))
}

/// Connects to PostgreSQL with a pool of at most `pool_size` connections and
/// applies pending migrations.
#[cfg(feature = "postgres")]
pub async fn open_postgres(
    url: &DatabaseUrl,
    pool_size: usize,
) -> Result<Arc<dyn TaskStore>, StoreError> {
    let config = taskcore::PgConfig {
        url: url.expose().to_string(),
        pool_size,
    };
    Ok(Arc::new(taskcore::PgStore::connect(config).await?))
}

/// This build has no PostgreSQL support.
#[cfg(not(feature = "postgres"))]
pub async fn open_postgres(
    url: &DatabaseUrl,
    _pool_size: usize,
) -> Result<Arc<dyn TaskStore>, StoreError> {
    Err(StoreError::backend(format!(
        "cannot use {url}: this taskserver was built without the `postgres` feature"
    )))
}
