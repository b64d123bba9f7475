//! Moving a store's contents out and in: the records behind `taskserver
//! export`, `import` and `migrate-store`.
//!
//! An export is a sequence of [`ExportRecord`]s, one JSON object per line:
//! every user (with their password hash and task counter), then every task,
//! then every API token (by hash). Sessions, refresh tokens and secrets never
//! leave a store: after a move everyone logs in again.

use crate::domain::{ApiTokenId, ExternalIdentity, Task, Timestamp, UserId};
use crate::store::TokenHash;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
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

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Records written.
    pub added: RecordCounts,
    /// Records that were already there, exactly as imported.
    pub unchanged: RecordCounts,
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
