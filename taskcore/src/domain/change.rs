//! The change feed: what changed in one user's tasks, in the order it
//! happened, and where a reader of the feed stands.
//!
//! Every task write takes the owner's next change number in the same
//! atomic step as the write, in commit order, so a reader that has seen
//! every change up to `n` has seen a prefix of the owner's history. The
//! stores keep, per task, only its latest change: the feed shows each task
//! once, in its latest state, at the place of its latest change.

use super::ids::TaskId;
use super::task::Task;
use super::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Largest page of the change feed.
pub const CHANGES_LIMIT_MAX: usize = 1000;
/// Page size of the change feed when none is asked for.
pub const CHANGES_LIMIT_DEFAULT: usize = 500;

/// One entry of the change feed, as the API sends it
/// (`{"type": "task", "task": {...}}` or
/// `{"type": "task_deleted", "id": ..., "number": ..., "deleted_at": ...}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// Nearly every change is a task: boxing it would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum Change {
    /// A task was created or changed; this is its latest state.
    Task {
        /// The task as it is now.
        task: Task,
    },
    /// A task was deleted.
    TaskDeleted {
        /// Its id.
        id: TaskId,
        /// Its number (never issued again).
        number: u64,
        /// When it was deleted.
        deleted_at: Timestamp,
    },
}

impl Change {
    /// The id of the task this change is about.
    pub fn task_id(&self) -> TaskId {
        match self {
            Self::Task { task } => task.id,
            Self::TaskDeleted { id, .. } => *id,
        }
    }

    /// The SSE event name (and the `type` field): `task` or `task_deleted`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Task { .. } => "task",
            Self::TaskDeleted { .. } => "task_deleted",
        }
    }
}

/// Where a reader stands in one owner's change feed: what a feed cursor
/// seals. Change numbers start at 1, so `after: 0` is the beginning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedPosition {
    /// Every change numbered up to this one has been read.
    pub after: u64,
    /// During a full sync, the owner's latest change number when it began:
    /// deletions up to it are left out (a full sync shows live tasks only).
    /// `None` once the full sync is over, and in incremental reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_until: Option<u64>,
}

impl FeedPosition {
    /// The position after change `after`, in an incremental read.
    pub fn after(after: u64) -> Self {
        Self {
            after,
            full_until: None,
        }
    }

    /// Whether a deletion numbered `change` is shown from here: not during
    /// a full sync, for deletions that were made before it began.
    pub fn shows_deletion(&self, change: u64) -> bool {
        self.full_until.is_none_or(|until| change > until)
    }
}

/// One page of the change feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangePage {
    /// The changes, by change number.
    pub changes: Vec<Change>,
    /// The change number of each change, in the same order: reading on
    /// from `FeedPosition::after(n)` continues right after that change
    /// (a live stream gives each event its own cursor this way).
    pub numbers: Vec<u64>,
    /// Where the next read continues.
    pub next: FeedPosition,
    /// Whether more changes were already there: read again at once.
    pub more: bool,
}

/// The wire form of a page: `{"changes": [...], "cursor": "...", "more": bool}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangesResponse {
    /// The changes, in order.
    pub changes: Vec<Change>,
    /// The opaque cursor to continue from (pass it as `since`).
    pub cursor: String,
    /// Whether to call again at once with the new cursor.
    pub more: bool,
}
