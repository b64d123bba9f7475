//! The first page of each owner's latest list query, kept until that owner
//! writes. Clients poll their list far more often than they change it.
//!
//! A reader takes the owner's version before reading the store and keeps
//! its page only if the version is unchanged when it is done; every task
//! write moves the version after it is applied. So a kept page never
//! predates a write it could have missed.

use super::lock;
use crate::domain::UserId;
use crate::store::TaskPageJson;
use std::collections::HashMap;
use std::sync::Mutex;

/// Owners with an entry before the map is cleared: one page each, so at
/// most a few MiB (a 200-task page is about 60 KiB).
const OWNERS_KEPT: usize = 256;

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

    /// Called after every write of the owner's tasks.
    pub(super) fn invalidate(&self, owner: UserId) {
        let mut state = lock(&self.state);
        state.next_version += 1;
        let version = state.next_version;
        let entry = state.entry(owner);
        entry.version = version;
        entry.page = None;
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
}
