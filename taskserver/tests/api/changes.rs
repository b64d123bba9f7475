//! `GET /api/changes`: the feed after every kind of write, each task once in
//! its latest state, paging, full syncs without deletions, and the cursor's
//! refusals (another user's, a list cursor, garbage: 400; too old: 410).

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// The `(type, id)` of each change, in order.
fn kinds(changes: &[Value]) -> Vec<(String, String)> {
    changes
        .iter()
        .map(|c| {
            let id = match c["type"].as_str() {
                Some("task") => s(&c["task"]["id"]),
                Some("task_deleted") => s(&c["id"]),
                other => panic!("unknown change type {other:?}: {c}"),
            };
            (s(&c["type"]), id)
        })
        .collect()
}

fn one(kind: &str, task: &Value) -> (String, String) {
    (kind.to_string(), s(&task["id"]))
}

#[tokio::test]
async fn the_feed_follows_every_kind_of_write() {
    let app = spawn_app().await;
    let u = app.register().await;
    let first = app.changes(&u, "").await.expect(200).json();
    assert_eq!(first["changes"], json!([]));
    assert_eq!(first["more"], false);
    let mut cursor = s(&first["cursor"]);

    // Create: the task as created.
    let task = app.task(&u, "milk").await;
    let (changes, next) = app.changes_all(&u, Some(&cursor)).await;
    assert_eq!(changes, vec![json!({"type": "task", "task": task})]);
    cursor = next;

    // PUT, then PATCH: the task once, in its latest state.
    let path = task_path(&task["id"]);
    app.put(&u, &path, json!({"title": "oat milk"}))
        .await
        .expect(200);
    let patched = app
        .patch(&u, &path, json!({"priority": "high"}))
        .await
        .expect(200)
        .json();
    let (changes, next) = app.changes_all(&u, Some(&cursor)).await;
    assert_eq!(changes, vec![json!({"type": "task", "task": patched})]);
    cursor = next;

    // Nothing new: nothing, and the cursor still works.
    let (changes, _) = app.changes_all(&u, Some(&cursor)).await;
    assert!(changes.is_empty(), "{changes:?}");

    // Delete: its id, number and when.
    app.delete(&u, &path).await.expect(204);
    let (changes, next) = app.changes_all(&u, Some(&cursor)).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["type"], "task_deleted");
    assert_eq!(changes[0]["id"], task["id"]);
    assert_eq!(changes[0]["number"], task["number"]);
    assert!(
        changes[0]["deleted_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{changes:?}"
    );
    cursor = next;

    // A create at a chosen id.
    let id = uuid::Uuid::now_v7().to_string();
    let chosen = send(
        app.authed(Method::PUT, &format!("/api/tasks/{id}"), &u.token)
            .header("if-none-match", "*")
            .json(&json!({"title": "chosen"})),
    )
    .await
    .expect(201)
    .json();
    let (changes, next) = app.changes_all(&u, Some(&cursor)).await;
    assert_eq!(changes, vec![json!({"type": "task", "task": chosen})]);
    cursor = next;

    // Completing a recurring task: the completed task and its successor.
    let weekly = app
        .create(
            &u,
            json!({"title": "bins", "due": "2030-01-07T08:00:00Z", "recur": "FREQ=WEEKLY"}),
        )
        .await;
    let cursor_before_completion = app.changes_all(&u, Some(&cursor)).await.1;
    let completed = app
        .patch(&u, &task_path(&weekly["id"]), json!({"completed": true}))
        .await
        .expect(200)
        .json();
    let (changes, _) = app
        .changes_all(&u, Some(&cursor_before_completion))
        .await;
    // One atomic write made both: their order in the feed is the store's.
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(
        changes.contains(&json!({"type": "task", "task": completed})),
        "{changes:?}"
    );
    let successor = changes
        .iter()
        .map(|c| &c["task"])
        .find(|t| t["id"] != weekly["id"])
        .expect("the successor");
    assert_eq!(successor["series"], weekly["series"]);
    assert_eq!(successor["due"], "2030-01-14T08:00:00Z");
    assert_eq!(successor["completed"], false);
}

#[tokio::test]
async fn a_task_created_and_deleted_since_the_cursor_shows_only_as_deleted() {
    let app = spawn_app().await;
    let u = app.register().await;
    let cursor = app.feed_cursor(&u).await;
    let task = app.task(&u, "short-lived").await;
    app.delete(&u, &task_path(&task["id"])).await.expect(204);
    let (changes, _) = app.changes_all(&u, Some(&cursor)).await;
    assert_eq!(kinds(&changes), vec![one("task_deleted", &task)]);
}

#[tokio::test]
async fn each_task_comes_once_at_the_place_of_its_latest_change() {
    let app = spawn_app().await;
    let u = app.register().await;
    let cursor = app.feed_cursor(&u).await;
    let a = app.task(&u, "a").await;
    let b = app.task(&u, "b").await;
    let c = app.task(&u, "c").await;
    let a2 = app
        .patch(&u, &task_path(&a["id"]), json!({"title": "a again"}))
        .await
        .expect(200)
        .json();
    let (changes, _) = app.changes_all(&u, Some(&cursor)).await;
    assert_eq!(
        kinds(&changes),
        vec![one("task", &b), one("task", &c), one("task", &a)]
    );
    assert_eq!(changes[2]["task"], a2, "the latest state");
}

#[tokio::test]
async fn pages_follow_limit_and_more_without_losing_or_repeating_a_task() {
    let app = spawn_app().await;
    let u = app.register().await;
    let cursor = app.feed_cursor(&u).await;
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(s(&app.task(&u, &format!("t{i}")).await["id"]));
    }
    // Incremental, two at a time: 2 + 2 + 1.
    let mut since = cursor.clone();
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let page = app
            .changes(&u, &format!("since={since}&limit=2"))
            .await
            .expect(200)
            .json();
        let changes = page["changes"].as_array().expect("changes").clone();
        sizes.push(changes.len());
        seen.extend(kinds(&changes).into_iter().map(|(_, id)| id));
        since = s(&page["cursor"]);
        if page["more"] == false {
            break;
        }
        assert!(sizes.len() < 10, "more never ends: {sizes:?}");
    }
    assert_eq!(seen, made);
    assert_eq!(&sizes[..2], &[2, 2], "{sizes:?}");
    assert!(sizes[2..].iter().sum::<usize>() == 1, "{sizes:?}");

    // A full sync pages the same way.
    let page = app.changes(&u, "limit=3").await.expect(200).json();
    assert_eq!(page["changes"].as_array().expect("changes").len(), 3);
    assert_eq!(page["more"], true);
    let (rest, _) = app.changes_all(&u, Some(&s(&page["cursor"]))).await;
    let full: Vec<String> = kinds(page["changes"].as_array().expect("changes"))
        .into_iter()
        .chain(kinds(&rest))
        .map(|(_, id)| id)
        .collect();
    assert_eq!(full, made);
}

#[tokio::test]
async fn a_full_sync_shows_live_tasks_only() {
    let app = spawn_app().await;
    let u = app.register().await;
    let gone = app.task(&u, "gone").await;
    let kept = app.task(&u, "kept").await;
    app.delete(&u, &task_path(&gone["id"])).await.expect(204);
    let (changes, cursor) = app.changes_all(&u, None).await;
    assert_eq!(changes, vec![json!({"type": "task", "task": kept})]);
    // Deletions after a full sync do show.
    app.delete(&u, &task_path(&kept["id"])).await.expect(204);
    let (changes, _) = app.changes_all(&u, Some(&cursor)).await;
    assert_eq!(kinds(&changes), vec![one("task_deleted", &kept)]);
}

#[tokio::test]
async fn cursors_of_another_user_or_another_kind_and_garbage_are_400() {
    let app = spawn_app().await;
    let (u, other) = (app.register().await, app.register().await);
    app.task(&u, "one").await;
    app.task(&u, "two").await;
    let others = app.feed_cursor(&other).await;
    let list_cursor = s(&app.list(&u, "limit=1").await.expect(200).json()["next_cursor"]);
    let mine = app.feed_cursor(&u).await;
    for bad in [
        others.as_str(),
        list_cursor.as_str(),
        "garbage",
        "AAAA",
        &mine[..mine.len() - 2],
    ] {
        let body = app
            .changes(&u, &format!("since={bad}"))
            .await
            .problem(400, "invalid_query");
        assert!(
            s(&body["detail"]).contains("cursor"),
            "the detail names the cursor: {body}"
        );
    }
    // And a feed cursor is no list cursor.
    app.list(&u, &format!("cursor={mine}"))
        .await
        .problem(400, "invalid_query");
    app.changes(&u, &format!("since={mine}")).await.expect(200);
}

#[tokio::test]
async fn bad_or_repeated_parameters_are_400() {
    let app = spawn_app().await;
    let u = app.register().await;
    let cursor = app.feed_cursor(&u).await;
    for query in [
        "limit=0".to_string(),
        "limit=1001".into(),
        "limit=abc".into(),
        "limit=-1".into(),
        "limit=1&limit=1".into(),
        format!("since={cursor}&since={cursor}"),
    ] {
        app.changes(&u, &query).await.problem(400, "invalid_query");
    }
    for query in ["limit=1", "limit=1000", "unknown=1", "since="] {
        app.changes(&u, query).await.expect(200);
    }
    app.call(Method::GET, "/api/changes", None, None)
        .await
        .unauthorized("missing_token", false);
}

#[tokio::test]
async fn a_cursor_older_than_the_tombstone_retention_is_410() {
    let app = spawn_with(|c| c.tombstone_retention = Duration::from_secs(1)).await;
    let u = app.register().await;
    let cursor = app.feed_cursor(&u).await;
    // Cursors tell their age in whole seconds: past 1 s of retention for
    // sure once 2 s have passed.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let body = app
        .changes(&u, &format!("since={cursor}"))
        .await
        .problem(410, "cursor_expired");
    assert!(s(&body["detail"]).contains("sync"), "{body}");
    // A full sync starts afresh.
    let (_, fresh) = app.changes_all(&u, None).await;
    app.changes(&u, &format!("since={fresh}")).await.expect(200);
}
