//! Accounts: `users`, `emails`, `external_ids`, and deleting an account
//! with everything of it (`deleting`).
//!
//! # Deleting an account
//!
//! sled recovers a prefix of its log after a crash, so a crash leaves the
//! state after some prefix of these steps:
//!
//! 1. One transaction removes everything that names the account: the user
//!    record, its email (or external identity) index entry, every session
//!    and refresh token, every API token; and records the id in `deleting`.
//!    From here nobody can sign in as the user, every token of theirs is
//!    refused, and the email can register again (as a new id).
//! 2. The tasks, their number index and the counter go, in batches: a
//!    user may have many tasks, and a transaction holds all its writes in
//!    memory.
//! 3. The `deleting` entry goes.
//!
//! A crash between 1 and 3 leaves tasks under an id nobody can reach any
//! more, and `deleting` says whose: opening the store finishes step 2. The
//! other order (tasks first) would leave a live account with some of its
//! tasks gone. Sessions, API tokens and tasks created for the user while
//! this runs are refused, not leaked: step 1 holds the session and API
//! token locks (their creation checks the user under them), and all three
//! steps hold the owner's task counters (see `tasks.rs`).

use super::records::{UserRecord, encode};
use super::sessions::remove_in;
use super::{Inner, Trees, abort, backend, damaged, finish, get, keys, lock};
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

impl Inner {
    /// Deletes the account and everything of it; see the module docs.
    /// Returns whether it existed.
    pub(super) fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        self.with_owner_locked(id, || {
            let existed = self.remove_account(id)?;
            if existed {
                self.trees.remove_tasks_of(id)?;
                self.trees.deleting.remove(id.as_bytes()).map_err(backend)?;
                // Their live streams end.
                self.signals.notify(id);
            }
            Ok(existed)
        })
    }

    /// Step 1: the account's records, sessions and API tokens, in one transaction.
    fn remove_account(&self, id: UserId) -> Result<bool, StoreError> {
        // Held across the scans and the transaction: no session or API
        // token of the user starts in between.
        let _sessions = lock(&self.session_lock);
        let _tokens = lock(&self.api_token_lock);
        let Some(record) = self.user_record(id)? else {
            return Ok(false);
        };
        let session_removals = self.user_session_removals(id)?;
        let api_tokens = self.user_api_token_entries(id)?;
        // Only a local account owns its email's index entry; an external
        // user's email may be a local account's key.
        let email = record
            .email
            .as_deref()
            .filter(|_| record.external.is_none());
        let identity = record.external.as_ref().map(keys::external_identity);
        let user_key = &id.as_bytes()[..];
        let t = &self.trees;
        finish(
            (
                &t.users,
                &t.emails,
                &t.external_ids,
                &t.sessions,
                &t.user_sessions,
                &t.refresh,
                &t.session_refresh,
                &t.api_tokens,
                &t.user_api_tokens,
                &t.deleting,
            )
                .transaction(
                    |(
                        users,
                        emails,
                        external_ids,
                        sessions,
                        user_sessions,
                        refresh,
                        session_refresh,
                        tokens,
                        token_index,
                        deleting,
                    )| {
                        users.remove(user_key)?;
                        if let Some(email) = email
                            && emails.get(email.as_bytes())?.as_deref() == Some(user_key)
                        {
                            emails.remove(email.as_bytes())?;
                        }
                        if let Some(identity) = &identity
                            && external_ids.get(identity.as_slice())?.as_deref() == Some(user_key)
                        {
                            external_ids.remove(identity.as_slice())?;
                        }
                        for removal in &session_removals {
                            remove_in(
                                (sessions, user_sessions, refresh, session_refresh),
                                removal,
                            )?;
                        }
                        for (index_key, hash) in &api_tokens {
                            tokens.remove(&hash[..])?;
                            token_index.remove(index_key)?;
                        }
                        deleting.insert(user_key, &[][..])?;
                        Ok(())
                    },
                ),
        )?;
        Ok(true)
    }
}

impl Trees {
    /// Finishes every deletion a crash interrupted (step 2 and 3 above).
    /// Runs at open, before the store serves anyone.
    pub(super) fn finish_deletions(&self) -> Result<(), StoreError> {
        for key in self.deleting.iter().keys() {
            let key = key.map_err(backend)?;
            let id = UserId::from_bytes(keys::id_bytes(&key).ok_or_else(|| damaged("deleting"))?);
            self.remove_tasks_of(id)?;
            self.deleting.remove(&key).map_err(backend)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::SledStore;
    use super::super::test_support::{open_temp, user};
    use super::*;
    use crate::domain::{ApiTokenId, Precondition, SessionId, TaskDraft, TaskRef};
    use crate::store::{NewApiToken, NewSession, TaskStore};
    use std::time::Duration;

    async fn tasks(store: &SledStore, owner: UserId, n: usize) {
        for _ in 0..n {
            let draft = TaskDraft::new("t").expect("valid");
            store.create_task(owner, draft, 100).await.expect("creates");
        }
    }

    // The behaviour is in the conformance suite; this is the layout.
    #[tokio::test]
    async fn a_deleted_user_leaves_no_entry_in_any_tree() {
        let (_dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        tasks(&store, ada.id, 3).await;
        store
            .delete_task(ada.id, TaskRef::Number(3), &Precondition::None)
            .await
            .expect("deletes");
        // A recurring task in a project, completed: an anchor, a project
        // index entry and a successor beside the tombstone.
        let mut draft = TaskDraft::new("water").expect("valid");
        draft.project = Some(crate::domain::Project::parse("Home").expect("valid"));
        draft.due = Timestamp::parse("2030-01-01T09:00:00Z").ok();
        draft.recur = Some(crate::domain::Recur::parse("FREQ=DAILY").expect("valid"));
        let water = store
            .create_task(ada.id, draft, 100)
            .await
            .expect("creates");
        let complete = crate::domain::TaskPatch {
            completed: Some(true),
            ..Default::default()
        };
        store
            .update_task(ada.id, TaskRef::Id(water.id), complete, &Precondition::None)
            .await
            .expect("completes");
        assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 4);
        for tree in [
            &store.inner.trees.task_anchors,
            &store.inner.trees.task_tombstones,
        ] {
            assert!(!tree.is_empty());
        }
        let now = Timestamp::now();
        let day = Duration::from_secs(86_400);
        store
            .create_session(
                NewSession {
                    id: SessionId::generate(),
                    user_id: ada.id,
                    created_at: now,
                    expires_at: now.plus(day),
                    refresh_hash: [1; 32],
                    refresh_expires_at: now.plus(day),
                },
                100,
            )
            .await
            .expect("logs in");
        let token = NewApiToken {
            id: ApiTokenId::generate(),
            user_id: ada.id,
            name: "ci".into(),
            hash: [2; 32],
            created_at: now,
            expires_at: now.plus(day),
        };
        store.create_api_token(token, 100).await.expect("creates");
        let external = store
            .external_user(
                &ExternalIdentity {
                    issuer: "https://idp.example".into(),
                    subject: "s".into(),
                },
                Some("ada@example.com"),
            )
            .await
            .expect("creates");
        tasks(&store, external.id, 1).await;

        assert!(store.delete_user(ada.id).await.expect("deletes"));
        assert!(store.delete_user(external.id).await.expect("deletes"));
        let t = &store.inner.trees;
        for (name, tree) in [
            ("users", &t.users),
            ("emails", &t.emails),
            ("external_ids", &t.external_ids),
            ("tasks", &t.tasks),
            ("task_numbers", &t.task_numbers),
            ("task_counters", &t.task_counters),
            ("task_anchors", &t.task_anchors),
            ("task_tombstones", &t.task_tombstones),
            ("task_projects", &t.task_projects),
            ("sessions", &t.sessions),
            ("user_sessions", &t.user_sessions),
            ("refresh", &t.refresh),
            ("session_refresh", &t.session_refresh),
            ("api_tokens", &t.api_tokens),
            ("user_api_tokens", &t.user_api_tokens),
            ("deleting", &t.deleting),
        ] {
            assert_eq!(tree.len(), 0, "`{name}` keeps entries");
        }
    }

    /// A crash right after step 1 leaves the tasks and the `deleting`
    /// entry; opening the store again finishes the deletion.
    #[tokio::test]
    async fn an_interrupted_deletion_is_finished_when_the_store_opens() {
        let (dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let bob = user(&store, "bob@example.com").await;
        tasks(&store, ada.id, 3).await;
        tasks(&store, bob.id, 2).await;
        store
            .delete_task(ada.id, TaskRef::Number(3), &Precondition::None)
            .await
            .expect("deletes");
        assert!(store.inner.remove_account(ada.id).expect("step 1"));
        store.flush().await.expect("flushes");
        assert_eq!(store.inner.trees.deleting.len(), 1);
        assert_eq!(store.inner.trees.tasks.len(), 4);
        drop(store);

        let store = super::super::test_support::reopen(&dir);
        let t = &store.inner.trees;
        assert_eq!(t.deleting.len(), 0);
        let prefix = ada.id.as_bytes();
        assert_eq!(t.tasks.scan_prefix(prefix).count(), 0);
        assert_eq!(t.task_numbers.scan_prefix(prefix).count(), 0);
        assert!(!t.task_counters.contains_key(prefix).expect("reads"));
        assert_eq!(store.live_task_count(bob.id).await.expect("counts"), 2);
    }
}
