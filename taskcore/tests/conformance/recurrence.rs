//! Recurrence: completing a recurring task creates its successor in the
//! same write, exactly once per occurrence whatever happens.

use crate::list::walk;
use crate::projects::project;
use crate::support::{Fixture, user};
use crate::tasks::draft;
use crate::transfer::export;
use taskcore::{
    Description, ListQuery, Precondition, Priority, Recur, StoreError, Tags, Task, TaskDraft,
    TaskId, TaskPatch, TaskRef, TaskStore, Timestamp, UserId,
};

pub fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("a valid time")
}

/// A recurring draft: `rule` from `due`.
pub fn recurring(title: &str, rule: &str, due: &str) -> TaskDraft {
    let mut d = draft(title);
    d.due = Some(at(due));
    d.recur = Some(Recur::parse(rule).expect("a valid rule"));
    d
}

pub fn completion(done: bool) -> TaskPatch {
    TaskPatch {
        completed: Some(done),
        ..TaskPatch::default()
    }
}

async fn set_done(store: &dyn TaskStore, owner: UserId, id: TaskId, done: bool) -> Task {
    store
        .update_task(
            owner,
            TaskRef::Id(id),
            completion(done),
            &Precondition::None,
        )
        .await
        .expect("updates")
}

async fn get(store: &dyn TaskStore, owner: UserId, id: TaskId) -> Option<Task> {
    store.task(owner, TaskRef::Id(id)).await.expect("reads")
}

/// The successor of `task`, which must exist.
async fn successor(store: &dyn TaskStore, owner: UserId, task: &Task) -> Task {
    let id = task.successor_id().expect("a recurring task");
    get(store, owner, id).await.expect("the successor exists")
}

/// Every task of the owner, by creation.
async fn all(store: &dyn TaskStore, owner: UserId) -> Vec<Task> {
    walk(store, owner, &ListQuery::parse("limit=200").expect("valid")).await
}

/// Completes the task, then its successor, and so on while there is one;
/// returns the due dates of the tasks created, in order.
/// The due dates of the successors of a new series (title, rule, first
/// due), completing each occurrence in turn, at most `most` of them.
async fn series_dues(
    store: &dyn TaskStore,
    owner: UserId,
    (title, rule, due): (&str, &str, &str),
    most: usize,
) -> Vec<String> {
    let first = store
        .create_task(owner, recurring(title, rule, due), 100)
        .await
        .expect("creates");
    dues_of_series(store, owner, &first, most).await
}

async fn dues_of_series(
    store: &dyn TaskStore,
    owner: UserId,
    first: &Task,
    most: usize,
) -> Vec<String> {
    let mut dues = Vec::new();
    let mut current = first.clone();
    for _ in 0..most {
        let done = set_done(store, owner, current.id, true).await;
        let Some(id) = done.successor_id() else { break };
        let Some(next) = get(store, owner, id).await else {
            break;
        };
        dues.push(next.due.expect("a due date").to_string());
        current = next;
    }
    dues
}

pub async fn completing_creates_the_successor_in_the_same_write(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let mut d = recurring(
        "Water the plants",
        "freq=weekly;byday=mo",
        "2030-01-07T09:00:00.123456Z",
    );
    d.description = Description::parse("the big ones\ntoo").expect("valid");
    d.priority = Priority::High;
    d.tags = Tags::parse(["home", "garden"]).expect("valid");
    d.project = Some(project("Home.Garden"));
    let first = store.create_task(ada.id, d, 100).await.expect("creates");
    assert_eq!(
        first.recur.as_ref().map(ToString::to_string).as_deref(),
        Some("FREQ=WEEKLY;BYDAY=MO")
    );
    assert_eq!(
        first.series,
        Some(first.id),
        "the first task starts its series"
    );
    // A millisecond on at least: ids order by creation to the millisecond.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let other = store
        .create_task(ada.id, draft("other"), 100)
        .await
        .expect("creates");
    store
        .create_task(bob.id, draft("bob's"), 100)
        .await
        .expect("creates");

    let done = set_done(store, ada.id, first.id, true).await;
    assert!(done.completed && done.completed_at.is_some());
    assert_eq!(done.version, 2);
    let next = successor(store, ada.id, &done).await;
    assert_eq!(next.number, 3, "the owner's next number");
    assert_eq!(next.due, Some(at("2030-01-14T09:00:00.123456Z")));
    assert_eq!(
        (
            next.title.as_str(),
            next.description.as_str(),
            next.priority
        ),
        ("Water the plants", "the big ones\ntoo", Priority::High)
    );
    assert_eq!(next.tags, first.tags);
    assert_eq!(next.project, first.project);
    assert_eq!(next.recur, first.recur);
    assert_eq!(next.series, Some(first.id));
    assert_eq!(
        (next.completed, next.completed_at, next.version),
        (false, None, 1)
    );
    assert_eq!(next.created_at, next.updated_at);
    assert_eq!(
        store.task(ada.id, TaskRef::Number(3)).await.expect("reads"),
        Some(next.clone()),
        "reachable by its number"
    );
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 3);
    assert_eq!(store.live_task_count(bob.id).await.expect("counts"), 1);
    // The successor sorts right after the task it follows, and shows in
    // its project.
    let listed: Vec<TaskId> = all(store, ada.id).await.iter().map(|t| t.id).collect();
    assert_eq!(listed, [first.id, next.id, other.id]);
    let garden = walk(
        store,
        ada.id,
        &ListQuery::parse("project=Home&sort=-project").expect("valid"),
    )
    .await;
    assert_eq!(
        garden.iter().map(|t| t.id).collect::<Vec<_>>(),
        [next.id, first.id]
    );
    let counts = store.projects(ada.id).await.expect("counts");
    assert_eq!(
        (
            counts[0].name.as_str(),
            counts[0].pending,
            counts[0].completed
        ),
        ("Home", 1, 1)
    );
    // Numbering goes on after it.
    let later = store
        .create_task(ada.id, draft("later"), 100)
        .await
        .expect("creates");
    assert_eq!(later.number, 4);
    // Completing it by a full replacement (PUT) works the same.
    let mut put = recurring(
        "Water the plants",
        "FREQ=WEEKLY;BYDAY=MO",
        "2030-01-14T09:00:00.123456Z",
    );
    put.completed = true;
    put.project = next.project.clone();
    let replaced = store
        .update_task(
            ada.id,
            TaskRef::Id(next.id),
            put.into_patch(),
            &Precondition::None,
        )
        .await
        .expect("replaces");
    assert_eq!(
        (replaced.series, replaced.completed),
        (Some(first.id), true)
    );
    let third = successor(store, ada.id, &replaced).await;
    assert_eq!(
        (third.number, third.due),
        (5, Some(at("2030-01-21T09:00:00.123456Z")))
    );
    assert_eq!(third.series, Some(first.id));
    // A task that does not recur gets nothing.
    set_done(store, ada.id, other.id, true).await;
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 5);
}

pub async fn nothing_is_created_once_the_rule_has_no_later_date(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    assert_eq!(
        series_dues(
            store,
            ada.id,
            ("thrice", "FREQ=DAILY;COUNT=3", "2030-01-01T08:00:00Z"),
            10
        )
        .await,
        ["2030-01-02T08:00:00Z", "2030-01-03T08:00:00Z"],
        "COUNT counts the first task"
    );
    assert_eq!(
        series_dues(
            store,
            ada.id,
            (
                "until",
                "FREQ=WEEKLY;UNTIL=20300115T080000Z",
                "2030-01-01T08:00:00Z"
            ),
            10
        )
        .await,
        ["2030-01-08T08:00:00Z", "2030-01-15T08:00:00Z"],
        "UNTIL is inclusive"
    );
    let once = store
        .create_task(
            ada.id,
            recurring("once", "FREQ=YEARLY;COUNT=1", "2030-01-01T08:00:00Z"),
            100,
        )
        .await
        .expect("creates");
    assert!(dues_of_series(store, ada.id, &once, 10).await.is_empty());
    // Every number went to a task: 3 + 3 + 1.
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 7);
    let next = store
        .create_task(ada.id, draft("next"), 100)
        .await
        .expect("creates");
    assert_eq!(next.number, 8);
}

pub async fn month_ends_and_last_weekdays_follow_the_rule(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    assert_eq!(
        series_dues(
            store,
            ada.id,
            ("31st", "FREQ=MONTHLY;BYMONTHDAY=31", "2030-01-31T12:00:00Z"),
            4
        )
        .await,
        [
            "2030-03-31T12:00:00Z",
            "2030-05-31T12:00:00Z",
            "2030-07-31T12:00:00Z",
            "2030-08-31T12:00:00Z"
        ],
        "months without a 31st are skipped"
    );
    assert_eq!(
        series_dues(
            store,
            ada.id,
            ("monthly", "FREQ=MONTHLY", "2030-01-31T12:00:00Z"),
            2
        )
        .await,
        ["2030-03-31T12:00:00Z", "2030-05-31T12:00:00Z"],
        "the anchor's day of the month, skipping months without it"
    );
    assert_eq!(
        series_dues(
            store,
            ada.id,
            (
                "last friday",
                "FREQ=MONTHLY;BYDAY=-1FR",
                "2030-01-25T17:00:00Z"
            ),
            4
        )
        .await,
        [
            "2030-02-22T17:00:00Z",
            "2030-03-29T17:00:00Z",
            "2030-04-26T17:00:00Z",
            "2030-05-31T17:00:00Z"
        ]
    );
}

pub async fn a_rule_whose_next_date_is_too_far_ends_the_series(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    // 101 years: past the horizon of 100.
    let far = store
        .create_task(
            ada.id,
            recurring("far", "FREQ=YEARLY;INTERVAL=101", "2030-01-01T00:00:00Z"),
            100,
        )
        .await
        .expect("creates");
    assert!(dues_of_series(store, ada.id, &far, 3).await.is_empty());
    // Never: 29 February every fourth year from a year that is not a leap year.
    let never = store
        .create_task(
            ada.id,
            recurring(
                "never",
                "FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29",
                "2029-03-01T00:00:00Z",
            ),
            100,
        )
        .await
        .expect("creates");
    assert!(dues_of_series(store, ada.id, &never, 3).await.is_empty());
    // Near the end of time: nothing past 9999.
    let last = store
        .create_task(
            ada.id,
            recurring("last", "FREQ=YEARLY", "9999-06-01T00:00:00Z"),
            100,
        )
        .await
        .expect("creates");
    assert!(dues_of_series(store, ada.id, &last, 3).await.is_empty());
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 3);
}

pub async fn an_occurrence_has_one_successor_whatever_happens(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let first = store
        .create_task(
            ada.id,
            recurring("daily", "FREQ=DAILY", "2030-01-01T07:00:00Z"),
            100,
        )
        .await
        .expect("creates");
    let done = set_done(store, ada.id, first.id, true).await;
    let next = successor(store, ada.id, &done).await;
    assert_eq!(next.number, 2);
    // Completing it again: no change, nothing new.
    let again = set_done(store, ada.id, first.id, true).await;
    assert_eq!(again, done);
    // Uncompleting keeps the successor; completing again makes no other.
    let undone = set_done(store, ada.id, first.id, false).await;
    assert!(!undone.completed && undone.completed_at.is_none());
    assert_eq!(get(store, ada.id, next.id).await, Some(next.clone()));
    let redone = set_done(store, ada.id, first.id, true).await;
    assert_eq!(redone.version, 4);
    assert_eq!(get(store, ada.id, next.id).await, Some(next.clone()));
    // Even with its due moved in between (the successor hangs on the task, not the date).
    let moved = TaskPatch {
        due: Some(Some(at("2030-01-03T07:00:00Z"))),
        completed: Some(false),
        ..TaskPatch::default()
    };
    store
        .update_task(ada.id, TaskRef::Id(first.id), moved, &Precondition::None)
        .await
        .expect("updates");
    set_done(store, ada.id, first.id, true).await;
    assert_eq!(all(store, ada.id).await.len(), 2);
    // The successor deleted: completing its predecessor again does not bring it back.
    store
        .delete_task(ada.id, TaskRef::Id(next.id), &Precondition::None)
        .await
        .expect("deletes");
    set_done(store, ada.id, first.id, false).await;
    set_done(store, ada.id, first.id, true).await;
    assert_eq!(get(store, ada.id, next.id).await, None);
    assert_eq!(
        all(store, ada.id)
            .await
            .iter()
            .map(|t| t.id)
            .collect::<Vec<_>>(),
        [first.id]
    );
    // Deleting a task leaves the rest of its series; the series goes on from the others.
    let lone = store
        .create_task(
            ada.id,
            recurring("weekly", "FREQ=WEEKLY", "2030-01-01T07:00:00Z"),
            100,
        )
        .await
        .expect("creates");
    let lone_next = successor(store, ada.id, &set_done(store, ada.id, lone.id, true).await).await;
    store
        .delete_task(ada.id, TaskRef::Id(lone.id), &Precondition::None)
        .await
        .expect("deletes");
    assert_eq!(
        get(store, ada.id, lone_next.id).await,
        Some(lone_next.clone())
    );
    let third = successor(
        store,
        ada.id,
        &set_done(store, ada.id, lone_next.id, true).await,
    )
    .await;
    assert_eq!(third.due, Some(at("2030-01-15T07:00:00Z")));
    assert_eq!(third.series, Some(lone.id));
    // Numbers: 1, 2 (deleted), 3, 4, 5; nothing else was ever issued.
    let probe = store
        .create_task(ada.id, draft("probe"), 100)
        .await
        .expect("creates");
    assert_eq!(probe.number, 6);
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 4);
}

pub async fn concurrent_completions_create_one_successor(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let mut firsts = Vec::new();
    for i in 0..4 {
        let due = format!("2030-01-0{}T07:00:00Z", i + 1);
        let task = store
            .create_task(
                ada.id,
                recurring(&format!("race {i}"), "FREQ=DAILY", &due),
                100,
            )
            .await
            .expect("creates");
        firsts.push(task);
    }
    // Eight writers per task at once, from completing and from replacing.
    let mut writers = Vec::new();
    for task in &firsts {
        for w in 0..8 {
            let store = f.store.clone();
            let task = task.clone();
            writers.push(tokio::spawn(async move {
                let patch = if w % 2 == 0 {
                    completion(true)
                } else {
                    let mut d = recurring(
                        &task.title,
                        "FREQ=DAILY",
                        &task.due.expect("due").to_string(),
                    );
                    d.completed = true;
                    d.into_patch()
                };
                store
                    .update_task(ada.id, TaskRef::Id(task.id), patch, &Precondition::None)
                    .await
                    .expect("updates")
            }));
        }
    }
    for w in writers {
        assert!(w.await.expect("joins").completed);
    }
    let tasks = all(store, ada.id).await;
    assert_eq!(tasks.len(), 8, "one successor per task");
    for first in &firsts {
        let done = get(store, ada.id, first.id).await.expect("there");
        assert_eq!(
            done.version, 2,
            "one write completed it; the others changed nothing"
        );
        let next = successor(store, ada.id, &done).await;
        assert_eq!(
            next.due
                .map(|d| d.as_micros() - first.due.expect("due").as_micros()),
            Some(86_400_000_000)
        );
    }
    let mut numbers: Vec<u64> = tasks.iter().map(|t| t.number).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=8).collect::<Vec<_>>(),
        "no number lost to a duplicate"
    );
    // And with an uncompleting writer against completing ones.
    let task = firsts[0].clone();
    let next = successor(
        store,
        ada.id,
        &get(store, ada.id, task.id).await.expect("there"),
    )
    .await;
    let mut writers = Vec::new();
    for w in 0..12 {
        let store = f.store.clone();
        writers.push(tokio::spawn(async move {
            store
                .update_task(
                    ada.id,
                    TaskRef::Id(task.id),
                    completion(w % 2 == 0),
                    &Precondition::None,
                )
                .await
                .expect("updates")
        }));
    }
    for w in writers {
        w.await.expect("joins");
    }
    assert_eq!(get(store, ada.id, next.id).await, Some(next));
    assert_eq!(all(store, ada.id).await.len(), 8);
    let probe = store
        .create_task(ada.id, draft("probe"), 100)
        .await
        .expect("creates");
    assert_eq!(probe.number, 9);
}

pub async fn edits_affect_the_task_and_the_successors_after_it(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let first = store
        .create_task(
            ada.id,
            recurring("weekly", "FREQ=WEEKLY", "2030-01-07T09:00:00Z"),
            100,
        )
        .await
        .expect("creates");
    let second = successor(
        store,
        ada.id,
        &set_done(store, ada.id, first.id, true).await,
    )
    .await;
    assert_eq!(second.due, Some(at("2030-01-14T09:00:00Z")));
    // A later task's due moved: the series still steps from the first due.
    let moved = TaskPatch {
        due: Some(Some(at("2030-01-16T09:00:00Z"))),
        ..TaskPatch::default()
    };
    store
        .update_task(ada.id, TaskRef::Id(second.id), moved, &Precondition::None)
        .await
        .expect("moves");
    let third = successor(
        store,
        ada.id,
        &set_done(store, ada.id, second.id, true).await,
    )
    .await;
    assert_eq!(third.due, Some(at("2030-01-21T09:00:00Z")), "Mondays still");
    // A new rule: it steps from this task's due from now on.
    let daily = TaskPatch {
        recur: Some(Some(Recur::parse("FREQ=DAILY;INTERVAL=2").expect("valid"))),
        due: Some(Some(at("2030-01-22T10:30:00Z"))),
        ..TaskPatch::default()
    };
    let changed = store
        .update_task(ada.id, TaskRef::Id(third.id), daily, &Precondition::None)
        .await
        .expect("changes the rule");
    assert_eq!(changed.series, Some(first.id), "the series stays");
    let fourth = successor(
        store,
        ada.id,
        &set_done(store, ada.id, third.id, true).await,
    )
    .await;
    assert_eq!(fourth.due, Some(at("2030-01-24T10:30:00Z")));
    assert_eq!(fourth.recur, changed.recur);
    // The earlier tasks kept theirs.
    assert_eq!(
        get(store, ada.id, first.id).await.expect("there").recur,
        first.recur
    );
    // A rule that stops: completing makes nothing; a rule again starts from the due.
    let stop = TaskPatch {
        recur: Some(None),
        ..TaskPatch::default()
    };
    let stopped = store
        .update_task(ada.id, TaskRef::Id(fourth.id), stop, &Precondition::None)
        .await
        .expect("stops");
    assert_eq!(
        (stopped.recur.clone(), stopped.series),
        (None, Some(first.id))
    );
    let count = all(store, ada.id).await.len();
    set_done(store, ada.id, fourth.id, true).await;
    assert_eq!(
        all(store, ada.id).await.len(),
        count,
        "no rule, no successor"
    );
    // A task that gets a rule starts its own series.
    let plain = store
        .create_task(ada.id, draft("plain"), 100)
        .await
        .expect("creates");
    let ruled = TaskPatch {
        recur: Some(Some(Recur::parse("FREQ=MONTHLY").expect("valid"))),
        due: Some(Some(at("2030-03-15T00:00:00Z"))),
        ..TaskPatch::default()
    };
    let ruled = store
        .update_task(ada.id, TaskRef::Id(plain.id), ruled, &Precondition::None)
        .await
        .expect("gets a rule");
    assert_eq!(ruled.series, Some(plain.id));
    let next = successor(
        store,
        ada.id,
        &set_done(store, ada.id, plain.id, true).await,
    )
    .await;
    assert_eq!(next.due, Some(at("2030-04-15T00:00:00Z")));
    // The first task's due moved: its successors step from there.
    let anchor_moved = store
        .create_task(
            ada.id,
            recurring("first moves", "FREQ=WEEKLY", "2030-01-07T09:00:00Z"),
            100,
        )
        .await
        .expect("creates");
    let moved = TaskPatch {
        due: Some(Some(at("2030-01-09T09:00:00Z"))),
        ..TaskPatch::default()
    };
    store
        .update_task(
            ada.id,
            TaskRef::Id(anchor_moved.id),
            moved,
            &Precondition::None,
        )
        .await
        .expect("moves");
    let next = successor(
        store,
        ada.id,
        &set_done(store, ada.id, anchor_moved.id, true).await,
    )
    .await;
    assert_eq!(next.due, Some(at("2030-01-16T09:00:00Z")), "Wednesdays now");
}

pub async fn rules_that_span_fields_are_checked_against_the_stored_task(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let task = store
        .create_task(
            ada.id,
            recurring("daily", "FREQ=DAILY", "2030-01-01T07:00:00Z"),
            100,
        )
        .await
        .expect("creates");
    let clear_due = TaskPatch {
        due: Some(None),
        ..TaskPatch::default()
    };
    let err = store
        .update_task(ada.id, TaskRef::Id(task.id), clear_due, &Precondition::None)
        .await
        .expect_err("a recurring task needs a due date");
    match err {
        StoreError::Invalid(errors) => assert_eq!(errors.0[0].field, "due"),
        other => panic!("unexpected {other}"),
    }
    let until_before = TaskPatch {
        recur: Some(Some(
            Recur::parse("FREQ=DAILY;UNTIL=20291231T000000Z").expect("valid"),
        )),
        ..TaskPatch::default()
    };
    assert!(matches!(
        store
            .update_task(
                ada.id,
                TaskRef::Id(task.id),
                until_before,
                &Precondition::None
            )
            .await,
        Err(StoreError::Invalid(_))
    ));
    let plain = store
        .create_task(ada.id, draft("plain"), 100)
        .await
        .expect("creates");
    let no_due = TaskPatch {
        recur: Some(Some(Recur::parse("FREQ=DAILY").expect("valid"))),
        ..TaskPatch::default()
    };
    assert!(matches!(
        store
            .update_task(ada.id, TaskRef::Id(plain.id), no_due, &Precondition::None)
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(get(store, ada.id, task.id).await, Some(task));
    assert_eq!(get(store, ada.id, plain.id).await, Some(plain));
}

pub async fn a_successor_is_created_even_at_the_task_limit(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let first = store
        .create_task(
            ada.id,
            recurring("daily", "FREQ=DAILY", "2030-01-01T07:00:00Z"),
            1,
        )
        .await
        .expect("creates");
    assert!(matches!(
        store.create_task(ada.id, draft("over"), 1).await,
        Err(StoreError::TaskLimitReached)
    ));
    let done = set_done(store, ada.id, first.id, true).await;
    successor(store, ada.id, &done).await;
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 2);
    assert!(matches!(
        store.create_task(ada.id, draft("over"), 2).await,
        Err(StoreError::TaskLimitReached)
    ));
}

pub async fn recurring_tasks_move_between_stores_with_their_anchor(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let mut d = recurring("weekly", "FREQ=WEEKLY", "2030-01-07T09:00:00Z");
    d.project = Some(project("Home"));
    let first = store.create_task(ada.id, d, 100).await.expect("creates");
    let second = successor(
        store,
        ada.id,
        &set_done(store, ada.id, first.id, true).await,
    )
    .await;
    // Its due moved off the rule: only the anchor says Mondays.
    let moved = TaskPatch {
        due: Some(Some(at("2030-01-16T09:00:00Z"))),
        ..TaskPatch::default()
    };
    store
        .update_task(ada.id, TaskRef::Id(second.id), moved, &Precondition::None)
        .await
        .expect("moves");
    let (records, sent) = export(store).await;
    assert_eq!(sent.tasks, 2);
    let other = f.fresh().await;
    let moved_to = &*other.store;
    moved_to.import(records).await.expect("imports");
    let third = successor(
        moved_to,
        ada.id,
        &set_done(moved_to, ada.id, second.id, true).await,
    )
    .await;
    assert_eq!(
        third.due,
        Some(at("2030-01-21T09:00:00Z")),
        "the anchor came along"
    );
    assert_eq!(third.number, 3);
    let home = walk(
        moved_to,
        ada.id,
        &ListQuery::parse("project=Home&sort=project").expect("valid"),
    )
    .await;
    assert_eq!(home.len(), 3, "the project index came along");
    // The successor of the first task exists there too: completing it again makes none.
    set_done(moved_to, ada.id, first.id, false).await;
    set_done(moved_to, ada.id, first.id, true).await;
    assert_eq!(moved_to.live_task_count(ada.id).await.expect("counts"), 3);
}
