//! A user reaches only their own tasks: another user's task is the same 404,
//! byte for byte, as one that never existed.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

/// Every method on `path` as `u`, with an optional `If-Match`: (status, content-type, body) each.
async fn answers(
    app: &App,
    u: &User,
    path: &str,
    tag: Option<&str>,
) -> Vec<(u16, Option<String>, Vec<u8>)> {
    let mut out = Vec::new();
    for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
        let mut request = app.authed(method.clone(), path, &u.token);
        if method == Method::PUT || method == Method::PATCH {
            request = request.json(&json!({"title": "stolen"}));
        }
        if let Some(tag) = tag {
            request = request.header("if-match", tag);
        }
        let resp = send(request).await;
        resp.problem(404, "not_found");
        out.push((resp.status, resp.header("content-type"), resp.body));
    }
    out
}

#[tokio::test]
async fn another_users_task_is_the_same_404_as_a_task_that_never_existed() {
    let app = spawn_app().await;
    let a = app.register().await;
    let b = app.register().await;
    let task = app
        .create(&a, json!({"title": "A's secret", "tags": ["private"]}))
        .await;
    let gone = app.task(&b, "deleted").await;
    app.delete(&b, &task_path(&gone["id"])).await.expect(204);

    let never = answers(
        &app,
        &b,
        &format!("/api/tasks/{}", uuid::Uuid::now_v7()),
        None,
    )
    .await;
    let body = String::from_utf8_lossy(&never[0].2).into_owned();
    assert!(
        !body.contains(&s(&task["id"])) && !body.contains("A's secret"),
        "404 body reveals nothing: {body}"
    );

    let probes = [
        task_path(&task["id"]),
        task_path(&task["id"])
            .to_uppercase()
            .replace("/API/TASKS/", "/api/tasks/"),
        "/api/tasks/1".to_string(), // A's number; B's own task 1 is deleted
        task_path(&gone["id"]),
        "/api/tasks/abc".to_string(),
        "/api/tasks/0".to_string(),
        "/api/tasks/007".to_string(),
        "/api/tasks/-1".to_string(),
        "/api/tasks/+1".to_string(),
        "/api/tasks/1.0".to_string(),
        "/api/tasks/99999999999999999999999999".to_string(),
        "/api/tasks/5f0c1a2e-3b4d-4e6f-8a9b-0c1d2e3f4a5b".to_string(),
    ];
    for path in &probes {
        assert_eq!(answers(&app, &b, path, None).await, never, "B on {path}");
        assert_eq!(
            answers(&app, &b, path, Some("\"1\"")).await,
            never,
            "B on {path} with If-Match"
        );
        assert_eq!(
            answers(&app, &b, path, Some("*")).await,
            never,
            "B on {path} with If-Match: *"
        );
    }
    // A's task is untouched.
    assert_eq!(app.fetch(&a, &task["id"]).await, task);
}

#[tokio::test]
async fn numbers_name_the_callers_own_tasks() {
    let app = spawn_app().await;
    let a = app.register().await;
    let b = app.register().await;
    let a1 = app.task(&a, "A one").await;
    let b1 = app.task(&b, "B one").await;
    assert_eq!(app.fetch(&a, &json!(1)).await, a1);
    assert_eq!(app.fetch(&b, &json!(1)).await, b1);
    app.patch(&b, "/api/tasks/1", json!({"title": "B edited"}))
        .await
        .expect(200);
    app.delete(&b, "/api/tasks/1").await.expect(204);
    assert_eq!(
        app.fetch(&a, &json!(1)).await,
        a1,
        "B's writes on number 1 never reach A's task 1"
    );
}

#[tokio::test]
async fn lists_never_show_other_users_tasks() {
    let app = spawn_app().await;
    let a = app.register().await;
    let b = app.register().await;
    for i in 0..5 {
        app.create(
            &a,
            json!({"title": format!("shared words {i}"), "tags": ["common"], "priority": "high"}),
        )
        .await;
    }
    let mine = app
        .create(
            &b,
            json!({"title": "shared words b", "tags": ["common"], "priority": "high"}),
        )
        .await;
    for query in [
        "",
        "q=shared",
        "tag=common",
        "priority=high",
        "status=pending",
        "sort=-created&limit=1",
        "sort=title",
    ] {
        let tasks = app.list_all(&b, query).await;
        assert_eq!(ids(&tasks), vec![s(&mine["id"])], "B's list {query:?}");
    }
    assert_eq!(app.list_all(&a, "q=shared").await.len(), 5);
    let empty = app.register().await;
    let page = app.list(&empty, "").await.expect(200).json();
    assert_eq!(page, json!({"tasks": [], "next_cursor": null}));
}
