//! Request ids, CORS, health, readiness, metrics and the OpenAPI document.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn valid_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let u = app.register().await;
    let with_id = |path: &str, id: Option<&str>| {
        let mut request = app.req(Method::GET, path).bearer_auth(&u.token);
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        send(request)
    };
    let max = "a".repeat(64);
    for id in ["abc-123", "A.b_c-9", max.as_str()] {
        for path in ["/api/tasks", "/api/nothing", "/healthz", "/api/tasks/42"] {
            assert_eq!(
                with_id(path, Some(id))
                    .await
                    .header("x-request-id")
                    .as_deref(),
                Some(id),
                "{path}"
            );
        }
    }
    let too_long = "a".repeat(65);
    let mut seen = Vec::new();
    for id in [
        None,
        Some(""),
        Some("has space"),
        Some("semi;colon"),
        Some("üni"),
        Some(too_long.as_str()),
        Some("a/b"),
    ] {
        let resp = with_id("/api/tasks", id.filter(|i| i.is_ascii())).await;
        let got = resp.header("x-request-id").expect("x-request-id");
        assert!(
            valid_request_id(&got),
            "{id:?} replaced by a valid id, got {got:?}"
        );
        assert_ne!(Some(got.as_str()), id, "an invalid id is replaced");
        seen.push(got);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 7, "new ids are distinct");
    // On errors and rejections too.
    for resp in [
        app.call(Method::DELETE, "/api/tasks", None, None).await,
        app.call(Method::GET, "/api/tasks", None, None).await,
        send(app.authed(Method::POST, "/api/tasks", &u.token).body("{")).await,
    ] {
        assert!(
            resp.header("x-request-id")
                .is_some_and(|id| valid_request_id(&id)),
            "{}",
            resp.status
        );
    }
}

async fn with_origin(app: &App, method: Method, path: &str, origin: &str) -> Resp {
    send(app.req(method, path).header("origin", origin)).await
}

async fn preflight(app: &App, path: &str, origin: &str, method: &str, headers: &str) -> Resp {
    let mut request = app
        .req(Method::OPTIONS, path)
        .header("origin", origin)
        .header("access-control-request-method", method);
    if !headers.is_empty() {
        request = request.header("access-control-request-headers", headers);
    }
    send(request).await
}

fn cors_headers(resp: &Resp) -> Vec<String> {
    resp.headers
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

#[tokio::test]
async fn cors_answers_allowed_origins_only() {
    let app = spawn_with(|c| {
        c.cors_origins = vec![
            "http://localhost:3000".into(),
            "https://app.example.com".into(),
        ]
    })
    .await;
    let u = app.register().await;
    for origin in ["http://localhost:3000", "https://app.example.com"] {
        let task = send(
            app.authed(Method::POST, "/api/tasks", &u.token)
                .header("origin", origin)
                .json(&json!({"title": "t"})),
        )
        .await;
        task.expect(201);
        assert_eq!(
            task.header("access-control-allow-origin").as_deref(),
            Some(origin)
        );
        let exposed = task.header_list("access-control-expose-headers");
        for h in ["etag", "location", "retry-after", "x-request-id"] {
            assert!(
                exposed.iter().any(|e| e == h),
                "{origin}: exposes {exposed:?}, lacks {h}"
            );
        }

        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let resp = preflight(
                &app,
                "/api/tasks/1",
                origin,
                method,
                "authorization, content-type, if-match, x-request-id",
            )
            .await;
            assert!(
                resp.status == 200 || resp.status == 204,
                "preflight {method}: {} {}",
                resp.status,
                resp.short()
            );
            assert_eq!(
                resp.header("access-control-allow-origin").as_deref(),
                Some(origin)
            );
            let methods = resp.header_list("access-control-allow-methods");
            for m in ["get", "post", "put", "patch", "delete"] {
                assert!(
                    methods.iter().any(|x| x == m),
                    "allow-methods {methods:?} lacks {m}"
                );
            }
            let headers = resp.header_list("access-control-allow-headers");
            for h in [
                "authorization",
                "content-type",
                "if-match",
                "last-event-id",
                "x-request-id",
            ] {
                assert!(
                    headers.iter().any(|x| x == h),
                    "allow-headers {headers:?} lacks {h}"
                );
            }
        }
    }
    // Other origins: no CORS headers on plain requests, 403 on preflights.
    for origin in [
        "http://evil.example",
        "http://localhost:3001",
        "https://localhost:3000",
        "null",
    ] {
        let resp = with_origin(&app, Method::GET, "/healthz", origin).await;
        resp.expect(200);
        assert!(
            cors_headers(&resp).is_empty(),
            "{origin}: {:?}",
            cors_headers(&resp)
        );
        let resp = preflight(&app, "/api/tasks", origin, "POST", "content-type").await;
        resp.problem(403, "origin_not_allowed");
        assert!(
            cors_headers(&resp).is_empty(),
            "{origin}: {:?}",
            cors_headers(&resp)
        );
    }
    // No Origin: a plain request, no CORS headers.
    let resp = app.get(&u, "/api/tasks").await;
    assert!(cors_headers(&resp).is_empty());
}

#[tokio::test]
async fn the_default_cors_origin_is_localhost_3000() {
    let app = spawn_app().await;
    let ok = with_origin(&app, Method::GET, "/healthz", "http://localhost:3000").await;
    assert_eq!(
        ok.header("access-control-allow-origin").as_deref(),
        Some("http://localhost:3000")
    );
    preflight(&app, "/api/tasks", "http://localhost:8080", "GET", "")
        .await
        .problem(403, "origin_not_allowed");
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let resp = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(resp.expect(200).json(), json!({"status": "ok"}));
    app.call(Method::GET, "/readyz", None, None)
        .await
        .expect(200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_without_user_data() {
    let app = spawn_app().await;
    let u = app.register().await;
    let task = app.task(&u, "metered").await;
    app.fetch(&u, &task["id"]).await;
    app.get(&u, "/api/tasks/99").await.expect(404);
    let resp = app.call(Method::GET, "/metrics", None, None).await;
    resp.expect(200);
    let ct = resp.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("text/plain"),
        "Prometheus text format, got {ct:?}"
    );
    let text = resp.text();
    assert!(
        text.lines()
            .any(|l| l.starts_with("# TYPE ") && l.ends_with(" histogram")),
        "a latency histogram:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("# TYPE ") && l.ends_with(" counter")),
        "a request counter:\n{text}"
    );
    assert!(
        text.contains("_bucket{") && text.contains("le=\"+Inf\""),
        "histogram buckets:\n{text}"
    );
    assert!(
        text.contains("404") && text.contains("201"),
        "statuses as labels:\n{text}"
    );
    for secret in [
        u.id.as_str(),
        u.email.as_str(),
        task["id"].as_str().expect("id"),
        "metered",
    ] {
        assert!(!text.contains(secret), "metrics reveal {secret}");
    }
    assert!(
        !text.contains("/api/tasks/99"),
        "routes are templated, not raw paths"
    );
    // Every sample line parses as `name{labels} value`.
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let value = line.rsplit(' ').next().expect("value");
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "bad sample: {line}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint() {
    let app = spawn_app().await;
    let resp = app.call(Method::GET, "/api/openapi.json", None, None).await;
    let doc = resp.expect(200).json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "openapi: {}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    let expected: [(&str, &[&str]); 11] = [
        ("/api/auth/register", &["post"]),
        ("/api/auth/login", &["post"]),
        ("/api/auth/refresh", &["post"]),
        ("/api/auth/logout", &["post"]),
        ("/api/auth/me", &["get", "delete"]),
        ("/api/tasks", &["get", "post"]),
        ("/api/tasks/{id}", &["get", "put", "patch", "delete"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
        ("/api/openapi.json", &["get"]),
    ];
    for (path, methods) in expected {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("no {path} in {:?}", paths.keys().collect::<Vec<_>>()));
        for m in methods {
            let op = &item[*m];
            assert!(op.is_object(), "{m} {path} missing");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{m} {path} has no responses"
            );
        }
    }
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("component schemas");
    for name in ["Task", "Page", "Session", "User", "Problem"] {
        assert!(
            schemas.contains_key(name),
            "schema {name} missing: {:?}",
            schemas.keys().collect::<Vec<_>>()
        );
    }
    let security = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    assert!(
        security.values().any(|s| s["type"] == "http"
            && s["scheme"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case("bearer"))),
        "a bearer scheme: {security:?}"
    );
    // The list's query parameters, with the sort enum.
    let params = doc["paths"]["/api/tasks"]["get"]["parameters"]
        .as_array()
        .expect("list parameters");
    let param = |name: &str| -> Value {
        let p = params
            .iter()
            .find(|p| p["name"] == name || p["$ref"].as_str().is_some_and(|r| r.ends_with(name)));
        p.cloned()
            .unwrap_or_else(|| panic!("parameter {name} missing"))
    };
    for name in ["status", "q", "tag", "priority", "sort", "limit", "cursor"] {
        param(name);
    }
    let text = doc.to_string();
    for needle in [
        "\"-priority\"",
        "\"ETag\"",
        "\"Location\"",
        "\"Retry-After\"",
        "\"WWW-Authenticate\"",
        "\"uuid\"",
        "\"date-time\"",
    ] {
        assert!(
            text.contains(needle) || text.to_lowercase().contains(&needle.to_lowercase()),
            "the document never mentions {needle}"
        );
    }
    assert!(
        text.contains("\"additionalProperties\":false"),
        "request bodies refuse unknown fields"
    );
}

#[tokio::test]
async fn the_in_process_server_stops_gracefully_on_a_private_data_dir() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    let u = app.register().await;
    app.task(&u, "t").await;
    let data = app.dir.path().join("data");
    if crate::BACKEND == Backend::Sled {
        let mode = std::fs::metadata(&data)
            .expect("data dir")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700, "data dir mode {mode:o}");
    } else {
        assert!(!data.exists(), "on PostgreSQL nothing is kept locally");
    }
    let (http, url) = (app.http.clone(), app.url.clone());
    app.stop().await;
    assert!(
        http.get(format!("{url}/healthz")).send().await.is_err(),
        "stopped servers accept nothing"
    );
}

/// Sends `partial` and waits for the server to give up: returns how long it
/// took and what it answered (maybe nothing).
fn stall(addr: &str, partial: &[u8]) -> (Duration, String) {
    use std::io::{Read, Write};
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    stream.write_all(partial).expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    (
        started.elapsed(),
        String::from_utf8_lossy(&answer).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_send_too_slowly_are_cut_off() {
    let app = spawn_app().await;
    let u = app.register().await;
    let addr = app.url.trim_start_matches("http://").to_string();
    let headers = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || {
            stall(
                &addr,
                b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ",
            )
        }
    });
    let body = format!(
        "POST /api/tasks HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"title\":",
        u.token
    );
    let body = tokio::task::spawn_blocking(move || stall(&addr, body.as_bytes()));
    for (what, handle) in [("headers", headers), ("body", body)] {
        let (elapsed, answer) = handle.await.expect("join");
        assert!(
            elapsed < Duration::from_secs(100),
            "{what}: held open for {elapsed:?}"
        );
        assert!(
            elapsed >= Duration::from_secs(5),
            "{what}: cut off at once ({elapsed:?}): {answer}"
        );
        assert!(!answer.starts_with("HTTP/1.1 2"), "{what}: {answer}");
    }
    // Nothing was created from the half-sent body.
    assert!(tasks_of(&app.list(&u, "").await.expect(200).json()).is_empty());
}

#[tokio::test]
async fn the_filters_mount_in_another_warp_app_and_leave_other_paths_to_it() {
    use std::sync::Arc;
    use warp::Filter;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = taskserver::Config::new(dir.path().join("data")).jwt_secret(SECRET);
    let store =
        taskcore::SledStore::open(taskcore::SledConfig::new(&config.data_dir)).expect("store");
    let state = taskserver::AppState::new(config, Arc::new(store))
        .await
        .expect("state");
    let host = warp::path("hello").map(|| "hi from the host");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(
        warp::serve(taskserver::routes(state).or(host))
            .incoming(listener)
            .run(),
    );
    let app = App::remote(&url);

    let hello = app.call(Method::GET, "/hello", None, None).await;
    assert_eq!(
        (hello.status, hello.text()),
        (200, "hi from the host".to_string())
    );
    assert_eq!(
        app.call(Method::GET, "/healthz", None, None)
            .await
            .expect(200)
            .json(),
        json!({"status": "ok"})
    );
    app.call(Method::GET, "/readyz", None, None)
        .await
        .expect(200);
    app.call(Method::GET, "/metrics", None, None)
        .await
        .expect(200);
    let u = app.register().await;
    let task = app.task(&u, "mounted").await;
    assert_eq!(app.fetch(&u, &task["id"]).await, task);
    app.call(Method::GET, "/api/nothing", None, None)
        .await
        .problem(404, "not_found");
    app.call(Method::DELETE, "/api/tasks", None, None)
        .await
        .problem(405, "method_not_allowed");
    // A path outside the API's is the host's to answer, not a problem+json.
    let other = app.call(Method::GET, "/elsewhere", None, None).await;
    assert_eq!(other.status, 404);
    assert!(
        !other
            .header("content-type")
            .unwrap_or_default()
            .contains("problem+json"),
        "{}",
        other.short()
    );
}
