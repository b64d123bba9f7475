//! Login sessions and their refresh tokens: `sessions` and `refresh_tokens`
//! (which go with their session, `ON DELETE CASCADE`).

use super::users::USER_COLUMNS;
use super::{PgStore, db, db_or_no_user, time};
use crate::domain::{SessionId, Timestamp, UserId};
use crate::store::{
    NewSession, RefreshOutcome, RefreshRequest, SessionInfo, StoreError, TokenHash,
};

/// Serializes one user's logins ("tasksess" namespace of advisory locks).
const SESSION_LOCK: i32 = 0x7365_7373;

impl PgStore {
    /// One transaction, pipelined: the user's logins are serialized by an
    /// advisory lock, expired sessions and those past the cap go, then the
    /// session and its first refresh token are inserted.
    pub(super) async fn create_session_impl(
        &self,
        new: &NewSession,
        max_sessions: usize,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let lock = client
            .prepare_cached("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
            .await
            .map_err(db)?;
        // Keeps the newest `max - 1` live sessions (login time, then id).
        let trim = client
            .prepare_cached(
                "DELETE FROM sessions WHERE id IN (
                    SELECT id FROM sessions WHERE user_id = $1 AND expires_at <= $2
                    UNION ALL
                    SELECT id FROM (
                        SELECT id, row_number() OVER (ORDER BY created_at DESC, id DESC) AS rank
                        FROM sessions WHERE user_id = $1 AND expires_at > $2
                    ) live WHERE rank >= $3)",
            )
            .await
            .map_err(db)?;
        let insert_session = client
            .prepare_cached(
                "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .await
            .map_err(db)?;
        let insert_refresh = client
            .prepare_cached(
                "INSERT INTO refresh_tokens (hash, session_id, expires_at) VALUES ($1, $2, $3)",
            )
            .await
            .map_err(db)?;
        let user_text = new.user_id.to_string();
        let max = i64::try_from(max_sessions.max(1)).unwrap_or(i64::MAX);
        let now = new.created_at.as_micros();
        let (begin, (locked, trimmed), (session, refresh), commit) = futures_util::future::join4(
            client.batch_execute("BEGIN"),
            futures_util::future::join(
                client.execute(&lock, &[&SESSION_LOCK, &user_text]),
                client.execute(&trim, &[&new.user_id.0, &now, &max]),
            ),
            futures_util::future::join(
                client.execute(
                    &insert_session,
                    &[&new.id.0, &new.user_id.0, &now, &new.expires_at.as_micros()],
                ),
                client.execute(
                    &insert_refresh,
                    &[
                        &&new.refresh_hash[..],
                        &new.id.0,
                        &new.refresh_expires_at.as_micros(),
                    ],
                ),
            ),
            client.batch_execute("COMMIT"),
        )
        .await;
        begin.map_err(db)?;
        locked.map_err(db)?;
        trimmed.map_err(db)?;
        // The foreign key refuses a session of a user deleted meanwhile.
        session.map_err(db_or_no_user)?;
        refresh.map_err(db)?;
        commit.map_err(db)
    }

    pub(super) async fn session_impl(
        &self,
        id: SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let client = self.client().await?;
        let select = client
            .prepare_cached(
                "SELECT user_id, expires_at FROM sessions WHERE id = $1 AND expires_at > $2",
            )
            .await
            .map_err(db)?;
        client
            .query_opt(&select, &[&id.0, &now.as_micros()])
            .await
            .map_err(db)?
            .map(|row| {
                Ok(SessionInfo {
                    id,
                    user_id: UserId(row.get(0)),
                    expires_at: time(row.get(1), "sessions.expires_at")?,
                })
            })
            .transpose()
    }

    pub(super) async fn session_of_refresh_impl(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let client = self.client().await?;
        let select = client
            .prepare_cached(
                "SELECT s.id, s.user_id, s.expires_at FROM refresh_tokens r
                 JOIN sessions s ON s.id = r.session_id WHERE r.hash = $1",
            )
            .await
            .map_err(db)?;
        client
            .query_opt(&select, &[&&hash[..]])
            .await
            .map_err(db)?
            .map(|row| {
                Ok(SessionInfo {
                    id: SessionId(row.get(0)),
                    user_id: UserId(row.get(1)),
                    expires_at: time(row.get(2), "sessions.expires_at")?,
                })
            })
            .transpose()
    }

    /// The presented token is read `FOR UPDATE`: of two replicas refreshing
    /// it at once, the second waits, then sees it used.
    pub(super) async fn refresh_impl(
        &self,
        request: &RefreshRequest,
    ) -> Result<RefreshOutcome, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let select = tx
            .prepare_cached(&format!(
                "SELECT r.session_id, r.expires_at, r.used_at, s.expires_at, u.{}
                 FROM refresh_tokens r
                 JOIN sessions s ON s.id = r.session_id
                 LEFT JOIN users u ON u.id = s.user_id
                 WHERE r.hash = $1 FOR UPDATE OF r, s",
                USER_COLUMNS.replace(", ", ", u.")
            ))
            .await
            .map_err(db)?;
        let now = request.now;
        let presented = &request.presented[..];
        let Some(row) = tx.query_opt(&select, &[&presented]).await.map_err(db)? else {
            return Ok(RefreshOutcome::Invalid);
        };
        let sid = SessionId(row.get(0));
        let token_expires = time(row.get(1), "refresh_tokens.expires_at")?;
        let used_at: Option<i64> = row.get(2);
        let session_expires = time(row.get(3), "sessions.expires_at")?;
        let revoke = tx
            .prepare_cached("DELETE FROM sessions WHERE id = $1")
            .await
            .map_err(db)?;
        let outcome = if session_expires <= now {
            tx.execute(&revoke, &[&sid.0]).await.map_err(db)?;
            RefreshOutcome::Invalid
        } else if token_expires <= now {
            tx.execute("DELETE FROM refresh_tokens WHERE hash = $1", &[&presented])
                .await
                .map_err(db)?;
            RefreshOutcome::Invalid
        } else if let Some(used_at) = used_at {
            if request.reuse_within_grace(time(used_at, "refresh_tokens.used_at")?) {
                RefreshOutcome::ReusedWithinGrace
            } else {
                tx.execute(&revoke, &[&sid.0]).await.map_err(db)?;
                RefreshOutcome::ReusedSessionRevoked
            }
        } else if row.get::<_, Option<uuid::Uuid>>(4).is_none() {
            // The user is gone.
            tx.execute(&revoke, &[&sid.0]).await.map_err(db)?;
            RefreshOutcome::Invalid
        } else {
            let user = user_of_offset(&row)?;
            let refresh_expires_at = now.plus(request.refresh_ttl).min(session_expires);
            let used = tx
                .prepare_cached("UPDATE refresh_tokens SET used_at = $2 WHERE hash = $1")
                .await
                .map_err(db)?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO refresh_tokens (hash, session_id, expires_at) VALUES ($1, $2, $3)",
                )
                .await
                .map_err(db)?;
            let (used, inserted) = futures_util::future::join(
                tx.execute(&used, &[&presented, &now.as_micros()]),
                tx.execute(
                    &insert,
                    &[
                        &&request.replacement[..],
                        &sid.0,
                        &refresh_expires_at.as_micros(),
                    ],
                ),
            )
            .await;
            used.map_err(db)?;
            inserted.map_err(db)?;
            RefreshOutcome::Rotated {
                user,
                session: sid,
                refresh_expires_at,
            }
        };
        tx.commit().await.map_err(db)?;
        Ok(outcome)
    }

    pub(super) async fn revoke_session_impl(&self, id: SessionId) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let delete = client
            .prepare_cached("DELETE FROM sessions WHERE id = $1")
            .await
            .map_err(db)?;
        Ok(client.execute(&delete, &[&id.0]).await.map_err(db)? > 0)
    }

    /// Ended sessions (their tokens go with them), then expired refresh
    /// tokens of live sessions, then expired API tokens; counted like the
    /// sled store counts them.
    pub(super) async fn prune_expired_impl(&self, now: Timestamp) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let now = now.as_micros();
        let mut removed = 0;
        for sql in [
            "DELETE FROM sessions WHERE expires_at <= $1",
            "DELETE FROM refresh_tokens WHERE expires_at <= $1",
            "DELETE FROM api_tokens WHERE expires_at <= $1",
        ] {
            let statement = client.prepare_cached(sql).await.map_err(db)?;
            removed += client.execute(&statement, &[&now]).await.map_err(db)?;
        }
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }
}

/// The user of a refresh row: [`USER_COLUMNS`] from column 4 on.
fn user_of_offset(row: &tokio_postgres::Row) -> Result<crate::domain::User, StoreError> {
    Ok(crate::domain::User {
        id: UserId(row.get(4)),
        email: row.get(5),
        created_at: time(row.get(6), "users.created_at")?,
    })
}
