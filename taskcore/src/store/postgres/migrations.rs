//! Schema migrations: numbered SQL files embedded in the binary, applied in
//! order and recorded in `schema_migrations`, under a transaction-scoped
//! advisory lock so replicas starting at once apply each exactly once.

use super::db;
use crate::store::StoreError;

/// Every migration, in order: (version, name, SQL).
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "initial", include_str!("migrations/0001_initial.sql")),
    (
        2,
        "user_cascade",
        include_str!("migrations/0002_user_cascade.sql"),
    ),
    (
        3,
        "times_in_range",
        include_str!("migrations/0003_times_in_range.sql"),
    ),
    (
        4,
        "projects_recurrence",
        include_str!("migrations/0004_projects_recurrence.sql"),
    ),
    (
        5,
        "change_feed",
        include_str!("migrations/0005_change_feed.sql"),
    ),
];

/// Grants the application role every table, after a run that applied a
/// migration (see the file).
const GRANTS: &str = include_str!("migrations/grants.sql");

/// The first migration after which [`GRANTS`] runs (the earlier ones grant
/// themselves, and a schema of an earlier release may lack its tables).
const GRANTS_AFTER: i32 = 5;

/// The advisory lock key that serializes migrations ("taskmigr").
const LOCK_KEY: i64 = 0x7461_736b_6d69_6772;

/// Applies the migrations the database lacks; returns how many.
pub(super) async fn apply(client: &mut tokio_postgres::Client) -> Result<usize, StoreError> {
    apply_through(client, i32::MAX).await
}

/// Applies the missing migrations numbered up to `last` (a database as an
/// earlier release left it, for the upgrade tests); returns how many.
pub(super) async fn apply_through(
    client: &mut tokio_postgres::Client,
    last: i32,
) -> Result<usize, StoreError> {
    let tx = client.transaction().await.map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(db)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version integer PRIMARY KEY,
            name text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(db)?;
    let applied: Vec<i32> = tx
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .map_err(db)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if let Some(newest) = applied.iter().copied().filter(|v| *v > known).max() {
        return Err(StoreError::Incompatible(format!(
            "the database schema is at version {newest}, newer than this version knows ({known}): upgrade"
        )));
    }
    let mut count = 0;
    let mut regrant = false;
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 <= last) {
        if applied.contains(version) {
            continue;
        }
        tx.batch_execute(sql).await.map_err(|e| {
            StoreError::backend(format!(
                "migration {version} ({name}) failed: {}",
                super::cause(&e)
            ))
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await
        .map_err(db)?;
        count += 1;
        regrant |= *version >= GRANTS_AFTER;
    }
    if regrant {
        tx.batch_execute(GRANTS).await.map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    if count > 0 {
        tracing::info!(applied = count, "applied database migrations");
    }
    Ok(count)
}
