//! What each command does.

mod auth;
mod on_copy;
mod sync;
mod tasks;

use crate::cli::{Cli, Command};
use crate::env::Environment;
use crate::error::CliResult;
use crate::session::Context;

/// Runs a parsed command line (other than `completions`) in `env`.
pub async fn run(cli: Cli, env: Environment) -> CliResult {
    let ctx = Context::new(&cli.global, env)?;
    match cli.command {
        Command::Auth(command) => auth::run(&ctx, command).await,
        Command::Add(args) => tasks::add(&ctx, args).await,
        Command::List(args) => tasks::list(&ctx, args).await,
        Command::Show { id } => tasks::show(&ctx, id).await,
        Command::Edit(args) => tasks::edit(&ctx, args).await,
        Command::Done { ids } => tasks::set_completed(&ctx, ids, true).await,
        Command::Undone { ids } => tasks::set_completed(&ctx, ids, false).await,
        Command::Rm { ids, yes } => tasks::remove(&ctx, ids, yes).await,
        Command::Projects => tasks::projects(&ctx).await,
        Command::Sync => sync::run(&ctx).await,
        // Handled before a runtime is even built.
        Command::Completions { .. } => Ok(()),
    }
}
