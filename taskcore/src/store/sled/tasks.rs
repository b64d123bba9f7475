//! Tasks: `tasks` (owner ++ task id), `task_numbers` (owner ++ number),
//! `task_counters`, and beside each task what its JSON does not show:
//! `task_anchors` (the anchor of a recurring task's rule),
//! `task_tombstones` (every deleted task) and `task_projects` (the project
//! index).
//!
//! Every lookup is made under the owner's prefix: there is no way to name a
//! task without its owner, so another user's task is simply not found.
//!
//! # Writes
//!
//! sled recovers a prefix of its log after a crash, so a series of plain
//! writes, each durable before the method returns, is as safe as a
//! transaction when every prefix of it is a state readers can live with.
//! Creates and deletes are such series, under the owner's lock (which
//! also keeps the numbering): a create writes its index entries before the
//! task, a delete its tombstone before removing the task and the index
//! entries after. A crash leaves at worst index entries that lead to no
//! task, which readers skip (and a number that stays used, as it must),
//! and never a task that is gone without its tombstone.
//!
//! Most updates are one compare-and-swap on the task's key, without any
//! lock. An update that also writes beside the task (it moves the task to
//! another project, moves its rule's anchor, or completes a recurring task,
//! which creates the successor) is one sled transaction over the task trees
//! instead, under the owner's lock: sled runs a transaction with every
//! other write held off, so the check "no task and no tombstone with the
//! successor's id" and the successor's insertion are one step, and of any
//! number of completions of one occurrence (twice, concurrently, after an
//! uncomplete, after the successor was deleted) exactly one creates it.
//!
//! # The project index
//!
//! `task_projects` holds owner ++ project ++ 0x00 ++ id for each task in a
//! project: in key order, projects by name (byte order, a parent before
//! what is inside it), each in id (creation) order. `sort=project` walks it
//! and then the owner's `tasks` range for the tasks without a project;
//! `project=P` is the two ranges `P` ++ 0x00 and `P.` (see
//! [`Project::subtree_prefix`]). Tasks without a project have no entry, so
//! creating one writes nothing more than before projects existed (an entry
//! for them cost a quarter of the create throughput); `project=-` is a
//! filter on the owner's `tasks` range, like `tag=`. An entry is a hint,
//! checked against the task it names: an entry whose task is gone, or in
//! another project, is skipped.

use super::page_cache::OwnerTasks;
use super::records::{decode, encode};
use super::{
    Inner, Trees, TxResult, abort, backend, damaged, finish, get, keys, lock, tx_decode, tx_encode,
};
use crate::domain::{
    ListQuery, Position, Precondition, Project, ProjectCount, ProjectFilter, SortField, SortKey,
    StatusFilter, Task, TaskDraft, TaskId, TaskPage, TaskPatch, TaskRef, Timestamp, UserId,
    linked_successor, project_counts,
};
use crate::store::{StoreError, TaskJson, TaskPageJson};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex};

/// Whether `task` is the one `reference` names: a number entry can name
/// an id whose task has another number (a create with a chosen id that a
/// crash cut short, then retried), and such an entry leads nowhere.
fn names(reference: TaskRef, task: &Task) -> bool {
    match reference {
        TaskRef::Id(id) => task.id == id,
        TaskRef::Number(number) => task.number == number,
    }
}

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
    pub(super) fn with_counters<T>(
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
            state.last_change = self.trees.last_change_on_disk(owner)?;
            state.durable_change = state.last_change;
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
    /// Plain inserts under the owner's lock, indexes first (the number,
    /// the project index, the anchor of a recurring task), then the task:
    /// sled recovers a prefix of its log, so a task that survives a crash
    /// has its index entries too, and a crash in between leaves entries
    /// that lead nowhere (its number is not reused: the highest index entry
    /// sets the next number). Only deleting the highest-numbered task writes
    /// the counter (`task_counters`), so the number stays used. (A sled
    /// transaction across the trees does this atomically, but cost three
    /// quarters of the durable write throughput under group commit.)
    ///
    /// With a chosen `id` ([`TaskStore::create_task_with_id`]) it first
    /// checks that the owner has no task and no tombstone with that id.
    /// Every write that can give an id to a task of the owner (a create,
    /// a successor's transaction) or take one away (a delete, which writes
    /// the tombstone first) runs under this same lock, so nothing can take
    /// the id between the check and the inserts: of concurrent creates of
    /// one id exactly one gets through. A crash between the index entries
    /// and the task leaves a number entry naming the chosen id, which a
    /// retry then gives to a task with another number: lookups by number
    /// check the task's number for that reason.
    ///
    /// [`TaskStore::create_task_with_id`]: crate::store::TaskStore::create_task_with_id
    pub(super) fn create_task(
        &self,
        owner: UserId,
        id: Option<TaskId>,
        draft: &TaskDraft,
        max_live: u64,
    ) -> Result<Task, StoreError> {
        let t = &self.trees;
        self.with_counters(owner, |state| {
            if let Some(id) = id {
                let key = keys::task(owner, id);
                if t.tasks.contains_key(key).map_err(backend)?
                    || t.task_tombstones.contains_key(key).map_err(backend)?
                {
                    return Err(StoreError::AlreadyExists);
                }
            }
            if state.live >= max_live {
                return Err(StoreError::TaskLimitReached);
            }
            let number = state.next_number;
            // Made under the lock, so generated ids (creation order) follow numbers.
            let id = id.unwrap_or_else(TaskId::generate);
            let task = Task::new(id, number, draft.clone(), Timestamp::now());
            let value = encode(&task)?;
            let key = keys::task(owner, task.id);
            let moved = self.move_in_feed(owner, task.id, state.take_change())?;
            t.task_numbers
                .insert(keys::task_number(owner, number), &task.id.as_bytes()[..])
                .map_err(backend)?;
            if let Some(entry) = project_key(owner, &task) {
                t.task_projects.insert(entry, &[][..]).map_err(backend)?;
            }
            if let Some(anchor) = task.initial_anchor() {
                t.task_anchors
                    .insert(key, &keys::anchor_value(anchor)[..])
                    .map_err(backend)?;
            }
            t.tasks.insert(key, value).map_err(backend)?;
            self.finish_move(moved)?;
            state.next_number = number + 1;
            state.live += 1;
            self.pages.invalidate(owner);
            Ok(task)
        })
    }

    /// How many tasks the owner has, if their counters are in memory
    /// already: a question that must not cost a count of a large owner's
    /// tasks.
    pub(super) fn known_live_task_count(&self, owner: UserId) -> Option<u64> {
        let counters = lock(&self.counters.0).get(&owner).cloned()?;
        let state = lock(&counters);
        state.loaded.then_some(state.live)
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
    /// part of the project index before the tasks without a project, so
    /// the tasks without one cost nothing.
    pub(super) fn projects(&self, owner: UserId) -> Result<Vec<ProjectCount>, StoreError> {
        // Per name: (pending, completed). Entries of one name are adjacent.
        let mut named: BTreeMap<Vec<u8>, (u64, u64)> = BTreeMap::new();
        let range = keys::any_project_range(owner);
        for key in self
            .trees
            .task_projects
            .range(range.start..range.end)
            .keys()
        {
            let key = key.map_err(backend)?;
            let Some((name, id)) = keys::project_key_parts(&key) else {
                return Err(damaged("task_projects"));
            };
            let Some(value) = self
                .trees
                .tasks
                .get(keys::task(owner, id))
                .map_err(backend)?
            else {
                continue;
            };
            let probe = Probe::read(&value)?;
            if probe.project.as_deref().map(str::as_bytes) != Some(name) {
                continue;
            }
            let counts = named.entry(name.to_vec()).or_default();
            if probe.completed {
                counts.1 += 1;
            } else {
                counts.0 += 1;
            }
        }
        let mut projects = Vec::with_capacity(named.len());
        for (name, counts) in named {
            let project = std::str::from_utf8(&name)
                .ok()
                .and_then(|name| Project::parse(name).ok())
                .ok_or_else(|| damaged("task_projects"))?;
            projects.push((project, counts));
        }
        Ok(project_counts(projects.iter().flat_map(
            |(project, (pending, completed))| {
                [(project, false, *pending), (project, true, *completed)]
            },
        )))
    }

    /// One of the owner's tasks.
    pub(super) fn task(&self, owner: UserId, task: TaskRef) -> Result<Option<Task>, StoreError> {
        match self.task_key(owner, task)? {
            Some(key) => {
                Ok(get::<Task>(&self.trees.tasks, "tasks", &key)?
                    .filter(|found| names(task, found)))
            }
            None => Ok(None),
        }
    }

    /// One of the owner's tasks as the stored JSON, which is the API's
    /// (lists send it as it is too): only the fields that check the
    /// reference and make the headers are read.
    pub(super) fn task_json(
        &self,
        owner: UserId,
        reference: TaskRef,
    ) -> Result<Option<TaskJson>, StoreError> {
        let Some(key) = self.task_key(owner, reference)? else {
            return Ok(None);
        };
        let Some(value) = self.trees.tasks.get(key).map_err(backend)? else {
            return Ok(None);
        };
        let head: TaskHead = decode("tasks", &value)?;
        let named = match reference {
            TaskRef::Id(id) => head.id == id,
            TaskRef::Number(number) => head.number == number,
        };
        Ok(named.then(|| TaskJson {
            task: bytes::Bytes::copy_from_slice(&value),
            version: head.version,
            successor: linked_successor(head.id, head.completed, head.series),
        }))
    }

    /// The stored anchor of the task at `key`.
    fn anchor(&self, key: &[u8]) -> Result<Option<Timestamp>, StoreError> {
        match self.trees.task_anchors.get(key).map_err(backend)? {
            Some(value) => keys::anchor_of(&value)
                .map(Some)
                .ok_or_else(|| damaged("task_anchors")),
            None => Ok(None),
        }
    }

    /// Changes a task if the precondition holds. Returns the task and whether
    /// it changed.
    ///
    /// Under the owner's lock, which gives the change its number in the
    /// feed (see `changes.rs`): the feed entry, then the task's one key
    /// (a compare-and-swap), then the old entry goes. A change that writes
    /// beside the task (its project, its anchor, or a successor) is made
    /// by [`update_in_transaction`](Self::update_in_transaction) instead.
    pub(super) fn update_task(
        &self,
        owner: UserId,
        reference: TaskRef,
        patch: &TaskPatch,
        precondition: &Precondition,
    ) -> Result<(Task, bool), StoreError> {
        let Some(key) = self.task_key(owner, reference)? else {
            return Err(StoreError::NotFound);
        };
        self.with_counters(owner, |state| {
            loop {
                let Some(current) = self.trees.tasks.get(key).map_err(backend)? else {
                    return Err(StoreError::NotFound);
                };
                let mut task: Task = decode("tasks", &current)?;
                if !names(reference, &task) {
                    return Err(StoreError::NotFound);
                }
                if !precondition.allows(task.version) {
                    return Err(StoreError::VersionMismatch);
                }
                let stored_anchor = match task.recur {
                    Some(_) => self.anchor(&key)?,
                    None => None,
                };
                let mut anchor = stored_anchor;
                let project_before = task.project.clone();
                let applied = task
                    .apply(patch.clone(), &mut anchor, Timestamp::now())
                    .map_err(StoreError::Invalid)?;
                if !applied.changed {
                    return Ok((task, false));
                }
                let creates_successor = applied.completed_now && task.recur.is_some();
                if creates_successor || anchor != stored_anchor || task.project != project_before {
                    return self.update_in_transaction(owner, key, patch, precondition, state);
                }
                let moved = self.move_in_feed(owner, task.id, state.take_change())?;
                let swapped = self
                    .trees
                    .tasks
                    .compare_and_swap(key, Some(current), Some(encode(&task)?))
                    .map_err(backend)?;
                if swapped.is_ok() {
                    self.finish_move(moved)?;
                    self.pages.invalidate(owner);
                    return Ok((task, true));
                }
                // Only writes under this lock change tasks, so this is not
                // expected; the entry just written names the task's latest
                // number and stays valid, and the change is made again.
            }
        })
    }

    /// [`update_task`](Self::update_task) as one sled transaction over the
    /// task trees, under the owner's lock (which keeps the numbering): the
    /// task, its feed entries, its project index entry and its anchor; and when the change
    /// completes a recurring task, its successor ([`Task::successor`]) with
    /// the owner's next number, number index entry, project index entry
    /// and anchor, unless a task with the successor's id exists or has a
    /// tombstone. sled holds every other write off while a transaction
    /// runs, so that check and the insertion are one step: an occurrence
    /// gets at most one successor, ever.
    ///
    /// The successor is created even when the owner is at the task limit:
    /// completing a task must not fail, and the limit holds for creates.
    fn update_in_transaction(
        &self,
        owner: UserId,
        key: [u8; 32],
        patch: &TaskPatch,
        precondition: &Precondition,
        state: &mut Counters,
    ) -> Result<(Task, bool), StoreError> {
        let now = Timestamp::now();
        let t = &self.trees;
        let change = Change {
            owner,
            key,
            patch,
            precondition,
            next_number: state.next_number,
            next_change: state.last_change + 1,
            now,
        };
        let outcome = finish(
            (
                &t.tasks,
                &t.task_numbers,
                &t.task_anchors,
                &t.task_tombstones,
                &t.task_projects,
                &t.task_changes,
                &t.task_change_numbers,
            )
                .transaction(
                    |(tasks, numbers, anchors, tombstones, projects, changes, change_numbers)| {
                        change.apply(&TaskTrees {
                            tasks,
                            numbers,
                            anchors,
                            tombstones,
                            projects,
                            changes,
                            change_numbers,
                        })
                    },
                ),
        )?;
        if outcome.changed {
            state.take_change();
            self.pages.invalidate(owner);
        }
        if outcome.successor {
            state.take_change();
            state.next_number = change.next_number + 1;
            state.live += 1;
        }
        Ok((outcome.task, outcome.changed))
    }

    /// Deletes a task if the precondition holds; its number is not reused.
    ///
    /// Under the owner's lock, in this order: the feed entry (see
    /// `changes.rs`), the tombstone, the task (a compare-and-swap),
    /// the deletion's place in the pruning index and the old feed entry,
    /// then for the highest number the counter, then the number index, the
    /// project index entry and the anchor. A crash part way leaves a
    /// tombstone for every task that is gone (and, before the task goes,
    /// one for a task that is still there, which only keeps its id from
    /// being issued again, as it is anyway), and index entries that lead
    /// nowhere, which read as not found; the number stays used.
    pub(super) fn delete_task(
        &self,
        owner: UserId,
        reference: TaskRef,
        precondition: &Precondition,
    ) -> Result<(), StoreError> {
        let Some(key) = self.task_key(owner, reference)? else {
            return Err(StoreError::NotFound);
        };
        let t = &self.trees;
        self.with_counters(owner, |state| {
            let task = loop {
                let Some(current) = t.tasks.get(key).map_err(backend)? else {
                    return Err(StoreError::NotFound);
                };
                let task: Task = decode("tasks", &current)?;
                if !names(reference, &task) {
                    return Err(StoreError::NotFound);
                }
                if !precondition.allows(task.version) {
                    return Err(StoreError::VersionMismatch);
                }
                let deleted_at = Timestamp::now();
                let tombstone = keys::tombstone(task.number, deleted_at);
                let moved = self.move_in_feed(owner, task.id, state.take_change())?;
                let previous = t
                    .task_tombstones
                    .insert(key, &tombstone[..])
                    .map_err(backend)?;
                let swapped = t
                    .tasks
                    .compare_and_swap(key, Some(current), None::<&[u8]>)
                    .map_err(backend)?;
                if swapped.is_ok() {
                    self.pages.invalidate(owner);
                    t.task_deletions
                        .insert(keys::task_deletion(deleted_at, owner, task.id), &[][..])
                        .map_err(backend)?;
                    self.finish_move(moved)?;
                    break task;
                }
                // An update came first: the task is still there, so its
                // tombstone goes back to what it was, and the checks run again.
                match previous {
                    Some(previous) => t.task_tombstones.insert(key, previous),
                    None => t.task_tombstones.remove(key),
                }
                .map_err(backend)?;
            };
            if task.number + 1 == state.next_number {
                // Its index entry was the highest: keep the number used.
                t.task_counters
                    .insert(owner.as_bytes(), &state.next_number.to_be_bytes())
                    .map_err(backend)?;
            }
            t.task_numbers
                .remove(keys::task_number(owner, task.number))
                .map_err(backend)?;
            if let Some(entry) = project_key(owner, &task) {
                t.task_projects.remove(entry).map_err(backend)?;
            }
            t.task_anchors.remove(key).map_err(backend)?;
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

    /// The stored records of one page. Which walk serves it:
    ///
    /// - by creation without a project filter: the owner's `tasks` range
    ///   from the cursor, stopping after `limit + 1` matches; with no
    ///   filter at all nothing is decoded (the key holds the id, and that
    ///   is the position);
    /// - by creation with `project=-`: the index's range of tasks without
    ///   a project, which is in id order;
    /// - by creation with `project=P`: the ids in `P` and inside it (keys
    ///   only), sorted, then the tasks from the cursor on;
    /// - by project: the index from the cursor, stopping after `limit + 1`
    ///   matches;
    /// - any other order: the candidates (the owner's tasks, or the ones
    ///   the project filter's index ranges name) sorted after the cursor.
    ///
    /// Either way the cost is that user's list, never the database.
    fn list_raw(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
    ) -> Result<RawPage, StoreError> {
        let limit = query.limit.max(1);
        // A list that reads only its page stays the cheaper walk.
        if !super::list_gate::walks_only_its_page(query)
            && let Some(tasks) = self.small_owner_tasks(owner)?
        {
            let candidates = tasks
                .iter()
                .filter(|(task, _)| query.matches(task))
                .map(|(task, value)| (query.position_of(task), value.clone()))
                .collect();
            return Ok(page_of(query, after, limit, candidates));
        }
        match (query.sort.field, &query.project) {
            // `project=-` is a filter on the owner's range, like `tag=`.
            (SortField::Created, None | Some(ProjectFilter::None)) => {
                self.list_by_key(owner, query, after, limit)
            }
            (SortField::Created, Some(ProjectFilter::Within(project))) => {
                let mut ids = self.ids_within(owner, project)?;
                if query.sort.descending {
                    ids.reverse();
                }
                let mut page = PageBuilder::new(query, limit);
                let filter = query.project.as_ref();
                for id in ids {
                    let past_cursor = after.is_none_or(|a| match query.sort.descending {
                        false => id > a.id,
                        true => id < a.id,
                    });
                    if past_cursor && page.offer(self, owner, id, Expected::Within(filter))? {
                        break;
                    }
                }
                page.finish()
            }
            (SortField::Project, _) => self.list_by_project(owner, query, after, limit),
            (_, Some(ProjectFilter::Within(project))) => {
                let ids = self.ids_within(owner, project)?;
                let mut values = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(value) = self
                        .trees
                        .tasks
                        .get(keys::task(owner, id))
                        .map_err(backend)?
                    {
                        values.push(Ok(value));
                    }
                }
                sorted_page(query, after, limit, values.into_iter())
            }
            (_, None | Some(ProjectFilter::None)) => {
                let range = keys::task_range_start(owner)..=keys::task_range_end(owner);
                let values = self
                    .trees
                    .tasks
                    .range(range)
                    .map(|item| item.map(|(_, value)| value).map_err(backend));
                sorted_page(query, after, limit, values)
            }
        }
    }

    /// All of the owner's tasks, decoded, when they are at most
    /// [`SHORT_WALK`](super::list_gate::SHORT_WALK) by the count in memory:
    /// kept beside the first page until the owner writes (see
    /// `page_cache`). `None` for an owner with more, or not counted yet.
    fn small_owner_tasks(&self, owner: UserId) -> Result<Option<OwnerTasks>, StoreError> {
        let short = super::list_gate::SHORT_WALK;
        if self
            .known_live_task_count(owner)
            .is_none_or(|live| live > short)
        {
            return Ok(None);
        }
        let version = match self.pages.tasks(owner) {
            Ok(tasks) => return Ok(Some(tasks)),
            Err(version) => version,
        };
        let range = keys::task_range_start(owner)..=keys::task_range_end(owner);
        let mut tasks = Vec::new();
        for item in self.trees.tasks.range(range) {
            let (_, value) = item.map_err(backend)?;
            if tasks.len() as u64 == short {
                // More than counted: a create landed meanwhile.
                return Ok(None);
            }
            tasks.push((decode::<Task>("tasks", &value)?, value));
        }
        let tasks: OwnerTasks = tasks.into();
        self.pages.put_tasks(owner, version, tasks.clone());
        Ok(Some(tasks))
    }

    /// By creation, without a project filter: the owner's `tasks` range
    /// in key order from the cursor.
    fn list_by_key(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<RawPage, StoreError> {
        let mut items = Vec::with_capacity(limit + 1);
        let mut positions = Vec::with_capacity(limit + 1);
        let range = self.owner_tasks_from(owner, after.map(|p| p.id), query.sort.descending);
        let filtered = query.has_filters();
        for item in range {
            let (key, value) = item.map_err(backend)?;
            if filtered && !query.matches(&decode("tasks", &value)?) {
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
        Ok(RawPage::cut(items, positions, limit))
    }

    /// By project: the index ranges the filter allows, in the order of the
    /// sort (tasks without a project last in both directions), from the
    /// cursor on.
    fn list_by_project(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<RawPage, StoreError> {
        let descending = query.sort.descending;
        // The index ranges in the order of the walk.
        let ranges = match &query.project {
            None => vec![keys::any_project_range(owner)],
            Some(ProjectFilter::None) => Vec::new(),
            Some(ProjectFilter::Within(project)) => {
                // Exactly `P` sorts before everything inside it.
                let mut ranges = vec![
                    keys::project_exact_range(owner, project.as_str()),
                    keys::project_subtree_range(owner, project.as_str()),
                ];
                if descending {
                    ranges.reverse();
                }
                ranges
            }
        };
        let without_project = matches!(query.project, None | Some(ProjectFilter::None));
        // Where the cursor is: at a task in a project (as an index key), or
        // among the tasks without one, which come last in both directions.
        // A position of another order (which the HTTP layer never passes)
        // reads as the start.
        let (cursor, cursor_in_none) = match after.map(|p| (&p.key, p.id)) {
            Some((SortKey::Project(Some(project)), id)) => {
                (Some(keys::task_project(owner, project.as_str(), id)), false)
            }
            Some((SortKey::Project(None), _)) => (None, true),
            _ => (None, false),
        };
        let mut page = PageBuilder::new(query, limit);
        if !cursor_in_none {
            for range in &ranges {
                if self.walk_index(owner, range, cursor.as_deref(), &mut page)? {
                    return page.finish();
                }
            }
        }
        if without_project {
            let after_id = after.filter(|_| cursor_in_none).map(|p| p.id);
            self.walk_without_project(owner, after_id, &mut page)?;
        }
        page.finish()
    }

    /// The owner's `tasks` range in id order, from the start or strictly
    /// after `after`, backwards when `descending`.
    fn owner_tasks_from(
        &self,
        owner: UserId,
        after: Option<TaskId>,
        descending: bool,
    ) -> Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> {
        let start = Bound::Included(keys::task_range_start(owner));
        let end = Bound::Included(keys::task_range_end(owner));
        let cursor = after.map(|id| Bound::Excluded(keys::task(owner, id)));
        if descending {
            Box::new(self.trees.tasks.range((start, cursor.unwrap_or(end))).rev())
        } else {
            Box::new(self.trees.tasks.range((cursor.unwrap_or(start), end)))
        }
    }

    /// Offers the owner's tasks without a project to `page`, in id order
    /// in the sort's direction, strictly after `after` when given: a walk
    /// over the owner's `tasks` range that stops when the page is full.
    fn walk_without_project(
        &self,
        owner: UserId,
        after: Option<TaskId>,
        page: &mut PageBuilder<'_>,
    ) -> Result<bool, StoreError> {
        let range = self.owner_tasks_from(owner, after, page.query.sort.descending);
        for item in range {
            let (_, value) = item.map_err(backend)?;
            if page.offer_value(value, Expected::Exactly(None))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Offers the tasks of one index range to `page`, in the sort's
    /// direction, strictly after `cursor` (an index key) when given.
    /// Returns whether the page is full.
    fn walk_index(
        &self,
        owner: UserId,
        range: &keys::KeyRange,
        cursor: Option<&[u8]>,
        page: &mut PageBuilder<'_>,
    ) -> Result<bool, StoreError> {
        let descending = page.query.sort.descending;
        let mut lower = Bound::Included(range.start.as_slice());
        let mut upper = Bound::Excluded(range.end.as_slice());
        if let Some(cursor) = cursor {
            match descending {
                false if cursor >= range.end.as_slice() => return Ok(false),
                false if cursor >= range.start.as_slice() => lower = Bound::Excluded(cursor),
                true if cursor < range.start.as_slice() => return Ok(false),
                true if cursor < range.end.as_slice() => upper = Bound::Excluded(cursor),
                _ => {}
            }
        }
        let keys = self
            .trees
            .task_projects
            .range::<&[u8], _>((lower, upper))
            .keys();
        let keys: Box<dyn Iterator<Item = sled::Result<sled::IVec>>> = match descending {
            false => Box::new(keys),
            true => Box::new(keys.rev()),
        };
        for key in keys {
            let key = key.map_err(backend)?;
            let (project, id) =
                keys::project_key_parts(&key).ok_or_else(|| damaged("task_projects"))?;
            if page.offer(self, owner, id, Expected::Exactly(Some(project)))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The ids of the owner's tasks in `project` or inside it, by the
    /// index (keys only), in id order, each once.
    fn ids_within(&self, owner: UserId, project: &Project) -> Result<Vec<TaskId>, StoreError> {
        let mut ids = Vec::new();
        for range in [
            keys::project_exact_range(owner, project.as_str()),
            keys::project_subtree_range(owner, project.as_str()),
        ] {
            for key in self
                .trees
                .task_projects
                .range(range.start..range.end)
                .keys()
            {
                ids.push(index_id(&key.map_err(backend)?)?);
            }
        }
        ids.sort_unstable();
        // A task has one entry, but a crash or an import may have left
        // another, stale one in the same subtree.
        ids.dedup();
        Ok(ids)
    }
}

/// What a project index entry promises about the task it names.
#[derive(Clone, Copy)]
enum Expected<'a> {
    /// That it is in exactly this project (`None`: in none): the entry's
    /// key. An entry whose task moved on is stale.
    Exactly(Option<&'a [u8]>),
    /// That it passes the filter (entries gathered from several ranges).
    Within(Option<&'a ProjectFilter>),
}

impl Expected<'_> {
    fn holds(&self, project: Option<&str>) -> bool {
        match self {
            Self::Exactly(expected) => *expected == project.map(str::as_bytes),
            Self::Within(None) => true,
            Self::Within(Some(ProjectFilter::None)) => project.is_none(),
            Self::Within(Some(ProjectFilter::Within(p))) => {
                project.is_some_and(|name| p.contains_name(name))
            }
        }
    }
}

/// The fields of a stored task that [`Inner::task_json`] reads; serde
/// skips the rest without building it.
#[derive(serde::Deserialize)]
struct TaskHead {
    id: TaskId,
    number: u64,
    version: u64,
    completed: bool,
    #[serde(default)]
    series: Option<TaskId>,
}

/// The fields of a stored task that an index entry is checked against,
/// read without decoding the rest.
#[derive(serde::Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    project: Option<Cow<'a, str>>,
    #[serde(default)]
    completed: bool,
}

impl<'a> Probe<'a> {
    fn read(value: &'a [u8]) -> Result<Self, StoreError> {
        serde_json::from_slice(value).map_err(|e| {
            StoreError::Incompatible(format!("a record in `tasks` is unreadable: {e}"))
        })
    }
}

/// A page gathered from index entries: each entry's task is read, checked
/// against the entry and the query, and kept, until `limit + 1` are.
struct PageBuilder<'q> {
    query: &'q ListQuery,
    limit: usize,
    /// Whether filters other than the project's are set: then each task
    /// is decoded to check them; else only its project is read.
    filtered: bool,
    items: Vec<sled::IVec>,
}

impl<'q> PageBuilder<'q> {
    fn new(query: &'q ListQuery, limit: usize) -> Self {
        Self {
            query,
            limit,
            filtered: query.status != StatusFilter::All
                || query.q.is_some()
                || query.tag.is_some()
                || query.priority.is_some(),
            items: Vec::with_capacity(limit + 1),
        }
    }

    /// Considers the owner's task `id`, which an index entry promises is
    /// `expected`. Returns whether the page is full (`limit + 1` tasks,
    /// one to tell there is more).
    fn offer(
        &mut self,
        inner: &Inner,
        owner: UserId,
        id: TaskId,
        expected: Expected<'_>,
    ) -> Result<bool, StoreError> {
        let Some(value) = inner
            .trees
            .tasks
            .get(keys::task(owner, id))
            .map_err(backend)?
        else {
            // The entry outlived its task (a crash between the writes).
            return Ok(false);
        };
        self.offer_value(value, expected)
    }

    /// Considers a stored task that should be `expected`. Returns whether
    /// the page is full.
    fn offer_value(
        &mut self,
        value: sled::IVec,
        expected: Expected<'_>,
    ) -> Result<bool, StoreError> {
        let keep = if self.filtered {
            let task: Task = decode("tasks", &value)?;
            expected.holds(task.project.as_ref().map(Project::as_str)) && self.query.matches(&task)
        } else {
            let probe = Probe::read(&value)?;
            expected.holds(probe.project.as_deref())
        };
        if keep {
            self.items.push(value);
        }
        Ok(self.items.len() > self.limit)
    }

    /// The page: the first `limit` tasks, and the position of the last of
    /// them when there are more.
    fn finish(mut self) -> Result<RawPage, StoreError> {
        let next = if self.items.len() > self.limit {
            self.items.truncate(self.limit);
            match self.items.last() {
                Some(last) => Some(self.query.position_of(&decode("tasks", last)?)),
                None => None,
            }
        } else {
            None
        };
        Ok(RawPage {
            items: self.items,
            next,
        })
    }
}

/// A page in an order the keys do not have: every candidate that matches
/// and comes after the cursor, sorted, cut after `limit`.
fn sorted_page(
    query: &ListQuery,
    after: Option<&Position>,
    limit: usize,
    values: impl Iterator<Item = Result<sled::IVec, StoreError>>,
) -> Result<RawPage, StoreError> {
    let mut candidates = Vec::new();
    for value in values {
        let value = value?;
        let task: Task = decode("tasks", &value)?;
        if query.matches(&task) {
            candidates.push((query.position_of(&task), value));
        }
    }
    Ok(page_of(query, after, limit, candidates))
}

/// The page of the tasks that match `query`, given with their positions:
/// those after the cursor, in the query's order, cut at `limit`.
fn page_of(
    query: &ListQuery,
    after: Option<&Position>,
    limit: usize,
    candidates: Vec<(Position, sled::IVec)>,
) -> RawPage {
    let mut matching: Vec<_> = candidates
        .into_iter()
        .filter(|(position, _)| {
            after.is_none_or(|a| query.compare(position, a) == Ordering::Greater)
        })
        .collect();
    matching.sort_by(|a, b| query.compare(&a.0, &b.0));
    let mut items = Vec::with_capacity(limit + 1);
    let mut positions = Vec::with_capacity(limit + 1);
    for (position, value) in matching.into_iter().take(limit + 1) {
        positions.push(position);
        items.push(value);
    }
    RawPage::cut(items, positions, limit)
}

/// The task id of a project index key.
fn index_id(key: &[u8]) -> Result<TaskId, StoreError> {
    keys::project_key_parts(key)
        .map(|(_, id)| id)
        .ok_or_else(|| damaged("task_projects"))
}

/// The project index key of a task as it is; none without a project.
fn project_key(owner: UserId, task: &Task) -> Option<Vec<u8>> {
    let project = task.project.as_ref()?;
    Some(keys::task_project(owner, project.as_str(), task.id))
}

/// [`damaged`] inside a transaction.
fn tx_damaged(tree: &str) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(damaged(tree))
}

/// The task trees, inside a transaction.
struct TaskTrees<'a> {
    tasks: &'a TransactionalTree,
    numbers: &'a TransactionalTree,
    anchors: &'a TransactionalTree,
    tombstones: &'a TransactionalTree,
    projects: &'a TransactionalTree,
    changes: &'a TransactionalTree,
    change_numbers: &'a TransactionalTree,
}

/// An update as the transaction makes it (it may run more than once).
struct Change<'a> {
    owner: UserId,
    key: [u8; 32],
    patch: &'a TaskPatch,
    precondition: &'a Precondition,
    /// The owner's next number, for the successor.
    next_number: u64,
    /// The owner's next change number: the task's, then the successor's.
    next_change: u64,
    now: Timestamp,
}

impl Change<'_> {
    /// Reads the task and its anchor, applies the patch, and writes the
    /// task, what moved beside it, and the successor when one is due.
    fn apply(&self, t: &TaskTrees<'_>) -> TxResult<Outcome> {
        let Change { owner, key, .. } = *self;
        let Some(current) = t.tasks.get(key)? else {
            return abort(StoreError::NotFound);
        };
        let mut task: Task = tx_decode("tasks", &current)?;
        if !self.precondition.allows(task.version) {
            return abort(StoreError::VersionMismatch);
        }
        let stored_anchor = match t.anchors.get(key)? {
            Some(value) => Some(keys::anchor_of(&value).ok_or_else(|| tx_damaged("task_anchors"))?),
            None => None,
        };
        let mut anchor = stored_anchor;
        let project_before = task.project.clone();
        let applied = task
            .apply(self.patch.clone(), &mut anchor, self.now)
            .map_err(|e| ConflictableTransactionError::Abort(StoreError::Invalid(e)))?;
        if !applied.changed {
            return Ok(Outcome {
                task,
                changed: false,
                successor: false,
            });
        }
        if task.project != project_before {
            // Both in this one step: no reader sees the task twice or not at all.
            if let Some(entry) = project_key(owner, &task) {
                t.projects.insert(entry, &[][..])?;
            }
            if let Some(before) = &project_before {
                t.projects
                    .remove(keys::task_project(owner, before.as_str(), task.id))?;
            }
        }
        if anchor != stored_anchor {
            match anchor {
                Some(at) => t.anchors.insert(&key[..], &keys::anchor_value(at)[..])?,
                None => t.anchors.remove(&key[..])?,
            };
        }
        t.tasks.insert(&key[..], tx_encode(&task)?)?;
        t.move_in_feed(owner, task.id, self.next_change)?;
        let mut successor = false;
        if applied.completed_now
            && let Some(id) = task.successor_id()
        {
            let next_key = keys::task(owner, id);
            // The one check that makes a second successor impossible: no
            // task has its id, and none ever had (deleted).
            let taken = t.tasks.get(next_key)?.is_some() || t.tombstones.get(next_key)?.is_some();
            if !taken && let Some(next) = task.successor(anchor, self.next_number, self.now) {
                t.numbers.insert(
                    &keys::task_number(owner, next.number)[..],
                    &next.id.as_bytes()[..],
                )?;
                if let Some(entry) = project_key(owner, &next) {
                    t.projects.insert(entry, &[][..])?;
                }
                if let Some(at) = anchor {
                    t.anchors
                        .insert(&next_key[..], &keys::anchor_value(at)[..])?;
                }
                t.tasks.insert(&next_key[..], tx_encode(&next)?)?;
                t.move_in_feed(owner, next.id, self.next_change + 1)?;
                successor = true;
            }
        }
        Ok(Outcome {
            task,
            changed: true,
            successor,
        })
    }
}

impl TaskTrees<'_> {
    /// [`Inner::move_in_feed`] and [`Inner::finish_move`] in one step,
    /// inside the transaction.
    fn move_in_feed(&self, owner: UserId, id: TaskId, change: u64) -> TxResult<()> {
        self.changes
            .insert(&keys::task_change(owner, change)[..], &id.as_bytes()[..])?;
        let replaced = self
            .change_numbers
            .insert(&keys::task(owner, id)[..], &change.to_be_bytes()[..])?;
        if let Some(value) = replaced {
            let old =
                keys::change_of_value(&value).ok_or_else(|| tx_damaged("task_change_numbers"))?;
            self.changes.remove(&keys::task_change(owner, old)[..])?;
        }
        Ok(())
    }
}

/// What the update transaction did.
struct Outcome {
    task: Task,
    changed: bool,
    /// Whether it created the successor.
    successor: bool,
}

impl Trees {
    /// Removes every task of `owner`, their number index, project index,
    /// anchors, tombstones and feed, and the owner's counters (their
    /// entries in `task_deletions` lead nowhere then, and pruning drops them), in batches (each atomic within its tree), so a user with
    /// many tasks costs bounded memory. Safe to repeat after a crash.
    pub(super) fn remove_tasks_of(&self, owner: UserId) -> Result<(), StoreError> {
        const BATCH: usize = 10_000;
        for tree in [
            &self.tasks,
            &self.task_numbers,
            &self.task_projects,
            &self.task_anchors,
            &self.task_tombstones,
            &self.task_changes,
            &self.task_change_numbers,
            &self.task_counters,
        ] {
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
        Ok(())
    }
}

/// Stored task records of one page, in order.
struct RawPage {
    items: Vec<sled::IVec>,
    next: Option<Position>,
}

impl RawPage {
    /// The page of up to `limit + 1` records found in order, with their
    /// positions: the first `limit`, and where the last of them stands
    /// when there were more.
    fn cut(mut items: Vec<sled::IVec>, mut positions: Vec<Position>, limit: usize) -> Self {
        let next = if items.len() > limit {
            items.truncate(limit);
            positions.truncate(limit);
            positions.pop()
        } else {
            None
        };
        Self { items, next }
    }
}

/// One owner's task numbering: the next number (persisted in
/// `task_counters`) and the live count (counted once, then kept).
#[derive(Default)]
pub(super) struct Counters {
    loaded: bool,
    next_number: u64,
    live: u64,
    /// The owner's last change number (see `changes.rs`).
    pub(super) last_change: u64,
    /// Every change up to this number is known to be durable.
    pub(super) durable_change: u64,
}

impl Counters {
    /// Takes the owner's next change number.
    fn take_change(&mut self) -> u64 {
        self.last_change += 1;
        self.last_change
    }
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

    fn in_project(title: &str, project: Option<&str>) -> TaskDraft {
        let mut d = draft(title);
        d.project = project.map(|p| Project::parse(p).expect("valid"));
        d
    }

    fn titles(tasks: &[Task]) -> Vec<&str> {
        tasks.iter().map(|t| t.title.as_str()).collect()
    }

    /// What a crash between the writes of a create or a delete leaves (an
    /// entry whose task is gone), and what an import of a task deleted
    /// before may leave (an entry naming a task that is in another
    /// project now): lists skip both, and count nothing twice.
    #[tokio::test]
    async fn stale_project_index_entries_are_skipped() {
        let (_dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let home = store
            .create_task(ada.id, in_project("home", Some("Home")), 10)
            .await
            .expect("creates");
        let garden = store
            .create_task(ada.id, in_project("garden", Some("Home.Garden")), 10)
            .await
            .expect("creates");
        let loose = store
            .create_task(ada.id, in_project("loose", None), 10)
            .await
            .expect("creates");
        let t = &store.inner.trees;
        for (project, id) in [
            ("Home", TaskId::generate()),
            ("Home", garden.id),
            ("Home.Garden", loose.id),
            ("Work", home.id),
        ] {
            t.task_projects
                .insert(keys::task_project(ada.id, project, id), &[][..])
                .expect("writes");
        }
        store.inner.pages.invalidate(ada.id);
        let list = |q: &str| {
            let store = store.clone();
            let query = ListQuery::parse(q).expect("valid");
            async move {
                let mut all = Vec::new();
                let mut after = None;
                loop {
                    let page = store
                        .list_tasks(ada.id, &query, after.as_ref())
                        .await
                        .expect("lists");
                    all.extend(page.tasks);
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break all,
                    }
                }
            }
        };
        for limit in ["1", "2", "50"] {
            let l = format!("&limit={limit}");
            assert_eq!(
                titles(&list(&format!("project=Home{l}")).await),
                ["home", "garden"]
            );
            assert_eq!(
                titles(&list(&format!("project=Home&sort=-created{l}")).await),
                ["garden", "home"]
            );
            assert_eq!(titles(&list(&format!("project=-{l}")).await), ["loose"]);
            assert!(list(&format!("project=Work{l}")).await.is_empty());
            assert_eq!(
                titles(&list(&format!("sort=project{l}")).await),
                ["home", "garden", "loose"]
            );
            assert_eq!(
                titles(&list(&format!("sort=-project{l}")).await),
                ["garden", "home", "loose"]
            );
            assert_eq!(
                titles(&list(&format!("project=Home&sort=due{l}")).await),
                ["home", "garden"]
            );
            assert_eq!(
                titles(&list(&format!("project=Home&sort=project&status=pending{l}")).await),
                ["home", "garden"]
            );
        }
        let counts: Vec<(String, u64)> = store
            .projects(ada.id)
            .await
            .expect("counts")
            .into_iter()
            .map(|c| (c.name.to_string(), c.pending))
            .collect();
        assert_eq!(counts, [("Home".into(), 2), ("Home.Garden".into(), 1)]);
    }

    /// A task read as its stored JSON is the task the API would encode,
    /// with its version and, for a completed occurrence, its successor.
    #[tokio::test]
    async fn a_task_as_json_is_the_task_encoded() {
        let (_dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let mut d = in_project("water", Some("Home"));
        d.due = Timestamp::parse("2030-01-01T00:00:00Z").ok();
        d.recur = Some(crate::domain::Recur::parse("FREQ=DAILY").expect("valid"));
        let first = store.create_task(ada.id, d, 10).await.expect("creates");
        let done = TaskPatch {
            completed: Some(true),
            ..TaskPatch::default()
        };
        let completed = store
            .update_task(ada.id, TaskRef::Id(first.id), done, &Precondition::None)
            .await
            .expect("completes");
        let plain = store
            .create_task(ada.id, draft("plain"), 10)
            .await
            .expect("creates");
        for (reference, task) in [
            (TaskRef::Id(first.id), &completed),
            (TaskRef::Number(first.number), &completed),
            (TaskRef::Id(plain.id), &plain),
        ] {
            let json = store
                .task_json(ada.id, reference)
                .await
                .expect("reads")
                .expect("found");
            assert_eq!(json, TaskJson::of(task).expect("encodes"), "{reference:?}");
        }
        assert!(completed.linked_successor().is_some());
        assert_eq!(plain.linked_successor(), None);
        let bob = user(&store, "bob@example.com").await;
        assert_eq!(
            store
                .task_json(bob.id, TaskRef::Id(plain.id))
                .await
                .expect("reads"),
            None
        );
        assert_eq!(
            store
                .task_json(ada.id, TaskRef::Number(99))
                .await
                .expect("reads"),
            None
        );
    }

    #[tokio::test]
    async fn deletes_leave_a_tombstone_and_no_index_entry() {
        let (_dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let mut d = in_project("water", Some("Home"));
        d.due = Timestamp::parse("2030-01-01T00:00:00Z").ok();
        d.recur = Some(crate::domain::Recur::parse("FREQ=DAILY").expect("valid"));
        let task = store.create_task(ada.id, d, 10).await.expect("creates");
        let key = keys::task(ada.id, task.id);
        let t = &store.inner.trees;
        assert_eq!(
            t.task_anchors.get(key).expect("reads").as_deref(),
            Some(&keys::anchor_value(task.due.expect("due"))[..])
        );
        let before = Timestamp::now();
        store
            .delete_task(ada.id, TaskRef::Id(task.id), &Precondition::None)
            .await
            .expect("deletes");
        let stone = t
            .task_tombstones
            .get(key)
            .expect("reads")
            .expect("a tombstone");
        assert_eq!(&stone[..8], &1u64.to_be_bytes());
        let deleted_at = i64::from_be_bytes(stone[8..].try_into().expect("8 bytes"));
        assert!(deleted_at >= before.as_micros());
        for tree in [&t.tasks, &t.task_numbers, &t.task_projects, &t.task_anchors] {
            assert!(tree.is_empty());
        }
        // A delete that loses to a precondition leaves no tombstone.
        let other = store
            .create_task(ada.id, draft("kept"), 10)
            .await
            .expect("creates");
        assert!(matches!(
            store
                .delete_task(
                    ada.id,
                    TaskRef::Id(other.id),
                    &Precondition::Versions(vec![9])
                )
                .await,
            Err(StoreError::VersionMismatch)
        ));
        assert_eq!(t.task_tombstones.len(), 1);
    }

    /// The anchor is kept on disk: after a reopen, a successor still steps
    /// from the first task's due, not from a later one that moved.
    #[tokio::test]
    async fn anchors_survive_reopening() {
        let (dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let mut d = draft("weekly");
        d.due = Timestamp::parse("2030-01-07T09:00:00Z").ok();
        d.recur = Some(crate::domain::Recur::parse("FREQ=WEEKLY").expect("valid"));
        let first = store.create_task(ada.id, d, 10).await.expect("creates");
        let done = TaskPatch {
            completed: Some(true),
            ..TaskPatch::default()
        };
        let none = Precondition::None;
        store
            .update_task(ada.id, TaskRef::Id(first.id), done.clone(), &none)
            .await
            .expect("completes");
        let moved = TaskPatch {
            due: Some(Timestamp::parse("2030-01-17T09:00:00Z").ok()),
            ..TaskPatch::default()
        };
        store
            .update_task(ada.id, TaskRef::Number(2), moved, &none)
            .await
            .expect("moves");
        drop(store);
        let store = super::super::test_support::reopen(&dir);
        store
            .update_task(ada.id, TaskRef::Number(2), done, &none)
            .await
            .expect("completes");
        let third = store
            .task(ada.id, TaskRef::Number(3))
            .await
            .expect("reads")
            .expect("the successor");
        assert_eq!(third.due, Timestamp::parse("2030-01-21T09:00:00Z").ok());
        assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 3);
    }
}
