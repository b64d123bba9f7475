//! Login sessions and their refresh tokens: `sessions` and `refresh_tokens`
//! (which go with their session, `ON DELETE CASCADE`).

use super::feed::channel;
use super::users::USER_COLUMNS;
use super::{PgStore, db, db_or_no_user, time};
use crate::domain::{SessionId, Timestamp, UserId};
use crate::store::{
    NewSession, RefreshOutcome, RefreshRequest, SessionInfo, StoreError, TokenHash,
};
use deadpool_postgres::GenericClient;

/// Serializes one user's logins ("tasksess" namespace of advisory locks).
const SESSION_LOCK: i32 = 0x7365_7373;

/// Ends the session `$1` and returns its user, whose live streams are
/// woken on every replica when this commits (they end with the session).
const REVOKE_SESSION: &str = concat!(
    "WITH gone AS (DELETE FROM sessions WHERE id = $1 RETURNING user_id)
     SELECT user_id, pg_notify('",
    channel!(),
    "', user_id::text) FROM gone"
);

/// Ends a session by [`REVOKE_SESSION`]; returns its user, if it was there.
async fn revoke(
    client: &impl GenericClient,
    session: SessionId,
) -> Result<Option<UserId>, StoreError> {
    let revoke = client.prepare_cached(REVOKE_SESSION).await.map_err(db)?;
    let row = client.query_opt(&revoke, &[&session.0]).await.map_err(db)?;
    Ok(row.map(|row| UserId(row.get(0))))
}

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
        // Keeps the newest `max - 1` live sessions (login time, then id);
        // the streams of a session that ends are woken on every replica.
        let trim = client
            .prepare_cached(concat!(
                "WITH gone AS (DELETE FROM sessions WHERE id IN (
                    SELECT id FROM sessions WHERE user_id = $1 AND expires_at <= $2
                    UNION ALL
                    SELECT id FROM (
                        SELECT id, row_number() OVER (ORDER BY created_at DESC, id DESC) AS rank
                        FROM sessions WHERE user_id = $1 AND expires_at > $2
                    ) live WHERE rank >= $3) RETURNING 1)
                 SELECT pg_notify('",
                channel!(),
                "', $1::text) FROM (SELECT FROM gone LIMIT 1) one"
            ))
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
                client.query(&trim, &[&new.user_id.0, &now, &max]),
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
        let trimmed = trimmed.map_err(db)?;
        // The foreign key refuses a session of a user deleted meanwhile.
        session.map_err(db_or_no_user)?;
        refresh.map_err(db)?;
        commit.map_err(db)?;
        if !trimmed.is_empty() {
            self.inner.signals.notify(new.user_id);
        }
        Ok(())
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
        // Whose session this revokes, to wake their streams after the commit.
        let mut revoked = None;
        let outcome = if session_expires <= now {
            revoked = revoke(&tx, sid).await?;
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
                revoked = revoke(&tx, sid).await?;
                RefreshOutcome::ReusedSessionRevoked
            }
        } else if row.get::<_, Option<uuid::Uuid>>(4).is_none() {
            // The user is gone.
            revoked = revoke(&tx, sid).await?;
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
        if let Some(user) = revoked {
            self.inner.signals.notify(user);
        }
        Ok(outcome)
    }

    pub(super) async fn revoke_session_impl(&self, id: SessionId) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let Some(user) = revoke(&client, id).await? else {
            return Ok(false);
        };
        self.inner.signals.notify(user);
        Ok(true)
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
