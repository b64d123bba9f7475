//! Taskwarrior habits: what a Taskwarrior user types first, either accepted
//! or answered (exit 2, before any request) with the command to type instead.
//!
//! Two steps, both before any request:
//! - [`reorder`] works on the raw arguments, before clap: `taskcli 3 done`
//!   is `taskcli done 3`, and `taskcli 3` is `taskcli show 3`.
//! - [`apply`] works on the parsed command: the words of `add`, `list` and
//!   `edit` that are `+tag` or `name:value` become flags. Words after `--`
//!   never do (clap hands them to `add` apart from the others).

use crate::cli::{AddArgs, Command, EditArgs, ListArgs, PriorityArg};
use crate::dates::When;
use crate::error::CliError;
use crate::ids::TaskArg;
use clap::ValueEnum;
use std::ffi::OsString;
use taskcore::Tags;

/// Commands Taskwarrior writes after the ids (`task 3 done`), and their
/// Taskwarrior names that taskcli also takes (`modify`, `info`, `delete`).
const AFTER_IDS: &[&str] = &[
    "done", "undone", "rm", "delete", "show", "info", "edit", "modify",
];

/// Taskwarrior attributes taskcli does not have.
const UNSUPPORTED: &[&str] = &["wait", "scheduled", "until", "depends"];

/// Moves a command written after its ids in front of them, as Taskwarrior
/// users write it: `taskcli 3 4 done` is `taskcli done 3 4`; a lone id,
/// `taskcli 3`, is `taskcli show 3`. Global flags before the ids stay where
/// they are. Ids followed by anything else are a usage error that names what
/// may follow them (clap would only say "unrecognized subcommand '3'");
/// a command line that does not start with ids is returned unchanged.
pub fn reorder(args: Vec<OsString>) -> Result<Vec<OsString>, CliError> {
    let mut start = 1;
    while let Some(arg) = args.get(start).and_then(|a| a.to_str()) {
        match arg {
            "--json" | "--insecure-storage" => start += 1,
            "--server" => start += 2,
            _ if arg.starts_with("--server=") => start += 1,
            _ => break,
        }
    }
    let is_id = |arg: &OsString| arg.to_str().is_some_and(|a| a.parse::<TaskArg>().is_ok());
    let ids = args.iter().skip(start).take_while(|a| is_id(a)).count();
    if ids == 0 {
        return Ok(args);
    }
    let after = start + ids;
    let command = match args.get(after).map(|a| a.to_string_lossy()) {
        Some(word) if AFTER_IDS.contains(&word.as_ref()) => Some(word.into_owned()),
        // `taskcli 3` and `taskcli 3 --json`: Taskwarrior shows the task.
        None if ids == 1 => None,
        Some(word) if ids == 1 && word.starts_with('-') => None,
        next => {
            let shown: Vec<String> = args[start..after]
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let shown = shown.join(" ");
            return Err(CliError::usage(match next {
                Some(word) if !word.starts_with('-') => format!(
                    "`{word}` cannot follow a task ID: after IDs come done, undone, rm, show or edit, e.g. `taskcli {shown} done`."
                ),
                _ => format!(
                    "Say what to do with tasks {shown}: e.g. `taskcli {shown} done`, or `taskcli show ID` for one."
                ),
            }));
        }
    };
    let mut reordered: Vec<OsString> = args[..start].to_vec();
    let rest = if command.is_some() { after + 1 } else { after };
    reordered.push(command.unwrap_or_else(|| "show".into()).into());
    reordered.extend_from_slice(&args[start..after]);
    reordered.extend(args.iter().skip(rest).cloned());
    Ok(reordered)
}

/// Turns the Taskwarrior-style words of `add`, `list` and `edit` into the
/// flags they mean, or answers with the command to type instead. `argv` is
/// the command line as clap saw it, for that answer.
pub fn apply(command: &mut Command, argv: &[OsString]) -> Result<(), CliError> {
    let argv: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match command {
        Command::Add(args) => add(args),
        Command::List(args) => list(args, &argv),
        Command::Edit(args) => edit(args, &argv),
        _ => Ok(()),
    }
}

/// One word as Taskwarrior reads it.
#[derive(Debug, PartialEq, Eq)]
enum Word<'a> {
    /// `+tag`, with a valid tag after the `+`.
    Tag(&'a str),
    /// `due:WHEN`.
    Due(&'a str),
    /// `priority:P`, `pri:P`, `prio:P`.
    Priority(&'a str),
    /// `project:P`, `proj:P`.
    Project(&'a str),
    /// `recur:RULE`.
    Recur(&'a str),
    /// Another Taskwarrior attribute: `wait:...`, `depends:...`.
    Unsupported(&'a str),
    /// Anything else.
    Plain(&'a str),
}

impl<'a> Word<'a> {
    fn read(word: &'a str) -> Self {
        // A quoted argument with spaces (`"Due: send invoice"`) is text the
        // user typed as one piece, never an attribute.
        if word.contains(char::is_whitespace) {
            return Self::Plain(word);
        }
        // A tag must start with a letter here, so `+1` and `+3d` (the CLI's
        // own due form) stay words of the title, as in Taskwarrior.
        if let Some(tag) = word.strip_prefix('+')
            && tag.starts_with(char::is_alphabetic)
            && Tags::parse_one(tag).is_ok()
        {
            return Self::Tag(tag);
        }
        let Some((name, value)) = word.split_once(':') else {
            return Self::Plain(word);
        };
        match name.to_ascii_lowercase().as_str() {
            "due" => Self::Due(value),
            "priority" | "pri" | "prio" => Self::Priority(value),
            "project" | "proj" => Self::Project(value),
            "recur" => Self::Recur(value),
            lower if UNSUPPORTED.contains(&lower) => Self::Unsupported(name),
            _ => Self::Plain(word),
        }
    }
}

fn due(value: &str) -> Result<When, CliError> {
    value
        .parse::<When>()
        .map_err(|reason| CliError::usage(format!("In `due:{value}`: {reason}.")))
}

fn priority(value: &str) -> Result<PriorityArg, CliError> {
    if value.is_empty() {
        // Taskwarrior's `priority:` (nothing) means no priority.
        return Ok(PriorityArg::None);
    }
    PriorityArg::from_str(value, true).map_err(|_| {
        CliError::usage(format!(
            "`{value}` is not a priority: use H, M, L (or high, medium, low, none)."
        ))
    })
}

fn twice(what: &str) -> CliError {
    CliError::usage(format!("The {what} is given twice; give it once."))
}

/// The command line again, quoted for a POSIX shell, with the first of
/// `words` replaced by `by` and the others dropped.
fn instead(argv: &[String], words: &[&str], by: &[&str]) -> String {
    let mut pending: Vec<&str> = words.to_vec();
    let mut replaced = false;
    let mut out: Vec<String> = Vec::new();
    for arg in argv {
        if let Some(at) = pending.iter().position(|w| w == arg) {
            pending.remove(at);
            if !replaced {
                replaced = true;
                out.extend(by.iter().map(|w| quote(w)));
            }
        } else {
            out.push(quote(arg));
        }
    }
    format!("taskcli {}", out.join(" "))
}

/// Single quotes around a word a shell would otherwise change.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && !word.starts_with(['#', '~'])
        && word
            .chars()
            .all(|c| c.is_alphanumeric() || "+-_.,:/@=%#".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn unsupported(name: &str, word: &str) -> CliError {
    CliError::usage(format!(
        "taskcli has no `{name}:` attribute; to keep `{word}` in the title, write the title after `--` (`taskcli add -- TITLE...`)."
    ))
}

fn add(args: &mut AddArgs) -> Result<(), CliError> {
    let mut title = Vec::new();
    for word in std::mem::take(&mut args.title) {
        match Word::read(&word) {
            Word::Tag(tag) => args.tags.push(tag.to_string()),
            Word::Due("") => {}
            Word::Due(value) => {
                if args.due.is_some() {
                    return Err(twice("due date"));
                }
                args.due = Some(due(value)?);
            }
            Word::Priority(value) => {
                if args.priority.is_some() {
                    return Err(twice("priority"));
                }
                args.priority = Some(priority(value)?);
            }
            // Taskwarrior's `project:` (nothing) means no project: so it is.
            Word::Project("") => {}
            Word::Project(value) => {
                if args.project.is_some() {
                    return Err(twice("project"));
                }
                args.project = Some(value.to_string());
            }
            Word::Recur("") => {}
            Word::Recur(value) => {
                if args.recur.is_some() {
                    return Err(twice("rule"));
                }
                args.recur = Some(value.to_string());
            }
            Word::Unsupported(name) => return Err(unsupported(name, &word)),
            Word::Plain(_) => title.push(word),
        }
    }
    title.append(&mut args.literal);
    if title.is_empty() {
        return Err(CliError::usage(
            "The title is empty: give words besides `+tag` and `name:value`, e.g. `taskcli add Buy bread +home`.",
        ));
    }
    args.title = title;
    Ok(())
}

fn list(args: &mut ListArgs, argv: &[String]) -> Result<(), CliError> {
    for word in std::mem::take(&mut args.filters) {
        match Word::read(&word) {
            Word::Tag(tag) => {
                if args.tag.is_some() {
                    return Err(CliError::usage(
                        "`list` filters by one tag at a time; give one `+tag` or `--tag`.",
                    ));
                }
                args.tag = Some(tag.to_string());
            }
            Word::Priority(value) => {
                if args.priority.is_some() {
                    return Err(twice("priority"));
                }
                args.priority = Some(priority(value)?);
            }
            Word::Project(value) => {
                if args.project.is_some() {
                    return Err(twice("project"));
                }
                // Taskwarrior's `project:` (nothing) lists tasks without one.
                args.project = Some(if value.is_empty() { "-" } else { value }.to_string());
            }
            Word::Recur(_) => {
                return Err(CliError::usage(
                    "`list` cannot filter by rule; recurring tasks are marked in the table, and `taskcli show ID` shows a task's rule.",
                ));
            }
            Word::Due(_) => {
                let command = instead(argv, &[&word], &["--sort", "due"]);
                return Err(CliError::usage(format!(
                    "`list` cannot filter by due date; `{command}` lists the soonest first."
                )));
            }
            Word::Unsupported(name) => {
                return Err(CliError::usage(format!(
                    "taskcli has no `{name}:` attribute."
                )));
            }
            Word::Plain(_) => {
                let command = instead(argv, &[&word], &["--search", &word]);
                return Err(CliError::usage(format!(
                    "`{word}` is not a filter; to find it in titles and descriptions, run `{command}`."
                )));
            }
        }
    }
    Ok(())
}

fn edit(args: &mut EditArgs, argv: &[String]) -> Result<(), CliError> {
    let mut words = Vec::new();
    for word in std::mem::take(&mut args.changes) {
        match Word::read(&word) {
            Word::Tag(tag) => {
                if !args.tags.is_empty() {
                    return Err(CliError::usage(
                        "`+tag` adds a tag and `--tag` replaces them all; use one or the other.",
                    ));
                }
                args.add_tags.push(tag.to_string());
            }
            Word::Due(value) => {
                if args.due.is_some() || args.no_due {
                    return Err(twice("due date"));
                }
                // Taskwarrior's `due:` (nothing) removes the due date.
                if value.is_empty() {
                    args.no_due = true;
                } else {
                    args.due = Some(due(value)?);
                }
            }
            Word::Priority(value) => {
                if args.priority.is_some() {
                    return Err(twice("priority"));
                }
                args.priority = Some(priority(value)?);
            }
            Word::Project(value) => {
                if args.project.is_some() || args.no_project {
                    return Err(twice("project"));
                }
                // Taskwarrior's `project:` (nothing) takes the task out of its project.
                if value.is_empty() {
                    args.no_project = true;
                } else {
                    args.project = Some(value.to_string());
                }
            }
            Word::Recur(value) => {
                if args.recur.is_some() || args.no_recur {
                    return Err(twice("rule"));
                }
                // `recur:` (nothing) stops the task recurring.
                if value.is_empty() {
                    args.no_recur = true;
                } else {
                    args.recur = Some(value.to_string());
                }
            }
            Word::Unsupported(name) => {
                return Err(CliError::usage(format!(
                    "taskcli has no `{name}:` attribute."
                )));
            }
            Word::Plain(_) => words.push(word),
        }
    }
    if !words.is_empty() {
        // Taskwarrior's `modify` takes words as the new title; here a title
        // needs --title, so that a stray word never renames a task.
        let title = words.join(" ");
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let command = instead(argv, &words, &["--title", &title]);
        return Err(CliError::usage(format!(
            "To change the title, run `{command}`."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn reordered(args: &[&str]) -> Vec<String> {
        reorder(os(args))
            .expect("reordered")
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn ids_before_the_command_move_after_it() {
        assert_eq!(
            reordered(&["taskcli", "3", "done"]),
            ["taskcli", "done", "3"]
        );
        assert_eq!(
            reordered(&["taskcli", "3", "#4", "undone", "--json"]),
            ["taskcli", "undone", "3", "#4", "--json"]
        );
        assert_eq!(
            reordered(&[
                "taskcli",
                "--server",
                "http://h:1",
                "--json",
                "3",
                "rm",
                "-y"
            ]),
            [
                "taskcli",
                "--server",
                "http://h:1",
                "--json",
                "rm",
                "3",
                "-y"
            ]
        );
        assert_eq!(
            reordered(&["taskcli", "7", "modify", "+home"]),
            ["taskcli", "modify", "7", "+home"]
        );
        assert_eq!(reordered(&["taskcli", "3"]), ["taskcli", "show", "3"]);
        assert_eq!(
            reordered(&["taskcli", "3", "--json"]),
            ["taskcli", "show", "3", "--json"]
        );
        // Ids followed by something that cannot follow them: what can.
        let refused = |args: &[&str]| match reorder(os(args)) {
            Err(e) => {
                assert_eq!(e.exit, crate::error::Exit::Usage);
                e.message
            }
            Ok(argv) => panic!("accepted {argv:?}"),
        };
        assert_eq!(
            refused(&["taskcli", "3", "add"]),
            "`add` cannot follow a task ID: after IDs come done, undone, rm, show or edit, e.g. `taskcli 3 done`."
        );
        assert_eq!(
            refused(&["taskcli", "3", "4"]),
            "Say what to do with tasks 3 4: e.g. `taskcli 3 4 done`, or `taskcli show ID` for one."
        );
        assert_eq!(
            refused(&["taskcli", "3", "4", "--json"]),
            "Say what to do with tasks 3 4: e.g. `taskcli 3 4 done`, or `taskcli show ID` for one."
        );
        // Left for clap to judge.
        for unchanged in [
            &["taskcli", "done", "3"][..],
            &["taskcli", "x3", "done"],
            &["taskcli", "add", "3", "done"],
            &["taskcli"],
        ] {
            assert_eq!(reordered(unchanged), unchanged, "{unchanged:?}");
        }
    }

    fn parsed(args: &[&str]) -> Result<Command, CliError> {
        let argv = reorder(os(args))?;
        let mut cli = Cli::try_parse_from(&argv).expect("parses");
        apply(&mut cli.command, &argv).map(|()| cli.command)
    }

    #[test]
    fn add_takes_tags_due_and_priority_words() {
        let Ok(Command::Add(args)) = parsed(&[
            "taskcli",
            "add",
            "Buy",
            "bread",
            "+home",
            "pri:H",
            "due:2026-12-24",
            "-t",
            "x",
            "--",
            "Email",
            "+1",
            "due:x",
        ]) else {
            panic!("add");
        };
        assert_eq!(args.title, ["Buy", "bread", "Email", "+1", "due:x"]);
        assert_eq!(args.tags, ["x", "home"]);
        assert_eq!(args.priority, Some(PriorityArg::High));
        assert!(args.due.is_some());
        // Not tags: a `+` with nothing valid after it; a word with a colon.
        let Ok(Command::Add(args)) = parsed(&["taskcli", "add", "C", "+", "at", "10:30"]) else {
            panic!("add");
        };
        assert_eq!(args.title, ["C", "+", "at", "10:30"]);
        assert!(args.tags.is_empty());
        // Not tags either: words after `+` that start with a digit, such as
        // the CLI's own due form.
        let Ok(Command::Add(args)) = parsed(&["taskcli", "add", "Call", "+3d", "+1"]) else {
            panic!("add");
        };
        assert_eq!(args.title, ["Call", "+3d", "+1"]);
        assert!(args.tags.is_empty());
        // A quoted piece with spaces is text, colon or not.
        let Ok(Command::Add(args)) = parsed(&["taskcli", "add", "Due: send invoice"]) else {
            panic!("add");
        };
        assert_eq!(args.title, ["Due: send invoice"]);
        assert!(args.due.is_none());
    }

    #[test]
    fn words_that_cannot_be_taken_are_usage_errors() {
        let message = |args: &[&str]| match parsed(args) {
            Err(e) => {
                assert_eq!(e.exit, crate::error::Exit::Usage);
                e.message
            }
            Ok(command) => panic!("accepted {command:?}"),
        };
        assert_eq!(
            message(&["taskcli", "add", "x", "--project", "A", "project:B"]),
            "The project is given twice; give it once."
        );
        assert_eq!(
            message(&["taskcli", "3", "edit", "--no-recur", "recur:weekly"]),
            "The rule is given twice; give it once."
        );
        assert!(
            message(&["taskcli", "list", "recur:weekly"])
                .starts_with("`list` cannot filter by rule")
        );
        assert_eq!(
            message(&["taskcli", "add", "+home"]),
            "The title is empty: give words besides `+tag` and `name:value`, e.g. `taskcli add Buy bread +home`."
        );
        assert_eq!(
            message(&["taskcli", "add", "x", "--due", "today", "due:tomorrow"]),
            "The due date is given twice; give it once."
        );
        assert_eq!(
            message(&["taskcli", "add", "x", "pri:urgent"]),
            "`urgent` is not a priority: use H, M, L (or high, medium, low, none)."
        );
        assert!(message(&["taskcli", "add", "x", "due:someday"]).starts_with("In `due:someday`: "));
        assert_eq!(
            message(&["taskcli", "list", "+a", "+b"]),
            "`list` filters by one tag at a time; give one `+tag` or `--tag`."
        );
        assert_eq!(
            message(&["taskcli", "list", "milk"]),
            "`milk` is not a filter; to find it in titles and descriptions, run `taskcli list --search milk`."
        );
        assert_eq!(
            message(&["taskcli", "3", "modify", "New", "title", "+x"]),
            "To change the title, run `taskcli modify 3 --title 'New title' +x`."
        );
        assert!(message(&["taskcli", "add", "x", "wait:monday"]).contains("after `--`"));
        assert_eq!(
            message(&["taskcli", "list", "due:today", "+home"]),
            "`list` cannot filter by due date; `taskcli list --sort due +home` lists the soonest first."
        );
    }

    #[test]
    fn project_and_recur_words_are_their_flags() {
        let Ok(Command::Add(args)) = parsed(&[
            "taskcli",
            "add",
            "Water",
            "plants",
            "project:Home.Garden",
            "recur:weekly",
            "due:monday",
        ]) else {
            panic!("add");
        };
        assert_eq!(args.title, ["Water", "plants"]);
        assert_eq!(args.project.as_deref(), Some("Home.Garden"));
        assert_eq!(args.recur.as_deref(), Some("weekly"));
        let Ok(Command::Add(args)) = parsed(&["taskcli", "add", "x", "project:", "recur:"]) else {
            panic!("add");
        };
        assert_eq!((args.project, args.recur), (None, None));
        let Ok(Command::Edit(args)) = parsed(&["taskcli", "3", "modify", "project:", "recur:"])
        else {
            panic!("edit");
        };
        assert!(args.no_project && args.no_recur);
        let Ok(Command::Edit(args)) =
            parsed(&["taskcli", "3", "modify", "proj:Work", "recur:daily"])
        else {
            panic!("edit");
        };
        assert_eq!(args.project.as_deref(), Some("Work"));
        assert_eq!(args.recur.as_deref(), Some("daily"));
        let Ok(Command::List(args)) = parsed(&["taskcli", "list", "project:Home"]) else {
            panic!("list");
        };
        assert_eq!(args.project.as_deref(), Some("Home"));
        let Ok(Command::List(args)) = parsed(&["taskcli", "list", "project:"]) else {
            panic!("list");
        };
        assert_eq!(args.project.as_deref(), Some("-"));
    }

    #[test]
    fn edit_takes_tags_due_and_priority_words() {
        let Ok(Command::Edit(args)) = parsed(&["taskcli", "3", "edit", "+a", "due:", "prio:l"])
        else {
            panic!("edit");
        };
        assert_eq!(args.add_tags, ["a"]);
        assert!(args.no_due && args.due.is_none());
        assert_eq!(args.priority, Some(PriorityArg::Low));
    }

    #[test]
    fn quoting_keeps_words_whole() {
        assert_eq!(quote("+home"), "+home");
        assert_eq!(quote("two words"), "'two words'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("#7"), "'#7'");
    }
}
