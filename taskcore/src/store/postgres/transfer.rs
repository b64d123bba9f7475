//! Export and import (see [`crate::store::transfer`]), with the conflict
//! rules both stores share ([`plan_import`]). An import is one transaction:
//! every record is checked before anything is written, and a conflict
//! writes nothing.

use super::feed::{NOTIFY, payload};
use super::tasks::{
    INSERT_TASK, TASK_COLUMNS, TASK_COLUMNS_AND_ANCHOR, TaskRow, anchor_of, task_of,
};
use super::{PgStore, SET_USER, db, hash_of, time, time_opt, to_i64, to_u64};
use crate::domain::{ApiTokenId, ExternalIdentity, Task, TaskId, UserId};
use crate::store::transfer::{ExistingRecords, StoredApiToken, StoredUser, plan_import};
use crate::store::{
    ApiTokenExport, ExportRecord, ExportReport, ImportReport, RecordCounts, StoreError, TaskExport,
    TokenHash, UserExport,
};
use futures_util::{StreamExt, pin_mut};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use tokio_postgres::{IsolationLevel, Row, Statement, Transaction};

/// Serializes imports ("taskimpt").
const IMPORT_LOCK: i64 = 0x7461_736b_696d_7074;

/// How many inserts are pipelined at once.
const BATCH: usize = 256;

impl PgStore {
    /// One repeatable-read snapshot: users, then each user's tasks (under
    /// that user's row security scope), then API tokens.
    pub(super) async fn export_impl(
        &self,
        out: tokio::sync::mpsc::Sender<ExportRecord>,
    ) -> Result<ExportReport, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db)?;
        let mut counts = RecordCounts::default();
        let mut unreadable = Vec::new();
        let send = |record: ExportRecord, counts: &mut RecordCounts| {
            counts.add(&record);
            let out = out.clone();
            async move {
                out.send(record)
                    .await
                    .map_err(|_| StoreError::backend("the export's reader stopped"))
            }
        };
        let users = tx
            .query_raw(
                "SELECT id, email, password_hash, issuer, subject, created_at, next_task_number
                 FROM users ORDER BY id",
                std::iter::empty::<&str>(),
            )
            .await
            .map_err(db)?;
        pin_mut!(users);
        let mut owners = Vec::new();
        while let Some(row) = users.next().await {
            let row = row.map_err(db)?;
            let id = UserId(row.get(0));
            owners.push(id);
            let user = UserExport {
                id,
                email: row.get(1),
                password_hash: row.get(2),
                external: identity_of(&row, 3),
                created_at: time(row.get(5), "users.created_at")?,
                next_task_number: to_u64(row.get(6), "users.next_task_number")?,
            };
            send(ExportRecord::User(user), &mut counts).await?;
        }
        let set_user = tx.prepare(SET_USER).await.map_err(db)?;
        let select = tx
            .prepare(&format!(
                "SELECT {TASK_COLUMNS_AND_ANCHOR} FROM tasks WHERE owner = $1 ORDER BY id"
            ))
            .await
            .map_err(db)?;
        for owner in owners {
            tx.execute(&set_user, &[&owner.to_string()])
                .await
                .map_err(db)?;
            let rows = tx.query_raw(&select, [&owner.0]).await.map_err(db)?;
            pin_mut!(rows);
            while let Some(row) = rows.next().await {
                let row = row.map_err(db)?;
                match task_of(&row).and_then(|task| Ok((task, anchor_of(&row)?))) {
                    Ok((task, anchor)) => {
                        send(
                            ExportRecord::Task(TaskExport {
                                owner,
                                task,
                                anchor,
                            }),
                            &mut counts,
                        )
                        .await?;
                    }
                    Err(e) => {
                        let id: uuid::Uuid = row.get(0);
                        unreadable.push(format!("task {id} of user {owner}: {e}"));
                    }
                }
            }
        }
        let tokens = tx
            .query_raw(
                "SELECT hash, id, user_id, name, created_at, expires_at, last_used_at
                 FROM api_tokens ORDER BY user_id, created_at, id",
                std::iter::empty::<&str>(),
            )
            .await
            .map_err(db)?;
        pin_mut!(tokens);
        while let Some(row) = tokens.next().await {
            let row = row.map_err(db)?;
            let hash: &[u8] = row.get(0);
            let token = ApiTokenExport {
                hash: hash_of(hash)?,
                id: ApiTokenId(row.get(1)),
                user_id: UserId(row.get(2)),
                name: row.get(3),
                created_at: time(row.get(4), "api_tokens.created_at")?,
                expires_at: time(row.get(5), "api_tokens.expires_at")?,
                last_used_at: time_opt(row.get(6), "api_tokens.last_used_at")?,
            };
            send(ExportRecord::ApiToken(token), &mut counts).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(ExportReport {
            sent: counts,
            unreadable,
        })
    }

    /// One transaction under an advisory lock: what the store holds that
    /// the file names is read in bulk, the shared rules
    /// ([`plan_import`]) decide, and the new records are inserted in
    /// pipelined batches.
    pub(super) async fn import_impl(
        &self,
        records: &[ExportRecord],
    ) -> Result<ImportReport, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(db)?;
        // The inserts below borrow it; only the commit takes it.
        let tx = &transaction;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&IMPORT_LOCK])
            .await
            .map_err(db)?;
        let set_user = tx.prepare(SET_USER).await.map_err(db)?;
        let plan = plan_import(records, &InStore::read(tx, &set_user, records).await?)?;

        // ----- the writes, pipelined in batches -----
        let mut new_users = Vec::new();
        let mut new_tasks: HashMap<UserId, Vec<&TaskExport>> = HashMap::new();
        let mut new_tokens = Vec::new();
        for (record, _) in records.iter().zip(&plan.new).filter(|(_, new)| **new) {
            match record {
                ExportRecord::User(user) => new_users.push(user),
                ExportRecord::Task(task) => {
                    new_tasks.entry(task.owner).or_default().push(task);
                }
                ExportRecord::ApiToken(token) => new_tokens.push(token),
            }
        }
        let insert_user = &tx
            .prepare(
                "INSERT INTO users (id, email, password_hash, issuer, subject, created_at, next_task_number)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .map_err(db)?;
        in_batches(&new_users, |u| {
            let issuer = u.external.as_ref().map(|e| e.issuer.as_str());
            let subject = u.external.as_ref().map(|e| e.subject.as_str());
            let created = u.created_at.as_micros();
            let next = to_i64(u.next_task_number.max(1));
            async move {
                tx.execute(
                    insert_user,
                    &[
                        &u.id.0,
                        &u.email,
                        &u.password_hash,
                        &issuer,
                        &subject,
                        &created,
                        &next,
                    ],
                )
                .await
            }
        })
        .await?;
        let insert_task = &tx.prepare(INSERT_TASK).await.map_err(db)?;
        // The owner's row is locked before any task row, as every task
        // write does, by taking a change number for each imported task.
        let take_changes = tx
            .prepare(
                "UPDATE users SET last_change = last_change + $2 WHERE id = $1 RETURNING last_change",
            )
            .await
            .map_err(db)?;
        // A task back under the id of a deletion replaces that deletion in
        // the feed, so the feed shows each task once.
        let replace_deletions = tx
            .prepare(
                "UPDATE task_tombstones SET change_seq = NULL
                 WHERE owner = $1 AND id = ANY($2) AND change_seq IS NOT NULL",
            )
            .await
            .map_err(db)?;
        let notify = tx.prepare(NOTIFY).await.map_err(db)?;
        for (owner, tasks) in &new_tasks {
            // Row security: the inserts must run as the tasks' owner.
            tx.execute(&set_user, &[&owner.to_string()])
                .await
                .map_err(db)?;
            let count = i64::try_from(tasks.len()).unwrap_or(i64::MAX);
            let last: i64 = tx
                .query_one(&take_changes, &[&owner.0, &count])
                .await
                .map_err(db)?
                .get(0);
            let ids: Vec<uuid::Uuid> = tasks.iter().map(|t| t.task.id.0).collect();
            tx.execute(&replace_deletions, &[&owner.0, &ids])
                .await
                .map_err(db)?;
            let numbered: Vec<(i64, &TaskExport)> =
                (last - count + 1..).zip(tasks.iter().copied()).collect();
            in_batches(&numbered, |(change, export)| {
                let row = TaskRow::of(&export.task, export.anchor);
                async move {
                    let params = row.insert_params(&owner.0, change);
                    tx.execute(insert_task, &params).await
                }
            })
            .await?;
            tx.execute(&notify, &[&payload(*owner, last)])
                .await
                .map_err(db)?;
        }
        let insert_token = &tx
            .prepare(
                "INSERT INTO api_tokens (hash, id, user_id, name, created_at, expires_at, last_used_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .map_err(db)?;
        in_batches(&new_tokens, |t| async move {
            tx.execute(
                insert_token,
                &[
                    &&t.hash[..],
                    &t.id.0,
                    &t.user_id.0,
                    &t.name,
                    &t.created_at.as_micros(),
                    &t.expires_at.as_micros(),
                    &t.last_used_at.map(|l| l.as_micros()),
                ],
            )
            .await
        })
        .await?;
        // Numbering continues past every number issued in either store.
        let counters = tx
            .prepare(
                "UPDATE users SET next_task_number = greatest(next_task_number, $2),
                    live_tasks = live_tasks + $3 WHERE id = $1",
            )
            .await
            .map_err(db)?;
        for (owner, next) in &plan.next_numbers {
            let added = to_i64(plan.added_tasks.get(owner).copied().unwrap_or(0));
            tx.execute(&counters, &[&owner.0, &to_i64(*next), &added])
                .await
                .map_err(db)?;
        }
        transaction.commit().await.map_err(db)?;
        for owner in new_tasks.keys() {
            self.inner.signals.notify(*owner);
        }
        Ok(plan.report)
    }
}

/// Runs one insert per item, [`BATCH`] at a time, each batch pipelined on
/// the transaction's connection.
async fn in_batches<'a, T, F, Fut>(items: &'a [T], mut insert: F) -> Result<(), StoreError>
where
    F: FnMut(&'a T) -> Fut,
    Fut: Future<Output = Result<u64, tokio_postgres::Error>>,
{
    for batch in items.chunks(BATCH) {
        futures_util::future::try_join_all(batch.iter().map(&mut insert))
            .await
            .map_err(db)?;
    }
    Ok(())
}

/// The external identity in the `issuer` and `subject` columns at `at` and
/// `at + 1`, if the user has one.
fn identity_of(row: &Row, at: usize) -> Option<ExternalIdentity> {
    let issuer: Option<String> = row.get(at);
    let subject: Option<String> = row.get(at + 1);
    issuer
        .zip(subject)
        .map(|(issuer, subject)| ExternalIdentity { issuer, subject })
}

/// What the store holds that an import file names, read in bulk (a few
/// queries, plus one per task owner under that owner's row security
/// scope) so the rules can then run without a round trip per record.
#[derive(Default)]
struct InStore {
    /// Users by id: those the file names, as users or as owners.
    users: HashMap<UserId, StoredUser>,
    /// Local accounts' emails that the file's users have too.
    emails: HashSet<String>,
    /// External identities that the file's users have too.
    identities: HashSet<ExternalIdentity>,
    /// Tasks with an id the file names, by owner and id.
    tasks: HashMap<(UserId, TaskId), Task>,
    /// Task numbers (by owner) that the file names, with ids or numbers.
    numbers: HashSet<(UserId, u64)>,
    /// API tokens with a hash the file names.
    tokens: HashMap<TokenHash, StoredApiToken>,
}

impl InStore {
    /// Reads what `records` name, in the import's transaction.
    async fn read(
        tx: &Transaction<'_>,
        set_user: &Statement,
        records: &[ExportRecord],
    ) -> Result<Self, StoreError> {
        let mut user_ids: Vec<uuid::Uuid> = Vec::new();
        let mut emails: Vec<&str> = Vec::new();
        let (mut issuers, mut subjects) = (Vec::<&str>::new(), Vec::<&str>::new());
        let mut hashes: Vec<&[u8]> = Vec::new();
        let mut tasks_by_owner: HashMap<UserId, (Vec<uuid::Uuid>, Vec<i64>)> = HashMap::new();
        for record in records {
            match record {
                ExportRecord::User(user) => {
                    user_ids.push(user.id.0);
                    if let Some(identity) = &user.external {
                        issuers.push(&identity.issuer);
                        subjects.push(&identity.subject);
                    } else if let Some(email) = &user.email {
                        emails.push(email);
                    }
                }
                ExportRecord::Task(TaskExport { owner, task, .. }) => {
                    user_ids.push(owner.0);
                    let entry = tasks_by_owner.entry(*owner).or_default();
                    entry.0.push(task.id.0);
                    entry.1.push(to_i64(task.number));
                }
                ExportRecord::ApiToken(token) => {
                    user_ids.push(token.user_id.0);
                    hashes.push(&token.hash);
                }
            }
        }
        let mut found = Self::default();
        for row in tx
            .query(
                "SELECT id, email, password_hash, issuer, subject, created_at FROM users WHERE id = ANY($1)",
                &[&user_ids],
            )
            .await
            .map_err(db)?
        {
            found.users.insert(
                UserId(row.get(0)),
                StoredUser {
                    email: row.get(1),
                    password_hash: row.get(2),
                    external: identity_of(&row, 3),
                    created_at: time(row.get(5), "users.created_at")?,
                },
            );
        }
        found.emails = tx
            .query(
                "SELECT email FROM users WHERE issuer IS NULL AND email = ANY($1)",
                &[&emails],
            )
            .await
            .map_err(db)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        found.identities = tx
            .query(
                "SELECT u.issuer, u.subject FROM users u
                 JOIN unnest($1::text[], $2::text[]) AS f(issuer, subject)
                   ON u.issuer = f.issuer AND u.subject = f.subject",
                &[&issuers, &subjects],
            )
            .await
            .map_err(db)?
            .iter()
            .filter_map(|row| identity_of(row, 0))
            .collect();
        let select_tasks = tx
            .prepare(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE owner = $1 AND (id = ANY($2) OR number = ANY($3))"
            ))
            .await
            .map_err(db)?;
        for (owner, (ids, numbers)) in &tasks_by_owner {
            tx.execute(set_user, &[&owner.to_string()])
                .await
                .map_err(db)?;
            for row in tx
                .query(&select_tasks, &[&owner.0, ids, numbers])
                .await
                .map_err(db)?
            {
                let task = task_of(&row)?;
                found.numbers.insert((*owner, task.number));
                found.tasks.insert((*owner, task.id), task);
            }
        }
        for row in tx
            .query(
                "SELECT hash, id, user_id, name, created_at, expires_at FROM api_tokens WHERE hash = ANY($1)",
                &[&hashes],
            )
            .await
            .map_err(db)?
        {
            found.tokens.insert(
                hash_of(row.get(0))?,
                StoredApiToken {
                    id: ApiTokenId(row.get(1)),
                    user_id: UserId(row.get(2)),
                    name: row.get(3),
                    created_at: time(row.get(4), "api_tokens.created_at")?,
                    expires_at: time(row.get(5), "api_tokens.expires_at")?,
                },
            );
        }
        Ok(found)
    }
}

/// The import rules' questions, answered from what [`InStore::read`] found.
impl ExistingRecords for InStore {
    fn user(&self, id: UserId) -> Result<Option<StoredUser>, StoreError> {
        Ok(self.users.get(&id).cloned())
    }

    fn user_exists(&self, id: UserId) -> Result<bool, StoreError> {
        Ok(self.users.contains_key(&id))
    }

    fn email_taken(&self, email: &str) -> Result<bool, StoreError> {
        Ok(self.emails.contains(email))
    }

    fn identity_taken(&self, identity: &ExternalIdentity) -> Result<bool, StoreError> {
        Ok(self.identities.contains(identity))
    }

    fn task(&self, owner: UserId, id: TaskId) -> Result<Option<Task>, StoreError> {
        Ok(self.tasks.get(&(owner, id)).cloned())
    }

    fn number_taken(&self, owner: UserId, number: u64) -> Result<bool, StoreError> {
        Ok(self.numbers.contains(&(owner, number)))
    }

    fn api_token(&self, hash: &TokenHash) -> Result<Option<StoredApiToken>, StoreError> {
        Ok(self.tokens.get(hash).cloned())
    }
}
