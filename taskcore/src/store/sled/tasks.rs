//! Tasks: `tasks` (owner ++ task id), `task_numbers` (owner ++ number), and
//! the counters in the owner's `users` record.
//!
//! Every lookup is made under the owner's prefix: there is no way to name a
//! task without its owner, so another user's task is simply not found.

use super::records::{decode, encode};
use super::{Inner, Trees, backend, damaged, get, keys, lock};
use crate::domain::{
    ListQuery, Position, Precondition, Project, ProjectCount, SortField, SortKey, Task, TaskDraft,
    TaskId, TaskPage, TaskPatch, TaskRef, Timestamp, UserId, project_counts,
};
use crate::store::{StoreError, TaskPageJson};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

impl Inner {
    /// The `tasks` key a reference names, if the owner has such a task.
    /// (A number never moves to another task, so resolving it outside a
    /// transaction is safe; the transaction then re-reads the task itself.)
    fn task_key(&self, owner: UserId, task: TaskRef) -> Result<Option<[u8; 32]>, StoreError> {
        match task {
            TaskRef::Id(id) => Ok(Some(keys::task(owner, id))),
            TaskRef::Number(number) => {
                let key = keys::task_number(owner, number);
                match self.trees.task_numbers.get(key).map_err(backend)? {
                    Some(id) => {
                        let id = keys::id_bytes(&id).ok_or_else(|| damaged("task_numbers"))?;
                        Ok(Some(keys::task(owner, TaskId::from_bytes(id))))
                    }
                    None => Ok(None),
                }
            }
        }
    }

    /// Runs `f` on the owner's counters, under their lock, loading them from
    /// disk first if needed ([`StoreError::NotFound`] for an owner who does
    /// not exist). One lock for the check and the work: a deletion of the
    /// owner, which resets the counters under the same lock, is seen.
    fn with_counters<T>(
        &self,
        owner: UserId,
        f: impl FnOnce(&mut Counters) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let counters = self.counters.entry(owner);
        let mut state = lock(&counters);
        if !state.loaded {
            if !self
                .trees
                .users
                .contains_key(owner.as_bytes())
                .map_err(backend)?
            {
                return Err(StoreError::NotFound);
            }
            state.next_number = self.next_number_on_disk(owner)?;
            state.live = self
                .trees
                .tasks
                .scan_prefix(owner.as_bytes())
                .keys()
                .count() as u64;
            state.loaded = true;
        }
        f(&mut state)
    }

    /// Runs `remove` with the owner's counters locked, so no task of theirs
    /// is created or deleted meanwhile, then forgets the counters: they are
    /// loaded from disk again, where a deleted owner is not found.
    pub(super) fn with_owner_locked<T>(
        &self,
        owner: UserId,
        remove: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let counters = self.counters.entry(owner);
        let mut state = lock(&counters);
        let result = remove();
        state.loaded = false;
        drop(state);
        self.pages.invalidate(owner);
        result
    }

    /// The number the owner's next task gets, from what is on disk: past
    /// the stored counter and past the highest number indexed.
    pub(super) fn next_number_on_disk(&self, owner: UserId) -> Result<u64, StoreError> {
        let stored = match self
            .trees
            .task_counters
            .get(owner.as_bytes())
            .map_err(backend)?
        {
            Some(v) => u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| damaged("task_counters"))?,
            ),
            None => 1,
        };
        let last_indexed = match self
            .trees
            .task_numbers
            .scan_prefix(owner.as_bytes())
            .next_back()
        {
            Some(item) => {
                let (key, _) = item.map_err(backend)?;
                let bytes = key.get(16..24).ok_or_else(|| damaged("task_numbers"))?;
                u64::from_be_bytes(bytes.try_into().map_err(|_| damaged("task_numbers"))?)
            }
            None => 0,
        };
        Ok(stored.max(last_indexed + 1))
    }

    /// Forgets the owner's counters, so they are loaded from disk again
    /// (after an import wrote tasks behind them).
    pub(super) fn reload_counters(&self, owner: UserId) {
        lock(&self.counters.entry(owner)).loaded = false;
        self.pages.invalidate(owner);
    }

    /// Creates a task with the owner's next number.
    ///
    /// Two plain inserts under the owner's lock, the number index first,
    /// then the task: sled recovers a prefix of its log, so a task that
    /// survives a crash has its index too, and a crash in between leaves an
    /// index entry that leads nowhere (its number is not reused: the highest
    /// index entry sets the next number). Only deleting the highest-numbered
    /// task writes the counter (`task_counters`), so the number stays used.
    /// (A sled transaction across the trees does this atomically, but cost
    /// three quarters of the durable write throughput under group commit.)
    pub(super) fn create_task(
        &self,
        owner: UserId,
        draft: &TaskDraft,
        max_live: u64,
    ) -> Result<Task, StoreError> {
        self.with_counters(owner, |state| {
            if state.live >= max_live {
                return Err(StoreError::TaskLimitReached);
            }
            let number = state.next_number;
            // Made under the lock, so ids (creation order) follow numbers.
            let task = Task::new(TaskId::generate(), number, draft.clone(), Timestamp::now());
            let value = encode(&task)?;
            let t = &self.trees;
            t.task_numbers
                .insert(keys::task_number(owner, number), &task.id.as_bytes()[..])
                .map_err(backend)?;
            t.tasks
                .insert(keys::task(owner, task.id), value)
                .map_err(backend)?;
            state.next_number = number + 1;
            state.live += 1;
            self.pages.invalidate(owner);
            Ok(task)
        })
    }

    /// How many tasks the owner has.
    pub(super) fn live_task_count(&self, owner: UserId) -> Result<u64, StoreError> {
        match self.with_counters(owner, |state| Ok(state.live)) {
            Ok(live) => Ok(live),
            Err(StoreError::NotFound) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// The owner's projects with their counts: one walk over the owner's
    /// tasks (never another user's).
    pub(super) fn projects(&self, owner: UserId) -> Result<Vec<ProjectCount>, StoreError> {
        let mut named: HashMap<(Project, bool), u64> = HashMap::new();
        let range = keys::task_range_start(owner)..=keys::task_range_end(owner);
        for item in self.trees.tasks.range(range) {
            let (_, value) = item.map_err(backend)?;
            let task: Task = decode("tasks", &value)?;
            if let Some(project) = task.project {
                *named.entry((project, task.completed)).or_default() += 1;
            }
        }
        Ok(project_counts(
            named.iter().map(|((p, completed), n)| (p, *completed, *n)),
        ))
    }

    /// One of the owner's tasks.
    pub(super) fn task(&self, owner: UserId, task: TaskRef) -> Result<Option<Task>, StoreError> {
        match self.task_key(owner, task)? {
            Some(key) => get(&self.trees.tasks, "tasks", &key),
            None => Ok(None),
        }
    }

    /// Changes a task if the precondition holds. Returns the task and whether
    /// it changed. A compare-and-swap on the task's one key: of two racing
    /// writers, the second sees the first's version.
    pub(super) fn update_task(
        &self,
        owner: UserId,
        task: TaskRef,
        patch: &TaskPatch,
        precondition: &Precondition,
    ) -> Result<(Task, bool), StoreError> {
        let Some(key) = self.task_key(owner, task)? else {
            return Err(StoreError::NotFound);
        };
        loop {
            let Some(current) = self.trees.tasks.get(key).map_err(backend)? else {
                return Err(StoreError::NotFound);
            };
            let mut task: Task = decode("tasks", &current)?;
            if !precondition.allows(task.version) {
                return Err(StoreError::VersionMismatch);
            }
            // TODO(i13-sled): the stored anchor, and the successor.
            let mut anchor = task.initial_anchor();
            let applied = task
                .apply(patch.clone(), &mut anchor, Timestamp::now())
                .map_err(StoreError::Invalid)?;
            if !applied.changed {
                return Ok((task, false));
            }
            let swapped = self
                .trees
                .tasks
                .compare_and_swap(key, Some(current), Some(encode(&task)?))
                .map_err(backend)?;
            if swapped.is_ok() {
                self.pages.invalidate(owner);
                return Ok((task, true));
            }
        }
    }

    /// Deletes a task if the precondition holds; its number is not reused.
    /// The task goes first, then (for the highest number) the counter, then
    /// the number index: a crash in between leaves an index entry that
    /// leads nowhere, which reads as not found and still holds its number.
    pub(super) fn delete_task(
        &self,
        owner: UserId,
        task: TaskRef,
        precondition: &Precondition,
    ) -> Result<(), StoreError> {
        let Some(key) = self.task_key(owner, task)? else {
            return Err(StoreError::NotFound);
        };
        self.with_counters(owner, |state| {
            let task = loop {
                let Some(current) = self.trees.tasks.get(key).map_err(backend)? else {
                    return Err(StoreError::NotFound);
                };
                let task: Task = decode("tasks", &current)?;
                if !precondition.allows(task.version) {
                    return Err(StoreError::VersionMismatch);
                }
                let swapped = self
                    .trees
                    .tasks
                    .compare_and_swap(key, Some(current), None::<&[u8]>)
                    .map_err(backend)?;
                if swapped.is_ok() {
                    self.pages.invalidate(owner);
                    break task;
                }
            };
            if task.number + 1 == state.next_number {
                // Its index entry was the highest: keep the number used.
                self.trees
                    .task_counters
                    .insert(owner.as_bytes(), &state.next_number.to_be_bytes())
                    .map_err(backend)?;
            }
            self.trees
                .task_numbers
                .remove(keys::task_number(owner, task.number))
                .map_err(backend)?;
            state.live = state.live.saturating_sub(1);
            Ok(())
        })
    }

    /// A page of the owner's matching tasks, strictly after `after`.
    ///
    /// By creation (the default) it walks the owner's key range from the
    /// cursor and stops after `limit + 1` matches. Other orders read the
    /// owner's range, sort the matches after the cursor and cut the page.
    /// Either way the cost is that user's list, never the database.
    pub(super) fn list_tasks(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
    ) -> Result<TaskPage, StoreError> {
        let raw = self.list_raw(owner, query, after)?;
        let tasks = raw
            .items
            .iter()
            .map(|value| decode("tasks", value))
            .collect::<Result<_, _>>()?;
        Ok(TaskPage {
            tasks,
            next: raw.next,
        })
    }

    /// A first page kept from an earlier identical query, if any; else
    /// where to keep the page about to be built (`None` for a later page:
    /// only first pages are kept, since they are what clients poll).
    pub(super) fn kept_first_page(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
    ) -> Result<TaskPageJson, Option<KeepAs>> {
        if after.is_some() {
            return Err(None);
        }
        let key = format!("{}&limit={}", query.fingerprint(), query.limit);
        match self.pages.get(owner, &key) {
            Ok(page) => Ok(page),
            Err(version) => Err(Some(KeepAs { key, version })),
        }
    }

    /// A page as the API's JSON array: the stored records are the API's own
    /// JSON of each task, so they are copied, not re-encoded. Kept for the
    /// next identical query when `keep` says so.
    pub(super) fn build_page_json(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
        keep: Option<KeepAs>,
    ) -> Result<TaskPageJson, StoreError> {
        let raw = self.list_raw(owner, query, after)?;
        let size = raw.items.iter().map(|v| v.len() + 1).sum::<usize>() + 2;
        let mut tasks = Vec::with_capacity(size);
        tasks.push(b'[');
        for (i, value) in raw.items.iter().enumerate() {
            if i > 0 {
                tasks.push(b',');
            }
            tasks.extend_from_slice(value);
        }
        tasks.push(b']');
        let page = TaskPageJson {
            tasks: tasks.into(),
            count: raw.items.len(),
            next: raw.next,
        };
        if let Some(KeepAs { key, version }) = keep {
            self.pages.put(owner, version, key, page.clone());
        }
        Ok(page)
    }

    /// The stored records of one page. With the default order and no filter
    /// nothing is decoded: the key holds the id, and that is the position.
    fn list_raw(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
    ) -> Result<RawPage, StoreError> {
        let limit = query.limit.max(1);
        let start = keys::task_range_start(owner);
        let end = keys::task_range_end(owner);
        let decode = |value: &[u8]| -> Result<Task, StoreError> { decode("tasks", value) };
        let mut items = Vec::with_capacity(limit + 1);
        let mut positions = Vec::with_capacity(limit + 1);
        if query.sort.field == SortField::Created {
            let cursor = after.map(|p| keys::task(owner, p.id));
            let range: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
                if query.sort.descending {
                    let upper = cursor.map_or(Bound::Included(end), Bound::Excluded);
                    Box::new(
                        self.trees
                            .tasks
                            .range((Bound::Included(start), upper))
                            .rev(),
                    )
                } else {
                    let lower = cursor.map_or(Bound::Included(start), Bound::Excluded);
                    Box::new(self.trees.tasks.range((lower, Bound::Included(end))))
                };
            let filtered = query.has_filters();
            for item in range {
                let (key, value) = item.map_err(backend)?;
                if filtered && !query.matches(&decode(&value)?) {
                    continue;
                }
                let id = key
                    .get(16..)
                    .and_then(keys::id_bytes)
                    .map(TaskId::from_bytes)
                    .ok_or_else(|| damaged("tasks"))?;
                positions.push(Position {
                    key: SortKey::Created,
                    id,
                });
                items.push(value);
                if items.len() > limit {
                    break;
                }
            }
        } else {
            let mut matching = Vec::new();
            for item in self.trees.tasks.range(start..=end) {
                let (_, value) = item.map_err(backend)?;
                let task = decode(&value)?;
                if !query.matches(&task) {
                    continue;
                }
                let position = query.position_of(&task);
                if after.is_none_or(|a| query.compare(&position, a) == Ordering::Greater) {
                    matching.push((position, value));
                }
            }
            matching.sort_by(|a, b| query.compare(&a.0, &b.0));
            for (position, value) in matching.into_iter().take(limit + 1) {
                positions.push(position);
                items.push(value);
            }
        }
        let next = if items.len() > limit {
            items.truncate(limit);
            positions.truncate(limit);
            positions.pop()
        } else {
            None
        };
        Ok(RawPage { items, next })
    }
}

impl Trees {
    /// Removes every task of `owner`, their number index and the owner's
    /// counter, in batches (each atomic within its tree), so a user with
    /// many tasks costs bounded memory. Safe to repeat after a crash.
    pub(super) fn remove_tasks_of(&self, owner: UserId) -> Result<(), StoreError> {
        const BATCH: usize = 10_000;
        for tree in [&self.tasks, &self.task_numbers] {
            loop {
                let mut batch = sled::Batch::default();
                let mut count = 0;
                for key in tree.scan_prefix(owner.as_bytes()).keys().take(BATCH) {
                    batch.remove(key.map_err(backend)?);
                    count += 1;
                }
                if count == 0 {
                    break;
                }
                tree.apply_batch(batch).map_err(backend)?;
            }
        }
        self.task_counters
            .remove(owner.as_bytes())
            .map_err(backend)?;
        Ok(())
    }
}

/// Stored task records of one page, in order.
struct RawPage {
    items: Vec<sled::IVec>,
    next: Option<Position>,
}

/// One owner's task numbering: the next number (persisted in
/// `task_counters`) and the live count (counted once, then kept).
#[derive(Default)]
pub(super) struct Counters {
    loaded: bool,
    next_number: u64,
    live: u64,
}

/// Where a first page is kept: its query and the owner's version when the
/// read began (see `page_cache`).
pub(super) struct KeepAs {
    key: String,
    version: u64,
}

/// Owners' counters; idle ones are dropped when the map grows large.
#[derive(Default)]
pub(super) struct CounterMap(Mutex<HashMap<UserId, Arc<Mutex<Counters>>>>);

/// Owners whose counters stay in memory before idle ones are dropped.
const COUNTERS_KEPT: usize = 100_000;

impl CounterMap {
    fn entry(&self, owner: UserId) -> Arc<Mutex<Counters>> {
        let mut map = lock(&self.0);
        if map.len() >= COUNTERS_KEPT && !map.contains_key(&owner) {
            map.retain(|_, c| Arc::strong_count(c) > 1);
        }
        map.entry(owner).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{open_temp, user};
    use super::*;
    use crate::domain::{Priority, Sort};
    use crate::store::TaskStore;

    fn draft(title: &str) -> TaskDraft {
        TaskDraft::new(title).expect("valid")
    }

    #[tokio::test]
    async fn a_kept_first_page_never_outlives_a_write() {
        let (_dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let bob = user(&store, "bob@example.com").await;
        let query = ListQuery::default();
        let titles = |page: TaskPageJson| -> Vec<String> {
            let tasks: Vec<Task> = serde_json::from_slice(&page.tasks).expect("JSON");
            tasks.into_iter().map(|t| t.title).collect()
        };
        let list = |owner| {
            let (store, query) = (store.clone(), query.clone());
            async move {
                titles(
                    store
                        .list_tasks_json(owner, &query, None)
                        .await
                        .expect("lists"),
                )
            }
        };
        store
            .create_task(ada.id, draft("a"), 10)
            .await
            .expect("creates");
        assert_eq!(list(ada.id).await, ["a"]);
        assert_eq!(list(ada.id).await, ["a"], "served from the cache");
        store
            .create_task(ada.id, draft("b"), 10)
            .await
            .expect("creates");
        assert_eq!(list(ada.id).await, ["a", "b"], "after a create");
        let patch = TaskPatch {
            title: Some(crate::domain::Title::parse("a2").expect("valid")),
            ..TaskPatch::default()
        };
        let none = Precondition::None;
        store
            .update_task(ada.id, TaskRef::Number(1), patch, &none)
            .await
            .expect("updates");
        assert_eq!(list(ada.id).await, ["a2", "b"], "after an update");
        store
            .delete_task(ada.id, TaskRef::Number(2), &none)
            .await
            .expect("deletes");
        assert_eq!(list(ada.id).await, ["a2"], "after a delete");
        store
            .create_task(bob.id, draft("bob's"), 10)
            .await
            .expect("creates");
        assert_eq!(
            list(ada.id).await,
            ["a2"],
            "another owner's write changes nothing"
        );
        assert_eq!(list(bob.id).await, ["bob's"]);
    }

    #[tokio::test]
    async fn lists_page_by_creation_both_ways_and_by_priority() {
        let (_dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let bob = user(&store, "bob@example.com").await;
        let mut created = Vec::new();
        for (i, priority) in [
            Priority::High,
            Priority::None,
            Priority::Low,
            Priority::High,
            Priority::Medium,
        ]
        .into_iter()
        .enumerate()
        {
            let mut d = draft(&format!("task {i}"));
            d.priority = priority;
            created.push(store.create_task(ada.id, d, 100).await.expect("creates"));
            store
                .create_task(bob.id, draft("bob's"), 100)
                .await
                .expect("creates");
        }
        let walk = |sort: &str| {
            let store = store.clone();
            let query = ListQuery::parse(&format!("sort={sort}&limit=2")).expect("valid");
            async move {
                let mut seen = Vec::new();
                let mut after = None;
                loop {
                    let page = store
                        .list_tasks(ada.id, &query, after.as_ref())
                        .await
                        .expect("lists");
                    assert!(page.tasks.len() <= 2);
                    seen.extend(page.tasks.iter().map(|t| t.number));
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break seen,
                    }
                }
            }
        };
        assert_eq!(walk("created").await, vec![1, 2, 3, 4, 5]);
        assert_eq!(walk("-created").await, vec![5, 4, 3, 2, 1]);
        assert_eq!(walk("priority").await, vec![2, 3, 5, 1, 4]);
        assert_eq!(walk("-priority").await, vec![4, 1, 5, 3, 2]);
        assert_eq!(
            ListQuery::parse("sort=-priority").expect("valid").sort,
            Sort::parse("-priority").expect("valid")
        );
        // An exact last page has no next cursor.
        let query = ListQuery::parse("limit=5").expect("valid");
        let page = store.list_tasks(ada.id, &query, None).await.expect("lists");
        assert_eq!((page.tasks.len(), page.next), (5, None));
        assert_eq!(page.tasks, created);
    }
}
