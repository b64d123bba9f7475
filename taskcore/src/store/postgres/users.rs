//! Accounts: the `users` table.

use super::feed::channel;
use super::{PgStore, SET_USER, db, scoped, time};
use crate::domain::{Credentials, Email, ExternalIdentity, Timestamp, User, UserId};
use crate::store::StoreError;
use tokio_postgres::Row;

/// The columns [`user_of`] reads, in order.
pub(super) const USER_COLUMNS: &str = "id, email, created_at";

/// A user from a row starting with [`USER_COLUMNS`].
pub(super) fn user_of(row: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(row.get(0)),
        email: row.get(1),
        created_at: time(row.get(2), "users.created_at")?,
    })
}

impl PgStore {
    pub(super) async fn create_user_impl(
        &self,
        email: &Email,
        password_hash: &str,
    ) -> Result<User, StoreError> {
        let client = self.client().await?;
        // The partial unique index decides: of two concurrent registrations one inserts.
        let insert = client
            .prepare_cached(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (email) WHERE issuer IS NULL DO NOTHING",
            )
            .await
            .map_err(db)?;
        let user = User {
            id: UserId::generate(),
            email: Some(email.as_str().to_owned()),
            created_at: Timestamp::now(),
        };
        let inserted = client
            .execute(
                &insert,
                &[
                    &user.id.0,
                    &email.as_str(),
                    &password_hash,
                    &user.created_at.as_micros(),
                ],
            )
            .await
            .map_err(db)?;
        if inserted == 0 {
            return Err(StoreError::EmailTaken);
        }
        Ok(user)
    }

    pub(super) async fn credentials_impl(
        &self,
        email: &Email,
    ) -> Result<Option<Credentials>, StoreError> {
        let client = self.client().await?;
        let select = client
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1 AND issuer IS NULL"
            ))
            .await
            .map_err(db)?;
        let Some(row) = client
            .query_opt(&select, &[&email.as_str()])
            .await
            .map_err(db)?
        else {
            return Ok(None);
        };
        let user = user_of(&row)?;
        let hash: Option<String> = row.get(3);
        Ok(hash.map(|password_hash| Credentials {
            user,
            password_hash,
        }))
    }

    pub(super) async fn user_impl(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let client = self.client().await?;
        let select = client
            .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .await
            .map_err(db)?;
        client
            .query_opt(&select, &[&id.0])
            .await
            .map_err(db)?
            .map(|row| user_of(&row))
            .transpose()
    }

    /// One lookup when the user exists; else an insert that the unique
    /// index on (issuer, subject) makes safe under concurrency.
    pub(super) async fn external_user_impl(
        &self,
        identity: &ExternalIdentity,
        email: Option<&str>,
    ) -> Result<User, StoreError> {
        let client = self.client().await?;
        let select = client
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE issuer = $1 AND subject = $2"
            ))
            .await
            .map_err(db)?;
        let key: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
            [&identity.issuer, &identity.subject];
        if let Some(row) = client.query_opt(&select, &key).await.map_err(db)? {
            return user_of(&row);
        }
        let insert = client
            .prepare_cached(&format!(
                "INSERT INTO users (id, email, issuer, subject, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (issuer, subject) DO NOTHING RETURNING {USER_COLUMNS}"
            ))
            .await
            .map_err(db)?;
        let id = UserId::generate();
        let now = Timestamp::now().as_micros();
        let inserted = client
            .query_opt(
                &insert,
                &[&id.0, &email, &identity.issuer, &identity.subject, &now],
            )
            .await
            .map_err(db)?;
        match inserted {
            Some(row) => user_of(&row),
            // A concurrent first request created them: everyone gets that user.
            None => {
                let row = client.query_one(&select, &key).await.map_err(db)?;
                user_of(&row)
            }
        }
    }
    /// One statement, so one transaction: the foreign keys (migration 0002)
    /// take the user's sessions with their refresh tokens, API tokens and
    /// tasks along, and the unique indexes free the email or identity.
    /// Scoped to the user like every statement that reaches `tasks`. The
    /// user's live streams are woken (on every replica) to find their
    /// credentials gone.
    pub(super) async fn delete_user_impl(&self, id: UserId) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let set_user = client.prepare_cached(SET_USER).await.map_err(db)?;
        let delete = client
            .prepare_cached(concat!(
                "WITH gone AS (DELETE FROM users WHERE id = $1 RETURNING id)
                 SELECT pg_notify('",
                channel!(),
                "', id::text) FROM gone"
            ))
            .await
            .map_err(db)?;
        let deleted = scoped(&client, &set_user, id, client.query(&delete, &[&id.0])).await?;
        if deleted.is_empty() {
            return Ok(false);
        }
        self.inner.signals.notify(id);
        Ok(true)
    }
}
