//! Task CRUD: defaults, normalisation, versions, If-Match, numbers, the per-user cap.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

#[track_caller]
fn assert_task_shape(task: &Value) {
    assert_task_fields(task, "task");
    let id = uuid::Uuid::parse_str(&s(&task["id"])).expect("task id is a UUID");
    assert_eq!(id.get_version_num(), 7, "task ids are UUIDv7");
    assert_time(&task["created_at"]);
    assert_time(&task["updated_at"]);
}

#[track_caller]
fn assert_etag(resp: &Resp, version: u64) {
    assert_eq!(
        resp.header("etag").as_deref(),
        Some(format!("\"{version}\"").as_str()),
        "ETag"
    );
}

#[tokio::test]
async fn a_task_with_just_a_title_gets_the_defaults() {
    let app = spawn_app().await;
    let u = app.register().await;
    let resp = app
        .post(&u, "/api/tasks", json!({"title": "Buy milk"}))
        .await;
    resp.expect(201);
    let task = resp.json();
    assert_task_shape(&task);
    assert_eq!(
        resp.header("location"),
        Some(format!("/api/tasks/{}", s(&task["id"])))
    );
    assert_etag(&resp, 1);
    assert_eq!(task["number"], 1);
    assert_eq!(task["title"], "Buy milk");
    assert_eq!(task["description"], "");
    assert_eq!(task["completed"], false);
    assert_eq!(task["priority"], "none");
    assert_eq!(task["due"], Value::Null);
    assert_eq!(task["tags"], json!([]));
    assert_eq!(task["completed_at"], Value::Null);
    assert_eq!(task["version"], 1);
    assert_eq!(task["created_at"], task["updated_at"]);
}

#[tokio::test]
async fn every_field_is_stored_normalised() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app
        .create(
            &u,
            json!({"title": "  \t Plan trip \n ", "description": "line 1\nline 2\r\n\tindented", "completed": true,
                   "priority": "high", "due": "2030-01-02T03:04:05.123456+02:00", "tags": ["a", "b", "a", "A", "b"]}),
        )
        .await;
    assert_task_shape(&task);
    assert_eq!(task["title"], "Plan trip");
    assert_eq!(task["description"], "line 1\nline 2\r\n\tindented");
    assert_eq!(task["completed"], true);
    assert_time(&task["completed_at"]);
    assert_eq!(task["priority"], "high");
    assert_eq!(
        task["due"], "2030-01-02T01:04:05.123456Z",
        "due in UTC, microseconds kept"
    );
    assert_eq!(
        task["tags"],
        json!(["a", "b", "A"]),
        "duplicates dropped, first kept, case-sensitive"
    );
    assert_eq!(
        app.fetch(&u, &task["id"]).await,
        task,
        "what was returned is what is stored"
    );
}

#[tokio::test]
async fn a_task_is_reachable_by_id_and_by_number_with_its_etag() {
    let app = spawn_app().await;
    let u = app.register().await;
    app.task(&u, "first").await;
    let task = app.task(&u, "second").await;
    for path in [task_path(&task["id"]), "/api/tasks/2".to_string()] {
        let resp = app.get(&u, &path).await;
        resp.expect(200);
        assert_etag(&resp, 1);
        assert_eq!(resp.json(), task);
    }
    // Writes by number reach the same task.
    let patched = app
        .patch(&u, "/api/tasks/2", json!({"priority": "low"}))
        .await
        .expect(200)
        .json();
    assert_eq!(patched["id"], task["id"]);
    assert_eq!(patched["version"], 2);
}

#[tokio::test]
async fn put_replaces_every_editable_field() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app
        .create(
            &u,
            json!({"title": "t", "description": "d", "completed": true, "priority": "high",
                           "due": "2030-01-01T00:00:00Z", "tags": ["x"]}),
        )
        .await;
    let path = task_path(&task["id"]);
    let resp = app.put(&u, &path, json!({"title": "  new  "})).await;
    resp.expect(200);
    assert_etag(&resp, 2);
    let put = resp.json();
    assert_task_shape(&put);
    assert_eq!(
        (
            &put["title"],
            &put["description"],
            &put["completed"],
            &put["priority"],
            &put["due"],
            &put["tags"],
            &put["completed_at"]
        ),
        (
            &json!("new"),
            &json!(""),
            &json!(false),
            &json!("none"),
            &Value::Null,
            &json!([]),
            &Value::Null
        )
    );
    assert_eq!(
        (&put["id"], &put["number"], &put["created_at"]),
        (&task["id"], &task["number"], &task["created_at"])
    );
    assert_ne!(put["updated_at"], task["updated_at"]);
    // `title` is required on PUT.
    app.put(&u, &path, json!({"description": "no title"}))
        .await
        .invalid("title");
    assert_eq!(app.fetch(&u, &task["id"]).await, put);
}

#[tokio::test]
async fn patch_changes_only_the_fields_given() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app
        .create(
            &u,
            json!({"title": "t", "description": "d", "due": "2030-01-01T00:00:00Z", "tags": ["x"]}),
        )
        .await;
    let path = task_path(&task["id"]);
    let resp = app.patch(&u, &path, json!({"priority": "medium"})).await;
    resp.expect(200);
    assert_etag(&resp, 2);
    let patched = resp.json();
    for key in [
        "title",
        "description",
        "due",
        "tags",
        "completed",
        "completed_at",
        "created_at",
    ] {
        assert_eq!(patched[key], task[key], "{key} unchanged");
    }
    assert_eq!(patched["priority"], "medium");
    let cleared = app
        .patch(&u, &path, json!({"due": null}))
        .await
        .expect(200)
        .json();
    assert_eq!(cleared["due"], Value::Null, "due: null clears");
    assert_eq!(cleared["version"], 3);
    // An empty patch is valid and changes nothing.
    let same = app.patch(&u, &path, json!({})).await.expect(200).json();
    assert_eq!(same, cleared);
}

#[tokio::test]
async fn completed_at_follows_completed() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app.task(&u, "t").await;
    let path = task_path(&task["id"]);
    let done = app
        .patch(&u, &path, json!({"completed": true}))
        .await
        .expect(200)
        .json();
    assert_time(&done["completed_at"]);
    assert_eq!(done["completed_at"], done["updated_at"]);
    let again = app
        .patch(&u, &path, json!({"completed": true}))
        .await
        .expect(200)
        .json();
    assert_eq!(again, done, "completing a completed task changes nothing");
    let undone = app
        .patch(&u, &path, json!({"completed": false}))
        .await
        .expect(200)
        .json();
    assert_eq!(undone["completed_at"], Value::Null);
    assert_eq!(undone["version"], 3);
}

#[tokio::test]
async fn a_write_that_changes_nothing_keeps_version_and_updated_at() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app
        .create(
            &u,
            json!({"title": "same", "tags": ["a"], "priority": "low"}),
        )
        .await;
    let path = task_path(&task["id"]);
    for body in [
        json!({"title": "same"}),
        json!({"title": "  same  "}),
        json!({"tags": ["a", "a"], "priority": "low", "due": null, "completed": false}),
    ] {
        let resp = app.patch(&u, &path, body).await;
        resp.expect(200);
        assert_etag(&resp, 1);
        assert_eq!(resp.json(), task);
    }
    let resp = app
        .put(
            &u,
            &path,
            json!({"title": "same", "tags": ["a"], "priority": "low"}),
        )
        .await;
    resp.expect(200);
    assert_eq!(resp.json(), task, "a PUT that changes nothing");
    assert_eq!(app.fetch(&u, &task["id"]).await, task);
}

#[tokio::test]
async fn delete_removes_the_task_for_every_method() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app.task(&u, "t").await;
    let path = task_path(&task["id"]);
    let resp = app.delete(&u, &path).await;
    resp.expect(204);
    assert!(resp.body.is_empty());
    app.get(&u, &path).await.problem(404, "not_found");
    app.get(&u, "/api/tasks/1").await.problem(404, "not_found");
    app.put(&u, &path, json!({"title": "x"}))
        .await
        .problem(404, "not_found");
    app.patch(&u, &path, json!({"title": "x"}))
        .await
        .problem(404, "not_found");
    app.delete(&u, &path).await.problem(404, "not_found");
    assert!(tasks_of(&app.list(&u, "").await.expect(200).json()).is_empty());
}

async fn if_match(
    app: &App,
    u: &User,
    method: Method,
    path: &str,
    tag: &str,
    body: Option<Value>,
) -> Resp {
    let mut request = app.authed(method, path, &u.token).header("if-match", tag);
    if let Some(body) = body {
        request = request.json(&body);
    }
    send(request).await
}

#[tokio::test]
async fn if_match_guards_put_and_patch() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app.task(&u, "t").await;
    let path = task_path(&task["id"]);
    for tag in [
        "\"2\"",
        "\"0\"",
        "W/\"1\"",
        "1",
        "\"1",
        "\"one\"",
        "",
        "\"2\", W/\"1\"",
    ] {
        for method in [Method::PUT, Method::PATCH] {
            let resp = if_match(
                &app,
                &u,
                method.clone(),
                &path,
                tag,
                Some(json!({"title": "changed"})),
            )
            .await;
            resp.problem(412, "version_mismatch");
        }
    }
    assert_eq!(
        app.fetch(&u, &task["id"]).await,
        task,
        "a 412 changes nothing"
    );

    let v2 = if_match(
        &app,
        &u,
        Method::PATCH,
        &path,
        "\"1\"",
        Some(json!({"title": "v2"})),
    )
    .await
    .expect(200)
    .json();
    assert_eq!(v2["version"], 2);
    let v3 = if_match(
        &app,
        &u,
        Method::PUT,
        &path,
        "\"7\", \"2\"",
        Some(json!({"title": "v3"})),
    )
    .await
    .expect(200)
    .json();
    assert_eq!(v3["version"], 3);
    let v4 = if_match(
        &app,
        &u,
        Method::PATCH,
        &path,
        "*",
        Some(json!({"title": "v4"})),
    )
    .await
    .expect(200)
    .json();
    assert_eq!(v4["version"], 4);
    if_match(
        &app,
        &u,
        Method::PATCH,
        &path,
        "\"3\"",
        Some(json!({"title": "late"})),
    )
    .await
    .problem(412, "version_mismatch");
    assert_eq!(app.fetch(&u, &task["id"]).await, v4);
}

#[tokio::test]
async fn if_match_guards_delete() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app.task(&u, "t").await;
    let path = task_path(&task["id"]);
    for tag in ["\"2\"", "W/\"1\"", "garbage"] {
        if_match(&app, &u, Method::DELETE, &path, tag, None)
            .await
            .problem(412, "version_mismatch");
    }
    assert_eq!(app.fetch(&u, &task["id"]).await, task);
    if_match(&app, &u, Method::DELETE, &path, "\"1\"", None)
        .await
        .expect(204);
    app.get(&u, &path).await.problem(404, "not_found");
    // `*` on a task that is gone is still a 404.
    if_match(&app, &u, Method::DELETE, &path, "*", None)
        .await
        .problem(404, "not_found");
    let other = app.task(&u, "t2").await;
    if_match(
        &app,
        &u,
        Method::DELETE,
        &task_path(&other["id"]),
        "*",
        None,
    )
    .await
    .expect(204);
}

#[tokio::test]
async fn numbers_are_per_user_and_never_reused() {
    let app = spawn_app().await;
    let a = app.register().await;
    let b = app.register().await;
    let mut numbers = Vec::new();
    for i in 0..3 {
        numbers.push(app.task(&a, &format!("a{i}")).await["number"].clone());
    }
    assert_eq!(numbers, [json!(1), json!(2), json!(3)]);
    assert_eq!(app.task(&b, "b").await["number"], 1, "B counts from 1");
    app.delete(&a, "/api/tasks/3").await.expect(204);
    app.delete(&a, "/api/tasks/1").await.expect(204);
    assert_eq!(
        app.task(&a, "a3").await["number"],
        4,
        "never reused after a delete"
    );
    app.get(&a, "/api/tasks/3").await.problem(404, "not_found");
    assert_eq!(app.task(&b, "b2").await["number"], 2);
}

#[tokio::test]
async fn the_task_cap_counts_live_tasks() {
    let app = spawn_with(|c| c.max_tasks_per_user = 3).await;
    let u = app.register().await;
    let other = app.register().await;
    for i in 0..3 {
        app.task(&u, &format!("t{i}")).await;
    }
    app.post(&u, "/api/tasks", json!({"title": "fourth"}))
        .await
        .problem(403, "task_limit_reached");
    // The cap comes before validation.
    app.post(&u, "/api/tasks", json!({"title": ""}))
        .await
        .problem(403, "task_limit_reached");
    assert_eq!(
        tasks_of(&app.list(&u, "").await.expect(200).json()).len(),
        3
    );
    // Another user has their own allowance.
    app.task(&other, "mine").await;
    app.delete(&u, "/api/tasks/2").await.expect(204);
    assert_eq!(
        app.task(&u, "fourth").await["number"],
        4,
        "a delete frees a slot"
    );
    app.post(&u, "/api/tasks", json!({"title": "fifth"}))
        .await
        .problem(403, "task_limit_reached");
    // Edits are not creations.
    app.patch(&u, "/api/tasks/1", json!({"title": "edited"}))
        .await
        .expect(200);
}

#[tokio::test]
async fn concurrent_unconditional_writes_are_never_lost() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app.task(&u, "t").await;
    let path = task_path(&task["id"]);
    let n = 20;
    let writes =
        (0..n).map(|i| app.patch(&u, &path, json!({"description": format!("writer {i}")})));
    for resp in futures_util::future::join_all(writes).await {
        resp.expect(200);
    }
    let last = app.fetch(&u, &task["id"]).await;
    assert_eq!(last["version"], n + 1, "each write moved the version once");

    // With If-Match on the same version, exactly one of many wins.
    let tag = format!("\"{}\"", n + 1);
    let racers = (0..10).map(|i| {
        if_match(
            &app,
            &u,
            Method::PATCH,
            &path,
            &tag,
            Some(json!({"title": format!("racer {i}")})),
        )
    });
    let statuses: Vec<u16> = futures_util::future::join_all(racers)
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 412),
        "{statuses:?}"
    );
    assert_eq!(app.fetch(&u, &task["id"]).await["version"], n + 2);
}

#[tokio::test]
async fn concurrent_creates_get_distinct_numbers() {
    let app = spawn_app().await;
    let u = app.register().await;
    let creates = (0..30).map(|i| app.post(&u, "/api/tasks", json!({"title": format!("t{i}")})));
    let mut numbers: Vec<u64> = futures_util::future::join_all(creates)
        .await
        .iter()
        .map(|r| r.expect(201).json()["number"].as_u64().expect("n"))
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=30).collect::<Vec<u64>>());
}
