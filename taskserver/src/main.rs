//! The `taskserver` binary: configuration, logs, serve, shut down on a signal.

use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;
use taskserver::Config;
use taskserver::commands::Command;
use taskserver::config::LogFormat;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Before any other thread exists.
    tune_malloc();
    restrict_new_files();
    // `.env` fills in what the environment does not set; a missing file is fine.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let config = cli.config;
    init_logs(config.log_format);
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => match cli.command {
            None => runtime.block_on(serve(config)),
            Some(command) => runtime.block_on(run_tool(command, config)),
        },
        Err(e) => {
            eprintln!("taskserver: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Exit code of a configuration the server refuses (a usage error, as clap's).
const USAGE: u8 = 2;

/// `taskserver`: serve the task API, or run one of its tools. Its `about`
/// is its own: the package description speaks of the library.
#[derive(Debug, Parser)]
#[command(
    name = "taskserver",
    version,
    about = "taskserver: a multi-user task server with an HTTP JSON API, on an embedded store or PostgreSQL, and the tools to export, import and move its data.",
    long_about = None
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

async fn run_tool(command: Command, config: Config) -> ExitCode {
    if let Err(e) = config.validate() {
        eprintln!("taskserver: {}", taskserver::ErrorChain(&e));
        return ExitCode::from(USAGE);
    }
    match taskserver::commands::run(command, &config).await {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("taskserver: {}", taskserver::ErrorChain(&e));
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> ExitCode {
    // Before `listening on` is printed: whoever reads that line and sends
    // SIGTERM at once must get a graceful stop, not the default death.
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("taskserver: cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    let server = match taskserver::start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("taskserver: {}", taskserver::ErrorChain(&e));
            return match e {
                taskserver::StartError::Config(_) => ExitCode::from(USAGE),
                _ => ExitCode::FAILURE,
            };
        }
    };
    println!("listening on {}", server.url());

    let mut exit = ExitCode::SUCCESS;
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
        reason = server.store_broken() => {
            // Memory may now hold writes that never reached the disk: stop
            // serving, so that a restart recovers exactly what is durable.
            tracing::error!(%reason, "the store cannot write to disk: stopping; restart once the disk is fixed");
            eprintln!("taskserver: the store cannot write to disk ({reason}); stopped");
            exit = ExitCode::FAILURE;
        }
    }
    if server.shutdown().await.is_err() {
        exit = ExitCode::FAILURE;
    }
    exit
}

fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a person at a terminal, and never with NO_COLOR.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// glibc gives each thread that allocates its own arena (up to eight per
/// core); with tokio's workers and sled's I/O threads that fragments memory.
/// Two arenas measured the same throughput and a lower peak.
///
/// And a fixed mmap threshold: glibc otherwise raises it to the size of the
/// largest block freed, so once the first 19 MiB argon2 array is freed the
/// next ones come from the arenas, and freeing them does not return their
/// memory: three bursts of 100 registrations (16 client threads) left a
/// server at 108 MiB; with a fixed threshold, at 13 MiB. Blocks of 256 KiB
/// and more are mapped on their own and unmapped when freed: argon2's
/// arrays and sled's 512 KiB blocks (742 over a run of 100,000 creates, by
/// heaptrack). Registering 1,000 users and creating 300,000 tasks on one
/// core peaked at 92 MiB with 256 KiB, 94 with 4 MiB, and 106 before (the
/// moving threshold, and argon2's arrays kept).
#[allow(unsafe_code)]
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}

/// Allocations from this size up get their own mapping (see `tune_malloc`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 256 * 1024;

/// Files the server writes hold password hashes and secrets: owner only (0600).
#[allow(unsafe_code)]
fn restrict_new_files() {
    // SAFETY: umask only changes the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}
