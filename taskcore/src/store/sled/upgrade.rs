//! Upgrading a data directory that an earlier release wrote, in place.
//!
//! | from | to | what changes |
//! |---|---|---|
//! | 1 | 2 | task times outside `0001`..`9999` (accepted before the range check, and written by chrono as `+10000-...`, which nothing can read back) move to the nearest end of the range, so every record reads, lists and exports again; each is logged by owner and id |
//! | 2 | 3 | every task record is written again with `"project":null,"recur":null,"series":null` (lists copy the stored JSON into responses, so it must hold every field), and gets its entry in the project index (`task_projects`, under "no project"); in batches |
//! | 3 | 4 | every task gets a change number (per owner, in creation order) and its entry in the change feed (`task_changes`, `task_change_numbers`); deletions made before stay out of the feed (no cursor is older than the upgrade, and a full sync shows live tasks only) |

use super::records::encode;
use super::{Trees, backend, keys};
use crate::domain::{Task, TaskId, Timestamp, UserId};
use crate::store::StoreError;
use serde_json::Value;
use std::ops::Bound::{Excluded, Unbounded};

/// Task records rewritten per batch in the 2 → 3 step: bounded memory
/// (each batch is held until it is applied) whatever the store's size.
const BATCH: usize = 1000;

/// The fields of a stored task that hold times.
const TASK_TIME_FIELDS: [&str; 4] = ["due", "created_at", "updated_at", "completed_at"];

/// Brings `trees` from format `from` to the current one. Each step is
/// idempotent, so a crash part way is finished by the next open; the
/// caller records the new version only after every step succeeded.
pub(super) fn upgrade(trees: &Trees, from: u32) -> Result<(), StoreError> {
    if from < 2 {
        repair_task_times(trees)?;
    }
    if from < 3 {
        add_project_fields(trees)?;
    }
    if from < 4 {
        let numbered = trees.number_changes()?;
        tracing::info!(
            numbered,
            "task records brought to data format 4 (the change feed)"
        );
    }
    Ok(())
}

/// Format 2 → 3: writes every task record again with the fields that
/// projects and recurrence added (all `null` before them), and indexes it
/// under "no project".
///
/// Batch by batch in key order, the index entries before the records (so
/// a record never lacks its entry): a crash part way leaves the version at
/// 2, and the next open does it all again, writing only what is missing. A
/// record that does not decode is left as it is (and logged): reading it
/// reports it, as before.
fn add_project_fields(trees: &Trees) -> Result<u64, StoreError> {
    let (mut checked, mut rewritten, mut unreadable) = (0u64, 0u64, 0u64);
    let mut from: Option<sled::IVec> = None;
    loop {
        let range = match &from {
            Some(last) => trees
                .tasks
                .range::<&[u8], _>((Excluded(last.as_ref()), Unbounded)),
            None => trees.tasks.iter(),
        };
        let mut records = sled::Batch::default();
        let mut index = sled::Batch::default();
        let mut count = 0;
        let mut last = None;
        for item in range.take(BATCH) {
            let (key, bytes) = item.map_err(backend)?;
            count += 1;
            checked += 1;
            last = Some(key.clone());
            let (Some(owner), Some(id), Ok(task)) = (
                key.get(..16)
                    .and_then(keys::id_bytes)
                    .map(UserId::from_bytes),
                key.get(16..)
                    .and_then(keys::id_bytes)
                    .map(TaskId::from_bytes),
                serde_json::from_slice::<Task>(&bytes),
            ) else {
                unreadable += 1;
                tracing::warn!(
                    key = ?key.as_ref(),
                    "a task record does not decode; the format upgrade leaves it as it is"
                );
                continue;
            };
            if let Some(project) = &task.project {
                index.insert(keys::task_project(owner, project.as_str(), id), &[][..]);
            }
            let upgraded = encode(&task)?;
            if upgraded.as_slice() != bytes.as_ref() {
                records.insert(key, upgraded);
                rewritten += 1;
            }
        }
        if count == 0 {
            break;
        }
        trees.task_projects.apply_batch(index).map_err(backend)?;
        trees.tasks.apply_batch(records).map_err(backend)?;
        from = last;
    }
    tracing::info!(
        checked,
        rewritten,
        unreadable,
        "task records brought to data format 3 (projects and recurrence)"
    );
    Ok(rewritten)
}

/// Format 1 → 2: rewrites the tasks whose times lie outside the range.
fn repair_task_times(trees: &Trees) -> Result<(), StoreError> {
    let (mut checked, mut repaired) = (0u64, 0u64);
    for item in trees.tasks.iter() {
        let (key, bytes) = item.map_err(backend)?;
        checked += 1;
        let Some(task) = repaired_task(&bytes) else {
            continue;
        };
        let owner = key
            .get(..16)
            .and_then(keys::id_bytes)
            .map(UserId::from_bytes);
        let id = key
            .get(16..)
            .and_then(keys::id_bytes)
            .map(TaskId::from_bytes);
        tracing::warn!(
            owner = ?owner,
            task = ?id,
            number = task.number,
            due = ?task.due.map(|t| t.to_string()),
            "a task held a time outside 0001-01-01..9999-12-31 (accepted by an earlier release); \
             it now holds the nearest time in that range"
        );
        trees.tasks.insert(key, encode(&task)?).map_err(backend)?;
        repaired += 1;
    }
    tracing::info!(
        checked,
        repaired,
        "task times checked for the data format upgrade"
    );
    Ok(())
}

/// The task in `bytes` with its out-of-range times moved into the range;
/// `None` when nothing needs repair (or the record is damaged otherwise,
/// which reading it reports).
fn repaired_task(bytes: &[u8]) -> Option<Task> {
    if serde_json::from_slice::<Task>(bytes).is_ok() {
        return None;
    }
    let mut record: Value = serde_json::from_slice(bytes).ok()?;
    let fields = record.as_object_mut()?;
    let mut changed = false;
    for name in TASK_TIME_FIELDS {
        if let Some(Value::String(text)) = fields.get_mut(name)
            && Timestamp::parse(text).is_err()
        {
            let at = Timestamp::parse_stored(text)?;
            *text = at.to_string();
            changed = true;
        }
    }
    changed
        .then(|| serde_json::from_value(record).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{open_temp, user};
    use super::*;
    use crate::domain::{ListQuery, TaskDraft};
    use crate::store::TaskStore;

    /// The JSON fields format 3 added, as a task record ends with them.
    const NEW_FIELDS: &str = r#","project":null,"recur":null,"series":null}"#;

    /// A store that a crash interrupted during the 2 → 3 step: `done`
    /// records upgraded, the rest as format 2 wrote them. (No task of
    /// format 2 has a project, so none gets an index entry.)
    #[tokio::test]
    async fn format_2_records_gain_the_new_fields_and_their_index_in_batches() {
        let (dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let t = &store.inner.trees;
        let (total, done) = (2 * BATCH + 7, BATCH / 2);
        let mut ids = Vec::new();
        for i in 0..total {
            let draft = TaskDraft::new(&format!("task {i}")).expect("valid");
            let task = Task::new(TaskId::generate(), i as u64 + 1, draft, Timestamp::now());
            let current = String::from_utf8(encode(&task).expect("encodes")).expect("UTF-8");
            let old = current
                .strip_suffix(NEW_FIELDS)
                .map(|head| format!("{head}}}"))
                .expect("the fields come last");
            let key = keys::task(ada.id, task.id);
            if i < done {
                t.tasks.insert(key, current.as_bytes()).expect("writes");
            } else {
                t.tasks.insert(key, old.as_bytes()).expect("writes");
            }
            t.task_numbers
                .insert(
                    keys::task_number(ada.id, task.number),
                    &task.id.as_bytes()[..],
                )
                .expect("writes");
            ids.push(task.id);
        }
        t.meta
            .insert(keys::META_FORMAT_VERSION, &2u32.to_be_bytes()[..])
            .expect("writes");
        store.flush().await.expect("flushes");
        drop(store);

        let store = super::super::test_support::reopen(&dir);
        let t = &store.inner.trees;
        assert_eq!(
            t.meta
                .get(keys::META_FORMAT_VERSION)
                .expect("reads")
                .as_deref(),
            Some(&crate::store::FORMAT_VERSION.to_be_bytes()[..])
        );
        // Format 4 on top: every task in the change feed, in creation order.
        assert_eq!(t.task_changes.len(), total);
        let (feed, _) = crate::store::sled::changes::tests::whole_feed(&store, ada.id).await;
        assert_eq!(feed, ids);
        for item in t.tasks.iter() {
            let (_, value) = item.expect("reads");
            assert!(
                value.ends_with(NEW_FIELDS.as_bytes()),
                "{:?}",
                String::from_utf8_lossy(&value)
            );
        }
        assert_eq!(t.task_projects.len(), 0, "no project, no index entry");
        // The JSON lists show the fields; the project index serves lists.
        let page = store
            .list_tasks_json(ada.id, &ListQuery::parse("limit=200").expect("valid"), None)
            .await
            .expect("lists");
        let json: serde_json::Value = serde_json::from_slice(&page.tasks).expect("JSON");
        assert!(json[0]["project"].is_null() && json[0]["series"].is_null());
        assert!(json[199].as_object().expect("a task").contains_key("recur"));
        let none = store
            .list_tasks(
                ada.id,
                &ListQuery::parse("project=-&limit=3").expect("valid"),
                None,
            )
            .await
            .expect("lists");
        assert_eq!(
            none.tasks.iter().map(|t| t.id).collect::<Vec<_>>(),
            ids[..3]
        );
        // Again, as after a crash before the version was written: nothing to do.
        assert_eq!(add_project_fields(t).expect("runs"), 0);
        assert_eq!(t.task_projects.len(), 0, "no project, no index entry");
    }

    #[test]
    fn out_of_range_times_move_to_the_ends_and_the_rest_stays() {
        let stored = br#"{"id":"0193a000-0000-7000-8000-000000000001","number":3,"title":"x",
            "description":"","completed":true,"priority":"high","due":"+10000-01-01T23:58:59.999999Z",
            "tags":["a"],"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T00:00:00Z",
            "completed_at":"-0001-12-31T00:01:00Z","version":4}"#;
        let task = repaired_task(stored).expect("repaired");
        assert_eq!(task.due, Some(Timestamp::MAX));
        assert_eq!(task.completed_at, Some(Timestamp::MIN));
        assert_eq!(task.number, 3);
        assert_eq!(task.version, 4);
        assert_eq!(task.updated_at.to_string(), "2026-01-02T00:00:00Z");
        let fine = encode(&task).expect("encodes");
        assert!(
            repaired_task(&fine).is_none(),
            "a readable task is left alone"
        );
        assert!(
            repaired_task(b"{\"title\":1}").is_none(),
            "other damage is not guessed at"
        );
    }
}
