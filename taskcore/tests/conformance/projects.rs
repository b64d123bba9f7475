//! Projects: the field, the `project=` filter with its hierarchy,
//! `sort=project`, the per-user counts, and tag edits that merge.

use crate::list::walk;
use crate::support::{Fixture, user};
use crate::tasks::draft;
use std::collections::HashSet;
use taskcore::{
    ListQuery, Position, Precondition, Priority, Project, ProjectCount, StoreError, Tags, Task,
    TaskPatch, TaskRef, TaskStore, Timestamp, UserId,
};

pub fn project(name: &str) -> Project {
    Project::parse(name).expect("a valid project")
}

fn move_to(name: Option<&str>) -> TaskPatch {
    TaskPatch {
        project: Some(name.map(project)),
        ..TaskPatch::default()
    }
}

/// Where each seeded task goes: a tree with look-alikes beside it (`Home-x`
/// sorts between `Home` and `Home.Garden`, `Homework` after them).
const PLACES: [Option<&str>; 12] = [
    Some("Home"),
    Some("Home.Garden"),
    None,
    Some("Homework"),
    Some("Home-x"),
    Some("Home.Garden.Beds"),
    Some("Work"),
    None,
    Some("Home"),
    Some("Été.Café"),
    Some("Home.Garden"),
    Some("Hom"),
];

/// Tasks in every place, some completed, some high priority; and another
/// user's tasks in the same projects, which must never show.
async fn seed(store: &dyn TaskStore, owner: UserId, other: UserId) -> Vec<Task> {
    let mut tasks = Vec::new();
    for (i, place) in PLACES.iter().enumerate() {
        let mut d = draft(&format!("task {i}"));
        d.project = place.map(project);
        d.completed = i % 3 == 1;
        d.priority = if i % 2 == 0 {
            Priority::High
        } else {
            Priority::None
        };
        d.due = Timestamp::from_micros(1_900_000_000_000_000 - i as i64);
        tasks.push(store.create_task(owner, d, 100).await.expect("creates"));
        let mut theirs = draft("not yours");
        theirs.project = place.map(project);
        store
            .create_task(other, theirs, 100)
            .await
            .expect("creates");
    }
    tasks
}

/// What a query must return: the model's filter and order.
fn expected(tasks: &[Task], query: &ListQuery) -> Vec<Task> {
    let mut matching: Vec<Task> = tasks.iter().filter(|t| query.matches(t)).cloned().collect();
    matching.sort_by(|a, b| query.compare(&query.position_of(a), &query.position_of(b)));
    matching
}

fn names(tasks: &[Task]) -> Vec<Option<&str>> {
    tasks
        .iter()
        .map(|t| t.project.as_ref().map(Project::as_str))
        .collect()
}

pub async fn project_fields_round_trip(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let mut d = draft("plant");
    d.project = Some(project("Home.Garden"));
    let task = store.create_task(ada.id, d, 10).await.expect("creates");
    assert_eq!(task.project, Some(project("Home.Garden")));
    assert_eq!((task.recur.clone(), task.series), (None, None));
    let plain = store
        .create_task(ada.id, draft("plain"), 10)
        .await
        .expect("creates");
    assert_eq!(plain.project, None);
    assert_eq!(
        store
            .task(ada.id, TaskRef::Id(task.id))
            .await
            .expect("reads"),
        Some(task.clone())
    );
    // The JSON lists show every field, null ones too.
    let page = store
        .list_tasks_json(ada.id, &ListQuery::default(), None)
        .await
        .expect("lists");
    let json: serde_json::Value = serde_json::from_slice(&page.tasks).expect("JSON");
    assert_eq!(json[0]["project"], "Home.Garden");
    for field in ["project", "recur", "series"] {
        assert!(json[1][field].is_null(), "{field} in {}", json[1]);
    }
    let listed: Vec<Task> = serde_json::from_value(json).expect("tasks");
    assert_eq!(listed, [task.clone(), plain.clone()]);
    // Moved, and out of any project.
    let none = Precondition::None;
    let moved = store
        .update_task(ada.id, TaskRef::Id(task.id), move_to(Some("Work")), &none)
        .await
        .expect("moves");
    assert_eq!(
        (moved.project.clone(), moved.version),
        (Some(project("Work")), 2)
    );
    let same = store
        .update_task(ada.id, TaskRef::Id(task.id), move_to(Some("Work")), &none)
        .await
        .expect("no change");
    assert_eq!(same, moved, "moving to where it is changes nothing");
    let out = store
        .update_task(ada.id, TaskRef::Number(1), move_to(None), &none)
        .await
        .expect("moves out");
    assert_eq!((out.project.clone(), out.version), (None, 3));
    assert_eq!(
        store.task(ada.id, TaskRef::Number(1)).await.expect("reads"),
        Some(out)
    );
    // A precondition that fails moves nothing.
    let stale = Precondition::Versions(vec![2]);
    assert!(matches!(
        store
            .update_task(ada.id, TaskRef::Number(1), move_to(Some("Home")), &stale)
            .await,
        Err(StoreError::VersionMismatch)
    ));
    let query = ListQuery::parse("project=Home").expect("valid");
    assert!(walk(store, ada.id, &query).await.is_empty());
}

pub async fn the_project_filter_takes_a_project_and_what_is_inside_it(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let tasks = seed(store, ada.id, bob.id).await;

    let home = walk(
        store,
        ada.id,
        &ListQuery::parse("project=Home").expect("valid"),
    )
    .await;
    assert_eq!(
        names(&home),
        [
            Some("Home"),
            Some("Home.Garden"),
            Some("Home.Garden.Beds"),
            Some("Home"),
            Some("Home.Garden")
        ],
        "Home and what is inside it, by creation; not Homework, Home-x or Hom"
    );
    let none = walk(
        store,
        ada.id,
        &ListQuery::parse("project=-").expect("valid"),
    )
    .await;
    assert_eq!(
        none.iter().map(|t| t.number).collect::<Vec<_>>(),
        [3, 8],
        "project=- is the tasks without one"
    );
    let everything = walk(store, ada.id, &ListQuery::parse("project=").expect("valid")).await;
    assert_eq!(everything, tasks, "an empty project= is no filter");

    // Every filter with every order, a page of one, two and five at a time.
    let filters = [
        "project=Home",
        "project=Home.Garden",
        "project=Home.Garden.Beds",
        "project=Homework",
        "project=Hom",
        "project=Ho",
        "project=-",
        "project=Été",
        "project=Nowhere",
        "project=Home&status=completed",
        "project=Home&priority=high",
        "project=-&status=pending",
        "project=Home&q=task%201",
        "status=pending",
    ];
    let sorts = [
        "created", "-created", "project", "-project", "due", "-due", "title", "priority",
    ];
    for filter in filters {
        for sort in sorts {
            for limit in [1, 2, 5] {
                let text = format!("{filter}&sort={sort}&limit={limit}");
                let query = ListQuery::parse(&text).expect("valid");
                let got = walk(store, ada.id, &query).await;
                assert_eq!(got, expected(&tasks, &query), "{text}");
                // The JSON lists say the same.
                let page = store
                    .list_tasks_json(ada.id, &query, None)
                    .await
                    .expect("lists");
                let first: Vec<Task> = serde_json::from_slice(&page.tasks).expect("JSON");
                assert_eq!(first.as_slice(), &got[..got.len().min(limit)], "{text}");
            }
        }
    }

    // Moves are seen at once by every filter; deleted tasks leave them.
    let none = Precondition::None;
    let mut tasks = tasks;
    tasks[0] = store
        .update_task(
            ada.id,
            TaskRef::Id(tasks[0].id),
            move_to(Some("Homework")),
            &none,
        )
        .await
        .expect("moves");
    tasks[2] = store
        .update_task(
            ada.id,
            TaskRef::Id(tasks[2].id),
            move_to(Some("Home.Attic")),
            &none,
        )
        .await
        .expect("moves");
    tasks[5] = store
        .update_task(ada.id, TaskRef::Id(tasks[5].id), move_to(None), &none)
        .await
        .expect("moves");
    store
        .delete_task(ada.id, TaskRef::Id(tasks[1].id), &none)
        .await
        .expect("deletes");
    let tasks: Vec<Task> = tasks
        .into_iter()
        .enumerate()
        .filter_map(|(i, t)| (i != 1).then_some(t))
        .collect();
    for filter in [
        "project=Home",
        "project=Homework",
        "project=-",
        "sort=project",
        "sort=-project",
    ] {
        for sort in ["created", "-created", "project", "-project", "due"] {
            let text = format!("{filter}&sort={sort}&limit=2");
            let Ok(query) = ListQuery::parse(&text) else {
                continue; // sort given twice
            };
            assert_eq!(
                walk(store, ada.id, &query).await,
                expected(&tasks, &query),
                "{text}"
            );
        }
    }
    // Nothing of bob's, whatever the filter.
    let theirs = walk(
        store,
        bob.id,
        &ListQuery::parse("project=Home").expect("valid"),
    )
    .await;
    assert!(theirs.iter().all(|t| t.title == "not yours"));
    assert_eq!(theirs.len(), 5);
}

pub async fn sort_by_project_pages_both_ways_with_no_project_last(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let tasks = seed(store, ada.id, bob.id).await;
    let by_name = [
        Some("Hom"),
        Some("Home"),
        Some("Home"),
        Some("Home-x"),
        Some("Home.Garden"),
        Some("Home.Garden"),
        Some("Home.Garden.Beds"),
        Some("Homework"),
        Some("Work"),
        Some("Été.Café"),
        None,
        None,
    ];
    let up = walk(
        store,
        ada.id,
        &ListQuery::parse("sort=project&limit=3").expect("valid"),
    )
    .await;
    assert_eq!(names(&up), by_name);
    let down = walk(
        store,
        ada.id,
        &ListQuery::parse("sort=-project&limit=3").expect("valid"),
    )
    .await;
    let mut reversed: Vec<Option<&str>> = by_name[..10].iter().rev().copied().collect();
    reversed.extend([None, None]);
    assert_eq!(
        names(&down),
        reversed,
        "without a project last in both directions"
    );
    // Ties by id, in the direction of the sort.
    let homes = |list: &[Task], name: Option<&str>| -> Vec<u64> {
        list.iter()
            .filter(|t| t.project.as_ref().map(Project::as_str) == name)
            .map(|t| t.number)
            .collect()
    };
    assert_eq!(homes(&up, Some("Home")), [1, 9]);
    assert_eq!(homes(&down, Some("Home")), [9, 1]);
    assert_eq!(homes(&up, None), [3, 8]);
    assert_eq!(homes(&down, None), [8, 3]);
    for limit in 1..=4 {
        for sort in ["project", "-project"] {
            let query = ListQuery::parse(&format!("sort={sort}&limit={limit}")).expect("valid");
            assert_eq!(walk(store, ada.id, &query).await, expected(&tasks, &query));
        }
    }

    // A walk sees each task once while tasks come and go between pages.
    for sort in ["project", "-project"] {
        let query = ListQuery::parse(&format!("sort={sort}&limit=2")).expect("valid");
        let mut seen = Vec::new();
        let mut after: Option<Position> = None;
        let mut round = 0;
        loop {
            let page = store
                .list_tasks(ada.id, &query, after.as_ref())
                .await
                .expect("lists");
            seen.extend(page.tasks.iter().map(|t| t.id));
            let mut d = draft(&format!("added {sort} {round}"));
            d.project = [Some("A"), None, Some("Home.Z"), Some("ZZZ")][round % 4].map(project);
            let added = store.create_task(ada.id, d, 100).await.expect("creates");
            if round % 2 == 0 {
                store
                    .delete_task(ada.id, TaskRef::Id(added.id), &Precondition::None)
                    .await
                    .expect("deletes");
            }
            round += 1;
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: nothing twice");
        for task in &tasks {
            assert!(
                seen.contains(&task.id),
                "{sort}: every task there all along"
            );
        }
    }
}

pub async fn project_counts_include_parents_and_are_per_user(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    assert!(store.projects(ada.id).await.expect("counts").is_empty());
    seed(store, ada.id, bob.id).await;
    let counts = |list: Vec<ProjectCount>| -> Vec<(String, u64, u64)> {
        list.into_iter()
            .map(|c| (c.name.to_string(), c.pending, c.completed))
            .collect()
    };
    // Completed: every index i with i % 3 == 1 (1, 4, 7, 10).
    let expected: Vec<(String, u64, u64)> = [
        ("Hom", 1, 0),
        ("Home", 3, 2),
        ("Home-x", 0, 1),
        ("Home.Garden", 1, 2),
        ("Home.Garden.Beds", 1, 0),
        ("Homework", 1, 0),
        ("Work", 1, 0),
        ("Été", 1, 0),
        ("Été.Café", 1, 0),
    ]
    .into_iter()
    .map(|(n, p, c)| (n.to_string(), p, c))
    .collect();
    assert_eq!(
        counts(store.projects(ada.id).await.expect("counts")),
        expected
    );
    // Bob's tasks are all pending; his counts are his own.
    let theirs = counts(store.projects(bob.id).await.expect("counts"));
    assert_eq!(theirs.len(), expected.len());
    assert!(theirs.iter().all(|(_, _, completed)| *completed == 0));
    assert_eq!(theirs[1], ("Home".to_string(), 5, 0));

    // Counts follow completion, moves and deletes.
    let none = Precondition::None;
    let complete = TaskPatch {
        completed: Some(true),
        ..TaskPatch::default()
    };
    store
        .update_task(ada.id, TaskRef::Number(6), complete, &none)
        .await
        .expect("completes");
    store
        .update_task(
            ada.id,
            TaskRef::Number(7),
            move_to(Some("Home.Office")),
            &none,
        )
        .await
        .expect("moves");
    store
        .delete_task(ada.id, TaskRef::Number(12), &none)
        .await
        .expect("deletes");
    store
        .delete_task(ada.id, TaskRef::Number(10), &none)
        .await
        .expect("deletes");
    let after = counts(store.projects(ada.id).await.expect("counts"));
    let find = |name: &str| after.iter().find(|c| c.0 == name).cloned();
    assert_eq!(find("Home"), Some(("Home".into(), 3, 3)));
    assert_eq!(
        find("Home.Garden.Beds"),
        Some(("Home.Garden.Beds".into(), 0, 1))
    );
    assert_eq!(find("Home.Office"), Some(("Home.Office".into(), 1, 0)));
    assert_eq!(find("Work"), None, "a project no task names is gone");
    assert_eq!(find("Hom"), None);
    assert_eq!(find("Été"), None, "and so is its parent");
    let names: Vec<&str> = after.iter().map(|c| c.0.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "sorted by name");
}

fn tags(list: &[&str]) -> Tags {
    Tags::parse(list.iter().copied()).expect("valid tags")
}

pub async fn tag_edits_from_two_writers_both_stay(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let mut d = draft("shared");
    d.tags = tags(&["keep"]);
    let task = store.create_task(ada.id, d, 10).await.expect("creates");
    let writer = |prefix: &'static str, add: bool| {
        let store = f.store.clone();
        let id = task.id;
        tokio::spawn(async move {
            for i in 0..8 {
                let tag = format!("{prefix}{i}");
                let list = tags(&[tag.as_str()]);
                let patch = TaskPatch {
                    add_tags: add.then(|| list.clone()),
                    remove_tags: (!add).then_some(list),
                    ..TaskPatch::default()
                };
                store
                    .update_task(ada.id, TaskRef::Id(id), patch, &Precondition::None)
                    .await
                    .expect("updates");
            }
        })
    };
    let (a, b) = (writer("a", true), writer("b", true));
    a.await.expect("joins");
    b.await.expect("joins");
    let both = store
        .task(ada.id, TaskRef::Id(task.id))
        .await
        .expect("reads")
        .expect("there");
    let mut got: Vec<&str> = both.tags.iter().map(String::as_str).collect();
    got.sort_unstable();
    let mut want: Vec<String> = (0..8)
        .flat_map(|i| [format!("a{i}"), format!("b{i}")])
        .collect();
    want.push("keep".into());
    want.sort_unstable();
    assert_eq!(got, want, "every tag either writer added");
    assert_eq!(both.tags[0], "keep", "added tags go after the ones there");
    assert_eq!(both.version, 17, "sixteen changes");

    let (a, b) = (writer("a", false), writer("b", false));
    a.await.expect("joins");
    b.await.expect("joins");
    let after = store
        .task(ada.id, TaskRef::Id(task.id))
        .await
        .expect("reads")
        .expect("there");
    assert_eq!(after.tags, ["keep"], "every tag either writer removed");
    // Adding what is there, or removing what is not, is no change.
    let again = TaskPatch {
        add_tags: Some(tags(&["keep"])),
        remove_tags: Some(tags(&["a0"])),
        ..TaskPatch::default()
    };
    let same = store
        .update_task(ada.id, TaskRef::Id(task.id), again, &Precondition::None)
        .await
        .expect("no change");
    assert_eq!(same, after);
    // Past twenty tags is refused, and changes nothing.
    let many: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
    let patch = TaskPatch {
        add_tags: Some(Tags::parse(many.iter().map(String::as_str)).expect("valid")),
        ..TaskPatch::default()
    };
    assert!(matches!(
        store
            .update_task(ada.id, TaskRef::Id(task.id), patch, &Precondition::None)
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        store
            .task(ada.id, TaskRef::Id(task.id))
            .await
            .expect("reads"),
        Some(after)
    );
}
