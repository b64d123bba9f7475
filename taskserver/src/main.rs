//! The `taskserver` binary: configuration, logs, serve, shut down on a signal.

use clap::Parser;
use std::process::ExitCode;
use taskserver::Config;
use taskserver::config::LogFormat;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    // `.env` fills in what the environment does not set; a missing file is fine.
    let _ = dotenvy::dotenv();
    let config = Config::parse();
    init_logs(config.log_format);
    restrict_new_files();

    let server = match taskserver::start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("taskserver: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", server.url());

    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("taskserver: cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
    }
    server.shutdown().await;
    ExitCode::SUCCESS
}

fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Files the server writes hold password hashes and secrets: owner only (0600).
#[allow(unsafe_code)]
fn restrict_new_files() {
    // SAFETY: umask only changes the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}
