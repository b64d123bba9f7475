//! The change feed: reads from each task's and tombstone's `change_seq`,
//! the owner's counter (`users.last_change`), pruning, and the signals
//! that wake live streams on every replica (`LISTEN`/`NOTIFY`).
//!
//! Every task write bumps the owner's counter with an `UPDATE` of the
//! owner's row before it touches a task row, and holds that row lock to its
//! commit: an owner's numbers commit in their order, so a snapshot that
//! shows a number shows every lower one. A feed read is one statement (one
//! snapshot) over two index ranges from the reader's position, with the
//! counter read in the same snapshot.

use super::tasks::{TASK_COLUMNS, task_of};
use super::{PgStore, SET_USER, cause, db, scoped, time, to_i64, to_u64};
use crate::domain::{Change, ChangePage, FeedPosition, TaskId, Timestamp, UserId};
use crate::store::{Signals, StoreError};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, NoTls, Row};

/// The one channel every replica listens on. Each notification's payload
/// is the user's id, followed by `:` and the change number after a task
/// write (only the id is read back).
macro_rules! channel {
    () => {
        "taskserver_changes"
    };
}
pub(super) use channel;

/// Raises the signal of the user `$1` (a payload, see [`channel!`]) on
/// every replica when the transaction commits, and never if it does not.
pub(super) const NOTIFY: &str = concat!("SELECT pg_notify('", channel!(), "', $1)");

/// The payload announcing `owner`'s change `change`.
pub(super) fn payload(owner: UserId, change: i64) -> String {
    format!("{owner}:{change}")
}

/// How many deletions one pruning transaction takes out of the feed.
const PRUNE_BATCH: i64 = 1000;

/// The listener's first wait after a failure; it doubles up to
/// [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(250);
/// The longest wait between the listener's connection attempts.
const RETRY_MAX: Duration = Duration::from_secs(10);
/// The listener's connection is otherwise silent for long stretches: TCP
/// keepalives find a peer that vanished.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// The feed statement: the owner's counter, and after it (a left join, so
/// the counter comes even with no change) up to `$4` changes by number:
/// tasks changed after `$2` and deletions after `$3`, each an index range
/// (`tasks_by_change`, `task_tombstones_by_change`) that stops at `$4`
/// rows. Columns: [`TASK_COLUMNS`] (a tombstone fills only the id and the
/// number), then `change_seq`, `deleted_at` (set for a tombstone only) and
/// the counter.
fn feed_statement(prefix: &str) -> String {
    format!(
        "{prefix}SELECT c.*, u.last_change
           FROM (SELECT last_change FROM users WHERE id = $1) u
           LEFT JOIN (
                (SELECT {TASK_COLUMNS}, change_seq, NULL::bigint AS deleted_at
                   FROM tasks WHERE owner = $1 AND change_seq > $2
                  ORDER BY change_seq LIMIT $4)
                UNION ALL
                (SELECT id, number, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                        NULL, NULL COLLATE \"C\", NULL, NULL, change_seq, deleted_at
                   FROM task_tombstones WHERE owner = $1 AND change_seq > $3
                  ORDER BY change_seq LIMIT $4)
                ORDER BY change_seq LIMIT $4
           ) c ON true
          ORDER BY c.change_seq"
    )
}

impl PgStore {
    pub(super) async fn changes_impl(
        &self,
        owner: UserId,
        from: Option<FeedPosition>,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        let limit = limit.max(1);
        let rows = self.feed_rows(owner, from, limit, "").await?;
        let mut counter = 0;
        let mut changes = Vec::with_capacity(rows.len().min(limit + 1));
        for row in &rows {
            counter = to_u64(row.get(17), "users.last_change")?;
            // The left join's row when nothing changed.
            let Some(seq) = row.get::<_, Option<i64>>(15) else {
                continue;
            };
            let change = match row.get::<_, Option<i64>>(16) {
                Some(deleted_at) => Change::TaskDeleted {
                    id: TaskId(row.get(0)),
                    number: to_u64(row.get(1), "task_tombstones.number")?,
                    deleted_at: time(deleted_at, "task_tombstones.deleted_at")?,
                },
                None => Change::Task {
                    task: task_of(row)?,
                },
            };
            changes.push((to_u64(seq, "change_seq")?, change));
        }
        let after = from.map_or(0, |p| p.after);
        // A full sync skips the deletions made before it began.
        let full_until = from.map_or(Some(counter), |p| p.full_until);
        if changes.len() > limit {
            changes.truncate(limit);
            let last = changes.last().map_or(after, |(seq, _)| *seq);
            let (numbers, changes) = changes.into_iter().unzip();
            return Ok(ChangePage {
                changes,
                numbers,
                next: FeedPosition {
                    after: last,
                    full_until,
                },
                more: true,
            });
        }
        let (numbers, changes) = changes.into_iter().unzip();
        Ok(ChangePage {
            changes,
            numbers,
            next: FeedPosition::after(counter.max(after)),
            more: false,
        })
    }

    /// The rows of a feed page and one more, by [`feed_statement`]; with
    /// `prefix` `EXPLAIN ...`, its plan (for the tests).
    pub(super) async fn feed_rows(
        &self,
        owner: UserId,
        from: Option<FeedPosition>,
        limit: usize,
        prefix: &str,
    ) -> Result<Vec<Row>, StoreError> {
        let after = to_i64(from.map_or(0, |p| p.after));
        // A full sync from the start shows no deletion: every one in this
        // snapshot is at or below the counter it reads.
        let deletions_after = match from {
            None => i64::MAX,
            Some(p) => to_i64(p.after.max(p.full_until.unwrap_or(0))),
        };
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let client = self.client().await?;
        let set_user = client.prepare_cached(SET_USER).await.map_err(db)?;
        let select = client
            .prepare_cached(&feed_statement(prefix))
            .await
            .map_err(db)?;
        scoped(
            &client,
            &set_user,
            owner,
            client.query(&select, &[&owner.0, &after, &deletions_after, &fetch]),
        )
        .await
    }

    pub(super) async fn latest_change_impl(&self, owner: UserId) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let select = client
            .prepare_cached("SELECT last_change FROM users WHERE id = $1")
            .await
            .map_err(db)?;
        match client.query_opt(&select, &[&owner.0]).await.map_err(db)? {
            Some(row) => to_u64(row.get(0), "users.last_change"),
            None => Ok(0),
        }
    }

    /// Batches of [`PRUNE_BATCH`], each its own short transaction, from the
    /// index of deletions still in the feed; a tombstone another
    /// transaction holds is left for the next run.
    pub(super) async fn prune_deletions_impl(&self, before: Timestamp) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let scope = client
            .prepare_cached("SELECT set_config('taskserver.prune_before', $1, true)")
            .await
            .map_err(db)?;
        let prune = client
            .prepare_cached(
                "UPDATE task_tombstones SET change_seq = NULL
                  WHERE (owner, id) IN (
                        SELECT owner, id FROM task_tombstones
                         WHERE change_seq IS NOT NULL AND deleted_at < $1
                         LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .await
            .map_err(db)?;
        let before_micros = before.as_micros();
        let before_text = before_micros.to_string();
        let mut pruned = 0;
        loop {
            let (begin, scoped, updated, commit) = futures_util::future::join4(
                client.batch_execute("BEGIN"),
                client.execute(&scope, &[&before_text]),
                client.execute(&prune, &[&before_micros, &PRUNE_BATCH]),
                client.batch_execute("COMMIT"),
            )
            .await;
            begin.map_err(db)?;
            scoped.map_err(db)?;
            let updated = updated.map_err(db)?;
            commit.map_err(db)?;
            pruned += updated;
            if updated < PRUNE_BATCH.unsigned_abs() {
                return Ok(pruned);
            }
        }
    }
}

/// The listener's task: aborted (its connection closed) when the store
/// that started it is dropped.
pub(super) struct Listener {
    task: tokio::task::AbortHandle,
    /// Whether the listener is listening now (for the tests).
    pub(super) listening: watch::Receiver<bool>,
}

impl Listener {
    /// Starts listening on a connection of its own, in the background:
    /// opening the store never waits for it.
    pub(super) fn start(mut config: tokio_postgres::Config, signals: Arc<Signals>) -> Self {
        config.keepalives(true).keepalives_idle(KEEPALIVE_IDLE);
        let (listening_tx, listening) = watch::channel(false);
        let task = tokio::spawn(listen(config, signals, listening_tx)).abort_handle();
        Self { task, listening }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects, `LISTEN`s and raises each notification's signal locally, for
/// ever: after a failure it connects again (waiting longer each time, up to
/// [`RETRY_MAX`]), and once listening again wakes every stream, which may
/// have missed signals meanwhile.
async fn listen(
    config: tokio_postgres::Config,
    signals: Arc<Signals>,
    listening: watch::Sender<bool>,
) {
    let mut wait = RETRY_MIN;
    let mut failing = false;
    loop {
        let error = match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let mut listen = Box::pin(client.batch_execute(concat!("LISTEN ", channel!())));
                let mut listened = false;
                // The connection is polled for the LISTEN's answer and every
                // message after it; `client` lives as long (dropping it
                // would close the connection).
                let ended = loop {
                    let event = futures_util::future::poll_fn(|cx| {
                        if !listened && let Poll::Ready(result) = listen.as_mut().poll(cx) {
                            return Poll::Ready(Err(result));
                        }
                        connection.poll_message(cx).map(Ok)
                    })
                    .await;
                    match event {
                        Err(Ok(())) => {
                            listened = true;
                            if failing {
                                tracing::info!("listening for changes of other replicas again");
                            }
                            failing = false;
                            wait = RETRY_MIN;
                            listening.send_replace(true);
                            signals.notify_all();
                        }
                        Err(Err(e)) => break cause(&e),
                        Ok(Some(Ok(AsyncMessage::Notification(note)))) => {
                            match parse_payload(note.payload()) {
                                Some(user) => signals.notify(user),
                                None => tracing::debug!(
                                    payload = note.payload(),
                                    "ignored a malformed change notification"
                                ),
                            }
                        }
                        Ok(Some(Ok(_))) => {}
                        Ok(Some(Err(e))) => break cause(&e),
                        Ok(None) => break "the connection closed".to_owned(),
                    }
                };
                drop(listen);
                drop(client);
                ended
            }
            Err(e) => cause(&e),
        };
        listening.send_replace(false);
        if !failing {
            tracing::warn!(
                error = %error,
                "cannot hear other replicas' changes (their live streams wait); reconnecting"
            );
        } else {
            tracing::debug!(error = %error, "still cannot listen for other replicas' changes");
        }
        failing = true;
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RETRY_MAX);
    }
}

/// The user a notification names: its payload up to the first `:`.
fn parse_payload(payload: &str) -> Option<UserId> {
    let id = payload.split(':').next()?;
    uuid::Uuid::parse_str(id).ok().map(UserId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_the_user() {
        let user = UserId::generate();
        assert_eq!(parse_payload(&payload(user, 12)), Some(user));
        assert_eq!(parse_payload(&user.to_string()), Some(user));
        assert_eq!(parse_payload("not a user"), None);
        assert_eq!(parse_payload(""), None);
    }
}
