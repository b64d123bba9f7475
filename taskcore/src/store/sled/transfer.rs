//! Export and import (see [`crate::store::transfer`]).
//!
//! An import checks every record against the store and the rest of the file
//! before it writes anything, so a conflict leaves the store untouched. The
//! writes themselves are the same ordered inserts as a create (indexes and
//! anchors before what they index), so a crash half way leaves a store that
//! the same import, run again, completes. A recurring task's anchor travels
//! beside the task in its record; tombstones stay behind (a store's
//! history of deletions is its own).

use super::records::{ApiTokenRecord, UserRecord, decode, encode};
use super::{Inner, Trees, backend, damaged, get, keys};
use crate::domain::{ExternalIdentity, Task, TaskId, UserId};
use crate::store::transfer::{ExistingRecords, StoredApiToken, StoredUser, plan_import};
use crate::store::{
    ApiTokenExport, ExportRecord, ExportReport, ImportReport, RecordCounts, StoreError, TaskExport,
    TokenHash, UserExport,
};
use std::collections::HashMap;
use tokio::sync::mpsc::Sender;

impl Inner {
    /// Sends every user, task and API token to `out` (blocking: run it off
    /// the runtime).
    pub(super) fn export(&self, out: &Sender<ExportRecord>) -> Result<ExportReport, StoreError> {
        let mut sent = RecordCounts::default();
        let mut unreadable = Vec::new();
        let mut send = |record: ExportRecord| {
            sent.add(&record);
            out.blocking_send(record)
                .map_err(|_| StoreError::backend("the export's reader stopped"))
        };
        for item in self.trees.users.iter() {
            let (key, value) = item.map_err(backend)?;
            let id = UserId::from_bytes(keys::id_bytes(&key).ok_or_else(|| damaged("users"))?);
            let record: UserRecord = match decode("users", &value) {
                Ok(record) => record,
                Err(e) => {
                    unreadable.push(format!("user {id}: {e}"));
                    continue;
                }
            };
            send(ExportRecord::User(UserExport {
                id,
                email: record.email,
                password_hash: record.password_hash,
                external: record.external,
                created_at: record.created_at,
                next_task_number: self.next_number_on_disk(id)?,
            }))?;
        }
        for item in self.trees.tasks.iter() {
            let (key, value) = item.map_err(backend)?;
            let owner = key
                .get(..16)
                .and_then(keys::id_bytes)
                .map(UserId::from_bytes)
                .ok_or_else(|| damaged("tasks"))?;
            let task: Task = match decode("tasks", &value) {
                Ok(task) => task,
                Err(e) => {
                    let id = key
                        .get(16..)
                        .and_then(keys::id_bytes)
                        .map(TaskId::from_bytes);
                    let id = id.map_or_else(|| "?".to_string(), |id| id.to_string());
                    unreadable.push(format!("task {id} of user {owner}: {e}"));
                    continue;
                }
            };
            // Only a task that recurs has a use for its anchor.
            let anchor = match task.recur {
                Some(_) => match self.trees.task_anchors.get(&key).map_err(backend)? {
                    Some(value) => {
                        Some(keys::anchor_of(&value).ok_or_else(|| damaged("task_anchors"))?)
                    }
                    None => None,
                },
                None => None,
            };
            send(ExportRecord::Task(TaskExport {
                owner,
                task,
                anchor,
            }))?;
        }
        for item in self.trees.api_tokens.iter() {
            let (key, value) = item.map_err(backend)?;
            let hash = keys::hash_bytes(&key).ok_or_else(|| damaged("api_tokens"))?;
            let record: ApiTokenRecord = match decode("api_tokens", &value) {
                Ok(record) => record,
                Err(e) => {
                    unreadable.push(format!("an API token: {e}"));
                    continue;
                }
            };
            send(ExportRecord::ApiToken(ApiTokenExport {
                id: record.id,
                user_id: record.user_id,
                name: record.name,
                hash,
                created_at: record.created_at,
                expires_at: record.expires_at,
                last_used_at: record.last_used_at,
            }))?;
        }
        Ok(ExportReport { sent, unreadable })
    }

    /// Checks every record, then writes the new ones (blocking: run it off
    /// the runtime). The caller waits for durability.
    pub(super) fn import(&self, records: &[ExportRecord]) -> Result<ImportReport, StoreError> {
        let plan = plan_import(records, &self.trees)?;
        let t = &self.trees;
        // Each owner's last change number: imported tasks join the feed after it.
        let mut last_changes: HashMap<UserId, u64> = HashMap::new();
        for (record, new) in records.iter().zip(&plan.new) {
            if !new {
                continue;
            }
            match record {
                ExportRecord::User(user) => {
                    let stored = UserRecord {
                        email: user.email.clone(),
                        password_hash: user.password_hash.clone(),
                        created_at: user.created_at,
                        external: user.external.clone(),
                    };
                    let id = &user.id.as_bytes()[..];
                    if let Some(identity) = &user.external {
                        t.external_ids
                            .insert(keys::external_identity(identity), id)
                            .map_err(backend)?;
                    } else if let Some(email) = &user.email {
                        t.emails.insert(email.as_bytes(), id).map_err(backend)?;
                    }
                    t.users.insert(id, encode(&stored)?).map_err(backend)?;
                }
                ExportRecord::Task(TaskExport {
                    owner,
                    task,
                    anchor,
                }) => {
                    let key = keys::task(*owner, task.id);
                    t.task_numbers
                        .insert(
                            keys::task_number(*owner, task.number),
                            &task.id.as_bytes()[..],
                        )
                        .map_err(backend)?;
                    if let Some(project) = &task.project {
                        t.task_projects
                            .insert(
                                keys::task_project(*owner, project.as_str(), task.id),
                                &[][..],
                            )
                            .map_err(backend)?;
                    }
                    // An export from before recurrence has no anchor: a
                    // task's own due is where its rule steps from then.
                    if let Some(at) = task.recur.as_ref().and(anchor.or(task.due)) {
                        t.task_anchors
                            .insert(key, &keys::anchor_value(at)[..])
                            .map_err(backend)?;
                    }
                    let last = match last_changes.get(owner) {
                        Some(last) => *last,
                        None => t.last_change_on_disk(*owner)?,
                    };
                    let moved = self.move_in_feed(*owner, task.id, last + 1)?;
                    t.tasks.insert(key, encode(task)?).map_err(backend)?;
                    self.finish_move(moved)?;
                    last_changes.insert(*owner, last + 1);
                }
                ExportRecord::ApiToken(token) => {
                    let stored = ApiTokenRecord {
                        id: token.id,
                        user_id: token.user_id,
                        name: token.name.clone(),
                        created_at: token.created_at,
                        expires_at: token.expires_at,
                        last_used_at: token.last_used_at,
                    };
                    t.user_api_tokens
                        .insert(
                            keys::user_api_token(token.user_id, token.id),
                            &token.hash[..],
                        )
                        .map_err(backend)?;
                    t.api_tokens
                        .insert(&token.hash[..], encode(&stored)?)
                        .map_err(backend)?;
                }
            }
        }
        // Numbering continues past every number issued in either store.
        for (owner, next) in plan.next_numbers {
            if next > self.next_number_on_disk(owner)? {
                t.task_counters
                    .insert(owner.as_bytes(), &next.to_be_bytes()[..])
                    .map_err(backend)?;
            }
            self.reload_counters(owner);
        }
        for owner in last_changes.keys() {
            self.reload_counters(*owner);
        }
        Ok(plan.report)
    }
}

/// The import rules' questions, answered by reading the trees.
impl ExistingRecords for Trees {
    fn user(&self, id: UserId) -> Result<Option<StoredUser>, StoreError> {
        let stored = get::<UserRecord>(&self.users, "users", id.as_bytes())?;
        Ok(stored.map(|user| StoredUser {
            email: user.email,
            password_hash: user.password_hash,
            external: user.external,
            created_at: user.created_at,
        }))
    }

    fn user_exists(&self, id: UserId) -> Result<bool, StoreError> {
        self.users.contains_key(id.as_bytes()).map_err(backend)
    }

    fn email_taken(&self, email: &str) -> Result<bool, StoreError> {
        self.emails.contains_key(email.as_bytes()).map_err(backend)
    }

    fn identity_taken(&self, identity: &ExternalIdentity) -> Result<bool, StoreError> {
        self.external_ids
            .contains_key(keys::external_identity(identity))
            .map_err(backend)
    }

    fn task(&self, owner: UserId, id: TaskId) -> Result<Option<Task>, StoreError> {
        get(&self.tasks, "tasks", &keys::task(owner, id))
    }

    fn number_taken(&self, owner: UserId, number: u64) -> Result<bool, StoreError> {
        self.task_numbers
            .contains_key(keys::task_number(owner, number))
            .map_err(backend)
    }

    fn api_token(&self, hash: &TokenHash) -> Result<Option<StoredApiToken>, StoreError> {
        let stored = get::<ApiTokenRecord>(&self.api_tokens, "api_tokens", hash)?;
        Ok(stored.map(|token| StoredApiToken {
            id: token.id,
            user_id: token.user_id,
            name: token.name,
            created_at: token.created_at,
            expires_at: token.expires_at,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{open_temp, user};
    use crate::domain::{TaskDraft, TaskId, TaskRef};
    use crate::store::{ExportRecord, TaskStore};

    #[tokio::test]
    async fn a_damaged_record_is_named_and_the_rest_is_exported() {
        let (_dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let mut ids: Vec<TaskId> = Vec::new();
        for title in ["one", "two", "three"] {
            let draft = TaskDraft::new(title).expect("valid");
            ids.push(
                store
                    .create_task(ada.id, draft, 10)
                    .await
                    .expect("creates")
                    .id,
            );
        }
        let damaged = super::keys::task(ada.id, ids[1]);
        store
            .inner
            .trees
            .tasks
            .insert(damaged, &b"{\"title\": 7}"[..])
            .expect("writes");

        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let report = store.export(tx).await.expect("the export goes on");
        let mut sent = Vec::new();
        while let Ok(record) = rx.try_recv() {
            sent.push(record);
        }
        assert_eq!((report.sent.users, report.sent.tasks), (1, 2));
        assert_eq!(report.unreadable.len(), 1, "{:?}", report.unreadable);
        assert!(
            report.unreadable[0].contains(&ids[1].to_string())
                && report.unreadable[0].contains(&ada.id.to_string()),
            "names the task and its owner: {}",
            report.unreadable[0]
        );
        let exported: Vec<TaskId> = sent
            .iter()
            .filter_map(|r| match r {
                ExportRecord::Task(t) => Some(t.task.id),
                _ => None,
            })
            .collect();
        assert_eq!(exported, [ids[0], ids[2]]);
        assert!(store.task(ada.id, TaskRef::Id(ids[0])).await.is_ok());
    }
}
