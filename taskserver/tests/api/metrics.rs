//! `/metrics` beyond the request counters (see `operations.rs`): the
//! process's standard metrics, the store's own, and `--metrics-listen`.

use crate::helpers::*;
use reqwest::Method;
use std::net::SocketAddr;

/// The value of the sample named exactly `series` (name and labels).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{series}: not a number: {value}"))
        })
}

/// The sample's value, or a failure showing the exposition.
#[track_caller]
pub fn required(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

/// Asserts `# TYPE name kind`.
#[track_caller]
pub fn assert_type(text: &str, name: &str, kind: &str) {
    let line = format!("# TYPE {name} {kind}");
    assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    assert!(
        text.lines().any(|l| l.starts_with(&format!("# HELP {name} "))),
        "no help for {name}"
    );
}

/// Checks the process metrics a user's dashboards read, with values a
/// running process can have; returns the start time.
#[track_caller]
pub fn assert_process_metrics(text: &str) -> f64 {
    for (name, kind) in [
        ("process_resident_memory_bytes", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
        ("process_cpu_seconds_total", "counter"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ] {
        assert_type(text, name, kind);
    }
    let resident = required(text, "process_resident_memory_bytes");
    assert!(resident > 1024.0 * 1024.0, "resident {resident}");
    assert!(required(text, "process_virtual_memory_bytes") >= resident);
    assert!(required(text, "process_cpu_seconds_total") > 0.0);
    let open = required(text, "process_open_fds");
    assert!(open >= 3.0, "open fds {open}");
    assert!(required(text, "process_max_fds") >= open);
    let start = required(text, "process_start_time_seconds");
    assert!(start <= now() as f64 + 1.0, "started in the future: {start}");
    start
}

async fn scrape(url: &str) -> String {
    let resp = send(client().get(format!("{url}/metrics"))).await;
    resp.expect(200);
    resp.text()
}

#[tokio::test]
async fn the_process_metrics_are_there() {
    let app = spawn_app().await;
    let start = assert_process_metrics(&scrape(&app.url).await);
    // The test process started this run, not long before.
    assert!(start > (now() - 24 * 3600) as f64, "start time {start}");
}

#[tokio::test]
async fn the_store_reports_its_work() {
    let app = spawn_app().await;
    let u = app.register().await;
    for title in ["one", "two", "three"] {
        app.task(&u, title).await;
    }
    let text = scrape(&app.url).await;
    assert_type(&text, "taskserver_store_size_bytes", "gauge");
    assert!(required(&text, "taskserver_store_size_bytes") > 0.0);
    match crate::BACKEND {
        Backend::Sled => {
            assert_type(&text, "taskserver_store_flushes_total", "counter");
            assert_type(&text, "taskserver_store_flush_seconds", "histogram");
            assert_type(&text, "taskserver_store_writes_per_flush", "histogram");
            let flushes = required(&text, "taskserver_store_flushes_total");
            assert!(flushes >= 1.0, "{flushes} flushes");
            assert_eq!(
                required(&text, "taskserver_store_flush_seconds_count"),
                flushes
            );
            assert_eq!(
                required(&text, "taskserver_store_writes_per_flush_count"),
                flushes
            );
            assert_eq!(
                required(&text, "taskserver_store_writes_per_flush_bucket{le=\"+Inf\"}"),
                flushes
            );
            // Registering (the account, the session) and three creates,
            // each acknowledged only once a flush covered it.
            let writes = required(&text, "taskserver_store_writes_per_flush_sum");
            assert!(writes >= 5.0, "{writes} writes flushed");
            assert!(required(&text, "taskserver_store_flush_seconds_sum") > 0.0);
            assert!(!text.contains("taskserver_store_pool"), "{text}");
        }
        Backend::Postgres => {
            assert_type(&text, "taskserver_store_pool_connections", "gauge");
            let in_use = required(&text, "taskserver_store_pool_connections{state=\"in_use\"}");
            let idle = required(&text, "taskserver_store_pool_connections{state=\"idle\"}");
            // The scrape's own size query has given its connection back.
            assert!(idle >= 1.0, "idle {idle}, in use {in_use}");
            let max = required(&text, "taskserver_store_pool_max_connections");
            assert_eq!(max, 16.0, "--database-pool-size's default");
            assert!(in_use + idle <= max);
            assert_eq!(required(&text, "taskserver_store_pool_waiting"), 0.0);
            assert!(!text.contains("taskserver_store_flush"), "{text}");
        }
    }
}

#[tokio::test]
async fn metrics_listen_moves_metrics_off_the_api_address() {
    let app = spawn_with(|c| {
        c.metrics_listen = Some(SocketAddr::from(EPHEMERAL));
    })
    .await;
    let metrics = app.metrics_url().expect("a metrics address");
    assert_ne!(metrics, app.url);
    let u = app.register().await;
    app.task(&u, "counted").await;

    // The API's address: /metrics is a path like any it does not serve.
    let there = app.call(Method::GET, "/metrics", None, None).await;
    let elsewhere = app.call(Method::GET, "/elsewhere", None, None).await;
    there.problem(404, "not_found");
    assert_eq!(there.header("x-request-id"), None, "not an API path");
    assert_eq!(there.body, elsewhere.body);
    // No trace of metrics in the API's answers.
    let body = app.call(Method::GET, "/metrics", None, None).await.text();
    assert!(!body.contains("taskserver_"), "{body}");

    // The metrics address: everything, the API's requests counted.
    let text = scrape(&metrics).await;
    assert!(
        text.contains("taskserver_requests_total{route=\"/api/tasks\",status=\"201\"} 1"),
        "{text}"
    );
    assert!(
        !text.contains("route=\"/metrics\",status=\"404\""),
        "the API's 404 for /metrics is not counted as the route:\n{text}"
    );
    assert_process_metrics(&text);
    assert!(sample(&text, "taskserver_store_size_bytes").is_some());
    // And nothing else.
    for path in ["/api/tasks", "/healthz", "/api/openapi.json", "/"] {
        let resp = send(client().get(format!("{metrics}{path}"))).await;
        assert_eq!(resp.status, 404, "{path} on the metrics address");
    }

    // One shutdown stops both addresses.
    let metrics_addr = metrics.trim_start_matches("http://").to_string();
    app.stop().await;
    assert!(
        tokio::net::TcpStream::connect(&metrics_addr).await.is_err(),
        "the metrics address still accepts connections after shutdown"
    );
}
