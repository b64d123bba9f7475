//! Creating a task with an id the client chose: once per id per owner,
//! ever, whatever retries and races happen.

use crate::recurrence::{completion, recurring};
use crate::support::{Fixture, user};
use crate::tasks::draft;
use taskcore::{Precondition, StoreError, Task, TaskId, TaskRef, TaskStore, UserId};

async fn get(store: &dyn TaskStore, owner: UserId, task: TaskRef) -> Option<Task> {
    store.task(owner, task).await.expect("reads")
}

pub async fn a_chosen_id_is_created_once_and_numbered_by_the_server(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    for title in ["one", "two"] {
        store
            .create_task(ada.id, draft(title), 100)
            .await
            .expect("creates");
    }
    // The highest number deleted: the chosen-id create still goes past it.
    store
        .delete_task(ada.id, TaskRef::Number(2), &Precondition::None)
        .await
        .expect("deletes");
    let id = TaskId::generate();
    let task = store
        .create_task_with_id(ada.id, id, draft("chosen"), 100)
        .await
        .expect("creates");
    assert_eq!((task.id, task.number, task.version), (id, 3, 1));
    assert_eq!(task.title, "chosen");
    assert_eq!(
        get(store, ada.id, TaskRef::Id(id)).await,
        Some(task.clone())
    );
    assert_eq!(
        get(store, ada.id, TaskRef::Number(3)).await,
        Some(task.clone())
    );

    // Again (a retry): refused, and nothing changed.
    let again = store
        .create_task_with_id(ada.id, id, draft("chosen again"), 100)
        .await;
    assert!(matches!(again, Err(StoreError::AlreadyExists)), "{again:?}");
    assert_eq!(
        get(store, ada.id, TaskRef::Id(id)).await,
        Some(task.clone())
    );
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 2);
    // No number was taken by the refused create.
    let next = store
        .create_task(ada.id, draft("next"), 100)
        .await
        .expect("creates");
    assert_eq!(next.number, 4);

    // Deleted: still refused, ever.
    store
        .delete_task(ada.id, TaskRef::Id(id), &Precondition::None)
        .await
        .expect("deletes");
    let after_delete = store
        .create_task_with_id(ada.id, id, draft("back"), 100)
        .await;
    assert!(
        matches!(after_delete, Err(StoreError::AlreadyExists)),
        "{after_delete:?}"
    );
    assert_eq!(get(store, ada.id, TaskRef::Id(id)).await, None);
    assert_eq!(get(store, ada.id, TaskRef::Number(3)).await, None);
    // An id the server generated counts the same.
    let generated = store
        .create_task_with_id(ada.id, next.id, draft("copy"), 100)
        .await;
    assert!(
        matches!(generated, Err(StoreError::AlreadyExists)),
        "{generated:?}"
    );
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 2);
}

pub async fn chosen_ids_are_per_owner(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let live = TaskId::generate();
    let deleted = TaskId::generate();
    let ada_live = store
        .create_task_with_id(ada.id, live, draft("ada's"), 100)
        .await
        .expect("creates");
    store
        .create_task_with_id(ada.id, deleted, draft("ada's gone"), 100)
        .await
        .expect("creates");
    store
        .delete_task(ada.id, TaskRef::Id(deleted), &Precondition::None)
        .await
        .expect("deletes");
    // Bob's tasks with the same ids are his own, numbered from his 1.
    let bob_live = store
        .create_task_with_id(bob.id, live, draft("bob's"), 100)
        .await
        .expect("creates: ada's task plays no part");
    let bob_deleted = store
        .create_task_with_id(bob.id, deleted, draft("bob's too"), 100)
        .await
        .expect("creates: ada's tombstone plays no part");
    assert_eq!((bob_live.number, bob_deleted.number), (1, 2));
    assert_eq!(
        get(store, ada.id, TaskRef::Id(live)).await,
        Some(ada_live),
        "ada's task is untouched"
    );
    assert_eq!(get(store, ada.id, TaskRef::Id(deleted)).await, None);
    assert_eq!(
        get(store, bob.id, TaskRef::Id(live)).await,
        Some(bob_live.clone())
    );
    // Deleting bob's leaves ada's.
    store
        .delete_task(bob.id, TaskRef::Id(live), &Precondition::None)
        .await
        .expect("deletes");
    assert!(get(store, ada.id, TaskRef::Id(live)).await.is_some());
    // A new user may take an id everyone else has used.
    let cy = user(store, "cy").await;
    store
        .create_task_with_id(cy.id, live, draft("cy's"), 100)
        .await
        .expect("creates");
}

pub async fn concurrent_creates_of_one_id_have_one_winner(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    for round in 0..3 {
        let id = TaskId::generate();
        let mut racers = Vec::new();
        for i in 0..12 {
            let store = f.store.clone();
            racers.push(tokio::spawn(async move {
                // Plain creates race alongside, for the numbering.
                if i % 3 == 2 {
                    return store
                        .create_task(ada.id, draft("plain"), 1000)
                        .await
                        .map(|t| (false, t));
                }
                store
                    .create_task_with_id(ada.id, id, draft(&format!("racer {i}")), 1000)
                    .await
                    .map(|t| (true, t))
            }));
        }
        let mut winners = 0;
        for racer in racers {
            match racer.await.expect("joins") {
                Ok((true, task)) => {
                    assert_eq!(task.id, id);
                    winners += 1;
                }
                Ok((false, _)) => {}
                Err(StoreError::AlreadyExists) => {}
                Err(e) => panic!("round {round}: {e:?}"),
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
    // 3 winners and 12 plain creates, numbered 1 to 15 without a gap.
    let mut numbers = Vec::new();
    for n in 1..=20 {
        if let Some(task) = get(store, ada.id, TaskRef::Number(n)).await {
            numbers.push(task.number);
        }
    }
    assert_eq!(numbers, (1..=15).collect::<Vec<_>>());
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 15);
}

pub async fn the_limit_holds_but_a_taken_id_answers_first(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let first = TaskId::generate();
    store
        .create_task_with_id(ada.id, first, draft("one"), 2)
        .await
        .expect("creates");
    store
        .create_task(ada.id, draft("two"), 2)
        .await
        .expect("creates");
    let full = store
        .create_task_with_id(ada.id, TaskId::generate(), draft("three"), 2)
        .await;
    assert!(
        matches!(full, Err(StoreError::TaskLimitReached)),
        "{full:?}"
    );
    // A retry of the create that got through learns that it did.
    let retry = store
        .create_task_with_id(ada.id, first, draft("one"), 2)
        .await;
    assert!(matches!(retry, Err(StoreError::AlreadyExists)), "{retry:?}");
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 2);
    // Deleting one frees a slot, as for any create.
    store
        .delete_task(ada.id, TaskRef::Number(2), &Precondition::None)
        .await
        .expect("deletes");
    let third = store
        .create_task_with_id(ada.id, TaskId::generate(), draft("three"), 2)
        .await
        .expect("creates");
    assert_eq!(third.number, 3);
}

pub async fn a_recurring_task_with_a_chosen_id_starts_its_series(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let id = TaskId::generate();
    let task = store
        .create_task_with_id(
            ada.id,
            id,
            recurring("water plants", "FREQ=DAILY", "2030-01-01T07:00:00Z"),
            100,
        )
        .await
        .expect("creates");
    assert_eq!(task.series, Some(id));
    store
        .update_task(
            ada.id,
            TaskRef::Id(id),
            completion(true),
            &Precondition::None,
        )
        .await
        .expect("completes");
    let next_id = task.successor_id().expect("recurring");
    let next = get(store, ada.id, TaskRef::Id(next_id))
        .await
        .expect("the successor exists");
    assert_eq!((next.series, next.number), (Some(id), 2));
    assert_eq!(
        next.due.map(|d| d.to_string()).as_deref(),
        Some("2030-01-02T07:00:00Z"),
        "it steps from the chosen-id task's anchor"
    );
    // The successor's id is taken as well.
    let taken = store
        .create_task_with_id(ada.id, next_id, draft("squatter"), 100)
        .await;
    assert!(matches!(taken, Err(StoreError::AlreadyExists)), "{taken:?}");
}
