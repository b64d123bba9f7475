//! Test support: throwaway databases, and a probe of row security. Public
//! for the test suites of this crate and of the server; not an API.

use super::{PgStore, SET_USER, StoreError, cause, connect_one, db};
use crate::domain::{FeedPosition, ListQuery, Position, TaskId, UserId};
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable that names the server the PostgreSQL tests use.
pub const TEST_DATABASE_URL_VAR: &str = "TASKSERVER_TEST_DATABASE_URL";

/// `TASKSERVER_TEST_DATABASE_URL`, when set and not empty.
pub fn test_database_url() -> Option<String> {
    std::env::var(TEST_DATABASE_URL_VAR)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// A uniquely named, empty database, dropped (`WITH (FORCE)`) on drop.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL of the new database (the base URL with its name swapped).
    pub url: String,
    base_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates `taskserver_test_<pid>_<counter>_<random>` on the server of `base_url`.
    pub async fn create(base_url: &str) -> Result<TestDatabase, StoreError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let random = uuid::Uuid::now_v7().as_u128() as u32;
        let name = format!(
            "taskserver_test_{}_{}_{random:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let config = super::PgConfig::new(base_url).parsed()?;
        let client = connect_one(&config).await?;
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .map_err(|e| StoreError::backend(format!("cannot create {name}: {}", cause(&e))))?;
        Ok(TestDatabase {
            url: with_database(base_url, &name),
            base_url: base_url.to_owned(),
            name,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (base_url, name) = (self.base_url.clone(), self.name.clone());
        // Its own thread and runtime: drop may run inside or outside one.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let config = super::PgConfig::new(&base_url)
                    .parsed()
                    .map_err(|e| e.to_string())?;
                let client = connect_one(&config).await.map_err(|e| e.to_string())?;
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .map_err(|e| cause(&e))
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = dropped.map_err(|_| "the thread panicked".to_string()) {
            eprintln!("cannot drop the test database {}: {e}", self.name);
        }
    }
}

/// Applies the migrations up to version `last` only, to the database at
/// `url` (to test a later migration on data an older schema allowed).
pub async fn migrate_up_to(url: &str, last: i32) -> Result<usize, StoreError> {
    let config = super::PgConfig::new(url).parsed()?;
    let mut client = connect_one(&config).await?;
    super::migrations::apply_through(&mut client, last).await
}

/// Runs SQL on the database at `url` as the connected user, outside any
/// store (to set up what the store itself would refuse to write).
pub async fn execute(url: &str, sql: &str) -> Result<(), StoreError> {
    let config = super::PgConfig::new(url).parsed()?;
    let client = connect_one(&config).await?;
    client.batch_execute(sql).await.map_err(db)
}

/// Rows of `query` (one `bigint` column) on the database at `url`.
pub async fn query_i64(url: &str, query: &str) -> Result<Vec<i64>, StoreError> {
    let config = super::PgConfig::new(url).parsed()?;
    let client = connect_one(&config).await?;
    let rows = client.query(query, &[]).await.map_err(db)?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// `url` naming database `name` instead.
fn with_database(url: &str, name: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (before_query, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let authority = before_query.split('/').next().unwrap_or(before_query);
        let mut out = format!("{scheme}://{authority}/{name}");
        if let Some(query) = query {
            out.push('?');
            out.push_str(query);
        }
        out
    } else {
        format!("{url} dbname={name}")
    }
}

/// The plan of the statement that lists a page of `query` after `after`
/// for `owner`, as `EXPLAIN (ANALYZE, COSTS OFF)` shows it, one line each:
/// proof of which index a list uses and that it stops after the page.
pub async fn explain_list(
    store: &PgStore,
    owner: UserId,
    query: &ListQuery,
    after: Option<&Position>,
) -> Result<Vec<String>, StoreError> {
    let rows = store
        .list_rows(
            owner,
            query,
            after,
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ",
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// The plan of the change feed's statement for a page of `limit` after
/// `from` for `owner`, as `EXPLAIN (ANALYZE, COSTS OFF)` shows it, one line
/// each: proof that a feed read is two index ranges from the position.
pub async fn explain_changes(
    store: &PgStore,
    owner: UserId,
    from: Option<FeedPosition>,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let rows = store
        .feed_rows(
            owner,
            from,
            limit,
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ",
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Waits until `store` listens for the changes of other replicas (it
/// starts listening in the background when it opens); whether it did
/// within `within`.
pub async fn listening(store: &PgStore, within: std::time::Duration) -> bool {
    let mut listening = store.inner.listener.listening.clone();
    tokio::time::timeout(within, listening.wait_for(|on| *on))
        .await
        .is_ok_and(|waited| waited.is_ok())
}

/// What a store connection sees of `tasks` with no owner filter at all.
#[derive(Clone, Debug)]
pub struct RowSecurityProbe {
    /// The role the connection acts as.
    pub role: String,
    /// Whether that role bypasses row security (superuser or BYPASSRLS).
    pub bypasses_row_security: bool,
    /// The id of every task visible.
    pub visible: Vec<TaskId>,
}

/// Under `as_user`'s row security scope, selects EVERY task the store's
/// connection can see without an owner filter: proof that the database,
/// not only the queries, keeps users apart.
pub async fn unfiltered_task_ids(
    store: &PgStore,
    as_user: UserId,
) -> Result<RowSecurityProbe, StoreError> {
    let client = store.client().await?;
    let set_user = client.prepare_cached(SET_USER).await.map_err(db)?;
    let all = client
        .prepare_cached("SELECT id FROM tasks")
        .await
        .map_err(db)?;
    let role = client
        .prepare_cached(
            "SELECT current_user::text, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
        )
        .await
        .map_err(db)?;
    let rows = super::scoped(&client, &set_user, as_user, client.query(&all, &[])).await?;
    let role = client.query_one(&role, &[]).await.map_err(db)?;
    Ok(RowSecurityProbe {
        role: role.get(0),
        bypasses_row_security: role.get(1),
        visible: rows.iter().map(|row| TaskId(row.get(0))).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_swapped() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            with_database("host=h user=u", "x"),
            "host=h user=u dbname=x"
        );
    }
}
