//! PostgreSQL that stops answering, or goes away: requests that need it
//! are 503 `storage_unavailable` with `Retry-After` within
//! `--storage-timeout` (never a 500, never a hang), the server serves again
//! once the database is back, and starting against a database that does
//! not answer gives up after the same time with one sentence.
//!
//! The database sits behind a TCP proxy of the test's that can forward,
//! stall (keep the connections but pass no bytes: a network that drops
//! packets, a database frozen under load) or refuse (a database that is
//! down).

use crate::binary::{Bin, command, dirs, with_secret};
use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Forward,
    Stall,
    Refuse,
}

/// A TCP proxy to PostgreSQL whose behaviour the test switches.
struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("addr");
        let (mode, _) = watch::channel(Mode::Forward);
        let modes = mode.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *modes.borrow() == Mode::Refuse {
                    continue; // dropped: the connection closes at once
                }
                let modes = modes.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::select! {
                        _ = pump(client_read, server_write, modes.subscribe()) => {}
                        _ = pump(server_read, client_write, modes.subscribe()) => {}
                    }
                });
            }
        });
        Proxy { addr, mode }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// Copies bytes while forwarding; holds them while stalled; ends (closing
/// both sides) when refusing.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = mode.wait_for(|m| *m == Mode::Refuse) => return,
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match mode.wait_for(|m| *m != Mode::Stall).await.map(|m| *m) {
            Ok(Mode::Forward) => {}
            _ => return,
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_once('/').expect("a database name");
    let user = authority
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"));
    format!("{scheme}://{}{addr}/{path}", user.unwrap_or_default())
}

/// The upstream PostgreSQL address of a test database URL.
fn upstream_of(url: &str) -> SocketAddr {
    let rest = url.split_once("://").expect("a URL").1;
    let authority = rest.split('/').next().expect("authority");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host_port = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    };
    host_port
        .replace("localhost", "127.0.0.1")
        .parse()
        .expect("a host:port")
}

/// A 503 `storage_unavailable` with `Retry-After`, answered within `bound`.
async fn unavailable_within(request: reqwest::RequestBuilder, bound: Duration) {
    let started = Instant::now();
    let resp = send(request).await;
    let took = started.elapsed();
    resp.problem(503, "storage_unavailable");
    assert!(resp.header("retry-after").is_some(), "Retry-After is set");
    assert!(took < bound, "answered in {took:?}, past {bound:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_stalls_or_goes_away_is_503_within_the_timeout_then_recovers() {
    let timeout = Duration::from_secs(1);
    let bound = timeout + Duration::from_secs(2);
    // Every test database is on the server of the base URL.
    let base = taskcore::store::postgres::testing::test_database_url().expect("PostgreSQL");
    let proxy = Proxy::start(upstream_of(&base)).await;
    let app = spawn_with(|config| {
        let url = config.database_url.as_ref().expect("PostgreSQL").expose();
        config.database_url = Some(through(url, proxy.addr).parse().expect("a postgres:// URL"));
        config.storage_timeout = timeout;
    })
    .await;
    let u = app.register().await;
    let kept = app.task(&u, "written before the fault").await;

    for fault in [Mode::Stall, Mode::Refuse] {
        proxy.set(fault);
        unavailable_within(
            app.authed(Method::POST, "/api/tasks", &u.token)
                .json(&json!({"title": "during the fault"})),
            bound,
        )
        .await;
        unavailable_within(app.authed(Method::GET, "/api/tasks", &u.token), bound).await;
        unavailable_within(
            app.authed(Method::GET, &task_path(&kept["id"]), &u.token),
            bound,
        )
        .await;
        let ready = send(app.req(Method::GET, "/readyz")).await;
        ready.problem(503, "not_ready");
        send(app.req(Method::GET, "/healthz")).await.expect(200);

        proxy.set(Mode::Forward);
        // The pool reconnects or the stalled connections drain: it serves again.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let resp = app
                .post(
                    &u,
                    "/api/tasks",
                    json!({"title": format!("after {fault:?}")}),
                )
                .await;
            if resp.status == 201 {
                break;
            }
            assert_eq!(resp.status, 503, "{}", resp.short());
            assert!(
                Instant::now() < deadline,
                "never served again after {fault:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        send(app.req(Method::GET, "/readyz")).await.expect(200);
    }
    let titles: Vec<String> = app
        .list_all(&u, "")
        .await
        .iter()
        .map(|t| s(&t["title"]))
        .collect();
    assert_eq!(titles[0], "written before the fault");
    assert!(titles.contains(&"after Stall".to_string()));
    assert!(titles.contains(&"after Refuse".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_against_a_database_that_does_not_answer_gives_up_with_one_sentence() {
    let database = test_database().await;
    let proxy = Proxy::start(upstream_of(&database.url)).await;
    proxy.set(Mode::Stall);
    let (cwd, _) = dirs();
    let mut cmd = command(cwd.path(), &cwd.path().join("unused"));
    cmd.arg("--database-url")
        .arg(through(&database.url, proxy.addr))
        .arg("--storage-timeout")
        .arg("1s");
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("runs"))
        .await
        .expect("joins");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(took < Duration::from_secs(10), "gave up after {took:?}");
    assert!(
        stderr.contains("did not answer within 1s") && !stderr.contains("postgres@"),
        "one sentence, no credentials: {stderr}"
    );
}

/// A 500 (here: a table gone from under the server) is logged with the
/// request id its client got, the user, and the cause's chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_is_logged_with_its_request_id_and_its_cause() {
    let database = test_database().await;
    let (cwd, _) = dirs();
    let mut cmd = with_secret(command(cwd.path(), &cwd.path().join("unused")));
    cmd.arg("--database-url").arg(&database.url);
    let bin = Bin::start(cmd);
    let app = bin.app();
    let u = app.register().await;
    taskcore::store::postgres::testing::execute(&database.url, "ALTER TABLE tasks RENAME TO gone")
        .await
        .expect("renames the table");
    let resp = send(
        app.authed(Method::GET, "/api/tasks", &u.token)
            .header("x-request-id", "trace-a-500"),
    )
    .await;
    let body = resp.problem(500, "internal");
    assert!(!body.to_string().contains("tasks"), "no internals: {body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = bin.output();
    let line = logs
        .lines()
        .find(|l| l.contains("internal error"))
        .unwrap_or_else(|| panic!("no `internal error` line: {logs}"));
    for wanted in [
        "trace-a-500",
        u.id.as_str(),
        "/api/tasks",
        "storage failure: PostgreSQL",
    ] {
        assert!(line.contains(wanted), "the line has {wanted:?}: {line}");
    }
}
