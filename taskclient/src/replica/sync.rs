//! [`Replica::sync`]: push the queue in order, then pull the change feed.
//!
//! A change leaves the queue only after the server acknowledged it, and
//! every change is safe to send twice (a chosen-id create is then 412
//! `already_exists`, a delete 404, an edit sets the same fields again), so
//! a sync cut off anywhere, even by a kill, loses nothing and doubles
//! nothing when the next one starts over. The feed cursor moves with the
//! changes it covers, in one atomic write per page.

use super::merge;
use super::queue::{self, ChangeKind, Pending, Queued};
use super::store::{self, Durability, Stored, Writes};
use super::{LocalRef, Replica, ReplicaError};
use crate::{Client, Error};
use std::collections::HashSet;
use std::fmt;
use taskcore::{CHANGES_LIMIT_MAX, Change, Task, TaskId, TaskRef, Timestamp};

/// What one [`Replica::sync`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Local changes the server acknowledged (they left the queue).
    pub sent: usize,
    /// Changes pulled from the server's feed (each task at most once per
    /// page, in its latest state).
    pub received: usize,
    /// Local changes the server would not take, each with why: they left
    /// the queue and will not be sent again.
    pub dropped: Vec<Dropped>,
    /// Tasks created here that the server numbered in this sync.
    pub numbered: Vec<Numbered>,
    /// Recurring tasks whose completion this sync sent, each with the
    /// task the server made to follow it (the pull brought it here).
    pub successors: Vec<Successor>,
    /// Whether the pull was a full sync (the first one, or after the
    /// server forgot the replica's cursor), which rebuilt the local copy.
    pub full: bool,
}

/// A recurring task completed here, and the next one of its series that
/// the server made when the completion reached it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Successor {
    /// The completed task.
    pub completed: TaskId,
    /// The task that follows it.
    pub next: TaskId,
}

/// A task created here that the server has numbered: its handle is free
/// again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Numbered {
    /// The task.
    pub id: TaskId,
    /// The local handle it had (`~1`).
    pub handle: u64,
    /// The server's number it has now.
    pub number: u64,
}

/// A local change that [`Replica::sync`] dropped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The task it was about.
    pub task: TaskId,
    /// How the replica named the task when the change was dropped (`12`,
    /// `~1`).
    pub label: String,
    /// The task's title, as the replica had it.
    pub title: String,
    /// What the change was.
    pub change: ChangeKind,
    /// Why it was dropped.
    pub reason: DropReason,
}

/// Why a local change was dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The task was deleted elsewhere before the change reached the server
    /// (a delete wins over a later edit from elsewhere).
    DeletedElsewhere,
    /// The server refused the change (422, or 403 for a create past the
    /// task limit), with its message: a rule that changed on the server.
    Refused(String),
    /// The server refused the creation of the task, so this later change
    /// of it had nothing to apply to.
    CreateRefused,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DeletedElsewhere => f.write_str("the task was deleted elsewhere"),
            Self::Refused(message) => write!(f, "the server refused it ({message})"),
            Self::CreateRefused => f.write_str("the server refused to create the task"),
        }
    }
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dropped the {} of task {} ({:?}): {}",
            self.change, self.label, self.title, self.reason
        )
    }
}

/// What became of sending one queued change.
enum Sent {
    /// The server has it; what it answered of the task, when known
    /// (`Some(None)`: it has no such task now).
    Done(Option<Option<Task>>),
    /// The server will never take it.
    Dropped(DropReason, Option<Option<Task>>),
    /// Not now (network, authentication, the server down): stop here.
    Failed(Error),
}

impl Replica {
    /// Sends the queue in order, then pulls the change feed from the stored
    /// cursor and applies it: the server's state is the truth, and changes
    /// still queued are applied over it again so reads show them. A cursor
    /// the server no longer honours (410) means a full sync, which rebuilds
    /// the local copy and keeps the queue.
    ///
    /// `client` must be logged in as the replica's user on its server
    /// (a client for another server is [`ReplicaError::WrongClient`]; the
    /// user is checked at each full sync). One sync runs at a time; local
    /// reads and writes go on meanwhile.
    ///
    /// An error ([`ReplicaError::Server`]: the server could not be reached,
    /// or refused the request as a whole) stops the sync where it is:
    /// acknowledged changes left the queue, the rest waits, and the next
    /// sync goes on from there.
    pub async fn sync(&self, client: &Client) -> Result<SyncReport, ReplicaError> {
        let _one_sync = self.syncing.lock().await;
        let server = super::Identity::new(client.base_url(), self.identity.user).server;
        if server != self.identity.server {
            return Err(ReplicaError::WrongClient {
                expected: self.identity.to_string(),
                found: format!("the server {server}"),
            });
        }
        let mut report = SyncReport::default();
        // Acknowledgements and pulled pages are recorded lazily, and made
        // durable once at the end, whatever happened: one flush a sync.
        let synced = match self.push(client, &mut report).await {
            Ok(()) => self.pull(client, &mut report).await,
            Err(error) => Err(error),
        };
        if let Err(error) = synced {
            // What was recorded is durable and shown to readers; the rest
            // waits for the next sync.
            self.store.flush()?;
            self.save_view();
            return Err(error);
        }
        let mut writes = Writes::default();
        writes.set_meta(store::META_LAST_SYNC, &Timestamp::now());
        self.write_durably(writes)?;
        self.save_view();
        Ok(report)
    }

    /// Sends the queue, oldest first, until it is empty or a change fails.
    async fn push(&self, client: &Client, report: &mut SyncReport) -> Result<(), ReplicaError> {
        while let Some((seq, queued)) = self.store.first_queued()? {
            let sent = send(client, &queued, report).await;
            let _writing = self.write_lock();
            let (server, dropped) = match sent {
                Sent::Failed(error) => return Err(error.into()),
                Sent::Done(server) => {
                    report.sent += 1;
                    (server, None)
                }
                Sent::Dropped(reason, server) => (server, Some(reason)),
            };
            let mut writes = Writes::default();
            writes.remove_queue(seq, &queued);
            let shown = writes.task(&self.store, queued.task)?;
            let mut later = self.store.pending(queued.task)?;
            later.retain(|(s, _)| *s != seq);
            if let Some(reason) = dropped {
                let created = queued.kind() == ChangeKind::Create;
                report
                    .dropped
                    .push(dropped_change(&queued, shown.as_ref(), reason));
                if created {
                    // Nothing of a task the server never had can be sent.
                    for (s, q) in later.drain(..) {
                        writes.remove_queue(s, &q);
                        let why = DropReason::CreateRefused;
                        report.dropped.push(dropped_change(&q, shown.as_ref(), why));
                    }
                }
            }
            if let Some(server) = server {
                let rest = later.iter().map(|(_, q)| q);
                self.show(&mut writes, queued.task, server, rest, report)?;
            }
            self.store.write(writes, Durability::Lazy)?;
        }
        Ok(())
    }

    /// Pulls the feed from the stored cursor; a full sync when there is
    /// none or the server has forgotten it.
    async fn pull(&self, client: &Client, report: &mut SyncReport) -> Result<(), ReplicaError> {
        let cursor: Option<String> = self.store.meta(store::META_CURSOR)?;
        if let Some(cursor) = cursor {
            match self.pull_since(client, cursor, report).await {
                Err(ReplicaError::Server(Error::CursorExpired)) => {}
                other => return other,
            }
        }
        self.pull_all(client, report).await
    }

    /// Every page after `cursor`, each applied with the cursor after it in
    /// one atomic write.
    async fn pull_since(
        &self,
        client: &Client,
        mut cursor: String,
        report: &mut SyncReport,
    ) -> Result<(), ReplicaError> {
        loop {
            let page = client
                .changes_page(Some(&cursor), CHANGES_LIMIT_MAX)
                .await?;
            let _writing = self.write_lock();
            let mut writes = Writes::default();
            self.apply_changes(&mut writes, page.changes, report, &mut HashSet::new())?;
            writes.set_meta(store::META_CURSOR, &page.cursor);
            self.store.write(writes, Durability::Lazy)?;
            cursor = page.cursor;
            if !page.more {
                return Ok(());
            }
        }
    }

    /// A full sync: every live task of the server replaces the local copy,
    /// tasks it does not have go (unless created here and still queued),
    /// and the queue stays. The cursor is stored at the end only, so a full
    /// sync cut off starts over.
    async fn pull_all(&self, client: &Client, report: &mut SyncReport) -> Result<(), ReplicaError> {
        report.full = true;
        let me = client.me().await?;
        if me.id != self.identity.user {
            return Err(ReplicaError::WrongClient {
                expected: self.identity.to_string(),
                found: format!("user {}", me.id),
            });
        }
        let mut seen = HashSet::new();
        let mut cursor = None;
        loop {
            let page = client
                .changes_page(cursor.as_deref(), CHANGES_LIMIT_MAX)
                .await?;
            let _writing = self.write_lock();
            let mut writes = Writes::default();
            self.apply_changes(&mut writes, page.changes, report, &mut seen)?;
            let last = !page.more;
            if last {
                // What the server did not list, it does not have.
                let gone: Vec<TaskId> = self
                    .store
                    .tasks()?
                    .into_iter()
                    .map(|stored| stored.task.id)
                    .filter(|id| !seen.contains(id))
                    .collect();
                for id in gone {
                    let pending = self.store.pending(id)?;
                    let pending = pending.iter().map(|(_, q)| q);
                    self.show(&mut writes, id, None, pending, report)?;
                }
                writes.set_meta(store::META_CURSOR, &page.cursor);
            }
            self.store.write(writes, Durability::Lazy)?;
            if last {
                return Ok(());
            }
            cursor = Some(page.cursor);
        }
    }

    /// Applies feed changes: each task becomes the server's state with the
    /// changes still queued for it on top. Notes each task in `seen`.
    fn apply_changes(
        &self,
        writes: &mut Writes,
        changes: Vec<Change>,
        report: &mut SyncReport,
        seen: &mut HashSet<TaskId>,
    ) -> Result<(), ReplicaError> {
        for change in changes {
            report.received += 1;
            let id = change.task_id();
            let server = match change {
                Change::Task { task } => {
                    seen.insert(id);
                    Some(task)
                }
                Change::TaskDeleted { .. } => None,
            };
            let pending = self.store.pending(id)?;
            let pending = pending.iter().map(|(_, q)| q);
            self.show(writes, id, server, pending, report)?;
        }
        Ok(())
    }

    /// Shows task `id` as `server` has it with `pending` replayed on top,
    /// and notes a handle that got its number.
    fn show<'a>(
        &self,
        writes: &mut Writes,
        id: TaskId,
        server: Option<Task>,
        pending: impl IntoIterator<Item = &'a Queued>,
        report: &mut SyncReport,
    ) -> Result<(), ReplicaError> {
        let old = writes.task(&self.store, id)?;
        let new = merge::replay(server, pending);
        if let (
            Some(Stored {
                handle: Some(handle),
                ..
            }),
            Some(new),
        ) = (&old, &new)
            && new.task.number != 0
        {
            report.numbered.push(Numbered {
                id,
                handle: *handle,
                number: new.task.number,
            });
        }
        if old != new {
            writes.put_task(id, old.as_ref(), new.as_ref());
        }
        Ok(())
    }
}

/// Sends one queued change by the merge rules; a completion that made a
/// successor notes it in `report`.
async fn send(client: &Client, queued: &Queued, report: &mut SyncReport) -> Sent {
    let id = queued.task;
    match &queued.change {
        Pending::Create { draft, .. } => {
            let draft = match queue::draft(draft) {
                Ok(draft) => draft,
                Err(errors) => {
                    return Sent::Dropped(DropReason::Refused(errors.to_string()), Some(None));
                }
            };
            match client.create_task_with_id(id, &draft).await {
                Ok(task) => Sent::Done(Some(Some(task))),
                // An earlier try got through; what became of it since?
                Err(Error::AlreadyExists) => Sent::Done(fetch(client, id).await),
                Err(error @ (Error::Validation { .. } | Error::Forbidden { .. })) => {
                    Sent::Dropped(DropReason::Refused(refusal(&error)), Some(None))
                }
                Err(error) => Sent::Failed(error),
            }
        }
        Pending::Edit { patch } => {
            let patch = match queue::patch(patch) {
                Ok(patch) => patch,
                Err(errors) => {
                    let reason = DropReason::Refused(errors.to_string());
                    return Sent::Dropped(reason, fetch(client, id).await);
                }
            };
            match client.update(TaskRef::Id(id)).patch(patch).send().await {
                Ok(updated) => {
                    if let Some(next) = updated.next {
                        report.successors.push(Successor {
                            completed: id,
                            next,
                        });
                    }
                    Sent::Done(Some(Some(updated.task)))
                }
                Err(Error::NotFound) => Sent::Dropped(DropReason::DeletedElsewhere, Some(None)),
                Err(error @ Error::Validation { .. }) => {
                    // The replica showed the refused edit: learn the truth.
                    let reason = DropReason::Refused(refusal(&error));
                    Sent::Dropped(reason, fetch(client, id).await)
                }
                Err(error) => Sent::Failed(error),
            }
        }
        Pending::Delete => match client.delete_task(TaskRef::Id(id), None).await {
            Ok(()) | Err(Error::NotFound) => Sent::Done(Some(None)),
            Err(error) => Sent::Failed(error),
        },
    }
}

/// The server's state of one task: `Some(None)` if it has none, `None` if
/// it could not be learnt now (the next pull may tell).
async fn fetch(client: &Client, id: TaskId) -> Option<Option<Task>> {
    match client.get_task(TaskRef::Id(id)).await {
        Ok(task) => Some(Some(task)),
        Err(Error::NotFound) => Some(None),
        Err(_) => None,
    }
}

/// The server's words for a refusal.
fn refusal(error: &Error) -> String {
    match error {
        Error::Validation { errors } if !errors.is_empty() => errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        Error::Forbidden { problem, code } => problem
            .message()
            .map_or_else(|| code.clone(), str::to_string),
        other => other.to_string(),
    }
}

fn dropped_change(queued: &Queued, shown: Option<&Stored>, reason: DropReason) -> Dropped {
    let (label, title) = match shown {
        Some(stored) => {
            let local = super::LocalTask::from(stored.clone());
            (local.label(), local.task.title)
        }
        None => {
            let title = match &queued.change {
                Pending::Create { draft, .. } => draft
                    .get("title")
                    .and_then(|t| t.as_str())
                    .unwrap_or_default()
                    .to_string(),
                _ => String::new(),
            };
            (LocalRef::Id(queued.task).to_string(), title)
        }
    };
    Dropped {
        task: queued.task,
        label,
        title,
        change: queued.kind(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sync can run on a multi-threaded runtime (`tokio::spawn`): no
    /// lock is held across an await. This fails to compile otherwise.
    #[allow(dead_code)]
    fn a_sync_is_send(replica: &Replica, client: &Client) {
        fn send<T: Send>(_: T) {}
        send(replica.sync(client));
    }

    #[test]
    fn a_dropped_change_says_what_and_why_in_one_line() {
        let dropped = Dropped {
            task: TaskId::generate(),
            label: "12".into(),
            title: "Old plan".into(),
            change: ChangeKind::Edit,
            reason: DropReason::DeletedElsewhere,
        };
        assert_eq!(
            dropped.to_string(),
            "dropped the edit of task 12 (\"Old plan\"): the task was deleted elsewhere"
        );
        let refused = DropReason::Refused("recur: BYHOUR is not supported".into());
        assert_eq!(
            refused.to_string(),
            "the server refused it (recur: BYHOUR is not supported)"
        );
    }
}
