//! A data directory written by an earlier release opens with this one and
//! is upgraded in place, nothing lost. The fixture `sled-format-1` was
//! written by the release before the time-range check (see
//! `tests/fixtures/make-sled-format-1.sh`): it holds due dates past 9999
//! and before year 1, which that release stored as `+10000-...` and
//! `-0001-...` and then could neither read back, list by due date, nor
//! export.

use crate::binary::{Bin, command, dirs, path_str, tool};
use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use std::path::Path;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sled-format-1");
const FIXTURE_API_TOKEN: &str = include_str!("../fixtures/sled-format-1.api-token");
const EMAIL: &str = "ada@example.com";

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
