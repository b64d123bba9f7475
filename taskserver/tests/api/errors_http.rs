//! HTTP-level errors: routes, methods, bodies, content types, and the order in
//! which checks answer.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

const LIMIT: usize = 65_536;

/// `{"title":"x"}` padded with trailing white space to exactly `len` bytes.
fn padded_body(len: usize) -> Vec<u8> {
    let mut body = br#"{"title":"padded"}"#.to_vec();
    body.resize(len, b' ');
    body
}

/// A raw POST /api/tasks with this token, body and framing.
async fn raw_create(app: &App, token: Option<&str>, body: &[u8], chunk: Option<usize>) -> RawResp {
    let mut headers = vec!["Content-Type: application/json".to_string()];
    if let Some(token) = token {
        headers.push(format!("Authorization: Bearer {token}"));
    }
    app.raw(raw_request("POST", "/api/tasks", &headers, body, chunk))
        .await
}

/// A POST /api/tasks with a raw body and an optional content type.
async fn post_raw(app: &App, u: &User, body: &str, content_type: Option<&str>) -> Resp {
    let mut request = app
        .authed(Method::POST, "/api/tasks", &u.token)
        .body(body.to_string());
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    send(request).await
}

/// JSON nested `depth` levels deep, the top object counting as level 1.
fn nested_objects(depth: usize) -> String {
    format!(
        "{}{{}}{}",
        r#"{"a":"#.repeat(depth - 1),
        "}".repeat(depth - 1)
    )
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let app = spawn_app().await;
    for path in [
        "/api/nothing",
        "/api/tasks/1/extra",
        "/api/auth/unknown",
        "/api",
    ] {
        app.call(Method::GET, path, None, None)
            .await
            .problem(404, "not_found");
    }
    app.call(Method::GET, "/nothing-here", None, None)
        .await
        .expect(404);
    let cases: [(Method, &str, &[&str]); 6] = [
        (Method::DELETE, "/api/tasks", &["get", "post"]),
        (Method::PUT, "/api/tasks", &["get", "post"]),
        (
            Method::POST,
            "/api/tasks/1",
            &["get", "put", "patch", "delete"],
        ),
        (Method::GET, "/api/auth/login", &["post"]),
        (Method::POST, "/api/auth/me", &["get", "delete"]),
        (Method::POST, "/healthz", &["get"]),
    ];
    for (method, path, allowed) in cases {
        // No token: 405 answers before 401.
        let resp = app.call(method.clone(), path, None, Some(&json!({}))).await;
        resp.problem(405, "method_not_allowed");
        let allow = resp.header_list("allow");
        for m in allowed {
            assert!(
                allow.iter().any(|a| a == m),
                "{method} {path}: Allow {allow:?} lacks {m}"
            );
        }
        assert!(
            !allow
                .iter()
                .any(|a| a == &method.as_str().to_ascii_lowercase()),
            "{method} {path}: Allow {allow:?}"
        );
    }
}

#[tokio::test]
async fn bodies_up_to_64_kib_are_read_and_larger_ones_are_413() {
    let app = spawn_app().await;
    let u = app.register().await;
    let at_limit = padded_body(LIMIT);
    let over = padded_body(LIMIT + 1);
    raw_create(&app, Some(&u.token), &at_limit, None)
        .await
        .expect(201, None);
    raw_create(&app, Some(&u.token), &over, None)
        .await
        .expect(413, Some("payload_too_large"));
    // Chunked bodies have the same limit, whatever the chunk size.
    for chunk in [1000, 4096, LIMIT] {
        raw_create(&app, Some(&u.token), &at_limit, Some(chunk))
            .await
            .expect(201, None);
        raw_create(&app, Some(&u.token), &over, Some(chunk))
            .await
            .expect(413, Some("payload_too_large"));
    }
    let small_chunked = raw_create(
        &app,
        Some(&u.token),
        br#"{"title":"chunked", "tags": ["c"]}"#,
        Some(5),
    )
    .await;
    assert_eq!(small_chunked.expect(201, None)["tags"], json!(["c"]));
    // A huge declared length is refused without waiting for the body.
    let headers = [
        "Content-Type: application/json".to_string(),
        format!("Authorization: Bearer {}", u.token),
    ];
    let mut request = raw_request("POST", "/api/tasks", &headers, b"", None);
    let text = String::from_utf8(request.clone())
        .expect("ascii")
        .replace("Content-Length: 0", "Content-Length: 10000000");
    request = text.into_bytes();
    app.raw(request)
        .await
        .expect(413, Some("payload_too_large"));
    let count = app.list_all(&u, "limit=200").await.len();
    assert_eq!(count, 5, "only the accepted bodies made tasks");
}

#[tokio::test]
async fn content_types() {
    let app = spawn_app().await;
    let u = app.register().await;
    let body = r#"{"title":"typed"}"#;
    for ct in [
        None,
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("APPLICATION/JSON"),
        Some("application/merge-patch+json"),
    ] {
        post_raw(&app, &u, body, ct).await.expect(201);
    }
    for ct in [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/json",
        "application/jsonx",
    ] {
        post_raw(&app, &u, body, Some(ct))
            .await
            .problem(415, "unsupported_media_type");
    }
    // PATCH and PUT too.
    let task = app.task(&u, "t").await;
    let path = task_path(&task["id"]);
    for method in [Method::PUT, Method::PATCH] {
        let request = app
            .authed(method.clone(), &path, &u.token)
            .header("content-type", "text/plain")
            .body(body);
        send(request).await.problem(415, "unsupported_media_type");
        send(app.authed(method, &path, &u.token).body(body))
            .await
            .expect(200);
    }
    // Auth bodies with no content type are JSON too.
    let login = json!({"email": u.email, "password": PASSWORD}).to_string();
    send(app.req(Method::POST, "/api/auth/login").body(login.clone()))
        .await
        .expect(200);
    send(
        app.req(Method::POST, "/api/auth/login")
            .header("content-type", "text/plain")
            .body(login),
    )
    .await
    .problem(415, "unsupported_media_type");
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let u = app.register().await;
    for body in [
        "",
        " ",
        "not json",
        "{",
        r#"{"title":"x"} trailing"#,
        r#"{"title":"x"}{"title":"y"}"#,
        r#"{"title":'x'}"#,
        r#"{"title":"x",}"#,
        "[]",
        r#"[{"title":"x"}]"#,
        r#""title""#,
        "1",
        "null",
        "true",
        r#"{"title":"\ud800"}"#,
        r#"{"title":"\udc00x"}"#,
        r#"{"title":"a\ud83dz"}"#,
        r#"{"title":"\x"}"#,
        r#"{"title":"\u12"}"#,
    ] {
        let resp = post_raw(&app, &u, body, Some("application/json")).await;
        assert_eq!(resp.status, 400, "body {body:?}: {}", resp.short());
        resp.problem(400, "malformed_json");
    }
    // Bytes that are not UTF-8.
    let request = app
        .authed(Method::POST, "/api/tasks", &u.token)
        .header("content-type", "application/json");
    send(request.body(b"{\"title\":\"\xff\xfe\"}".to_vec()))
        .await
        .problem(400, "malformed_json");
    // A surrogate pair is fine.
    let ok = post_raw(&app, &u, r#"{"title":"\ud83d\ude00 \u00e9"}"#, None).await;
    assert_eq!(ok.expect(201).json()["title"], "😀 é");
    // PATCH with an empty body is malformed, logout with none is fine.
    let task = app.task(&u, "t").await;
    send(
        app.authed(Method::PATCH, &task_path(&task["id"]), &u.token)
            .header("content-type", "application/json"),
    )
    .await
    .problem(400, "malformed_json");
    assert!(
        app.list_all(&u, "limit=200").await.len() == 2,
        "nothing malformed was stored"
    );
}

#[tokio::test]
async fn nesting_deeper_than_127_levels_is_malformed() {
    let app = spawn_app().await;
    let u = app.register().await;
    // 127 levels parse (and fail validation: `a` is not a field); 128 do not.
    post_raw(&app, &u, &nested_objects(127), None)
        .await
        .problem(422, "validation_failed");
    post_raw(&app, &u, &nested_objects(128), None)
        .await
        .problem(400, "malformed_json");
    post_raw(&app, &u, &nested_objects(5000), None)
        .await
        .problem(400, "malformed_json");
    let arrays = |depth: usize| {
        format!(
            r#"{{"tags":{}{}}}"#,
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        )
    };
    post_raw(&app, &u, &arrays(127), None)
        .await
        .problem(422, "validation_failed");
    post_raw(&app, &u, &arrays(128), None)
        .await
        .problem(400, "malformed_json");
    // Auth endpoints too.
    send(
        app.req(Method::POST, "/api/auth/login")
            .body(nested_objects(128)),
    )
    .await
    .problem(400, "malformed_json");
    send(
        app.req(Method::POST, "/api/auth/login")
            .body(nested_objects(10_000)),
    )
    .await
    .problem(400, "malformed_json");
}

#[tokio::test]
async fn duplicate_keys_and_wrong_types_are_422() {
    let app = spawn_app().await;
    let u = app.register().await;
    for body in [
        r#"{"title":"a","title":"b"}"#,
        r#"{"title":"a","title":"a"}"#,
        r#"{"title":"a","priority":"low","priority":"high"}"#,
        r#"{"title":"a","due":null,"due":null}"#,
        r#"{"title":5}"#,
        r#"{"title":"a","tags":"x"}"#,
        r#"{"title":"a","completed":"true"}"#,
        r#"{"title":"a","description":null}"#,
        r#"{}"#,
    ] {
        let resp = post_raw(&app, &u, body, None).await;
        assert_eq!(resp.status, 422, "body {body}: {}", resp.short());
        resp.problem(422, "validation_failed");
    }
    let task = app.task(&u, "t").await;
    let request = app
        .authed(Method::PATCH, &task_path(&task["id"]), &u.token)
        .body(r#"{"title":"a","title":"b"}"#);
    send(request).await.problem(422, "validation_failed");
    let login = format!(
        r#"{{"email":"{}","password":"x","password":"{PASSWORD}"}}"#,
        u.email
    );
    send(app.req(Method::POST, "/api/auth/login").body(login))
        .await
        .problem(422, "validation_failed");
    assert_eq!(app.fetch(&u, &task["id"]).await, task);
}

#[tokio::test]
async fn checks_answer_in_the_specified_order() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app.task(&u, "t").await;
    let path = task_path(&task["id"]);
    let missing = format!("/api/tasks/{}", uuid::Uuid::now_v7());

    // 401 before 400, 413 and 415.
    let no_token = |body: &'static str, ct: &'static str| {
        let app = &app;
        async move {
            send(
                app.req(Method::POST, "/api/tasks")
                    .header("content-type", ct)
                    .body(body),
            )
            .await
        }
    };
    no_token("not json", "application/json")
        .await
        .unauthorized("missing_token", false);
    no_token(r#"{"title":"x"}"#, "text/plain")
        .await
        .unauthorized("missing_token", false);
    no_token(r#"{"user_id":"x"}"#, "application/json")
        .await
        .unauthorized("missing_token", false);
    raw_create(&app, None, &padded_body(LIMIT + 1), None)
        .await
        .expect(401, Some("missing_token"));
    raw_create(&app, Some("garbage"), &padded_body(LIMIT + 1), Some(4096))
        .await
        .expect(401, Some("invalid_token"));
    let bad_token = send(app.authed(Method::POST, "/api/tasks", "garbage").body("{")).await;
    bad_token.unauthorized("invalid_token", true);

    // 400/415 before a task's 404; the task's 404 before 422 and 412.
    let on = |method: Method, p: &str, tag: Option<&str>, ct: &str, body: &str| {
        let mut request = app
            .authed(method, p, &u.token)
            .header("content-type", ct)
            .body(body.to_string());
        if let Some(tag) = tag {
            request = request.header("if-match", tag);
        }
        send(request)
    };
    on(Method::PATCH, &missing, None, "application/json", "{")
        .await
        .problem(400, "malformed_json");
    on(Method::PUT, &missing, None, "text/plain", "{}")
        .await
        .problem(415, "unsupported_media_type");
    on(
        Method::PATCH,
        &missing,
        None,
        "application/json",
        r#"{"title":""}"#,
    )
    .await
    .problem(404, "not_found");
    on(
        Method::PUT,
        &missing,
        Some("\"9\""),
        "application/json",
        r#"{"id":"x"}"#,
    )
    .await
    .problem(404, "not_found");
    on(
        Method::DELETE,
        &missing,
        Some("\"9\""),
        "application/json",
        "",
    )
    .await
    .problem(404, "not_found");
    // 422 before 412.
    on(
        Method::PATCH,
        &path,
        Some("\"9\""),
        "application/json",
        r#"{"title":""}"#,
    )
    .await
    .invalid("title");
    on(
        Method::PUT,
        &path,
        Some("\"9\""),
        "application/json",
        r#"{"version":1,"title":"x"}"#,
    )
    .await
    .problem(422, "validation_failed");
    on(
        Method::PATCH,
        &path,
        Some("\"9\""),
        "application/json",
        r#"{"title":"ok"}"#,
    )
    .await
    .problem(412, "version_mismatch");
    assert_eq!(app.fetch(&u, &task["id"]).await, task);

    // 403 for what is refused outright comes before 400 and 422.
    let closed = spawn_with(|c| c.no_registration = true).await;
    send(closed.req(Method::POST, "/api/auth/register").body("{"))
        .await
        .problem(403, "registration_closed");
    send(
        closed
            .req(Method::POST, "/api/auth/register")
            .body(r#"{"email":"x"}"#),
    )
    .await
    .problem(403, "registration_closed");
}

#[tokio::test]
async fn no_request_gets_a_500() {
    let app = spawn_app().await;
    let u = app.register().await;
    let token = format!("Bearer {}", u.token);
    let weird: Vec<(Method, String, Option<&str>)> = vec![
        (Method::GET, "/api/tasks/%00".into(), None),
        (Method::GET, "/api/tasks/%FF%FE".into(), None),
        (
            Method::GET,
            format!("/api/tasks/{}", "9".repeat(5000)),
            None,
        ),
        (Method::GET, "/api/tasks?q=%FF".into(), None),
        (Method::GET, "/api/tasks?q=%ZZ".into(), None),
        (
            Method::GET,
            "/api/tasks?limit=99999999999999999999999".into(),
            None,
        ),
        (
            Method::GET,
            format!("/api/tasks?cursor={}", "A".repeat(10_000)),
            None,
        ),
        (Method::GET, "/api/tasks?sort=".into(), None),
        (
            Method::PATCH,
            "/api/tasks/1".into(),
            Some(r#"{"due":"9999-12-31T23:59:59Z"}"#),
        ),
        (
            Method::POST,
            "/api/tasks".into(),
            Some(r#"{"title":"x","due":"0000-01-01T00:00:00Z"}"#),
        ),
        (
            Method::POST,
            "/api/tasks".into(),
            Some(r#"{"title":"x","due":"+275760-09-13T00:00:00Z"}"#),
        ),
        (
            Method::POST,
            "/api/tasks".into(),
            Some(r#"{"title":1e999}"#),
        ),
        (
            Method::POST,
            "/api/tasks".into(),
            Some(r#"{"title":"x","completed":1e2}"#),
        ),
        (Method::OPTIONS, "/api/tasks".into(), None),
        (Method::HEAD, "/api/tasks".into(), None),
        (
            Method::from_bytes(b"BREW").expect("method"),
            "/api/tasks".into(),
            None,
        ),
    ];
    app.task(&u, "first").await;
    for (method, path, body) in weird {
        let mut request = app
            .req(method.clone(), &path)
            .header("authorization", &token);
        if let Some(body) = body {
            request = request.body(body);
        }
        let resp = send(request).await;
        assert!(
            resp.status < 500,
            "{method} {path} {body:?}: {} {}",
            resp.status,
            resp.short()
        );
    }
    for header in [
        "Bearer",
        "Bearer ",
        "Bearer a b c",
        "Bearer ...",
        "Bearer a.b",
    ] {
        let resp = send(
            app.req(Method::GET, "/api/tasks")
                .header("authorization", header.trim_end()),
        )
        .await;
        assert_eq!(resp.status, 401, "{header:?}: {}", resp.short());
    }
}

#[tokio::test]
async fn a_repeated_key_answers_after_the_task_limit_and_a_missing_task() {
    let app = spawn_with(|c| c.max_tasks_per_user = 1).await;
    let u = app.register().await;
    let task = app.task(&u, "the only one").await;
    // At the limit, 403 comes before every 422: repeated keys, unknown
    // fields, wrong types.
    for body in [
        r#"{"title":"a","title":"b"}"#,
        r#"{"title":"a","tags":["x"],"tags":["y"]}"#,
        r#"{"title":"a","id":"x"}"#,
        r#"{"title":5}"#,
    ] {
        post_raw(&app, &u, body, None)
            .await
            .problem(403, "task_limit_reached");
    }
    // The request itself (400, 413, 415) still comes before the limit.
    let repeated = r#"{"title":"a","title":"b"}"#;
    post_raw(&app, &u, r#"{"title":"a","title":"#, None)
        .await
        .problem(400, "malformed_json");
    post_raw(&app, &u, repeated, Some("text/plain"))
        .await
        .problem(415, "unsupported_media_type");
    let mut large = repeated.as_bytes().to_vec();
    large.resize(LIMIT + 1, b' ');
    raw_create(&app, Some(&u.token), &large, None)
        .await
        .expect(413, Some("payload_too_large"));

    // A missing task's 404 comes before a repeated key's 422 too.
    let missing = format!("/api/tasks/{}", uuid::Uuid::now_v7());
    for method in [Method::PUT, Method::PATCH] {
        send(app.authed(method, &missing, &u.token).body(repeated))
            .await
            .problem(404, "not_found");
    }
    // Below the limit, on a task that exists, it is still a 422.
    app.delete(&u, &task_path(&task["id"])).await.expect(204);
    post_raw(&app, &u, repeated, None).await.invalid("title");
    assert!(tasks_of(&app.list(&u, "").await.expect(200).json()).is_empty());
}
