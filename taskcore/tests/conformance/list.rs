//! Listing: filters, orders, keyset cursors.

use crate::support::{Fixture, user};
use crate::tasks::draft;
use std::collections::HashSet;
use taskcore::{
    Description, ListQuery, Position, Precondition, Priority, Sort, SortField, StatusFilter, Tags,
    Task, TaskId, TaskPatch, TaskRef, TaskStore, Timestamp, UserId,
};

const TITLES: [&str; 6] = ["Buy milk", "alpha", "Alpha", "Ärger", "beta", "gamma MILK"];

/// Twelve tasks covering ties, missing due dates, case and non-ASCII text.
async fn seed(store: &dyn TaskStore, owner: UserId) -> Vec<Task> {
    let mut tasks = Vec::new();
    for i in 0..12usize {
        let mut d = draft(TITLES[i % TITLES.len()]);
        d.description =
            Description::parse(["", "MILK please", "äh", "note"][i % 4]).expect("valid");
        d.priority = Priority::ALL[i % 4];
        d.completed = i % 3 == 0;
        d.due = match i % 4 {
            0 => None,
            1 => Timestamp::from_micros(1_900_000_000_000_000),
            2 => Timestamp::from_micros(1_800_000_000_123_456),
            _ => Timestamp::from_micros(1_850_000_000_000_000 + i as i64),
        };
        d.tags = Tags::parse(["a", "b", "C"].into_iter().take(i % 4)).expect("valid");
        tasks.push(store.create_task(owner, d, 100).await.expect("creates"));
    }
    // Some changes, so `updated` differs from `created`.
    for i in [2usize, 0, 6] {
        let patch = TaskPatch {
            priority: Some(Priority::High),
            ..TaskPatch::default()
        };
        let target = TaskRef::Id(tasks[i].id);
        tasks[i] = store
            .update_task(owner, target, patch, &Precondition::None)
            .await
            .expect("ok");
    }
    tasks
}

/// Every page of a query, `limit` at a time, checking each page's cursor.
pub async fn walk(store: &dyn TaskStore, owner: UserId, query: &ListQuery) -> Vec<Task> {
    let mut all = Vec::new();
    let mut after: Option<Position> = None;
    for _ in 0..100 {
        let page = store
            .list_tasks(owner, query, after.as_ref())
            .await
            .expect("lists");
        assert!(page.tasks.len() <= query.limit);
        all.extend(page.tasks);
        match page.next {
            Some(next) => {
                assert_eq!(
                    Some(&next),
                    all.last().map(|t| query.position_of(t)).as_ref()
                );
                after = Some(next);
            }
            None => return all,
        }
    }
    panic!("the walk does not end");
}

pub async fn every_filter_and_order_matches_the_model(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let tasks = seed(store, ada.id).await;
    store
        .create_task(bob.id, draft("bob's milk"), 10)
        .await
        .expect("creates");
    let fields = [
        SortField::Created,
        SortField::Due,
        SortField::Priority,
        SortField::Title,
        SortField::Updated,
    ];
    let filters: [(Option<&str>, Option<&str>, Option<Priority>); 5] = [
        (None, None, None),
        (Some("milk"), None, None),
        (Some("ä"), None, None),
        (None, Some("b"), None),
        (Some("a"), Some("a"), Some(Priority::High)),
    ];
    let mut checked = 0;
    for status in [
        StatusFilter::All,
        StatusFilter::Pending,
        StatusFilter::Completed,
    ] {
        for field in fields {
            for descending in [false, true] {
                for (q, tag, priority) in filters {
                    let query = ListQuery {
                        status,
                        q: q.map(str::to_owned),
                        tag: tag.map(str::to_owned),
                        priority,
                        project: None,
                        sort: Sort { field, descending },
                        limit: 3,
                        cursor: None,
                    };
                    let mut expected: Vec<Task> =
                        tasks.iter().filter(|t| query.matches(t)).cloned().collect();
                    expected.sort_by(|a, b| {
                        query.compare(&query.position_of(a), &query.position_of(b))
                    });
                    let got = walk(store, ada.id, &query).await;
                    assert_eq!(got, expected, "{}", query.fingerprint());
                    checked += usize::from(!expected.is_empty());
                }
            }
        }
    }
    assert!(checked > 100, "most queries match something ({checked})");
    // One page with everything: no cursor.
    let all = store
        .list_tasks(
            ada.id,
            &ListQuery {
                limit: 12,
                ..ListQuery::default()
            },
            None,
        )
        .await
        .expect("lists");
    assert_eq!((all.tasks.len(), all.next), (12, None));
    let json = store
        .list_tasks_json(ada.id, &ListQuery::default(), None)
        .await
        .expect("lists");
    let decoded: Vec<Task> = serde_json::from_slice(&json.tasks).expect("JSON");
    assert_eq!((decoded, json.count), (tasks.clone(), 12));
}

pub async fn a_cursor_walk_sees_each_task_once_despite_writes(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    seed(store, ada.id).await;
    for sort in [
        "created",
        "-created",
        "due",
        "-due",
        "title",
        "-priority",
        "updated",
    ] {
        let query = ListQuery {
            limit: 2,
            sort: Sort::parse(sort).expect("valid"),
            ..ListQuery::default()
        };
        let start: Vec<TaskId> = walk(store, ada.id, &query)
            .await
            .iter()
            .map(|t| t.id)
            .collect();
        let mut seen: Vec<TaskId> = Vec::new();
        let mut deleted: HashSet<TaskId> = HashSet::new();
        let mut after: Option<Position> = None;
        let mut round = 0;
        loop {
            let page = store
                .list_tasks(ada.id, &query, after.as_ref())
                .await
                .expect("lists");
            seen.extend(page.tasks.iter().map(|t| t.id));
            let Some(next) = page.next else { break };
            after = Some(next);
            // Between pages: delete one task not seen yet, add a new one.
            if let Some(victim) = start
                .iter()
                .rev()
                .find(|id| !seen.contains(id) && !deleted.contains(id))
            {
                store
                    .delete_task(ada.id, TaskRef::Id(*victim), &Precondition::None)
                    .await
                    .expect("deletes");
                deleted.insert(*victim);
            }
            let mut d = draft(&format!("new {round}"));
            d.due = Timestamp::from_micros(1_850_000_000_000_000);
            store.create_task(ada.id, d, 1_000).await.expect("creates");
            round += 1;
        }
        let unique: HashSet<TaskId> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: a task came twice");
        for id in &start {
            assert_eq!(seen.contains(id), !deleted.contains(id), "{sort}: {id}");
        }
        assert!(!deleted.is_empty());
        // Put the seed back for the next order.
        let query_all = ListQuery {
            limit: 200,
            ..ListQuery::default()
        };
        for t in store
            .list_tasks(ada.id, &query_all, None)
            .await
            .expect("lists")
            .tasks
        {
            store
                .delete_task(ada.id, TaskRef::Id(t.id), &Precondition::None)
                .await
                .expect("deletes");
        }
        seed(store, ada.id).await;
    }
}
