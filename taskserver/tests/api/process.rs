//! The built binary: durability across kill -9, graceful SIGTERM, startup
//! errors, file modes, `.env`.

use crate::binary::*;
use crate::helpers::*;
use serde_json::{Value, json};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let (cwd, data) = dirs();
    let bin = Bin::start(with_secret(command(cwd.path(), &data)));
    let app = bin.app();
    let u = app.register().await;
    let n = 64;
    let creates = (0..n).map(|i| {
        app.post(
            &u,
            "/api/tasks",
            json!({"title": format!("durable {i}"), "tags": [format!("t{i}")]}),
        )
    });
    let acked: Vec<Value> = futures_util::future::join_all(creates)
        .await
        .iter()
        .map(|r| r.expect(201).json())
        .collect();
    let edited = app
        .patch(&u, &task_path(&acked[0]["id"]), json!({"completed": true}))
        .await
        .expect(200)
        .json();
    let deleted = &acked[1];
    app.delete(&u, &task_path(&deleted["id"])).await.expect(204);

    // SIGKILL right after the last acknowledgement: no chance to flush on exit.
    let mut bin = bin;
    bin.child.kill().expect("kill -9");
    let _ = bin.child.wait();
    drop(bin);

    let bin = Bin::start(with_secret(command(cwd.path(), &data)));
    let app = bin.app();
    let session = app.login(&u.email, PASSWORD).await.expect(200).json();
    let again = User::from_session(&session);
    assert_eq!(again.id, u.id);
    let listed = app.list_all(&again, "limit=200").await;
    assert_eq!(
        listed.len(),
        n - 1,
        "every acknowledged create is there, the delete too"
    );
    for task in &acked[2..] {
        assert!(
            listed.contains(task),
            "lost or changed after kill -9: {task}"
        );
    }
    assert!(listed.contains(&edited), "the acknowledged edit survived");
    assert!(
        !ids(&listed).contains(&s(&deleted["id"])),
        "the acknowledged delete survived"
    );
    // The number counter survived too.
    assert_eq!(app.task(&again, "after").await["number"], n + 1);
    // The session from before the kill is still live.
    app.get(&u, "/api/auth/me").await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_exit_0_after_finishing() {
    for signal in ["TERM", "INT"] {
        let (cwd, data) = dirs();
        let bin = Bin::start(with_secret(command(cwd.path(), &data)));
        let app = bin.app();
        let u = app.register().await;
        let kept = app.task(&u, "before the signal").await;
        // Writes in flight while the signal arrives: whatever was acknowledged stays.
        let creates: Vec<_> = (0..16)
            .map(|i| {
                let app = App::remote(&bin.url);
                let u = u.clone();
                tokio::spawn(async move {
                    let resp = app
                        .req(reqwest::Method::POST, "/api/tasks")
                        .bearer_auth(&u.token)
                        .json(&json!({"title": format!("inflight {i}")}))
                        .send()
                        .await;
                    match resp {
                        Ok(r) if r.status() == 201 => Some(r.json::<Value>().await.expect("task")),
                        _ => None,
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(5)).await;
        bin.signal(signal);
        let mut acked = vec![kept];
        for c in creates {
            acked.extend(c.await.expect("join"));
        }
        let status = tokio::task::spawn_blocking(move || bin.wait(30))
            .await
            .expect("wait");
        assert_eq!(status.code(), Some(0), "SIG{signal} exits 0");

        let bin = Bin::start(with_secret(command(cwd.path(), &data)));
        let app = bin.app();
        let listed = app.list_all(&u, "limit=200").await;
        for task in &acked {
            assert!(
                listed.contains(task),
                "SIG{signal}: acknowledged task lost: {task}"
            );
        }
    }
}

/// Runs the command to its exit and returns (status, stdout, stderr).
fn run_to_exit(mut cmd: Command) -> (ExitStatus, String, String) {
    let mut child = cmd.spawn().expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = wait_for(&mut child, 30);
    (
        status,
        out_thread.join().expect("stdout"),
        err_thread.join().expect("stderr"),
    )
}

/// Asserts a failed start: non-zero, one line on stderr mentioning each of `words`.
#[track_caller]
fn assert_startup_error(cmd: Command, words: &[&str]) {
    let (status, stdout, stderr) = run_to_exit(cmd);
    assert!(!status.success(), "should fail; stdout {stdout:?}");
    assert!(!stdout.contains("listening on"), "stdout {stdout:?}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one clear line on stderr, got {stderr:?}");
    let line = lines[0].to_lowercase();
    for word in words {
        assert!(
            line.contains(&word.to_lowercase()),
            "{word:?} not in {stderr:?}"
        );
    }
    assert!(!line.contains("panicked"), "{stderr:?}");
}

#[test]
fn a_short_jwt_secret_is_a_startup_error() {
    let (cwd, data) = dirs();
    let mut cmd = command(cwd.path(), &data);
    cmd.env("TASKSERVER_JWT_SECRET", "a".repeat(31));
    assert_startup_error(cmd, &["secret", "32"]);
    let mut cmd = command(cwd.path(), &data);
    cmd.arg("--jwt-secret").arg("short");
    assert_startup_error(cmd, &["secret", "32"]);
}

#[test]
fn a_taken_port_is_a_startup_error() {
    let (cwd, data) = dirs();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let cmd = with_secret(command_on(cwd.path(), &data, &format!("127.0.0.1:{port}")));
    assert_startup_error(cmd, &[&port]);
}

#[test]
fn an_unwritable_data_dir_is_a_startup_error() {
    let (cwd, _) = dirs();
    let file = cwd.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    let data = file.join("data");
    assert_startup_error(
        with_secret(command(cwd.path(), &data)),
        &[&data.display().to_string()],
    );
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_is_private_and_a_generated_secret_is_kept() {
    let (cwd, data) = dirs();
    // No secret given: one is generated and kept in the store.
    let bin = Bin::start(command(cwd.path(), &data));
    let app = bin.app();
    let u = app.register().await;
    app.task(&u, "secret-keeping").await;
    bin.signal("TERM");
    let status = tokio::task::spawn_blocking(move || bin.wait(30))
        .await
        .expect("wait");
    assert_eq!(status.code(), Some(0));

    let mode = std::fs::metadata(&data)
        .expect("data dir")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700, "data dir mode {mode:o}");
    for file in files_under(&data) {
        let mode = std::fs::metadata(&file).expect("file").permissions().mode() & 0o777;
        assert_eq!(
            mode & 0o077,
            0,
            "{} is mode {mode:o}: it holds password hashes or secrets",
            file.display()
        );
    }

    // The same secret after a restart: the old access token still verifies.
    let bin = Bin::start(command(cwd.path(), &data));
    let app = bin.app();
    app.get(&u, "/api/auth/me").await.expect(200);
    // And it is not the test secret.
    app.call(
        reqwest::Method::GET,
        "/api/auth/me",
        Some(&forge(&good_claims(&u))),
        None,
    )
    .await
    .unauthorized("invalid_token", true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_env_is_read_and_the_process_environment_wins() {
    let (cwd, data) = dirs();
    std::fs::write(
        cwd.path().join(".env"),
        format!("TASKSERVER_MAX_TASKS_PER_USER=1\nTASKSERVER_JWT_SECRET={SECRET}\n"),
    )
    .expect(".env");
    let bin = Bin::start(command(cwd.path(), &data));
    let app = bin.app();
    let u = app.register().await;
    app.get(&u, "/api/auth/me").await.expect(200);
    // The secret came from .env: a token forged with it is accepted.
    app.call(
        reqwest::Method::GET,
        "/api/auth/me",
        Some(&forge(&good_claims(&u))),
        None,
    )
    .await
    .expect(200);
    app.task(&u, "one").await;
    app.post(&u, "/api/tasks", json!({"title": "two"}))
        .await
        .problem(403, "task_limit_reached");
    drop(bin);

    let mut cmd = command(cwd.path(), &data);
    cmd.env("TASKSERVER_MAX_TASKS_PER_USER", "2");
    let bin = Bin::start(cmd);
    let app = bin.app();
    app.task(&u, "two").await;
    app.post(&u, "/api/tasks", json!({"title": "three"}))
        .await
        .problem(403, "task_limit_reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_never_contain_passwords_tokens_or_the_secret() {
    for format in ["text", "json"] {
        let (cwd, data) = dirs();
        let mut cmd = with_secret(command(cwd.path(), &data));
        cmd.env("RUST_LOG", "debug").arg("--log-format").arg(format);
        let bin = Bin::start(cmd);
        let app = bin.app();
        let u = app.register().await;
        let session = app.login(&u.email, PASSWORD).await.expect(200).json();
        let second = User::from_session(&session);
        let rotated = User::from_session(&app.refresh(&second.refresh).await.expect(200).json());
        app.login(&u.email, "a wrong password").await.expect(401);
        app.task(&u, "logged task").await;
        app.get(&rotated, "/api/tasks").await.expect(200);
        app.call(
            reqwest::Method::POST,
            "/api/auth/logout",
            Some(&u.token),
            None,
        )
        .await
        .expect(204);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let logs = bin.output();
        assert!(
            logs.lines().count() > 1,
            "{format}: the server logs something at debug: {logs}"
        );
        assert!(
            !logs.contains('\u{1b}'),
            "{format}: no colour codes when stderr is not a terminal: {logs}"
        );
        let secrets = [
            PASSWORD,
            "a wrong password",
            SECRET,
            &u.token,
            &u.refresh,
            &second.token,
            &second.refresh,
            &rotated.token,
            &rotated.refresh,
        ];
        for secret in secrets {
            assert!(
                !logs.contains(secret),
                "{format}: the logs contain {secret:?}"
            );
            // Nor the signature part of a JWT alone.
            if let Some((_, signature)) = secret.rsplit_once('.') {
                assert!(
                    signature.len() < 20 || !logs.contains(signature),
                    "{format}: a token signature is logged"
                );
            }
        }
        if format == "json" {
            for line in logs.lines().filter(|l| !l.starts_with("listening on ")) {
                serde_json::from_str::<Value>(line)
                    .unwrap_or_else(|e| panic!("a JSON log line ({e}): {line}"));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_and_environment_configure_the_binary() {
    let (cwd, data) = dirs();
    let mut cmd = with_secret(command(cwd.path(), &data));
    cmd.args([
        "--token-ttl",
        "90s",
        "--cors-origin",
        "https://a.example",
        "--cors-origin",
        "https://b.example",
    ])
    .env("TASKSERVER_MAX_TASKS_PER_USER", "1");
    let bin = Bin::start(cmd);
    let app = bin.app();
    let session = app
        .register_as(&unique_email(), PASSWORD)
        .await
        .expect(201)
        .json();
    assert_eq!(session["expires_in"], 90, "--token-ttl");
    let u = User::from_session(&session);
    app.task(&u, "one").await;
    app.post(&u, "/api/tasks", json!({"title": "two"}))
        .await
        .problem(403, "task_limit_reached");
    for (origin, allowed) in [
        ("https://b.example", true),
        ("https://a.example", true),
        ("http://localhost:3000", false),
    ] {
        let resp = send(
            app.req(reqwest::Method::GET, "/healthz")
                .header("origin", origin),
        )
        .await;
        assert_eq!(
            resp.header("access-control-allow-origin").is_some(),
            allowed,
            "{origin}"
        );
    }
    drop(bin);

    let mut cmd = with_secret(command(cwd.path(), &data));
    cmd.env("TASKSERVER_NO_REGISTRATION", "1").env(
        "TASKSERVER_CORS_ORIGINS",
        "https://c.example,https://d.example",
    );
    let bin = Bin::start(cmd);
    let app = bin.app();
    app.register_as(&unique_email(), PASSWORD)
        .await
        .problem(403, "registration_closed");
    app.login(&u.email, PASSWORD).await.expect(200);
    let resp = send(
        app.req(reqwest::Method::GET, "/healthz")
            .header("origin", "https://d.example"),
    )
    .await;
    assert_eq!(
        resp.header("access-control-allow-origin").as_deref(),
        Some("https://d.example")
    );
}

#[test]
fn external_provider_flags_are_checked_at_startup() {
    let (cwd, data) = dirs();
    let external = |args: &[&str]| {
        let mut cmd = with_secret(command(cwd.path(), &data));
        cmd.args(args);
        cmd
    };
    let jwks = "https://auth.example.com/api/auth/jwks";
    assert_startup_error(
        external(&[
            "--jwt-jwks-url",
            jwks,
            "--jwt-issuer",
            "https://auth.example.com",
        ]),
        &["--jwt-issuer", "--jwt-audience"],
    );
    let mut cmd = external(&["--jwt-audience", "tasks"]);
    cmd.env("TASKSERVER_JWT_JWKS_URL", jwks);
    assert_startup_error(cmd, &["--jwt-issuer", "--jwt-audience"]);
    let issuer = [
        "--jwt-issuer",
        "https://auth.example.com",
        "--jwt-audience",
        "tasks",
    ];
    let with_issuer = |more: &[&str]| external(&[&issuer[..], more].concat());
    assert_startup_error(
        with_issuer(&["--jwt-jwks-url", "http://auth.example.com/jwks"]),
        &["https://", "http://auth.example.com/jwks"],
    );
    let mut cmd = with_issuer(&[]);
    cmd.env("TASKSERVER_JWT_EXTERNAL_SECRET", "x".repeat(31));
    assert_startup_error(cmd, &["external", "32 bytes"]);
    assert_startup_error(
        with_issuer(&["--jwt-public-key", "/nonexistent/key.pem"]),
        &["/nonexistent/key.pem"],
    );
    let not_a_key = cwd.path().join("not-a-key.pem");
    std::fs::write(&not_a_key, "hello").expect("write");
    assert_startup_error(
        with_issuer(&["--jwt-public-key", not_a_key.to_str().expect("utf-8")]),
        &["not-a-key.pem"],
    );
    assert_startup_error(
        external(&[
            "--jwt-jwks-url",
            jwks,
            "--jwt-issuer",
            "taskserver",
            "--jwt-audience",
            "tasks",
        ]),
        &["--jwt-issuer", "taskserver"],
    );
    assert_startup_error(external(&["--no-local-accounts"]), &["--no-local-accounts"]);
}

/// A line of `/proc/<pid>/status` in KiB, e.g. `VmRSS` or `VmHWM`.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Each argon2 hash needs 19 MiB: unless that memory is bounded by the
/// hashing slots, glibc keeps it in per-thread arenas and the server grows by
/// tens of MiB per blocking thread, never giving it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_grow_resident_memory_by_a_bounded_amount() {
    let (cwd, data) = dirs();
    let bin = Bin::start(with_secret(command(cwd.path(), &data)));
    let pid = bin.child.id();
    // Let the start-up work (the dummy hash) finish before the baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = proc_status_kib(pid, "VmRSS");
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let app = bin.app();
            tokio::spawn(async move {
                for _ in 0..25 {
                    app.register_as(&unique_email(), PASSWORD).await.expect(201);
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("client");
    }
    let after = proc_status_kib(pid, "VmRSS");
    let peak = proc_status_kib(pid, "VmHWM");
    let grown_mib = after.saturating_sub(before) / 1024;
    eprintln!("VmRSS {before} KiB -> {after} KiB (+{grown_mib} MiB), VmHWM {peak} KiB");
    assert!(
        grown_mib < 150,
        "200 registrations grew the server by {grown_mib} MiB (VmRSS {before} -> {after} KiB, peak {peak} KiB)"
    );
}

/// Every line a request logs carries the request id its client got, and
/// the user once authenticated: a handler's own line, and the per-request
/// line at debug, in both log formats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requests_log_lines_carry_its_request_id_and_user() {
    for format in ["text", "json"] {
        let (cwd, data) = dirs();
        let mut cmd = with_secret(command(cwd.path(), &data));
        cmd.env("RUST_LOG", "debug").arg("--log-format").arg(format);
        let bin = Bin::start(cmd);
        let app = bin.app();
        let session = send(
            app.req(reqwest::Method::POST, "/api/auth/register")
                .header("x-request-id", "trace-register-1")
                .json(&json!({"email": unique_email(), "password": PASSWORD})),
        )
        .await
        .expect(201)
        .json();
        let u = User::from_session(&session);
        // An id the server chose.
        let listed = app.get(&u, "/api/tasks").await;
        listed.expect(200);
        let id = listed.header("x-request-id").expect("x-request-id");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let logs = bin.output();

        let registered = logs
            .lines()
            .find(|l| l.contains("registered") && l.contains(&u.id))
            .unwrap_or_else(|| panic!("{format}: no `registered` line: {logs}"));
        assert!(
            registered.contains("trace-register-1"),
            "{format}: the handler's line names the request: {registered}"
        );
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains(&id)).collect();
        assert!(!lines.is_empty(), "{format}: no line names {id}: {logs}");
        for line in lines {
            assert!(
                line.contains(&u.id) && line.contains("/api/tasks"),
                "{format}: the line names the user and the route: {line}"
            );
        }
    }
}
