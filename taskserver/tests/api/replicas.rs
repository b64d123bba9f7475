//! Several `taskserver` processes on one PostgreSQL database behave as one
//! server: a token from one works on the other, a task written through one
//! is read, changed and deleted through the other, a refresh token is
//! accepted once across both, and an `If-Match` race has one winner. And a
//! server is ready only while its database answers.

use crate::binary::{Bin, command, dirs};
use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use std::path::Path;

/// A server process on `database_url`, with the generated JWT secret (kept
/// in the database, so replicas share it) and `extra` flags.
fn replica(cwd: &Path, database_url: &str, extra: &[&str]) -> Bin {
    let mut cmd = command(cwd, &cwd.join("unused-data-dir"));
    cmd.arg("--database-url").arg(database_url).args(extra);
    Bin::start(cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_behave_as_one() {
    let database = test_database().await;
    let (cwd, _) = dirs();
    let (one, two) = (
        replica(cwd.path(), &database.url, &[]),
        replica(cwd.path(), &database.url, &[]),
    );
    let (a, b) = (one.app(), two.app());
    assert!(
        !cwd.path().join("unused-data-dir").exists(),
        "with --database-url nothing is kept locally"
    );

    let u = a.register().await;
    b.list(&u, "").await.expect(200);
    let session = b.login(&u.email, PASSWORD).await.expect(200).json();
    a.list(&User::from_session(&session), "").await.expect(200);

    let task = a.task(&u, "written through one").await;
    let path = task_path(&task["id"]);
    assert_eq!(ids(&b.list_all(&u, "").await), vec![s(&task["id"])]);
    let renamed = b
        .patch(&u, &path, json!({"title": "renamed through two"}))
        .await
        .expect(200)
        .json();
    assert_eq!(a.fetch(&u, &task["id"]).await, renamed);
    assert_eq!(
        b.task(&u, "second").await["number"],
        2,
        "numbers are shared"
    );

    // Conditional updates of one version through both at once: one winner.
    for round in 0..5 {
        let current = a.fetch(&u, &task["id"]).await;
        let tag = format!("\"{}\"", current["version"]);
        let attempt = |app: &App, title: String| {
            let request = app
                .authed(Method::PATCH, &path, &u.token)
                .header("if-match", tag.clone())
                .json(&json!({ "title": title }));
            send(request)
        };
        let (ra, rb) = tokio::join!(
            attempt(&a, format!("a{round}")),
            attempt(&b, format!("b{round}"))
        );
        let mut statuses = [ra.status, rb.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "round {round}");
        let after = b.fetch(&u, &task["id"]).await;
        assert_eq!(
            after["version"],
            current["version"].as_u64().unwrap_or(0) + 1
        );
    }

    b.delete(&u, &path).await.expect(204);
    a.get(&u, &path).await.expect(404);
    b.get(&u, &path).await.expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_is_accepted_once_across_replicas() {
    let database = test_database().await;
    let (cwd, _) = dirs();
    // Without a grace period, the loser of a race is a reuse: the whole
    // session ends, the winner's new tokens included.
    let strict = ["--refresh-reuse-grace", "0s"];
    let (one, two) = (
        replica(cwd.path(), &database.url, &strict),
        replica(cwd.path(), &database.url, &strict),
    );
    let (a, b) = (one.app(), two.app());
    for _ in 0..3 {
        let u = a.register().await;
        let (ra, rb) = tokio::join!(a.refresh(&u.refresh), b.refresh(&u.refresh));
        let mut statuses = [ra.status, rb.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 401], "exactly one replica rotates it");
        let winner = if ra.status == 200 { &ra } else { &rb };
        let rotated = User::from_session(&winner.json());
        a.list(&rotated, "").await.expect(401);
        b.list(&rotated, "").await.expect(401);
        b.refresh(&rotated.refresh).await.expect(401);
        a.list(&u, "").await.expect(401);
    }
    drop((one, two));

    // With the default grace, two clients refreshing at once: one wins and
    // nobody is logged out.
    let (one, two) = (
        replica(cwd.path(), &database.url, &[]),
        replica(cwd.path(), &database.url, &[]),
    );
    let (a, b) = (one.app(), two.app());
    let u = a.register().await;
    let (ra, rb) = tokio::join!(a.refresh(&u.refresh), b.refresh(&u.refresh));
    let mut statuses = [ra.status, rb.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);
    let winner = if ra.status == 200 { &ra } else { &rb };
    let rotated = User::from_session(&winner.json());
    b.list(&rotated, "").await.expect(200);
    a.refresh(&rotated.refresh).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database() {
    let database = test_database().await;
    let (cwd, _) = dirs();
    let server = replica(cwd.path(), &database.url, &[]);
    let app = server.app();
    send(app.req(Method::GET, "/readyz")).await.expect(200);
    // Dropped WITH (FORCE): the server's connections end and cannot return.
    drop(database);
    send(app.req(Method::GET, "/readyz"))
        .await
        .problem(503, "not_ready");
    send(app.req(Method::GET, "/healthz")).await.expect(200);
}
