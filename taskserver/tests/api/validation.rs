//! Field rules at their exact boundaries, on POST, PUT and PATCH, and mass assignment.

use crate::helpers::*;
use serde_json::{Value, json};

/// Sends `body` (merged over a valid title for POST and PUT) on all three
/// writes and checks each accepts it (returning the stored value of `field`)
/// or refuses it with a 422 naming `field` and changes nothing.
async fn check(app: &App, u: &User, field: &str, value: Value, ok: bool) -> Option<Value> {
    let existing = app.task(u, "existing").await;
    let path = task_path(&existing["id"]);
    let mut full = json!({"title": "valid"});
    full[field] = value.clone();
    let mut stored = None;
    for (what, resp) in [
        ("POST", app.post(u, "/api/tasks", full.clone()).await),
        ("PUT", app.put(u, &path, full.clone()).await),
        ("PATCH", app.patch(u, &path, json!({ field: value })).await),
    ] {
        if ok {
            assert!(
                resp.status == 200 || resp.status == 201,
                "{what} {field}={value}: {} {}",
                resp.status,
                resp.short()
            );
            let got = resp.json()[field].clone();
            assert!(
                stored.as_ref().is_none_or(|s| *s == got),
                "{what} stored {got}, before {stored:?}"
            );
            stored = Some(got);
        } else {
            assert_eq!(resp.status, 422, "{what} {field}={value}: {}", resp.short());
            resp.invalid(field);
        }
    }
    if !ok {
        assert_eq!(
            app.fetch(u, &existing["id"]).await,
            existing,
            "a 422 changes nothing"
        );
    }
    stored
}

async fn accepts(app: &App, u: &User, field: &str, value: Value) -> Value {
    check(app, u, field, value, true).await.expect("stored")
}

async fn refuses(app: &App, u: &User, field: &str, value: Value) {
    check(app, u, field, value, false).await;
}

#[tokio::test]
async fn title_is_1_to_200_characters_after_trimming() {
    let app = spawn_app().await;
    let u = app.register().await;
    for unit in ["a", "é", "😀", "日"] {
        assert_eq!(
            accepts(&app, &u, "title", json!(unit.repeat(200))).await,
            unit.repeat(200)
        );
        refuses(&app, &u, "title", json!(unit.repeat(201))).await;
        let padded = format!("  \t{}\n ", unit.repeat(200));
        assert_eq!(
            accepts(&app, &u, "title", json!(padded)).await,
            unit.repeat(200),
            "stored trimmed"
        );
    }
    assert_eq!(accepts(&app, &u, "title", json!("x")).await, "x");
    for bad in [
        "", "   ", "\t\n", "a\u{0}b", "a\u{7}b", "a\nb", "a\tb", "a\u{7f}b", "a\u{1f}",
    ] {
        refuses(&app, &u, "title", json!(bad)).await;
    }
    // Control characters are checked after trimming: trimmed white space is fine.
    assert_eq!(accepts(&app, &u, "title", json!("\tok\r\n")).await, "ok");
    for bad in [
        Value::Null,
        json!(5),
        json!(["t"]),
        json!({"t": 1}),
        json!(true),
    ] {
        refuses(&app, &u, "title", bad).await;
    }
}

#[tokio::test]
async fn description_is_at_most_4000_characters() {
    let app = spawn_app().await;
    let u = app.register().await;
    for unit in ["a", "ü", "😀"] {
        accepts(&app, &u, "description", json!(unit.repeat(4000))).await;
        refuses(&app, &u, "description", json!(unit.repeat(4001))).await;
    }
    assert_eq!(
        accepts(&app, &u, "description", json!("a\nb\r\n\tc")).await,
        "a\nb\r\n\tc"
    );
    assert_eq!(accepts(&app, &u, "description", json!("")).await, "");
    for bad in [
        json!("a\u{0}"),
        json!("bell\u{7}"),
        json!("del\u{7f}"),
        json!("esc\u{1b}"),
        Value::Null,
        json!(1),
    ] {
        refuses(&app, &u, "description", bad).await;
    }
}

#[tokio::test]
async fn tags_are_at_most_20_of_1_to_50_characters() {
    let app = spawn_app().await;
    let u = app.register().await;
    let tags = |n: usize| (0..n).map(|i| format!("tag{i}")).collect::<Vec<_>>();
    assert_eq!(
        accepts(&app, &u, "tags", json!(tags(20))).await,
        json!(tags(20))
    );
    refuses(&app, &u, "tags", json!(tags(21))).await;
    // 21 entries, 20 distinct.
    let mut dup = tags(20);
    dup.push("tag0".into());
    assert_eq!(accepts(&app, &u, "tags", json!(dup)).await, json!(tags(20)));
    for unit in ["a", "ß", "😀"] {
        accepts(&app, &u, "tags", json!([unit.repeat(50)])).await;
        refuses(&app, &u, "tags", json!([unit.repeat(51)])).await;
    }
    for bad in [
        "",
        "two words",
        "tab\there",
        "nl\n",
        "nul\u{0}",
        "nbsp\u{a0}x",
        "del\u{7f}",
    ] {
        refuses(&app, &u, "tags", json!(["ok", bad])).await;
    }
    for bad in [Value::Null, json!("a"), json!([1]), json!([null])] {
        refuses(&app, &u, "tags", bad).await;
    }
    assert_eq!(
        accepts(&app, &u, "tags", json!(["Work", "work", "WORK"])).await,
        json!(["Work", "work", "WORK"])
    );
}

#[tokio::test]
async fn priority_completed_and_due_have_their_types() {
    let app = spawn_app().await;
    let u = app.register().await;
    for p in ["none", "low", "medium", "high"] {
        assert_eq!(accepts(&app, &u, "priority", json!(p)).await, p);
    }
    for bad in [
        json!("urgent"),
        json!("High"),
        json!(""),
        json!(2),
        Value::Null,
    ] {
        refuses(&app, &u, "priority", bad).await;
    }
    assert_eq!(accepts(&app, &u, "completed", json!(true)).await, true);
    for bad in [json!("true"), json!(1), Value::Null] {
        refuses(&app, &u, "completed", bad).await;
    }
    for (due, stored) in [
        ("2031-05-06T07:08:09Z", "2031-05-06T07:08:09Z"),
        ("2031-05-06T07:08:09.5-01:30", "2031-05-06T08:38:09.500Z"),
        (
            "2031-05-06T07:08:09.1234561+00:00",
            "2031-05-06T07:08:09.123456Z",
        ),
    ] {
        let got = accepts(&app, &u, "due", json!(due)).await;
        let parsed = chrono::DateTime::parse_from_rfc3339(&s(&got)).expect("rfc3339");
        let want = chrono::DateTime::parse_from_rfc3339(stored).expect("rfc3339");
        assert_eq!(parsed, want, "{due} stored as {got}");
        assert!(s(&got).ends_with('Z'), "{got}");
    }
    assert_eq!(accepts(&app, &u, "due", Value::Null).await, Value::Null);
    for bad in [
        json!("tomorrow"),
        json!("2031-05-06"),
        json!("2031-05-06 07:08:09"),
        json!("2031-13-01T00:00:00Z"),
        json!(12),
    ] {
        refuses(&app, &u, "due", bad).await;
    }
}

#[tokio::test]
async fn a_body_cannot_choose_an_owner_an_id_or_a_version() {
    let app = spawn_app().await;
    let u = app.register().await;
    let other = app.register().await;
    let task = app.task(&u, "mine").await;
    let path = task_path(&task["id"]);
    let forged = [
        ("user_id", json!(other.id)),
        ("id", json!(uuid::Uuid::now_v7())),
        ("version", json!(99)),
        ("number", json!(42)),
        ("created_at", json!("2020-01-01T00:00:00Z")),
        ("updated_at", json!("2020-01-01T00:00:00Z")),
        ("completed_at", json!("2020-01-01T00:00:00Z")),
        ("owner", json!(other.id)),
        ("Title", json!("case matters")),
    ];
    for (key, value) in forged {
        let body = json!({"title": "hijack", key: value});
        app.post(&u, "/api/tasks", body.clone())
            .await
            .problem(422, "validation_failed");
        app.put(&u, &path, body.clone())
            .await
            .problem(422, "validation_failed");
        app.patch(&u, &path, json!({ key: value }))
            .await
            .problem(422, "validation_failed");
    }
    assert_eq!(app.fetch(&u, &task["id"]).await, task, "nothing changed");
    let all = tasks_of(&app.list(&u, "").await.expect(200).json());
    assert_eq!(all, vec![task], "nothing was created");
    assert!(tasks_of(&app.list(&other, "").await.expect(200).json()).is_empty());
    // The next task still gets the next number.
    assert_eq!(app.task(&u, "next").await["number"], 2);
}

#[tokio::test]
async fn every_broken_rule_is_reported() {
    let app = spawn_app().await;
    let u = app.register().await;
    let body = json!({"title": "", "priority": "urgent", "tags": [""]});
    let problem = app.post(&u, "/api/tasks", body).await.invalid("title");
    let fields: Vec<String> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| s(&e["field"]))
        .collect();
    for field in ["title", "priority", "tags"] {
        assert!(
            fields.iter().any(|f| f.starts_with(field)),
            "{field} missing in {fields:?}"
        );
    }
    for e in problem["errors"].as_array().expect("errors") {
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    }
}
