//! Projects and recurrence on PostgreSQL where only a shared database can
//! show them: two replicas (two `PgStore`s on one database) completing one
//! task at once, the tombstones behind "at most one successor, ever", and
//! the plans of the project lists (index ranges that stop after the page).

use crate::support::{Fixture, user};
use crate::transfer::export;
use std::collections::{BTreeSet, HashMap};
use taskcore::store::ExportRecord;
use taskcore::store::postgres::testing::{execute, explain_list, query_i64};
use taskcore::{
    ListQuery, PgConfig, PgStore, Position, Precondition, Project, Recur, Task, TaskDraft, TaskId,
    TaskPatch, TaskRef, TaskStore, Timestamp, UserId,
};

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("a time")
}

/// A task due at `due` that repeats by `rule`.
fn recurring(title: &str, due: &str, rule: &str) -> TaskDraft {
    let mut draft = TaskDraft::new(title).expect("valid");
    draft.due = Some(at(due));
    draft.recur = Some(Recur::parse(rule).expect("a rule"));
    draft
}

fn completed(done: bool) -> TaskPatch {
    TaskPatch {
        completed: Some(done),
        ..TaskPatch::default()
    }
}

/// Every live task of `owner`, in creation order.
async fn all_tasks(store: &dyn TaskStore, owner: UserId) -> Vec<Task> {
    let query = ListQuery {
        limit: 200,
        ..ListQuery::default()
    };
    let mut tasks = Vec::new();
    let mut after: Option<Position> = None;
    loop {
        let page = store
            .list_tasks(owner, &query, after.as_ref())
            .await
            .expect("lists");
        tasks.extend(page.tasks);
        match page.next {
            Some(next) => after = Some(next),
            None => return tasks,
        }
    }
}

/// A second store on the fixture's database: another replica.
async fn replica(f: &Fixture) -> PgStore {
    let url = f.pg_url.clone().expect("a PostgreSQL fixture");
    PgStore::connect(PgConfig::new(url))
        .await
        .expect("connects")
}

/// The tombstones in the database, of every user (the test connection is
/// a superuser, which row security does not hide rows from).
async fn tombstones(f: &Fixture) -> i64 {
    let url = f.pg_url.as_deref().expect("a PostgreSQL fixture");
    query_i64(url, "SELECT count(*) FROM task_tombstones")
        .await
        .expect("counts")[0]
}

/// The counters of the users row: the next number and the live count.
async fn counters(f: &Fixture, owner: UserId) -> (i64, i64) {
    let url = f.pg_url.as_deref().expect("a PostgreSQL fixture");
    let next = query_i64(
        url,
        &format!("SELECT next_task_number FROM users WHERE id = '{owner}'"),
    )
    .await
    .expect("reads")[0];
    let live = query_i64(
        url,
        &format!("SELECT live_tasks FROM users WHERE id = '{owner}'"),
    )
    .await
    .expect("reads")[0];
    (next, live)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_completing_one_task_at_once_make_one_successor() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let (a, b) = (f.store.clone(), replica(&f).await);
    let ada = user(&*a, "ada").await;
    let mut firsts = Vec::new();
    for i in 0..12 {
        let task = a
            .create_task(
                ada.id,
                recurring(&format!("daily {i}"), "2027-01-04T09:00:00Z", "FREQ=DAILY"),
                1000,
            )
            .await
            .expect("creates");
        firsts.push(task);
    }
    // Every task completed by four writers at once, two on each replica.
    let mut writes = Vec::new();
    for task in &firsts {
        for round in 0..4 {
            let store: std::sync::Arc<dyn TaskStore> = if round % 2 == 0 {
                a.clone()
            } else {
                std::sync::Arc::new(b.clone())
            };
            let id = task.id;
            writes.push(tokio::spawn(async move {
                store
                    .update_task(
                        ada.id,
                        TaskRef::Id(id),
                        completed(true),
                        &Precondition::None,
                    )
                    .await
            }));
        }
    }
    for write in writes {
        assert!(write.await.expect("joins").expect("completes").completed);
    }
    let tasks = all_tasks(&*a, ada.id).await;
    assert_eq!(tasks.len(), 24, "one successor each: {tasks:#?}");
    for first in &firsts {
        let next: Vec<&Task> = tasks
            .iter()
            .filter(|t| t.series == Some(first.id) && t.id != first.id)
            .collect();
        assert_eq!(next.len(), 1, "{next:#?}");
        assert_eq!(Some(next[0].id), first.successor_id());
        assert_eq!(next[0].due, Some(at("2027-01-05T09:00:00Z")));
        assert!(!next[0].completed);
    }
    // Numbers: 1 to 24, each once, and the counters agree.
    let numbers: BTreeSet<u64> = tasks.iter().map(|t| t.number).collect();
    assert_eq!(numbers, (1..=24).collect());
    assert_eq!(counters(&f, ada.id).await, (25, 24));
    assert_eq!(a.live_task_count(ada.id).await.expect("counts"), 24);

    // Uncompleting and completing again, from both replicas at once, many
    // times: still one successor each, and no number spent.
    for _ in 0..3 {
        let mut writes = Vec::new();
        for (i, task) in firsts.iter().enumerate() {
            for done in [false, true] {
                let store: std::sync::Arc<dyn TaskStore> = if i % 2 == usize::from(done) {
                    a.clone()
                } else {
                    std::sync::Arc::new(b.clone())
                };
                let id = task.id;
                writes.push(tokio::spawn(async move {
                    store
                        .update_task(
                            ada.id,
                            TaskRef::Id(id),
                            completed(done),
                            &Precondition::None,
                        )
                        .await
                }));
            }
        }
        for write in writes {
            write.await.expect("joins").expect("writes");
        }
    }
    for task in &firsts {
        a.update_task(
            ada.id,
            TaskRef::Id(task.id),
            completed(true),
            &Precondition::None,
        )
        .await
        .expect("completes");
    }
    assert_eq!(all_tasks(&*a, ada.id).await.len(), 24);
    assert_eq!(counters(&f, ada.id).await, (25, 24));
    let fresh = b
        .create_task(ada.id, TaskDraft::new("after").expect("valid"), 1000)
        .await
        .expect("creates");
    assert_eq!(
        fresh.number, 25,
        "no number was spent on a refused successor"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_successor_is_never_made_again() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let (a, b) = (f.store.clone(), replica(&f).await);
    let ada = user(&*a, "ada").await;
    let first = a
        .create_task(
            ada.id,
            recurring("weekly", "2027-01-04T09:00:00Z", "FREQ=WEEKLY"),
            10,
        )
        .await
        .expect("creates");
    let at_first = TaskRef::Id(first.id);
    a.update_task(ada.id, at_first, completed(true), &Precondition::None)
        .await
        .expect("completes");
    let successor = first.successor_id().expect("recurs");
    let next = a
        .task(ada.id, TaskRef::Id(successor))
        .await
        .expect("reads")
        .expect("the successor exists");
    assert_eq!(
        (next.number, next.due),
        (2, Some(at("2027-01-11T09:00:00Z")))
    );
    assert_eq!(tombstones(&f).await, 0);
    b.delete_task(ada.id, TaskRef::Id(successor), &Precondition::None)
        .await
        .expect("deletes");
    assert_eq!(tombstones(&f).await, 1, "the delete leaves a tombstone");
    for store in [&*a, &b as &dyn TaskStore] {
        store
            .update_task(ada.id, at_first, completed(false), &Precondition::None)
            .await
            .expect("uncompletes");
        let done = store
            .update_task(ada.id, at_first, completed(true), &Precondition::None)
            .await
            .expect("completes");
        assert!(done.completed);
    }
    assert_eq!(
        a.task(ada.id, TaskRef::Id(successor)).await.expect("reads"),
        None,
        "a deleted successor stays deleted"
    );
    assert_eq!(all_tasks(&*a, ada.id).await.len(), 1);
    assert_eq!(counters(&f, ada.id).await, (3, 1));

    // Deleting the user takes the tombstones along.
    assert!(a.delete_user(ada.id).await.expect("deletes"));
    assert_eq!(tombstones(&f).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successor_is_made_past_the_task_limit_and_steps_from_the_stored_anchor() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let store = &*f.store;
    let ada = user(store, "ada").await;
    // Every other Monday from Monday 4 January 2027.
    let first = store
        .create_task(
            ada.id,
            recurring(
                "fortnightly",
                "2027-01-04T09:00:00Z",
                "FREQ=WEEKLY;INTERVAL=2",
            ),
            1,
        )
        .await
        .expect("creates");
    let done = store
        .update_task(
            ada.id,
            TaskRef::Id(first.id),
            completed(true),
            &Precondition::None,
        )
        .await
        .expect("completing never fails for the limit");
    assert!(done.completed);
    assert_eq!(store.live_task_count(ada.id).await.expect("counts"), 2);
    let second_id = first.successor_id().expect("recurs");
    let second = store
        .task(ada.id, TaskRef::Id(second_id))
        .await
        .expect("reads")
        .expect("made past the limit");
    assert_eq!(second.due, Some(at("2027-01-18T09:00:00Z")));
    // Moving a later occurrence's due keeps the series' anchor: the next
    // date still falls on the Mondays of the rule, not two weeks after
    // the new due (which only the stored anchor can tell).
    let moved = TaskPatch {
        due: Some(Some(at("2027-01-19T09:00:00Z"))),
        completed: Some(true),
        ..TaskPatch::default()
    };
    store
        .update_task(ada.id, TaskRef::Id(second_id), moved, &Precondition::None)
        .await
        .expect("moves and completes");
    let third = store
        .task(ada.id, TaskRef::Id(second.successor_id().expect("recurs")))
        .await
        .expect("reads")
        .expect("made");
    assert_eq!(third.due, Some(at("2027-02-01T09:00:00Z")));
    assert_eq!(third.series, Some(first.id));

    // The anchor travels in an export, and an import keeps it.
    let (records, _) = export(store).await;
    let anchors: Vec<Option<Timestamp>> = records
        .iter()
        .filter_map(|r| match r {
            ExportRecord::Task(t) => Some(t.anchor),
            _ => None,
        })
        .collect();
    assert_eq!(anchors, vec![Some(at("2027-01-04T09:00:00Z")); 3]);
    let other = f.fresh().await;
    other.store.import(records).await.expect("imports");
    let moved = TaskPatch {
        due: Some(Some(at("2027-02-02T09:00:00Z"))),
        completed: Some(true),
        ..TaskPatch::default()
    };
    other
        .store
        .update_task(ada.id, TaskRef::Id(third.id), moved, &Precondition::None)
        .await
        .expect("completes");
    let fourth = other
        .store
        .task(ada.id, TaskRef::Id(third.successor_id().expect("recurs")))
        .await
        .expect("reads")
        .expect("made");
    assert_eq!(
        (fourth.due, fourth.number),
        (Some(at("2027-02-15T09:00:00Z")), 4)
    );
}

/// Project names that sort around each other in awkward ways: `Home-x`
/// and `Home x` between `Home` and `Home.Garden`, `Homework` after them.
const NAMES: [Option<&str>; 9] = [
    Some("Home"),
    Some("Home.Garden"),
    Some("Home-x"),
    Some("Home x"),
    Some("Homework"),
    Some("Home.Garden.Beds"),
    Some("Ärger"),
    Some("Zeta"),
    None,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_lists_match_the_model_page_by_page() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let mut tasks = Vec::new();
    for i in 0..27 {
        let mut draft = TaskDraft::new(&format!("task {i}")).expect("valid");
        draft.project = NAMES[i % NAMES.len()].map(|p| Project::parse(p).expect("valid"));
        draft.completed = i % 4 == 0;
        tasks.push(
            store
                .create_task(ada.id, draft, 100)
                .await
                .expect("creates"),
        );
    }
    let mut bobs = TaskDraft::new("bob's").expect("valid");
    bobs.project = Some(Project::parse("Home").expect("valid"));
    store.create_task(bob.id, bobs, 100).await.expect("creates");

    for sort in ["project", "-project", "created", "-created", "due"] {
        for filter in ["", "-", "Home", "Home.Garden", "Homework", "Nothing"] {
            for status in ["all", "pending"] {
                for limit in [1, 2, 5, 200] {
                    let text =
                        format!("sort={sort}&project={filter}&status={status}&limit={limit}");
                    let query = ListQuery::parse(&text).expect("valid");
                    let mut expected: Vec<&Task> =
                        tasks.iter().filter(|t| query.matches(t)).collect();
                    expected.sort_by(|x, y| {
                        query.compare(&query.position_of(x), &query.position_of(y))
                    });
                    let expected: Vec<TaskId> = expected.iter().map(|t| t.id).collect();
                    let mut seen = Vec::new();
                    let mut after: Option<Position> = None;
                    loop {
                        let page = store
                            .list_tasks(ada.id, &query, after.as_ref())
                            .await
                            .expect("lists");
                        seen.extend(page.tasks.iter().map(|t| t.id));
                        match page.next {
                            Some(next) => after = Some(next),
                            None => break,
                        }
                    }
                    assert_eq!(seen, expected, "{text}");
                }
            }
        }
    }

    let projects = store.projects(ada.id).await.expect("counts");
    let counted: HashMap<&str, (u64, u64)> = projects
        .iter()
        .map(|p| (p.name.as_str(), (p.pending, p.completed)))
        .collect();
    let named = |name: &str| {
        let mut counts = (0, 0);
        for t in &tasks {
            let inside = t
                .project
                .as_ref()
                .is_some_and(|p| Project::parse(name).expect("valid").contains(p));
            if inside {
                if t.completed {
                    counts.1 += 1;
                } else {
                    counts.0 += 1;
                }
            }
        }
        counts
    };
    let names: Vec<&str> = projects.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Home",
            "Home x",
            "Home-x",
            "Home.Garden",
            "Home.Garden.Beds",
            "Homework",
            "Zeta",
            "Ärger"
        ]
    );
    for name in names {
        assert_eq!(counted[name], named(name), "{name}");
    }
    assert_eq!(
        store.projects(bob.id).await.expect("counts").len(),
        1,
        "only the caller's projects"
    );
}

/// Whether a plan reads one index range in the list's order and stops
/// after the page: an index scan on `index`, no sort, a limit.
fn assert_index_range(plan: &[String], index: &str, what: &str) {
    let text = plan.join("\n");
    assert!(
        plan.iter()
            .any(|line| line.contains(&format!("using {index} on tasks"))),
        "{what}: not a scan of {index}:\n{text}"
    );
    assert!(
        !plan.iter().any(|line| line.trim_start().starts_with("Sort")
            || line.contains("-> Sort")
            || line.contains("Bitmap")),
        "{what}: sorts or gathers:\n{text}"
    );
    assert!(plan[0].starts_with("Limit"), "{what}:\n{text}");
}

/// How many rows the plan's scans read: those they returned (`actual
/// rows=N` of each scan) and those their filters removed.
fn rows_read(plan: &[String]) -> u64 {
    let number_after = |line: &str, marker: &str| -> Option<u64> {
        let rest = line.split(marker).nth(1)?;
        rest.split([' ', ')']).next()?.trim().parse().ok()
    };
    plan.iter()
        .filter_map(|line| {
            if line.contains("Scan") {
                number_after(line, "rows=")
            } else if line.contains("Rows Removed by Filter") {
                number_after(line, "Filter:")
            } else {
                None
            }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_lists_of_a_large_user_are_index_ranges_that_stop_after_the_page() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let pg = f.pg.clone().expect("a PostgreSQL fixture");
    let url = f.pg_url.clone().expect("a PostgreSQL fixture");
    let ada = user(&*f.store, "ada").await;
    let bob = user(&*f.store, "bob").await;
    // 40,000 tasks of ada's (a third without a project, the rest in 100
    // projects of two levels) and as many of bob's, written directly.
    let insert = |owner: UserId| {
        format!(
            "INSERT INTO tasks (owner, id, number, title, title_key, description, completed,
                                priority, tags, created_at, updated_at, version, change_seq,
                                project)
             SELECT '{owner}', uuid_in(lpad(to_hex(n), 32, '0')::cstring), n, 't' || n, 't' || n,
                    '', n % 2 = 0, 0, '{{}}', 0, 0, 1, n,
                    CASE WHEN n % 3 = 0 THEN NULL
                         WHEN n % 3 = 1 THEN 'P' || (n % 50)
                         ELSE 'P' || (n % 50) || '.Sub' || (n % 7) END
               FROM generate_series(1, 40000) AS n;
             UPDATE users SET next_task_number = 40001, live_tasks = 40000, last_change = 40000
              WHERE id = '{owner}';"
        )
    };
    execute(&url, &insert(ada.id)).await.expect("inserts");
    execute(&url, &insert(bob.id)).await.expect("inserts");
    execute(&url, "ANALYZE tasks").await.expect("analyzes");

    let page = |text: &str| ListQuery::parse(text).expect("valid");
    let somewhere = |project: Option<&str>| Position {
        key: taskcore::SortKey::Project(project.map(|p| Project::parse(p).expect("valid"))),
        id: TaskId(uuid::Uuid::from_u128(20_000)),
    };
    // Each with the index whose range it must read, without a sort, and
    // stop after the page.
    let ranges: Vec<(&str, Option<Position>, &str)> = vec![
        ("sort=project&limit=50", None, "tasks_by_project_asc"),
        (
            "sort=project&limit=50",
            Some(somewhere(Some("P3"))),
            "tasks_by_project_asc",
        ),
        (
            "sort=project&limit=50",
            Some(somewhere(None)),
            "tasks_by_project_asc",
        ),
        ("sort=-project&limit=50", None, "tasks_by_project_desc"),
        (
            "sort=-project&limit=50",
            Some(somewhere(Some("P3"))),
            "tasks_by_project_desc",
        ),
        (
            "sort=-project&limit=50",
            Some(somewhere(None)),
            "tasks_by_project_desc",
        ),
        (
            "sort=project&project=P3&limit=50",
            None,
            "tasks_by_project_asc",
        ),
        (
            "sort=-project&project=P3&status=pending&limit=50",
            None,
            "tasks_by_project_desc",
        ),
        (
            "sort=project&project=-&limit=50",
            Some(somewhere(None)),
            "tasks_by_project_asc",
        ),
    ];
    for (text, after, index) in ranges {
        let query = page(text);
        let plan = explain_list(&pg, ada.id, &query, after.as_ref())
            .await
            .expect("explains");
        assert_index_range(&plan, index, text);
        let read = rows_read(&plan);
        assert!(
            read <= 102,
            "{text}: the scan read {read} rows:\n{}",
            plan.join("\n")
        );
        eprintln!("{text} after {after:?}:\n{}\n", plan.join("\n"));
    }
    // Where the planner may choose between the project index and the
    // primary key (creation order) by how many tasks match, whichever it
    // takes reads a bounded stretch, not the user's whole range.
    for text in [
        "project=-&limit=50",
        "sort=-created&project=-&limit=50",
        "project=P3&limit=50",
        "project=P3.Sub4&limit=50",
    ] {
        let plan = explain_list(&pg, ada.id, &page(text), None)
            .await
            .expect("explains");
        let read = rows_read(&plan);
        assert!(
            read < 4_000,
            "{text}: the scan read {read} rows:\n{}",
            plan.join("\n")
        );
        eprintln!("{text}:\n{}\n", plan.join("\n"));
    }
    // And the pages themselves are right where the plans were taken.
    let first = f
        .store
        .list_tasks(ada.id, &page("sort=project&project=P3&limit=3"), None)
        .await
        .expect("lists");
    let names: Vec<&str> = first
        .tasks
        .iter()
        .filter_map(|t| t.project.as_ref().map(Project::as_str))
        .collect();
    assert_eq!(names, ["P3", "P3", "P3"]);
    let counts = f.store.projects(ada.id).await.expect("counts");
    assert_eq!(counts.len(), 50 + 50 * 7);
    let p3 = counts.iter().find(|c| c.name.as_str() == "P3").expect("P3");
    assert_eq!(
        p3.pending + p3.completed,
        (1..=40000).filter(|n| n % 3 != 0 && n % 50 == 3).count() as u64
    );
}

/// Completes `task` in `store` and returns the successor it made.
async fn complete_and_follow(store: &dyn TaskStore, owner: UserId, task: &Task) -> Task {
    let done = store
        .update_task(
            owner,
            TaskRef::Id(task.id),
            completed(true),
            &Precondition::None,
        )
        .await
        .expect("completes");
    store
        .task(owner, TaskRef::Id(done.successor_id().expect("recurs")))
        .await
        .expect("reads")
        .expect("a successor")
}

/// `migrate-store` is an export of sled imported into PostgreSQL: a series
/// moved that way (and back) keeps stepping from its anchor, and its
/// completed occurrences keep their one successor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_moves_from_sled_to_postgres_and_back_with_its_anchor() {
    let Some(f) = Fixture::postgres().await else {
        return;
    };
    let sled = Fixture::sled();
    let ada = user(&*sled.store, "ada").await;
    let mut draft = recurring("weekly", "2030-01-07T09:00:00Z", "FREQ=WEEKLY");
    draft.project = Some(Project::parse("Home").expect("valid"));
    let first = sled
        .store
        .create_task(ada.id, draft, 100)
        .await
        .expect("creates");
    let second = complete_and_follow(&*sled.store, ada.id, &first).await;
    // Off the rule's Mondays: only the anchor still says Mondays.
    let moved = TaskPatch {
        due: Some(Some(at("2030-01-16T09:00:00Z"))),
        ..TaskPatch::default()
    };
    sled.store
        .update_task(ada.id, TaskRef::Id(second.id), moved, &Precondition::None)
        .await
        .expect("moves");
    let (records, _) = export(&*sled.store).await;
    f.store
        .import(records)
        .await
        .expect("imports into PostgreSQL");

    let third = complete_and_follow(&*f.store, ada.id, &second).await;
    assert_eq!(
        third.due,
        Some(at("2030-01-21T09:00:00Z")),
        "the anchor came along"
    );
    assert_eq!((third.number, third.series), (3, Some(first.id)));
    for done in [false, true] {
        f.store
            .update_task(
                ada.id,
                TaskRef::Id(first.id),
                completed(done),
                &Precondition::None,
            )
            .await
            .expect("writes");
    }
    assert_eq!(f.store.live_task_count(ada.id).await.expect("counts"), 3);

    // And back to sled, where the next one still falls on a Monday.
    let moved = TaskPatch {
        due: Some(Some(at("2030-01-23T09:00:00Z"))),
        ..TaskPatch::default()
    };
    f.store
        .update_task(ada.id, TaskRef::Id(third.id), moved, &Precondition::None)
        .await
        .expect("moves");
    let (records, _) = export(&*f.store).await;
    let back = Fixture::sled();
    back.store.import(records).await.expect("imports into sled");
    let fourth = complete_and_follow(&*back.store, ada.id, &third).await;
    assert_eq!(
        (fourth.due, fourth.number),
        (Some(at("2030-01-28T09:00:00Z")), 4)
    );
}
