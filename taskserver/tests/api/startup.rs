//! What the binary says when it starts, and what it refuses to start with:
//! where its store is and whether it was created now, where the JWT secret
//! came from, a taken port before anything is created, duration flags
//! without a unit or out of bounds, `--help`, and logs without colour codes
//! in a file.

use crate::binary::{Bin, command, dirs, run_in, wait_for};
use crate::helpers::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn a_taken_port_fails_before_anything_is_created() {
    let (cwd, _) = dirs();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let ran = run_in(cwd.path(), &["--listen", &addr], &[]);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(!ran.stdout.contains("listening on"), "{}", ran.stdout);
    let lines = ran.stderr_lines();
    assert_eq!(lines.len(), 1, "one sentence: {}", ran.stderr);
    assert!(
        lines[0].starts_with("taskserver: ")
            && lines[0].contains(&addr)
            && lines[0].contains("in use"),
        "{}",
        ran.stderr
    );
    assert!(
        !cwd.path().join("taskserver-data").exists(),
        "the default data directory was created although the server never served"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_says_where_the_store_is_and_what_was_created_now() {
    let (cwd, _) = dirs();
    // Started as a user does, with the default (relative) data directory.
    let relative = Path::new("taskserver-data");
    let store = cwd
        .path()
        .canonicalize()
        .expect("cwd")
        .join("taskserver-data");

    let bin = Bin::start(command(cwd.path(), relative));
    let app = bin.app();
    let u = app.register().await;
    let first = bin.output();
    bin.signal("TERM");
    assert!(bin.wait(30).success());
    assert!(
        first.contains(&format!("created a new store at {}", store.display())),
        "{first}"
    );
    assert!(
        first.contains("JWT secret: generated now and kept in the store"),
        "{first}"
    );

    let bin = Bin::start(command(cwd.path(), relative));
    bin.app().get(&u, "/api/auth/me").await.expect(200);
    let second = bin.output();
    assert!(
        second.contains(&format!("opened the store at {}", store.display())),
        "{second}"
    );
    assert!(second.contains("JWT secret: read from the store"), "{second}");
    assert!(
        !second.contains("created a new") && !second.contains("generated"),
        "{second}"
    );
    drop(bin);

    let mut cmd = command(cwd.path(), relative);
    cmd.env("TASKSERVER_JWT_SECRET", SECRET);
    let bin = Bin::start(cmd);
    let third = bin.output();
    assert!(
        third.contains("JWT secret: given by --jwt-secret or TASKSERVER_JWT_SECRET"),
        "{third}"
    );
    assert!(!third.contains(SECRET), "the secret itself is never logged");
}

/// A value a duration flag must refuse, and what its sentence must say.
type Refused = (&'static str, &'static str);

/// Each duration flag, its variable, and values it must refuse.
const REFUSED_DURATIONS: &[(&str, &str, &[Refused])] = &[
    (
        "--token-ttl",
        "TASKSERVER_TOKEN_TTL",
        &[
            ("5", "has no unit"),
            ("1y", "15m"),
            ("25h", "at most 24h"),
            ("0s", "at least 1s"),
        ],
    ),
    (
        "--refresh-ttl",
        "TASKSERVER_REFRESH_TTL",
        &[
            ("30", "has no unit"),
            ("1y", "15m"),
            ("91d", "at most 90d"),
            ("0s", "at least 1s"),
        ],
    ),
    (
        "--refresh-reuse-grace",
        "TASKSERVER_REFRESH_REUSE_GRACE",
        &[
            ("10", "has no unit"),
            ("1y", "15m"),
            ("6m", "at most 5m"),
        ],
    ),
    (
        "--storage-timeout",
        "TASKSERVER_STORAGE_TIMEOUT",
        &[
            ("10", "has no unit"),
            ("1y", "15m"),
            ("0s", "at least 10ms"),
        ],
    ),
];

#[test]
fn duration_flags_need_a_unit_and_stay_within_bounds() {
    let (cwd, _) = dirs();
    for (flag, env, values) in REFUSED_DURATIONS {
        for (value, says) in *values {
            let from_flag = run_in(cwd.path(), &["--listen", "127.0.0.1:0", flag, value], &[]);
            let from_env = run_in(cwd.path(), &["--listen", "127.0.0.1:0"], &[(env, value)]);
            for (source, ran) in [("flag", from_flag), ("env", from_env)] {
                let context = format!("{flag} {value} from the {source}: {}", ran.stderr);
                assert_eq!(ran.code, Some(2), "a usage error: {context}");
                assert!(!ran.stdout.contains("listening on"), "{context}");
                assert!(ran.stderr.contains(flag), "names the flag: {context}");
                assert!(ran.stderr.contains(says), "{context}");
                let lines = ran.stderr_lines();
                let sentence = lines.first().copied().unwrap_or_default();
                assert!(
                    lines.len() == 1 || sentence.starts_with("error: invalid value"),
                    "one sentence (or clap's own error for a value it cannot parse): {context}"
                );
            }
        }
    }
    assert!(
        !cwd.path().join("taskserver-data").exists(),
        "nothing is created on a refused start"
    );
    // The tools check the same flags.
    let ran = run_in(
        cwd.path(),
        &["export", "--out", "b.jsonl", "--storage-timeout", "0s"],
        &[],
    );
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("at least 10ms"), "{}", ran.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_durations_with_a_unit_are_accepted() {
    let (cwd, data) = dirs();
    let mut cmd = command(cwd.path(), &data);
    cmd.args(["--token-ttl", "2s", "--refresh-ttl", "2s"])
        .args(["--refresh-reuse-grace", "2s", "--storage-timeout", "2s"]);
    let bin = Bin::start(cmd);
    let session = bin
        .app()
        .register_as(&unique_email(), PASSWORD)
        .await
        .expect(201)
        .json();
    assert_eq!(session["expires_in"], 2, "{session}");
}

#[test]
fn help_opens_with_what_the_binary_is() {
    let (cwd, _) = dirs();
    let ran = run_in(cwd.path(), &["--help"], &[]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let first = ran.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("taskserver: a multi-user task server"),
        "{first}"
    );
    assert!(!ran.stdout.contains("Warp filters"), "{}", ran.stdout);
}

#[test]
fn logs_written_to_a_file_carry_no_colour_codes() {
    let (cwd, data) = dirs();
    let log = cwd.path().join("server.log");
    let mut cmd: Command = command(cwd.path(), &data);
    cmd.env_remove("NO_COLOR")
        .env("RUST_LOG", "debug")
        .stderr(Stdio::from(std::fs::File::create(&log).expect("log file")));
    let mut child = cmd.spawn().expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let listening = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("listening on "));
    assert!(listening, "the server started");
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    assert!(wait_for(&mut child, 30).success());
    let text = std::fs::read_to_string(&log).expect("the log");
    assert!(text.lines().count() > 2, "the server logged: {text}");
    assert!(text.contains("listening"), "{text}");
    assert!(
        !text.contains("\x1b["),
        "no colour codes in a log file: {text}"
    );
}
