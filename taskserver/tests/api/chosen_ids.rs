//! `PUT /api/tasks/{uuid}` with `If-None-Match: *`: creating a task with an
//! id the client chose, once per id per user, ever.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

/// A new UUIDv7, as a client would choose.
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl App {
    /// `PUT /api/tasks/{id}` with `If-None-Match: *`.
    async fn create_at(&self, u: &User, id: &str, body: Value) -> Resp {
        send(
            self.authed(Method::PUT, &format!("/api/tasks/{id}"), &u.token)
                .header("if-none-match", "*")
                .json(&body),
        )
        .await
    }
}

#[tokio::test]
async fn chosen_a_put_with_if_none_match_star_creates_the_task() {
    let app = spawn_app().await;
    let u = app.register().await;
    app.task(&u, "first").await;
    let id = new_id();
    let resp = app
        .create_at(&u, &id, json!({"title": " Buy milk ", "tags": ["home"]}))
        .await;
    resp.expect(201);
    let task = resp.json();
    assert_eq!(task["id"], id.as_str());
    assert_eq!(task["number"], 2, "the number is the server's");
    assert_eq!(task["title"], "Buy milk");
    assert_eq!(task["tags"], json!(["home"]));
    assert_eq!(task["version"], 1);
    assert_eq!(
        resp.header("location"),
        Some(format!("/api/tasks/{id}")),
        "Location as for POST"
    );
    assert_eq!(resp.header("etag").as_deref(), Some("\"1\""));
    assert_eq!(
        resp.header("content-type").as_deref(),
        Some("application/json")
    );
    // The same keys as a POST's answer.
    let posted = app.task(&u, "posted").await;
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&task), keys(&posted));
    assert_eq!(app.fetch(&u, &task["id"]).await, task);
    assert_eq!(app.get(&u, "/api/tasks/2").await.json(), task);
}

#[tokio::test]
async fn chosen_a_retry_is_412_and_changes_nothing() {
    let app = spawn_app().await;
    let u = app.register().await;
    let id = new_id();
    let task = app
        .create_at(&u, &id, json!({"title": "once"}))
        .await
        .expect(201)
        .json();
    let retry = app.create_at(&u, &id, json!({"title": "once"})).await;
    let problem = retry.problem(412, "already_exists");
    assert!(
        !s(&problem["detail"]).contains(&id),
        "the detail names no id"
    );
    let other = app.create_at(&u, &id, json!({"title": "other"})).await;
    other.problem(412, "already_exists");
    assert_eq!(app.fetch(&u, &task["id"]).await, task, "unchanged");
    let all = app.list_all(&u, "").await;
    assert_eq!(all.len(), 1, "one task, however often it is sent");
    // No number was used up by the refusals.
    assert_eq!(app.task(&u, "next").await["number"], 2);
}

#[tokio::test]
async fn chosen_a_deleted_id_is_412_for_ever() {
    let app = spawn_app().await;
    let u = app.register().await;
    let id = new_id();
    app.create_at(&u, &id, json!({"title": "gone soon"}))
        .await
        .expect(201);
    app.delete(&u, &format!("/api/tasks/{id}")).await.expect(204);
    app.create_at(&u, &id, json!({"title": "back"}))
        .await
        .problem(412, "already_exists");
    app.get(&u, &format!("/api/tasks/{id}")).await.expect(404);
    // A server-generated id that was deleted, too.
    let posted = app.task(&u, "posted").await;
    app.delete(&u, &task_path(&posted["id"])).await.expect(204);
    app.create_at(&u, &s(&posted["id"]), json!({"title": "back"}))
        .await
        .problem(412, "already_exists");
    assert!(app.list_all(&u, "").await.is_empty());
}

#[tokio::test]
async fn chosen_ids_are_per_user_and_tell_nothing_about_others() {
    let app = spawn_app().await;
    let ada = app.register().await;
    let bob = app.register().await;
    let live = new_id();
    let deleted = new_id();
    let ada_task = app
        .create_at(&ada, &live, json!({"title": "ada's"}))
        .await
        .expect(201)
        .json();
    app.create_at(&ada, &deleted, json!({"title": "ada's gone"}))
        .await
        .expect(201);
    app.delete(&ada, &format!("/api/tasks/{deleted}"))
        .await
        .expect(204);
    // Bob's creates of the same ids answer exactly as fresh ids do.
    let fresh = app
        .create_at(&bob, &new_id(), json!({"title": "bob's"}))
        .await;
    fresh.expect(201);
    for id in [&live, &deleted] {
        let resp = app.create_at(&bob, id, json!({"title": "bob's"})).await;
        resp.expect(201);
        assert_eq!(resp.json()["id"], id.as_str());
    }
    assert_eq!(app.list_all(&bob, "").await.len(), 3);
    assert_eq!(
        app.fetch(&ada, &ada_task["id"]).await,
        ada_task,
        "ada's task is untouched"
    );
    assert_eq!(app.list_all(&ada, "").await.len(), 1);
    // Bob's is his: a retry of his is 412, ada's task stays hers.
    app.create_at(&bob, &live, json!({"title": "again"}))
        .await
        .problem(412, "already_exists");
    let bobs = app.get(&bob, &format!("/api/tasks/{live}")).await.json();
    assert_eq!(bobs["title"], "bob's");
}

#[tokio::test]
async fn chosen_without_if_none_match_a_put_to_a_new_id_is_404() {
    let app = spawn_app().await;
    let u = app.register().await;
    let id = new_id();
    let resp = app
        .put(&u, &format!("/api/tasks/{id}"), json!({"title": "x"}))
        .await;
    resp.problem(404, "not_found");
    assert!(app.list_all(&u, "").await.is_empty());
    // And with it, a PUT to a task one has is no replace.
    let task = app.task(&u, "mine").await;
    app.create_at(&u, &s(&task["id"]), json!({"title": "replaced?"}))
        .await
        .problem(412, "already_exists");
    assert_eq!(app.fetch(&u, &task["id"]).await, task);
}

#[tokio::test]
async fn chosen_paths_that_are_not_uuids() {
    let app = spawn_app().await;
    let u = app.register().await;
    for path in ["abc", "0", "007", "7", "+1"] {
        app.create_at(&u, path, json!({"title": "x"}))
            .await
            .problem(404, "not_found");
    }
    // A number the caller has fails the condition, like its UUID.
    let task = app.task(&u, "one").await;
    app.create_at(&u, "1", json!({"title": "x"}))
        .await
        .problem(412, "already_exists");
    app.create_at(&u, "1", json!({"title": ""}))
        .await
        .invalid("title");
    assert_eq!(app.list_all(&u, "").await, vec![task]);
}

#[tokio::test]
async fn chosen_the_order_of_checks() {
    let app = spawn_with(|c| c.max_tasks_per_user = 2).await;
    let u = app.register().await;
    let taken = new_id();
    // 422 before anything is created, and 422 before 412.
    app.create_at(&u, &taken, json!({"title": ""}))
        .await
        .invalid("title");
    app.create_at(&u, &taken, json!({"title": "ok", "id": taken}))
        .await
        .invalid("id");
    app.create_at(&u, &taken, json!({"title": "ok"}))
        .await
        .expect(201);
    app.create_at(&u, &taken, json!({"title": ""}))
        .await
        .invalid("title");
    app.create_at(&u, "1", json!({"title": ""}))
        .await
        .invalid("title");
    app.task(&u, "fills the last slot").await;
    // At the limit: a new id is 403; the id that got through is 412, so a
    // retry of the create that filled the last slot learns it did.
    app.create_at(&u, &new_id(), json!({"title": "two"}))
        .await
        .problem(403, "task_limit_reached");
    app.create_at(&u, &taken, json!({"title": "ok"}))
        .await
        .problem(412, "already_exists");
    app.create_at(&u, "1", json!({"title": "ok"}))
        .await
        .problem(412, "already_exists");
    // An invalid body at the limit is 403, as for POST, whatever the id.
    for id in [new_id(), taken.clone(), "1".to_string()] {
        app.create_at(&u, &id, json!({"title": ""}))
            .await
            .problem(403, "task_limit_reached");
    }
    // 401 first; 400 (the request itself) before 404 and 412.
    let resp = send(
        app.req(Method::PUT, &format!("/api/tasks/{}", new_id()))
            .header("if-none-match", "*")
            .json(&json!({"title": "x"})),
    )
    .await;
    resp.unauthorized("missing_token", false);
    let resp = send(
        app.authed(Method::PUT, &format!("/api/tasks/{taken}"), &u.token)
            .header("if-none-match", "*")
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    resp.problem(400, "malformed_json");
    let resp = send(
        app.authed(Method::PUT, "/api/tasks/abc", &u.token)
            .header("if-none-match", "\"1\"")
            .json(&json!({"title": "x"})),
    )
    .await;
    resp.problem(400, "invalid_precondition");
    assert_eq!(app.list_all(&u, "").await.len(), 2);
}

#[tokio::test]
async fn chosen_if_none_match_takes_only_a_lone_star() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app.task(&u, "mine").await;
    let path = task_path(&task["id"]);
    for value in ["\"1\"", "\"2\"", "W/\"1\"", "*, \"1\"", "\"1\", *", "", "nonsense"] {
        let resp = send(
            app.authed(Method::PUT, &path, &u.token)
                .header("if-none-match", value)
                .json(&json!({"title": "changed"})),
        )
        .await;
        resp.problem(400, "invalid_precondition");
    }
    // `*` on two header lines is still a list of two.
    let resp = send(
        app.authed(Method::PUT, &format!("/api/tasks/{}", new_id()), &u.token)
            .header("if-none-match", "*")
            .header("if-none-match", "*")
            .json(&json!({"title": "x"})),
    )
    .await;
    resp.problem(400, "invalid_precondition");
    // With If-Match: contradictory, refused before the store is read.
    for path in [path.clone(), format!("/api/tasks/{}", new_id())] {
        let resp = send(
            app.authed(Method::PUT, &path, &u.token)
                .header("if-none-match", "*")
                .header("if-match", "\"1\"")
                .json(&json!({"title": "changed"})),
        )
        .await;
        resp.problem(400, "invalid_precondition");
    }
    // Surrounding white space is no matter.
    let resp = send(
        app.authed(Method::PUT, &format!("/api/tasks/{}", new_id()), &u.token)
            .header("if-none-match", " * ")
            .json(&json!({"title": "spaced"})),
    )
    .await;
    resp.expect(201);
    assert_eq!(app.fetch(&u, &task["id"]).await, task, "never replaced");
    assert_eq!(app.list_all(&u, "").await.len(), 2);
}

#[tokio::test]
async fn chosen_concurrent_creates_of_one_id_have_one_winner() {
    let app = spawn_app().await;
    let u = app.register().await;
    let id = new_id();
    let requests = (0..16).map(|i| {
        send(
            app.authed(Method::PUT, &format!("/api/tasks/{id}"), &u.token)
                .header("if-none-match", "*")
                .json(&json!({"title": format!("racer {i}")})),
        )
    });
    let answers = futures_util::future::join_all(requests).await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    let mut expected = vec![201];
    expected.extend([412; 15]);
    assert_eq!(statuses, expected);
    for resp in answers.iter().filter(|r| r.status == 412) {
        resp.problem(412, "already_exists");
    }
    let winner = answers
        .iter()
        .find(|r| r.status == 201)
        .expect("one winner")
        .json();
    let all = app.list_all(&u, "").await;
    assert_eq!(all, vec![winner]);
}
