//! The copy of the user's tasks on this machine (a [`taskclient::Replica`]):
//! where it lives, when it syncs, and what the user is told about it.
//!
//! With a stored login, `list`, `show` and `projects` read the copy and
//! sync first only when it is older than `TASKCLI_SYNC_MAX_AGE`; `add`,
//! `edit`, `done`, `undone` and `rm` change it at once (on disk before they
//! go on) and then sync within [`SYNC_BUDGET`]. A server that does not
//! answer costs a command that budget and no more: reads show the copy as
//! it is, writes wait in the queue for the next sync.

use crate::config::create_private_dir;
use crate::credentials::StoredLogin;
use crate::dates::relative_time;
use crate::error::{CliError, CliResult, Doing};
use crate::session::Context;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use taskclient::{
    DropReason, Dropped, Error as ApiError, Identity, LocalRef, LocalTask, Lost, Replica,
    ReplicaError, ReplicaView, SyncReport,
};
use taskcore::{ListQuery, ProjectCount, TaskId, Timestamp, UserId};

/// How long a command waits for the server before it goes on without it.
pub const SYNC_BUDGET: Duration = Duration::from_secs(2);

/// The folder, inside the data directory, of the copies (one per server
/// and user).
const REPLICAS: &str = "replicas";

/// The local copy of the logged-in user's tasks, open for this command.
pub struct LocalCopy<'a> {
    ctx: &'a Context,
    /// The copy itself.
    pub replica: Replica,
}

/// The copy as a read command uses it: its view when fresh (no database
/// opened, no network), else the copy itself, synced first if stale.
pub enum ReadCopy<'a> {
    /// The view the copy keeps for readers ([`ReplicaView`]).
    View(ReplicaView),
    /// The copy, open (boxed: it is much larger than a view).
    Open(Box<LocalCopy<'a>>),
}

impl<'a> ReadCopy<'a> {
    /// The copy for a read; `None` when the command works online.
    pub async fn open(ctx: &'a Context) -> CliResult<Option<Self>> {
        if !ctx.replica_enabled() {
            return Ok(None);
        }
        if let Some(view) = fresh_view(ctx)? {
            return Ok(Some(Self::View(view)));
        }
        let Some(local) = LocalCopy::open(ctx).await? else {
            return Ok(None);
        };
        local.refresh_if_stale().await?;
        Ok(Some(Self::Open(Box::new(local))))
    }

    /// The tasks that pass `query`, in its order.
    pub fn list(&self, query: &ListQuery) -> CliResult<Vec<LocalTask>> {
        match self {
            Self::View(view) => Ok(view.list(query)),
            Self::Open(local) => local.replica.list(query).map_err(replica_error),
        }
    }

    /// The projects with their counts.
    pub fn projects(&self) -> CliResult<Vec<ProjectCount>> {
        match self {
            Self::View(view) => Ok(view.projects()),
            Self::Open(local) => local.replica.projects().map_err(replica_error),
        }
    }

    /// The task `task` names, if the copy has it.
    pub fn get(&self, task: &LocalRef) -> CliResult<Option<LocalTask>> {
        match self {
            Self::View(view) => Ok(view.get(task)),
            Self::Open(local) => local.replica.get(task).map_err(replica_error),
        }
    }
}

/// The view of the logged-in user's copy, if it is younger than the
/// allowed age. Needs no network and opens no database; `None` sends the
/// command the slow way.
fn fresh_view(ctx: &Context) -> CliResult<Option<ReplicaView>> {
    Ok(known_view(ctx)?.map(|(_, view)| view).filter(|view| {
        view.last_sync()
            .is_some_and(|last| age(last) < ctx.sync_max_age())
    }))
}

/// The view of the logged-in user's copy and where the copy is, when the
/// stored login names its user and the copy has a view: found without the
/// network or the database.
fn known_view(ctx: &Context) -> CliResult<Option<(PathBuf, ReplicaView)>> {
    let Some((_, login)) = ctx.stored_login()? else {
        return Ok(None);
    };
    let Some(user) = login.user else {
        return Ok(None);
    };
    let identity = Identity::new(ctx.server.clone(), user);
    let path = path_of(&ctx.data_dir()?, &identity);
    Ok(ReplicaView::open(&path, &identity).map(|view| (path, view)))
}

/// What became of a sync that could not finish.
pub struct Unsynced {
    /// Why, in one sentence.
    pub error: CliError,
    /// Whether the server did not answer (or was unavailable) at all, as
    /// opposed to refusing the user (an expired session).
    pub offline: bool,
}

impl<'a> LocalCopy<'a> {
    /// Opens the copy of the logged-in user, creating it on first use.
    /// `None` when this command works online: `TASKCLI_TOKEN`,
    /// `--no-replica`, `TASKCLI_REPLICA=0`, or a login stored by an older
    /// taskcli whose user the server could not be asked for now. Not
    /// logged in is the usual error.
    pub async fn open(ctx: &'a Context) -> CliResult<Option<Self>> {
        if !ctx.replica_enabled() {
            return Ok(None);
        }
        let Some(user) = logged_in_user(ctx).await? else {
            return Ok(None);
        };
        let identity = Identity::new(ctx.server.clone(), user);
        let path = path_of(&ctx.data_dir()?, &identity);
        let replica = open_or_rebuild(&path, &identity)?;
        Ok(Some(Self { ctx, replica }))
    }

    /// Syncs, giving up after `budget`: a hanging server costs no more.
    pub async fn sync_within(&self, budget: Duration) -> Result<SyncReport, Unsynced> {
        let ctx = self.ctx;
        let attempt = async {
            let (client, _) = ctx.sync_client().await.map_err(|error| Unsynced {
                offline: error.unreachable,
                error,
            })?;
            self.replica
                .sync(&client)
                .await
                .map_err(|error| self.unsynced(error))
        };
        match tokio::time::timeout(budget, attempt).await {
            Ok(result) => result,
            Err(_) => Err(Unsynced {
                error: CliError::failure(format!(
                    "The server at {} did not answer within {} s.",
                    ctx.server,
                    budget.as_secs()
                )),
                offline: true,
            }),
        }
    }

    /// Before a read: syncs if the last sync is older than the allowed
    /// age. A server that does not answer means the copy is read as it is
    /// (with a note on stderr); one that refuses the user is an error.
    pub async fn refresh_if_stale(&self) -> CliResult {
        let last = self.replica.last_sync().map_err(replica_error)?;
        let max_age = self.ctx.sync_max_age();
        if let Some(last) = last
            && age(last) < max_age
        {
            return Ok(());
        }
        match self.sync_within(SYNC_BUDGET).await {
            Ok(report) => {
                report_dropped(&report);
                Ok(())
            }
            Err(Unsynced {
                error,
                offline: true,
            }) => {
                eprintln!(
                    "note: {} Showing the copy on this machine, {}.",
                    error.message,
                    match last {
                        Some(at) => format!("synced {}", relative_time(at, Timestamp::now())),
                        None => "which has never been synced".to_string(),
                    }
                );
                Ok(())
            }
            Err(Unsynced { error, .. }) => Err(error),
        }
    }

    /// After a local write of the tasks `own`: syncs within the budget.
    /// The write is on disk and queued whatever happens, so a sync that
    /// fails is only a line on stderr, how many changes wait, which
    /// [`AfterWrite::tell`] prints after the command's own output. Changes
    /// of `own` that the sync dropped are the caller's to report, as its
    /// failures ([`AfterWrite::refusal`]).
    pub async fn sync_after_write(&self, own: &[TaskId]) -> AfterWrite {
        match self.sync_within(SYNC_BUDGET).await {
            Ok(mut report) => {
                let (refused, others) = std::mem::take(&mut report.dropped)
                    .into_iter()
                    .partition(|dropped| own.contains(&dropped.task));
                report.dropped = others;
                AfterWrite {
                    report: Some(report),
                    refused,
                    unsynced: None,
                }
            }
            Err(Unsynced { error, .. }) => AfterWrite {
                unsynced: Some(format!(
                    "{} to be synced: {}",
                    waiting(self.replica.queued()),
                    error.message
                )),
                ..AfterWrite::default()
            },
        }
    }

    /// A failed sync in the user's words.
    fn unsynced(&self, error: ReplicaError) -> Unsynced {
        match error {
            ReplicaError::Server(api) => {
                let offline = unavailable(&api);
                let mut error = self.ctx.api_error(api, Doing::General);
                error.unreachable |= offline;
                Unsynced { error, offline }
            }
            other => Unsynced {
                error: replica_error(other),
                offline: false,
            },
        }
    }
}

/// What the sync after a write did.
#[derive(Default)]
pub struct AfterWrite {
    /// What the sync did, if it got through.
    pub report: Option<SyncReport>,
    /// The command's own changes that the server would not take.
    pub refused: Vec<Dropped>,
    /// Why the sync did not get through, and what waits, in one line.
    unsynced: Option<String>,
}

impl AfterWrite {
    /// Says on stderr what the sync dropped of other tasks, or that
    /// changes wait: after the command's own output.
    pub fn tell(&self) {
        if let Some(report) = &self.report {
            report_dropped(report);
        }
        if let Some(line) = &self.unsynced {
            eprintln!("{line}");
        }
    }

    /// The failure to report for a change of `task` the server would not
    /// take, if it did not.
    pub fn refusal(&self, task: TaskId) -> Option<CliError> {
        let dropped = self.refused.iter().find(|d| d.task == task)?;
        let what = format!("task {} ({:?})", dropped.label, dropped.title);
        Some(match &dropped.reason {
            DropReason::DeletedElsewhere => CliError::not_found(format!(
                "Task {} was deleted elsewhere, so the {} made here was dropped.",
                dropped.label, dropped.change
            )),
            DropReason::Refused(message) => CliError::failure(format!(
                "The server refused the {} of {what}, so it was undone here: {}",
                dropped.change,
                sentence(message)
            )),
            DropReason::CreateRefused => CliError::failure(format!(
                "The server refused to create {what}, so this change of it was dropped."
            )),
        })
    }
}

/// What `auth status` shows of the copy ([`CopyStatus::of`]).
#[derive(serde::Serialize)]
pub struct CopyStatus {
    /// The copy's directory.
    pub path: PathBuf,
    /// When it last synced, if ever.
    pub last_sync: Option<Timestamp>,
    /// How many changes made here wait to be sent.
    pub queued: usize,
}

impl CopyStatus {
    /// The state of the logged-in user's copy, for `auth status`: from its
    /// view when it has one (no waiting for a command that has the copy
    /// open), else from the copy. `None` when commands work online, or the
    /// copy cannot be opened now (the next command says why).
    pub async fn of(ctx: &Context) -> Option<Self> {
        if !ctx.replica_enabled() {
            return None;
        }
        if let Ok(Some((path, view))) = known_view(ctx) {
            return Some(Self {
                path,
                last_sync: view.last_sync(),
                queued: view.queued(),
            });
        }
        let local = LocalCopy::open(ctx).await.ok().flatten()?;
        Some(Self {
            path: local.replica.path().to_path_buf(),
            last_sync: local.replica.last_sync().ok()?,
            queued: local.replica.queued(),
        })
    }
}

impl LocalCopy<'_> {
    /// For `auth logout`: tries to send what waits (within the budget),
    /// then deletes the copy, with any copy of it that was moved aside.
    /// Returns how many changes were lost.
    pub async fn discard(self) -> CliResult<usize> {
        if self.replica.queued() > 0 {
            match self.sync_within(SYNC_BUDGET).await {
                Ok(report) => report_dropped(&report),
                Err(Unsynced { error, .. }) => {
                    eprintln!(
                        "warning: could not sync before logging out: {}",
                        error.message
                    );
                }
            }
        }
        let lost = self.replica.queued();
        let path = self.replica.path().to_path_buf();
        drop(self);
        delete_copy(&path)?;
        Ok(lost)
    }
}

/// Deletes the copy at `path` and the copies of it moved aside.
pub fn delete_copy(path: &Path) -> CliResult {
    let fail = |at: &Path, e: std::io::Error| {
        CliError::failure(format!(
            "Could not delete the copy of your tasks in {}: {e}.",
            at.display()
        ))
    };
    match std::fs::remove_dir_all(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(path, e)),
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    let aside = format!("{}.unreadable-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&aside) {
            std::fs::remove_dir_all(entry.path()).map_err(|e| fail(&entry.path(), e))?;
        }
    }
    Ok(())
}

/// `1 change waits` or `3 changes wait`.
pub fn waiting(count: usize) -> String {
    if count == 1 {
        "1 change waits".to_string()
    } else {
        format!("{count} changes wait")
    }
}

/// Each change the sync dropped, on stderr, with why.
pub fn report_dropped(report: &SyncReport) {
    for dropped in &report.dropped {
        eprintln!("warning: {dropped}.");
    }
}

/// Whether the server did not answer or said it cannot now (as opposed to
/// refusing this user or this request).
fn unavailable(error: &ApiError) -> bool {
    match error {
        ApiError::Transport(_) | ApiError::RateLimited { .. } => true,
        ApiError::Other { status, .. } => status.is_server_error(),
        _ => false,
    }
}

/// How long ago `at` was; a time in the future (the clock moved back) is
/// as old as can be, so that the copy is synced.
fn age(at: Timestamp) -> Duration {
    let micros = Timestamp::now().as_micros().saturating_sub(at.as_micros());
    u64::try_from(micros).map_or(Duration::MAX, Duration::from_micros)
}

/// A replica failure as one sentence.
pub fn replica_error(error: ReplicaError) -> CliError {
    match error {
        ReplicaError::Busy { path } => CliError::failure(format!(
            "Another taskcli is using the copy of your tasks in {}; try again in a moment.",
            path.display()
        )),
        ReplicaError::NotFound(task) => CliError::not_found(format!("No task {task}.")),
        other => CliError::failure(sentence(&other.to_string())),
    }
}

/// Capitalized, with a full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let first: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    let rest = chars.as_str();
    if rest.ends_with('.') {
        format!("{first}{rest}")
    } else {
        format!("{first}{rest}.")
    }
}

/// The user of the stored login: from the login, or, for one an older
/// taskcli stored, from the server (then kept with the login). `None` when
/// the server cannot tell now.
async fn logged_in_user(ctx: &Context) -> CliResult<Option<UserId>> {
    let (store, login) = ctx.stored_login()?.ok_or_else(|| ctx.not_logged_in())?;
    if let Some(user) = login.user {
        return Ok(Some(user));
    }
    let asked = async {
        let (client, _) = ctx.sync_client().await.ok()?;
        client.me().await.ok()
    };
    let Ok(Some(me)) = tokio::time::timeout(SYNC_BUDGET, asked).await else {
        return Ok(None);
    };
    // The client may have refreshed the tokens meanwhile: add the user to
    // what is stored now.
    if let Some(current) = store.load(&ctx.server)? {
        store.save(
            &ctx.server,
            &StoredLogin {
                user: Some(me.id),
                ..current
            },
        )?;
    }
    Ok(Some(me.id))
}

/// Where the copy of `identity` lives: one directory per server and user,
/// named so that a person can tell which is which.
pub fn path_of(data_dir: &Path, identity: &Identity) -> PathBuf {
    let server: String = identity
        .server
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    data_dir
        .join(REPLICAS)
        .join(format!("{server}-{}", identity.user))
}

/// Opens the copy at `path`. One that cannot be read (damaged, or from a
/// newer taskcli) is moved aside, with one sentence, and a new one started
/// with the changes of the old queue that can still be read; its first
/// sync fills it from the server.
fn open_or_rebuild(path: &Path, identity: &Identity) -> CliResult<Replica> {
    if let Some(parent) = path.parent() {
        create_private_dir(parent).map_err(|e| {
            CliError::failure(format!("Could not create {}: {e}.", parent.display()))
        })?;
    }
    let (replica, rebuilt) = Replica::open_or_rebuild(path, identity).map_err(replica_error)?;
    if let Some(rebuilt) = rebuilt {
        let queue = match (rebuilt.kept, rebuilt.lost) {
            (0, Lost::Nothing) => String::new(),
            (1, Lost::Nothing) => "; the change that waited to be synced was kept".to_string(),
            (kept, Lost::Nothing) => {
                format!("; the {kept} changes that waited to be synced were kept")
            }
            (kept, Lost::Changes(lost)) => format!(
                "; of the changes that waited to be synced, {kept} kept and {lost} lost (unreadable)"
            ),
            (_, Lost::Unknown) => {
                "; any changes it held that were not synced yet are lost".to_string()
            }
        };
        eprintln!(
            "note: {} It was moved to {} and a new copy will be filled from the server{queue}.",
            sentence(&rebuilt.reason.to_string()),
            rebuilt.moved_to.display()
        );
    }
    Ok(replica)
}

/// A task as `--json` prints it: the API's object, with `"number": null`
/// until the server has numbered it.
pub fn json_of(local: &LocalTask) -> Value {
    let mut value = serde_json::to_value(&local.task).unwrap_or(Value::Null);
    if local.number().is_none()
        && let Some(object) = value.as_object_mut()
    {
        object.insert("number".to_string(), Value::Null);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_directory_per_server_and_user() {
        let user = UserId::generate();
        let path = path_of(
            Path::new("/data/taskcli"),
            &Identity::new("https://tasks.example.com:8443/api", user),
        );
        assert_eq!(
            path,
            Path::new("/data/taskcli/replicas")
                .join(format!("https___tasks.example.com_8443_api-{user}"))
        );
        let other = path_of(
            Path::new("/data/taskcli"),
            &Identity::new("https://tasks.example.com:8443/api", UserId::generate()),
        );
        assert_ne!(path, other);
    }

    #[test]
    fn counts_and_sentences() {
        assert_eq!(waiting(1), "1 change waits");
        assert_eq!(waiting(3), "3 changes wait");
        assert_eq!(sentence("the replica is odd"), "The replica is odd.");
        assert_eq!(sentence("done."), "Done.");
    }

    #[test]
    fn a_last_sync_in_the_future_counts_as_old() {
        let future = Timestamp::from_micros(Timestamp::now().as_micros() + 60_000_000);
        assert_eq!(future.map(age), Some(Duration::MAX));
        assert!(age(Timestamp::now()) < Duration::from_secs(5));
    }
}
