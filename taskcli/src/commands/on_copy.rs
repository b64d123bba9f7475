//! The task commands on the local copy: reads answer from it, writes
//! change it at once (on disk before anything else happens) and then sync
//! within the budget. What they print is the online commands' own words,
//! with `~1` for a task the server has not numbered yet.

use super::tasks::{
    Outcomes, agreed_to_delete, already, check_rule, id_text, needs_due, print_list, reopened,
    repeats, rule_fix, series_end, updated_line,
};
use crate::cli::EditArgs;
use crate::dates::local_day;
use crate::error::{CliError, CliResult, Doing};
use crate::ids::TaskArg;
use crate::local::{
    AfterWrite, LocalCopy, ReadCopy, SYNC_BUDGET, Unsynced, json_of, replica_error, report_dropped,
};
use crate::render::task_details;
use crate::session::Context;
use chrono::Local;
use serde_json::Value;
use taskclient::{Error as ApiError, LocalRef, LocalTask, ReplicaError, SyncReport};
use taskcore::{ListQuery, TaskDraft, TaskId, TaskPatch};

/// `taskcli add`: the number when the sync got through, else the handle.
pub async fn add(ctx: &Context, local: &LocalCopy<'_>, draft: TaskDraft) -> CliResult {
    let added = local.replica.create(draft).map_err(replica_error)?;
    let synced = local.sync_after_write(&[added.task.id]).await;
    if let Some(refused) = synced.refusal(added.task.id) {
        synced.tell();
        return Err(refused);
    }
    let task = current(local, added.task.id)?.unwrap_or(added);
    if ctx.out.json {
        ctx.out.json(&json_of(&task));
    } else {
        let label = match task.number() {
            Some(number) => number.to_string(),
            None => format!("{} (not synced yet)", task.label()),
        };
        ctx.out.line(format!(
            "Added task {label}: {}{}",
            task.task.title,
            repeats(&task.task)
        ));
    }
    synced.tell();
    Ok(())
}

/// `taskcli list`: every match from the copy, in the server's order.
pub fn list(
    ctx: &Context,
    copy: &ReadCopy<'_>,
    query: &ListQuery,
    wanted: Option<usize>,
) -> CliResult {
    let mut tasks = copy.list(query)?;
    let more = wanted.is_some_and(|n| tasks.len() > n);
    if let Some(n) = wanted {
        tasks.truncate(n);
    }
    if ctx.out.json {
        ctx.out
            .json(&Value::Array(tasks.iter().map(json_of).collect()));
    }
    print_list(ctx, &tasks, query, more);
    Ok(())
}

/// `taskcli show`. A task the fresh view does not have may be new on the
/// server: the copy is opened to look for it there ([`find`]).
pub async fn show(ctx: &Context, copy: ReadCopy<'_>, id: TaskArg) -> CliResult {
    let task = match copy.get(&id.0)? {
        Some(task) => task,
        None => match copy {
            ReadCopy::Open(local) => find(ctx, &local, &id).await?,
            ReadCopy::View(_) => {
                let local = LocalCopy::open(ctx)
                    .await?
                    .ok_or_else(|| ctx.not_logged_in())?;
                find(ctx, &local, &id).await?
            }
        },
    };
    if ctx.out.json {
        ctx.out.json(&json_of(&task));
    } else {
        ctx.out.line(task_details(&task, &Local::now()));
    }
    Ok(())
}

/// `taskcli edit`.
pub async fn edit(
    ctx: &Context,
    local: &LocalCopy<'_>,
    args: &EditArgs,
    patch: TaskPatch,
) -> CliResult {
    let shown = id_text(&args.id);
    let current = find(ctx, local, &args.id).await?;
    if let Some(Some(rule)) = &patch.recur {
        let due = patch.due.unwrap_or(current.task.due);
        check_rule(rule, due, &rule_fix(rule, &current.task))?;
    }
    let removes_due = patch.due == Some(None) && patch.recur.is_none();
    let edited = local
        .replica
        .update(&LocalRef::Id(current.task.id), patch)
        .map_err(|e| match e {
            ReplicaError::Invalid(errors)
                if removes_due && errors.0.iter().any(|e| e.field == "due") =>
            {
                needs_due(&shown)
            }
            ReplicaError::Invalid(errors) => ctx.api_error(
                ApiError::Validation { errors: errors.0 },
                Doing::Task(&shown),
            ),
            other => replica_error(other),
        })?;
    let synced = local.sync_after_write(&[edited.task.id]).await;
    if let Some(refused) = synced.refusal(edited.task.id) {
        synced.tell();
        return Err(refused);
    }
    let task = current_or(local, edited)?;
    if ctx.out.json {
        ctx.out.json(&json_of(&task));
    } else {
        ctx.out.line(updated_line(args, &task.task, &task.label()));
    }
    synced.tell();
    Ok(())
}

/// `taskcli done` and `taskcli undone`: every task changed here first,
/// then one sync for all of them.
pub async fn set_completed(
    ctx: &Context,
    local: &LocalCopy<'_>,
    ids: Vec<TaskArg>,
    completed: bool,
) -> CliResult {
    let mut outcomes = Outcomes::default();
    // Each task, and whether this command changed it.
    let mut marked: Vec<(TaskId, bool)> = Vec::new();
    for id in &ids {
        let result = match find(ctx, local, id).await {
            Ok(task) if task.task.completed == completed => Ok((task.task.id, false)),
            Ok(task) => {
                let patch = TaskPatch {
                    completed: Some(completed),
                    ..TaskPatch::default()
                };
                local
                    .replica
                    .update(&LocalRef::Id(task.task.id), patch)
                    .map(|_| (task.task.id, true))
                    .map_err(replica_error)
            }
            Err(error) => Err(error),
        };
        match result {
            Ok(done) => marked.push(done),
            Err(error) => outcomes.failed(error),
        }
    }
    let changed: Vec<TaskId> = marked
        .iter()
        .filter(|(_, changed)| *changed)
        .map(|(id, _)| *id)
        .collect();
    let synced = if changed.is_empty() {
        AfterWrite::default()
    } else {
        local.sync_after_write(&changed).await
    };
    let report = synced.report.as_ref();
    let mut shown = Vec::new();
    for (id, changed) in marked {
        if let Some(refused) = synced.refusal(id) {
            outcomes.failed(refused);
            continue;
        }
        let Some(task) = current(local, id)? else {
            // Deleted elsewhere, which the sync found and reported.
            continue;
        };
        if !ctx.out.json {
            let label = task.label();
            ctx.out.line(match (changed, completed) {
                (false, _) => already(completed, &label),
                (true, true) => format!(
                    "Completed task {label}: {}{}",
                    task.task.title,
                    next_note(local, &task, report)?
                ),
                (true, false) => reopened(&task.task, &label),
            });
        }
        shown.push(json_of(&task));
    }
    if ctx.out.json {
        ctx.out.json(&Value::Array(shown));
    }
    synced.tell();
    outcomes.finish()
}

/// What `done` adds about a recurring task: its successor once the sync
/// brought it, the end of its series, or that the next one comes with the
/// next sync.
fn next_note(
    local: &LocalCopy<'_>,
    done: &LocalTask,
    report: Option<&SyncReport>,
) -> CliResult<String> {
    if done.task.recur.is_none() {
        return Ok(String::new());
    }
    let Some(report) = report else {
        return Ok("; the next one is made when this is synced".to_string());
    };
    let next = report
        .successors
        .iter()
        .find(|s| s.completed == done.task.id)
        .map(|s| s.next);
    Ok(
        match next.map(|id| current(local, id)).transpose()?.flatten() {
            Some(next) => match next.task.due {
                Some(due) => format!("; next: task {}, due {}", next.label(), local_day(due)),
                None => format!("; next: task {}", next.label()),
            },
            None => series_end(&done.task),
        },
    )
}

/// `taskcli rm`: asked about (or `--yes`), deleted here, then synced.
pub async fn remove(
    ctx: &Context,
    local: &LocalCopy<'_>,
    ids: Vec<TaskArg>,
    yes: bool,
) -> CliResult {
    let mut outcomes = Outcomes::default();
    let mut targets: Vec<(TaskArg, LocalTask)> = Vec::new();
    for id in ids {
        match find(ctx, local, &id).await {
            Ok(task) => targets.push((id, task)),
            Err(error) => outcomes.failed(error),
        }
    }
    if !yes && !targets.is_empty() {
        let asked: Vec<&LocalTask> = targets.iter().map(|(_, task)| task).collect();
        if !agreed_to_delete(&asked, &mut outcomes)? {
            return outcomes.finish();
        }
    }
    let mut deleted = Vec::new();
    for (id, task) in targets {
        // A task named twice (by number and by id) is gone the second time.
        match local.replica.delete(&LocalRef::Id(task.task.id)) {
            Ok(()) => deleted.push(task),
            Err(ReplicaError::NotFound(_)) => {
                outcomes.failed(ctx.api_error(ApiError::NotFound, Doing::Task(&id_text(&id))))
            }
            Err(error) => outcomes.failed(replica_error(error)),
        }
    }
    let synced = if deleted.is_empty() {
        AfterWrite::default()
    } else {
        let ids: Vec<TaskId> = deleted.iter().map(|task| task.task.id).collect();
        local.sync_after_write(&ids).await
    };
    if ctx.out.json {
        ctx.out
            .json(&Value::Array(deleted.iter().map(json_of).collect()));
    } else {
        for task in &deleted {
            ctx.out.line(format!(
                "Deleted task {}: {}",
                task.label(),
                task.task.title
            ));
        }
    }
    synced.tell();
    outcomes.finish()
}

/// The task `id` names in the copy. One the copy does not have may be new
/// on the server (made on another device since the last sync): the copy
/// is synced once, within the budget, before it is called missing.
async fn find(ctx: &Context, local: &LocalCopy<'_>, id: &TaskArg) -> CliResult<LocalTask> {
    if let Some(task) = local.replica.get(&id.0).map_err(replica_error)? {
        return Ok(task);
    }
    let missing = || ctx.api_error(ApiError::NotFound, Doing::Task(&id_text(id)));
    if matches!(id.0, LocalRef::Handle(_)) {
        return Err(missing());
    }
    match local.sync_within(SYNC_BUDGET).await {
        Ok(report) => {
            report_dropped(&report);
            local
                .replica
                .get(&id.0)
                .map_err(replica_error)?
                .ok_or_else(missing)
        }
        Err(Unsynced {
            error,
            offline: true,
        }) => Err(CliError::not_found(format!(
            "No task {} in the copy of your tasks on this machine, and it could not be synced: {}",
            id_text(id),
            error.message
        ))),
        Err(Unsynced { error, .. }) => Err(error),
    }
}

/// The task with this id as the copy has it now (after a sync).
fn current(local: &LocalCopy<'_>, id: TaskId) -> CliResult<Option<LocalTask>> {
    local.replica.get(&LocalRef::Id(id)).map_err(replica_error)
}

/// [`current`], or `fallback` if the copy no longer has it.
fn current_or(local: &LocalCopy<'_>, fallback: LocalTask) -> CliResult<LocalTask> {
    Ok(current(local, fallback.task.id)?.unwrap_or(fallback))
}
