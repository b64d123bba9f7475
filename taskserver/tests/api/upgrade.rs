//! A data directory written by an earlier release opens with this one and
//! is upgraded in place, nothing lost. The fixture `sled-format-1` was
//! written by the release before the time-range check (see
//! `tests/fixtures/make-sled-format-1.sh`): it holds due dates past 9999
//! and before year 1, which that release stored as `+10000-...` and
//! `-0001-...` and then could neither read back, list by due date, nor
//! export. The fixture `sled-format-2` and the export
//! `release-v3.export.jsonl` were written by the release before projects
//! and recurrence (see `tests/fixtures/make-release-v3.sh`), from the same
//! users and tasks.

use crate::binary::{Bin, command, dirs, path_str, tool};
use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use std::path::Path;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sled-format-1");
const FIXTURE_API_TOKEN: &str = include_str!("../fixtures/sled-format-1.api-token");
const EMAIL: &str = "ada@example.com";
const FIXTURE_V3: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sled-format-2");
const EXPORT_V3: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/release-v3.export.jsonl"
);
/// The fields this release added to a task, which every task of an older
/// store shows as `null`.
const NEW_FIELDS: [&str; 3] = ["project", "recur", "series"];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Logs in as the fixture's user and lists every task.
async fn tasks_of_fixture_user(app: &App) -> (User, Vec<serde_json::Value>) {
    let session = app.login(EMAIL, PASSWORD).await.expect(200).json();
    let user = User::from_session(&session);
    let tasks = app.list_all(&user, "limit=200").await;
    (user, tasks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_times_out_of_range_upgrades_and_exports_whole() {
    let (cwd, data) = dirs();
    copy_dir(Path::new(FIXTURE), &data);

    let bin = Bin::start(command(cwd.path(), &data));
    let app = bin.app();
    let (user, tasks) = tasks_of_fixture_user(&app).await;
    let titles: Vec<&str> = tasks.iter().filter_map(|t| t["title"].as_str()).collect();
    assert_eq!(
        titles,
        [
            "Water the plants",
            "Far future",
            "Before the calendar",
            "Pay rent",
            "Ünïcödé 漢字 🦀"
        ],
        "every task survives the upgrade"
    );
    let far = app.get(&user, "/api/tasks/2").await.expect(200).json();
    assert_eq!(
        far["due"], "9999-12-31T23:59:59.999999Z",
        "the nearest time in range"
    );
    assert_eq!(far["version"], 1, "the repair is not an edit");
    let early = app.get(&user, "/api/tasks/3").await.expect(200).json();
    assert_eq!(early["due"], "0001-01-01T00:00:00Z");
    let by_due = app.list(&user, "sort=due&limit=1").await.expect(200).json();
    assert_eq!(tasks_of(&by_due)[0]["title"], "Before the calendar");
    let by_due_desc = app
        .list(&user, "sort=-due&limit=1")
        .await
        .expect(200)
        .json();
    assert_eq!(tasks_of(&by_due_desc)[0]["title"], "Far future");
    app.patch(&user, "/api/tasks/2", json!({"title": "Far future, fixed"}))
        .await
        .expect(200);
    send(app.authed(Method::GET, "/api/tasks", FIXTURE_API_TOKEN.trim()))
        .await
        .expect(200);
    let log = bin.output();
    assert_eq!(
        log.matches("held a time outside 0001-01-01..9999-12-31")
            .count(),
        2,
        "each repaired task is named in the log: {log}"
    );
    bin.signal("TERM");
    assert!(bin.wait(30).success());
    let tasks = {
        let bin = Bin::start(command(cwd.path(), &data));
        let (_, tasks) = tasks_of_fixture_user(&bin.app()).await;
        assert!(
            !bin.output().contains("held a time outside"),
            "the upgrade runs once"
        );
        bin.signal("TERM");
        assert!(bin.wait(30).success());
        tasks
    };

    // The whole store exports, and the export imports into a new one.
    let file = cwd.path().join("export.jsonl");
    let (ok, out) = tool(&[
        "export",
        "--data-dir",
        path_str(&data),
        "--out",
        path_str(&file),
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("exported 1 users, 5 tasks, 1 API tokens"),
        "{out}"
    );
    let moved = cwd.path().join("moved");
    let (ok, out) = tool(&[
        "import",
        "--data-dir",
        path_str(&moved),
        "--in",
        path_str(&file),
    ]);
    assert!(ok, "{out}");
    let bin = Bin::start(command(cwd.path(), &moved));
    let (_, moved_tasks) = tasks_of_fixture_user(&bin.app()).await;
    assert_eq!(moved_tasks, tasks, "exactly the same tasks after the move");
}

/// The tasks of `owner` in the old release's export, as this release
/// shows them: with the new fields, all `null`.
fn exported_tasks(owner: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(EXPORT_V3).expect("the export fixture");
    text.lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
        .filter(|record| record["type"] == "task" && record["owner"] == owner)
        .map(|record| {
            let mut task = record["task"].clone();
            for field in NEW_FIELDS {
                task[field] = serde_json::Value::Null;
            }
            task
        })
        .collect()
}

/// The id of a user of the export fixture.
fn exported_user_id(email: &str) -> String {
    let text = std::fs::read_to_string(EXPORT_V3).expect("the export fixture");
    text.lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
        .find(|record| record["type"] == "user" && record["email"] == email)
        .and_then(|record| record["id"].as_str().map(str::to_string))
        .expect("the user is in the export")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_before_projects_and_recurrence_upgrades_whole() {
    let (cwd, data) = dirs();
    copy_dir(Path::new(FIXTURE_V3), &data);
    let ada_id = exported_user_id(EMAIL);
    let bob_id = exported_user_id("bob@example.com");

    let bin = Bin::start(command(cwd.path(), &data));
    let app = bin.app();
    // Passwords, users, tasks: every field as the old release had it,
    // plus the new ones as null, in lists (the stored JSON, copied) and
    // one by one.
    let (ada, tasks) = tasks_of_fixture_user(&app).await;
    assert_eq!(s(&app.get(&ada, "/api/auth/me").await.expect(200).json()["id"]), ada_id);
    let expected = exported_tasks(&ada_id);
    assert_eq!(tasks, expected, "every task survives, exactly");
    let numbers: Vec<u64> = tasks.iter().filter_map(|t| t["number"].as_u64()).collect();
    assert_eq!(numbers, [1, 2, 4, 5], "3 was deleted");
    for task in &tasks {
        let one = app.fetch(&ada, &task["id"]).await;
        assert_eq!(&one, task);
        for field in NEW_FIELDS {
            assert!(
                task.as_object().expect("a task").contains_key(field) && task[field].is_null(),
                "{field} in {task}"
            );
        }
    }
    for sort in SORTS {
        let listed = app.list_all(&ada, &format!("sort={sort}&limit=2")).await;
        assert_eq!(listed.len(), 4, "{sort}");
    }
    let done = app.list_all(&ada, "status=completed").await;
    let titles: Vec<&str> = done.iter().filter_map(|t| t["title"].as_str()).collect();
    assert_eq!(titles, ["Pay rent", "Renew passport"]);
    let tagged = app.list_all(&ada, "tag=garden").await;
    assert_eq!(tagged.len(), 1);
    app.get(&ada, "/api/tasks/3").await.expect(404);
    let bob_session = app
        .login("bob@example.com", PASSWORD)
        .await
        .expect(200)
        .json();
    let bob = User::from_session(&bob_session);
    assert_eq!(app.list_all(&bob, "limit=200").await, exported_tasks(&bob_id));
    app.login(EMAIL, "not the password").await.expect(401);
    // Every task is under "no project" in the index.
    assert_eq!(app.list_all(&ada, "project=-&limit=1").await, tasks);
    assert!(app.list_all(&ada, "project=Home").await.is_empty());
    assert_eq!(app.list_all(&ada, "sort=-project&limit=3").await.len(), 4);

    // Projects and recurrence work on it, and numbering goes on past 5.
    let mowing = app
        .create(
            &ada,
            json!({"title": "Mow", "project": "Home.Garden", "due": "2027-01-04T08:00:00Z",
                   "recur": "FREQ=WEEKLY"}),
        )
        .await;
    assert_eq!(mowing["number"], 6);
    assert_eq!((&mowing["project"], &mowing["recur"]), (&json!("Home.Garden"), &json!("FREQ=WEEKLY")));
    assert_eq!(mowing["series"], mowing["id"]);
    app.patch(&ada, "/api/tasks/1", json!({"project": "Home"}))
        .await
        .expect(200);
    let home = app.list_all(&ada, "project=Home&limit=1").await;
    let home_titles: Vec<&str> = home.iter().filter_map(|t| t["title"].as_str()).collect();
    assert_eq!(home_titles, ["Water the plants", "Mow"]);
    let by_project = app.list_all(&ada, "sort=project&limit=2").await;
    let order: Vec<u64> = by_project.iter().filter_map(|t| t["number"].as_u64()).collect();
    assert_eq!(order, [1, 6, 2, 4, 5], "projects first, then by id");
    let completed = app
        .patch(&ada, "/api/tasks/6", json!({"completed": true}))
        .await
        .expect(200)
        .json();
    assert_eq!(completed["completed"], true);
    let next = app.get(&ada, "/api/tasks/7").await.expect(200).json();
    assert_eq!(
        (&next["title"], &next["due"], &next["series"], &next["completed"]),
        (&json!("Mow"), &json!("2027-01-11T08:00:00Z"), &mowing["id"], &json!(false))
    );
    // Completing again, after an uncomplete, makes no other.
    app.patch(&ada, "/api/tasks/6", json!({"completed": false}))
        .await
        .expect(200);
    app.patch(&ada, "/api/tasks/6", json!({"completed": true}))
        .await
        .expect(200);
    assert_eq!(app.list_all(&ada, "limit=200").await.len(), 6);
    let log = bin.output();
    assert_eq!(
        log.matches("brought to data format 3").count(),
        1,
        "the upgrade is logged once: {log}"
    );
    bin.signal("TERM");
    assert!(bin.wait(30).success());

    // Once: a restart finds format 3 and everything as it was left.
    let bin = Bin::start(command(cwd.path(), &data));
    let app = bin.app();
    let (ada, after) = tasks_of_fixture_user(&app).await;
    assert_eq!(after.len(), 6);
    assert_eq!(after[0]["project"], "Home");
    assert_eq!(app.list_all(&ada, "project=Home").await.len(), 3);
    assert!(!bin.output().contains("brought to data format 3"), "the upgrade runs once");
    bin.signal("TERM");
    assert!(bin.wait(30).success());

    // The old release's export imports into a new store, to the same tasks.
    let moved = cwd.path().join("moved");
    let (ok, out) = tool(&["import", "--data-dir", path_str(&moved), "--in", EXPORT_V3]);
    assert!(ok, "{out}");
    let bin = Bin::start(command(cwd.path(), &moved));
    let app = bin.app();
    let (ada, imported) = tasks_of_fixture_user(&app).await;
    assert_eq!(imported, tasks, "the export holds what the directory held");
    assert_eq!(app.list_all(&ada, "project=-").await, tasks);
    let task = app
        .create(&ada, json!({"title": "after the import", "project": "Work"}))
        .await;
    assert_eq!(task["number"], 6);
    bin.signal("TERM");
    assert!(bin.wait(30).success());
}

const FIXTURE_V4: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sled-format-3");

/// The ids of a whole walk of the change feed from `since` (a full sync
/// without), and the cursor it ends at.
async fn feed(app: &App, user: &User, since: Option<&str>) -> (Vec<serde_json::Value>, String) {
    let mut changes = Vec::new();
    let mut cursor = since.map(str::to_string);
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/changes?limit=2&since={c}"),
            None => "/api/changes?limit=2".to_string(),
        };
        let page = app.get(user, &path).await.expect(200).json();
        changes.extend(page["changes"].as_array().expect("changes").iter().cloned());
        cursor = Some(s(&page["cursor"]).to_string());
        if page["more"] != true {
            return (changes, cursor.unwrap_or_default());
        }
    }
}

/// A data directory of the release before the change feed (projects, a
/// completed recurring task with its successor, a chosen id, a deletion;
/// see `tests/fixtures/make-release-v4.sh`): its tasks join the feed in
/// creation order, a full sync returns them as the lists do, later writes
/// come incrementally, and ids and successors the old release issued stay
/// issued once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_before_the_change_feed_upgrades_and_syncs() {
    let (cwd, data) = dirs();
    copy_dir(Path::new(FIXTURE_V4), &data);
    let bin = Bin::start(command(cwd.path(), &data));
    let app = bin.app();
    let (ada, tasks) = tasks_of_fixture_user(&app).await;
    let numbers: Vec<u64> = tasks.iter().filter_map(|t| t["number"].as_u64()).collect();
    // By id: the chosen id (5) is an early UUIDv7, and the successor (6)
    // sorts right after the task it follows (2); 3 was deleted.
    assert_eq!(numbers, [5, 1, 2, 6, 4]);
    assert_eq!(tasks[3]["series"], tasks[2]["id"]);

    let (full, cursor) = feed(&app, &ada, None).await;
    assert!(full.iter().all(|c| c["type"] == "task"), "live tasks only: {full:?}");
    let synced: Vec<serde_json::Value> = full.iter().map(|c| c["task"].clone()).collect();
    assert_eq!(synced, tasks, "a full sync is every task, in creation order");

    // Later writes come incrementally, each once, in order.
    app.patch(&ada, "/api/tasks/1", json!({"title": "Water the roses"}))
        .await
        .expect(200);
    app.delete(&ada, "/api/tasks/4").await.expect(204);
    let (later, _) = feed(&app, &ada, Some(&cursor)).await;
    let kinds: Vec<(&str, u64)> = later
        .iter()
        .map(|c| match c["type"].as_str() {
            Some("task") => ("task", c["task"]["number"].as_u64().unwrap_or(0)),
            _ => ("task_deleted", c["number"].as_u64().unwrap_or(0)),
        })
        .collect();
    assert_eq!(kinds, [("task", 1), ("task_deleted", 4)]);
    assert_eq!(later[0]["task"]["title"], "Water the roses");

    // The id the old release was given stays taken.
    let chosen = &tasks[0]["id"];
    assert_eq!(chosen, "01937a2e-0000-7000-8000-000000000005");
    let retry = app
        .authed(Method::PUT, &format!("/api/tasks/{}", s(chosen)), &ada.token)
        .header("If-None-Match", "*")
        .json(&json!({"title": "again"}));
    assert_eq!(send(retry).await.status, 412);
    // Completing the old occurrence again makes no second successor.
    app.patch(&ada, "/api/tasks/2", json!({"completed": false}))
        .await
        .expect(200);
    app.patch(&ada, "/api/tasks/2", json!({"completed": true}))
        .await
        .expect(200);
    assert_eq!(app.list_all(&ada, "limit=200").await.len(), 4);
    assert_eq!(
        bin.output().matches("brought to data format 4").count(),
        1,
        "the upgrade is logged once"
    );
    bin.signal("TERM");
    assert!(bin.wait(30).success());
}
