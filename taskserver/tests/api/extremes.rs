//! Every value the API accepts can be read, listed, exported and imported
//! again, and nothing outside the ranges gets in: tasks with each field at
//! its extremes (times at both ends of the range with odd offsets and
//! nanoseconds, the longest multibyte titles, descriptions and tags, every
//! priority), some fixed and some generated, round-trip through the API,
//! the store, `export` and `import`.

use crate::binary::{dirs, path_str, tool};
use crate::helpers::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as PropConfig, RngAlgorithm, TestRng, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};

/// Times just outside the range once in UTC, each with what the attack
/// that found them sent.
const OUTSIDE: [&str; 5] = [
    "9999-12-31T23:59:59.999999999-23:59",
    "0000-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00+00:01",
    "0000-12-31T23:59:59.999999Z",
    "+10000-01-01T00:00:00Z",
];

/// Times at the ends of the range, as sent and as the API returns them.
const EDGES: [(&str, &str); 5] = [
    (
        "9999-12-31T23:59:59.999999999Z",
        "9999-12-31T23:59:59.999999Z",
    ),
    (
        "9999-12-31T23:59:59.999999-00:00",
        "9999-12-31T23:59:59.999999Z",
    ),
    ("0001-01-01T01:30:00+01:30", "0001-01-01T00:00:00Z"),
    ("0001-01-01T00:00:00.000000001Z", "0001-01-01T00:00:00Z"),
    (
        "1970-01-01T00:00:00.000001-00:01",
        "1970-01-01T00:01:00.000001Z",
    ),
];

/// Characters of every UTF-8 width, none of them white space or control.
const WIDE: [char; 5] = ['a', 'é', '漢', '𝄞', '🦀'];

fn repeat_wide(len: usize, offset: usize) -> String {
    (0..len).map(|i| WIDE[(i + offset) % WIDE.len()]).collect()
}

/// Fixed tasks at the extremes: the longest fields, every priority, both
/// ends of time.
fn fixed_bodies() -> Vec<Value> {
    let priorities = ["none", "low", "medium", "high"];
    EDGES
        .iter()
        .enumerate()
        .map(|(i, (due, _))| {
            let tags: Vec<String> = (0..20).map(|t| repeat_wide(50, t + i)).collect();
            json!({
                "title": repeat_wide(200, i),
                "description": format!("{}\n\r\t", repeat_wide(3997, i)),
                "priority": priorities[i % 4],
                "due": due,
                "tags": tags,
                "completed": i % 2 == 0,
            })
        })
        .collect()
}

/// Generated tasks: any valid title, tag set, priority and due date.
fn generated_bodies(count: usize) -> Vec<Value> {
    let text = |max: usize| {
        proptest::collection::vec(proptest::sample::select(WIDE.to_vec()), 1..=max)
            .prop_map(|chars| chars.into_iter().collect::<String>())
    };
    let micros = -62_135_596_800_000_000i64..=253_402_300_799_999_999i64;
    let offset_minutes = -(23 * 60 + 59)..=(23 * 60 + 59);
    let body = (
        text(200),
        proptest::collection::vec(text(50), 0..=20),
        0..4usize,
        proptest::option::of((micros, offset_minutes)),
    )
        .prop_map(|(title, tags, priority, due)| {
            let due = due.and_then(|(micros, offset)| {
                let at = chrono::DateTime::from_timestamp_micros(micros)?;
                let zone = chrono::FixedOffset::east_opt(offset * 60)?;
                // Odd offsets, also across year ends (0001-01-01T01:00Z at
                // -05:00 is written in year 0000, and is in range once in
                // UTC); a local year past 9999 has no RFC 3339 form, so
                // such a time goes in UTC.
                let local = at.with_timezone(&zone).to_rfc3339();
                Some(if local.starts_with('+') {
                    at.to_rfc3339()
                } else {
                    local
                })
            });
            let priority = ["none", "low", "medium", "high"][priority];
            json!({"title": title, "tags": tags, "priority": priority, "due": due})
        });
    let mut runner = TestRunner::new_with_rng(
        PropConfig::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    (0..count)
        .map(|_| body.new_tree(&mut runner).expect("a value").current())
        .collect()
}

/// What the API must return for a body: trimmed title, distinct tags,
/// UTC times at microsecond precision.
fn assert_stored_as_sent(body: &Value, task: &Value) {
    assert_eq!(task["title"], body["title"]);
    assert_eq!(task["priority"], body["priority"]);
    let mut tags: Vec<Value> = Vec::new();
    for tag in body["tags"].as_array().expect("tags") {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    assert_eq!(task["tags"], Value::Array(tags));
    match body["due"].as_str() {
        None => assert_eq!(task["due"], Value::Null),
        Some(sent) => {
            let expected = EDGES
                .iter()
                .find(|(edge, _)| *edge == sent)
                .map(|(_, utc)| utc.to_string())
                .unwrap_or_else(|| {
                    let parsed = chrono::DateTime::parse_from_rfc3339(sent).expect("sent valid");
                    taskcore::Timestamp::from_datetime(parsed.to_utc())
                        .expect("in range")
                        .to_string()
                });
            assert_eq!(task["due"].as_str(), Some(expected.as_str()), "sent {sent}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_outside_the_range_are_refused_everywhere_and_change_nothing() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app.task(&u, "kept").await;
    let path = task_path(&task["id"]);
    for due in OUTSIDE {
        let problem = app
            .post(&u, "/api/tasks", json!({"title": "x", "due": due}))
            .await
            .invalid("due");
        assert!(
            problem
                .to_string()
                .contains("between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z")
                || due.starts_with('+'),
            "{problem}"
        );
        app.patch(&u, &path, json!({"due": due}))
            .await
            .invalid("due");
        app.put(&u, &path, json!({"title": "x", "due": due}))
            .await
            .invalid("due");
    }
    assert_eq!(app.fetch(&u, &task["id"]).await, task, "nothing changed");
    assert_eq!(app.list_all(&u, "").await.len(), 1, "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_at_every_extreme_read_list_export_and_import_again() {
    let mut app = spawn_app().await;
    let u = app.register().await;
    let bodies: Vec<Value> = fixed_bodies()
        .into_iter()
        .chain(generated_bodies(40))
        .collect();
    let mut created = Vec::new();
    for body in &bodies {
        let task = app
            .post(&u, "/api/tasks", body.clone())
            .await
            .expect(201)
            .json();
        assert_stored_as_sent(body, &task);
        assert_eq!(app.fetch(&u, &task["id"]).await, task);
        created.push(task);
    }
    // One edit at the far end, so a PATCH result is in the export too.
    let last = created.last().expect("tasks").clone();
    let edited = app
        .patch(
            &u,
            &task_path(&last["id"]),
            json!({"due": "9999-12-31T23:59:59.999999Z"}),
        )
        .await
        .expect(200)
        .json();
    *created.last_mut().expect("tasks") = edited;

    let mut expected_ids = ids(&created);
    expected_ids.sort();
    for sort in SORTS {
        for filter in ["", "&status=completed", "&q=%F0%9D%84%9E", "&priority=high"] {
            let listed = app
                .list_all(&u, &format!("sort={sort}&limit=7{filter}"))
                .await;
            if filter.is_empty() {
                let mut listed_ids = ids(&listed);
                listed_ids.sort();
                assert_eq!(listed_ids, expected_ids, "sort={sort}");
            }
            for task in &listed {
                assert!(created.contains(task), "listed as stored ({sort}{filter})");
            }
        }
    }

    // Export from this store, import into a new embedded one: the same tasks.
    app.shut_down().await;
    let (cwd, imported) = dirs();
    let file = cwd.path().join("export.jsonl");
    let mut export = vec!["export".to_string()];
    export.extend(app.store_args());
    export.extend(["--out".to_string(), path_str(&file).to_string()]);
    let (ok, out) = tool(&export.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("1 users, {} tasks", created.len())),
        "{out}"
    );
    let (ok, out) = tool(&[
        "import",
        "--data-dir",
        path_str(&imported),
        "--in",
        path_str(&file),
    ]);
    assert!(ok, "{out}");

    let moved = spawn_with(|config| {
        config.database_url = None;
        config.data_dir = imported.clone();
    })
    .await;
    let session = moved.login(&u.email, PASSWORD).await.expect(200).json();
    let user = User::from_session(&session);
    let listed = moved.list_all(&user, "limit=200").await;
    assert_eq!(listed, created, "every task, exactly as it was");
    let by_due = send(moved.authed(Method::GET, "/api/tasks?sort=-due&limit=1", &user.token))
        .await
        .expect(200)
        .json();
    assert_eq!(tasks_of(&by_due)[0]["due"], "9999-12-31T23:59:59.999999Z");
}
