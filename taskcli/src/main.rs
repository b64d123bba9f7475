//! `taskcli`: a terminal client for the task API.
//!
//! A thin shell over [`taskclient`]: flags are parsed by clap, tokens live in
//! the OS keyring (or, with `--insecure-storage`, in a private file), and
//! every failure ends as one sentence on stderr and a documented exit code
//! (0 ok, 1 error, 2 usage, 3 authentication, 4 not found).

mod cli;
mod commands;
mod config;
mod credentials;
mod dates;
mod env;
mod error;
mod fields;
mod habits;
mod ids;
mod local;
mod render;
mod session;

use clap::{CommandFactory, Parser};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    // `taskcli 3 done` is `taskcli done 3`, as Taskwarrior users type it.
    // Usage errors exit 2 and --help/--version exit 0, inside clap.
    let parsed = habits::reorder(std::env::args_os().collect()).and_then(|argv| {
        let mut cli = cli::Cli::parse_from(&argv);
        habits::apply(&mut cli.command, &argv).map(|()| cli)
    });
    let cli = match parsed {
        Ok(cli) => cli,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(error.exit as u8);
        }
    };
    // The only place the environment is read.
    let env = env::Environment::from_process();
    if let cli::Command::Completions { shell } = cli.command {
        let mut command = cli::Cli::command();
        // Into memory first: clap_complete panics on a write error, and a
        // closed pipe (`taskcli completions elvish | head`) is not an error.
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command, "taskcli", &mut script);
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(&script).and_then(|()| stdout.flush());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start: {e}.");
            return ExitCode::from(error::Exit::Failure as u8);
        }
    };
    match runtime.block_on(commands::run(cli, env)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // An empty message means each failure was reported as it happened.
            if !error.message.is_empty() {
                eprintln!("error: {error}");
            }
            ExitCode::from(error.exit as u8)
        }
    }
}
