//! API tokens: the `api_tokens` table, keyed by the hash of the value.

use super::feed::channel;
use super::{PgStore, db, db_or_no_user, time, time_opt};
use crate::domain::{ApiTokenId, Timestamp, UserId};
use crate::store::{ApiTokenInfo, ApiTokenUse, NewApiToken, StoreError, TokenHash};

impl PgStore {
    /// One transaction, pipelined: the user's row is locked, so creates of
    /// one user are serial (on any replica), and the insert that follows
    /// (a new snapshot, after the lock) inserts only while fewer than
    /// `max_live` tokens are live. No user row: the user is gone.
    pub(super) async fn create_api_token_impl(
        &self,
        token: &NewApiToken,
        max_live: usize,
    ) -> Result<ApiTokenInfo, StoreError> {
        let client = self.client().await?;
        let lock_user = client
            .prepare_cached("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE")
            .await
            .map_err(db)?;
        let insert = client
            .prepare_cached(
                "INSERT INTO api_tokens (hash, id, user_id, name, created_at, expires_at)
                 SELECT $1, $2, $3, $4, $5, $6
                 WHERE (SELECT count(*) FROM api_tokens WHERE user_id = $3 AND expires_at > $5) < $7",
            )
            .await
            .map_err(db)?;
        let max = i64::try_from(max_live).unwrap_or(i64::MAX);
        let (begin, locked, inserted, commit) = futures_util::future::join4(
            client.batch_execute("BEGIN"),
            client.query_opt(&lock_user, &[&token.user_id.0]),
            client.execute(
                &insert,
                &[
                    &&token.hash[..],
                    &token.id.0,
                    &token.user_id.0,
                    &token.name,
                    &token.created_at.as_micros(),
                    &token.expires_at.as_micros(),
                    &max,
                ],
            ),
            client.batch_execute("COMMIT"),
        )
        .await;
        begin.map_err(db)?;
        if locked.map_err(db)?.is_none() {
            return Err(StoreError::NotFound);
        }
        if inserted.map_err(db_or_no_user)? == 0 {
            return Err(StoreError::ApiTokenLimitReached);
        }
        commit.map_err(db)?;
        Ok(ApiTokenInfo {
            id: token.id,
            name: token.name.clone(),
            created_at: token.created_at,
            expires_at: token.expires_at,
            last_used_at: None,
        })
    }

    pub(super) async fn api_token_owner_impl(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<ApiTokenUse>, StoreError> {
        let client = self.client().await?;
        let select = client
            .prepare_cached(
                "SELECT id, user_id, last_used_at FROM api_tokens WHERE hash = $1 AND expires_at > $2",
            )
            .await
            .map_err(db)?;
        let Some(row) = client
            .query_opt(&select, &[&&hash[..], &now.as_micros()])
            .await
            .map_err(db)?
        else {
            return Ok(None);
        };
        Ok(Some(ApiTokenUse {
            id: ApiTokenId(row.get(0)),
            user: UserId(row.get(1)),
            last_used_at: time_opt(row.get(2), "api_tokens.last_used_at")?,
        }))
    }

    /// An update only (a revoked token stays revoked), committed without
    /// waiting for the disk: `last_used_at` may lag.
    pub(super) async fn touch_api_token_impl(
        &self,
        hash: &TokenHash,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let lazy = client
            .prepare_cached("SELECT set_config('synchronous_commit', 'off', true)")
            .await
            .map_err(db)?;
        let update = client
            .prepare_cached("UPDATE api_tokens SET last_used_at = $2 WHERE hash = $1")
            .await
            .map_err(db)?;
        let (begin, lazy, updated, commit) = futures_util::future::join4(
            client.batch_execute("BEGIN"),
            client.execute(&lazy, &[]),
            client.execute(&update, &[&&hash[..], &at.as_micros()]),
            client.batch_execute("COMMIT"),
        )
        .await;
        begin.map_err(db)?;
        lazy.map_err(db)?;
        updated.map_err(db)?;
        commit.map_err(db)
    }

    pub(super) async fn api_tokens_impl(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<Vec<ApiTokenInfo>, StoreError> {
        let client = self.client().await?;
        let select = client
            .prepare_cached(
                "SELECT id, name, created_at, expires_at, last_used_at FROM api_tokens
                 WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at, id",
            )
            .await
            .map_err(db)?;
        client
            .query(&select, &[&user.0, &now.as_micros()])
            .await
            .map_err(db)?
            .iter()
            .map(|row| {
                Ok(ApiTokenInfo {
                    id: ApiTokenId(row.get(0)),
                    name: row.get(1),
                    created_at: time(row.get(2), "api_tokens.created_at")?,
                    expires_at: time(row.get(3), "api_tokens.expires_at")?,
                    last_used_at: time_opt(row.get(4), "api_tokens.last_used_at")?,
                })
            })
            .collect()
    }

    pub(super) async fn revoke_api_token_impl(
        &self,
        user: UserId,
        id: ApiTokenId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        // Streams opened with the token end: wake them on every replica.
        let delete = client
            .prepare_cached(concat!(
                "WITH gone AS (DELETE FROM api_tokens
                               WHERE user_id = $1 AND id = $2 AND expires_at > $3 RETURNING 1)
                 SELECT pg_notify('",
                channel!(),
                "', $1::text) FROM (SELECT FROM gone LIMIT 1) one"
            ))
            .await
            .map_err(db)?;
        let removed = client
            .query(&delete, &[&user.0, &id.0, &now.as_micros()])
            .await
            .map_err(db)?;
        if removed.is_empty() {
            return Err(StoreError::NotFound);
        }
        self.inner.signals.notify(user);
        Ok(())
    }
}
