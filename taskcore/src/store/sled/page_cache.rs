//! The first page of each owner's latest list query, kept until that owner
//! writes. Clients poll their list far more often than they change it.
//!
//! Beside it, for an owner with few tasks, all of them decoded: any other
//! list of theirs (a new filter or sort) is then sorted in memory instead
//! of read and decoded again, which was most of the cost of such a list.
//!
//! A reader takes the owner's version before reading the store and keeps
//! its page only if the version is unchanged when it is done; every task
//! write moves the version after it is applied. So a kept page never
//! predates a write it could have missed.

use super::lock;
use crate::domain::{Task, UserId};
use crate::store::TaskPageJson;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Owners with an entry before the map is cleared: one page each, so at
/// most a few MiB (a 200-task page is about 60 KiB).
const OWNERS_KEPT: usize = 256;

/// Owners whose tasks are kept decoded before those sets are dropped: at
/// most `SHORT_WALK` (100) tasks each, about 100 KiB, so a few MiB.
const TASK_SETS_KEPT: usize = 48;

/// All of one owner's tasks, decoded, each with its stored record.
pub(super) type OwnerTasks = Arc<[(Task, sled::IVec)]>;

#[derive(Default)]
pub(super) struct PageCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Source of versions: unique, so an entry dropped and made again never
    /// repeats a version a slow reader still holds.
    next_version: u64,
    owners: HashMap<UserId, Entry>,
}

struct Entry {
    version: u64,
    page: Option<(String, TaskPageJson)>,
    tasks: Option<OwnerTasks>,
}

impl State {
    fn entry(&mut self, owner: UserId) -> &mut Entry {
        if self.owners.len() >= OWNERS_KEPT && !self.owners.contains_key(&owner) {
            self.owners.clear();
        }
        let next = &mut self.next_version;
        self.owners.entry(owner).or_insert_with(|| {
            *next += 1;
            Entry {
                version: *next,
                page: None,
                tasks: None,
            }
        })
    }
}

impl PageCache {
    /// The kept page for `key`, or the version to build a new one against.
    pub(super) fn get(&self, owner: UserId, key: &str) -> Result<TaskPageJson, u64> {
        let mut state = lock(&self.state);
        let entry = state.entry(owner);
        match &entry.page {
            Some((kept, page)) if kept == key => Ok(page.clone()),
            _ => Err(entry.version),
        }
    }

    /// Keeps a page built at `version`, unless the owner wrote since.
    pub(super) fn put(&self, owner: UserId, version: u64, key: String, page: TaskPageJson) {
        let mut state = lock(&self.state);
        if let Some(entry) = state.owners.get_mut(&owner)
            && entry.version == version
        {
            entry.page = Some((key, page));
        }
    }

    /// The owner's kept tasks, or the version to read them against.
    pub(super) fn tasks(&self, owner: UserId) -> Result<OwnerTasks, u64> {
        let mut state = lock(&self.state);
        let entry = state.entry(owner);
        entry.tasks.clone().ok_or(entry.version)
    }

    /// Keeps the owner's tasks read at `version`, unless the owner wrote
    /// since.
    pub(super) fn put_tasks(&self, owner: UserId, version: u64, tasks: OwnerTasks) {
        let mut state = lock(&self.state);
        let sets = state.owners.values().filter(|e| e.tasks.is_some()).count();
        if sets >= TASK_SETS_KEPT {
            for entry in state.owners.values_mut() {
                entry.tasks = None;
            }
        }
        if let Some(entry) = state.owners.get_mut(&owner)
            && entry.version == version
        {
            entry.tasks = Some(tasks);
        }
    }

    /// Called after every write of the owner's tasks.
    pub(super) fn invalidate(&self, owner: UserId) {
        let mut state = lock(&self.state);
        state.next_version += 1;
        let version = state.next_version;
        let entry = state.entry(owner);
        entry.version = version;
        entry.page = None;
        entry.tasks = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize) -> TaskPageJson {
        TaskPageJson {
            tasks: bytes::Bytes::from_static(b"[]"),
            count: n,
            next: None,
        }
    }

    #[test]
    fn a_write_between_read_and_keep_discards_the_page() {
        let cache = PageCache::default();
        let owner = UserId::generate();
        let version = cache.get(owner, "q").expect_err("empty");
        cache.invalidate(owner);
        cache.put(owner, version, "q".into(), page(1));
        let version = cache.get(owner, "q").expect_err("not kept");
        cache.put(owner, version, "q".into(), page(2));
        assert_eq!(cache.get(owner, "q").expect("kept").count, 2);
        assert!(cache.get(owner, "other").is_err());
        assert!(cache.get(UserId::generate(), "q").is_err());
        cache.invalidate(owner);
        assert!(cache.get(owner, "q").is_err());
    }

    #[test]
    fn a_write_between_read_and_keep_discards_the_tasks() {
        let cache = PageCache::default();
        let owner = UserId::generate();
        let none: OwnerTasks = Arc::from(Vec::new());
        let version = cache.tasks(owner).expect_err("empty");
        cache.invalidate(owner);
        cache.put_tasks(owner, version, none.clone());
        let version = cache.tasks(owner).expect_err("not kept");
        cache.put_tasks(owner, version, none);
        assert!(cache.tasks(owner).is_ok());
        assert!(cache.tasks(UserId::generate()).is_err());
        cache.invalidate(owner);
        assert!(cache.tasks(owner).is_err());
    }
}
