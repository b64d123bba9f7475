//! The tools on the `taskserver` binary beside serving: schema migrations,
//! export and import as JSON Lines, and moving a sled store into PostgreSQL.
//!
//! Each returns a one-paragraph report for stdout, or one sentence on why it
//! stopped. Tools that read a store never create one: a mistyped path is
//! refused, not exported as an empty store. With sled they need the server
//! stopped: one process owns the data directory, and opening it says so
//! when another has it.

use crate::config::{Config, DatabaseUrl};
use crate::stores::{self, Missing, OpenError, Opened};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use taskcore::store::{ExportRecord, ExportReport};
use taskcore::{StoreError, TaskStore};
use tokio::sync::mpsc;

/// Records in flight between a store's export and the file or store they go to.
const EXPORT_BUFFER: usize = 1024;
/// Conflicts printed before the rest are only counted.
const CONFLICTS_SHOWN: usize = 20;

/// A tool of the binary.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Apply the PostgreSQL schema migrations and exit.
    Migrate,
    /// Write every user (with their password hash and task counter), task
    /// and API token hash to a JSON Lines file; no sessions, no secrets.
    /// Refuses a data directory or database that holds no store.
    Export {
        /// The file to write (mode 0600; replaced only once complete).
        #[arg(long = "out")]
        out: PathBuf,
    },
    /// Load an export into the selected store, all or nothing; records
    /// already there unchanged are skipped, so running it twice is safe.
    /// Creates the store when there is none, and says so.
    Import {
        /// The JSON Lines file to read.
        #[arg(long = "in")]
        input: PathBuf,
    },
    /// Copy a sled store into PostgreSQL (safe to run twice).
    MigrateStore {
        /// The sled data directory to copy (the server using it must be
        /// stopped); refused when it holds no store.
        #[arg(long)]
        from_data_dir: PathBuf,
        /// The PostgreSQL database to copy into.
        #[arg(long)]
        to_database_url: DatabaseUrl,
    },
}

/// Why a tool stopped.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// There is no store where the flags point.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why, in words.
        reason: String,
    },
    /// The command needs something the flags did not give.
    #[error("{0}")]
    Usage(String),
    /// The export went out, but without the records it could not read.
    #[error("{}", incomplete_export(.done, .unreadable))]
    Incomplete {
        /// What was done, as the report of a complete run would say it.
        done: String,
        /// Each record left out, and why.
        unreadable: Vec<String>,
    },
}

fn incomplete_export(done: &str, unreadable: &[String]) -> String {
    let mut message = format!(
        "{done}, but {} record(s) could not be read and are not in it:",
        unreadable.len()
    );
    for problem in unreadable.iter().take(CONFLICTS_SHOWN) {
        message.push_str("\n  ");
        message.push_str(problem);
    }
    if unreadable.len() > CONFLICTS_SHOWN {
        message.push_str(&format!(
            "\n  ... and {} more",
            unreadable.len() - CONFLICTS_SHOWN
        ));
    }
    message.push_str(
        "\nEverything else was exported. These records are damaged on disk: keep an earlier \
         export that holds them, and restore them from it after importing this one.",
    );
    message
}

/// A report, or [`CommandError::Incomplete`] when records were left out.
fn complete(done: String, unreadable: Vec<String>) -> Result<String, CommandError> {
    if unreadable.is_empty() {
        Ok(done)
    } else {
        Err(CommandError::Incomplete { done, unreadable })
    }
}

/// Runs `command` against the store `config` selects and returns its report.
pub async fn run(command: Command, config: &Config) -> Result<String, CommandError> {
    match command {
        Command::Migrate => {
            let url = config.database_url.as_ref().ok_or_else(|| {
                CommandError::Usage(
                    "migrate needs --database-url (or DATABASE_URL); the embedded store needs no migrations"
                        .into(),
                )
            })?;
            let applied = migrate(url, config.database_pool_size).await?;
            Ok(format!(
                "{url}: {applied} migration(s) applied, the schema is up to date"
            ))
        }
        Command::Export { out } => {
            // Never from a store that is not there: that would be an empty backup.
            let from = stores::open(config, Missing::Refuse).await?;
            let report = export_to_file(from.store, &out).await?;
            // Names the source: the store the flags chose may not be the one meant.
            let done = format!(
                "exported {} from {} to {}",
                report.sent,
                from.location,
                out.display()
            );
            complete(done, report.unreadable)
        }
        Command::Import { input } => {
            let records = read_export(&input).await?;
            let opened = stores::open(config, Missing::Create).await?;
            let report = import(opened.store.as_ref(), records).await?;
            Ok(created_first(&opened, report))
        }
        Command::MigrateStore {
            from_data_dir,
            to_database_url,
        } => {
            let from = stores::open_sled(&from_data_dir, config.cache_mb, Missing::Refuse).await?;
            let to =
                stores::open_postgres(&to_database_url, config.database_pool_size, Missing::Create)
                    .await?;
            let (records, exported) = export_to_memory(from.store).await?;
            let report = import(to.store.as_ref(), records).await?;
            let done = created_first(
                &to,
                format!("{} -> {to_database_url}: {report}", from.location),
            );
            complete(done, exported.unreadable)
        }
    }
}

#[cfg(feature = "postgres")]
async fn migrate(url: &DatabaseUrl, pool_size: usize) -> Result<usize, StoreError> {
    taskcore::PgStore::migrate(&taskcore::PgConfig {
        url: url.expose().to_string(),
        pool_size,
    })
    .await
}

#[cfg(not(feature = "postgres"))]
async fn migrate(url: &DatabaseUrl, pool_size: usize) -> Result<usize, CommandError> {
    stores::open_postgres(url, pool_size, Missing::Create).await?;
    Ok(0)
}

/// `report`, after a first line saying the target was created, if it was:
/// whoever mistyped a path learns it here, not after a restore.
fn created_first(target: &Opened, report: String) -> String {
    if target.created {
        format!("{}\n{report}", target.summary())
    } else {
        report
    }
}

/// Imports `records` and says what changed; a conflict lists what clashed.
async fn import(store: &dyn TaskStore, records: Vec<ExportRecord>) -> Result<String, CommandError> {
    match store.import(records).await {
        Ok(report) => Ok(format!(
            "imported {}; already there unchanged: {}",
            report.added, report.unchanged
        )),
        Err(StoreError::ImportConflict(conflicts)) => {
            let mut message = format!(
                "nothing was imported: {} record(s) conflict with what the store holds:",
                conflicts.len()
            );
            for conflict in conflicts.iter().take(CONFLICTS_SHOWN) {
                message.push_str("\n  ");
                message.push_str(conflict);
            }
            if conflicts.len() > CONFLICTS_SHOWN {
                message.push_str(&format!(
                    "\n  ... and {} more",
                    conflicts.len() - CONFLICTS_SHOWN
                ));
            }
            Err(CommandError::Usage(message))
        }
        Err(e) => Err(e.into()),
    }
}

/// Every record of `store`, in export order.
async fn export_to_memory(
    store: Arc<dyn TaskStore>,
) -> Result<(Vec<ExportRecord>, ExportReport), StoreError> {
    let (tx, mut rx) = mpsc::channel(EXPORT_BUFFER);
    let exporting = tokio::spawn(async move { store.export(tx).await });
    let mut records = Vec::new();
    while let Some(record) = rx.recv().await {
        records.push(record);
    }
    let report = joined(exporting.await)?;
    Ok((records, report))
}

/// Streams `store`'s export into `path`: written to a temporary file beside
/// it, synced, then renamed, so `path` is never a partial export.
async fn export_to_file(
    store: Arc<dyn TaskStore>,
    path: &Path,
) -> Result<ExportReport, CommandError> {
    let (tx, rx) = mpsc::channel(EXPORT_BUFFER);
    let exporting = tokio::spawn(async move { store.export(tx).await });
    let target = path.to_path_buf();
    let writing = tokio::task::spawn_blocking(move || write_lines(&target, rx));
    let written = writing.await.map_err(|e| CommandError::File {
        path: path.to_path_buf(),
        reason: format!("the writer failed: {e}"),
    })?;
    // The writer stops reading on a file error; the export then stops too.
    let report = joined(exporting.await);
    written?;
    Ok(report?)
}

fn write_lines(path: &Path, mut rx: mpsc::Receiver<ExportRecord>) -> Result<(), CommandError> {
    let fail = |e: std::io::Error| CommandError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    // tempfile makes the file owner-only (0600) and unique beside the
    // target; persisting renames it over the target in one step.
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let partial = tempfile::Builder::new()
        .prefix(".export-")
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(fail)?;
    let mut out = BufWriter::new(partial);
    while let Some(record) = rx.blocking_recv() {
        serde_json::to_writer(&mut out, &record).map_err(|e| fail(e.into()))?;
        out.write_all(b"\n").map_err(fail)?;
    }
    let partial = out.into_inner().map_err(|e| fail(e.into_error()))?;
    partial.as_file().sync_all().map_err(fail)?;
    partial.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Reads an export file whole, naming the first line that is not a record.
async fn read_export(path: &Path) -> Result<Vec<ExportRecord>, CommandError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let fail = |reason: String| CommandError::File {
            path: path.clone(),
            reason,
        };
        let file = File::open(&path).map_err(|e| fail(e.to_string()))?;
        let mut records = Vec::new();
        for (index, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| fail(e.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            let record = serde_json::from_str(&line).map_err(|e| {
                fail(format!(
                    "line {} is not an export record ({e}); nothing was imported",
                    index + 1
                ))
            })?;
            records.push(record);
        }
        Ok(records)
    })
    .await
    .map_err(|e| CommandError::Usage(format!("reading the export failed: {e}")))?
}

fn joined<T>(
    result: Result<Result<T, StoreError>, tokio::task::JoinError>,
) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::backend(format!("the export failed: {e}")))?
}
