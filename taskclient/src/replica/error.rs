//! What can go wrong with a replica: opening it, reading and writing it,
//! and syncing it.

use std::path::PathBuf;
use taskcore::{UserId, ValidationErrors};

/// Everything that can go wrong with a [`Replica`](super::Replica).
///
/// Opening distinguishes a replica that is not the caller's
/// ([`ReplicaError::Foreign`]: never read) from one that cannot be read
/// ([`ReplicaError::Unreadable`], [`ReplicaError::FutureFormat`]): a program
/// moves the latter aside and starts a new replica, which its first sync
/// fills from the server.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// The replica belongs to another user or another server; nothing of it
    /// was read.
    #[error(
        "the replica in {path} belongs to user {found_user} of {found_server}, not to user {user} of {server}"
    )]
    Foreign {
        /// The replica's directory.
        path: PathBuf,
        /// The server it was asked for.
        server: String,
        /// The user it was asked for.
        user: UserId,
        /// The server it belongs to.
        found_server: String,
        /// The user it belongs to.
        found_user: UserId,
    },

    /// The replica was written by a newer version of this library.
    #[error(
        "the replica in {path} has format {found}, newer than this program reads ({supported})"
    )]
    FutureFormat {
        /// The replica's directory.
        path: PathBuf,
        /// Its format.
        found: u32,
        /// The newest format this library reads.
        supported: u32,
    },

    /// The replica is damaged, or the directory holds something else.
    #[error("the replica in {path} cannot be read: {reason}")]
    Unreadable {
        /// The replica's directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Another process has the replica open (one process at a time: try
    /// again when it is done).
    #[error("the replica in {path} is in use by another process")]
    Busy {
        /// The replica's directory.
        path: PathBuf,
    },

    /// Reading or writing the replica's files failed (disk full, I/O
    /// error); a write that fails this way did not happen.
    #[error("the replica in {path} cannot be written or read: {reason}")]
    Storage {
        /// The replica's directory.
        path: PathBuf,
        /// What failed.
        reason: String,
    },

    /// No task of the replica has this number, handle or id.
    #[error("no task {0} in the replica")]
    NotFound(String),

    /// The change breaks a rule of the task (the same rules as the server's
    /// 422); nothing was changed or queued.
    #[error("invalid change: {0}")]
    Invalid(ValidationErrors),

    /// The client given to [`Replica::sync`](super::Replica::sync) is not
    /// the replica's: another server, or logged in as another user.
    #[error("the client is for {found}, but the replica is of {expected}")]
    WrongClient {
        /// The replica's server and user.
        expected: String,
        /// The client's.
        found: String,
    },

    /// The server could not be reached or refused the sync as a whole
    /// (not authenticated, rate limited, down). Nothing queued was lost:
    /// what it acknowledged left the queue, the rest waits for the next sync.
    #[error("sync failed: {0}")]
    Server(#[from] crate::Error),
}

impl ReplicaError {
    /// Whether this is a replica to move aside and start again (damaged,
    /// not a replica, or from a newer version), as opposed to one that is
    /// busy, not the caller's, or a failure of the disk.
    ///
    /// ```
    /// use taskclient::ReplicaError;
    ///
    /// let damaged = ReplicaError::Unreadable { path: "r".into(), reason: "bad".into() };
    /// assert!(damaged.is_unreadable());
    /// assert!(!ReplicaError::Busy { path: "r".into() }.is_unreadable());
    /// ```
    pub fn is_unreadable(&self) -> bool {
        matches!(self, Self::Unreadable { .. } | Self::FutureFormat { .. })
    }

    /// Whether the server could not be reached at all (as opposed to
    /// answering with a refusal).
    pub fn is_offline(&self) -> bool {
        matches!(self, Self::Server(crate::Error::Transport(_)))
    }
}
