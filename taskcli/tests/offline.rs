//! `taskcli` on the copy of the tasks on this machine: offline writes that
//! sync later, `~N` handles, reads that do not wait for the network, a
//! server that hangs, and the copy's life with the login.

mod common;

use common::{Env, LinkState, Run};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Reads sync only when the copy is older than this (the default, 5 min).
const FRESH: (&str, &str) = ("TASKCLI_SYNC_MAX_AGE", "300");

/// The copies of every user of the test's server.
fn copies(env: &Env) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(env.data_dir().join("replicas")) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    found.sort();
    found
}

fn numbers(run: &Run) -> Vec<serde_json::Value> {
    run.json()
        .as_array()
        .expect("an array")
        .iter()
        .map(|task| task["number"].clone())
        .collect()
}

#[test]
fn a_task_added_offline_has_a_handle_until_sync_numbers_it() {
    let env = Env::start_linked();
    env.register("offline@example.com");
    let first = env.run(&["add", "Book the dentist"]);
    first.ok();
    assert_eq!(first.stdout, "Added task 1: Book the dentist\n");
    assert_eq!(first.stderr, "", "synced at once: nothing to say");

    env.network(LinkState::Down);
    let added = env.run(&["add", "Buy oat milk", "+shop"]);
    added.ok();
    assert_eq!(
        added.stdout,
        "Added task ~1 (not synced yet): Buy oat milk\n"
    );
    assert_eq!(
        added.stderr,
        format!(
            "1 change waits to be synced: Could not reach the server at {}: the connection failed.\n",
            env.url
        ),
        "one line on stderr"
    );
    let listed = env.run(&["list"]);
    listed.ok();
    assert_eq!(
        listed.stdout,
        "1\tpending\tnone\t\t\t\t\tBook the dentist\n~1\tpending\tnone\t\tshop\t\t\tBuy oat milk\n"
    );
    assert!(
        listed
            .stderr
            .starts_with("note: Could not reach the server")
            && listed
                .stderr
                .contains("Showing the copy on this machine, synced "),
        "{listed:?}"
    );
    let json = env.run(&["list", "--json"]);
    json.ok();
    assert_eq!(
        numbers(&json),
        [serde_json::json!(1), serde_json::Value::Null]
    );
    let shown = env.run(&["show", "~1"]);
    shown.ok();
    assert!(
        shown
            .stdout
            .starts_with("Task ~1 (not synced yet): Buy oat milk\n"),
        "{shown:?}"
    );
    let edited = env.run(&["edit", "~1", "--add-tag", "home", "-p", "high"]);
    edited.ok();
    assert_eq!(edited.stdout, "Updated task ~1: Buy oat milk\n");
    assert!(edited.stderr.starts_with("2 changes wait to be synced: "));
    let status = env.run(&["auth", "status"]);
    assert!(
        status
            .stdout
            .contains("; 2 changes wait to be synced\nCopy:    "),
        "{status:?}"
    );
    let failed = env.run(&["sync"]);
    failed.fails(1);
    assert_eq!(
        failed.stderr,
        format!(
            "error: Could not reach the server at {}: the connection failed. 2 changes wait to be synced.\n",
            env.url
        )
    );
    assert_eq!(env.tasks().len(), 1, "nothing reached the server");

    env.network(LinkState::Up);
    let synced = env.run(&["sync"]);
    synced.ok();
    assert_eq!(
        synced.stdout,
        format!("Synced with {}: sent 2, received 1, dropped 0.\n", env.url)
    );
    assert_eq!(synced.stderr, "Task ~1 is now task 2.\n");
    let task = env.task(2);
    assert_eq!(task.title, "Buy oat milk");
    assert_eq!(task.tags.join(" "), "shop home");
    assert_eq!(task.priority.as_str(), "high");
    let shown = env.run(&["show", "2"]);
    assert!(shown.ok().stdout.starts_with("Task #2: Buy oat milk\n"));
    env.run(&["show", "~1"]).fails(4);
    let json = env.run(&["list", "--json"]);
    assert_eq!(
        numbers(json.ok()),
        [serde_json::json!(1), serde_json::json!(2)]
    );
}

#[test]
fn reads_of_a_fresh_copy_never_touch_the_network() {
    let env = Env::start_linked();
    env.register("fresh@example.com");
    env.run(&["add", "Water the plants"]).ok();
    env.run(&["add", "Call the bank", "-p", "high"]).ok();
    // A server that accepts and never answers: a fresh copy does not ask it.
    env.network(LinkState::Hanging);
    for args in [
        &["list"][..],
        &["show", "2"],
        &["projects"],
        &["list", "--all", "--json"],
    ] {
        let started = Instant::now();
        let run = env.run_env(args, &[FRESH]);
        run.ok();
        assert_eq!(run.stderr, "", "{args:?}: no sync, nothing to say");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{args:?} waited for the network"
        );
    }
    let listed = env.run_env(&["list"], &[FRESH]);
    assert_eq!(listed.stdout.lines().count(), 2, "{listed:?}");
}

#[test]
fn a_server_that_hangs_costs_a_command_its_budget_and_no_more() {
    let env = Env::start_linked();
    env.register("hang@example.com");
    env.run(&["add", "Before the train"]).ok();
    env.network(LinkState::Hanging);
    let started = Instant::now();
    let added = env.run(&["add", "On the train"]);
    let took = started.elapsed();
    added.ok();
    assert_eq!(
        added.stdout,
        "Added task ~1 (not synced yet): On the train\n"
    );
    assert_eq!(
        added.stderr,
        format!(
            "1 change waits to be synced: The server at {} did not answer within 2 s.\n",
            env.url
        )
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "the budget is 2 s: took {took:?}"
    );
    // A stale copy is read as it is once the budget is spent.
    let started = Instant::now();
    let listed = env.run(&["list"]);
    let took = started.elapsed();
    listed.ok();
    assert_eq!(listed.stdout.lines().count(), 2, "{listed:?}");
    assert!(
        listed.stderr.starts_with(&format!(
            "note: The server at {} did not answer within 2 s. Showing the copy on this machine",
            env.url
        )),
        "{listed:?}"
    );
    assert!(took < Duration::from_secs(6), "took {took:?}");
    env.network(LinkState::Up);
    env.run(&["sync"]).ok();
    let titles: Vec<String> = env.tasks().into_iter().map(|t| t.title).collect();
    assert_eq!(titles, ["Before the train", "On the train"]);
}

#[test]
fn an_edit_of_a_task_deleted_elsewhere_is_dropped_and_said() {
    let env = Env::start_linked();
    env.register("dropped@example.com");
    env.run(&["add", "Old plan"]).ok();
    env.network(LinkState::Down);
    env.run(&["edit", "1", "--title", "New plan"]).ok();
    // Meanwhile, on another device.
    let sdk = env.sdk();
    env.block_on(sdk.delete_task(taskcore::TaskRef::Number(1), None))
        .expect("deleted elsewhere");
    env.network(LinkState::Up);
    let synced = env.run(&["sync"]);
    synced.ok();
    assert_eq!(
        synced.stdout,
        format!("Synced with {}: sent 0, received 1, dropped 1.\n", env.url)
    );
    assert_eq!(
        synced.stderr,
        "warning: dropped the edit of task 1 (\"New plan\"): the task was deleted elsewhere.\n"
    );
    env.run(&["show", "1"]).fails(4);
    assert!(env.tasks().is_empty());

    // Found by the sync of another command, it is that command's to say.
    env.run(&["add", "Second plan"]).ok();
    env.network(LinkState::Down);
    env.run(&["edit", "2", "-p", "high"]).ok();
    env.block_on(sdk.delete_task(taskcore::TaskRef::Number(2), None))
        .expect("deleted elsewhere");
    env.network(LinkState::Up);
    let added = env.run(&["add", "Third plan"]);
    added.ok();
    assert_eq!(added.stdout, "Added task 3: Third plan\n");
    assert_eq!(
        added.stderr,
        "warning: dropped the edit of task 2 (\"Second plan\"): the task was deleted elsewhere.\n"
    );
}

#[test]
fn the_online_ways_keep_no_copy() {
    let env = Env::start_linked();
    env.register("online@example.com");
    let token = env.token();
    env.run(&["--no-replica", "add", "By flag"]).ok();
    env.run_env(&["add", "By variable"], &[("TASKCLI_REPLICA", "0")])
        .ok();
    env.run_env(&["add", "By token"], &[("TASKCLI_TOKEN", &token)])
        .ok();
    assert_eq!(copies(&env), Vec::<PathBuf>::new(), "no copy was made");
    let handle = env.run(&["--no-replica", "show", "~1"]);
    handle.fails(2);
    assert!(
        handle.stderr.contains("names a task added offline"),
        "{handle:?}"
    );
    env.run(&["--no-replica", "sync"]).fails(2);

    env.network(LinkState::Down);
    for run in [
        env.run(&["--no-replica", "list"]),
        env.run_env(&["list"], &[("TASKCLI_REPLICA", "0")]),
        env.run_env(&["list"], &[("TASKCLI_TOKEN", &token)]),
    ] {
        run.fails(1);
        assert!(run.stderr.contains("Could not reach the server"), "{run:?}");
    }
    env.network(LinkState::Up);
    let listed = env.run(&["list"]);
    assert_eq!(listed.ok().stdout.lines().count(), 3, "{listed:?}");
    assert_eq!(copies(&env).len(), 1, "the default keeps a copy");
}

#[test]
fn logout_sends_what_waits_then_deletes_the_copy() {
    let env = Env::start_linked();
    env.register("leaving@example.com");
    env.network(LinkState::Down);
    env.run(&["add", "Written on the train"]).ok();
    env.network(LinkState::Up);
    let copy = copies(&env);
    assert_eq!(copy.len(), 1);
    let out = env.run(&["auth", "logout"]);
    out.ok();
    assert_eq!(
        out.stdout,
        format!(
            "Logged out of {}; the stored tokens and the copy of your tasks on this machine were deleted.\n",
            env.url
        )
    );
    assert_eq!(out.stderr, "", "nothing was lost");
    assert!(!copy[0].exists(), "the copy is gone");
    env.log_in("leaving@example.com", false).ok();
    let titles: Vec<String> = env.tasks().into_iter().map(|t| t.title).collect();
    assert_eq!(titles, ["Written on the train"], "sent before the logout");
}

#[test]
fn logout_offline_says_what_is_lost() {
    let env = Env::start_linked();
    env.register("lost@example.com");
    env.network(LinkState::Down);
    env.run(&["add", "Never sent"]).ok();
    let copy = copies(&env);
    let out = env.run(&["auth", "logout"]);
    out.fails(1); // the session could not be revoked on the server
    assert!(
        out.stderr
            .contains("warning: 1 change made on this machine could not be synced and was lost by logging out.\n"),
        "{out:?}"
    );
    assert!(!copy[0].exists(), "the copy is gone");
}

#[test]
fn the_copy_of_another_user_is_never_read() {
    let env = Env::start();
    env.register("ada@example.com");
    env.run(&["add", "Ada's secret"]).ok();
    env.register("bob@example.com");
    let listed = env.run(&["list", "--all"]);
    listed.ok();
    assert_eq!(listed.stdout, "No tasks.\n", "{listed:?}");
    env.run(&["show", "1"]).fails(4);
    assert_eq!(copies(&env).len(), 2, "one copy per user");
}

#[test]
fn a_damaged_copy_is_moved_aside_and_filled_again() {
    let env = Env::start();
    env.register("damaged@example.com");
    env.run(&["add", "Survives"]).ok();
    let copy = copies(&env).pop().expect("a copy");
    for entry in std::fs::read_dir(&copy)
        .expect("the copy's files")
        .flatten()
    {
        if entry.path().is_file() {
            std::fs::write(entry.path(), b"not a database at all").expect("damaged");
        }
    }
    let listed = env.run(&["list"]);
    listed.ok();
    assert_eq!(listed.stdout, "1\tpending\tnone\t\t\t\t\tSurvives\n");
    assert!(
        listed.stderr.starts_with("note: The replica in ")
            && listed.stderr.contains(" cannot be read: ")
            && listed.stderr.contains("It was moved to ")
            && listed
                .stderr
                .ends_with(" and a new copy will be filled from the server; any changes it held that were not synced yet are lost.\n"),
        "{listed:?}"
    );
    let names: Vec<String> = std::fs::read_dir(env.data_dir().join("replicas"))
        .expect("replicas")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.iter().any(|n| n.contains(".unreadable-")),
        "{names:?}"
    );
    let again = env.run(&["list"]);
    assert_eq!(again.ok().stderr, "", "the new copy reads");
}

#[test]
fn two_processes_at_once_lose_no_change() {
    let env = Env::start_linked();
    env.register("busy@example.com");
    env.network(LinkState::Down);
    let children: Vec<_> = (0..6)
        .map(|i| {
            env.command(&["add", &format!("Parallel {i}")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("taskcli starts")
        })
        .collect();
    for child in children {
        let run = Run::from(child.wait_with_output().expect("taskcli ends"));
        run.ok();
    }
    let status = env.run(&["auth", "status", "--json"]).json();
    assert_eq!(status["local_copy"]["queued"], 6, "{status}");
    env.network(LinkState::Up);
    env.run(&["sync"]).ok();
    let mut titles: Vec<String> = env.tasks().into_iter().map(|t| t.title).collect();
    titles.sort();
    let expected: Vec<String> = (0..6).map(|i| format!("Parallel {i}")).collect();
    assert_eq!(titles, expected);
}

#[test]
fn a_recurring_task_completed_offline_gets_its_successor_at_the_sync() {
    let env = Env::start_linked();
    env.register("weekly@example.com");
    env.run(&[
        "add",
        "Water plants",
        "--due",
        "monday",
        "--recur",
        "weekly",
    ])
    .ok();
    env.network(LinkState::Down);
    let done = env.run(&["done", "1"]);
    done.ok();
    assert_eq!(
        done.stdout,
        "Completed task 1: Water plants; the next one is made when this is synced\n"
    );
    env.network(LinkState::Up);
    env.run(&["sync"]).ok();
    let listed = env.run(&["list", "--all", "--json"]);
    let tasks = listed.ok().json();
    let tasks = tasks.as_array().expect("an array");
    assert_eq!(tasks.len(), 2, "one successor: {tasks:?}");
    assert_eq!(tasks[1]["number"], 2);
    assert_eq!(tasks[1]["completed"], false);
    assert_eq!(tasks[1]["series"], tasks[0]["id"]);
    // Online, done names the successor that its own sync brought.
    let done = env.run(&["done", "2"]);
    assert!(
        done.ok()
            .stdout
            .starts_with("Completed task 2: Water plants; next: task 3, due "),
        "{done:?}"
    );
}

#[test]
fn a_login_stored_by_the_release_before_learns_its_user_at_the_first_command() {
    let env = Env::start_linked();
    env.register("older@example.com");
    // What the release before wrote: the same login without the user.
    let path = env.config_dir().join("credentials.json");
    let mut stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("credentials")).expect("JSON");
    let login = stored["servers"][env.url.as_str()]
        .as_object_mut()
        .expect("this server's login");
    assert!(login.remove("user").is_some(), "{login:?}");
    std::fs::write(&path, stored.to_string()).expect("rewritten");

    // Offline, the user cannot be learnt: the command works online, and says so.
    env.network(LinkState::Down);
    let offline = env.run(&["add", "Not yet"]);
    offline.fails(1);
    assert!(
        offline.stderr.contains("Could not reach the server"),
        "{offline:?}"
    );
    assert!(copies(&env).is_empty(), "no copy for an unknown user");

    env.network(LinkState::Up);
    env.run(&["add", "Now"]).ok();
    assert_eq!(
        copies(&env).len(),
        1,
        "the copy of the user the server named"
    );
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("credentials")).expect("JSON");
    assert!(
        stored["servers"][env.url.as_str()]["user"].is_string(),
        "the user is kept with the login: {stored}"
    );
    env.network(LinkState::Down);
    let listed = env.run_env(&["list"], &[FRESH]);
    assert_eq!(listed.ok().stdout, "1\tpending\tnone\t\t\t\t\tNow\n");
}
