//! The change feed on sled: `task_changes` (owner ++ change number → task
//! id), `task_change_numbers` (owner ++ task id → the number of its latest
//! change) and `task_deletions` (deletion time ++ owner ++ task id, for
//! pruning).
//!
//! # Numbering
//!
//! Every task write of an owner runs under the owner's lock (see
//! `tasks.rs`), and takes the owner's next change number there
//! ([`Counters::last_change`]). It writes, in this order: the new
//! `task_changes` entry and the task's `task_change_numbers` entry, then
//! the task itself, then removes the task's previous `task_changes` entry.
//! A feed entry is a hint checked against `task_change_numbers`: an entry
//! that is not the task's latest change is skipped. So a crash part way
//! leaves at worst an entry that leads nowhere, or the task shown at its
//! new number in its old state (a change the reader already had, shown
//! again: harmless, and the write was never acknowledged).
//!
//! # Reading
//!
//! A reader takes the owner's latest number under the same lock, so it
//! sees only changes whose writes are complete, then walks `task_changes`
//! from its position up to that number, outside the lock. A write that
//! runs meanwhile has a higher number; if it moves a task the walk has not
//! reached yet, the walk skips the task's old entry and the next read
//! finds it at its new one. Nothing is skipped: everything numbered after
//! the position the read returns is found by the next read.
//!
//! Before answering, a read whose changes may not all be durable yet waits
//! for the group commit, so the feed never shows a write a crash could undo.

use super::{Inner, Trees, backend, damaged, keys};
use crate::domain::{Change, ChangePage, FeedPosition, Task, TaskId, Timestamp, UserId};
use crate::store::StoreError;
use crate::store::sled::records::decode;
use std::ops::Bound::{Excluded, Included};

/// What a write changes in the feed, once it has taken its number: the
/// entry it replaces, removed after the task is written.
pub(super) struct FeedMove {
    owner: UserId,
    replaced: Option<u64>,
}

impl Trees {
    /// The owner's last change number, from what is on disk: past the
    /// highest entry and past the floor that pruning leaves.
    pub(super) fn last_change_on_disk(&self, owner: UserId) -> Result<u64, StoreError> {
        let t = self;
        let floor = match t
            .task_counters
            .get(keys::change_floor(owner))
            .map_err(backend)?
        {
            Some(value) => keys::change_of_value(&value).ok_or_else(|| damaged("task_counters"))?,
            None => 0,
        };
        let highest = match t.task_changes.scan_prefix(owner.as_bytes()).next_back() {
            Some(item) => {
                let (key, _) = item.map_err(backend)?;
                keys::change_of_key(&key).ok_or_else(|| damaged("task_changes"))?
            }
            None => 0,
        };
        Ok(floor.max(highest))
    }
}

impl Inner {
    /// Gives the task `id` of `owner` the change number `change`: its new
    /// feed entry and its latest-change record. Call under the owner's
    /// lock, before writing the task; then [`finish_move`](Self::finish_move).
    pub(super) fn move_in_feed(
        &self,
        owner: UserId,
        id: TaskId,
        change: u64,
    ) -> Result<FeedMove, StoreError> {
        let t = &self.trees;
        t.task_changes
            .insert(keys::task_change(owner, change), &id.as_bytes()[..])
            .map_err(backend)?;
        let replaced = t
            .task_change_numbers
            .insert(keys::task(owner, id), &change.to_be_bytes()[..])
            .map_err(backend)?;
        let replaced = match replaced {
            Some(value) => {
                Some(keys::change_of_value(&value).ok_or_else(|| damaged("task_change_numbers"))?)
            }
            None => None,
        };
        Ok(FeedMove { owner, replaced })
    }

    /// Removes the feed entry a write replaced (after the task is written).
    pub(super) fn finish_move(&self, moved: FeedMove) -> Result<(), StoreError> {
        if let Some(old) = moved.replaced {
            self.trees
                .task_changes
                .remove(keys::task_change(moved.owner, old))
                .map_err(backend)?;
        }
        Ok(())
    }

    /// The owner's latest change number and whether every change up to it
    /// is known to be durable (0 and true for an owner who does not exist).
    pub(super) fn feed_head(&self, owner: UserId) -> Result<(u64, bool), StoreError> {
        match self.with_counters(owner, |state| {
            Ok((state.last_change, state.durable_change >= state.last_change))
        }) {
            Err(StoreError::NotFound) => Ok((0, true)),
            other => other,
        }
    }

    /// Records that every change up to `change` is durable.
    pub(super) fn mark_durable(&self, owner: UserId, change: u64) {
        let _ = self.with_counters(owner, |state| {
            state.durable_change = state.durable_change.max(change);
            Ok(())
        });
    }

    /// A page of the owner's feed from `from` up to `head` (see the module
    /// docs). Reads only entries after the position.
    pub(super) fn read_changes(
        &self,
        owner: UserId,
        from: FeedPosition,
        head: u64,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        let t = &self.trees;
        let mut changes = Vec::new();
        let mut numbers = Vec::new();
        let mut last_shown = from.after;
        if from.after < head {
            let range = (
                Excluded(keys::task_change(owner, from.after)),
                Included(keys::task_change(owner, head)),
            );
            for item in t.task_changes.range(range) {
                let (key, id) = item.map_err(backend)?;
                let change = keys::change_of_key(&key).ok_or_else(|| damaged("task_changes"))?;
                let id = keys::id_bytes(&id)
                    .map(TaskId::from_bytes)
                    .ok_or_else(|| damaged("task_changes"))?;
                let Some(entry) = self.feed_entry(owner, id, change, &from)? else {
                    continue;
                };
                if changes.len() == limit {
                    // One more than the page: there is more to read.
                    return Ok(ChangePage {
                        changes,
                        numbers,
                        next: FeedPosition {
                            after: last_shown,
                            full_until: from.full_until,
                        },
                        more: true,
                    });
                }
                changes.push(entry);
                numbers.push(change);
                last_shown = change;
            }
        }
        Ok(ChangePage {
            changes,
            numbers,
            next: FeedPosition::after(head.max(from.after)),
            more: false,
        })
    }

    /// What the feed shows for the entry `change` naming task `id`: the
    /// task, its deletion, or nothing (not its latest change, or a deletion
    /// a full sync leaves out).
    fn feed_entry(
        &self,
        owner: UserId,
        id: TaskId,
        change: u64,
        from: &FeedPosition,
    ) -> Result<Option<Change>, StoreError> {
        let t = &self.trees;
        let key = keys::task(owner, id);
        let latest = match t.task_change_numbers.get(key).map_err(backend)? {
            Some(value) => {
                keys::change_of_value(&value).ok_or_else(|| damaged("task_change_numbers"))?
            }
            None => return Ok(None),
        };
        if latest != change {
            return Ok(None);
        }
        if let Some(value) = t.tasks.get(key).map_err(backend)? {
            let task: Task = decode("tasks", &value)?;
            return Ok(Some(Change::Task { task }));
        }
        if !from.shows_deletion(change) {
            return Ok(None);
        }
        match t.task_tombstones.get(key).map_err(backend)? {
            Some(value) => {
                let (number, deleted_at) =
                    keys::tombstone_parts(&value).ok_or_else(|| damaged("task_tombstones"))?;
                Ok(Some(Change::TaskDeleted {
                    id,
                    number,
                    deleted_at,
                }))
            }
            None => Ok(None),
        }
    }

    /// Takes deletions made before `before` out of the feed (their
    /// tombstones stay, so the ids stay refused). Walks `task_deletions`
    /// from its start: only what it prunes. Returns how many it pruned.
    pub(super) fn prune_deletions(&self, before: Timestamp) -> Result<u64, StoreError> {
        let t = &self.trees;
        let end = keys::task_deletion(
            before,
            UserId::from_bytes([0; 16]),
            TaskId::from_bytes([0; 16]),
        );
        let mut pruned = 0;
        for item in t.task_deletions.range(..end).keys() {
            let key = item.map_err(backend)?;
            let (owner, id) =
                keys::deletion_parts(&key).ok_or_else(|| damaged("task_deletions"))?;
            let outcome = self.with_counters(owner, |state| {
                let task_key = keys::task(owner, id);
                let Some(value) = t.task_change_numbers.get(task_key).map_err(backend)? else {
                    return Ok(());
                };
                let change =
                    keys::change_of_value(&value).ok_or_else(|| damaged("task_change_numbers"))?;
                if change >= state.last_change {
                    // The entry that holds the owner's last number goes:
                    // keep the number used, so it is never issued again.
                    t.task_counters
                        .insert(
                            keys::change_floor(owner),
                            &state.last_change.to_be_bytes()[..],
                        )
                        .map_err(backend)?;
                }
                t.task_changes
                    .remove(keys::task_change(owner, change))
                    .map_err(backend)?;
                t.task_change_numbers.remove(task_key).map_err(backend)?;
                Ok(())
            });
            match outcome {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
            t.task_deletions.remove(key).map_err(backend)?;
            pruned += 1;
        }
        Ok(pruned)
    }
}

impl Trees {
    /// Gives every task that has no change number one (format 3 → 4), per
    /// owner in id (creation) order after the owner's highest number.
    /// Idempotent: a crash part way is finished by the next open.
    pub(super) fn number_changes(&self) -> Result<u64, StoreError> {
        let mut numbered = 0;
        let mut current: Option<(UserId, u64)> = None;
        for item in self.tasks.iter().keys() {
            let key = item.map_err(backend)?;
            if self
                .task_change_numbers
                .contains_key(&key)
                .map_err(backend)?
            {
                continue;
            }
            let owner = key
                .get(..16)
                .and_then(keys::id_bytes)
                .map(UserId::from_bytes)
                .ok_or_else(|| damaged("tasks"))?;
            let id = key
                .get(16..)
                .and_then(keys::id_bytes)
                .map(TaskId::from_bytes)
                .ok_or_else(|| damaged("tasks"))?;
            let last = match current {
                Some((who, last)) if who == owner => last,
                _ => self.last_change_on_disk(owner)?,
            };
            let change = last + 1;
            self.task_changes
                .insert(keys::task_change(owner, change), &id.as_bytes()[..])
                .map_err(backend)?;
            self.task_change_numbers
                .insert(&key, &change.to_be_bytes()[..])
                .map_err(backend)?;
            current = Some((owner, change));
            numbered += 1;
        }
        Ok(numbered)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::SledStore;
    use super::super::test_support::{open_temp, reopen, user};
    use crate::domain::{Change, FeedPosition, Precondition, TaskDraft, TaskId, TaskRef, UserId};
    use crate::store::TaskStore;

    /// The ids of a full sync of `owner`, in feed order, and where it ended.
    pub(in crate::store::sled) async fn whole_feed(
        store: &SledStore,
        owner: UserId,
    ) -> (Vec<TaskId>, FeedPosition) {
        let page = store.changes(owner, None, 1_000_000).await.expect("reads");
        assert!(!page.more);
        (
            page.changes.iter().map(Change::task_id).collect(),
            page.next,
        )
    }

    fn draft(title: &str) -> TaskDraft {
        TaskDraft::new(title).expect("valid")
    }

    /// Pruning takes the owner's last entry away: the number it held stays
    /// used after a restart, so a reader at it never misses the next write.
    #[tokio::test]
    async fn the_last_change_number_survives_pruning_and_reopening() {
        let (dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let task = store
            .create_task(ada.id, draft("a"), 10)
            .await
            .expect("creates");
        store
            .delete_task(ada.id, TaskRef::Id(task.id), &Precondition::None)
            .await
            .expect("deletes");
        let later = crate::domain::Timestamp::now().plus(std::time::Duration::from_secs(1));
        assert_eq!(store.prune_deletions(later).await.expect("prunes"), 1);
        assert_eq!(store.inner.trees.task_changes.len(), 0);
        drop(store);
        let store = reopen(&dir);
        assert_eq!(store.latest_change(ada.id).await.expect("reads"), 2);
        let next = store
            .create_task(ada.id, draft("b"), 10)
            .await
            .expect("creates");
        let page = store
            .changes(ada.id, Some(FeedPosition::after(2)), 10)
            .await
            .expect("reads");
        assert_eq!(
            page.changes.iter().map(Change::task_id).collect::<Vec<_>>(),
            vec![next.id]
        );
    }

    /// A crash between a write's feed entry and the task leaves an entry
    /// that leads to no task: the feed skips it, and numbering goes on past it.
    #[tokio::test]
    async fn an_entry_without_its_task_is_skipped() {
        let (dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let kept = store
            .create_task(ada.id, draft("kept"), 10)
            .await
            .expect("creates");
        let lost = TaskId::generate();
        let t = &store.inner.trees;
        t.task_changes
            .insert(super::keys::task_change(ada.id, 2), &lost.as_bytes()[..])
            .expect("writes");
        t.task_change_numbers
            .insert(super::keys::task(ada.id, lost), &2u64.to_be_bytes()[..])
            .expect("writes");
        store.flush().await.expect("flushes");
        drop(store);
        let store = reopen(&dir);
        let (feed, end) = whole_feed(&store, ada.id).await;
        assert_eq!(feed, vec![kept.id]);
        assert_eq!(end, FeedPosition::after(2));
        let next = store
            .create_task(ada.id, draft("next"), 10)
            .await
            .expect("creates");
        let page = store.changes(ada.id, Some(end), 10).await.expect("reads");
        assert_eq!(
            page.changes.iter().map(Change::task_id).collect::<Vec<_>>(),
            vec![next.id]
        );
    }
}
