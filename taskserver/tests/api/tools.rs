//! The binary's tools and a mistyped data directory: a tool that reads a
//! store refuses a path that holds none, names it absolutely, and creates
//! nothing; `import` creates its target and says so.

use crate::binary::{Bin, Ran, command, dirs, path_str, run_in, with_secret};
use crate::transfer::{assert_moved, seed};
use std::path::{Path, PathBuf};

/// `name` under `cwd` as the binary resolves it (the working directory's real path).
fn absolute_in(cwd: &Path, name: &str) -> PathBuf {
    cwd.canonicalize().expect("cwd").join(name)
}

/// A refusal: exit 1, nothing on stdout, one line on stderr naming `path`.
#[track_caller]
fn assert_refused(ran: &Ran, path: &Path, why: &str) {
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.is_empty(), "stdout: {}", ran.stdout);
    let lines = ran.stderr_lines();
    assert_eq!(lines.len(), 1, "one sentence: {}", ran.stderr);
    let line = lines[0];
    assert!(
        line.contains(&format!("there is no store at {}: {why}", path.display())),
        "{line}"
    );
    assert!(line.contains("nothing was created"), "{line}");
}

#[test]
fn export_from_a_mistyped_data_dir_is_refused_and_creates_nothing() {
    let (cwd, _) = dirs();
    let ran = run_in(
        cwd.path(),
        &["export", "--out", "b.jsonl", "--data-dir", "./dtaa-typo"],
        &[],
    );
    assert_refused(
        &ran,
        &absolute_in(cwd.path(), "dtaa-typo"),
        "no such directory",
    );
    assert!(!cwd.path().join("dtaa-typo").exists(), "no store was made");
    assert!(!cwd.path().join("b.jsonl").exists(), "no backup was written");

    // The same from the environment, and for a directory that is there but empty.
    std::fs::create_dir(cwd.path().join("empty")).expect("mkdir");
    let ran = run_in(
        cwd.path(),
        &["export", "--out", "b.jsonl"],
        &[("TASKSERVER_DATA_DIR", "empty")],
    );
    assert_refused(
        &ran,
        &absolute_in(cwd.path(), "empty"),
        "the directory is empty",
    );
    let left = std::fs::read_dir(cwd.path().join("empty"))
        .expect("still there")
        .count();
    assert_eq!(left, 0, "nothing was written into the empty directory");
    assert!(!cwd.path().join("b.jsonl").exists());
}

#[test]
fn migrate_store_from_a_mistyped_data_dir_is_refused_and_creates_nothing() {
    let (cwd, _) = dirs();
    // Refused before the database is reached: this one does not answer.
    let ran = run_in(
        cwd.path(),
        &[
            "migrate-store",
            "--from-data-dir",
            "taskserver-dtaa",
            "--to-database-url",
            "postgres://postgres@127.0.0.1:1/tasks",
        ],
        &[],
    );
    assert_refused(
        &ran,
        &absolute_in(cwd.path(), "taskserver-dtaa"),
        "no such directory",
    );
    assert!(!cwd.path().join("taskserver-dtaa").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_into_a_new_directory_says_it_created_the_store_which_then_serves() {
    let (cwd, from) = dirs();
    let bin = Bin::start(with_secret(command(cwd.path(), &from)));
    let seeded = seed(&bin.app()).await;
    bin.signal("TERM");
    assert!(bin.wait(30).success());
    let export = ["export", "--out", "b.jsonl", "--data-dir", path_str(&from)];
    let ran = run_in(cwd.path(), &export, &[]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stdout.contains(&format!(
            "exported 2 users, 4 tasks, 2 API tokens from {} to b.jsonl",
            from.display()
        )),
        "the export names its source: {}",
        ran.stdout
    );

    let import = ["import", "--in", "b.jsonl", "--data-dir", "restored"];
    let ran = run_in(cwd.path(), &import, &[]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let restored = absolute_in(cwd.path(), "restored");
    assert!(
        ran.stdout.contains(&format!(
            "created a new store at {}",
            restored.display()
        )),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("imported 2 users, 4 tasks, 2 API tokens"),
        "{}",
        ran.stdout
    );
    // Into the store that is now there: nothing to say about creating it.
    let ran = run_in(cwd.path(), &import, &[]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(!ran.stdout.contains("created"), "{}", ran.stdout);

    let bin = Bin::start(with_secret(command(cwd.path(), &restored)));
    assert_moved(&bin.app(), &seeded, 0).await;
}
