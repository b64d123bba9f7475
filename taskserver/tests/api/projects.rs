//! Projects over HTTP: the `project` field in every task response and its
//! rules, the `project=` filter with its hierarchy, `sort=project` paged by
//! cursors, `GET /api/projects`, and the tag edits `add_tags`/`remove_tags`.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

/// The response, after checking its status (for when its headers are needed).
#[track_caller]
fn answered(resp: Resp, status: u16) -> Resp {
    resp.expect(status);
    resp
}

#[tokio::test]
async fn project_recur_and_series_are_in_every_task_response() {
    let app = spawn_app().await;
    let u = app.register().await;

    let plain = app.task(&u, "plain").await;
    assert_task_fields(&plain, "POST");
    assert_eq!(
        (&plain["project"], &plain["recur"], &plain["series"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );

    let body = json!({"title": "Water the beds", "project": "Home.Garden",
        "due": "2030-01-07T09:00:00Z", "recur": "byday=fr,mo;freq=weekly"});
    let created = answered(app.post(&u, "/api/tasks", body).await, 201);
    let task = created.json();
    assert_task_fields(&task, "POST");
    assert_eq!(task["project"], "Home.Garden");
    assert_eq!(task["recur"], "FREQ=WEEKLY;BYDAY=MO,FR", "canonical form");
    assert_eq!(task["series"], task["id"], "the first task starts its series");
    let path = task_path(&task["id"]);

    let got = app.get(&u, &path).await.expect(200).json();
    assert_task_fields(&got, "GET");
    assert_eq!(got, task);
    let by_number = app.fetch(&u, &task["number"]).await;
    assert_eq!(by_number, task);

    let patched = app
        .patch(&u, &path, json!({"project": "Home"}))
        .await
        .expect(200)
        .json();
    assert_task_fields(&patched, "PATCH");
    assert_eq!(patched["project"], "Home");
    assert_eq!(patched["recur"], task["recur"], "PATCH leaves the rest");
    assert_eq!(patched["version"], 2);

    let replaced = app
        .put(
            &u,
            &path,
            json!({"title": "Water", "project": "Home.Garden.Beds",
                "due": "2030-01-07T09:00:00Z", "recur": "FREQ=DAILY"}),
        )
        .await
        .expect(200)
        .json();
    assert_task_fields(&replaced, "PUT");
    assert_eq!(
        (&replaced["project"], &replaced["recur"], &replaced["series"]),
        (&json!("Home.Garden.Beds"), &json!("FREQ=DAILY"), &task["id"])
    );

    let page = app.list(&u, "sort=created").await.expect(200).json();
    let listed = tasks_of(&page);
    assert_eq!(listed.len(), 2);
    for t in &listed {
        assert_task_fields(t, "list");
    }
    assert_eq!(listed[1], app.fetch(&u, &task["id"]).await);

    // Out of its project, and null is accepted again on PATCH and PUT.
    let out = app
        .patch(&u, &path, json!({"project": null}))
        .await
        .expect(200)
        .json();
    assert_eq!(out["project"], Value::Null);
    let out = app
        .put(&u, &path, json!({"title": "x", "project": null, "recur": null}))
        .await
        .expect(200)
        .json();
    assert_eq!((&out["project"], &out["recur"]), (&Value::Null, &Value::Null));
}

/// Sends `project: value` on POST, PUT and PATCH: each must be a 422 naming
/// `project` whose message contains `message`, and change nothing.
async fn refuses_project(app: &App, u: &User, value: Value, message: &str) {
    let existing = app
        .create(u, json!({"title": "existing", "project": "Keep"}))
        .await;
    let path = task_path(&existing["id"]);
    let before = app.list_all(u, "status=all").await.len();
    for (what, resp) in [
        (
            "POST",
            app.post(u, "/api/tasks", json!({"title": "t", "project": value}))
                .await,
        ),
        (
            "PUT",
            app.put(u, &path, json!({"title": "t", "project": value}))
                .await,
        ),
        ("PATCH", app.patch(u, &path, json!({"project": value})).await),
    ] {
        let body = resp.invalid("project");
        let text = body["errors"].to_string();
        assert!(
            text.contains(message),
            "{what} {value}: message lacks {message:?}: {body}"
        );
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
async fn every_malformed_project_is_422_naming_the_field_and_the_rule() {
    let app = spawn_app().await;
    let u = app.register().await;
    let cases: [(Value, &str); 16] = [
        (json!("Home..x"), "empty segment"),
        (json!(".Home"), "empty segment"),
        (json!("Home."), "empty segment"),
        (json!("."), "empty segment"),
        (json!("p".repeat(101)), "at most 100 characters"),
        (json!("é".repeat(101)), "at most 100 characters"),
        (json!("Ho\u{7}me"), "control characters"),
        (json!("Home\u{7f}"), "control characters"),
        (json!("Ho\tme"), "control characters"),
        (json!("Home\n"), "control characters"),
        (json!(" Home"), "white space"),
        (json!("Home "), "white space"),
        (json!("Home\u{a0}"), "white space"),
        (json!(""), "must not be empty"),
        (json!(5), "must be a string or null"),
        (json!(["Home"]), "must be a string or null"),
    ];
    for (value, message) in cases {
        refuses_project(&app, &u, value, message).await;
    }
    // The edges that are fine, kept exactly as sent.
    for good in [
        "p".repeat(100),
        "é".repeat(100),
        "Home.Garden.Beds".into(),
        "Work stuff.Q3 plan".into(),
        "A. B".into(),
        "x-y_z".into(),
    ] {
        let task = app
            .create(&u, json!({"title": "ok", "project": good}))
            .await;
        assert_eq!(task["project"], json!(good));
    }
}

/// Creates one task per project (`None`: no project), in order, and returns them.
async fn tasks_in(app: &App, u: &User, projects: &[Option<&str>]) -> Vec<Value> {
    let mut tasks = Vec::new();
    for (i, project) in projects.iter().enumerate() {
        let mut body = json!({"title": format!("t{i}")});
        if let Some(p) = project {
            body["project"] = json!(p);
        }
        tasks.push(app.create(u, body).await);
    }
    tasks
}

#[tokio::test]
async fn the_project_filter_takes_a_project_and_everything_inside_it() {
    let app = spawn_app().await;
    let u = app.register().await;
    let other = app.register().await;
    let tasks = tasks_in(
        &app,
        &u,
        &[
            Some("Home"),
            Some("Home.Garden"),
            Some("Home.Garden.Beds"),
            Some("Homework"),
            Some("Home-x"),
            Some("Hom"),
            None,
            Some("Work.Home"),
            None,
        ],
    )
    .await;
    tasks_in(&app, &other, &[Some("Home"), None]).await;
    let titles = |list: &[Value]| -> Vec<String> {
        let mut t: Vec<String> = list.iter().map(|t| s(&t["title"])).collect();
        t.sort();
        t
    };
    let of = |indexes: &[usize]| -> Vec<String> {
        let mut t: Vec<String> = indexes.iter().map(|i| s(&tasks[*i]["title"])).collect();
        t.sort();
        t
    };
    for (query, expected) in [
        ("project=Home", of(&[0, 1, 2])),
        ("project=Home.Garden", of(&[1, 2])),
        ("project=Home.Garden.Beds", of(&[2])),
        ("project=Homework", of(&[3])),
        ("project=Home-x", of(&[4])),
        ("project=Hom", of(&[5])),
        ("project=Work", of(&[7])),
        ("project=Garden", of(&[])),
        ("project=home", of(&[])),
        ("project=-", of(&[6, 8])),
        ("project=", of(&[0, 1, 2, 3, 4, 5, 6, 7, 8])),
        ("project=Home&q=t1", of(&[1])),
        ("project=Home&status=completed", of(&[])),
    ] {
        let got = app.list_all(&u, query).await;
        assert_eq!(titles(&got), expected, "{query}");
    }
    // Encoded names work like plain ones.
    let spaced = app
        .create(&u, json!({"title": "spaced", "project": "Q3 plan.Ünï"}))
        .await;
    let got = app.list_all(&u, "project=Q3%20plan").await;
    assert_eq!(ids(&got), [s(&spaced["id"])]);

    // A value that is no project name is a bad query, as is a repeat.
    for bad in [
        "project=Home..x",
        "project=.Home",
        "project=Home.",
        "project=%20Home",
        "project=Ho%07me",
        "project=Home&project=Work",
        &format!("project={}", "p".repeat(101)),
    ] {
        app.list(&u, bad).await.problem(400, "invalid_query");
    }
    app.list(&u, &format!("project={}", "p".repeat(100)))
        .await
        .expect(200);
}

/// The order of `sort=project` (or `-project`): by name byte by byte, tasks
/// without a project last in both directions, ties by id in the sort's direction.
fn project_order(tasks: &[Value], descending: bool) -> Vec<String> {
    let mut sorted: Vec<&Value> = tasks.iter().collect();
    sorted.sort_by(|a, b| {
        let (pa, pb) = (a["project"].as_str(), b["project"].as_str());
        let by_project = match (pa, pb) {
            (Some(x), Some(y)) if descending => y.as_bytes().cmp(x.as_bytes()),
            (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        let (ia, ib) = (s(&a["id"]), s(&b["id"]));
        by_project.then_with(|| if descending { ib.cmp(&ia) } else { ia.cmp(&ib) })
    });
    sorted.iter().map(|t| s(&t["id"])).collect()
}

#[tokio::test]
async fn sort_by_project_walks_every_task_once_across_pages() {
    let app = spawn_app().await;
    let u = app.register().await;
    let tasks = tasks_in(
        &app,
        &u,
        &[
            Some("Home.Garden"),
            None,
            Some("Home"),
            Some("Work"),
            Some("Home-x"),
            Some("Home"),
            None,
            Some("Éclair"),
            Some("Home.Garden"),
            Some("A"),
            Some("Home"),
            None,
            Some("a"),
            Some("Work.Q3"),
        ],
    )
    .await;
    for (sort, descending) in [("project", false), ("-project", true)] {
        let expected = project_order(&tasks, descending);
        for limit in [1, 3, 4, 50] {
            let got = ids(&app
                .list_all(&u, &format!("sort={sort}&limit={limit}"))
                .await);
            assert_eq!(got, expected, "sort={sort}&limit={limit}");
        }
        // With the filter: the subtree only, in the same order.
        let home: Vec<Value> = tasks
            .iter()
            .filter(|t| {
                t["project"]
                    .as_str()
                    .is_some_and(|p| p == "Home" || p.starts_with("Home."))
            })
            .cloned()
            .collect();
        let got = ids(&app
            .list_all(&u, &format!("project=Home&sort={sort}&limit=2"))
            .await);
        assert_eq!(got, project_order(&home, descending), "project=Home&sort={sort}");
    }

    // A cursor belongs to its sort and filters.
    let page = app.list(&u, "sort=project&limit=2").await.expect(200).json();
    let cursor = s(&page["next_cursor"]);
    app.list(&u, &format!("sort=-project&limit=2&cursor={cursor}"))
        .await
        .problem(400, "invalid_query");
    app.list(&u, &format!("sort=project&project=Home&limit=2&cursor={cursor}"))
        .await
        .problem(400, "invalid_query");
    app.list(&u, &format!("sort=project&limit=5&cursor={cursor}"))
        .await
        .expect(200);

    // Tasks added and deleted between pages: each remaining task still once.
    let first = app.list(&u, "sort=project&limit=5").await.expect(200).json();
    let mut seen = ids(&tasks_of(&first));
    let gone = &tasks[3];
    app.delete(&u, &task_path(&gone["id"])).await.expect(204);
    let added = app
        .create(&u, json!({"title": "late", "project": "Zed"}))
        .await;
    let mut cursor = first["next_cursor"].as_str().map(str::to_string);
    while let Some(c) = cursor {
        let page = app
            .list(&u, &format!("sort=project&limit=5&cursor={c}"))
            .await
            .expect(200)
            .json();
        seen.extend(ids(&tasks_of(&page)));
        cursor = page["next_cursor"].as_str().map(str::to_string);
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no task twice: {seen:?}");
    assert!(seen.contains(&s(&added["id"])), "a task added later is reached");
    for t in &tasks {
        if t["id"] != gone["id"] {
            assert!(seen.contains(&s(&t["id"])), "{} was skipped", t["title"]);
        }
    }
}

#[tokio::test]
async fn projects_lists_every_project_and_parent_with_counts_and_nothing_of_others() {
    let app = spawn_app().await;
    let u = app.register().await;
    let other = app.register().await;

    // Nobody has projects yet.
    let empty = answered(app.get(&u, "/api/projects").await, 200);
    assert!(
        empty
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    );
    assert_eq!(empty.json(), json!({"projects": []}));

    let add = |title: &'static str, project: Option<&'static str>, completed: bool| {
        let mut body = json!({"title": title, "completed": completed});
        if let Some(p) = project {
            body["project"] = json!(p);
        }
        body
    };
    for body in [
        add("a", Some("Home.Garden"), false),
        add("b", Some("Home.Garden"), false),
        add("c", Some("Home.Garden"), true),
        add("d", Some("Home"), true),
        add("e", Some("Work.Q3.Plan"), false),
        add("f", Some("Homework"), false),
        add("g", None, false),
        add("h", None, true),
    ] {
        app.create(&u, body).await;
    }
    let doomed = app.create(&u, add("gone", Some("Gone.Away"), false)).await;
    app.delete(&u, &task_path(&doomed["id"])).await.expect(204);
    app.create(&other, add("secret", Some("Secret.Plans"), false))
        .await;
    app.create(&other, add("theirs", Some("Home"), true)).await;

    let expected = json!({"projects": [
        {"name": "Home", "pending": 2, "completed": 2},
        {"name": "Home.Garden", "pending": 2, "completed": 1},
        {"name": "Homework", "pending": 1, "completed": 0},
        {"name": "Work", "pending": 1, "completed": 0},
        {"name": "Work.Q3", "pending": 1, "completed": 0},
        {"name": "Work.Q3.Plan", "pending": 1, "completed": 0},
    ]});
    assert_eq!(app.get(&u, "/api/projects").await.expect(200).json(), expected);
    assert_eq!(
        app.get(&other, "/api/projects").await.expect(200).json(),
        json!({"projects": [
            {"name": "Home", "pending": 0, "completed": 1},
            {"name": "Secret", "pending": 1, "completed": 0},
            {"name": "Secret.Plans", "pending": 1, "completed": 0},
        ]})
    );

    // Counts follow completion and moves; an API token reads them too.
    let list = app.list_all(&u, "project=Homework").await;
    let path = task_path(&list[0]["id"]);
    app.patch(&u, &path, json!({"completed": true, "project": "Home.Garden"}))
        .await
        .expect(200);
    let token = app
        .post(&u, "/api/auth/tokens", json!({"name": "script"}))
        .await
        .expect(201)
        .json();
    let by_token = send(app.authed(Method::GET, "/api/projects", &s(&token["token"])))
        .await
        .expect(200)
        .json();
    assert_eq!(
        by_token["projects"][0],
        json!({"name": "Home", "pending": 2, "completed": 3})
    );
    assert_eq!(
        by_token["projects"][1],
        json!({"name": "Home.Garden", "pending": 2, "completed": 2})
    );
    assert!(
        by_token["projects"]
            .as_array()
            .expect("projects")
            .iter()
            .all(|p| p["name"] != "Homework"),
        "a project no task names any more is gone: {by_token}"
    );
}

#[tokio::test]
async fn projects_is_a_bearer_endpoint_like_the_task_ones() {
    let app = spawn_app().await;
    let u = app.register().await;
    app.call(Method::GET, "/api/projects", None, None)
        .await
        .unauthorized("missing_token", false);
    send(app.authed(Method::GET, "/api/projects", "not-a-token"))
        .await
        .unauthorized("invalid_token", true);
    // Query parameters are ignored; other methods are 405 with Allow.
    app.get(&u, "/api/projects?x=1").await.expect(200);
    let resp = app.post(&u, "/api/projects", json!({})).await;
    resp.problem(405, "method_not_allowed");
    assert_eq!(resp.header_list("allow"), ["get", "options"]);
    app.get(&u, "/api/projects/Home")
        .await
        .problem(404, "not_found");
    // After logout the session's token is refused.
    app.call(Method::POST, "/api/auth/logout", Some(&u.token), None)
        .await
        .expect(204);
    app.get(&u, "/api/projects")
        .await
        .unauthorized("invalid_token", true);
}

#[tokio::test]
async fn the_openapi_document_describes_projects_and_the_new_fields() {
    let app = spawn_app().await;
    let doc = app
        .call(Method::GET, "/api/openapi.json", None, None)
        .await
        .expect(200)
        .json();
    let op = &doc["paths"]["/api/projects"]["get"];
    assert_eq!(op["operationId"], "listProjects");
    for status in ["200", "401", "500", "503"] {
        assert!(op["responses"][status].is_object(), "{status}: {op}");
    }
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ProjectList"
    );
    assert_eq!(
        schemas["ProjectCount"]["required"],
        json!(["name", "pending", "completed"])
    );
    let task = &schemas["Task"];
    for field in ["project", "recur", "series"] {
        assert!(
            task["required"]
                .as_array()
                .expect("required")
                .contains(&json!(field)),
            "Task requires {field}"
        );
        assert_eq!(task["properties"][field]["nullable"], true, "{field}");
    }
    assert_eq!(task["properties"]["series"]["readOnly"], true);
    assert_eq!(task["properties"]["series"]["format"], "uuid");
    assert_eq!(task["properties"]["project"]["maxLength"], 100);
    for body in ["NewTask", "TaskPatch"] {
        for field in ["project", "recur"] {
            assert!(
                schemas[body]["properties"][field].is_object(),
                "{body}.{field}"
            );
        }
        assert_eq!(schemas[body]["additionalProperties"], false);
    }
    for field in ["add_tags", "remove_tags"] {
        assert_eq!(schemas["TaskPatch"]["properties"][field]["type"], "array");
        assert!(schemas["NewTask"]["properties"][field].is_null(), "{field}");
    }
    let params = doc["paths"]["/api/tasks"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    assert!(params.iter().any(|p| p["name"] == "project"));
    let sort = params
        .iter()
        .find(|p| p["name"] == "sort")
        .expect("sort parameter");
    let values = sort["schema"]["enum"].as_array().expect("sort enum");
    for v in ["project", "-project"] {
        assert!(values.contains(&json!(v)), "sort {v}");
    }
    for method in ["get", "put", "patch"] {
        let headers = &doc["paths"]["/api/tasks/{id}"][method]["responses"]["200"]["headers"];
        assert_eq!(
            headers["Link"]["$ref"], "#/components/headers/Link",
            "{method}"
        );
    }
}

#[tokio::test]
async fn add_tags_and_remove_tags_change_just_those_tags() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app
        .create(&u, json!({"title": "t", "tags": ["a", "b", "c"]}))
        .await;
    let path = task_path(&task["id"]);
    let got = app
        .patch(&u, &path, json!({"add_tags": ["d", "a", "e", "d"]}))
        .await
        .expect(200)
        .json();
    assert_eq!(got["tags"], json!(["a", "b", "c", "d", "e"]));
    assert_eq!(got["version"], 2);
    let got = app
        .patch(&u, &path, json!({"remove_tags": ["b", "zz"], "add_tags": ["f"]}))
        .await
        .expect(200)
        .json();
    assert_eq!(got["tags"], json!(["a", "c", "d", "e", "f"]));
    // Nothing to do leaves the version alone.
    let same = app
        .patch(&u, &path, json!({"add_tags": ["a"], "remove_tags": ["nope"]}))
        .await
        .expect(200)
        .json();
    assert_eq!(same, got);
    let same = app
        .patch(&u, &path, json!({"add_tags": [], "remove_tags": []}))
        .await
        .expect(200)
        .json();
    assert_eq!(same, got);
    // Case-sensitive, as tags are.
    let got = app
        .patch(&u, &path, json!({"add_tags": ["A"], "remove_tags": ["C"]}))
        .await
        .expect(200)
        .json();
    assert_eq!(got["tags"], json!(["a", "c", "d", "e", "f", "A"]));
}

#[tokio::test]
async fn refused_tag_edits_are_422_naming_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app
        .create(&u, json!({"title": "t", "tags": ["a"]}))
        .await;
    let path = task_path(&task["id"]);
    let nineteen: Vec<String> = (0..19).map(|i| format!("n{i}")).collect();
    let twenty: Vec<String> = (0..20).map(|i| format!("n{i}")).collect();
    let cases: [(Value, &str); 10] = [
        (json!({"tags": ["x"], "add_tags": ["y"]}), "tags"),
        (json!({"tags": ["x"], "remove_tags": ["a"]}), "tags"),
        (json!({"tags": [], "add_tags": [], "remove_tags": []}), "tags"),
        (json!({"add_tags": ["has space"]}), "add_tags[0]"),
        (json!({"remove_tags": ["ok", ""]}), "remove_tags[1]"),
        (json!({"add_tags": "a"}), "add_tags"),
        (json!({"remove_tags": [1]}), "remove_tags[0]"),
        (json!({"add_tags": null}), "add_tags"),
        (json!({"add_tags": ["x".repeat(51)]}), "add_tags[0]"),
        // "a" and 20 more are 21.
        (json!({"add_tags": twenty}), "add_tags"),
    ];
    for (body, field) in cases {
        let resp = app.patch(&u, &path, body.clone()).await;
        let problem = resp.invalid(field);
        assert!(
            problem["errors"]
                .as_array()
                .expect("errors")
                .iter()
                .any(|e| e["field"] == field),
            "{body}: {problem}"
        );
        assert_eq!(app.fetch(&u, &task["id"]).await, task, "{body} changed the task");
    }
    // Exactly 20 is fine; the 21st is refused.
    let got = app
        .patch(&u, &path, json!({"add_tags": nineteen}))
        .await
        .expect(200)
        .json();
    assert_eq!(got["tags"].as_array().expect("tags").len(), 20);
    app.patch(&u, &path, json!({"add_tags": ["z"]}))
        .await
        .invalid("add_tags");
    // Only PATCH takes them: a create or a replacement names every tag.
    app.post(&u, "/api/tasks", json!({"title": "t", "add_tags": ["a"]}))
        .await
        .invalid("add_tags");
    app.put(&u, &path, json!({"title": "t", "remove_tags": ["a"]}))
        .await
        .invalid("remove_tags");
    assert_eq!(app.fetch(&u, &task["id"]).await, got);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_tag_edits_of_one_task_all_land() {
    let app = Arc::new(spawn_app().await);
    let u = app.register().await;
    let task = app.task(&u, "shared").await;
    let path = task_path(&task["id"]);
    // 20 clients at once, each adding its own tag: every tag lands.
    let mut edits = Vec::new();
    for i in 0..20 {
        let (app, u, path) = (app.clone(), u.clone(), path.clone());
        edits.push(tokio::spawn(async move {
            app.patch(&u, &path, json!({"add_tags": [format!("tag{i}")]}))
                .await
                .status
        }));
    }
    for edit in edits {
        assert_eq!(edit.await.expect("join"), 200);
    }
    let got = app.fetch(&u, &task["id"]).await;
    let mut tags: Vec<String> = got["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(s)
        .collect();
    tags.sort();
    let mut expected: Vec<String> = (0..20).map(|i| format!("tag{i}")).collect();
    expected.sort();
    assert_eq!(tags, expected, "a concurrent tag edit was lost");
    assert_eq!(got["version"], 21, "one version per edit");

    // Half remove theirs while the other half add new ones, all at once.
    let mut edits = Vec::new();
    for i in 0..20 {
        let (app, u, path) = (app.clone(), u.clone(), path.clone());
        let body = if i % 2 == 0 {
            json!({"remove_tags": [format!("tag{i}")]})
        } else {
            json!({"remove_tags": [format!("tag{i}")], "add_tags": [format!("new{i}")]})
        };
        edits.push(tokio::spawn(async move { app.patch(&u, &path, body).await.status }));
    }
    for edit in edits {
        assert_eq!(edit.await.expect("join"), 200);
    }
    let got = app.fetch(&u, &task["id"]).await;
    let mut tags: Vec<String> = got["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(s)
        .collect();
    tags.sort();
    let mut expected: Vec<String> = (1..20).step_by(2).map(|i| format!("new{i}")).collect();
    expected.sort();
    assert_eq!(tags, expected);
}
