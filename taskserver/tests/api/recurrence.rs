//! Recurrence over HTTP: the rules of `recur` (and its `due`) on POST, PUT
//! and PATCH, the successor a completion creates exactly once, and the
//! `Link: <...>; rel="next"` header that leads to it.

use crate::helpers::*;
use serde_json::{Value, json};
use std::sync::Arc;

/// The response, after checking its status (for when its headers are needed).
#[track_caller]
fn answered(resp: Resp, status: u16) -> Resp {
    resp.expect(status);
    resp
}

/// A Monday, 09:00 UTC.
const MONDAY: &str = "2030-01-07T09:00:00Z";

/// Sends `body` (merged over a valid title and due for POST and PUT, alone
/// for PATCH) on all three writes of an existing recurring task: each must
/// be a 422 naming `field` with a message that contains `part`, and change
/// nothing.
async fn refuses(app: &App, u: &User, body: Value, field: &str, part: &str) {
    let existing = app
        .create(
            u,
            json!({"title": "existing", "due": MONDAY, "recur": "FREQ=WEEKLY"}),
        )
        .await;
    let path = task_path(&existing["id"]);
    let before = app.list_all(u, "status=all").await.len();
    let mut full = json!({"title": "t", "due": MONDAY});
    for (k, v) in body.as_object().expect("an object") {
        full[k] = v.clone();
    }
    for (what, resp) in [
        ("POST", app.post(u, "/api/tasks", full.clone()).await),
        ("PUT", app.put(u, &path, full.clone()).await),
        ("PATCH", app.patch(u, &path, body.clone()).await),
    ] {
        let problem = resp.invalid(field);
        let named = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .any(|e| e["field"] == field && e["message"].as_str().is_some_and(|m| m.contains(part)));
        assert!(named, "{what} {body}: no {field} error naming {part:?}: {problem}");
    }
    assert_eq!(
        app.fetch(u, &existing["id"]).await,
        existing,
        "a refused request changes nothing"
    );
    assert_eq!(
        app.list_all(u, "status=all").await.len(),
        before,
        "a refused POST creates nothing"
    );
}

#[tokio::test]
async fn every_malformed_rule_is_422_naming_recur_and_the_part() {
    let app = spawn_app().await;
    let u = app.register().await;
    let cases: [(&str, &str); 19] = [
        ("FREQ=DAILY;BYHOUR=9", "BYHOUR"),
        ("FREQ=WEEKLY;WKST=MO", "WKST"),
        ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS"),
        ("FREQ=HOURLY", "FREQ"),
        ("FREQ=SECONDLY", "FREQ"),
        ("INTERVAL=2", "FREQ"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL"),
        ("FREQ=DAILY;INTERVAL=1000", "INTERVAL"),
        ("FREQ=DAILY;INTERVAL=-1", "INTERVAL"),
        ("FREQ=DAILY;COUNT=0", "COUNT"),
        ("FREQ=DAILY;COUNT=1000", "COUNT"),
        ("FREQ=DAILY;UNTIL=20301231", "UNTIL"),
        ("FREQ=DAILY;UNTIL=20301231T235959", "UNTIL"),
        ("FREQ=DAILY;UNTIL=2030-12-31T23:59:59Z", "UNTIL"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ"),
        ("FREQ=WEEKLY;BYDAY=MO;BYDAY=TU", "BYDAY"),
        ("RRULE:FREQ=DAILY", "RRULE:"),
        ("FREQ=WEEKLY;BYDAY=1MO", "BYDAY"),
        ("FREQ=DAILY;FOO=1", "FOO"),
    ];
    for (rule, part) in cases {
        refuses(&app, &u, json!({"recur": rule}), "recur", part).await;
    }
    for (value, message) in [
        (json!(""), "must not be empty"),
        (json!("FREQ=DAILY;"), "empty part"),
        (json!("FREQ"), "NAME=VALUE"),
        (json!(7), "must be a string or null"),
        (json!({"freq": "daily"}), "must be a string or null"),
        (json!("FREQ=DAILY;COUNT=2;UNTIL=20301231T000000Z"), "COUNT and UNTIL"),
        (json!("FREQ=WEEKLY;BYMONTHDAY=1"), "BYMONTHDAY"),
        (json!("FREQ=YEARLY;BYMONTH=13"), "BYMONTH"),
        (json!("FREQ=MONTHLY;BYMONTHDAY=32"), "BYMONTHDAY"),
        (json!(format!("FREQ=DAILY;BYDAY={}", "MO,".repeat(400))), "1000"),
    ] {
        refuses(&app, &u, json!({"recur": value}), "recur", message).await;
    }
}

#[tokio::test]
async fn rules_are_case_insensitive_in_any_order_and_come_back_canonical() {
    let app = spawn_app().await;
    let u = app.register().await;
    for (given, canonical) in [
        ("freq=weekly", "FREQ=WEEKLY"),
        ("FREQ=DAILY;INTERVAL=1", "FREQ=DAILY"),
        (
            "until=20301231t235959z;byday=fr,mo,mo;freq=weekly",
            "FREQ=WEEKLY;BYDAY=MO,FR;UNTIL=20301231T235959Z",
        ),
        (
            "COUNT=5;BYMONTHDAY=-1,15;FREQ=MONTHLY;INTERVAL=02",
            "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=15,-1;COUNT=5",
        ),
        ("FREQ=MONTHLY;BYDAY=-1FR,+1MO", "FREQ=MONTHLY;BYDAY=1MO,-1FR"),
        (
            "FREQ=YEARLY;BYMONTH=12,1;BYMONTHDAY=1",
            "FREQ=YEARLY;BYMONTHDAY=1;BYMONTH=1,12",
        ),
        ("FREQ=DAILY;INTERVAL=999;COUNT=999", "FREQ=DAILY;INTERVAL=999;COUNT=999"),
    ] {
        let task = app
            .create(&u, json!({"title": "r", "due": MONDAY, "recur": given}))
            .await;
        assert_eq!(task["recur"], canonical, "{given}");
        assert_eq!(task["series"], task["id"], "{given}");
        let path = task_path(&task["id"]);
        let put = app
            .put(&u, &path, json!({"title": "r", "due": MONDAY, "recur": given}))
            .await
            .expect(200)
            .json();
        assert_eq!(put, task, "the same rule again changes nothing");
        let patched = app
            .patch(&u, &path, json!({"recur": given}))
            .await
            .expect(200)
            .json();
        assert_eq!(patched, task);
    }
}

#[tokio::test]
async fn a_rule_needs_a_due_date_with_a_date_at_or_after_it() {
    let app = spawn_app().await;
    let u = app.register().await;
    // No due: POST, PUT, and PATCH of a task without one.
    app.post(&u, "/api/tasks", json!({"title": "t", "recur": "FREQ=DAILY"}))
        .await
        .invalid("recur");
    app.post(
        &u,
        "/api/tasks",
        json!({"title": "t", "recur": "FREQ=DAILY", "due": null}),
    )
    .await
    .invalid("recur");
    let plain = app.task(&u, "plain").await;
    let plain_path = task_path(&plain["id"]);
    app.put(&u, &plain_path, json!({"title": "t", "recur": "FREQ=DAILY"}))
        .await
        .invalid("recur");
    app.patch(&u, &plain_path, json!({"recur": "FREQ=DAILY"}))
        .await
        .invalid("recur");
    assert_eq!(app.fetch(&u, &plain["id"]).await, plain);

    // Clearing the due of a recurring task, by PATCH or by a PUT that leaves it out.
    let recurring = app
        .create(&u, json!({"title": "r", "due": MONDAY, "recur": "FREQ=DAILY"}))
        .await;
    let path = task_path(&recurring["id"]);
    app.patch(&u, &path, json!({"due": null}))
        .await
        .invalid("due");
    app.put(&u, &path, json!({"title": "r", "recur": "FREQ=DAILY"}))
        .await
        .invalid("recur");
    assert_eq!(app.fetch(&u, &recurring["id"]).await, recurring);
    // Clearing both at once is fine.
    let cleared = app
        .patch(&u, &path, json!({"due": null, "recur": null}))
        .await
        .expect(200)
        .json();
    assert_eq!((&cleared["due"], &cleared["recur"]), (&Value::Null, &Value::Null));
    assert_eq!(cleared["series"], recurring["id"], "the series is kept");

    // An UNTIL before the due leaves the rule no date at or after it.
    let until_before = "FREQ=DAILY;UNTIL=20300106T000000Z";
    refuses(&app, &u, json!({"recur": until_before}), "recur", "UNTIL").await;
    // Moving the due past the UNTIL of a stored rule names `due`.
    let bounded = app
        .create(
            &u,
            json!({"title": "b", "due": MONDAY, "recur": "FREQ=DAILY;UNTIL=20300110T090000Z"}),
        )
        .await;
    let bounded_path = task_path(&bounded["id"]);
    app.patch(&u, &bounded_path, json!({"due": "2030-02-01T09:00:00Z"}))
        .await
        .invalid("due");
    assert_eq!(app.fetch(&u, &bounded["id"]).await, bounded);
    // An UNTIL on the due itself is a one-date series: fine.
    app.create(
        &u,
        json!({"title": "once", "due": MONDAY, "recur": "FREQ=DAILY;UNTIL=20300107T090000Z"}),
    )
    .await;
}

#[tokio::test]
async fn put_without_recur_stops_the_task_recurring() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app
        .create(
            &u,
            json!({"title": "r", "due": MONDAY, "recur": "FREQ=WEEKLY", "project": "Home"}),
        )
        .await;
    let path = task_path(&task["id"]);
    let replaced = app
        .put(&u, &path, json!({"title": "r", "due": MONDAY}))
        .await
        .expect(200)
        .json();
    assert_eq!(replaced["recur"], Value::Null);
    assert_eq!(replaced["project"], Value::Null, "every field left out resets");
    assert_eq!(replaced["series"], task["id"], "series is read-only and kept");
    assert_eq!(replaced["version"], 2);
    // Completing it now creates nothing.
    let done = answered(app
        .patch(&u, &path, json!({"completed": true}))
        .await, 200);
    assert_eq!(done.header("link"), None);
    assert_eq!(app.list_all(&u, "status=all").await.len(), 1);
    // series cannot be written.
    app.patch(&u, &path, json!({"series": null}))
        .await
        .invalid("series");
    app.post(
        &u,
        "/api/tasks",
        json!({"title": "x", "series": task["id"]}),
    )
    .await
    .invalid("series");
}

/// The successor's id from a `Link: </api/tasks/{id}>; rel="next"` header.
#[track_caller]
fn next_of(resp: &Resp) -> String {
    let link = resp
        .header("link")
        .unwrap_or_else(|| panic!("no Link header; body {}", resp.short()));
    let id = link
        .strip_prefix("</api/tasks/")
        .and_then(|rest| rest.strip_suffix(">; rel=\"next\""))
        .unwrap_or_else(|| panic!("not a rel=next link to a task: {link}"));
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{link}");
    id.to_string()
}

#[tokio::test]
async fn completing_a_weekly_task_creates_its_successor_with_the_next_due() {
    let app = spawn_app().await;
    let u = app.register().await;
    let first = app
        .create(
            &u,
            json!({"title": "Water plants", "description": "the ferns too", "priority": "high",
                "tags": ["home", "green"], "project": "Home.Garden", "due": MONDAY,
                "recur": "FREQ=WEEKLY"}),
        )
        .await;
    let path = task_path(&first["id"]);
    // Pending: no Link, no successor.
    assert_eq!(app.get(&u, &path).await.expect(200).header("link"), None);

    let done = answered(app
        .patch(&u, &path, json!({"completed": true}))
        .await, 200);
    let completed = done.json();
    assert_eq!(completed["completed"], true);
    assert_eq!(completed["version"], 2);
    let next_id = next_of(&done);
    assert_ne!(next_id, s(&first["id"]));

    let next = app.fetch(&u, &json!(next_id)).await;
    assert_eq!(next["due"], "2030-01-14T09:00:00Z");
    for field in ["title", "description", "priority", "tags", "project", "recur"] {
        assert_eq!(next[field], first[field], "{field} is copied");
    }
    assert_eq!(next["series"], first["id"]);
    assert_eq!(
        (&next["completed"], &next["completed_at"], &next["version"]),
        (&json!(false), &Value::Null, &json!(1))
    );
    assert_eq!(next["number"], first["number"].as_u64().expect("number") + 1);
    assert_time(&next["created_at"]);

    // GET of the completed task leads there too; the successor has no Link.
    let got = answered(app.get(&u, &path).await, 200);
    assert_eq!(next_of(&got), next_id);
    assert_eq!(got.json(), completed);
    let next_path = task_path(&next["id"]);
    assert_eq!(app.get(&u, &next_path).await.header("link"), None);

    // Completing the successor steps on from the anchor: one more week.
    let done2 = answered(app
        .patch(&u, &next_path, json!({"completed": true}))
        .await, 200);
    let third = app.fetch(&u, &json!(next_of(&done2))).await;
    assert_eq!(third["due"], "2030-01-21T09:00:00Z");
    assert_eq!(third["series"], first["id"]);
    assert_eq!(app.list_all(&u, "status=all").await.len(), 3);
    // Only the newest occurrence is pending.
    let pending = app.list_all(&u, "status=pending").await;
    assert_eq!(ids(&pending), [s(&third["id"])]);
}

#[tokio::test]
async fn an_occurrence_has_at_most_one_successor_ever() {
    let app = spawn_app().await;
    let u = app.register().await;
    let first = app
        .create(&u, json!({"title": "w", "due": MONDAY, "recur": "FREQ=WEEKLY"}))
        .await;
    let path = task_path(&first["id"]);
    let done = answered(app
        .patch(&u, &path, json!({"completed": true}))
        .await, 200);
    let next_id = next_of(&done);

    // Completing it again changes nothing and creates nothing.
    let again = answered(app
        .patch(&u, &path, json!({"completed": true}))
        .await, 200);
    assert_eq!(again.json()["version"], 2);
    assert_eq!(next_of(&again), next_id);
    // Uncompleting keeps the successor; completing again makes no other.
    let undone = answered(app
        .patch(&u, &path, json!({"completed": false}))
        .await, 200);
    assert_eq!(undone.header("link"), None, "a pending task has no next");
    let redone = answered(app
        .put(
            &u,
            &path,
            json!({"title": "w", "due": MONDAY, "recur": "FREQ=WEEKLY", "completed": true}),
        )
        .await, 200);
    assert_eq!(next_of(&redone), next_id, "PUT completes as PATCH does");
    assert_eq!(app.list_all(&u, "status=all").await.len(), 2);

    // Deleting the successor does not bring another: the occurrence had one.
    app.delete(&u, &task_path(&json!(next_id)))
        .await
        .expect(204);
    assert_eq!(app.get(&u, &path).await.expect(200).header("link"), None);
    app.patch(&u, &path, json!({"completed": false}))
        .await
        .expect(200);
    let once_more = answered(app
        .patch(&u, &path, json!({"completed": true}))
        .await, 200);
    assert_eq!(once_more.header("link"), None);
    assert_eq!(app.list_all(&u, "status=all").await.len(), 1);
    // Deleting a task never touches the rest of its series.
    let other = app
        .create(&u, json!({"title": "o", "due": MONDAY, "recur": "FREQ=DAILY"}))
        .await;
    let other_path = task_path(&other["id"]);
    let done = answered(app
        .patch(&u, &other_path, json!({"completed": true}))
        .await, 200);
    let other_next = next_of(&done);
    app.delete(&u, &other_path).await.expect(204);
    app.fetch(&u, &json!(other_next)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn completing_from_many_clients_at_once_creates_one_successor() {
    let app = Arc::new(spawn_app().await);
    let u = app.register().await;
    let first = app
        .create(&u, json!({"title": "w", "due": MONDAY, "recur": "FREQ=DAILY"}))
        .await;
    let path = task_path(&first["id"]);
    let mut writes = Vec::new();
    for i in 0..16 {
        let (app, u, path) = (app.clone(), u.clone(), path.clone());
        writes.push(tokio::spawn(async move {
            // Half by PATCH, half by PUT.
            let resp = if i % 2 == 0 {
                app.patch(&u, &path, json!({"completed": true})).await
            } else {
                app.put(
                    &u,
                    &path,
                    json!({"title": "w", "due": MONDAY, "recur": "FREQ=DAILY", "completed": true}),
                )
                .await
            };
            assert_eq!(resp.status, 200, "{}", resp.short());
            next_of(&resp)
        }));
    }
    let mut links = Vec::new();
    for write in writes {
        links.push(write.await.expect("join"));
    }
    links.dedup();
    assert_eq!(links.len(), 1, "every answer links the one successor");
    let all = app.list_all(&u, "status=all").await;
    assert_eq!(all.len(), 2, "one successor: {all:?}");
    let next = app.fetch(&u, &json!(links[0])).await;
    assert_eq!(next["due"], "2030-01-08T09:00:00Z");
}

#[tokio::test]
async fn no_successor_once_the_rule_ends_and_none_for_plain_tasks() {
    let app = spawn_app().await;
    let u = app.register().await;
    let plain = app
        .create(&u, json!({"title": "p", "due": MONDAY}))
        .await;
    let done = answered(app
        .patch(&u, &task_path(&plain["id"]), json!({"completed": true}))
        .await, 200);
    assert_eq!(done.header("link"), None);

    // COUNT=2: the first makes the second, the second makes nothing.
    let first = app
        .create(
            &u,
            json!({"title": "c", "due": MONDAY, "recur": "FREQ=DAILY;COUNT=2"}),
        )
        .await;
    let done = answered(app
        .patch(&u, &task_path(&first["id"]), json!({"completed": true}))
        .await, 200);
    let second = next_of(&done);
    let last = answered(app
        .patch(&u, &task_path(&json!(second)), json!({"completed": true}))
        .await, 200);
    assert_eq!(last.header("link"), None, "COUNT reached");

    // UNTIL: no date after it, no successor.
    let until = app
        .create(
            &u,
            json!({"title": "u", "due": MONDAY, "recur": "FREQ=WEEKLY;UNTIL=20300110T000000Z"}),
        )
        .await;
    let done = answered(app
        .patch(&u, &task_path(&until["id"]), json!({"completed": true}))
        .await, 200);
    assert_eq!(done.header("link"), None, "UNTIL reached");
    // 1 plain + 2 counted + 1 until.
    assert_eq!(app.list_all(&u, "status=all").await.len(), 4);
}

#[tokio::test]
async fn a_monthly_rule_on_the_31st_skips_shorter_months() {
    let app = spawn_app().await;
    let u = app.register().await;
    let first = app
        .create(
            &u,
            json!({"title": "m", "due": "2030-01-31T08:00:00Z", "recur": "FREQ=MONTHLY"}),
        )
        .await;
    let done = answered(app
        .patch(&u, &task_path(&first["id"]), json!({"completed": true}))
        .await, 200);
    let next = app.fetch(&u, &json!(next_of(&done))).await;
    assert_eq!(next["due"], "2030-03-31T08:00:00Z", "February has no 31st");
    let last_day = app
        .create(
            &u,
            json!({"title": "l", "due": "2030-01-31T08:00:00Z",
                "recur": "FREQ=MONTHLY;BYMONTHDAY=-1"}),
        )
        .await;
    let done = answered(app
        .patch(&u, &task_path(&last_day["id"]), json!({"completed": true}))
        .await, 200);
    let next = app.fetch(&u, &json!(next_of(&done))).await;
    assert_eq!(next["due"], "2030-02-28T08:00:00Z");
}

#[tokio::test]
async fn another_users_task_never_gets_a_link_or_a_successor_of_theirs() {
    let app = spawn_app().await;
    let ada = app.register().await;
    let bob = app.register().await;
    let task = app
        .create(&ada, json!({"title": "w", "due": MONDAY, "recur": "FREQ=WEEKLY"}))
        .await;
    let path = task_path(&task["id"]);
    // Bob cannot complete it (404), and nothing is created for anyone.
    app.patch(&bob, &path, json!({"completed": true}))
        .await
        .problem(404, "not_found");
    assert!(app.list_all(&bob, "status=all").await.is_empty());
    assert_eq!(app.list_all(&ada, "status=all").await.len(), 1);
    let done = answered(app
        .patch(&ada, &path, json!({"completed": true}))
        .await, 200);
    let next = next_of(&done);
    app.get(&bob, &task_path(&json!(next)))
        .await
        .problem(404, "not_found");
    assert!(app.list_all(&bob, "status=all").await.is_empty());
    assert_eq!(
        app.get(&bob, "/api/projects").await.expect(200).json(),
        json!({"projects": []})
    );
}

#[tokio::test]
async fn a_refused_completion_creates_no_successor() {
    let app = spawn_app().await;
    let u = app.register().await;
    let first = app
        .create(&u, json!({"title": "w", "due": MONDAY, "recur": "FREQ=WEEKLY"}))
        .await;
    let path = task_path(&first["id"]);
    // 412: the version does not match.
    let stale = send(
        app.authed(reqwest::Method::PATCH, &path, &u.token)
            .header("if-match", "\"7\"")
            .json(&json!({"completed": true})),
    )
    .await;
    stale.problem(412, "version_mismatch");
    assert_eq!(stale.header("link"), None);
    // 422: completing while clearing the due of a recurring task.
    app.patch(&u, &path, json!({"completed": true, "due": null}))
        .await
        .invalid("due");
    // 422: completing while setting a rule that ends before the due.
    app.patch(
        &u,
        &path,
        json!({"completed": true, "recur": "FREQ=DAILY;UNTIL=20300101T000000Z"}),
    )
    .await
    .invalid("recur");
    // 422 on PUT: completing with a malformed project.
    app.put(
        &u,
        &path,
        json!({"title": "w", "due": MONDAY, "recur": "FREQ=WEEKLY", "completed": true,
            "project": "Home..x"}),
    )
    .await
    .invalid("project");
    assert_eq!(app.fetch(&u, &first["id"]).await, first);
    assert_eq!(app.list_all(&u, "status=all").await.len(), 1, "no successor");
    // The matching version goes through, and makes exactly one.
    let done = answered(
        send(
            app.authed(reqwest::Method::PATCH, &path, &u.token)
                .header("if-match", "\"1\"")
                .json(&json!({"completed": true})),
        )
        .await,
        200,
    );
    next_of(&done);
    assert_eq!(app.list_all(&u, "status=all").await.len(), 2);
}

#[tokio::test]
async fn browsers_of_allowed_origins_can_read_the_link() {
    let app = spawn_app().await;
    let u = app.register().await;
    let first = app
        .create(&u, json!({"title": "w", "due": MONDAY, "recur": "FREQ=DAILY"}))
        .await;
    let path = task_path(&first["id"]);
    let done = answered(
        send(
            app.authed(reqwest::Method::PATCH, &path, &u.token)
                .header("origin", "http://localhost:3000")
                .json(&json!({"completed": true})),
        )
        .await,
        200,
    );
    next_of(&done);
    let exposed = done.header_list("access-control-expose-headers");
    assert!(exposed.contains(&"link".to_string()), "{exposed:?}");
}
