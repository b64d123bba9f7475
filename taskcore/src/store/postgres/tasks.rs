//! Tasks: the `tasks` table, always under the owner's row security scope
//! (see [`scoped`](super::scoped)), numbered from the owner's `users` row.

use super::{PgStore, SET_USER, damaged, db, scoped, time, time_opt, to_i64, to_u64};
use crate::domain::{
    ListQuery, Position, Precondition, Priority, SortField, SortKey, StatusFilter, Task, TaskId,
    TaskPage, TaskPatch, TaskRef, Timestamp, UserId,
};
use crate::store::StoreError;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// The columns [`task_of`] reads, in order.
pub(super) const TASK_COLUMNS: &str = "id, number, title, description, completed, priority, due, tags, created_at, updated_at, completed_at, version";

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
        // TODO(i13-pg): the new columns.
        project: None,
        recur: None,
        series: None,
    })
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
}

impl TaskRow {
    pub(super) fn of(task: &Task) -> Self {
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
        }
    }

    /// The parameters of a statement: `before`, then the content columns
    /// every task statement writes, in this order (`title`, `title_key`,
    /// `description`, `description_lower`, `completed`, `priority`, `due`,
    /// `tags`), then `after`.
    pub(super) fn params<'a>(
        &'a self,
        before: &[&'a (dyn ToSql + Sync)],
        after: &[&'a (dyn ToSql + Sync)],
    ) -> Vec<&'a (dyn ToSql + Sync)> {
        let content: [&(dyn ToSql + Sync); 8] = [
            &self.title,
            &self.title_key,
            &self.description,
            &self.description_lower,
            &self.completed,
            &self.priority,
            &self.due,
            &self.tags,
        ];
        [before, &content, after].concat()
    }

    /// The parameters of [`INSERT_TASK`] for this row of `owner`.
    pub(super) fn insert_params<'a>(
        &'a self,
        owner: &'a uuid::Uuid,
    ) -> Vec<&'a (dyn ToSql + Sync)> {
        self.params(
            &[owner, &self.id, &self.number],
            &[
                &self.created_at,
                &self.updated_at,
                &self.completed_at,
                &self.version,
            ],
        )
    }
}

/// Inserts a task of the owner `$1` from the values of a [`TaskRow`] in
/// `$2` to `$15` (creates and imports, which know the number).
pub(super) const INSERT_TASK: &str = "INSERT INTO tasks (owner, id, number, title, title_key, description, description_lower, completed, priority, due, tags, created_at, updated_at, completed_at, version)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

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
    /// read (`FOR UPDATE`) and then the write with the commit, two round
    /// trips. It owns its arguments so that it can run on a task of its own
    /// (see `update_task`).
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
        let select = client
            .prepare_cached(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE owner = $1 AND {column} = $2 FOR UPDATE"
            ))
            .await
            .map_err(db)?;
        let update = client
            .prepare_cached(
                "UPDATE tasks SET title = $3, title_key = $4, description = $5, description_lower = $6,
                    completed = $7, priority = $8, due = $9, tags = $10, updated_at = $11,
                    completed_at = $12, version = $13
                 WHERE owner = $1 AND id = $2",
            )
            .await
            .map_err(db)?;
        let owner_text = owner.to_string();
        let (begin, scope, current) = futures_util::future::join3(
            client.batch_execute("BEGIN"),
            client.execute(&set_user, &[&owner_text]),
            client.query_opt(&select, &[&owner.0, &*value]),
        )
        .await;
        let decided = (|| {
            begin.map_err(db)?;
            scope.map_err(db)?;
            let Some(row) = current.map_err(db)? else {
                return Err(StoreError::NotFound);
            };
            let mut task = task_of(&row)?;
            if !precondition.allows(task.version) {
                return Err(StoreError::VersionMismatch);
            }
            // TODO(i13-pg): the stored anchor, and the successor.
            let mut anchor = task.initial_anchor();
            let applied = task
                .apply(patch, &mut anchor, Timestamp::now())
                .map_err(StoreError::Invalid)?;
            Ok((task, applied.changed))
        })();
        let (task, changed) = match decided {
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
        let row = TaskRow::of(&task);
        let (updated, commit) = futures_util::future::join(
            client.execute(
                &update,
                &row.params(
                    &[&owner.0, &row.id],
                    &[&row.updated_at, &row.completed_at, &row.version],
                ),
            ),
            client.batch_execute("COMMIT"),
        )
        .await;
        updated.map_err(db)?;
        commit.map_err(db)?;
        Ok(task)
    }

    /// One statement: the delete is conditional on the version, and the
    /// owner's live count moves with it. When nothing was deleted, the
    /// task's version as the statement saw it tells why.
    pub(super) async fn delete_task_impl(
        &self,
        owner: UserId,
        task: TaskRef,
        precondition: &Precondition,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let set_user = client.prepare_cached(SET_USER).await.map_err(db)?;
        let (column, value) = reference(task);
        let delete = client
            .prepare_cached(&format!(
                "WITH target AS (SELECT id, version FROM tasks WHERE owner = $1 AND {column} = $2),
                 d AS (DELETE FROM tasks t USING target
                       WHERE t.owner = $1 AND t.id = target.id
                         AND ($3::bigint[] IS NULL OR t.version = ANY($3))
                       RETURNING t.id),
                 u AS (UPDATE users SET live_tasks = live_tasks - 1
                       WHERE id = $1 AND EXISTS (SELECT 1 FROM d) RETURNING 1)
                 SELECT (SELECT version FROM target), (SELECT count(*) FROM d)"
            ))
            .await
            .map_err(db)?;
        let versions: Option<Vec<i64>> = match precondition {
            Precondition::None | Precondition::Any => None,
            Precondition::Versions(list) => Some(list.iter().copied().map(to_i64).collect()),
        };
        // A concurrent write between the statement's read and its delete
        // shows as "allowed but not deleted": look again.
        for _ in 0..8 {
            let row = scoped(
                &client,
                &set_user,
                owner,
                client.query_one(&delete, &[&owner.0, &*value, &versions]),
            )
            .await?;
            let version: Option<i64> = row.get(0);
            let deleted: i64 = row.get(1);
            if deleted > 0 {
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
        let descending = query.sort.descending;
        let (key_sql, collate) = match (query.sort.field, descending) {
            (SortField::Created, _) => ("", ""),
            (SortField::Updated, _) => ("updated_at", ""),
            (SortField::Priority, _) => ("priority", ""),
            (SortField::Title, _) => ("title_key", " COLLATE \"C\""),
            (SortField::Due, false) => (DUE_ASC, ""),
            (SortField::Due, true) => (DUE_DESC, ""),
            // TODO(i13-pg): an index on the project.
            (SortField::Project, _) => ("", ""),
        };
        let cursor_key: Option<Box<dyn ToSql + Sync + Send>> = match after.map(|a| &a.key) {
            Some(SortKey::Updated(t)) if query.sort.field == SortField::Updated => {
                Some(Box::new(t.as_micros()))
            }
            Some(SortKey::Priority(p)) if query.sort.field == SortField::Priority => {
                Some(Box::new(priority_rank(*p)))
            }
            Some(SortKey::Title(t)) if query.sort.field == SortField::Title => {
                Some(Box::new(t.clone()))
            }
            Some(SortKey::Due(d)) if query.sort.field == SortField::Due => {
                let none = if descending { i64::MIN } else { i64::MAX };
                Some(Box::new(d.map_or(none, |t| t.as_micros())))
            }
            _ => None,
        };
        let (cmp, dir) = if descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        let order = if key_sql.is_empty() {
            format!("id {dir}")
        } else {
            format!("{key_sql} {dir}, id {dir}")
        };
        let completed = match query.status {
            StatusFilter::All => None,
            StatusFilter::Pending => Some(false),
            StatusFilter::Completed => Some(true),
        };
        let priority = query.priority.map(priority_rank);
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let after_id = after.map(|a| a.id.0);
        // Only the filters in use are in the statement: a catch-all
        // `($n IS NULL OR ...)` makes PostgreSQL's cached generic plan
        // estimate one row and read the owner's whole range to sort it
        // (34 ms for a page of a 125,000-task user, against an index range
        // scan that stops after the page).
        let mut sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE owner = $1");
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
        match (&after_id, &cursor_key) {
            (None, _) => {}
            (Some(id), Some(key)) => {
                let condition = format!(" AND (owner, {key_sql}, id) {cmp} ($1, ?{collate}");
                add_filter(&mut sql, &mut params, &condition, key.as_ref());
                add_filter(&mut sql, &mut params, ", ?)", id);
            }
            // Created order, or a position of another order: by id alone.
            (Some(id), None) => add_filter(
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
        let rows = scoped(&client, &set_user, owner, client.query(&select, &params)).await?;
        let mut tasks = rows.iter().map(task_of).collect::<Result<Vec<_>, _>>()?;
        let next = if tasks.len() > limit {
            tasks.truncate(limit);
            tasks.last().map(|t| query.position_of(t))
        } else {
            None
        };
        Ok(TaskPage { tasks, next })
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
