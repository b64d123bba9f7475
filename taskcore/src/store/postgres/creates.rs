//! Task creation, batched per owner.
//!
//! A task's number comes from its owner's `users` row, which a create must
//! lock until it commits, so creates of one owner are serial in the
//! database: one commit (one WAL flush) each, however many arrive at once.
//! Here the creates of one owner that arrive while a batch is in flight
//! wait, and the next batch takes them all: one transaction locks the row
//! once, inserts every task that fits under the limit with consecutive
//! numbers and change numbers, moves the counters and commits once. Replicas stay correct: the
//! row lock still orders batches across processes.
//!
//! Each batch runs on its own task, so a caller that goes away (a client
//! that disconnects) cannot leave a transaction open or strand the callers
//! queued behind it.

use super::feed::{NOTIFY, payload};
use super::tasks::{INSERT_TASK, TaskRow};
use super::{PgStore, SET_USER, db, to_i64, to_u64};
use crate::domain::{Task, TaskDraft, TaskId, Timestamp, UserId};
use crate::store::StoreError;
use crate::store::lock;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Most creates one transaction takes.
const BATCH_MAX: usize = 256;

/// The owners with creates queued or in flight, each with its queue.
#[derive(Default)]
pub(super) struct CreateQueues(Mutex<HashMap<UserId, Arc<Mutex<OwnerQueue>>>>);

/// One owner's waiting creates, and whether a batch task is running for them.
#[derive(Default)]
struct OwnerQueue {
    waiting: Vec<Pending>,
    running: bool,
}

/// A create waiting for its batch.
struct Pending {
    /// The id the caller chose, if any (else one is generated).
    id: Option<TaskId>,
    draft: TaskDraft,
    max_live: u64,
    reply: oneshot::Sender<Result<Task, StoreError>>,
}

impl PgStore {
    /// Queues a create and waits for the batch that commits it.
    pub(super) async fn create_task_impl(
        &self,
        owner: UserId,
        id: Option<TaskId>,
        draft: TaskDraft,
        max_live: u64,
    ) -> Result<Task, StoreError> {
        let (reply, created) = oneshot::channel();
        let queue = lock(&self.inner.creates.0)
            .entry(owner)
            .or_default()
            .clone();
        let start = {
            let mut queue = lock(&queue);
            queue.waiting.push(Pending {
                id,
                draft,
                max_live,
                reply,
            });
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            let store = self.clone();
            tokio::spawn(async move { store.run_batches(owner, queue).await });
        }
        created
            .await
            .map_err(|_| StoreError::backend("the create was abandoned"))?
    }

    /// Commits batches until the owner's queue is empty, then retires it.
    async fn run_batches(&self, owner: UserId, queue: Arc<Mutex<OwnerQueue>>) {
        loop {
            let batch: Vec<Pending> = {
                let mut map = lock(&self.inner.creates.0);
                let mut waiting = lock(&queue);
                if waiting.waiting.is_empty() {
                    waiting.running = false;
                    // A creator holding this queue but not yet in it finds
                    // `running` false and starts its own batches.
                    if map.get(&owner).is_some_and(|q| Arc::ptr_eq(q, &queue)) {
                        map.remove(&owner);
                    }
                    return;
                }
                let take = waiting.waiting.len().min(BATCH_MAX);
                waiting.waiting.drain(..take).collect()
            };
            match self.insert_batch(owner, &batch).await {
                Ok(outcomes) => {
                    for (pending, outcome) in batch.into_iter().zip(outcomes) {
                        let _ = pending.reply.send(outcome);
                    }
                }
                Err(e) => {
                    for pending in batch {
                        let _ = pending.reply.send(Err(StoreError::backend(e.to_string())));
                    }
                }
            }
        }
    }

    /// One transaction for a batch: lock the owner's row, insert what fits
    /// under each create's limit with the next numbers, move the counters,
    /// commit. Returns each create's outcome, in order.
    async fn insert_batch(
        &self,
        owner: UserId,
        batch: &[Pending],
    ) -> Result<Vec<Result<Task, StoreError>>, StoreError> {
        let client = self.client().await?;
        let set_user = client.prepare_cached(SET_USER).await.map_err(db)?;
        let lock_owner = client
            .prepare_cached(
                "SELECT next_task_number, live_tasks, last_change FROM users WHERE id = $1 FOR UPDATE",
            )
            .await
            .map_err(db)?;
        let insert = client.prepare_cached(INSERT_TASK).await.map_err(db)?;
        let advance = client
            .prepare_cached(
                "UPDATE users SET next_task_number = $2, live_tasks = $3, last_change = $4 WHERE id = $1",
            )
            .await
            .map_err(db)?;
        let notify = client.prepare_cached(NOTIFY).await.map_err(db)?;
        let owner_text = owner.to_string();
        // Sent together; each request goes out on its first poll.
        let (begin, scope, counters) = futures_util::future::join3(
            client.batch_execute("BEGIN"),
            client.execute(&set_user, &[&owner_text]),
            client.query_opt(&lock_owner, &[&owner.0]),
        )
        .await;
        let counters = match begin.and(scope).and(counters) {
            Ok(Some(row)) => row,
            Ok(None) => {
                client.batch_execute("ROLLBACK").await.map_err(db)?;
                return Ok(batch.iter().map(|_| Err(StoreError::NotFound)).collect());
            }
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(db(e));
            }
        };
        let read = to_u64(counters.get(0), "users.next_task_number").and_then(|next| {
            Ok((
                next,
                to_u64(counters.get(1), "users.live_tasks")?,
                to_u64(counters.get(2), "users.last_change")?,
            ))
        });
        let (mut next, mut live, first_change) = match read {
            Ok(pair) => pair,
            Err(e) => {
                // Never hand the connection back inside a transaction.
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(e);
            }
        };
        // The chosen ids the owner has or had. Read after the owner's row is
        // locked, by a statement of its own (so with a snapshot taken after
        // the lock): every other create, every successor's insertion and
        // every delete of the owner that committed before is seen, and none
        // can commit until this batch does.
        let mut taken = match self.taken_ids(&client, owner, batch).await {
            Ok(taken) => taken,
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(e);
            }
        };
        let now = Timestamp::now();
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut rows = Vec::with_capacity(batch.len());
        for pending in batch {
            // Before the limit: such a create would make nothing. `insert`
            // also refuses the second create of one id in this batch.
            if let Some(id) = pending.id
                && !taken.insert(id)
            {
                outcomes.push(Err(StoreError::AlreadyExists));
                continue;
            }
            if live >= pending.max_live {
                outcomes.push(Err(StoreError::TaskLimitReached));
                continue;
            }
            // Made in number order, so generated ids (creation order) follow numbers.
            let id = pending.id.unwrap_or_else(TaskId::generate);
            let task = Task::new(id, next, pending.draft.clone(), now);
            rows.push(TaskRow::of(&task, task.initial_anchor()));
            outcomes.push(Ok(task));
            next += 1;
            live += 1;
        }
        if rows.is_empty() {
            client.batch_execute("ROLLBACK").await.map_err(db)?;
            return Ok(outcomes);
        }
        // Each task is a change of its own, in number order.
        let changes: Vec<i64> = (1..=rows.len() as u64)
            .map(|i| to_i64(first_change + i))
            .collect();
        let last_change = changes.last().copied().unwrap_or(0);
        let inserts = rows.iter().zip(&changes).map(|(row, change)| {
            let params = row.insert_params(&owner.0, change);
            let (client, insert) = (&client, &insert);
            async move { client.execute(insert, &params).await }
        });
        let (next, live) = (to_i64(next), to_i64(live));
        let payload = payload(owner, last_change);
        let (inserted, advanced, notified, commit) = futures_util::future::join4(
            futures_util::future::join_all(inserts),
            client.execute(&advance, &[&owner.0, &next, &live, &last_change]),
            client.execute(&notify, &[&payload]),
            client.batch_execute("COMMIT"),
        )
        .await;
        // A failed statement aborts the transaction, and COMMIT then rolls
        // it back: nothing of the batch is written.
        for result in inserted {
            result.map_err(db)?;
        }
        advanced.map_err(db)?;
        notified.map_err(db)?;
        commit.map_err(db)?;
        self.inner.signals.notify(owner);
        Ok(outcomes)
    }

    /// Which of the batch's chosen ids the owner has a task or a tombstone
    /// with; no round trip when the batch chose none.
    async fn taken_ids(
        &self,
        client: &deadpool_postgres::Client,
        owner: UserId,
        batch: &[Pending],
    ) -> Result<HashSet<TaskId>, StoreError> {
        let chosen: Vec<uuid::Uuid> = batch.iter().filter_map(|p| p.id.map(|id| id.0)).collect();
        if chosen.is_empty() {
            return Ok(HashSet::new());
        }
        let select = client
            .prepare_cached(
                "SELECT id FROM tasks WHERE owner = $1 AND id = ANY($2)
                 UNION ALL
                 SELECT id FROM task_tombstones WHERE owner = $1 AND id = ANY($2)",
            )
            .await
            .map_err(db)?;
        let rows = client
            .query(&select, &[&owner.0, &chosen])
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|row| TaskId(row.get(0))).collect())
    }
}
