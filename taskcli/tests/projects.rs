//! Projects and recurrence from the command line: `--project`, `--recur`,
//! `list --project`, `--sort project`, `taskcli projects`, and `done` on a
//! recurring task, against a real server started in-process. (Tables on a
//! terminal are in `tables.rs`.)

mod common;

use common::{Env, Run};

/// What a rule `taskcli` does not understand is answered with.
const FORMS: &str = "write daily, weekly, monthly, yearly, weekdays, every N days|weeks|months|years, every monday (or several: every mon,thu), or an RRULE such as FREQ=WEEKLY;BYDAY=MO.";

/// Runs in UTC, so that `--due 2026-12-07` is 23:59:59Z and dates print the
/// same wherever the tests run.
fn utc(env: &Env, args: &[&str]) -> Run {
    env.run_env(args, &[("TZ", "UTC")])
}

fn titles(run: &Run) -> Vec<String> {
    run.json()
        .as_array()
        .expect("an array of tasks")
        .iter()
        .map(|t| t["title"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn add_and_edit_take_a_project_and_a_rule() {
    let env = Env::start();
    env.register("fields@example.com");
    let task = utc(
        &env,
        &[
            "add",
            "Water",
            "plants",
            "--project",
            "Home.Garden",
            "--due",
            "2026-12-07",
            "--recur",
            "every mon,thu",
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(task["project"], "Home.Garden");
    assert_eq!(task["recur"], "FREQ=WEEKLY;BYDAY=MO,TH");
    assert_eq!(task["series"], task["id"]);
    assert_eq!(task["due"], "2026-12-07T23:59:59Z");
    // Without --json: the rule in words.
    utc(
        &env,
        &[
            "add",
            "Pay",
            "rent",
            "--due",
            "2026-12-31",
            "--recur",
            "monthly",
        ],
    )
    .ok();
    assert_eq!(
        utc(
            &env,
            &[
                "add",
                "Stand-up",
                "--due",
                "2026-12-07",
                "--recur",
                "weekdays"
            ]
        )
        .ok()
        .stdout,
        "Added task 3: Stand-up; repeats weekdays\n"
    );
    assert_eq!(
        env.run(&["add", "Buy", "bread", "--project", "Errands"])
            .ok()
            .stdout,
        "Added task 4: Buy bread\n"
    );

    // Edits: move, take out, change the rule, stop it.
    env.run(&["edit", "4", "--project", "Home"]).ok();
    assert_eq!(
        env.task(4).project.map(|p| p.to_string()).as_deref(),
        Some("Home")
    );
    env.run(&["edit", "4", "--no-project"]).ok();
    assert_eq!(env.task(4).project, None);
    assert_eq!(
        env.run(&["edit", "2", "--recur", "every 2 months"])
            .ok()
            .stdout,
        "Updated task 2: Pay rent; repeats every 2 months\n"
    );
    assert_eq!(
        env.task(2).recur.map(|r| r.to_string()).as_deref(),
        Some("FREQ=MONTHLY;INTERVAL=2")
    );
    env.run(&["edit", "2", "--no-recur"]).ok();
    let stopped = env.task(2);
    assert_eq!(stopped.recur, None);
    assert_eq!(stopped.series, Some(stopped.id), "still in its series");
    // A raw RRULE, any case.
    env.run(&["edit", "2", "--recur", "freq=monthly;byday=-1fr"])
        .ok();
    assert_eq!(
        env.task(2).recur.map(|r| r.to_string()).as_deref(),
        Some("FREQ=MONTHLY;BYDAY=-1FR")
    );
    // Tag edits name just the tags they change.
    env.run(&["edit", "4", "--add-tag", "bakery", "--add-tag", "today"])
        .ok();
    env.run(&["edit", "4", "--remove-tag", "today", "--add-tag", "rye"])
        .ok();
    assert_eq!(env.task(4).tags, ["bakery", "rye"]);
}

#[test]
fn rules_and_projects_the_cli_cannot_take_are_usage_errors_before_any_request() {
    let env = Env::start();
    env.register("mistakes@example.com");
    let add = |extra: &[&str]| stretch(&env, extra);
    add(&["--recur", "fortnightly"]).fails_with(
        2,
        &format!("Did not understand the rule `fortnightly`; {FORMS}"),
    );
    add(&["--recur", "every mon,thurs"]).fails_with(
        2,
        &format!("Did not understand `thurs` in the rule `every mon,thurs`; {FORMS}"),
    );
    // `--recur every 2 weeks` unquoted: the rule is `every` alone.
    let unquoted = add(&["--recur", "every", "2", "weeks"]);
    unquoted.fails(2);
    assert!(
        unquoted
            .stderr
            .contains("quote the whole rule, e.g. --recur 'every 2 weeks'"),
        "{unquoted:?}"
    );
    add(&["--recur", "every 1000 days"]).fails_with(
        2,
        "Invalid rule `every 1000 days`: the number of days, weeks, months or years must be 1 to 999.",
    );
    add(&["--recur", "FREQ=WEEKLY;BYHOUR=9"]).fails_with(
        2,
        "Invalid rule `FREQ=WEEKLY;BYHOUR=9`: BYHOUR is not supported.",
    );
    add(&["--recur", "FREQ=DAILY;UNTIL=20261201T000000Z"]).fails_with(
        2,
        "The rule FREQ=DAILY;UNTIL=20261201T000000Z has no date on or after the due date: its UNTIL is before it.",
    );
    env.run(&["add", "Stretch", "--recur", "daily"]).fails_with(
        2,
        "A recurring task needs a due date, the first date of its series: add --due WHEN (e.g. --due monday).",
    );
    add(&["--project", "Home..x"]).fails_with(
        2,
        "Invalid project `Home..x`: it must not have an empty segment: no dot at either end and no two dots in a row; a project is a name such as Home, with dots between levels (Home.Garden).",
    );
    env.run(&["list", "--project", " Home"]).fails(2);
    assert!(env.tasks().is_empty(), "nothing created by the refusals");
    // Even with the server gone, these are refused the same way: no request.
    let mut env = env;
    env.stop_server();
    stretch(&env, &["--recur", "fortnightly"]).fails(2);
    env.run(&["add", "x", "--project", ".Home"]).fails(2);
}

/// `taskcli add Stretch --due 2026-12-07` and more.
fn stretch(env: &Env, extra: &[&str]) -> Run {
    let mut args = vec!["add", "Stretch", "--due", "2026-12-07"];
    args.extend_from_slice(extra);
    utc(env, &args)
}

#[test]
fn edit_asks_for_a_due_date_before_writing_a_rule() {
    let env = Env::start();
    env.register("edit-rule@example.com");
    env.run(&["add", "Read", "more"]).ok();
    env.run(&["edit", "1", "--recur", "every mon,thu"]).fails_with(
        2,
        "A recurring task needs a due date, the first date of its series: task 1 has none, so give it one, e.g. `taskcli edit 1 --recur 'every Mon, Thu' --due monday`.",
    );
    // `due:` is `--no-due`, which clap cannot see beside --recur.
    env.run(&["1", "modify", "recur:weekly", "due:"]).fails_with(
        2,
        "A recurring task needs a due date, the first date of its series: give --due WHEN instead of removing it.",
    );
    assert_eq!(env.task(1).version, 1, "nothing written");
    utc(
        &env,
        &["edit", "1", "--recur", "weekly", "--due", "2026-12-07"],
    )
    .ok();
    assert_eq!(
        env.task(1).recur.map(|r| r.to_string()).as_deref(),
        Some("FREQ=WEEKLY")
    );
    // Removing the due date of a recurring task: the server refuses, and
    // the message says what to type.
    env.run(&["edit", "1", "--no-due"]).fails_with(
        1,
        "Task #1 repeats, and a recurring task needs a due date: remove both with --no-due --no-recur, or give another date with --due WHEN.",
    );
    env.run(&["edit", "1", "--no-due", "--no-recur"]).ok();
    let task = env.task(1);
    assert_eq!((task.due, task.recur), (None, None));
}

#[test]
fn done_on_a_recurring_task_names_the_next_one() {
    let env = Env::start();
    env.register("done@example.com");
    utc(
        &env,
        &[
            "add",
            "Water",
            "plants",
            "--due",
            "2026-12-07",
            "--recur",
            "weekly",
        ],
    )
    .ok();
    env.run(&["add", "Buy", "bread"]).ok();
    // Twice in a row: each completion makes the next one.
    assert_eq!(
        utc(&env, &["done", "1"]).ok().stdout,
        "Completed task 1: Water plants; next: task 3, due Mon 2026-12-14\n"
    );
    assert_eq!(
        utc(&env, &["3", "done"]).ok().stdout,
        "Completed task 3: Water plants; next: task 4, due Mon 2026-12-21\n"
    );
    let next = env.task(4);
    assert!(!next.completed);
    assert_eq!(next.series, Some(env.task(1).id));
    // A task that does not recur: nothing more. Several at once.
    assert_eq!(
        utc(&env, &["done", "2", "4"]).ok().stdout,
        "Completed task 2: Buy bread\n\
         Completed task 4: Water plants; next: task 5, due Mon 2026-12-28\n"
    );
    // Reopening and completing again makes no second successor.
    env.run(&["undone", "4"]).ok();
    assert_eq!(
        utc(&env, &["done", "4"]).ok().stdout,
        "Completed task 4: Water plants; next: task 5, due Mon 2026-12-28\n"
    );
    assert_eq!(env.tasks().len(), 5);
    // A rule that runs out.
    utc(
        &env,
        &[
            "add",
            "Twice",
            "--due",
            "2026-12-07",
            "--recur",
            "FREQ=DAILY;COUNT=2",
        ],
    )
    .ok();
    assert_eq!(
        utc(&env, &["done", "6"]).ok().stdout,
        "Completed task 6: Twice; next: task 7, due Tue 2026-12-08\n"
    );
    assert_eq!(
        utc(&env, &["done", "7"]).ok().stdout,
        "Completed task 7: Twice; the series has ended\n"
    );
    // --json: the completed tasks, as before.
    let json = utc(&env, &["done", "5", "--json"]).ok().json();
    assert_eq!(json[0]["number"], 5);
    assert_eq!(json[0]["completed"], true);
}

#[test]
fn list_filters_and_sorts_by_project() {
    let env = Env::start();
    env.register("list@example.com");
    for (title, project) in [
        ("Mow", Some("Home.Garden")),
        ("Nothing", None),
        ("Essay", Some("Homework")),
        ("Dishes", Some("Home")),
    ] {
        let mut args = vec!["add", title];
        if let Some(project) = project {
            args.extend(["--project", project]);
        }
        env.run(&args).ok();
    }
    let list = |args: &[&str]| {
        let mut all = vec!["list", "--json"];
        all.extend_from_slice(args);
        titles(env.run(&all).ok())
    };
    assert_eq!(list(&["--project", "Home"]), ["Mow", "Dishes"]);
    assert_eq!(list(&["--project", "Home.Garden"]), ["Mow"]);
    assert_eq!(list(&["--project", "-"]), ["Nothing"]);
    assert_eq!(
        list(&["--sort", "project"]),
        ["Dishes", "Mow", "Essay", "Nothing"]
    );
    assert_eq!(
        list(&["--sort", "-project"]),
        ["Essay", "Mow", "Dishes", "Nothing"]
    );
    // Nothing matches: the filter is named.
    assert_eq!(
        env.run(&["list", "--project", "Work"]).ok().stdout,
        "No pending tasks match project \"Work\".\n"
    );
    env.run(&["done", "2"]).ok();
    assert_eq!(
        env.run(&["list", "--project", "-"]).ok().stdout,
        "No pending tasks without a project.\n"
    );
    // Piped: the project and the rule are fields before the title.
    utc(
        &env,
        &[
            "add",
            "Water",
            "plants",
            "--project",
            "Home.Garden",
            "--due",
            "2026-12-07",
            "--recur",
            "weekly",
        ],
    )
    .ok();
    assert_eq!(
        utc(&env, &["list", "--project", "Home.Garden"]).ok().stdout,
        "1\tpending\tnone\t\t\tHome.Garden\t\tMow\n\
         5\tpending\tnone\t2026-12-07T23:59:59+00:00\t\tHome.Garden\tFREQ=WEEKLY\tWater plants\n"
    );
}

#[test]
fn projects_lists_the_tree_with_counts() {
    let env = Env::start();
    env.register("projects@example.com");
    assert_eq!(
        env.run(&["projects"]).ok().stdout,
        "No projects yet; give a task one with `taskcli add TITLE --project NAME` or `taskcli edit ID --project NAME`.\n"
    );
    assert_eq!(
        env.run(&["projects", "--json"]).ok().json(),
        serde_json::json!({"projects": []})
    );
    for (title, project) in [
        ("a", "Home.Garden"),
        ("b", "Home.Garden"),
        ("c", "Home"),
        ("d", "Home-x"),
        ("e", "Work.Q3.Plan"),
    ] {
        env.run(&["add", title, "--project", project]).ok();
    }
    env.run(&["done", "2", "5"]).ok();
    // Piped: full names, pending, completed; ordered level by level.
    assert_eq!(
        env.run(&["projects"]).ok().stdout,
        "Home\t2\t1\n\
         Home.Garden\t1\t1\n\
         Home-x\t1\t0\n\
         Work\t0\t1\n\
         Work.Q3\t0\t1\n\
         Work.Q3.Plan\t0\t1\n"
    );
    // --json: the API's object, in the API's order.
    let json = env.run(&["projects", "--json"]).ok().json();
    assert_eq!(json["projects"][0]["name"], "Home");
    assert_eq!(json["projects"][0]["pending"], 2);
    assert_eq!(json["projects"][0]["completed"], 1);
    assert_eq!(json["projects"][1]["name"], "Home-x");
    assert_eq!(json["projects"].as_array().map(Vec::len), Some(6));
}
