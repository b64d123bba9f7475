//! Moving data between stores with the binary's tools: `export`, `import`
//! and `migrate-store`. After a move every user logs in with the same
//! password and sees exactly the same tasks (ids, numbers, versions, times),
//! their API tokens still work, and numbering continues past every number
//! ever issued.

use crate::binary::{Bin, command, dirs, path_str, tool, with_secret};
use crate::helpers::*;
use serde_json::{Value, json};

/// What one user has, as seen through the API before a move.
pub(crate) struct Seeded {
    pub(crate) user: User,
    pub(crate) tasks: Vec<Value>,
    pub(crate) api_token: String,
}

/// Two users with tasks that were edited, completed and deleted (the
/// highest number among them), and an API token each.
pub(crate) async fn seed(app: &App) -> Vec<Seeded> {
    let mut seeded = Vec::new();
    for n in [4, 2] {
        let user = app.register().await;
        for i in 1..=n {
            app.create(
                &user,
                json!({"title": format!("task {i}"), "tags": ["moved"], "priority": "high",
                       "due": "2030-01-02T03:04:05.123456Z"}),
            )
            .await;
        }
        app.patch(&user, "/api/tasks/1", json!({"completed": true}))
            .await
            .expect(200);
        app.delete(&user, &format!("/api/tasks/{n}"))
            .await
            .expect(204);
        let token = app
            .post(&user, "/api/auth/tokens", json!({"name": "ci"}))
            .await
            .expect(201)
            .json();
        let tasks = app.list_all(&user, "limit=100").await;
        assert_eq!(tasks.len(), n - 1);
        seeded.push(Seeded {
            user,
            tasks,
            api_token: s(&token["token"]),
        });
    }
    seeded
}

/// Everyone logs in with their old password and finds exactly their tasks,
/// followed by the `created_since` each created after earlier moves; API
/// tokens still work; the next task number is past the deleted one.
pub(crate) async fn assert_moved(app: &App, seeded: &[Seeded], created_since: usize) {
    for before in seeded {
        let session = app
            .login(&before.user.email, PASSWORD)
            .await
            .expect(200)
            .json();
        let user = User::from_session(&session);
        assert_eq!(user.id, before.user.id, "the user keeps their id");
        let tasks = app.list_all(&user, "limit=100").await;
        assert_eq!(tasks.len(), before.tasks.len() + created_since);
        assert_eq!(tasks[..before.tasks.len()], before.tasks[..]);
        let by_api_token = send(app.authed(reqwest::Method::GET, "/api/tasks", &before.api_token))
            .await
            .expect(200)
            .json();
        assert_eq!(tasks_of(&by_api_token).len(), tasks.len());
        let next = app.task(&user, "after the move").await;
        assert_eq!(
            next["number"].as_u64(),
            Some((before.tasks.len() + created_since) as u64 + 2),
            "numbering continues past the deleted highest number"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_move_a_sled_store_and_are_safe_to_repeat() {
    let (cwd, from) = dirs();
    let to = cwd.path().join("to");
    let file = cwd.path().join("export.jsonl");
    let bin = Bin::start(with_secret(command(cwd.path(), &from)));
    let seeded = seed(&bin.app()).await;

    // The data directory belongs to the running server.
    let (ok, out) = tool(&[
        "export",
        "--data-dir",
        path_str(&from),
        "--out",
        path_str(&file),
    ]);
    assert!(!ok && out.contains("in use by another process"), "{out}");
    assert!(!file.exists());
    bin.signal("TERM");
    assert!(bin.wait(30).success());

    let (ok, out) = tool(&[
        "export",
        "--data-dir",
        path_str(&from),
        "--out",
        path_str(&file),
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("exported 2 users, 4 tasks, 2 API tokens"),
        "{out}"
    );
    let text = std::fs::read_to_string(&file).expect("export file");
    assert!(
        !text.contains("refresh"),
        "no sessions or refresh tokens leave the store"
    );
    for before in &seeded {
        assert!(
            !text.contains(&before.api_token),
            "API tokens travel as hashes only"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the export holds password hashes");

    let (ok, out) = tool(&[
        "import",
        "--data-dir",
        path_str(&to),
        "--in",
        path_str(&file),
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("imported 2 users, 4 tasks, 2 API tokens"),
        "{out}"
    );
    let (ok, out) = tool(&[
        "import",
        "--data-dir",
        path_str(&to),
        "--in",
        path_str(&file),
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("imported 0 users, 0 tasks, 0 API tokens; already there unchanged: 2 users, 4 tasks, 2 API tokens"),
        "{out}"
    );

    // A file that disagrees with the store changes nothing, and says why.
    let changed = cwd.path().join("changed.jsonl");
    let extra = json!({"type": "user", "id": uuid::Uuid::now_v7(), "email": "new@example.com",
        "password_hash": null, "external": null, "created_at": "2026-01-01T00:00:00Z",
        "next_task_number": 1});
    std::fs::write(
        &changed,
        format!("{extra}\n{}", text.replacen("task 2", "task 2 (edited)", 1)),
    )
    .expect("write");
    let (ok, out) = tool(&[
        "import",
        "--data-dir",
        path_str(&to),
        "--in",
        path_str(&changed),
    ]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("nothing was imported: 1 record(s) conflict"),
        "{out}"
    );
    assert!(
        out.contains("already in the store with other content"),
        "{out}"
    );

    let bin = Bin::start(with_secret(command(cwd.path(), &to)));
    let app = bin.app();
    assert_moved(&app, &seeded, 0).await;
    assert_eq!(
        app.login("new@example.com", PASSWORD).await.status,
        401,
        "the conflicting file's new user was not written either"
    );
}

#[test]
fn import_names_the_line_that_is_not_a_record() {
    let (cwd, data) = dirs();
    let file = cwd.path().join("broken.jsonl");
    std::fs::write(&file, "{\"type\":\"user\",\"id\":\"nope\"}\n").expect("write");
    let (ok, out) = tool(&[
        "import",
        "--data-dir",
        path_str(&data),
        "--in",
        path_str(&file),
    ]);
    assert!(!ok);
    assert!(out.contains("line 1 is not an export record"), "{out}");

    // A time outside 0001..9999 is refused in an import as in the API.
    let user = json!({"type": "user", "id": uuid::Uuid::now_v7(), "email": "ada@example.com",
        "password_hash": null, "external": null, "created_at": "2026-01-01T00:00:00Z",
        "next_task_number": 2});
    let task = json!({"type": "task", "owner": user["id"], "task": {"id": uuid::Uuid::now_v7(),
        "number": 1, "title": "far", "description": "", "completed": false, "priority": "none",
        "due": "9999-12-31T23:59:59-23:59", "tags": [], "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z", "completed_at": null, "version": 1}});
    std::fs::write(&file, format!("{user}\n{task}\n")).expect("write");
    let (ok, out) = tool(&[
        "import",
        "--data-dir",
        path_str(&data),
        "--in",
        path_str(&file),
    ]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("line 2 is not an export record") && out.contains("between 0001-01-01"),
        "{out}"
    );
    let (ok, out) = tool(&["migrate", "--data-dir", path_str(&data)]);
    assert!(!ok);
    assert!(out.contains("migrate needs --database-url"), "{out}");
}
