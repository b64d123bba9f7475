//! Task tables as a person sees them: the built `taskcli` in a
//! pseudo-terminal of 40, 60, 80 and 120 columns, and piped, against a real
//! server started in-process.

mod common;

use chrono::{Days, NaiveTime, Utc};
use common::{Env, Run};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use std::io::Read;
use taskclient::Client;
use taskcore::{Priority, Tags, TaskDraft, Timestamp};
use unicode_width::UnicodeWidthStr;

/// What these tests do with an [`Env`]: every run in UTC, so that dates
/// print the same wherever the tests run.
trait Tables {
    /// `taskcli` with stdout and stderr piped.
    fn run_utc(&self, args: &[&str]) -> Run;
    /// `taskcli` in a pseudo-terminal `columns` wide: what the screen
    /// shows, stdout and stderr together, with `\r\n` as `\n`.
    fn screen(&self, columns: u16, args: &[&str], extra: &[(&str, &str)]) -> String;
    /// Registers, and an SDK client for the new account.
    fn account(&self, email: &str) -> Client;
    fn add(&self, client: &Client, draft: TaskDraft);
}

impl Tables for Env {
    fn run_utc(&self, args: &[&str]) -> Run {
        self.run_env(args, &[("TZ", "UTC")])
    }

    fn screen(&self, columns: u16, args: &[&str], extra: &[(&str, &str)]) -> String {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: 50,
                cols: columns,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pseudo-terminal");
        let mut command = CommandBuilder::new(env!("CARGO_BIN_EXE_taskcli"));
        command.args(args);
        command.env_remove("TASKCLI_TOKEN");
        command.env_remove("NO_COLOR");
        for (key, value) in self.vars() {
            command.env(key, value);
        }
        command.env("TZ", "UTC");
        for (key, value) in extra {
            command.env(key, value);
        }
        let mut child = pty.slave.spawn_command(command).expect("taskcli runs");
        // Only the child holds the terminal now, so reading ends when it does.
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().expect("reader");
        let mut bytes = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&buffer[..n]),
                // Linux answers EIO once the other side is closed.
                Err(_) => break,
            }
        }
        let status = child.wait().expect("taskcli ends");
        let text = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
        assert!(status.success(), "taskcli failed: {text}");
        text
    }

    fn account(&self, email: &str) -> Client {
        self.register(email);
        self.sdk()
    }

    fn add(&self, client: &Client, draft: TaskDraft) {
        self.block_on(client.create_task(&draft))
            .expect("task created");
    }
}

/// Noon UTC `days` from today (negative: past), or the end of that day.
fn due_in(days: i64, end_of_day: bool) -> Option<Timestamp> {
    let today = Utc::now().date_naive();
    let day = if days < 0 {
        today.checked_sub_days(Days::new(days.unsigned_abs()))
    } else {
        today.checked_add_days(Days::new(days.unsigned_abs()))
    }?;
    let time = if end_of_day {
        NaiveTime::from_hms_opt(23, 59, 59)?
    } else {
        NaiveTime::from_hms_opt(12, 0, 0)?
    };
    Timestamp::from_datetime(day.and_time(time).and_utc())
}

fn draft(title: &str, priority: Priority, due: Option<Timestamp>, tags: &[&str]) -> TaskDraft {
    let mut draft = TaskDraft::new(title).expect("valid title");
    draft.priority = priority;
    draft.due = due;
    draft.tags = Tags::parse(tags.iter().copied()).expect("valid tags");
    draft
}

const REPORT: &str = "Write the quarterly report for the board";
const GROCERIES: &str = "牛乳と卵とパンを買う";
const LONG: &str = "Renew the passport before the summer trip, and check whether the visa for the conference needs the new number as well";

/// A user with tasks a table finds hard: a far overdue date, many tags, a
/// CJK title (two columns a character), a title too long for any terminal.
fn busy_user(env: &Env) {
    let client = env.account("tables@example.com");
    env.add(
        &client,
        draft(
            REPORT,
            Priority::High,
            due_in(-705, false),
            &["work", "reports", "q1", "board", "finance"],
        ),
    );
    env.add(
        &client,
        draft(GROCERIES, Priority::Low, due_in(1, true), &["shopping"]),
    );
    let many: Vec<String> = (1..=12).map(|i| format!("tag{i:02}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    env.add(
        &client,
        draft("Call mom", Priority::Medium, due_in(400, true), &many),
    );
    env.add(&client, draft(LONG, Priority::None, None, &[]));
}

/// The cells of a boxed table's line, trimmed.
fn cells(line: &str) -> Vec<String> {
    line.trim_matches('│')
        .split('│')
        .map(|cell| cell.trim().to_string())
        .collect()
}

/// The table on a screen: its header cells and each row's cells.
fn table(screen: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let lines: Vec<&str> = screen.lines().collect();
    assert!(
        lines.len() >= 4
            && lines[0].starts_with('╭')
            && lines[2].starts_with('├')
            && lines[lines.len() - 1].starts_with('╰'),
        "a boxed table, one line per row:\n{screen}"
    );
    let rows = lines[3..lines.len() - 1]
        .iter()
        .map(|line| cells(line))
        .collect();
    (cells(lines[1]), rows)
}

fn row<'a>(rows: &'a [Vec<String>], number: &str) -> &'a [String] {
    rows.iter()
        .find(|cells| cells[0] == number)
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no row #{number} in {rows:?}"))
}

#[test]
fn tables_fit_the_terminal_and_the_title_keeps_the_room() {
    let env = Env::start();
    busy_user(&env);
    let mut seen = Vec::new();
    for columns in [40u16, 60, 80, 120] {
        let screen = env.screen(columns, &["list"], &[("NO_COLOR", "1")]);
        for line in screen.lines() {
            assert!(
                line.width() <= usize::from(columns),
                "{line:?} is wider than {columns} columns:\n{screen}"
            );
            assert!(!line.ends_with(' '), "{line:?} ends in a space:\n{screen}");
        }
        let (header, rows) = table(&screen);
        // Headers are whole words, never broken across lines.
        for cell in &header {
            assert!(
                ["#", "", "Priority", "Due", "Title", "Tags"].contains(&cell.as_str()),
                "{cell:?} in {header:?}:\n{screen}"
            );
        }
        assert_eq!(rows.len(), 4, "one line per task:\n{screen}");
        let title = header
            .iter()
            .position(|h| h == "Title")
            .expect("a Title column");
        // Every title that fits beside the number and the marks is whole.
        let room = usize::from(columns) - (1 + 3 + 3 * 3 + 1);
        for (number, text) in [("1", REPORT), ("2", GROCERIES), ("3", "Call mom")] {
            let shown = &row(&rows, number)[title];
            if text.width() <= room {
                assert_eq!(shown, text, "at {columns} columns:\n{screen}");
            } else {
                let kept = shown.trim_end_matches('…');
                assert!(shown.ends_with('…') && text.starts_with(kept), "{screen}");
            }
        }
        let long = &row(&rows, "4")[title];
        assert!(long.ends_with('…'), "{screen}");
        assert!(
            LONG.starts_with(long.trim_end_matches('…')),
            "cut, not changed:\n{screen}"
        );
        seen.push((columns, header, rows, screen));
    }
    let at = |columns| {
        seen.iter()
            .find(|(c, ..)| *c == columns)
            .expect("that width was run")
    };
    let names = |header: &[String]| header.join("|");

    // 120: every column; due dates in words.
    let (_, header, rows, screen) = at(120);
    assert_eq!(names(header), "#||Priority|Due|Title|Tags", "{screen}");
    assert_eq!(row(rows, "1")[3], "705d overdue", "{screen}");
    assert_eq!(row(rows, "2")[3], "tomorrow", "{screen}");
    assert_eq!(
        row(rows, "1")[5],
        "work reports q1 board finance",
        "{screen}"
    );
    // Twelve tags do not fit: they are cut, the title is not.
    assert!(row(rows, "3")[5].ends_with('…'), "{screen}");

    // 80: the tags go so that the report's title stays whole; dates are compact.
    let (_, header, rows, screen) = at(80);
    assert_eq!(names(header), "#||Priority|Due|Title", "{screen}");
    assert_eq!(row(rows, "1")[3], "-705d", "{screen}");
    assert_eq!(row(rows, "2")[3], "tmrw", "{screen}");
    assert_eq!(row(rows, "3")[3], "+400d", "{screen}");
    assert_eq!(row(rows, "1")[2], "high", "{screen}");

    // 60: the priority becomes a mark, then the due date goes.
    let (_, header, rows, screen) = at(60);
    assert_eq!(names(header), "#||Title", "{screen}");
    assert_eq!(row(rows, "1")[1], "!!!", "{screen}");
    assert_eq!(row(rows, "2")[1], "!", "{screen}");
    assert_eq!(row(rows, "3")[1], "!!", "{screen}");
    assert_eq!(row(rows, "1")[2], REPORT, "{screen}");

    // 40: the report cannot fit anyway, but the CJK title (20 columns for 10
    // characters) does once the due date has gone.
    let (_, header, rows, screen) = at(40);
    assert_eq!(names(header), "#||Title", "{screen}");
    assert_eq!(row(rows, "2")[2], GROCERIES, "{screen}");
    assert_eq!(row(rows, "1")[2], "Write the quarterly repor…", "{screen}");
}

#[test]
fn colours_on_a_terminal_unless_no_color() {
    let env = Env::start();
    busy_user(&env);
    let coloured = env.screen(120, &["list"], &[]);
    assert!(coloured.contains("\u{1b}["), "{coloured}");
    let plain = env.screen(120, &["list"], &[("NO_COLOR", "1")]);
    assert!(!plain.contains('\u{1b}'), "{plain}");
    assert!(plain.contains('╭'), "still boxed: {plain}");
}

#[test]
fn piped_tables_are_tab_separated_without_header_or_padding() {
    let env = Env::start();
    let client = env.account("pipes@example.com");
    env.add(&client, draft("Buy oat milk", Priority::None, None, &[]));
    env.add(
        &client,
        draft(
            REPORT,
            Priority::High,
            due_in(2, true),
            &["work", "reports"],
        ),
    );
    // NEL and CSI pass the server's check: a terminal or a pipe could take
    // them for a line break or an escape.
    env.add(
        &client,
        draft("Odd\u{85}title\u{9b}31m here", Priority::Low, None, &["x"]),
    );
    env.runtime
        .block_on(client.update_task(
            taskcore::TaskRef::Number(1),
            &taskcore::TaskPatch {
                completed: Some(true),
                ..taskcore::TaskPatch::default()
            },
            None,
        ))
        .expect("completed");
    let run = env.run_utc(&["list", "--all"]);
    assert_eq!(run.code, 0, "{run:?}");
    let due = due_in(2, true).map(|t| {
        t.as_datetime()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    });
    let due = due.expect("a due date");
    assert_eq!(
        run.stdout,
        format!(
            "1\tdone\tnone\t\t\t\t\tBuy oat milk\n\
             2\tpending\thigh\t{due}\twork reports\t\t\t{REPORT}\n\
             3\tpending\tlow\t\tx\t\t\tOdd title 31m here\n"
        )
    );
    assert_eq!(run.stderr, "");
    for line in run.stdout.lines() {
        assert_eq!(line, line.trim_end(), "no trailing white space");
        assert!(!line.contains("  "), "no padding: {line:?}");
    }
}

#[test]
fn piped_api_token_lists_are_tab_separated_with_the_name_last() {
    let env = Env::start();
    let client = env.account("tokens@example.com");
    let created = env
        .runtime
        .block_on(client.create_api_token("nightly build", Some(7)))
        .expect("token");
    let run = env.run_utc(&["auth", "api-token", "list"]);
    assert_eq!(run.code, 0, "{run:?}");
    let expires = created
        .expires_at
        .as_datetime()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
    assert_eq!(
        run.stdout,
        format!("{}\t{expires}\t\tnightly build\n", created.id)
    );
    // On a terminal the dates give way to the name, the last one first.
    for (columns, headers) in [
        (120, &["ID", "Name", "Expires", "Last used"][..]),
        (90, &["ID", "Name", "Expires"][..]),
        (60, &["ID", "Name"][..]),
    ] {
        let screen = env.screen(
            columns,
            &["auth", "api-token", "list"],
            &[("NO_COLOR", "1")],
        );
        assert!(
            screen
                .lines()
                .all(|line| line.width() <= usize::from(columns)),
            "{screen}"
        );
        let (header, rows) = table(&screen);
        assert_eq!(header, headers, "{screen}");
        assert_eq!(
            rows[0][..2],
            [created.id.to_string(), "nightly build".to_string()]
        );
    }
}

#[test]
fn empty_results_name_the_filters_and_limits_say_more_exist() {
    let env = Env::start();
    let client = env.account("empty@example.com");
    let said = |args: &[&str]| {
        let run = env.run_utc(args);
        assert_eq!(run.code, 0, "{run:?}");
        (run.stdout, run.stderr)
    };
    assert_eq!(said(&["list"]), ("No pending tasks.\n".into(), "".into()));
    for i in 1..=5 {
        env.add(
            &client,
            draft(&format!("Task {i}"), Priority::None, None, &["home"]),
        );
    }
    assert_eq!(
        said(&["list", "-t", "nothing"]),
        (
            "No pending tasks match tag \"nothing\".\n".into(),
            "".into()
        )
    );
    assert_eq!(
        said(&["list", "--done", "-t", "home", "-p", "high", "-s", "milk"]),
        (
            "No completed tasks match tag \"home\", priority high and search \"milk\".\n".into(),
            "".into()
        )
    );
    assert_eq!(
        said(&["list", "--all", "-s", "oat \"milk\""]),
        (
            "No tasks match search \"oat \\\"milk\\\"\".\n".into(),
            "".into()
        )
    );
    let (stdout, stderr) = said(&["list", "--limit", "3"]);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert_eq!(
        stderr,
        "Showing 3 tasks; more match (drop --limit or raise it to see them).\n"
    );
    // Exactly as many as match: nothing more to say.
    let (stdout, stderr) = said(&["list", "--limit", "5"]);
    assert_eq!((stdout.lines().count(), stderr.as_str()), (5, ""));
    let (_, stderr) = said(&["list", "--limit", "1"]);
    assert_eq!(
        stderr,
        "Showing 1 task; more match (drop --limit or raise it to see them).\n"
    );
    // JSON stays JSON, and scripts that asked for a limit hear nothing more.
    let (stdout, stderr) = said(&["list", "--limit", "3", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        (json.as_array().map(Vec::len), stderr.as_str()),
        (Some(3), "")
    );
}

/// A user with projects and recurring tasks: a weekly one in `Home.Garden`
/// completed once (so its successor is listed too), a monthly one deep in
/// `Work`, and one with neither.
fn planner(env: &Env) {
    let client = env.account("planner@example.com");
    let rule = |text: &str| taskclient::Recur::from_friendly(text).expect("a rule");
    let project = |name: &str| taskclient::Project::parse(name).expect("a project");
    let mut plants = draft("Water plants", Priority::None, due_in(2, true), &[]);
    plants.project = Some(project("Home.Garden"));
    plants.recur = Some(rule("weekly"));
    env.add(&client, plants);
    let mut report = draft(
        REPORT,
        Priority::High,
        due_in(10, true),
        &["work", "reports"],
    );
    report.project = Some(project("Work.Reports.Quarterly"));
    report.recur = Some(rule("monthly"));
    env.add(&client, report);
    env.add(
        &client,
        draft("Buy oat milk", Priority::None, None, &["shopping"]),
    );
    let done = env
        .block_on(
            client
                .update(taskcore::TaskRef::Number(1))
                .completed(true)
                .send(),
        )
        .expect("completed");
    assert!(done.next.is_some(), "the weekly task has a successor");
}

#[test]
fn tables_show_projects_and_mark_recurring_tasks() {
    let env = Env::start();
    planner(&env);
    let names = |header: &[String]| header.join("|");
    // 160: every column, the project before the title; `✓↻` for a
    // completed occurrence, `↻` for the pending ones.
    let screen = env.screen(160, &["list", "--all"], &[("NO_COLOR", "1")]);
    let (header, rows) = table(&screen);
    assert_eq!(
        names(&header),
        "#||Priority|Due|Project|Title|Tags",
        "{screen}"
    );
    assert_eq!(row(&rows, "1")[1..2], ["✓↻"], "{screen}");
    assert_eq!(row(&rows, "4")[1..2], ["↻"], "{screen}");
    assert_eq!(row(&rows, "3")[1..2], [""], "{screen}");
    assert_eq!(row(&rows, "4")[4], "Home.Garden", "{screen}");
    assert_eq!(row(&rows, "2")[4], "Work.Reports.Quarterly", "{screen}");
    assert_eq!(row(&rows, "3")[4], "", "{screen}");
    // 80: the tags go, the priority joins the marks, the project is cut.
    let screen = env.screen(80, &["list"], &[("NO_COLOR", "1")]);
    for line in screen.lines() {
        assert!(line.width() <= 80, "{line:?}:\n{screen}");
    }
    let (header, rows) = table(&screen);
    assert_eq!(names(&header), "#||Due|Project|Title", "{screen}");
    assert_eq!(row(&rows, "2")[1], "↻!!!", "{screen}");
    let cut = &row(&rows, "2")[3];
    assert!(
        cut.starts_with("Work.Report") && cut.ends_with('…'),
        "{screen}"
    );
    assert_eq!(row(&rows, "2")[4], REPORT, "{screen}");
    // 60: the project goes before the due date, then the due date: the
    // report's title stays whole, and the marks stay.
    let screen = env.screen(60, &["list", "--all"], &[("NO_COLOR", "1")]);
    let (header, rows) = table(&screen);
    assert_eq!(names(&header), "#||Title", "{screen}");
    assert_eq!(row(&rows, "1")[1], "✓↻", "{screen}");
    assert_eq!(row(&rows, "2")[1..3], ["↻!!!", REPORT], "{screen}");
    // No task with a project shown: no Project column.
    let screen = env.screen(160, &["list", "--project", "-"], &[("NO_COLOR", "1")]);
    let (header, _) = table(&screen);
    assert_eq!(names(&header), "#||Priority|Due|Title|Tags", "{screen}");
    // Piped: the project and the rule as fields, no marks.
    let run = env.run_utc(&["list", "--all", "--sort", "project"]);
    let lines: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .map(|line| line.split('\t').collect())
        .collect();
    let fields: Vec<(&str, &str, &str, &str)> =
        lines.iter().map(|f| (f[0], f[5], f[6], f[7])).collect();
    assert_eq!(
        fields,
        [
            ("1", "Home.Garden", "FREQ=WEEKLY", "Water plants"),
            ("4", "Home.Garden", "FREQ=WEEKLY", "Water plants"),
            ("2", "Work.Reports.Quarterly", "FREQ=MONTHLY", REPORT),
            ("3", "", "", "Buy oat milk"),
        ],
        "{run:?}"
    );
    assert!(!run.stdout.contains('↻') && !run.stdout.contains('✓'));
}

#[test]
fn projects_are_a_boxed_tree_on_a_terminal() {
    let env = Env::start();
    planner(&env);
    let screen = env.screen(60, &["projects"], &[("NO_COLOR", "1")]);
    assert_eq!(
        screen,
        "\
╭───────────────┬─────────┬───────────╮
│ Project       │ Pending │ Completed │
├───────────────┼─────────┼───────────┤
│ Home          │       1 │         1 │
│   Garden      │       1 │         1 │
│ Work          │       1 │         0 │
│   Reports     │       1 │         0 │
│     Quarterly │       1 │         0 │
╰───────────────┴─────────┴───────────╯
"
    );
    // Narrow: the completed counts give way to the names.
    let screen = env.screen(30, &["projects"], &[("NO_COLOR", "1")]);
    let (header, rows) = table(&screen);
    assert_eq!(header, ["Project", "Pending"], "{screen}");
    assert_eq!(rows[4], ["Quarterly", "1"], "{screen}");
    assert!(screen.lines().all(|l| l.width() <= 30), "{screen}");
}
