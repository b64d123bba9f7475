//! The task commands: add, list, show, edit, done, undone, rm.

use crate::cli::{AddArgs, EditArgs, ListArgs};
use crate::error::{CliError, CliResult, Doing, Exit};
use crate::ids::TaskArg;
use crate::render::{task_details, task_table};
use crate::session::Context;
use chrono::Local;
use std::io::{BufRead, IsTerminal, Write};
use taskclient::{Client, Error as ApiError};
use taskcore::{
    Description, LIMIT_MAX, ListQuery, Priority, StatusFilter, Tags, Task, TaskDraft, TaskPatch,
    Title, ValidationErrors,
};

fn invalid(errors: ValidationErrors) -> CliError {
    let details: Vec<String> = errors
        .0
        .iter()
        .map(|e| format!("the {} {}", e.field, e.message))
        .collect();
    CliError::usage(format!("Invalid value: {}.", details.join("; ")))
}

fn parse_tags(tags: &[String]) -> CliResult<Tags> {
    Tags::parse(tags.iter().map(String::as_str)).map_err(|errors| {
        let details: Vec<String> = errors
            .0
            .iter()
            .map(|e| {
                // `tags[2]` names the index: say which tag the user typed.
                let shown = e
                    .field
                    .strip_prefix("tags[")
                    .and_then(|rest| rest.strip_suffix(']'))
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| tags.get(i))
                    .map(|tag| format!("the tag `{tag}`"))
                    .unwrap_or_else(|| "the tags".to_string());
                format!("{shown} {}", e.message)
            })
            .collect();
        CliError::usage(format!("Invalid tags: {}.", details.join("; ")))
    })
}

/// `taskcli add`.
pub async fn add(ctx: &Context, args: AddArgs) -> CliResult {
    let mut draft = TaskDraft::new(&args.title.join(" ")).map_err(invalid)?;
    if let Some(text) = &args.description {
        draft.description = Description::parse(text)
            .map_err(|m| CliError::usage(format!("The description {m}.")))?;
    }
    draft.priority = args.priority.map(Priority::from).unwrap_or_default();
    draft.due = args.due.map(|w| w.0);
    draft.tags = parse_tags(&args.tags)?;
    let (client, _) = ctx.client().await?;
    let task = client
        .create_task(&draft)
        .await
        .map_err(|e| ctx.api_error(e, Doing::General))?;
    if ctx.out.json {
        ctx.out.json(&task);
    } else {
        ctx.out
            .line(format!("Added task {}: {}", task.number, task.title));
    }
    Ok(())
}

/// `taskcli list`.
pub async fn list(ctx: &Context, args: ListArgs) -> CliResult {
    let status = match (args.all, args.done) {
        (true, _) => StatusFilter::All,
        (_, true) => StatusFilter::Completed,
        _ => StatusFilter::Pending,
    };
    let wanted = args.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let query = ListQuery {
        status,
        q: args.search.filter(|s| !s.is_empty()),
        tag: args.tag.filter(|t| !t.is_empty()),
        priority: args.priority.map(Priority::from),
        project: None,
        sort: args.sort.unwrap_or_default(),
        limit: LIMIT_MAX,
        cursor: None,
    };
    let (client, _) = ctx.client().await?;
    let mut tasks = Vec::new();
    // Whether the server holds matches past `--limit`.
    let mut more = false;
    let mut cursor = None;
    loop {
        let left = wanted.map(|n| n.saturating_sub(tasks.len()));
        let page = client
            .list_tasks(&ListQuery {
                limit: left.unwrap_or(LIMIT_MAX).clamp(1, LIMIT_MAX),
                cursor: cursor.take(),
                ..query.clone()
            })
            .await
            .map_err(|e| ctx.api_error(e, Doing::General))?;
        tasks.extend(page.tasks);
        let Some(next) = page.next_cursor else { break };
        if let Some(n) = wanted
            && tasks.len() >= n
        {
            more = true;
            tasks.truncate(n);
            break;
        }
        cursor = Some(next);
    }
    if ctx.out.json {
        ctx.out.json(&tasks);
        return Ok(());
    }
    if tasks.is_empty() {
        ctx.out.line(nothing_matches(&query));
    } else {
        ctx.out
            .line(task_table(&tasks, &Local::now(), ctx.out.table));
    }
    if more {
        // A hint for people, so never on stdout where scripts read the rows.
        let count = tasks.len();
        eprintln!(
            "Showing {count} task{}; more match (drop --limit or raise it to see them).",
            if count == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// What `list` says when nothing matched, naming the filters that were used:
/// `No pending tasks match tag "home" and search "milk".`
fn nothing_matches(query: &ListQuery) -> String {
    let what = match query.status {
        StatusFilter::Pending => "pending tasks",
        StatusFilter::Completed => "completed tasks",
        StatusFilter::All => "tasks",
    };
    let mut filters = Vec::new();
    if let Some(tag) = &query.tag {
        filters.push(format!("tag {tag:?}"));
    }
    if let Some(priority) = query.priority {
        filters.push(format!("priority {}", priority.as_str()));
    }
    if let Some(text) = &query.q {
        filters.push(format!("search {text:?}"));
    }
    match filters.split_last() {
        None => format!("No {what}."),
        Some((last, [])) => format!("No {what} match {last}."),
        Some((last, rest)) => format!("No {what} match {} and {last}.", rest.join(", ")),
    }
}

/// `taskcli show`.
pub async fn show(ctx: &Context, id: TaskArg) -> CliResult {
    let (client, _) = ctx.client().await?;
    let shown = id.to_string();
    let task = client
        .get_task(id.reference())
        .await
        .map_err(|e| ctx.api_error(e, Doing::Task(&shown)))?;
    if ctx.out.json {
        ctx.out.json(&task);
    } else {
        ctx.out.line(task_details(&task, &Local::now()));
    }
    Ok(())
}

/// `taskcli edit`.
pub async fn edit(ctx: &Context, args: EditArgs) -> CliResult {
    let mut patch = TaskPatch::default();
    if let Some(title) = &args.title {
        patch.title =
            Some(Title::parse(title).map_err(|m| CliError::usage(format!("The title {m}.")))?);
    }
    if let Some(text) = &args.description {
        patch.description = Some(
            Description::parse(text)
                .map_err(|m| CliError::usage(format!("The description {m}.")))?,
        );
    }
    patch.priority = args.priority.map(Priority::from);
    if let Some(due) = args.due {
        patch.due = Some(Some(due.0));
    } else if args.no_due {
        patch.due = Some(None);
    }
    if !args.tags.is_empty() {
        patch.tags = Some(parse_tags(&args.tags)?);
    }
    // Check the tags to add before any request.
    parse_tags(&args.add_tags)?;
    let adjusts_tags = !args.add_tags.is_empty() || !args.remove_tags.is_empty();
    if patch == TaskPatch::default() && !adjusts_tags {
        return Err(CliError::usage(
            "Nothing to change: give at least one of --title, --description, --due, --no-due, --priority, --tag, --add-tag, --remove-tag.",
        ));
    }
    let (client, _) = ctx.client().await?;
    let shown = id_text(&args.id);
    let reference = args.id.reference();
    let task = if adjusts_tags {
        // Read, change the tag set, write if nobody wrote in between; retry a few times.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let current = client
                .get_task(reference)
                .await
                .map_err(|e| ctx.api_error(e, Doing::Task(&shown)))?;
            let mut tags: Vec<String> = current
                .tags
                .iter()
                .filter(|t| !args.remove_tags.contains(t))
                .cloned()
                .collect();
            tags.extend(args.add_tags.iter().cloned());
            patch.tags = Some(parse_tags(&tags)?);
            match client
                .update_task(reference, &patch, Some(current.version))
                .await
            {
                Err(ApiError::VersionMismatch) if attempts < 3 => continue,
                result => break result.map_err(|e| ctx.api_error(e, Doing::Task(&shown)))?,
            }
        }
    } else {
        client
            .update_task(reference, &patch, None)
            .await
            .map_err(|e| ctx.api_error(e, Doing::Task(&shown)))?
    };
    if ctx.out.json {
        ctx.out.json(&task);
    } else {
        ctx.out
            .line(format!("Updated task {}: {}", task.number, task.title));
    }
    Ok(())
}

fn id_text(id: &TaskArg) -> String {
    id.to_string()
}

/// Remembers the first failure of a multi-id command while reporting each.
#[derive(Default)]
struct Outcomes {
    first_failure: Option<Exit>,
}

impl Outcomes {
    fn failed(&mut self, error: CliError) {
        eprintln!("error: {error}");
        self.first_failure.get_or_insert(error.exit);
    }

    fn finish(self) -> CliResult {
        match self.first_failure {
            Some(exit) => Err(CliError::reported(exit)),
            None => Ok(()),
        }
    }
}

/// `taskcli done` and `taskcli undone`.
pub async fn set_completed(ctx: &Context, ids: Vec<TaskArg>, completed: bool) -> CliResult {
    let (client, _) = ctx.client().await?;
    let mut outcomes = Outcomes::default();
    let mut changed: Vec<Task> = Vec::new();
    for id in ids {
        let shown = id_text(&id);
        match mark(&client, &id, completed).await {
            Ok((task, was_already)) => {
                if !ctx.out.json {
                    ctx.out.line(match (was_already, completed) {
                        (true, true) => format!("Task {} was already completed.", task.number),
                        (true, false) => format!("Task {} was already pending.", task.number),
                        (false, true) => format!("Completed task {}: {}", task.number, task.title),
                        (false, false) => format!("Reopened task {}: {}", task.number, task.title),
                    });
                }
                changed.push(task);
            }
            Err(e) => outcomes.failed(ctx.api_error(e, Doing::Task(&shown))),
        }
    }
    if ctx.out.json {
        ctx.out.json(&changed);
    }
    outcomes.finish()
}

/// Marks one task (not) completed; whether it already was. The write names
/// the version read, so "already" is never said of a state someone else
/// changed in between: a changed task is read again.
async fn mark(client: &Client, id: &TaskArg, completed: bool) -> Result<(Task, bool), ApiError> {
    let patch = TaskPatch {
        completed: Some(completed),
        ..TaskPatch::default()
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let current = client.get_task(id.reference()).await?;
        if current.completed == completed {
            return Ok((current, true));
        }
        match client
            .update_task(
                taskcore::TaskRef::Id(current.id),
                &patch,
                Some(current.version),
            )
            .await
        {
            Err(ApiError::VersionMismatch) if attempts < 3 => continue,
            result => return result.map(|task| (task, false)),
        }
    }
}

/// `taskcli rm`. Every task is read first, so that both ways (asked, or
/// `--yes`) say what was deleted the same way, and `--json` can print it.
pub async fn remove(ctx: &Context, ids: Vec<TaskArg>, yes: bool) -> CliResult {
    let interactive = std::io::stdin().is_terminal();
    if !yes && !interactive {
        return Err(CliError::usage(
            "Refusing to delete without --yes, because stdin is not a terminal to ask for confirmation.",
        ));
    }
    let (client, _) = ctx.client().await?;
    let mut outcomes = Outcomes::default();
    let mut targets: Vec<(TaskArg, Task)> = Vec::new();
    for id in ids {
        match client.get_task(id.reference()).await {
            Ok(task) => targets.push((id, task)),
            Err(e) => outcomes.failed(ctx.api_error(e, Doing::Task(&id_text(&id)))),
        }
    }
    if targets.is_empty() {
        if ctx.out.json {
            ctx.out.json(&[] as &[Task]);
        }
        return outcomes.finish();
    }
    if !yes {
        let tasks: Vec<&Task> = targets.iter().map(|(_, task)| task).collect();
        let mut stderr = std::io::stderr().lock();
        let agreed = confirm(&tasks, &mut std::io::stdin().lock(), &mut stderr)
            .map_err(|e| CliError::failure(format!("Could not ask for confirmation: {e}.")))?;
        if !agreed {
            let _ = writeln!(stderr, "Nothing was deleted.");
            outcomes.first_failure.get_or_insert(Exit::Failure);
            return outcomes.finish();
        }
    }
    let mut deleted = Vec::new();
    for (id, task) in targets {
        // Asked: delete the version the user saw, not whatever it has
        // become since. With --yes: whatever it is now.
        let version = (!yes).then_some(task.version);
        match client
            .delete_task(taskcore::TaskRef::Id(task.id), version)
            .await
        {
            Ok(()) => {
                if !ctx.out.json {
                    ctx.out
                        .line(format!("Deleted task {}: {}", task.number, task.title));
                }
                deleted.push(task);
            }
            Err(e) => outcomes.failed(ctx.api_error(e, Doing::Task(&id_text(&id)))),
        }
    }
    if ctx.out.json {
        ctx.out.json(&deleted);
    }
    outcomes.finish()
}

/// Lists the tasks on `prompt` and reads `[y/N]` from `answer`. At the end of
/// input (Ctrl-D) the prompt's line is ended first, so what follows starts on
/// a line of its own.
fn confirm(
    tasks: &[&Task],
    answer: &mut impl BufRead,
    prompt: &mut impl Write,
) -> std::io::Result<bool> {
    let count = tasks.len();
    writeln!(
        prompt,
        "Delete {count} task{}?",
        if count == 1 { "" } else { "s" }
    )?;
    for task in tasks {
        writeln!(prompt, "  #{}  {}", task.number, task.title)?;
    }
    write!(prompt, "[y/N] ")?;
    prompt.flush()?;
    let mut line = String::new();
    if answer.read_line(&mut line)? == 0 {
        writeln!(prompt)?;
        return Ok(false);
    }
    Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskcore::{TaskId, Timestamp};

    fn task(number: u64, title: &str) -> Task {
        Task::new(
            TaskId::generate(),
            number,
            TaskDraft::new(title).expect("valid"),
            Timestamp::now(),
        )
    }

    fn ask(input: &str) -> (bool, String) {
        let (a, b) = (task(8, "Water the plants"), task(11, "Due test"));
        let mut prompt = Vec::new();
        let agreed = confirm(&[&a, &b], &mut input.as_bytes(), &mut prompt).expect("io");
        (agreed, String::from_utf8(prompt).expect("utf-8"))
    }

    #[test]
    fn the_prompt_lists_the_tasks_and_takes_yes() {
        let (agreed, shown) = ask("y\n");
        assert!(agreed);
        assert_eq!(
            shown,
            "Delete 2 tasks?\n  #8  Water the plants\n  #11  Due test\n[y/N] "
        );
        for no in ["\n", "n\n", "nope\n"] {
            assert!(!ask(no).0, "{no:?}");
        }
    }

    #[test]
    fn end_of_input_at_the_prompt_ends_the_line() {
        let (agreed, shown) = ask("");
        assert!(!agreed);
        assert!(shown.ends_with("[y/N] \n"), "{shown:?}");
    }
}
