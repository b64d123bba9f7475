//! The task commands: add, list, show, edit, done, undone, rm, projects.

use crate::cli::{AddArgs, EditArgs, ListArgs};
use crate::dates::local_day;
use crate::error::{CliError, CliResult, Doing, Exit};
use crate::fields;
use crate::habits::quote;
use crate::ids::TaskArg;
use crate::local::{LocalCopy, ReadCopy};
use crate::render::{Labelled, project_tree, task_details, task_table};
use crate::session::Context;
use chrono::Local;
use std::io::{BufRead, IsTerminal, Write};
use taskclient::{Client, Error as ApiError, Updated};
use taskcore::{
    Description, LIMIT_MAX, ListQuery, Priority, ProjectFilter, ProjectList, Recur, StatusFilter,
    Tags, Task, TaskDraft, TaskId, TaskPatch, TaskRef, Title, ValidationErrors,
};

use super::on_copy;

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
    let draft = draft_of(&args)?;
    if let Some(local) = LocalCopy::open(ctx).await? {
        return on_copy::add(ctx, &local, draft).await;
    }
    let (client, _) = ctx.client().await?;
    let task = client
        .create_task(&draft)
        .await
        .map_err(|e| ctx.api_error(e, Doing::General))?;
    if ctx.out.json {
        ctx.out.json(&task);
    } else {
        ctx.out.line(format!(
            "Added task {}: {}{}",
            task.number,
            task.title,
            repeats(&task)
        ));
    }
    Ok(())
}

/// The task `add` describes, checked before anything is written.
fn draft_of(args: &AddArgs) -> CliResult<TaskDraft> {
    let mut draft = TaskDraft::new(&args.title.join(" ")).map_err(invalid)?;
    if let Some(text) = &args.description {
        draft.description = Description::parse(text)
            .map_err(|m| CliError::usage(format!("The description {m}.")))?;
    }
    draft.priority = args.priority.map(Priority::from).unwrap_or_default();
    draft.due = args.due.map(|w| w.0);
    draft.tags = parse_tags(&args.tags)?;
    draft.project = args.project.as_deref().map(fields::project).transpose()?;
    draft.recur = args.recur.as_deref().map(fields::rule).transpose()?;
    if let Some(rule) = &draft.recur {
        check_rule(rule, draft.due, "add --due WHEN (e.g. --due monday)")?;
    }
    Ok(draft)
}

/// A rule needs a due date, the first date of its series, and a date on or
/// after it: said before any request. `fix` says how to give a due date.
pub(super) fn check_rule(rule: &Recur, due: Option<taskcore::Timestamp>, fix: &str) -> CliResult {
    match due {
        None => Err(CliError::usage(format!(
            "A recurring task needs a due date, the first date of its series: {fix}."
        ))),
        Some(due) if !rule.has_date_at_or_after(due, due) => Err(CliError::usage(format!(
            "The rule {rule} has no date on or after the due date: its UNTIL is before it."
        ))),
        Some(_) => Ok(()),
    }
}

/// `; repeats weekly` for a task with a rule, else nothing.
pub(super) fn repeats(task: &Task) -> String {
    task.recur
        .as_ref()
        .map(|rule| format!("; repeats {}", rule.describe()))
        .unwrap_or_default()
}

/// `taskcli list`.
pub async fn list(ctx: &Context, args: ListArgs) -> CliResult {
    let (query, wanted) = query_of(args)?;
    if let Some(copy) = ReadCopy::open(ctx).await? {
        return on_copy::list(ctx, &copy, &query, wanted);
    }
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
    }
    print_list(ctx, &tasks, &query, more);
    Ok(())
}

/// What `list` asks for, and how many rows at most (`--limit`).
fn query_of(args: ListArgs) -> CliResult<(ListQuery, Option<usize>)> {
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
        project: args
            .project
            .as_deref()
            .map(fields::project_filter)
            .transpose()?,
        sort: args.sort.unwrap_or_default(),
        limit: LIMIT_MAX,
        cursor: None,
    };
    Ok((query, wanted))
}

/// Prints `list`'s table, or what matched nothing, and a hint when
/// `--limit` left matches out. With `--json` the caller prints the array,
/// and nothing else is said.
pub(super) fn print_list<T: Labelled>(ctx: &Context, tasks: &[T], query: &ListQuery, more: bool) {
    if ctx.out.json {
        return;
    }
    if tasks.is_empty() {
        ctx.out.line(nothing_matches(query));
    } else {
        ctx.out
            .line(task_table(tasks, &Local::now(), ctx.out.table));
    }
    if more {
        // A hint for people, so never on stdout where scripts read the rows.
        let count = tasks.len();
        eprintln!(
            "Showing {count} task{}; more match (drop --limit or raise it to see them).",
            if count == 1 { "" } else { "s" }
        );
    }
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
    if let Some(ProjectFilter::Within(project)) = &query.project {
        filters.push(format!("project {:?}", project.as_str()));
    }
    if let Some(text) = &query.q {
        filters.push(format!("search {text:?}"));
    }
    let what = match &query.project {
        Some(ProjectFilter::None) => format!("{what} without a project"),
        _ => what.to_string(),
    };
    match filters.split_last() {
        None => format!("No {what}."),
        Some((last, [])) => format!("No {what} match {last}."),
        Some((last, rest)) => format!("No {what} match {} and {last}.", rest.join(", ")),
    }
}

/// `taskcli show`.
pub async fn show(ctx: &Context, id: TaskArg) -> CliResult {
    if let Some(copy) = ReadCopy::open(ctx).await? {
        return on_copy::show(ctx, copy, id).await;
    }
    let reference = online(&id)?;
    let (client, _) = ctx.client().await?;
    let shown = id.to_string();
    let task = client
        .get_task(reference)
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
    let patch = patch_of(&args)?;
    if let Some(local) = LocalCopy::open(ctx).await? {
        return on_copy::edit(ctx, &local, &args, patch).await;
    }
    let shown = id_text(&args.id);
    let reference = online(&args.id)?;
    let (client, _) = ctx.client().await?;
    let mut if_match = None;
    if let Some(Some(rule)) = &patch.recur {
        // The rule needs the due date the task will have: check it before
        // writing, and write only what was checked.
        let current = client
            .get_task(reference)
            .await
            .map_err(|e| ctx.api_error(e, Doing::Task(&shown)))?;
        check_rule(
            rule,
            patch.due.unwrap_or(current.due),
            &rule_fix(rule, &current),
        )?;
        if_match = Some(current.version);
    }
    let removes_due = patch.due == Some(None) && patch.recur.is_none();
    let mut update = client.update(reference).patch(patch);
    if let Some(version) = if_match {
        update = update.if_match(version);
    }
    let task = update
        .send()
        .await
        .map_err(|e| match e {
            // The server's own words (`due a recurring task needs a due date`)
            // do not say what to type.
            ApiError::Validation { errors }
                if removes_due && errors.iter().any(|e| e.field == "due") =>
            {
                needs_due(&shown)
            }
            other => ctx.api_error(other, Doing::Task(&shown)),
        })?
        .task;
    if ctx.out.json {
        ctx.out.json(&task);
    } else {
        ctx.out
            .line(updated_line(&args, &task, &task.number.to_string()));
    }
    Ok(())
}

/// `Updated task 12: title`, with the rule when `--recur` set one.
pub(super) fn updated_line(args: &EditArgs, task: &Task, label: &str) -> String {
    let rule = if args.recur.is_some() {
        repeats(task)
    } else {
        String::new()
    };
    format!("Updated task {label}: {}{rule}", task.title)
}

/// How to give a task a due date so that `rule` can repeat it.
pub(super) fn rule_fix(rule: &Recur, current: &Task) -> String {
    format!(
        "task {number} has none, so give it one, e.g. `taskcli edit {number} --recur {} --due monday`",
        quote(&rule.describe()),
        number = current.number,
    )
}

/// Removing the due date of a recurring task, in words that say what to type.
pub(super) fn needs_due(shown: &str) -> CliError {
    CliError::failure(format!(
        "Task {shown} repeats, and a recurring task needs a due date: remove both with --no-due --no-recur, or give another date with --due WHEN."
    ))
}

/// The change `edit` describes, checked before anything is read or written.
fn patch_of(args: &EditArgs) -> CliResult<TaskPatch> {
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
    // The server adds and removes just these, so an edit of other tags made
    // elsewhere in the meantime is kept.
    if !args.add_tags.is_empty() {
        patch.add_tags = Some(parse_tags(&args.add_tags)?);
    }
    if !args.remove_tags.is_empty() {
        patch.remove_tags = Some(parse_tags(&args.remove_tags)?);
    }
    if let Some(project) = &args.project {
        patch.project = Some(Some(fields::project(project)?));
    } else if args.no_project {
        patch.project = Some(None);
    }
    if let Some(rule) = &args.recur {
        patch.recur = Some(Some(fields::rule(rule)?));
    } else if args.no_recur {
        patch.recur = Some(None);
    }
    if patch == TaskPatch::default() {
        return Err(CliError::usage(
            "Nothing to change: give at least one of --title, --description, --due, --no-due, --priority, --tag, --add-tag, --remove-tag, --project, --no-project, --recur, --no-recur.",
        ));
    }
    if let Some(Some(rule)) = &patch.recur
        && patch.due == Some(None)
    {
        // `due:` typed with --recur, which clap cannot see.
        check_rule(rule, None, "give --due WHEN instead of removing it")?;
    }
    Ok(patch)
}

/// The API's reference for a task, or why a local handle cannot be used
/// online.
fn online(id: &TaskArg) -> CliResult<TaskRef> {
    id.reference().ok_or_else(|| {
        CliError::usage(format!(
            "`{id}` names a task added offline, which only the copy of your tasks on this machine knows; it cannot be used with --no-replica, TASKCLI_REPLICA=0 or TASKCLI_TOKEN."
        ))
    })
}

pub(super) fn id_text(id: &TaskArg) -> String {
    id.to_string()
}

/// Remembers the first failure of a multi-id command while reporting each.
#[derive(Default)]
pub(super) struct Outcomes {
    pub(super) first_failure: Option<Exit>,
}

impl Outcomes {
    pub(super) fn failed(&mut self, error: CliError) {
        eprintln!("error: {error}");
        self.first_failure.get_or_insert(error.exit);
    }

    pub(super) fn finish(self) -> CliResult {
        match self.first_failure {
            Some(exit) => Err(CliError::reported(exit)),
            None => Ok(()),
        }
    }
}

/// `taskcli done` and `taskcli undone`.
pub async fn set_completed(ctx: &Context, ids: Vec<TaskArg>, completed: bool) -> CliResult {
    if let Some(local) = LocalCopy::open(ctx).await? {
        return on_copy::set_completed(ctx, &local, ids, completed).await;
    }
    let references = ids.iter().map(online).collect::<CliResult<Vec<_>>>()?;
    let (client, _) = ctx.client().await?;
    let mut outcomes = Outcomes::default();
    let mut changed: Vec<Task> = Vec::new();
    for (id, reference) in ids.iter().zip(references) {
        let shown = id_text(id);
        match mark(&client, reference, completed).await {
            Ok(Marked::Already(task)) => {
                if !ctx.out.json {
                    ctx.out.line(already(completed, &task.number.to_string()));
                }
                changed.push(task);
            }
            Ok(Marked::Now(Updated { task, next })) => {
                if !ctx.out.json {
                    ctx.out.line(if completed {
                        format!(
                            "Completed task {}: {}{}",
                            task.number,
                            task.title,
                            successor_note(&client, &task, next).await
                        )
                    } else {
                        reopened(&task, &task.number.to_string())
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

/// `Task 7 was already completed.` (or pending).
pub(super) fn already(completed: bool, label: &str) -> String {
    if completed {
        format!("Task {label} was already completed.")
    } else {
        format!("Task {label} was already pending.")
    }
}

/// `Reopened task 7: title`.
pub(super) fn reopened(task: &Task, label: &str) -> String {
    format!("Reopened task {label}: {}", task.title)
}

/// What `done` adds about a recurring task: `; next: task 9, due Mon
/// 2026-12-14` when the server named a successor; `; the series has ended`
/// when it named none and the rule can end (`COUNT` or `UNTIL`); else nothing.
async fn successor_note(client: &Client, done: &Task, next: Option<TaskId>) -> String {
    match next {
        Some(id) => match client.get_task(TaskRef::Id(id)).await {
            Ok(next) => match next.due {
                Some(due) => format!("; next: task {}, due {}", next.number, local_day(due)),
                None => format!("; next: task {}", next.number),
            },
            // The completion itself went through: say what is known.
            Err(_) => format!("; next: task {id}"),
        },
        None => series_end(done),
    }
}

/// `; the series has ended` for a completed task without a successor whose
/// rule can end (`COUNT` or `UNTIL`); else nothing.
pub(super) fn series_end(done: &Task) -> String {
    if done
        .recur
        .as_ref()
        .is_some_and(|rule| rule.count().is_some() || rule.until().is_some())
    {
        "; the series has ended".to_string()
    } else {
        String::new()
    }
}

/// What [`mark`] found or did.
enum Marked {
    /// The task already was as asked: nothing written.
    Already(Task),
    /// Written now; for a recurring task completed, with its successor.
    Now(Updated),
}

/// Marks one task (not) completed. The write names the version read, so
/// "already" is never said of a state someone else changed in between: a
/// changed task is read again.
async fn mark(client: &Client, id: TaskRef, completed: bool) -> Result<Marked, ApiError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let current = client.get_task(id).await?;
        if current.completed == completed {
            return Ok(Marked::Already(current));
        }
        match client
            .update(TaskRef::Id(current.id))
            .completed(completed)
            .if_match(current.version)
            .send()
            .await
        {
            Err(ApiError::VersionMismatch) if attempts < 3 => continue,
            result => return result.map(Marked::Now),
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
    if let Some(local) = LocalCopy::open(ctx).await? {
        return on_copy::remove(ctx, &local, ids, yes).await;
    }
    let references = ids.iter().map(online).collect::<CliResult<Vec<_>>>()?;
    let (client, _) = ctx.client().await?;
    let mut outcomes = Outcomes::default();
    let mut targets: Vec<(TaskArg, Task)> = Vec::new();
    for (id, reference) in ids.into_iter().zip(references) {
        match client.get_task(reference).await {
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
        if !agreed_to_delete(&tasks, &mut outcomes)? {
            return outcomes.finish();
        }
    }
    let mut deleted = Vec::new();
    for (id, task) in targets {
        // Asked: delete the version the user saw, not whatever it has
        // become since. With --yes: whatever it is now.
        let version = (!yes).then_some(task.version);
        match client.delete_task(TaskRef::Id(task.id), version).await {
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

/// Asks on the terminal whether to delete `tasks`; on no, says that
/// nothing was deleted and notes the failure.
pub(super) fn agreed_to_delete<T: Labelled>(
    tasks: &[&T],
    outcomes: &mut Outcomes,
) -> CliResult<bool> {
    let mut stderr = std::io::stderr().lock();
    let agreed = confirm(tasks, &mut std::io::stdin().lock(), &mut stderr)
        .map_err(|e| CliError::failure(format!("Could not ask for confirmation: {e}.")))?;
    if !agreed {
        let _ = writeln!(stderr, "Nothing was deleted.");
        outcomes.first_failure.get_or_insert(Exit::Failure);
    }
    Ok(agreed)
}

/// `taskcli projects`.
pub async fn projects(ctx: &Context) -> CliResult {
    let projects = match ReadCopy::open(ctx).await? {
        Some(copy) => copy.projects()?,
        None => {
            let (client, _) = ctx.client().await?;
            client
                .projects()
                .await
                .map_err(|e| ctx.api_error(e, Doing::General))?
        }
    };
    if ctx.out.json {
        ctx.out.json(&ProjectList { projects });
    } else if projects.is_empty() {
        ctx.out.line(
            "No projects yet; give a task one with `taskcli add TITLE --project NAME` or `taskcli edit ID --project NAME`.",
        );
    } else {
        ctx.out.line(project_tree(&projects, ctx.out.table));
    }
    Ok(())
}

/// Lists the tasks on `prompt` and reads `[y/N]` from `answer`. At the end of
/// input (Ctrl-D) the prompt's line is ended first, so what follows starts on
/// a line of its own.
fn confirm<T: Labelled>(
    tasks: &[&T],
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
        let label = task.label();
        let hash = if label.starts_with('~') { "" } else { "#" };
        writeln!(prompt, "  {hash}{label}  {}", task.task().title)?;
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
