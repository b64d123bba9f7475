//! Lists: filters, sort orders, limits, and cursor walks that return each task
//! exactly once while tasks come and go.

use crate::helpers::*;
use serde_json::{Value, json};
use std::cmp::Ordering;
use std::collections::HashSet;

const TITLES: [&str; 10] = [
    "apple", "Banana", "cherry", "Äpfel", "äb", "Zebra", "zeta", "Émile", "eagle", "Same",
];
const PRIORITIES: [&str; 4] = ["none", "low", "medium", "high"];

/// The body of the i-th seeded task: every sort key varies, with ties.
fn seeded(i: usize) -> Value {
    let due = if i.is_multiple_of(3) {
        Value::Null
    } else {
        json!(format!("2030-01-{:02}T00:00:00Z", (i * 7) % 28 + 1))
    };
    json!({
        "title": TITLES[i % TITLES.len()],
        "priority": PRIORITIES[i % 4],
        "due": due,
        "completed": i.is_multiple_of(5),
        "tags": [if i.is_multiple_of(2) { "even" } else { "odd" }],
        "description": format!("seeded number {i}"),
    })
}

/// Creates `n` seeded tasks starting at index `from`, one after the other.
async fn seed(app: &App, u: &User, from: usize, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for i in from..from + n {
        out.push(app.create(u, seeded(i)).await);
    }
    out
}

fn time(v: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(&s(v)).expect("time")
}

fn rank(p: &Value) -> usize {
    PRIORITIES
        .iter()
        .position(|x| *x == s(p))
        .expect("priority")
}

fn id(t: &Value) -> uuid::Uuid {
    uuid::Uuid::parse_str(&s(&t["id"])).expect("id")
}

/// Whether `a` may come before `b` in `sort` (ties by id for ascending orders).
fn in_order(sort: &str, a: &Value, b: &Value) -> bool {
    let (desc, field) = match sort.strip_prefix('-') {
        Some(f) => (true, f),
        None => (false, sort),
    };
    let key = match field {
        "created" => id(a).cmp(&id(b)),
        "updated" => time(&a["updated_at"]).cmp(&time(&b["updated_at"])),
        "priority" => rank(&a["priority"]).cmp(&rank(&b["priority"])),
        "title" => s(&a["title"])
            .to_lowercase()
            .cmp(&s(&b["title"]).to_lowercase()),
        "due" => match (a["due"].is_null(), b["due"].is_null()) {
            (true, false) => return false,
            (false, true) => return true,
            (true, true) => Ordering::Equal,
            (false, false) => time(&a["due"]).cmp(&time(&b["due"])),
        },
        other => panic!("unknown sort {other}"),
    };
    let key = if desc { key.reverse() } else { key };
    match key {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => desc || id(a) < id(b),
    }
}

#[track_caller]
fn assert_sorted(sort: &str, tasks: &[Value]) {
    for pair in tasks.windows(2) {
        assert!(
            in_order(sort, &pair[0], &pair[1]),
            "sort={sort}: {} before {}",
            pair[0],
            pair[1]
        );
    }
}

#[tokio::test]
async fn every_sort_orders_as_specified() {
    let app = spawn_app().await;
    let u = app.register().await;
    let all = seed(&app, &u, 0, 24).await;
    // Make `updated` differ from `created`.
    for t in all.iter().step_by(3) {
        app.patch(&u, &task_path(&t["id"]), json!({"description": "touched"}))
            .await
            .expect(200);
    }
    for sort in SORTS {
        for limit in [200, 5] {
            let tasks = app
                .list_all(&u, &format!("sort={sort}&limit={limit}"))
                .await;
            assert_eq!(tasks.len(), all.len(), "sort={sort}");
            assert_sorted(sort, &tasks);
        }
    }
    // The default is `created`, oldest first.
    let default = tasks_of(&app.list(&u, "").await.expect(200).json());
    assert_eq!(default, app.list_all(&u, "sort=created").await);
    assert_eq!(ids(&default), ids(&all), "created order is creation order");
    let mut titles: Vec<String> = app
        .list_all(&u, "sort=title")
        .await
        .iter()
        .map(|t| s(&t["title"]).to_lowercase())
        .collect();
    titles.dedup();
    let want = [
        "apple", "banana", "cherry", "eagle", "same", "zebra", "zeta", "äb", "äpfel", "émile",
    ];
    assert_eq!(titles, want, "title order: lower-cased, by code point");
}

#[tokio::test]
async fn filters_select_tasks() {
    let app = spawn_app().await;
    let u = app.register().await;
    let apfel = app
        .create(
            &u,
            json!({"title": "ÄPFEL kaufen", "tags": ["Work"], "priority": "high"}),
        )
        .await;
    let green = app.create(&u, json!({"title": "paint", "description": "the fence GRÜN", "completed": true, "tags": ["work"]})).await;
    let plain = app
        .create(&u, json!({"title": "Plain task", "priority": "low"}))
        .await;
    let cases: Vec<(&str, Vec<&Value>)> = vec![
        ("", vec![&apfel, &green, &plain]),
        ("status=all", vec![&apfel, &green, &plain]),
        ("status=pending", vec![&apfel, &plain]),
        ("status=completed", vec![&green]),
        ("q=äpfel", vec![&apfel]),
        ("q=%C3%84PF", vec![&apfel]),
        ("q=grün", vec![&green]),
        ("q=PLAIN", vec![&plain]),
        ("q=a", vec![&apfel, &green, &plain]),
        ("q=", vec![&apfel, &green, &plain]),
        ("q=nothing-matches", vec![]),
        ("tag=Work", vec![&apfel]),
        ("tag=work", vec![&green]),
        ("tag=WORK", vec![]),
        ("tag=", vec![&apfel, &green, &plain]),
        ("priority=high", vec![&apfel]),
        ("priority=none", vec![&green]),
        ("priority=low&q=plain&status=pending", vec![&plain]),
        ("status=pending&tag=work", vec![]),
        ("unknown=1&another=x", vec![&apfel, &green, &plain]),
    ];
    for (query, want) in cases {
        let page = app.list(&u, query).await.expect(200).json();
        let want: Vec<Value> = want.into_iter().cloned().collect();
        assert_eq!(tasks_of(&page), want, "query {query:?}");
        assert_eq!(page["next_cursor"], Value::Null);
    }
}

#[tokio::test]
async fn limits_and_bad_queries() {
    let app = spawn_app().await;
    let u = app.register().await;
    let all = seed(&app, &u, 0, 55).await;
    let first = app.list(&u, "").await.expect(200).json();
    assert_eq!(tasks_of(&first).len(), 50, "default limit 50");
    let cursor = s(&first["next_cursor"]);
    let second = app
        .list(&u, &format!("cursor={cursor}"))
        .await
        .expect(200)
        .json();
    assert_eq!(tasks_of(&second).len(), 5);
    assert_eq!(second["next_cursor"], Value::Null);
    assert_eq!(
        tasks_of(&app.list(&u, "limit=200").await.expect(200).json()).len(),
        55
    );
    assert_eq!(
        tasks_of(&app.list(&u, "limit=1").await.expect(200).json()),
        all[..1].to_vec()
    );
    let exact = app.list(&u, "limit=55").await.expect(200).json();
    assert_eq!(tasks_of(&exact).len(), 55);
    if let Some(c) = exact["next_cursor"].as_str() {
        let rest = app
            .list(&u, &format!("limit=55&cursor={c}"))
            .await
            .expect(200)
            .json();
        assert_eq!(rest, json!({"tasks": [], "next_cursor": null}));
    }
    for bad in [
        "limit=0",
        "limit=201",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "limit=1&limit=2",
        "status=done",
        "status=all&status=all",
        "sort=name",
        "sort=--created",
        "sort=Created",
        "priority=urgent",
        "q=a&q=b",
        "tag=a&tag=b",
        "cursor=garbage",
    ] {
        let resp = app.list(&u, bad).await;
        assert_eq!(resp.status, 400, "{bad}");
        resp.problem(400, "invalid_query");
    }
}

#[tokio::test]
async fn limit_is_a_decimal_without_sign_or_leading_zeros() {
    let app = spawn_app().await;
    let u = app.register().await;
    seed(&app, &u, 0, 6).await;
    let five = app.list(&u, "limit=5").await.expect(200).json();
    assert_eq!(tasks_of(&five).len(), 5);
    // `+` in a query is a space; `%2B` is the sign itself.
    for bad in [
        "limit=%2B5",
        "limit=+5",
        "limit=05",
        "limit=005",
        "limit=0",
        "limit=00",
        "limit=201",
        "limit=5%20",
        "limit=",
    ] {
        let resp = app.list(&u, bad).await;
        assert_eq!(resp.status, 400, "{bad}: {}", resp.short());
        resp.problem(400, "invalid_query");
    }
    // The path's task numbers follow the same rule.
    for bad in ["%2B1", "01", "0"] {
        app.get(&u, &format!("/api/tasks/{bad}"))
            .await
            .problem(404, "not_found");
    }
    app.get(&u, "/api/tasks/1").await.expect(200);
}

/// Walks `query` one small page at a time, creating and deleting tasks between
/// pages; each task must come once, none after its delete, none missing.
async fn walk_with_churn(app: &App, u: &User, query: &str) {
    seed(app, u, 0, 16).await;
    // The tasks that match the query, all of which the walk must return.
    let mut unseen: Vec<String> = ids(&app
        .list(u, &format!("{query}&limit=200"))
        .await
        .expect(200)
        .json()["tasks"]
        .as_array()
        .expect("tasks")
        .clone());
    let mut seen = HashSet::new();
    let mut deleted = HashSet::new();
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    for round in 0.. {
        assert!(round < 100, "the walk does not end");
        let q = match &cursor {
            Some(c) => format!("{query}&limit=3&cursor={c}"),
            None => format!("{query}&limit=3"),
        };
        let page = app.list(u, &q).await.expect(200).json();
        for t in tasks_of(&page) {
            let tid = s(&t["id"]);
            assert!(seen.insert(tid.clone()), "{query}: {tid} returned twice");
            assert!(
                !deleted.contains(&tid),
                "{query}: {tid} returned after its delete"
            );
            unseen.retain(|x| *x != tid);
            walked.push(t);
        }
        let Some(next) = page["next_cursor"].as_str() else {
            break;
        };
        cursor = Some(next.to_string());
        // Churn: a new task, a delete of one not yet seen, a delete of one seen.
        seed(app, u, 100 + round, 1).await;
        if round.is_multiple_of(2) && unseen.len() > 1 {
            let victim = unseen.remove(unseen.len() / 2);
            app.delete(u, &format!("/api/tasks/{victim}"))
                .await
                .expect(204);
            deleted.insert(victim);
        }
        if let Some(done) = walked
            .iter()
            .map(|t| s(&t["id"]))
            .find(|x| !deleted.contains(x))
        {
            app.delete(u, &format!("/api/tasks/{done}"))
                .await
                .expect(204);
            deleted.insert(done);
        }
    }
    assert!(unseen.is_empty(), "{query}: never returned: {unseen:?}");
    let sort = query
        .split('&')
        .find_map(|p| p.strip_prefix("sort="))
        .unwrap_or("created");
    assert_sorted(sort, &walked);
}

#[tokio::test]
async fn a_created_walk_returns_each_task_once_under_churn() {
    let app = spawn_app().await;
    let u = app.register().await;
    walk_with_churn(&app, &u, "sort=created").await;
}

#[tokio::test]
async fn a_reverse_created_walk_returns_each_task_once_under_churn() {
    let app = spawn_app().await;
    let u = app.register().await;
    walk_with_churn(&app, &u, "sort=-created").await;
}

#[tokio::test]
async fn a_priority_walk_returns_each_task_once_under_churn() {
    let app = spawn_app().await;
    let u = app.register().await;
    walk_with_churn(&app, &u, "sort=priority").await;
}

#[tokio::test]
async fn a_due_and_title_walk_with_filters_return_each_task_once_under_churn() {
    let app = spawn_app().await;
    let u = app.register().await;
    walk_with_churn(&app, &u, "sort=-due").await;
    let v = app.register().await;
    walk_with_churn(&app, &v, "sort=title&status=pending").await;
    let w = app.register().await;
    walk_with_churn(&app, &w, "sort=-priority&tag=even").await;
}

#[tokio::test]
async fn a_cursor_works_only_for_its_user_sort_and_filters() {
    let app = spawn_app().await;
    let a = app.register().await;
    let b = app.register().await;
    seed(&app, &a, 0, 10).await;
    seed(&app, &b, 0, 10).await;
    let page = app
        .list(&a, "sort=title&status=all&limit=2")
        .await
        .expect(200)
        .json();
    let cursor = s(&page["next_cursor"]);
    // The same query, with parameters written differently, still accepts it.
    app.list(&a, &format!("limit=2&sort=title&cursor={cursor}"))
        .await
        .expect(200);
    app.list(&a, &format!("sort=title&limit=5&cursor={cursor}"))
        .await
        .expect(200);
    app.list(&b, &format!("sort=title&limit=2&cursor={cursor}"))
        .await
        .problem(400, "invalid_query");
    for other in [
        "sort=-title",
        "sort=created",
        "",
        "sort=title&status=pending",
        "sort=title&q=a",
        "sort=title&tag=even",
        "sort=title&priority=low",
    ] {
        app.list(&a, &format!("{other}&limit=2&cursor={cursor}"))
            .await
            .problem(400, "invalid_query");
    }
    // A tampered cursor is refused, not followed.
    let mut tampered = cursor.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    app.list(&a, &format!("sort=title&limit=2&cursor={tampered}"))
        .await
        .problem(400, "invalid_query");
}

#[tokio::test]
async fn a_cursor_reveals_nothing_readable() {
    use base64::Engine;
    let app = spawn_app().await;
    let u = app.register().await;
    let tasks = seed(&app, &u, 0, 4).await;
    for sort in ["created", "title", "due", "priority", "updated"] {
        let page = app
            .list(&u, &format!("sort={sort}&limit=1"))
            .await
            .expect(200)
            .json();
        let cursor = s(&page["next_cursor"]);
        let mut readable = vec![cursor.clone()];
        for engine in [
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::STANDARD,
        ] {
            if let Ok(bytes) = engine
                .decode(cursor.trim_end_matches('='))
                .or_else(|_| engine.decode(&cursor))
            {
                readable.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        let t = &tasks_of(&page)[0];
        let simple = id(t).simple().to_string();
        for text in &readable {
            let mut secrets = vec![
                s(&t["id"]),
                simple.clone(),
                s(&t["title"]),
                u.id.clone(),
                s(&t["created_at"])[..16].to_string(),
            ];
            if let Some(due) = t["due"].as_str() {
                secrets.push(due[..10].to_string());
            }
            for secret in secrets {
                assert!(
                    !text.contains(&secret),
                    "sort={sort}: the cursor reveals {secret:?}"
                );
            }
        }
    }
    assert_eq!(tasks.len(), 4);
}
