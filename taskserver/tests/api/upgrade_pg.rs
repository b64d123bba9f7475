//! A PostgreSQL database written by the release before projects and
//! recurrence opens with this one and is upgraded in place, nothing lost.
//! The fixture `pg-migration-3.sql` is a `pg_dump` of what that release
//! wrote (migrations up to 0003; see `tests/fixtures/make-release-v3.sh`):
//! users ada and bob, tasks with tags, due dates, completions, a deleted
//! one and unicode. `release-v3.export.jsonl` is that release's export of
//! the same, which imports into this release's PostgreSQL store.

use crate::binary::{Bin, command, dirs, path_str, tool};
use crate::helpers::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};

const DUMP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/pg-migration-3.sql"
);
const EXPORT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/release-v3.export.jsonl"
);
const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";

/// Restores the dump into the (empty) database at `url` with `psql`, as an
/// operator would.
fn restore(url: &str) {
    restore_file(url, DUMP);
}

/// Restores the dump `file` into the (empty) database at `url`.
fn restore_file(url: &str, file: &str) {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", file])
        .stdin(Stdio::null())
        .output()
        .expect("psql runs (the PostgreSQL client must be installed for this test)");
    assert!(
        out.status.success(),
        "the dump restores: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The server binary on `database_url`, with the secret the dump keeps.
fn on_database(cwd: &Path, database_url: &str) -> Bin {
    let mut cmd = command(cwd, &cwd.join("unused-data-dir"));
    cmd.arg("--database-url").arg(database_url);
    Bin::start(cmd)
}

async fn log_in(app: &App, email: &str) -> User {
    let session = app.login(email, PASSWORD).await.expect(200).json();
    User::from_session(&session)
}

/// The fields a task of the old release had (the first twelve of
/// [`TASK_FIELDS`]), as this release returns them.
fn old_fields(task: &Value) -> Value {
    TASK_FIELDS[..12]
        .iter()
        .map(|k| (k.to_string(), task[*k].clone()))
        .collect()
}

/// Ada's tasks exactly as the old release stored them (read from the dump).
fn ada_before() -> Value {
    json!([
        {"id": "01a24f96-249c-72e9-83ea-b20cee00d1f3", "number": 1, "title": "Water the plants",
         "description": "", "completed": false, "priority": "low",
         "due": "2027-01-04T18:00:00Z", "tags": ["home", "garden"],
         "created_at": "2026-12-07T08:19:29.564103Z", "updated_at": "2026-12-07T08:19:29.564103Z",
         "completed_at": null, "version": 1},
        {"id": "01a24f96-24a4-77f8-b890-6359fa809a99", "number": 2, "title": "Pay rent",
         "description": "", "completed": true, "priority": "none",
         "due": "2026-12-01T09:00:00Z", "tags": [],
         "created_at": "2026-12-07T08:19:29.572688Z", "updated_at": "2026-12-07T08:19:29.572688Z",
         "completed_at": "2026-12-07T08:19:29.572688Z", "version": 1},
        {"id": "01a24f96-24b3-7685-9383-7a0b92afb2cb", "number": 4, "title": "Ünïcödé 漢字 🦀",
         "description": "multi\nline", "completed": false, "priority": "none",
         "due": null, "tags": ["x", "y"],
         "created_at": "2026-12-07T08:19:29.587848Z", "updated_at": "2026-12-07T08:19:29.587848Z",
         "completed_at": null, "version": 1},
        {"id": "01a24f96-24ba-748e-8cec-e434bf80d658", "number": 5, "title": "Renew passport",
         "description": "", "completed": true, "priority": "high",
         "due": null, "tags": [],
         "created_at": "2026-12-07T08:19:29.594764Z", "updated_at": "2026-12-07T08:19:29.609218Z",
         "completed_at": "2026-12-07T08:19:29.609218Z", "version": 2},
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_previous_release_upgrades_in_place_with_nothing_lost() {
    let database = test_database().await;
    restore(&database.url);
    let (cwd, _) = dirs();

    let bin = on_database(cwd.path(), &database.url);
    let app = bin.app();
    // Every user logs in with the password they had.
    let ada = log_in(&app, ADA).await;
    let bob = log_in(&app, BOB).await;
    assert_eq!(ada.id, "01a24f96-2454-7017-9bd8-a134a252e8e8");
    assert_eq!(bob.id, "01a24f96-24e7-70e1-b02a-fc4069cea309");
    app.login(ADA, "not the password")
        .await
        .problem(401, "invalid_credentials");

    // Every task, with every value it had, and none of the new fields set.
    let tasks = app.list_all(&ada, "limit=200").await;
    let before: Vec<Value> = tasks.iter().map(old_fields).collect();
    assert_eq!(Value::Array(before), ada_before());
    for task in &tasks {
        for field in ["project", "recur", "series"] {
            assert_eq!(task.get(field), Some(&Value::Null), "{field} of {task}");
        }
    }
    app.get(&ada, "/api/tasks/3").await.problem(404, "not_found");
    let bobs = app.list_all(&bob, "limit=200").await;
    assert_eq!(bobs.len(), 1);
    assert_eq!(
        (&bobs[0]["number"], &bobs[0]["title"], &bobs[0]["project"]),
        (&json!(1), &json!("Bob's only task"), &Value::Null)
    );
    // The lists that existed still answer as they did.
    let pending = app.list_all(&ada, "status=pending&sort=-due").await;
    let titles: Vec<&Value> = pending.iter().map(|t| &t["title"]).collect();
    assert_eq!(titles, [&json!("Water the plants"), &json!("Ünïcödé 漢字 🦀")]);
    let tagged = app.list_all(&ada, "tag=garden").await;
    assert_eq!(tagged.len(), 1);
    // Every old task is without a project: `project=-` lists them all.
    assert_eq!(app.list_all(&ada, "project=-").await.len(), 4);

    // New projects and recurring tasks work, numbered after every number
    // the old release issued (ada's 3 was deleted: never reused).
    let weekly = app
        .create(
            &ada,
            json!({"title": "Water the beds", "project": "Home.Garden",
                   "recur": "freq=weekly", "due": "2027-01-04T18:00:00Z"}),
        )
        .await;
    assert_eq!(weekly["number"], 6);
    assert_eq!(weekly["recur"], "FREQ=WEEKLY");
    assert_eq!(weekly["series"], weekly["id"]);
    let path = task_path(&weekly["id"]);
    let done = app
        .patch(&ada, &path, json!({"completed": true}))
        .await
        .expect(200)
        .json();
    assert_eq!(done["completed"], true);
    let in_home = app.list_all(&ada, "project=Home&sort=project").await;
    assert_eq!(in_home.len(), 2, "{in_home:#?}");
    let next = &in_home[1];
    assert_eq!(next["number"], 7);
    assert_eq!(next["due"], "2027-01-11T18:00:00Z");
    assert_eq!(next["series"], weekly["id"]);
    assert_eq!(next["project"], "Home.Garden");
    assert_eq!(next["completed"], false);
    // Completing it again after an uncomplete makes no second successor;
    // nor does it after that successor is deleted.
    for _ in 0..2 {
        app.patch(&ada, &path, json!({"completed": false}))
            .await
            .expect(200);
        app.patch(&ada, &path, json!({"completed": true}))
            .await
            .expect(200);
    }
    app.delete(&ada, &task_path(&next["id"])).await.expect(204);
    app.patch(&ada, &path, json!({"completed": false}))
        .await
        .expect(200);
    app.patch(&ada, &path, json!({"completed": true}))
        .await
        .expect(200);
    let all = app.list_all(&ada, "sort=project").await;
    let order: Vec<(&Value, &Value)> = all.iter().map(|t| (&t["number"], &t["project"])).collect();
    assert_eq!(
        order,
        [
            (&json!(6), &json!("Home.Garden")),
            (&json!(1), &Value::Null),
            (&json!(2), &Value::Null),
            (&json!(4), &Value::Null),
            (&json!(5), &Value::Null),
        ],
        "tasks without a project last, then by id"
    );
    let later = app.task(&ada, "later").await;
    assert_eq!(later["number"], 8, "no number went to a refused successor");
    let bobs_next = app.task(&bob, "Bob's second").await;
    assert_eq!(bobs_next["number"], 2);

    // A restart finds everything again, and migrates nothing twice.
    bin.signal("TERM");
    assert!(bin.wait(30).success());
    let bin = on_database(cwd.path(), &database.url);
    let app = bin.app();
    let ada = log_in(&app, ADA).await;
    let again = app.list_all(&ada, "limit=200").await;
    assert_eq!(again.len(), 6);
    let before: Vec<Value> = again.iter().take(4).map(old_fields).collect();
    assert_eq!(Value::Array(before), ada_before());
    let (ok, out) = tool(&["migrate", "--database-url", &database.url]);
    assert!(ok && out.contains(": 0 migration(s) applied"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_the_previous_release_imports_and_moves_on_with_the_new_fields() {
    let database = test_database().await;
    let (cwd, _) = dirs();
    let import = |file: &str, url: &str| {
        tool(&["import", "--in", file, "--database-url", url])
    };
    let (ok, out) = import(EXPORT, &database.url);
    assert!(ok, "{out}");
    assert!(out.contains("imported 2 users, 5 tasks, 0 API tokens"), "{out}");
    let (ok, out) = import(EXPORT, &database.url);
    assert!(ok && out.contains("imported 0 users, 0 tasks"), "twice changes nothing: {out}");

    let bin = on_database(cwd.path(), &database.url);
    let app = bin.app();
    let ada = log_in(&app, ADA).await;
    let tasks = app.list_all(&ada, "limit=200").await;
    let numbers: Vec<&Value> = tasks.iter().map(|t| &t["number"]).collect();
    assert_eq!(numbers, [&json!(1), &json!(2), &json!(4), &json!(5)]);
    assert!(
        tasks
            .iter()
            .all(|t| t["project"].is_null() && t["recur"].is_null() && t["series"].is_null()),
        "{tasks:#?}"
    );
    // A recurring task made and completed after the import, exported with
    // its anchor: a move to another database continues its series where
    // the rule says, from the series' first due.
    let monthly = app
        .create(
            &ada,
            json!({"title": "Rent", "project": "Home", "recur": "FREQ=MONTHLY;INTERVAL=2",
                   "due": "2027-01-31T09:00:00Z"}),
        )
        .await;
    assert_eq!(monthly["number"], 6);
    app.patch(&ada, &task_path(&monthly["id"]), json!({"completed": true}))
        .await
        .expect(200);
    let next = app.list_all(&ada, "project=Home&status=pending").await;
    assert_eq!(next.len(), 1);
    assert_eq!(
        (&next[0]["number"], &next[0]["due"]),
        (&json!(7), &json!("2027-03-31T09:00:00Z")),
        "every other month from the 31st of January"
    );
    bin.signal("TERM");
    assert!(bin.wait(30).success());

    let file = cwd.path().join("v4.jsonl");
    let (ok, out) = tool(&[
        "export",
        "--database-url",
        &database.url,
        "--out",
        path_str(&file),
    ]);
    assert!(ok, "{out}");
    let text = std::fs::read_to_string(&file).expect("the export");
    assert_eq!(
        text.matches(r#""anchor":"2027-01-31T09:00:00Z""#).count(),
        2,
        "both occurrences carry the anchor: {text}"
    );
    let other = test_database().await;
    let (ok, out) = import(path_str(&file), &other.url);
    assert!(ok && out.contains("imported 2 users, 7 tasks"), "{out}");
    let bin = on_database(cwd.path(), &other.url);
    let app = bin.app();
    let ada = log_in(&app, ADA).await;
    let path = task_path(&next[0]["id"]);
    // Moved to the 2nd of April, the next date is still the 31st of May
    // (stepping from the anchor, not two months after the new due).
    app.patch(
        &ada,
        &path,
        json!({"due": "2027-04-02T09:00:00Z", "completed": true}),
    )
    .await
    .expect(200);
    let third = app.list_all(&ada, "project=Home&status=pending").await;
    assert_eq!(third.len(), 1);
    assert_eq!(
        (&third[0]["number"], &third[0]["due"], &third[0]["series"]),
        (&json!(8), &json!("2027-05-31T09:00:00Z"), &monthly["id"])
    );
}

const DUMP_V4: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/pg-migration-4.sql"
);

/// The tasks of the release before the change feed (`pg-migration-4.sql`,
/// see `tests/fixtures/make-release-v4.sh`) get change numbers on upgrade:
/// a full sync returns every live one, and an incremental read from where
/// it ended returns just what was written after. Its deletion stays out of
/// the feed, and its id stays refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_previous_release_serves_a_full_sync_then_incremental_ones() {
    use taskcore::{
        Change, FeedPosition, Precondition, StoreError, TaskDraft, TaskId, TaskRef, TaskStore,
        UserId,
    };
    let database = test_database().await;
    restore_file(&database.url, DUMP_V4);
    let store = taskcore::PgStore::connect(taskcore::PgConfig::new(&database.url))
        .await
        .expect("opens, upgrading the schema");
    let id = |text: &str| uuid::Uuid::parse_str(text).expect("an id");
    let ada = UserId(id("01a2501c-960b-74b2-a5ab-54d235bc18ba"));
    let bob = UserId(id("01a2501c-978a-75e1-86bc-30c92bcaeaa4"));
    let deleted = TaskId(id("01a2501c-96bb-740d-a49e-ff79cd59d3d0"));
    let numbers = |changes: &[Change]| -> Vec<(&'static str, u64)> {
        changes
            .iter()
            .map(|c| match c {
                Change::Task { task } => ("task", task.number),
                Change::TaskDeleted { number, .. } => ("deleted", *number),
            })
            .collect()
    };

    // A full sync in pages of three: every live task, each once, as the
    // list shows it; not the deletion made before the upgrade.
    let first = store.changes(ada, None, 3).await.expect("reads");
    assert!(first.more);
    let rest = store
        .changes(ada, Some(first.next), 3)
        .await
        .expect("reads");
    assert!(!rest.more);
    let mut synced: Vec<taskcore::Task> = first
        .changes
        .iter()
        .chain(&rest.changes)
        .map(|c| match c {
            Change::Task { task } => task.clone(),
            Change::TaskDeleted { .. } => panic!("a deletion in a full sync: {c:?}"),
        })
        .collect();
    synced.sort_by_key(|t| t.id);
    let listed = store
        .list_tasks(ada, &taskcore::ListQuery::default(), None)
        .await
        .expect("lists")
        .tasks;
    assert_eq!(synced, listed, "every live task, as it is");
    let mut synced_numbers: Vec<u64> = synced.iter().map(|t| t.number).collect();
    synced_numbers.sort();
    assert_eq!(synced_numbers, [1, 2, 4, 5, 6]);
    assert_eq!(rest.next, FeedPosition::after(5));
    assert_eq!(store.latest_change(ada).await.expect("reads"), 5);
    let bobs = store.changes(bob, None, 500).await.expect("reads");
    assert_eq!(numbers(&bobs.changes), [("task", 1)]);

    // Nothing new: an incremental read is empty.
    let nothing = store
        .changes(ada, Some(rest.next), 500)
        .await
        .expect("reads");
    assert!(nothing.changes.is_empty() && !nothing.more);
    // A create, then a delete of an old task: each read shows just that.
    let created = store
        .create_task(ada, TaskDraft::new("after the upgrade").expect("valid"), 100)
        .await
        .expect("creates");
    assert_eq!(created.number, 7);
    let page = store
        .changes(ada, Some(nothing.next), 500)
        .await
        .expect("reads");
    assert_eq!(page.changes, [Change::Task { task: created }]);
    store
        .delete_task(ada, TaskRef::Number(1), &Precondition::None)
        .await
        .expect("deletes");
    let page = store
        .changes(ada, Some(page.next), 500)
        .await
        .expect("reads");
    assert_eq!(numbers(&page.changes), [("deleted", 1)]);
    assert_eq!(page.next, FeedPosition::after(7));
    // The id deleted before the upgrade is still refused.
    let again = store
        .create_task_with_id(ada, deleted, TaskDraft::new("again").expect("valid"), 100)
        .await;
    assert!(matches!(again, Err(StoreError::AlreadyExists)), "{again:?}");
}
