//! Tasks: the `tasks` table, always under the owner's row security scope
//! (see [`scoped`](super::scoped)), numbered from the owner's `users` row.

use super::feed::{NOTIFY, channel, payload};
use super::{PgStore, SET_USER, damaged, db, scoped, time, time_opt, to_i64, to_u64};
use crate::domain::{
    ListQuery, Position, Precondition, Priority, Project, ProjectCount, ProjectFilter, Recur,
    SortField, SortKey, StatusFilter, Task, TaskId, TaskPage, TaskPatch, TaskRef, Timestamp,
    UserId, project_counts,
};
use crate::store::StoreError;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// The columns [`task_of`] reads, in order.
pub(super) const TASK_COLUMNS: &str = "id, number, title, description, completed, priority, due, tags, created_at, updated_at, completed_at, version, project, recur, series";

/// [`TASK_COLUMNS`] and then the anchor of the task's rule, which only the
/// store sees (read by [`anchor_of`]).
pub(super) const TASK_COLUMNS_AND_ANCHOR: &str = "id, number, title, description, completed, priority, due, tags, created_at, updated_at, completed_at, version, project, recur, series, anchor";

/// The due date as each direction sorts it (generated columns): tasks
/// without one come last in both, so each direction has its own sentinel.
const DUE_ASC: &str = "due_asc";
const DUE_DESC: &str = "due_desc";

/// Priority as stored: its rank, none = 0 to high = 3.
pub(super) fn priority_rank(priority: Priority) -> i16 {
    match priority {
        Priority::None => 0,
        Priority::Low => 1,
        Priority::Medium => 2,
        Priority::High => 3,
    }
}

fn priority_of(rank: i16) -> Result<Priority, StoreError> {
    usize::try_from(rank)
        .ok()
        .and_then(|i| Priority::ALL.get(i).copied())
        .ok_or_else(|| damaged("tasks.priority"))
}

/// A task from a row of [`TASK_COLUMNS`].
pub(super) fn task_of(row: &Row) -> Result<Task, StoreError> {
    Ok(Task {
        id: TaskId(row.get(0)),
        number: to_u64(row.get(1), "tasks.number")?,
        title: row.get(2),
        description: row.get(3),
        completed: row.get(4),
        priority: priority_of(row.get(5))?,
        due: time_opt(row.get(6), "tasks.due")?,
        tags: row.get(7),
        created_at: time(row.get(8), "tasks.created_at")?,
        updated_at: time(row.get(9), "tasks.updated_at")?,
        completed_at: time_opt(row.get(10), "tasks.completed_at")?,
        version: to_u64(row.get(11), "tasks.version")?,
        project: row
            .get::<_, Option<&str>>(12)
            .map(Project::parse)
            .transpose()
            .map_err(|_| damaged("tasks.project"))?,
        recur: row
            .get::<_, Option<&str>>(13)
            .map(Recur::parse)
            .transpose()
            .map_err(|_| damaged("tasks.recur"))?,
        series: row.get::<_, Option<uuid::Uuid>>(14).map(TaskId),
    })
}

/// The anchor from a row of [`TASK_COLUMNS_AND_ANCHOR`].
pub(super) fn anchor_of(row: &Row) -> Result<Option<Timestamp>, StoreError> {
    time_opt(row.get(15), "tasks.anchor")
}

/// The values of a task as the table stores them, for inserts and updates:
/// `title_key` and `description_lower` are lower-cased here, by Rust's
/// rules, so filters and the title order match the sled store exactly.
pub(super) struct TaskRow {
    pub id: uuid::Uuid,
    pub number: i64,
    pub title: String,
    pub title_key: String,
    pub description: String,
    pub description_lower: Option<String>,
    pub completed: bool,
    pub priority: i16,
    pub due: Option<i64>,
    pub tags: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
    pub version: i64,
    pub project: Option<String>,
    pub recur: Option<String>,
    pub series: Option<uuid::Uuid>,
    pub anchor: Option<i64>,
}

impl TaskRow {
    /// The row of `task`, whose rule (if any) steps from `anchor`.
    pub(super) fn of(task: &Task, anchor: Option<Timestamp>) -> Self {
        let lower = task.description.to_lowercase();
        Self {
            id: task.id.0,
            number: to_i64(task.number),
            title: task.title.clone(),
            title_key: task.title.to_lowercase(),
            description_lower: (lower != task.description).then_some(lower),
            description: task.description.clone(),
            completed: task.completed,
            priority: priority_rank(task.priority),
            due: task.due.map(|t| t.as_micros()),
            tags: task.tags.clone(),
            created_at: task.created_at.as_micros(),
            updated_at: task.updated_at.as_micros(),
            completed_at: task.completed_at.map(|t| t.as_micros()),
            version: to_i64(task.version),
            project: task.project.as_ref().map(|p| p.as_str().to_owned()),
            recur: task.recur.as_ref().map(ToString::to_string),
            series: task.series.map(|s| s.0),
            anchor: anchor.map(|t| t.as_micros()),
        }
    }

    /// The parameters of a statement: `before`, then the content columns
    /// every task statement writes, in this order (`title`, `title_key`,
    /// `description`, `description_lower`, `completed`, `priority`, `due`,
    /// `tags`, `project`, `recur`, `series`, `anchor`), then `after`.
    pub(super) fn params<'a>(
        &'a self,
        before: &[&'a (dyn ToSql + Sync)],
        after: &[&'a (dyn ToSql + Sync)],
    ) -> Vec<&'a (dyn ToSql + Sync)> {
        let content: [&(dyn ToSql + Sync); 12] = [
            &self.title,
            &self.title_key,
            &self.description,
            &self.description_lower,
            &self.completed,
            &self.priority,
            &self.due,
            &self.tags,
            &self.project,
            &self.recur,
            &self.series,
            &self.anchor,
        ];
        [before, &content, after].concat()
    }

    /// The parameters of [`INSERT_SUCCESSOR`] for this row of `owner`
    /// (its number is the statement's).
    pub(super) fn successor_params<'a>(
        &'a self,
        owner: &'a uuid::Uuid,
    ) -> Vec<&'a (dyn ToSql + Sync)> {
        self.params(
            &[owner, &self.id],
            &[
                &self.created_at,
                &self.updated_at,
                &self.completed_at,
                &self.version,
            ],
        )
    }

    /// The parameters of [`INSERT_TASK`] for this row of `owner`, written
    /// as the owner's change `change`.
    pub(super) fn insert_params<'a>(
        &'a self,
        owner: &'a uuid::Uuid,
        change: &'a i64,
    ) -> Vec<&'a (dyn ToSql + Sync)> {
        self.params(
            &[owner, &self.id, &self.number],
            &[
                &self.created_at,
                &self.updated_at,
                &self.completed_at,
                &self.version,
                change,
            ],
        )
    }
}

/// Inserts a task of the owner `$1` from the values of a [`TaskRow`] in
/// `$2` to `$19`, as the owner's change `$20` (creates and imports, which
/// know the number and have taken the change numbers).
pub(super) const INSERT_TASK: &str = "INSERT INTO tasks (owner, id, number, title, title_key, description, description_lower, completed, priority, due, tags, project, recur, series, anchor, created_at, updated_at, completed_at, version, change_seq)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)";

/// Inserts the successor of a task just completed, in the transaction
/// that completes it: the task of owner `$1` with id `$2` and the values of
/// a [`TaskRow`] in `$3` to `$18` (see [`TaskRow::successor_params`]),
/// numbered with the owner's next number and written as the owner's next
/// change. Only if the owner has no task
/// with that id and never had one (no tombstone), so an occurrence gets at
/// most one successor, ever; and only then are the numbers taken and the live
/// count moved (the successor may go past the task limit: completing a
/// task never fails for it). Concurrent completions of one task are
/// serialized by the row lock on that task; the users row lock orders it
/// with creates; `ON CONFLICT` covers a create of the same id (a client
/// creating the successor itself) that commits in between. Returns the
/// number when it inserted.
pub(super) const INSERT_SUCCESSOR: &str = "WITH free AS (
        SELECT WHERE NOT EXISTS (SELECT FROM tasks WHERE owner = $1 AND id = $2)
                 AND NOT EXISTS (SELECT FROM task_tombstones WHERE owner = $1 AND id = $2)
     ),
     counter AS (
        SELECT next_task_number, last_change FROM users
         WHERE id = $1 AND EXISTS (SELECT FROM free)
           FOR NO KEY UPDATE
     ),
     inserted AS (
        INSERT INTO tasks (owner, id, number, title, title_key, description, description_lower,
                           completed, priority, due, tags, project, recur, series, anchor,
                           created_at, updated_at, completed_at, version, change_seq)
        SELECT $1, $2, next_task_number, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
               $15, $16, $17, $18, last_change + 1
          FROM counter
        ON CONFLICT DO NOTHING
        RETURNING number, change_seq
     ),
     advanced AS (
        UPDATE users SET next_task_number = inserted.number + 1, live_tasks = live_tasks + 1,
                         last_change = inserted.change_seq
          FROM inserted WHERE users.id = $1
     )
     SELECT number FROM inserted";

/// Appends `condition` to `sql` with each `?` as the next parameter, `value`.
fn add_filter<'a>(
    sql: &mut String,
    params: &mut Vec<&'a (dyn ToSql + Sync)>,
    condition: &str,
    value: &'a (dyn ToSql + Sync),
) {
    params.push(value);
    sql.push_str(&condition.replace('?', &format!("${}", params.len())));
}

/// Where a page continues from, as the statement's keyset condition sees it.
enum Cursor {
    /// After this sort key (and the position's id).
    Key(Box<dyn ToSql + Sync + Send>),
    /// Among the tasks without a project, after the position's id.
    WithoutProject,
    /// After the position's id alone (creation order).
    Id,
}

/// Where a task reference points, as SQL and its parameter.
fn reference(task: TaskRef) -> (&'static str, Box<dyn ToSql + Sync + Send>) {
    match task {
        TaskRef::Id(id) => ("id", Box::new(id.0)),
        TaskRef::Number(n) => ("number", Box::new(to_i64(n))),
    }
}

impl PgStore {
    pub(super) async fn task_impl(
        &self,
        owner: UserId,
        task: TaskRef,
    ) -> Result<Option<Task>, StoreError> {
        let client = self.client().await?;
        let set_user = client.prepare_cached(SET_USER).await.map_err(db)?;
        let (column, value) = reference(task);
        let select = client
            .prepare_cached(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE owner = $1 AND {column} = $2"
            ))
            .await
            .map_err(db)?;
        let row = scoped(
            &client,
            &set_user,
            owner,
            client.query_opt(&select, &[&owner.0, &*value]),
        )
        .await?;
        row.map(|row| task_of(&row)).transpose()
    }

    /// One transaction, the task locked while the patch is applied: the
    /// owner's next change number taken (which locks the owner's row
    /// first, as every task write does, so their numbers commit in order)
    /// and the read (`FOR UPDATE`), then the write, the notification and
    /// the commit: two round trips. When the patch completes a recurring
    /// task, the second flight also carries [`INSERT_SUCCESSOR`]. A patch
    /// that changes nothing rolls back, the number with it. It owns its
    /// arguments so that it can run on a task of its own (see
    /// `update_task`).
    pub(super) async fn update_task_impl(
        self,
        owner: UserId,
        task: TaskRef,
        patch: TaskPatch,
        precondition: Precondition,
    ) -> Result<Task, StoreError> {
        let client = self.client().await?;
        let set_user = client.prepare_cached(SET_USER).await.map_err(db)?;
        let (column, value) = reference(task);
        let next_change = client
            .prepare_cached(
                "UPDATE users SET last_change = last_change + 1 WHERE id = $1 RETURNING last_change",
            )
            .await
            .map_err(db)?;
        let select = client
            .prepare_cached(&format!(
                "SELECT {TASK_COLUMNS_AND_ANCHOR} FROM tasks WHERE owner = $1 AND {column} = $2 FOR UPDATE"
            ))
            .await
            .map_err(db)?;
        let update = client
            .prepare_cached(
                "UPDATE tasks SET title = $3, title_key = $4, description = $5, description_lower = $6,
                    completed = $7, priority = $8, due = $9, tags = $10, project = $11, recur = $12,
                    series = $13, anchor = $14, updated_at = $15, completed_at = $16, version = $17,
                    change_seq = $18
                 WHERE owner = $1 AND id = $2",
            )
            .await
            .map_err(db)?;
        let notify = client.prepare_cached(NOTIFY).await.map_err(db)?;
        let owner_text = owner.to_string();
        let (begin, scope, change, current) = futures_util::future::join4(
            client.batch_execute("BEGIN"),
            client.execute(&set_user, &[&owner_text]),
            client.query_opt(&next_change, &[&owner.0]),
            client.query_opt(&select, &[&owner.0, &*value]),
        )
        .await;
        let now = Timestamp::now();
        let decided = (|| {
            begin.map_err(db)?;
            scope.map_err(db)?;
            // No users row: the owner is gone, and so are their tasks.
            let Some(change) = change.map_err(db)? else {
                return Err(StoreError::NotFound);
            };
            let Some(row) = current.map_err(db)? else {
                return Err(StoreError::NotFound);
            };
            let change: i64 = change.get(0);
            let mut task = task_of(&row)?;
            let mut anchor = anchor_of(&row)?;
            if !precondition.allows(task.version) {
                return Err(StoreError::VersionMismatch);
            }
            let applied = task
                .apply(patch, &mut anchor, now)
                .map_err(StoreError::Invalid)?;
            // Its number is the owner's next one, which the statement that
            // inserts it takes: 0 here is never written.
            let successor = if applied.completed_now {
                task.successor(anchor, 0, now)
            } else {
                None
            };
            Ok((task, anchor, applied.changed, successor, change))
        })();
        let (task, anchor, changed, successor, change) = match decided {
            Ok(decided) => decided,
            Err(e) => {
                client.batch_execute("ROLLBACK").await.map_err(db)?;
                return Err(e);
            }
        };
        if !changed {
            client.batch_execute("ROLLBACK").await.map_err(db)?;
            return Ok(task);
        }
        let row = TaskRow::of(&task, anchor);
        let update_params = row.params(
            &[&owner.0, &row.id],
            &[&row.updated_at, &row.completed_at, &row.version, &change],
        );
        let update = client.execute(&update, &update_params);
        let payload = payload(owner, change);
        let payload_params: [&(dyn ToSql + Sync); 1] = [&payload];
        let notified = client.execute(&notify, &payload_params);
        match successor {
            None => {
                let (updated, notified, commit) =
                    futures_util::future::join3(update, notified, client.batch_execute("COMMIT"))
                        .await;
                updated.map_err(db)?;
                notified.map_err(db)?;
                commit.map_err(db)?;
            }
            Some(next) => {
                let insert_successor = client.prepare_cached(INSERT_SUCCESSOR).await.map_err(db)?;
                // The successor steps from the same anchor as this task.
                let next_row = TaskRow::of(&next, anchor);
                let (updated, inserted, notified, commit) = futures_util::future::join4(
                    update,
                    client.query_opt(&insert_successor, &next_row.successor_params(&owner.0)),
                    notified,
                    client.batch_execute("COMMIT"),
                )
                .await;
                updated.map_err(db)?;
                inserted.map_err(db)?;
                notified.map_err(db)?;
                commit.map_err(db)?;
            }
        }
        self.inner.signals.notify(owner);
        Ok(task)
    }

    /// One flight: the owner's row locked first (as every task write
    /// does), then one statement: the delete is conditional on the
    /// version, and the owner's live count and change counter, the task's
    /// tombstone (with the deletion's change number) and the notification
    /// move with it. When nothing was deleted, the task's version as the
    /// statement saw it tells why.
    pub(super) async fn delete_task_impl(
        &self,
        owner: UserId,
        task: TaskRef,
        precondition: &Precondition,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let set_user = client.prepare_cached(SET_USER).await.map_err(db)?;
        let (column, value) = reference(task);
        let lock_owner = client
            .prepare_cached("SELECT FROM users WHERE id = $1 FOR NO KEY UPDATE")
            .await
            .map_err(db)?;
        let delete = client
            .prepare_cached(&format!(
                "WITH target AS (SELECT id, version FROM tasks WHERE owner = $1 AND {column} = $2),
                 d AS (DELETE FROM tasks t USING target
                       WHERE t.owner = $1 AND t.id = target.id
                         AND ($3::bigint[] IS NULL OR t.version = ANY($3))
                       RETURNING t.id, t.number),
                 u AS (UPDATE users SET live_tasks = live_tasks - 1, last_change = last_change + 1
                       WHERE id = $1 AND EXISTS (SELECT 1 FROM d) RETURNING last_change),
                 -- An id can only come back through an import: the
                 -- latest deletion is the one remembered.
                 gone AS (INSERT INTO task_tombstones (owner, id, number, deleted_at, change_seq)
                          SELECT $1, id, number, $4, (SELECT last_change FROM u) FROM d
                          ON CONFLICT (owner, id)
                          DO UPDATE SET number = excluded.number, deleted_at = excluded.deleted_at,
                                        change_seq = excluded.change_seq),
                 told AS (SELECT pg_notify('{channel}', $1::text || ':' || last_change) FROM u)
                 SELECT (SELECT version FROM target), (SELECT count(*) FROM d),
                        (SELECT count(*) FROM told)",
                channel = channel!(),
            ))
            .await
            .map_err(db)?;
        let versions: Option<Vec<i64>> = match precondition {
            Precondition::None | Precondition::Any => None,
            Precondition::Versions(list) => Some(list.iter().copied().map(to_i64).collect()),
        };
        let now = Timestamp::now().as_micros();
        // A concurrent write between the statement's read and its delete
        // shows as "allowed but not deleted": look again.
        for _ in 0..8 {
            let work = async {
                let (locked, row) = futures_util::future::join(
                    client.query_opt(&lock_owner, &[&owner.0]),
                    client.query_one(&delete, &[&owner.0, &*value, &versions, &now]),
                )
                .await;
                locked?;
                row
            };
            let row = scoped(&client, &set_user, owner, work).await?;
            let version: Option<i64> = row.get(0);
            let deleted: i64 = row.get(1);
            if deleted > 0 {
                self.inner.signals.notify(owner);
                return Ok(());
            }
            let Some(version) = version else {
                return Err(StoreError::NotFound);
            };
            if !precondition.allows(to_u64(version, "tasks.version")?) {
                return Err(StoreError::VersionMismatch);
            }
        }
        Err(StoreError::backend(
            "a task kept changing while it was being deleted",
        ))
    }

    /// A keyset page: the predicate `(owner, key, id) > (owner, $key, $id)`
    /// and the order match one index, so the page is a range scan that
    /// stops after `limit + 1` matches.
    pub(super) async fn list_tasks_impl(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
    ) -> Result<TaskPage, StoreError> {
        let limit = query.limit.max(1);
        let rows = self.list_rows(owner, query, after, "").await?;
        let mut tasks = rows.iter().map(task_of).collect::<Result<Vec<_>, _>>()?;
        let next = if tasks.len() > limit {
            tasks.truncate(limit);
            tasks.last().map(|t| query.position_of(t))
        } else {
            None
        };
        Ok(TaskPage { tasks, next })
    }

    /// The rows of a page and one more, by the statement that
    /// [`list_tasks_impl`](Self::list_tasks_impl) runs; with `prefix`
    /// `EXPLAIN ...`, that statement's plan (for the tests).
    pub(super) async fn list_rows(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
        prefix: &str,
    ) -> Result<Vec<Row>, StoreError> {
        let limit = query.limit.max(1);
        let descending = query.sort.descending;
        let project_sort = query.sort.field == SortField::Project;
        // Which of the two project indexes serves: `sort=-project` scans
        // the one led by `project_present` backward, every other query uses
        // the one led by `project_missing`. `has` and `lacks` are the
        // conditions on the leading column for a task with and without a
        // project, and `has_value` its value for a task with one.
        let (has, lacks, has_value) = if project_sort && descending {
            ("project_present", "NOT project_present", "true")
        } else {
            ("NOT project_missing", "project_missing", "false")
        };
        let (key_sql, collate) = match (query.sort.field, descending) {
            (SortField::Created, _) => ("", ""),
            (SortField::Updated, _) => ("updated_at", ""),
            (SortField::Priority, _) => ("priority", ""),
            (SortField::Title, _) => ("title_key", " COLLATE \"C\""),
            (SortField::Due, false) => (DUE_ASC, ""),
            (SortField::Due, true) => (DUE_DESC, ""),
            (SortField::Project, false) => ("project_missing, project", " COLLATE \"C\""),
            (SortField::Project, true) => ("project_present, project", " COLLATE \"C\""),
        };
        let cursor = match after.map(|a| &a.key) {
            Some(SortKey::Updated(t)) if query.sort.field == SortField::Updated => {
                Cursor::Key(Box::new(t.as_micros()))
            }
            Some(SortKey::Priority(p)) if query.sort.field == SortField::Priority => {
                Cursor::Key(Box::new(priority_rank(*p)))
            }
            Some(SortKey::Title(t)) if query.sort.field == SortField::Title => {
                Cursor::Key(Box::new(t.clone()))
            }
            Some(SortKey::Due(d)) if query.sort.field == SortField::Due => {
                let none = if descending { i64::MIN } else { i64::MAX };
                Cursor::Key(Box::new(d.map_or(none, |t| t.as_micros())))
            }
            Some(SortKey::Project(Some(p))) if project_sort => {
                Cursor::Key(Box::new(p.as_str().to_owned()))
            }
            Some(SortKey::Project(None)) if project_sort => Cursor::WithoutProject,
            _ => Cursor::Id,
        };
        let (cmp, dir) = if descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        let order = if key_sql.is_empty() {
            format!("id {dir}")
        } else {
            let columns = key_sql.split(", ").chain(["id"]);
            columns
                .map(|column| format!("{column} {dir}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let completed = match query.status {
            StatusFilter::All => None,
            StatusFilter::Pending => Some(false),
            StatusFilter::Completed => Some(true),
        };
        let priority = query.priority.map(priority_rank);
        // `project=P`: `P` itself and the names from `P.` up to `P/`
        // ('/' follows '.'), one index range with the names between `P`
        // and `P.` (such as `P-x`) filtered out.
        let within = match &query.project {
            Some(ProjectFilter::Within(p)) => Some([
                p.as_str().to_owned(),
                format!("{p}/"),
                p.as_str().to_owned(),
                p.subtree_prefix(),
            ]),
            _ => None,
        };
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let after_id = after.map(|a| a.id.0);
        // Only the filters in use are in the statement: a catch-all
        // `($n IS NULL OR ...)` makes PostgreSQL's cached generic plan
        // estimate one row and read the owner's whole range to sort it
        // (34 ms for a page of a 125,000-task user, against an index range
        // scan that stops after the page).
        let mut sql = format!("{prefix}SELECT {TASK_COLUMNS} FROM tasks WHERE owner = $1");
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&owner.0, &fetch];
        if let Some(completed) = &completed {
            add_filter(&mut sql, &mut params, " AND completed = ?", completed);
        }
        if let Some(priority) = &priority {
            add_filter(&mut sql, &mut params, " AND priority = ?", priority);
        }
        if let Some(tag) = &query.tag {
            add_filter(&mut sql, &mut params, " AND ? = ANY(tags)", tag);
        }
        if let Some(q) = &query.q {
            add_filter(
                &mut sql,
                &mut params,
                " AND (strpos(title_key, ?) > 0 OR strpos(coalesce(description_lower, description), ?) > 0)",
                q,
            );
        }
        if let Some([from, to, exact, inside]) = &within {
            add_filter(
                &mut sql,
                &mut params,
                &format!(" AND {has} AND project >= ?"),
                from,
            );
            add_filter(&mut sql, &mut params, " AND project < ?", to);
            // A CASE, not an OR: the planner splits an OR of indexable
            // arms into a bitmap of two ranges, which then must be sorted.
            add_filter(&mut sql, &mut params, " AND CASE WHEN project = ?", exact);
            add_filter(
                &mut sql,
                &mut params,
                " THEN true ELSE project >= ? END",
                inside,
            );
        } else if query.project == Some(ProjectFilter::None) {
            sql.push_str(&format!(" AND {lacks} AND project IS NULL"));
        }
        match (&after_id, &cursor) {
            (None, _) => {}
            (Some(id), Cursor::Key(key)) => {
                // For a project, the leading column's value first: a task
                // without one is then after the cursor by that column
                // alone (its NULL is never compared).
                let group = if project_sort {
                    format!("{has_value}, ")
                } else {
                    String::new()
                };
                let condition = format!(" AND (owner, {key_sql}, id) {cmp} ($1, {group}?{collate}");
                add_filter(&mut sql, &mut params, &condition, key.as_ref());
                add_filter(&mut sql, &mut params, ", ?)", id);
            }
            // Among the tasks without a project, which come last: by id.
            (Some(id), Cursor::WithoutProject) => add_filter(
                &mut sql,
                &mut params,
                &format!(" AND {lacks} AND project IS NULL AND id {cmp} ?"),
                id,
            ),
            // Created order, or a position of another order: by id alone.
            (Some(id), Cursor::Id) => add_filter(
                &mut sql,
                &mut params,
                &format!(" AND (owner, id) {cmp} ($1, ?)"),
                id,
            ),
        }
        sql.push_str(&format!(" ORDER BY {order} LIMIT $2"));
        let client = self.client().await?;
        let set_user = client.prepare_cached(SET_USER).await.map_err(db)?;
        let select = client.prepare_cached(&sql).await.map_err(db)?;
        scoped(&client, &set_user, owner, client.query(&select, &params)).await
    }

    /// One grouped read of the owner's named projects (a range of the
    /// project index), then the shared rules add the parents.
    pub(super) async fn projects_impl(
        &self,
        owner: UserId,
    ) -> Result<Vec<ProjectCount>, StoreError> {
        let client = self.client().await?;
        let set_user = client.prepare_cached(SET_USER).await.map_err(db)?;
        let select = client
            .prepare_cached(
                "SELECT project, completed, count(*) FROM tasks
                 WHERE owner = $1 AND NOT project_missing AND project IS NOT NULL
                 GROUP BY project, completed",
            )
            .await
            .map_err(db)?;
        let rows = scoped(
            &client,
            &set_user,
            owner,
            client.query(&select, &[&owner.0]),
        )
        .await?;
        let mut counts = Vec::with_capacity(rows.len());
        for row in &rows {
            let project =
                Project::parse(row.get::<_, &str>(0)).map_err(|_| damaged("tasks.project"))?;
            counts.push((project, row.get::<_, bool>(1), to_u64(row.get(2), "count")?));
        }
        Ok(project_counts(
            counts.iter().map(|(p, completed, n)| (p, *completed, *n)),
        ))
    }

    pub(super) async fn live_task_count_impl(&self, owner: UserId) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let select = client
            .prepare_cached("SELECT live_tasks FROM users WHERE id = $1")
            .await
            .map_err(db)?;
        match client.query_opt(&select, &[&owner.0]).await.map_err(db)? {
            Some(row) => to_u64(row.get(0), "users.live_tasks"),
            None => Ok(0),
        }
    }
}
