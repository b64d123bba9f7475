//! Task numbering, limits, isolation and preconditions.

use crate::support::{Fixture, user};
use taskcore::{
    ListQuery, Precondition, StoreError, TaskDraft, TaskPatch, TaskRef, TaskStore, Title,
};

pub fn draft(title: &str) -> TaskDraft {
    TaskDraft::new(title).expect("valid")
}

fn retitle(title: &str) -> TaskPatch {
    TaskPatch {
        title: Some(Title::parse(title).expect("valid")),
        ..TaskPatch::default()
    }
}

pub async fn numbers_count_per_user_and_are_never_reused(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let a1 = store
        .create_task(ada.id, draft("a1"), 100)
        .await
        .expect("creates");
    let a2 = store
        .create_task(ada.id, draft("a2"), 100)
        .await
        .expect("creates");
    let b1 = store
        .create_task(bob.id, draft("b1"), 100)
        .await
        .expect("creates");
    assert_eq!((a1.number, a2.number, b1.number), (1, 2, 1));
    assert_eq!(
        (a1.version, a1.created_at, a1.completed_at),
        (1, a1.updated_at, None)
    );
    assert_eq!(
        store.task(ada.id, TaskRef::Id(a1.id)).await.expect("reads"),
        Some(a1.clone())
    );
    assert_eq!(
        store.task(ada.id, TaskRef::Number(2)).await.expect("reads"),
        Some(a2.clone())
    );
    // The highest number deleted: it is not issued again.
    store
        .delete_task(ada.id, TaskRef::Number(2), &Precondition::None)
        .await
        .expect("deletes");
    let a3 = store
        .create_task(ada.id, draft("a3"), 100)
        .await
        .expect("creates");
    assert_eq!(a3.number, 3);
    assert!(
        store
            .task(ada.id, TaskRef::Number(2))
            .await
            .expect("reads")
            .is_none()
    );
    assert_eq!(
        store.task(ada.id, TaskRef::Number(3)).await.expect("reads"),
        Some(a3.clone())
    );
    store
        .delete_task(ada.id, TaskRef::Id(a3.id), &Precondition::None)
        .await
        .expect("deletes");
    store
        .delete_task(ada.id, TaskRef::Id(a1.id), &Precondition::None)
        .await
        .expect("deletes");
    let a4 = store
        .create_task(ada.id, draft("a4"), 100)
        .await
        .expect("creates");
    assert_eq!(a4.number, 4);
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 1);
    assert_eq!(store.live_task_count(bob.id).await.expect("counts"), 1);
    // A completed draft records when.
    let mut done = draft("done");
    done.completed = true;
    let done = store.create_task(bob.id, done, 100).await.expect("creates");
    assert_eq!(done.completed_at, Some(done.created_at));
    assert_eq!(
        store.task(bob.id, TaskRef::Number(2)).await.expect("reads"),
        Some(done)
    );
    // Concurrent creates of one user get distinct, consecutive numbers.
    let creates: Vec<_> = (0..8)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move {
                store
                    .create_task(ada.id, draft(&format!("c{i}")), 100)
                    .await
            })
        })
        .collect();
    let mut numbers = Vec::new();
    for c in creates {
        numbers.push(c.await.expect("joins").expect("creates").number);
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (5..13).collect::<Vec<_>>());
}

pub async fn the_limit_counts_live_tasks(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    for i in 0..3 {
        store
            .create_task(ada.id, draft(&format!("t{i}")), 3)
            .await
            .expect("creates");
    }
    assert!(matches!(
        store.create_task(ada.id, draft("over"), 3).await,
        Err(StoreError::TaskLimitReached)
    ));
    store
        .delete_task(ada.id, TaskRef::Number(1), &Precondition::None)
        .await
        .expect("deletes");
    let next = store
        .create_task(ada.id, draft("room"), 3)
        .await
        .expect("creates");
    assert_eq!(next.number, 4);
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 3);
    // Concurrent creates at the edge: never more than the limit.
    let creates: Vec<_> = (0..6)
        .map(|_| {
            let store = f.store.clone();
            tokio::spawn(async move { store.create_task(ada.id, draft("x"), 5).await })
        })
        .collect();
    let mut created = 0;
    for c in creates {
        match c.await.expect("joins") {
            Ok(_) => created += 1,
            Err(StoreError::TaskLimitReached) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(created, 2);
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 5);
}

pub async fn users_are_isolated(f: Fixture) {
    let store: &dyn TaskStore = &*f.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let mine = store
        .create_task(ada.id, draft("ada's"), 10)
        .await
        .expect("creates");
    let bobs = store.tasks_of(bob.id);
    assert_eq!(bobs.get(TaskRef::Id(mine.id)).await.expect("reads"), None);
    assert_eq!(bobs.get(TaskRef::Number(1)).await.expect("reads"), None);
    for target in [TaskRef::Id(mine.id), TaskRef::Number(1)] {
        assert!(matches!(
            bobs.update(target, retitle("mine now"), &Precondition::None)
                .await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            bobs.delete(target, &Precondition::Any).await,
            Err(StoreError::NotFound)
        ));
    }
    let page = bobs.list(&ListQuery::default(), None).await.expect("lists");
    assert!(page.tasks.is_empty() && page.next.is_none());
    assert_eq!(bobs.count().await.expect("counts"), 0);
    // Bob's own first task is his number 1, and Ada's is untouched.
    let his = bobs.create(draft("bob's"), 10).await.expect("creates");
    assert_eq!(his.number, 1);
    assert_eq!(
        store.task(ada.id, TaskRef::Number(1)).await.expect("reads"),
        Some(mine)
    );
    assert!(matches!(
        store
            .create_task(taskcore::UserId::generate(), draft("ghost"), 10)
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn if_match_preconditions(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let task = store
        .create_task(ada.id, draft("a"), 10)
        .await
        .expect("creates");
    let id = TaskRef::Id(task.id);
    let v = |versions: &[u64]| Precondition::Versions(versions.to_vec());
    assert!(matches!(
        store.update_task(ada.id, id, retitle("b"), &v(&[2])).await,
        Err(StoreError::VersionMismatch)
    ));
    assert!(matches!(
        store.update_task(ada.id, id, retitle("b"), &v(&[])).await,
        Err(StoreError::VersionMismatch)
    ));
    let updated = store
        .update_task(ada.id, id, retitle("b"), &v(&[3, 1]))
        .await
        .expect("updates");
    assert_eq!((updated.title.as_str(), updated.version), ("b", 2));
    assert!(updated.updated_at >= task.updated_at);
    assert_eq!(
        store.task(ada.id, id).await.expect("reads"),
        Some(updated.clone())
    );
    // No change, no new version.
    let same = store
        .update_task(ada.id, id, retitle("b"), &Precondition::Any)
        .await
        .expect("ok");
    assert_eq!(same, updated);
    let done = TaskPatch {
        completed: Some(true),
        ..TaskPatch::default()
    };
    let done = store
        .update_task(ada.id, TaskRef::Number(1), done, &Precondition::None)
        .await
        .expect("ok");
    assert_eq!(
        (done.version, done.completed_at),
        (3, Some(done.updated_at))
    );
    assert!(matches!(
        store.delete_task(ada.id, id, &v(&[2])).await,
        Err(StoreError::VersionMismatch)
    ));
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 1);
    store
        .delete_task(ada.id, id, &v(&[3]))
        .await
        .expect("deletes");
    assert!(matches!(
        store.delete_task(ada.id, id, &Precondition::Any).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .update_task(ada.id, id, retitle("c"), &Precondition::None)
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 0);
}

pub async fn concurrent_conditional_updates_have_one_winner(f: Fixture) {
    let ada = user(&*f.store, "ada").await;
    let task = f
        .store
        .create_task(ada.id, draft("a"), 10)
        .await
        .expect("creates");
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move {
                store
                    .update_task(
                        ada.id,
                        TaskRef::Id(task.id),
                        retitle(&format!("w{i}")),
                        &Precondition::Versions(vec![1]),
                    )
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for w in writers {
        match w.await.expect("joins") {
            Ok(t) => {
                assert_eq!(t.version, 2);
                won += 1;
            }
            Err(StoreError::VersionMismatch) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(won, 1);
    // Conditional deletes racing: one wins, the rest see the task gone or changed.
    let deleters: Vec<_> = (0..4)
        .map(|_| {
            let store = f.store.clone();
            tokio::spawn(async move {
                store
                    .delete_task(
                        ada.id,
                        TaskRef::Id(task.id),
                        &Precondition::Versions(vec![2]),
                    )
                    .await
            })
        })
        .collect();
    let mut deleted = 0;
    for d in deleters {
        match d.await.expect("joins") {
            Ok(()) => deleted += 1,
            Err(StoreError::NotFound) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(deleted, 1);
    assert_eq!(f.store.live_task_count(ada.id).await.expect("counts"), 0);
}

pub async fn many_concurrent_creates_number_in_creation_order(f: Fixture) {
    let ada = user(&*f.store, "ada").await;
    let creates: Vec<_> = (0..64)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move {
                store
                    .create_task(ada.id, draft(&format!("c{i}")), 1_000)
                    .await
            })
        })
        .collect();
    for c in creates {
        c.await.expect("joins").expect("creates");
    }
    let page = f
        .store
        .list_tasks(ada.id, &ListQuery::parse("limit=100").expect("query"), None)
        .await
        .expect("lists");
    let numbers: Vec<u64> = page.tasks.iter().map(|t| t.number).collect();
    assert_eq!(
        numbers,
        (1..=64).collect::<Vec<_>>(),
        "listed in creation order, the numbers run 1 to 64 without gaps"
    );
    assert_eq!(f.store.live_task_count(ada.id).await.expect("counts"), 64);
}
