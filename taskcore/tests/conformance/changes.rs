//! The change feed: every write of an owner, in order, each task once at
//! its latest change; full syncs of live tasks; never a skipped change,
//! whatever runs concurrently; deletions pruned after the retention while
//! their ids stay refused.

use crate::recurrence::{completion, recurring};
use crate::support::{Fixture, user};
use crate::tasks::draft;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use taskcore::{
    Change, FeedPosition, Precondition, StoreError, Task, TaskId, TaskPatch, TaskRef, TaskStore,
    Timestamp, Title, UserId,
};

/// Reads the feed from `from` until `more` is false, `limit` at a time:
/// every change read, and where to continue.
pub async fn read_all(
    store: &dyn TaskStore,
    owner: UserId,
    mut from: Option<FeedPosition>,
    limit: usize,
) -> (Vec<Change>, FeedPosition) {
    let mut all = Vec::new();
    loop {
        let page = store
            .changes(owner, from, limit)
            .await
            .expect("reads the feed");
        assert!(
            page.changes.len() <= limit,
            "a page holds at most the limit"
        );
        all.extend(page.changes);
        from = Some(page.next);
        if !page.more {
            return (all, page.next);
        }
    }
}

fn retitle(title: &str) -> TaskPatch {
    TaskPatch {
        title: Some(Title::parse(title).expect("valid")),
        ..TaskPatch::default()
    }
}

/// Changes the title of one of `owner`'s tasks.
async fn retitled(store: &dyn TaskStore, owner: UserId, id: TaskId, title: &str) {
    store
        .update_task(owner, TaskRef::Id(id), retitle(title), &Precondition::None)
        .await
        .expect("updates");
}

/// Deletes one of `owner`'s tasks.
async fn deleted(store: &dyn TaskStore, owner: UserId, task: TaskRef) {
    store
        .delete_task(owner, task, &Precondition::None)
        .await
        .expect("deletes");
}

/// Creates a task of `owner` with this title.
async fn created(store: &dyn TaskStore, owner: UserId, title: &str) -> Task {
    store
        .create_task(owner, draft(title), 100)
        .await
        .expect("creates")
}

/// What a change says, in brief: the task's title and version, or "deleted".
fn brief(change: &Change) -> (TaskId, String) {
    match change {
        Change::Task { task } => (task.id, format!("{} v{}", task.title, task.version)),
        Change::TaskDeleted { id, .. } => (*id, "deleted".to_owned()),
    }
}

pub async fn the_feed_shows_every_kind_of_write_in_order(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    assert_eq!(store.latest_change(ada.id).await.expect("reads"), 0);
    let (empty, start) = read_all(store, ada.id, None, 10).await;
    assert!(empty.is_empty());
    assert_eq!(start, FeedPosition::after(0));

    let milk = created(store, ada.id, "milk").await;
    let eggs = created(store, ada.id, "eggs").await;
    let chosen = TaskId::generate();
    store
        .create_task_with_id(ada.id, chosen, draft("chosen"), 100)
        .await
        .expect("creates");
    let weekly = store
        .create_task(
            ada.id,
            recurring("water", "FREQ=WEEKLY", "2026-12-07T09:00:00Z"),
            100,
        )
        .await
        .expect("creates");
    assert_eq!(store.latest_change(ada.id).await.expect("reads"), 4);
    let (first, cursor) = read_all(store, ada.id, Some(start), 10).await;
    assert_eq!(
        first.iter().map(brief).collect::<Vec<_>>(),
        vec![
            (milk.id, "milk v1".to_owned()),
            (eggs.id, "eggs v1".to_owned()),
            (chosen, "chosen v1".to_owned()),
            (weekly.id, "water v1".to_owned()),
        ]
    );
    assert_eq!(cursor, FeedPosition::after(4));

    // An update, a deletion, a completion that makes a successor.
    retitled(store, ada.id, milk.id, "oat milk").await;
    deleted(store, ada.id, TaskRef::Id(eggs.id)).await;
    store
        .update_task(
            ada.id,
            TaskRef::Id(weekly.id),
            completion(true),
            &Precondition::None,
        )
        .await
        .expect("completes");
    let next = weekly.successor_id().expect("recurring");
    let (later, cursor) = read_all(store, ada.id, Some(cursor), 10).await;
    assert_eq!(
        later.iter().map(brief).collect::<Vec<_>>(),
        vec![
            (milk.id, "oat milk v2".to_owned()),
            (eggs.id, "deleted".to_owned()),
            (weekly.id, "water v2".to_owned()),
            (next, "water v1".to_owned()),
        ]
    );
    match &later[1] {
        Change::TaskDeleted {
            number, deleted_at, ..
        } => {
            assert_eq!(*number, eggs.number);
            assert!(*deleted_at >= eggs.created_at);
        }
        other => panic!("expected a deletion, got {other:?}"),
    }
    // The feed carries each task as a read of it shows it.
    for change in &later {
        if let Change::Task { task } = change {
            let stored = store
                .task(ada.id, TaskRef::Id(task.id))
                .await
                .expect("reads");
            assert_eq!(stored.as_ref(), Some(task));
        }
    }
    // Nothing new: an empty page, and the same place.
    let (none, again) = read_all(store, ada.id, Some(cursor), 10).await;
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(again, cursor);
    // A change that changes nothing is not a change.
    retitled(store, ada.id, milk.id, "oat milk").await;
    assert!(read_all(store, ada.id, Some(cursor), 10).await.0.is_empty());
}

pub async fn each_task_shows_once_at_its_latest_change(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let a = created(store, ada.id, "a").await;
    let b = created(store, ada.id, "b").await;
    let cursor = read_all(store, ada.id, None, 10).await.1;
    // a changes three times, b once in between; c is created and deleted.
    for title in ["a2", "a3"] {
        retitled(store, ada.id, a.id, title).await;
    }
    retitled(store, ada.id, b.id, "b2").await;
    let c = created(store, ada.id, "c").await;
    retitled(store, ada.id, a.id, "a4").await;
    deleted(store, ada.id, TaskRef::Id(c.id)).await;
    let (changes, _) = read_all(store, ada.id, Some(cursor), 10).await;
    assert_eq!(
        changes.iter().map(brief).collect::<Vec<_>>(),
        vec![
            (b.id, "b2 v2".to_owned()),
            (a.id, "a4 v4".to_owned()),
            (c.id, "deleted".to_owned()),
        ]
    );
}

pub async fn a_full_sync_pages_through_live_tasks_only(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let mut live = BTreeMap::new();
    for i in 0..9 {
        let task = created(store, ada.id, &format!("task {i}")).await;
        live.insert(task.id, task);
    }
    for number in [2, 5] {
        deleted(store, ada.id, TaskRef::Number(number)).await;
    }
    live.retain(|_, task| task.number != 2 && task.number != 5);
    let mut pages = 0;
    let mut seen = BTreeMap::new();
    let mut from = None;
    loop {
        let page = store.changes(ada.id, from, 2).await.expect("reads");
        pages += 1;
        for change in page.changes {
            match change {
                Change::Task { task } => assert!(seen.insert(task.id, task).is_none()),
                deleted => panic!("a full sync shows live tasks only: {deleted:?}"),
            }
        }
        from = Some(page.next);
        if !page.more {
            break;
        }
        assert!(page.next.full_until.is_some(), "a full sync goes on as one");
    }
    assert_eq!(seen, live);
    assert_eq!(pages, 4, "7 tasks, 2 a page");
    assert_eq!(
        from,
        Some(FeedPosition::after(11)),
        "9 creates and 2 deletions: the end of a full sync is the latest change"
    );
    // A deletion after the full sync is shown.
    deleted(store, ada.id, TaskRef::Number(1)).await;
    let (after, _) = read_all(store, ada.id, from, 10).await;
    assert!(
        matches!(after.as_slice(), [Change::TaskDeleted { number: 1, .. }]),
        "{after:?}"
    );
}

pub async fn feeds_are_per_owner(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let start = read_all(store, ada.id, None, 10).await.1;
    store
        .create_task(bob.id, draft("bob's"), 100)
        .await
        .expect("creates");
    let shared = TaskId::generate();
    store
        .create_task_with_id(bob.id, shared, draft("bob's chosen"), 100)
        .await
        .expect("creates");
    store
        .create_task_with_id(ada.id, shared, draft("ada's chosen"), 100)
        .await
        .expect("creates");
    store
        .delete_task(bob.id, TaskRef::Id(shared), &Precondition::None)
        .await
        .expect("deletes");
    let (ada_sees, _) = read_all(store, ada.id, Some(start), 10).await;
    assert_eq!(
        ada_sees.iter().map(brief).collect::<Vec<_>>(),
        vec![(shared, "ada's chosen v1".to_owned())]
    );
    assert_eq!(store.latest_change(ada.id).await.expect("reads"), 1);
    assert_eq!(store.latest_change(bob.id).await.expect("reads"), 3);
    assert_eq!(
        store
            .latest_change(UserId::generate())
            .await
            .expect("reads"),
        0
    );
}

pub async fn pruned_deletions_leave_the_feed_and_their_ids_stay_refused(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let old = created(store, ada.id, "old").await;
    let kept = created(store, ada.id, "kept").await;
    let cursor = read_all(store, ada.id, None, 10).await.1;
    deleted(store, ada.id, TaskRef::Id(old.id)).await;
    let before_prune = store.latest_change(ada.id).await.expect("reads");
    assert_eq!(before_prune, 3);
    // Nothing is that old yet.
    assert_eq!(
        store.prune_deletions(old.created_at).await.expect("prunes"),
        0
    );
    assert_eq!(read_all(store, ada.id, Some(cursor), 10).await.0.len(), 1);

    let now = Timestamp::now().plus(std::time::Duration::from_secs(1));
    assert!(store.prune_deletions(now).await.expect("prunes") >= 1);
    assert_eq!(store.prune_deletions(now).await.expect("prunes"), 0, "once");
    assert!(read_all(store, ada.id, Some(cursor), 10).await.0.is_empty());
    // The id stays refused, and the last number stays used.
    let again = store
        .create_task_with_id(ada.id, old.id, draft("again"), 100)
        .await;
    assert!(matches!(again, Err(StoreError::AlreadyExists)), "{again:?}");
    assert_eq!(
        store.latest_change(ada.id).await.expect("reads"),
        before_prune
    );
    retitled(store, ada.id, kept.id, "kept2").await;
    let (after, _) = read_all(store, ada.id, Some(FeedPosition::after(before_prune)), 10).await;
    assert_eq!(
        after.iter().map(brief).collect::<Vec<_>>(),
        vec![(kept.id, "kept2 v2".to_owned())]
    );
    assert_eq!(
        store.latest_change(ada.id).await.expect("reads"),
        before_prune + 1
    );
}

/// Writers create, update and delete while a reader follows the feed in
/// small pages. What the reader ends with, applying every change it read
/// in order, is the final state: nothing was skipped.
pub async fn a_reader_following_concurrent_writers_misses_nothing(f: Fixture) {
    let store = f.store.clone();
    let ada = user(&*store, "ada").await;
    let done = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let mut mine: Vec<TaskId> = Vec::new();
            for i in 0..40u32 {
                match i % 5 {
                    0..=2 => {
                        let task = store
                            .create_task(ada.id, draft(&format!("w{w} t{i}")), 10_000)
                            .await
                            .expect("creates");
                        mine.push(task.id);
                    }
                    3 => {
                        let id = mine[i as usize % mine.len()];
                        match store
                            .update_task(
                                ada.id,
                                TaskRef::Id(id),
                                retitle(&format!("w{w} u{i}")),
                                &Precondition::None,
                            )
                            .await
                        {
                            Ok(_) | Err(StoreError::NotFound) => {}
                            Err(e) => panic!("update failed: {e}"),
                        }
                    }
                    _ => {
                        let id = mine.remove(0);
                        deleted(&*store, ada.id, TaskRef::Id(id)).await;
                    }
                }
            }
        }));
    }
    let reader = {
        let store = store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut state: HashMap<TaskId, Option<Task>> = HashMap::new();
            let mut from = None;
            let mut last_after = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = store.changes(ada.id, from, 7).await.expect("reads");
                assert!(
                    page.next.after >= last_after,
                    "the position never goes back"
                );
                last_after = page.next.after;
                for change in page.changes {
                    match change {
                        Change::Task { task } => {
                            state.insert(task.id, Some(task));
                        }
                        Change::TaskDeleted { id, .. } => {
                            state.insert(id, None);
                        }
                    }
                }
                from = Some(page.next);
                if finished && !page.more {
                    return state;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    for writer in writers {
        writer.await.expect("the writer ran");
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.expect("the reader ran");
    let (final_state, _) = read_all(&*store, ada.id, None, 1000).await;
    let live: HashMap<TaskId, Task> = final_state
        .into_iter()
        .map(|change| match change {
            Change::Task { task } => (task.id, task),
            other => panic!("a full sync shows live tasks only: {other:?}"),
        })
        .collect();
    assert_eq!(
        live.len(),
        4 * 16,
        "each writer keeps 24 created less 8 deleted"
    );
    for (id, task) in &live {
        assert_eq!(
            seen.get(id),
            Some(&Some(task.clone())),
            "the reader has the final state of {id}"
        );
    }
    for (id, state) in &seen {
        if !live.contains_key(id) {
            assert_eq!(state, &None, "the reader saw {id} deleted");
        }
    }
}
