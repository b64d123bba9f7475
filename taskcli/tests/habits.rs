//! Taskwarrior habits and the messages around them: the built `taskcli`
//! binary against a real server started in-process on port 0, with a
//! temporary HOME and XDG directories.

mod common;

use common::{Env, Run};
use serde_json::Value;
use std::process::Stdio;
use taskcore::Task;

fn titles_and_tags(tasks: &[Task]) -> Vec<(String, Vec<String>)> {
    tasks
        .iter()
        .map(|t| (t.title.clone(), t.tags.clone()))
        .collect()
}

#[test]
fn plus_words_in_add_are_tags_and_words_after_double_dash_are_literal() {
    let env = Env::start();
    env.register("tags@example.com");
    let added = env
        .run(&["add", "Buy", "bread", "+home"])
        .ok()
        .stdout
        .clone();
    assert_eq!(added, "Added task 1: Buy bread\n");
    env.run(&["add", "--", "Email", "+1", "to", "Bob"]).ok();
    env.run(&["add", "Buy", "+shop", "-t", "x", "--", "C++", "+y", "pri:H"])
        .ok();
    // A lone `+` is no tag; neither is a word with a colon Taskwarrior does not know.
    env.run(&["add", "Call", "+", "at", "10:30"]).ok();
    assert_eq!(
        titles_and_tags(&env.tasks()),
        [
            ("Buy bread".into(), vec!["home".into()]),
            ("Email +1 to Bob".into(), vec![]),
            ("Buy C++ +y pri:H".into(), vec!["x".into(), "shop".into()]),
            ("Call + at 10:30".into(), vec![]),
        ]
    );
    // Only tags: no title, nothing created.
    env.run(&["add", "+home"]).fails_with(
        2,
        "The title is empty: give words besides `+tag` and `name:value`, e.g. `taskcli add Buy bread +home`.",
    );
    assert_eq!(env.tasks().len(), 4);
}

#[test]
fn list_plus_tag_filters_by_the_tag() {
    let env = Env::start();
    env.register("filters@example.com");
    env.run(&["add", "Buy", "bread", "+home"]).ok();
    env.run(&["add", "Write", "report", "+work"]).ok();
    env.run(&["add", "Fix", "sink", "+home", "pri:H"]).ok();
    let numbers = |args: &[&str]| -> Vec<u64> {
        env.run(args)
            .ok()
            .json()
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|t| t["number"].as_u64())
            .collect()
    };
    assert_eq!(numbers(&["list", "+home", "--json"]), [1, 3]);
    assert_eq!(
        numbers(&["list", "+home", "--json"]),
        numbers(&["list", "--tag", "home", "--json"])
    );
    assert_eq!(numbers(&["list", "+home", "priority:H", "--json"]), [3]);
    env.run(&["list", "+home", "+work"]).fails_with(
        2,
        "`list` filters by one tag at a time; give one `+tag` or `--tag`.",
    );
    env.run(&["list", "milk"]).fails_with(
        2,
        "`milk` is not a filter; to find it in titles and descriptions, run `taskcli list --search milk`.",
    );
}

#[test]
fn ids_before_the_command_work_as_in_taskwarrior() {
    let env = Env::start();
    env.register("ids@example.com");
    for title in ["one", "two", "three", "four"] {
        env.run(&["add", title]).ok();
    }
    assert_eq!(
        env.run(&["1", "done"]).ok().stdout,
        "Completed task 1: one\n"
    );
    assert_eq!(
        env.run(&["2", "#3", "done"]).ok().stdout,
        "Completed task 2: two\nCompleted task 3: three\n"
    );
    assert_eq!(
        env.run(&["--json", "3", "undone"]).ok().json()[0]["completed"],
        false
    );
    assert_eq!(
        env.run(&["4", "show", "--json"]).ok().json(),
        env.run(&["show", "4", "--json"]).ok().json()
    );
    // A lone id shows the task; Taskwarrior's `info` and `modify` are taken too.
    let shown = env.run(&["4"]).ok().stdout.clone();
    assert!(shown.starts_with("Task #4: four\n"), "{shown}");
    assert_eq!(env.run(&["4", "info"]).ok().stdout, shown);
    let edited = env
        .run(&["4", "modify", "+home", "pri:M", "due:2030-01-02", "--json"])
        .ok()
        .json();
    assert_eq!(edited["tags"], serde_json::json!(["home"]));
    assert_eq!(edited["priority"], "medium");
    assert!(
        edited["due"]
            .as_str()
            .is_some_and(|d| d.starts_with("2030-01-0"))
    );
    assert_eq!(
        env.run(&["edit", "4", "due:", "--json"]).ok().json()["due"],
        Value::Null
    );
    env.run(&["4", "rm", "--yes"]).ok();
    let state: Vec<(u64, bool)> = env
        .tasks()
        .iter()
        .map(|t| (t.number, t.completed))
        .collect();
    assert_eq!(state, [(1, true), (2, true), (3, false)]);
    // Words in `edit` that are not changes: the title needs --title.
    env.run(&["1", "modify", "New", "title"]).fails_with(
        2,
        "To change the title, run `taskcli modify 1 --title 'New title'`.",
    );
    assert_eq!(env.task(1).title, "one");
}

#[test]
fn due_and_priority_words_are_the_flags() {
    let env = Env::start();
    env.register("attributes@example.com");
    let by_words = env
        .run(&["add", "Pay", "rent", "due:tomorrow", "priority:H", "--json"])
        .ok()
        .json();
    let by_flags = env
        .run(&[
            "add", "Pay", "rent", "--due", "tomorrow", "-p", "high", "--json",
        ])
        .ok()
        .json();
    assert_eq!(by_words["title"], "Pay rent");
    assert_eq!(by_words["due"], by_flags["due"]);
    assert_eq!(by_words["priority"], "high");
    assert_eq!(
        env.run(&["add", "x", "pri:l", "--json"]).ok().json()["priority"],
        "low"
    );
    env.run(&["add", "x", "pri:urgent"]).fails_with(
        2,
        "`urgent` is not a priority: use H, M, L (or high, medium, low, none).",
    );
    env.run(&["add", "x", "--due", "today", "due:tomorrow"])
        .fails_with(2, "The due date is given twice; give it once.");
    let bad = env.run(&["add", "x", "due:someday"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.starts_with("error: In `due:someday`: "),
        "{bad:?}"
    );
    env.run(&["add", "x", "wait:monday"]).fails_with(
        2,
        "taskcli has no `wait:` attribute; to keep `wait:monday` in the title, write the title after `--` (`taskcli add -- TITLE...`).",
    );
    env.run(&["add", "x", "recur:weekly"]).fails_with(
        2,
        "A recurring task needs a due date, the first date of its series: add --due WHEN (e.g. --due monday).",
    );
    assert_eq!(env.tasks().len(), 3, "nothing created by the refusals");
}

#[test]
fn project_and_recur_words_are_the_flags() {
    let env = Env::start();
    env.register("projects@example.com");
    let task = env
        .run(&[
            "add",
            "Water",
            "plants",
            "project:Home.Garden",
            "recur:weekly",
            "due:2026-12-07",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(task["title"], "Water plants");
    assert_eq!(task["project"], "Home.Garden");
    assert_eq!(task["recur"], "FREQ=WEEKLY");
    assert_eq!(task["series"], task["id"]);
    env.run(&["add", "Buy", "bread"]).ok();
    // `project:` alone lists the tasks without one.
    let listed = |filter: &str| -> Vec<String> {
        env.run(&["list", filter, "--json"])
            .ok()
            .json()
            .as_array()
            .expect("an array")
            .iter()
            .map(|t| t["title"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(listed("project:Home"), ["Water plants"]);
    assert_eq!(listed("project:"), ["Buy bread"]);
    env.run(&["list", "project:Homework"]).ok();
    assert_eq!(
        env.run(&["list", "project:Homework"]).stdout,
        "No pending tasks match project \"Homework\".\n"
    );
    // `project:` and `recur:` alone clear them.
    env.run(&["1", "modify", "project:", "recur:"]).ok();
    let cleared = env.task(1);
    assert_eq!((cleared.project, cleared.recur), (None, None));
    // Mistakes are usage errors, before any request.
    env.run(&["add", "x", "project:Home..x"]).fails(2);
    env.run(&["add", "x", "due:today", "recur:fortnightly"])
        .fails_with(
            2,
            "Did not understand the rule `fortnightly`; write daily, weekly, monthly, yearly, weekdays, every N days|weeks|months|years, every monday (or several: every mon,thu), or an RRULE such as FREQ=WEEKLY;BYDAY=MO.",
        );
    env.run(&["add", "x", "--project", "A", "project:B"])
        .fails_with(2, "The project is given twice; give it once.");
    assert_eq!(env.tasks().len(), 2, "nothing created by the refusals");
}

#[test]
fn done_and_undone_say_what_was_already_so() {
    let env = Env::start();
    env.register("done@example.com");
    env.run(&["add", "Water", "plants"]).ok();
    env.run(&["add", "Feed", "cat"]).ok();
    assert_eq!(
        env.run(&["done", "1"]).ok().stdout,
        "Completed task 1: Water plants\n"
    );
    let version = env.task(1).version;
    assert_eq!(
        env.run(&["done", "1", "2"]).ok().stdout,
        "Task 1 was already completed.\nCompleted task 2: Feed cat\n"
    );
    assert_eq!(env.task(1).version, version, "nothing written");
    assert_eq!(
        env.run(&["undone", "1"]).ok().stdout,
        "Reopened task 1: Water plants\n"
    );
    assert_eq!(
        env.run(&["undone", "1"]).ok().stdout,
        "Task 1 was already pending.\n"
    );
    // --json: the tasks as they are, changed or not.
    let listed = env.run(&["undone", "1", "2", "--json"]).ok().json();
    assert_eq!(listed[0]["completed"], false);
    assert_eq!(listed[1]["completed"], false);
}

#[test]
fn rm_says_which_task_it_deleted_and_json_prints_the_tasks() {
    let env = Env::start();
    env.register("rm@example.com");
    env.run(&["add", "Due", "test", "+0d"]).ok();
    env.run(&["add", "Second"]).ok();
    env.run(&["add", "Third"]).ok();
    assert_eq!(
        env.run(&["rm", "1", "--yes"]).ok().stdout,
        "Deleted task 1: Due test +0d\n"
    );
    let before = serde_json::to_value(vec![env.task(2), env.task(3)]).expect("json");
    let deleted = env.run(&["--json", "rm", "2", "#3", "--yes"]).ok().json();
    assert_eq!(deleted, before, "the API's tasks as they were");
    assert!(env.tasks().is_empty());
    let missing = env.run(&["--json", "rm", "9", "--yes"]);
    assert_eq!(missing.code, 4, "{missing:?}");
    assert_eq!(missing.json(), serde_json::json!([]));
    assert_eq!(missing.stderr, "error: Task #9 not found.\n");
}

#[test]
fn register_checks_the_password_before_any_request() {
    let env = Env::start();
    env.run_with_stdin(
        &[
            "auth",
            "register",
            "--email",
            "short@example.com",
            "--password-stdin",
            "--insecure-storage",
        ],
        "short\n",
    )
    .fails_with(2, "The password must be at least 8 characters.");
    // Nobody was registered: the same email registers now.
    env.register("short@example.com");
}

#[test]
fn api_tokens_are_revoked_by_a_unique_name() {
    let env = Env::start();
    env.register("names@example.com");
    let create = |name: &str| -> String {
        env.run(&["auth", "api-token", "create", name, "--json"])
            .ok()
            .json()["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    let nightly = create("nightly");
    let ci_1 = create("ci");
    let ci_2 = create("ci");
    assert_eq!(
        env.run(&["auth", "api-token", "revoke", "nightly"])
            .ok()
            .stdout,
        format!("Revoked API token \"nightly\" ({nightly}).\n")
    );
    env.run(&["auth", "api-token", "revoke", "nightly"])
        .fails_with(
            4,
            "No API token is named \"nightly\"; `taskcli auth api-token list` shows them.",
        );
    env.run(&["auth", "api-token", "revoke", "ci"]).fails_with(
        2,
        &format!(
            "2 API tokens are named \"ci\" ({ci_1}, {ci_2}); revoke one by its id: `taskcli auth api-token revoke ID`."
        ),
    );
    // Piped, the list is one tab-separated line per token, no header.
    let listed = env.run(&["auth", "api-token", "list"]).ok().stdout.clone();
    let ids: Vec<&str> = listed
        .lines()
        .map(|line| line.split('\t').next().unwrap_or_default())
        .collect();
    assert_eq!(ids, [ci_1.as_str(), ci_2.as_str()], "{listed}");
    assert!(
        listed.lines().all(|l| l.split('\t').count() == 4),
        "{listed}"
    );
    env.run(&["auth", "api-token", "revoke", &ci_1]).ok();
    env.run(&["auth", "api-token", "revoke", "ci"]).ok();
    assert_eq!(
        env.run(&["auth", "api-token", "list"]).ok().stdout,
        "No API tokens.\n"
    );
}

#[test]
fn a_login_as_another_account_says_whose_login_it_replaced() {
    let env = Env::start();
    env.register("alice@example.com");
    let bob = env.log_in("bob@example.com", true);
    bob.ok();
    assert_eq!(
        bob.stderr,
        "Replaced the stored login of alice@example.com.\n"
    );
    // The same account again replaces nothing worth saying.
    let again = env.log_in("bob@example.com", false);
    again.ok();
    assert_eq!(again.stderr, "");
    let status = env.run(&["auth", "status", "--json"]).ok().json();
    assert_eq!(status["user"]["email"], "bob@example.com");
    assert_eq!(status["server_reachable"], true);
}

#[test]
fn auth_status_with_the_server_down_shows_what_is_stored() {
    let mut env = Env::start();
    env.register("offline@example.com");
    let online = env.run(&["auth", "status", "--json"]).ok().json();
    env.stop_server();

    let run = env.run(&["auth", "status"]);
    assert_eq!(run.code, 1, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{run:?}");
    assert_eq!(lines[0], format!("Server:  {} (did not answer)", env.url));
    assert_eq!(lines[1], "User:    offline@example.com");
    assert!(
        lines[2].starts_with("Tokens:  kept in the file ") && lines[2].contains("credentials.json"),
        "{run:?}"
    );
    assert!(
        lines[3].starts_with("Expires: ") && lines[3].ends_with("; refreshed automatically"),
        "{run:?}"
    );
    // The copy on this machine has not synced yet: no command has read it.
    assert_eq!(lines[4], "Synced:  never; nothing waits to be synced");
    assert!(lines[5].starts_with("Copy:    "), "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "error: The server at {} did not answer; the details above are what taskcli knows without it.\n",
            env.url
        )
    );

    let run = env.run(&["auth", "status", "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let offline = run.json();
    assert_eq!(offline["server_reachable"], false);
    assert_eq!(
        offline["user"],
        serde_json::json!({"email": "offline@example.com"})
    );
    for field in [
        "server",
        "storage",
        "storage_description",
        "access_token_expires_at",
        "local_copy",
    ] {
        assert_eq!(offline[field], online[field], "{field}");
    }
    assert_eq!(offline["local_copy"]["queued"], 0);

    // With TASKCLI_TOKEN nothing is stored: the user is unknown.
    let run = Run::from(
        env.command(&["auth", "status", "--json"])
            .env("TASKCLI_TOKEN", "tsk_whatever")
            .output()
            .expect("runs"),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let offline = run.json();
    assert_eq!(offline["user"], Value::Null);
    assert_eq!(offline["storage"], "TASKCLI_TOKEN");
    assert_eq!(offline["server_reachable"], false);
}

#[test]
fn completions_for_elvish_and_a_closed_pipe_is_no_error() {
    let env = Env::start();
    let script = env.run(&["completions", "elvish"]).ok().stdout.clone();
    assert!(
        script.contains("edit:completion:arg-completer[taskcli]"),
        "{script}"
    );
    // `taskcli completions bash | head -1`: the reader goes away early.
    let mut child = env
        .command(&["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let run = Run::from(child.wait_with_output().expect("ends"));
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
}
