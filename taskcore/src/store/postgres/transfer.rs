//! Export and import (see [`crate::store::transfer`]), with the same
//! conflict rules as the sled store. An import is one transaction: every
//! record is checked before anything is written, and a conflict writes
//! nothing.

use super::tasks::{INSERT_TASK, TASK_COLUMNS, TaskRow, task_of};
use super::{PgStore, SET_USER, db, hash_of, time, time_opt, to_i64, to_u64};
use crate::domain::{ApiTokenId, ExternalIdentity, Task, TaskId, UserId};
use crate::store::{
    ApiTokenExport, ExportRecord, ImportReport, RecordCounts, StoreError, TaskExport, TokenHash,
    UserExport,
};
use futures_util::{StreamExt, pin_mut};
use std::collections::{HashMap, HashSet};
use tokio_postgres::IsolationLevel;

/// Serializes imports ("taskimpt").
const IMPORT_LOCK: i64 = 0x7461_736b_696d_7074;

/// How many inserts are pipelined at once.
const BATCH: usize = 256;

/// A user as stored, for comparing with an imported one.
struct StoredUser {
    email: Option<String>,
    password_hash: Option<String>,
    external: Option<ExternalIdentity>,
    created_at: crate::domain::Timestamp,
}

impl PgStore {
    /// One repeatable-read snapshot: users, then each user's tasks (under
    /// that user's row security scope), then API tokens.
    pub(super) async fn export_impl(
        &self,
        out: tokio::sync::mpsc::Sender<ExportRecord>,
    ) -> Result<RecordCounts, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db)?;
        let mut counts = RecordCounts::default();
        let send = |record: ExportRecord, counts: &mut RecordCounts| {
            counts.add(&record);
            let out = out.clone();
            async move {
                out.send(record)
                    .await
                    .map_err(|_| StoreError::Backend("the export's reader stopped".into()))
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
            let issuer: Option<String> = row.get(3);
            let subject: Option<String> = row.get(4);
            let user = UserExport {
                id,
                email: row.get(1),
                password_hash: row.get(2),
                external: issuer
                    .zip(subject)
                    .map(|(issuer, subject)| ExternalIdentity { issuer, subject }),
                created_at: time(row.get(5), "users.created_at")?,
                next_task_number: to_u64(row.get(6), "users.next_task_number")?,
            };
            send(ExportRecord::User(user), &mut counts).await?;
        }
        let set_user = tx.prepare(SET_USER).await.map_err(db)?;
        let select = tx
            .prepare(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE owner = $1 ORDER BY id"
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
                let task = task_of(&row.map_err(db)?)?;
                send(ExportRecord::Task(TaskExport { owner, task }), &mut counts).await?;
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
        Ok(counts)
    }

    pub(super) async fn import_impl(
        &self,
        records: &[ExportRecord],
    ) -> Result<ImportReport, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&IMPORT_LOCK])
            .await
            .map_err(db)?;
        let set_user = tx.prepare(SET_USER).await.map_err(db)?;

        // ----- what the store holds that the file names, in bulk -----
        let mut user_ids: Vec<uuid::Uuid> = Vec::new();
        let mut emails: Vec<String> = Vec::new();
        let (mut issuers, mut subjects) = (Vec::<String>::new(), Vec::<String>::new());
        let mut hashes: Vec<Vec<u8>> = Vec::new();
        let mut tasks_by_owner: HashMap<UserId, (Vec<uuid::Uuid>, Vec<i64>)> = HashMap::new();
        for record in records {
            match record {
                ExportRecord::User(user) => {
                    user_ids.push(user.id.0);
                    if let Some(identity) = &user.external {
                        issuers.push(identity.issuer.clone());
                        subjects.push(identity.subject.clone());
                    } else if let Some(email) = &user.email {
                        emails.push(email.clone());
                    }
                }
                ExportRecord::Task(TaskExport { owner, task }) => {
                    user_ids.push(owner.0);
                    let entry = tasks_by_owner.entry(*owner).or_default();
                    entry.0.push(task.id.0);
                    entry.1.push(to_i64(task.number));
                }
                ExportRecord::ApiToken(token) => {
                    user_ids.push(token.user_id.0);
                    hashes.push(token.hash.to_vec());
                }
            }
        }
        let mut stored_users: HashMap<UserId, StoredUser> = HashMap::new();
        for row in tx
            .query(
                "SELECT id, email, password_hash, issuer, subject, created_at FROM users WHERE id = ANY($1)",
                &[&user_ids],
            )
            .await
            .map_err(db)?
        {
            let issuer: Option<String> = row.get(3);
            let subject: Option<String> = row.get(4);
            stored_users.insert(
                UserId(row.get(0)),
                StoredUser {
                    email: row.get(1),
                    password_hash: row.get(2),
                    external: issuer
                        .zip(subject)
                        .map(|(issuer, subject)| ExternalIdentity { issuer, subject }),
                    created_at: time(row.get(5), "users.created_at")?,
                },
            );
        }
        let taken_emails: HashSet<String> = tx
            .query(
                "SELECT email FROM users WHERE issuer IS NULL AND email = ANY($1)",
                &[&emails],
            )
            .await
            .map_err(db)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let taken_identities: HashSet<(String, String)> = tx
            .query(
                "SELECT u.issuer, u.subject FROM users u
                 JOIN unnest($1::text[], $2::text[]) AS f(issuer, subject)
                   ON u.issuer = f.issuer AND u.subject = f.subject",
                &[&issuers, &subjects],
            )
            .await
            .map_err(db)?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let mut stored_tasks: HashMap<(UserId, TaskId), Task> = HashMap::new();
        let mut taken_numbers: HashSet<(UserId, i64)> = HashSet::new();
        let select_tasks = tx
            .prepare(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE owner = $1 AND (id = ANY($2) OR number = ANY($3))"
            ))
            .await
            .map_err(db)?;
        for (owner, (ids, numbers)) in &tasks_by_owner {
            tx.execute(&set_user, &[&owner.to_string()])
                .await
                .map_err(db)?;
            for row in tx
                .query(&select_tasks, &[&owner.0, ids, numbers])
                .await
                .map_err(db)?
            {
                let task = task_of(&row)?;
                taken_numbers.insert((*owner, to_i64(task.number)));
                stored_tasks.insert((*owner, task.id), task);
            }
        }
        let mut stored_tokens: HashMap<TokenHash, ApiTokenExport> = HashMap::new();
        for row in tx
            .query(
                "SELECT hash, id, user_id, name, created_at, expires_at FROM api_tokens WHERE hash = ANY($1)",
                &[&hashes],
            )
            .await
            .map_err(db)?
        {
            let hash = hash_of(row.get(0))?;
            stored_tokens.insert(
                hash,
                ApiTokenExport {
                    hash,
                    id: ApiTokenId(row.get(1)),
                    user_id: UserId(row.get(2)),
                    name: row.get(3),
                    created_at: time(row.get(4), "api_tokens.created_at")?,
                    expires_at: time(row.get(5), "api_tokens.expires_at")?,
                    last_used_at: None,
                },
            );
        }

        // ----- the plan: the sled store's rules, record by record -----
        let mut report = ImportReport::default();
        let mut conflicts = Vec::new();
        let mut new = Vec::with_capacity(records.len());
        let mut users_in_file = HashSet::new();
        let mut emails_in_file = HashSet::new();
        let mut identities_in_file = HashSet::new();
        let mut numbers_in_file = HashSet::new();
        let mut hashes_in_file = HashSet::new();
        let mut next_numbers: HashMap<UserId, u64> = HashMap::new();
        let mut added_tasks: HashMap<UserId, i64> = HashMap::new();
        let check_owner = |owner: UserId,
                           users_in_file: &HashSet<UserId>,
                           what: &str,
                           conflicts: &mut Vec<String>| {
            if !users_in_file.contains(&owner) && !stored_users.contains_key(&owner) {
                conflicts.push(format!(
                    "{what} of user {owner}: that user is neither in the store nor earlier in the file"
                ));
            }
        };
        for record in records {
            let is_new = match record {
                ExportRecord::User(user) => {
                    if !users_in_file.insert(user.id) {
                        conflicts.push(format!("user {}: appears twice in the file", user.id));
                    }
                    let next = next_numbers.entry(user.id).or_insert(1);
                    *next = (*next).max(user.next_task_number);
                    match stored_users.get(&user.id) {
                        Some(stored) => {
                            let same = stored.email == user.email
                                && stored.password_hash == user.password_hash
                                && stored.external == user.external
                                && stored.created_at == user.created_at;
                            if !same {
                                conflicts.push(format!(
                                    "user {}: already in the store with other content",
                                    user.id
                                ));
                            }
                            false
                        }
                        None => {
                            if let Some(identity) = &user.external {
                                let key = (identity.issuer.clone(), identity.subject.clone());
                                if taken_identities.contains(&key)
                                    || !identities_in_file.insert(key)
                                {
                                    conflicts.push(format!(
                                        "user {}: the identity {} at {} belongs to another user",
                                        user.id, identity.subject, identity.issuer
                                    ));
                                }
                            } else if let Some(email) = &user.email
                                && (taken_emails.contains(email)
                                    || !emails_in_file.insert(email.clone()))
                            {
                                conflicts.push(format!(
                                    "user {}: the email {email} belongs to another user",
                                    user.id
                                ));
                            }
                            true
                        }
                    }
                }
                ExportRecord::Task(TaskExport { owner, task }) => {
                    check_owner(*owner, &users_in_file, "task", &mut conflicts);
                    match stored_tasks.get(&(*owner, task.id)) {
                        Some(stored) => {
                            if stored != task {
                                conflicts.push(format!(
                                    "task {}: already in the store with other content",
                                    task.id
                                ));
                            }
                            false
                        }
                        None => {
                            let number = (*owner, to_i64(task.number));
                            if taken_numbers.contains(&number) || !numbers_in_file.insert(number) {
                                conflicts.push(format!(
                                    "task {}: its owner already has a task number {}",
                                    task.id, task.number
                                ));
                            }
                            let next = next_numbers.entry(*owner).or_insert(1);
                            *next = (*next).max(task.number + 1);
                            *added_tasks.entry(*owner).or_default() += 1;
                            true
                        }
                    }
                }
                ExportRecord::ApiToken(token) => {
                    check_owner(token.user_id, &users_in_file, "API token", &mut conflicts);
                    if !hashes_in_file.insert(token.hash) {
                        conflicts
                            .push(format!("API token {}: appears twice in the file", token.id));
                    }
                    match stored_tokens.get(&token.hash) {
                        Some(stored) => {
                            // `last_used_at` moves on its own: not a conflict.
                            let same = stored.id == token.id
                                && stored.user_id == token.user_id
                                && stored.name == token.name
                                && stored.created_at == token.created_at
                                && stored.expires_at == token.expires_at;
                            if !same {
                                conflicts.push(format!(
                                    "API token {}: its hash is already in the store for another token",
                                    token.id
                                ));
                            }
                            false
                        }
                        None => true,
                    }
                }
            };
            if is_new {
                report.added.add(record);
            } else {
                report.unchanged.add(record);
            }
            new.push(is_new);
        }
        if !conflicts.is_empty() {
            return Err(StoreError::ImportConflict(conflicts));
        }

        // ----- the writes, pipelined in batches -----
        let insert_user = tx
            .prepare(
                "INSERT INTO users (id, email, password_hash, issuer, subject, created_at, next_task_number)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .map_err(db)?;
        let new_users: Vec<&UserExport> = records
            .iter()
            .zip(&new)
            .filter_map(|(r, n)| match r {
                ExportRecord::User(u) if *n => Some(u),
                _ => None,
            })
            .collect();
        for batch in new_users.chunks(BATCH) {
            let mut pending = Vec::with_capacity(batch.len());
            for u in batch {
                let issuer = u.external.as_ref().map(|e| e.issuer.as_str());
                let subject = u.external.as_ref().map(|e| e.subject.as_str());
                let created = u.created_at.as_micros();
                let next = to_i64(u.next_task_number.max(1));
                let (tx, insert_user) = (&tx, &insert_user);
                pending.push(async move {
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
                });
            }
            futures_util::future::try_join_all(pending)
                .await
                .map_err(db)?;
        }
        let insert_task = tx.prepare(INSERT_TASK).await.map_err(db)?;
        let mut new_tasks: HashMap<UserId, Vec<&Task>> = HashMap::new();
        for (record, is_new) in records.iter().zip(&new) {
            if let (ExportRecord::Task(TaskExport { owner, task }), true) = (record, *is_new) {
                new_tasks.entry(*owner).or_default().push(task);
            }
        }
        for (owner, tasks) in &new_tasks {
            tx.execute(&set_user, &[&owner.to_string()])
                .await
                .map_err(db)?;
            for batch in tasks.chunks(BATCH) {
                let mut pending = Vec::with_capacity(batch.len());
                for task in batch {
                    let row = TaskRow::of(task);
                    let (tx, insert_task) = (&tx, &insert_task);
                    pending.push(async move {
                        tx.execute(
                            insert_task,
                            &[
                                &owner.0,
                                &row.id,
                                &row.number,
                                &row.title,
                                &row.title_key,
                                &row.description,
                                &row.description_lower,
                                &row.completed,
                                &row.priority,
                                &row.due,
                                &row.tags,
                                &row.created_at,
                                &row.updated_at,
                                &row.completed_at,
                                &row.version,
                            ],
                        )
                        .await
                    });
                }
                futures_util::future::try_join_all(pending)
                    .await
                    .map_err(db)?;
            }
        }
        let insert_token = tx
            .prepare(
                "INSERT INTO api_tokens (hash, id, user_id, name, created_at, expires_at, last_used_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .map_err(db)?;
        let new_tokens: Vec<&ApiTokenExport> = records
            .iter()
            .zip(&new)
            .filter_map(|(r, n)| match r {
                ExportRecord::ApiToken(t) if *n => Some(t),
                _ => None,
            })
            .collect();
        for batch in new_tokens.chunks(BATCH) {
            let mut pending = Vec::with_capacity(batch.len());
            for t in batch {
                let (tx, insert_token) = (&tx, &insert_token);
                pending.push(async move {
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
                });
            }
            futures_util::future::try_join_all(pending)
                .await
                .map_err(db)?;
        }
        // Numbering continues past every number issued in either store.
        let counters = tx
            .prepare(
                "UPDATE users SET next_task_number = greatest(next_task_number, $2),
                    live_tasks = live_tasks + $3 WHERE id = $1",
            )
            .await
            .map_err(db)?;
        for (owner, next) in &next_numbers {
            let added = added_tasks.get(owner).copied().unwrap_or(0);
            tx.execute(&counters, &[&owner.0, &to_i64(*next), &added])
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(report)
    }
}
