//! Accounts: `users` and `emails`.

use super::records::{UserRecord, encode};
use super::{Inner, abort, backend, damaged, finish, get, keys};
use crate::domain::{Credentials, Email, ExternalIdentity, Timestamp, User, UserId};
use crate::store::StoreError;
use sled::Transactional;

impl Inner {
    /// Creates a local account; the email is checked inside the transaction,
    /// so of two concurrent registrations of one email exactly one succeeds.
    pub(super) fn create_user(
        &self,
        email: &Email,
        password_hash: &str,
    ) -> Result<User, StoreError> {
        let id = UserId::generate();
        let record = UserRecord {
            email: Some(email.as_str().to_owned()),
            password_hash: Some(password_hash.to_owned()),
            created_at: Timestamp::now(),
            external: None,
        };
        let value = encode(&record)?;
        let email_key = email.as_str().as_bytes();
        finish(
            (&self.trees.users, &self.trees.emails).transaction(|(users, emails)| {
                if emails.get(email_key)?.is_some() {
                    return abort(StoreError::EmailTaken);
                }
                emails.insert(email_key, &id.as_bytes()[..])?;
                users.insert(&id.as_bytes()[..], value.clone())?;
                Ok(())
            }),
        )?;
        Ok(record.user(id))
    }

    /// A user's record.
    pub(super) fn user_record(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        get(&self.trees.users, "users", id.as_bytes())
    }

    /// A user by id.
    pub(super) fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.user_record(id)?.map(|record| record.user(id)))
    }

    /// A local account by email, with its password hash.
    pub(super) fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        let Some(id) = self
            .trees
            .emails
            .get(email.as_str().as_bytes())
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let id = UserId::from_bytes(keys::id_bytes(&id).ok_or_else(|| damaged("emails"))?);
        let Some(record) = self.user_record(id)? else {
            return Ok(None);
        };
        let user = record.user(id);
        Ok(record.password_hash.map(|password_hash| Credentials {
            user,
            password_hash,
        }))
    }

    /// The external user with this identity, if they exist: one lookup.
    pub(super) fn known_external_user(
        &self,
        identity: &ExternalIdentity,
    ) -> Result<Option<User>, StoreError> {
        let key = keys::external_identity(identity);
        let Some(id) = self.trees.external_ids.get(key).map_err(backend)? else {
            return Ok(None);
        };
        let id = UserId::from_bytes(keys::id_bytes(&id).ok_or_else(|| damaged("external_ids"))?);
        self.user(id)?
            .map(Some)
            .ok_or_else(|| damaged("external_ids"))
    }

    /// Creates the external user with this identity, or finds the one a
    /// concurrent request created first (the identity is checked inside
    /// the transaction).
    pub(super) fn create_external_user(
        &self,
        identity: &ExternalIdentity,
        email: Option<&str>,
    ) -> Result<User, StoreError> {
        let key = keys::external_identity(identity);
        let id = UserId::generate();
        let record = UserRecord {
            email: email.map(str::to_owned),
            password_hash: None,
            created_at: Timestamp::now(),
            external: Some(identity.clone()),
        };
        let value = encode(&record)?;
        let existing = finish((&self.trees.users, &self.trees.external_ids).transaction(
            |(users, external_ids)| {
                if let Some(existing) = external_ids.get(&key)? {
                    return Ok(Some(existing));
                }
                external_ids.insert(&key[..], &id.as_bytes()[..])?;
                users.insert(&id.as_bytes()[..], value.clone())?;
                Ok(None)
            },
        ))?;
        match existing {
            None => Ok(record.user(id)),
            Some(_) => self
                .known_external_user(identity)?
                .ok_or_else(|| damaged("external_ids")),
        }
    }
}
