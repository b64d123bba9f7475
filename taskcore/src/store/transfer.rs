//! Moving a store's contents out and in: the records behind `taskserver
//! export`, `import` and `migrate-store`.
//!
//! An export is a sequence of [`ExportRecord`]s, one JSON object per line:
//! every user (with their password hash and task counter), then every task,
//! then every API token (by hash). Sessions, refresh tokens and secrets never
//! leave a store: after a move everyone logs in again.

use crate::domain::{ApiTokenId, ExternalIdentity, Task, TaskId, Timestamp, UserId};
use crate::store::{StoreError, TokenHash};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// A user as exported: enough to log in again and to keep numbering tasks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserExport {
    /// The user's id, kept across stores.
    pub id: UserId,
    /// Normalized email of a local account; an external user's email, or none.
    pub email: Option<String>,
    /// argon2id PHC string; `None` for a user who cannot log in locally.
    pub password_hash: Option<String>,
    /// The provider identity of an external user.
    pub external: Option<ExternalIdentity>,
    /// Account creation.
    pub created_at: Timestamp,
    /// The number the user's next task gets: past every number ever issued.
    pub next_task_number: u64,
}

/// A task as exported, with its owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskExport {
    /// Whose task.
    pub owner: UserId,
    /// The task, exactly as stored (id, number, version and times included).
    pub task: Task,
    /// The anchor of its rule (the date its dates step from), for a task
    /// that recurs; absent in exports made before recurrence existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<Timestamp>,
}

/// An API token as exported: its hash, never its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenExport {
    /// Token id.
    pub id: ApiTokenId,
    /// Whose token.
    pub user_id: UserId,
    /// The user's name for it.
    pub name: String,
    /// SHA-256 of the value, as 64 hex digits.
    #[serde(serialize_with = "hex_out", deserialize_with = "hex_in")]
    pub hash: TokenHash,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Last use, as recorded.
    pub last_used_at: Option<Timestamp>,
}

/// One line of an export file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExportRecord {
    /// A user.
    User(UserExport),
    /// A task.
    Task(TaskExport),
    /// An API token.
    ApiToken(ApiTokenExport),
}

/// How many records of each kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordCounts {
    /// Users.
    pub users: u64,
    /// Tasks.
    pub tasks: u64,
    /// API tokens.
    pub api_tokens: u64,
}

impl RecordCounts {
    /// Counts one more record of `record`'s kind.
    pub fn add(&mut self, record: &ExportRecord) {
        match record {
            ExportRecord::User(_) => self.users += 1,
            ExportRecord::Task(_) => self.tasks += 1,
            ExportRecord::ApiToken(_) => self.api_tokens += 1,
        }
    }
}

impl fmt::Display for RecordCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} users, {} tasks, {} API tokens",
            self.users, self.tasks, self.api_tokens
        )
    }
}

/// What an export sent, and what it could not read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Records sent.
    pub sent: RecordCounts,
    /// Records left out because they could not be read, each named by
    /// where it is (tree or table, owner and id) and why. One damaged
    /// record never stops the rest of an export.
    pub unreadable: Vec<String>,
}

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Records written.
    pub added: RecordCounts,
    /// Records that were already there, exactly as imported.
    pub unchanged: RecordCounts,
}

/// A stored user, as much of it as an import compares.
#[derive(Clone)]
pub(crate) struct StoredUser {
    /// Normalized email, if any.
    pub email: Option<String>,
    /// argon2id PHC string, if any.
    pub password_hash: Option<String>,
    /// The provider identity of an external user.
    pub external: Option<ExternalIdentity>,
    /// Account creation.
    pub created_at: Timestamp,
}

impl StoredUser {
    /// Whether `user` is this user exactly (the task counter aside: the
    /// larger one wins, so it never conflicts).
    fn matches(&self, user: &UserExport) -> bool {
        self.email == user.email
            && self.password_hash == user.password_hash
            && self.external == user.external
            && self.created_at == user.created_at
    }
}

/// A stored API token, as much of it as an import compares.
#[derive(Clone)]
pub(crate) struct StoredApiToken {
    /// Token id.
    pub id: ApiTokenId,
    /// Whose token.
    pub user_id: UserId,
    /// The user's name for it.
    pub name: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
}

impl StoredApiToken {
    /// Whether `token` is this token. `last_used_at` moves on its own, so
    /// it is not compared.
    fn matches(&self, token: &ApiTokenExport) -> bool {
        self.id == token.id
            && self.user_id == token.user_id
            && self.name == token.name
            && self.created_at == token.created_at
            && self.expires_at == token.expires_at
    }
}

/// What a store already holds, as the import rules ask about it. Each
/// backend answers in its own way (sled reads its trees, PostgreSQL
/// prefetches in bulk), so the rules themselves live once, in
/// [`plan_import`].
pub(crate) trait ExistingRecords {
    /// The stored user with this id.
    fn user(&self, id: UserId) -> Result<Option<StoredUser>, StoreError>;
    /// Whether a user with this id is stored (without reading it).
    fn user_exists(&self, id: UserId) -> Result<bool, StoreError>;
    /// Whether a local account has this (normalized) email.
    fn email_taken(&self, email: &str) -> Result<bool, StoreError>;
    /// Whether an external user has this identity.
    fn identity_taken(&self, identity: &ExternalIdentity) -> Result<bool, StoreError>;
    /// The stored task `id` of `owner`.
    fn task(&self, owner: UserId, id: TaskId) -> Result<Option<Task>, StoreError>;
    /// Whether `owner` has a stored task numbered `number`.
    fn number_taken(&self, owner: UserId, number: u64) -> Result<bool, StoreError>;
    /// The stored API token with this hash.
    fn api_token(&self, hash: &TokenHash) -> Result<Option<StoredApiToken>, StoreError>;
}

/// The outcome of checking an import: what to write and what to report.
#[derive(Debug, Default)]
pub(crate) struct ImportPlan {
    /// For each record, whether it is to be written.
    pub new: Vec<bool>,
    /// What the import will report.
    pub report: ImportReport,
    /// Each owner's next task number according to the file.
    pub next_numbers: HashMap<UserId, u64>,
    /// How many tasks each owner gains (for stores that keep a live count).
    pub added_tasks: HashMap<UserId, u64>,
}

/// Checks every record against `existing` and against the records before
/// it, and plans the import: which records are new, which are already
/// there exactly, and every conflict, all reported at once in
/// [`StoreError::ImportConflict`] (the rules are those of
/// [`TaskStore::import`](crate::store::TaskStore::import)).
pub(crate) fn plan_import(
    records: &[ExportRecord],
    existing: &impl ExistingRecords,
) -> Result<ImportPlan, StoreError> {
    let mut plan = ImportPlan {
        new: Vec::with_capacity(records.len()),
        ..ImportPlan::default()
    };
    let mut conflicts = Vec::new();
    let mut users_in_file = HashSet::new();
    let mut emails_in_file = HashSet::new();
    let mut identities_in_file = HashSet::new();
    let mut numbers_in_file = HashSet::new();
    let mut hashes_in_file = HashSet::new();
    // A task or token needs its owner in the store or earlier in the file.
    let check_owner = |owner: UserId,
                       users_in_file: &HashSet<UserId>,
                       what: &str,
                       conflicts: &mut Vec<String>|
     -> Result<(), StoreError> {
        if !users_in_file.contains(&owner) && !existing.user_exists(owner)? {
            conflicts.push(format!(
                "{what} of user {owner}: that user is neither in the store nor earlier in the file"
            ));
        }
        Ok(())
    };
    for record in records {
        let new = match record {
            ExportRecord::User(user) => {
                if !users_in_file.insert(user.id) {
                    conflicts.push(format!("user {}: appears twice in the file", user.id));
                }
                let next = plan.next_numbers.entry(user.id).or_insert(1);
                *next = (*next).max(user.next_task_number);
                match existing.user(user.id)? {
                    Some(stored) => {
                        if !stored.matches(user) {
                            conflicts.push(format!(
                                "user {}: already in the store with other content",
                                user.id
                            ));
                        }
                        false
                    }
                    None => {
                        // External users are keyed by identity, local ones by email.
                        if let Some(identity) = &user.external {
                            if existing.identity_taken(identity)?
                                || !identities_in_file.insert(identity)
                            {
                                conflicts.push(format!(
                                    "user {}: the identity {} at {} belongs to another user",
                                    user.id, identity.subject, identity.issuer
                                ));
                            }
                        } else if let Some(email) = &user.email
                            && (existing.email_taken(email)?
                                || !emails_in_file.insert(email.as_str()))
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
            ExportRecord::Task(TaskExport { owner, task, .. }) => {
                check_owner(*owner, &users_in_file, "task", &mut conflicts)?;
                match existing.task(*owner, task.id)? {
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
                        if existing.number_taken(*owner, task.number)?
                            || !numbers_in_file.insert((*owner, task.number))
                        {
                            conflicts.push(format!(
                                "task {}: its owner already has a task number {}",
                                task.id, task.number
                            ));
                        }
                        let next = plan.next_numbers.entry(*owner).or_insert(1);
                        *next = (*next).max(task.number + 1);
                        *plan.added_tasks.entry(*owner).or_default() += 1;
                        true
                    }
                }
            }
            ExportRecord::ApiToken(token) => {
                check_owner(token.user_id, &users_in_file, "API token", &mut conflicts)?;
                if !hashes_in_file.insert(token.hash) {
                    conflicts.push(format!("API token {}: appears twice in the file", token.id));
                }
                match existing.api_token(&token.hash)? {
                    Some(stored) => {
                        if !stored.matches(token) {
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

fn hex_out<S: Serializer>(hash: &TokenHash, s: S) -> Result<S::Ok, S::Error> {
    use std::fmt::Write;
    let mut out = String::with_capacity(64);
    for byte in hash {
        let _ = write!(out, "{byte:02x}");
    }
    s.serialize_str(&out)
}

fn hex_in<'de, D: Deserializer<'de>>(d: D) -> Result<TokenHash, D::Error> {
    let text = String::deserialize(d)?;
    let invalid = || serde::de::Error::custom("expected 64 hex digits");
    if text.len() != 64 {
        return Err(invalid());
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        let pair = text.get(2 * i..2 * i + 2).ok_or_else(invalid)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
    }
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_token_hashes_travel_as_hex() {
        let record = ExportRecord::ApiToken(ApiTokenExport {
            id: ApiTokenId::generate(),
            user_id: UserId::generate(),
            name: "ci".into(),
            hash: [0xab; 32],
            created_at: Timestamp::now(),
            expires_at: Timestamp::now(),
            last_used_at: None,
        });
        let line = serde_json::to_string(&record).expect("encodes");
        assert!(line.contains(&"ab".repeat(32)), "{line}");
        assert!(line.starts_with(r#"{"type":"api_token""#), "{line}");
        let back: ExportRecord = serde_json::from_str(&line).expect("decodes");
        assert_eq!(back, record);
        let bad = line.replace(&"ab".repeat(32), &"zz".repeat(32));
        assert!(serde_json::from_str::<ExportRecord>(&bad).is_err());
    }
}
