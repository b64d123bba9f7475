//! The queue of local changes: what each one carries, in the form the
//! server is sent.
//!
//! A queued change keeps its body as the JSON the server will get, and is
//! parsed back with the same rules as the server's (`TaskDraft::from_json`,
//! `TaskPatch::from_json`), so what was valid when queued is valid when sent.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use taskcore::{TaskDraft, TaskId, TaskPatch, Timestamp, ValidationErrors};

/// One change waiting to be sent, in queue order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Queued {
    /// The task it changes.
    pub task: TaskId,
    /// When it was made here (the local `created_at` / `updated_at`).
    pub at: Timestamp,
    /// What it does.
    pub change: Pending,
}

/// What a queued change does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Pending {
    /// `PUT /api/tasks/{id}` with `If-None-Match: *`: the task's fields,
    /// and the handle it was given here.
    Create {
        draft: Map<String, Value>,
        handle: u64,
    },
    /// `PATCH /api/tasks/{id}` of the edited fields alone.
    Edit { patch: Map<String, Value> },
    /// `DELETE /api/tasks/{id}`.
    Delete,
}

impl Queued {
    pub(super) fn create(task: TaskId, draft: &TaskDraft, handle: u64, at: Timestamp) -> Self {
        Self {
            task,
            at,
            change: Pending::Create {
                draft: object(draft),
                handle,
            },
        }
    }

    pub(super) fn edit(task: TaskId, patch: &TaskPatch, at: Timestamp) -> Self {
        Self {
            task,
            at,
            change: Pending::Edit {
                patch: object(patch),
            },
        }
    }

    pub(super) fn delete(task: TaskId, at: Timestamp) -> Self {
        Self {
            task,
            at,
            change: Pending::Delete,
        }
    }

    /// What kind of change it is.
    pub(super) fn kind(&self) -> ChangeKind {
        match self.change {
            Pending::Create { .. } => ChangeKind::Create,
            Pending::Edit { .. } => ChangeKind::Edit,
            Pending::Delete => ChangeKind::Delete,
        }
    }
}

/// The body of a queued create, parsed.
pub(super) fn draft(body: &Map<String, Value>) -> Result<TaskDraft, ValidationErrors> {
    TaskDraft::from_json(body)
}

/// The body of a queued edit, parsed.
pub(super) fn patch(body: &Map<String, Value>) -> Result<TaskPatch, ValidationErrors> {
    TaskPatch::from_json(body)
}

/// The JSON object a draft or patch is sent as. Both serialize to an
/// object of plain values; anything else would be a bug, kept as an empty
/// object (which parses back as "no change", or a draft without a title,
/// refused and reported at sync).
fn object(value: &impl Serialize) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The kind of a local change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A task created here.
    Create,
    /// An edit of some of a task's fields.
    Edit,
    /// A deletion.
    Delete,
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Create => "creation",
            Self::Edit => "edit",
            Self::Delete => "deletion",
        })
    }
}
