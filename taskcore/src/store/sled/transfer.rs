//! Export and import (see [`crate::store::transfer`]).
//!
//! An import checks every record against the store and the rest of the file
//! before it writes anything, so a conflict leaves the store untouched. The
//! writes themselves are the same ordered inserts as a create (indexes
//! before what they index), so a crash half way leaves a store that the
//! same import, run again, completes.

use super::records::{ApiTokenRecord, UserRecord, decode, encode};
use super::{Inner, backend, damaged, get, keys};
use crate::domain::{Task, UserId};
use crate::store::{
    ApiTokenExport, ExportRecord, ImportReport, RecordCounts, StoreError, TaskExport, UserExport,
};
use std::collections::{HashMap, HashSet};
use tokio::sync::mpsc::Sender;

impl Inner {
    /// Sends every user, task and API token to `out` (blocking: run it off
    /// the runtime).
    pub(super) fn export(&self, out: &Sender<ExportRecord>) -> Result<RecordCounts, StoreError> {
        let mut counts = RecordCounts::default();
        let mut send = |record: ExportRecord| {
            counts.add(&record);
            out.blocking_send(record)
                .map_err(|_| StoreError::Backend("the export's reader stopped".into()))
        };
        for item in self.trees.users.iter() {
            let (key, value) = item.map_err(backend)?;
            let id = UserId::from_bytes(keys::id_bytes(&key).ok_or_else(|| damaged("users"))?);
            let record: UserRecord = decode("users", &value)?;
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
                .ok_or_else(|| damaged("tasks"))?;
            let task: Task = decode("tasks", &value)?;
            send(ExportRecord::Task(TaskExport {
                owner: UserId::from_bytes(owner),
                task,
            }))?;
        }
        for item in self.trees.api_tokens.iter() {
            let (key, value) = item.map_err(backend)?;
            let hash = keys::hash_bytes(&key).ok_or_else(|| damaged("api_tokens"))?;
            let record: ApiTokenRecord = decode("api_tokens", &value)?;
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
        Ok(counts)
    }

    /// Checks every record, then writes the new ones (blocking: run it off
    /// the runtime). The caller waits for durability.
    pub(super) fn import(&self, records: &[ExportRecord]) -> Result<ImportReport, StoreError> {
        let plan = self.plan_import(records)?;
        let t = &self.trees;
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
                ExportRecord::Task(TaskExport { owner, task }) => {
                    t.task_numbers
                        .insert(
                            keys::task_number(*owner, task.number),
                            &task.id.as_bytes()[..],
                        )
                        .map_err(backend)?;
                    t.tasks
                        .insert(keys::task(*owner, task.id), encode(task)?)
                        .map_err(backend)?;
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
        Ok(plan.report)
    }

    /// Which records are new, which are already there, and every conflict.
    fn plan_import(&self, records: &[ExportRecord]) -> Result<ImportPlan, StoreError> {
        let t = &self.trees;
        let mut plan = ImportPlan::default();
        let mut conflicts = Vec::new();
        let mut users_in_file = HashSet::new();
        let mut emails_in_file = HashSet::new();
        let mut identities_in_file = HashSet::new();
        let mut numbers_in_file = HashSet::new();
        let mut hashes_in_file = HashSet::new();
        for record in records {
            let new = match record {
                ExportRecord::User(user) => {
                    if !users_in_file.insert(user.id) {
                        conflicts.push(format!("user {}: appears twice in the file", user.id));
                    }
                    let owner_next = plan.next_numbers.entry(user.id).or_insert(1);
                    *owner_next = (*owner_next).max(user.next_task_number);
                    match get::<UserRecord>(&t.users, "users", user.id.as_bytes())? {
                        Some(stored) => {
                            let same = stored.email == user.email
                                && stored.password_hash == user.password_hash
                                && stored.external == user.external
                                && stored.created_at == user.created_at;
                            if !same {
                                conflicts.push(format!(
                                    "user {}: already in the store with other content",
                                    user.id
                                ));
                            }
                            false
                        }
                        None => {
                            if let Some(identity) = &user.external {
                                let key = keys::external_identity(identity);
                                if t.external_ids.get(&key).map_err(backend)?.is_some()
                                    || !identities_in_file.insert(key)
                                {
                                    conflicts.push(format!(
                                        "user {}: the identity {} at {} belongs to another user",
                                        user.id, identity.subject, identity.issuer
                                    ));
                                }
                            } else if let Some(email) = &user.email
                                && (t.emails.get(email.as_bytes()).map_err(backend)?.is_some()
                                    || !emails_in_file.insert(email.clone()))
                            {
                                conflicts.push(format!(
                                    "user {}: the email {email} belongs to another user",
                                    user.id
                                ));
                            }
                            true
                        }
                    }
                }
                ExportRecord::Task(TaskExport { owner, task }) => {
                    self.check_owner(*owner, &users_in_file, "task", &mut conflicts)?;
                    let key = keys::task(*owner, task.id);
                    match get::<Task>(&t.tasks, "tasks", &key)? {
                        Some(stored) => {
                            if stored != *task {
                                conflicts.push(format!(
                                    "task {}: already in the store with other content",
                                    task.id
                                ));
                            }
                            false
                        }
                        None => {
                            let number_key = keys::task_number(*owner, task.number);
                            if t.task_numbers.get(number_key).map_err(backend)?.is_some()
                                || !numbers_in_file.insert(number_key)
                            {
                                conflicts.push(format!(
                                    "task {}: its owner already has a task number {}",
                                    task.id, task.number
                                ));
                            }
                            let owner_next = plan.next_numbers.entry(*owner).or_insert(1);
                            *owner_next = (*owner_next).max(task.number + 1);
                            true
                        }
                    }
                }
                ExportRecord::ApiToken(token) => {
                    self.check_owner(token.user_id, &users_in_file, "API token", &mut conflicts)?;
                    if !hashes_in_file.insert(token.hash) {
                        conflicts
                            .push(format!("API token {}: appears twice in the file", token.id));
                    }
                    match get::<ApiTokenRecord>(&t.api_tokens, "api_tokens", &token.hash)? {
                        Some(stored) => {
                            // `last_used_at` moves on its own: not a conflict.
                            let same = stored.id == token.id
                                && stored.user_id == token.user_id
                                && stored.name == token.name
                                && stored.created_at == token.created_at
                                && stored.expires_at == token.expires_at;
                            if !same {
                                conflicts.push(format!(
                                    "API token {}: its hash is already in the store for another token",
                                    token.id
                                ));
                            }
                            false
                        }
                        None => true,
                    }
                }
            };
            if new {
                plan.report.added.add(record);
            } else {
                plan.report.unchanged.add(record);
            }
            plan.new.push(new);
        }
        if conflicts.is_empty() {
            Ok(plan)
        } else {
            Err(StoreError::ImportConflict(conflicts))
        }
    }

    /// A task or token needs its owner in the store or earlier in the file.
    fn check_owner(
        &self,
        owner: UserId,
        users_in_file: &HashSet<UserId>,
        what: &str,
        conflicts: &mut Vec<String>,
    ) -> Result<(), StoreError> {
        if !users_in_file.contains(&owner)
            && self
                .trees
                .users
                .get(owner.as_bytes())
                .map_err(backend)?
                .is_none()
        {
            conflicts.push(format!(
                "{what} of user {owner}: that user is neither in the store nor earlier in the file"
            ));
        }
        Ok(())
    }
}

/// The outcome of checking an import.
#[derive(Default)]
struct ImportPlan {
    /// For each record, whether it is to be written.
    new: Vec<bool>,
    /// What the import will report.
    report: ImportReport,
    /// Each owner's next task number according to the file.
    next_numbers: HashMap<UserId, u64>,
}
