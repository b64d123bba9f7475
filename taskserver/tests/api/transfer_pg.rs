//! Moving to PostgreSQL and back with the binary's tools, and its schema
//! migrations and connection errors.

use crate::binary::{Bin, command, dirs, path_str, run_in, tool, with_secret};
use crate::helpers::*;
use crate::transfer::{assert_moved, seed};
use std::path::Path;

/// The server binary on `database_url`.
fn on_database(cwd: &Path, database_url: &str) -> Bin {
    let mut cmd = with_secret(command(cwd, &cwd.join("unused-data-dir")));
    cmd.arg("--database-url").arg(database_url);
    Bin::start(cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_store_moves_a_sled_store_into_postgres_and_export_brings_it_back() {
    let database = test_database().await;
    let (cwd, sled_dir) = dirs();
    let bin = Bin::start(with_secret(command(cwd.path(), &sled_dir)));
    let seeded = seed(&bin.app()).await;
    bin.signal("TERM");
    assert!(bin.wait(30).success());

    let args = [
        "migrate-store",
        "--from-data-dir",
        path_str(&sled_dir),
        "--to-database-url",
        &database.url,
    ];
    let (ok, out) = tool(&args);
    assert!(ok, "{out}");
    assert!(
        out.contains("imported 2 users, 4 tasks, 2 API tokens; already there unchanged: 0 users"),
        "{out}"
    );
    let (ok, out) = tool(&args);
    assert!(ok, "{out}");
    assert!(
        out.contains("imported 0 users, 0 tasks, 0 API tokens; already there unchanged: 2 users, 4 tasks, 2 API tokens"),
        "a second run changes nothing: {out}"
    );

    let bin = on_database(cwd.path(), &database.url);
    assert_moved(&bin.app(), &seeded, 0).await;
    bin.signal("TERM");
    assert!(bin.wait(30).success());

    // And back: export from PostgreSQL, import into a new sled store.
    let file = cwd.path().join("from-postgres.jsonl");
    let (ok, out) = tool(&[
        "export",
        "--database-url",
        &database.url,
        "--out",
        path_str(&file),
    ]);
    assert!(ok, "{out}");
    // The move back also carries the tasks created after the first move.
    assert!(
        out.contains("exported 2 users, 6 tasks, 2 API tokens"),
        "{out}"
    );
    let back = cwd.path().join("back");
    let (ok, out) = tool(&[
        "import",
        "--data-dir",
        path_str(&back),
        "--in",
        path_str(&file),
    ]);
    assert!(ok, "{out}");
    let bin = Bin::start(with_secret(command(cwd.path(), &back)));
    assert_moved(&bin.app(), &seeded, 1).await;
}

#[test]
fn migrate_applies_the_schema_once_and_bad_urls_are_one_clear_sentence() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let database = runtime.block_on(test_database());
    let (ok, out) = tool(&["migrate", "--database-url", &database.url]);
    assert!(ok, "{out}");
    assert!(!out.contains(" 0 migration(s) applied"), "{out}");
    let (ok, out) = tool(&["migrate", "--database-url", &database.url]);
    assert!(ok, "{out}");
    assert!(
        out.contains(": 0 migration(s) applied, the schema is up to date"),
        "{out}"
    );
    assert!(
        !out.contains("postgres@"),
        "no user or password in reports: {out}"
    );

    let (cwd, data) = dirs();
    let refused = "postgres://postgres:hunter2@127.0.0.1:1/test";
    let mut cmd = command(cwd.path(), &data);
    cmd.arg("--database-url").arg(refused);
    let out = cmd.output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("cannot connect to PostgreSQL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let (ok, out) = tool(&["--database-url", "mysql://localhost/x"]);
    assert!(!ok);
    assert!(out.contains("starts with postgres://"), "{out}");
    drop(database);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_without_the_schema_is_refused_by_export_and_created_by_import() {
    let database = test_database().await;
    let (cwd, sled_dir) = dirs();
    let shown = database.url.replace("postgres@", "");
    let export = ["export", "--out", "b.jsonl", "--database-url", &database.url];

    // Twice: the first refusal created no schema for the second to find.
    for _ in 0..2 {
        let ran = run_in(cwd.path(), &export, &[]);
        assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
        let lines = ran.stderr_lines();
        assert_eq!(lines.len(), 1, "one sentence: {}", ran.stderr);
        assert!(
            lines[0].contains(&format!("the database {shown} holds no store"))
                && lines[0].contains("nothing was created"),
            "{}",
            ran.stderr
        );
        assert!(!cwd.path().join("b.jsonl").exists());
    }

    // An export of a sled store, imported: the schema is created, and said so.
    let bin = Bin::start(with_secret(command(cwd.path(), &sled_dir)));
    let seeded = seed(&bin.app()).await;
    bin.signal("TERM");
    assert!(bin.wait(30).success());
    let ran = run_in(
        cwd.path(),
        &["export", "--out", "b.jsonl", "--data-dir", path_str(&sled_dir)],
        &[],
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let import = ["import", "--in", "b.jsonl", "--database-url", &database.url];
    let ran = run_in(cwd.path(), &import, &[]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stdout.contains(&format!(
            "created the store's schema in the database {shown}"
        )),
        "{}",
        ran.stdout
    );
    let ran = run_in(cwd.path(), &import, &[]);
    assert!(!ran.stdout.contains("created"), "{}", ran.stdout);

    // The server says which database it opened, without the user.
    let bin = on_database(cwd.path(), &database.url);
    assert_moved(&bin.app(), &seeded, 0).await;
    let opened = format!("opened the store in the database {shown}");
    let logs = bin.output_with(&opened);
    assert!(logs.contains(&opened), "{logs}");
    assert!(!logs.contains("postgres@"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_says_when_it_created_the_schema() {
    let database = test_database().await;
    let (cwd, _) = dirs();
    let shown = database.url.replace("postgres@", "");
    let bin = on_database(cwd.path(), &database.url);
    let created = format!("created the store's schema in the database {shown}");
    let logs = bin.output_with(&created);
    assert!(logs.contains(&created), "{logs}");
    assert!(!cwd.path().join("unused-data-dir").exists(), "{logs}");
}
