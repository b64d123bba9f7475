//! `taskcli sync`: send the changes made here, fetch the server's.

use crate::error::{CliError, CliResult};
use crate::local::{LocalCopy, Unsynced, report_dropped, waiting};
use crate::session::Context;
use serde::Serialize;
use std::time::Duration;

/// How long `taskcli sync` waits for the server: asked for, it may take
/// longer than a command's budget (a first sync of many tasks), but a
/// server that hangs still ends it.
const SYNC_COMMAND_BUDGET: Duration = Duration::from_secs(30);

/// `taskcli sync --json`.
#[derive(Serialize)]
struct Synced<'a> {
    server: &'a str,
    sent: usize,
    received: usize,
    dropped: usize,
    /// Changes still waiting (0 after a sync that got through).
    queued: usize,
}

/// `taskcli sync`.
pub async fn run(ctx: &Context) -> CliResult {
    let Some(local) = LocalCopy::open(ctx).await? else {
        return Err(CliError::usage(
            "There is no copy of your tasks on this machine to sync: with --no-replica, TASKCLI_REPLICA=0 or TASKCLI_TOKEN every command asks the server.",
        ));
    };
    let report = match local.sync_within(SYNC_COMMAND_BUDGET).await {
        Ok(report) => report,
        Err(Unsynced { error, offline }) => {
            let queued = local.replica.queued();
            let message = if offline && queued > 0 {
                format!("{} {} to be synced.", error.message, waiting(queued))
            } else {
                error.message
            };
            return Err(CliError { message, ..error });
        }
    };
    if ctx.out.json {
        ctx.out.json(&Synced {
            server: &ctx.server,
            sent: report.sent,
            received: report.received,
            dropped: report.dropped.len(),
            queued: local.replica.queued(),
        });
    } else {
        ctx.out.line(format!(
            "Synced with {}: sent {}, received {}, dropped {}.",
            ctx.server,
            report.sent,
            report.received,
            report.dropped.len()
        ));
    }
    report_dropped(&report);
    for numbered in &report.numbered {
        eprintln!("Task ~{} is now task {}.", numbered.handle, numbered.number);
    }
    Ok(())
}
