//! Upgrading a data directory that an earlier release wrote, in place.
//!
//! | from | to | what changes |
//! |---|---|---|
//! | 1 | 2 | task times outside `0001`..`9999` (accepted before the range check, and written by chrono as `+10000-...`, which nothing can read back) move to the nearest end of the range, so every record reads, lists and exports again; each is logged by owner and id |
//! | 2 | 3 | every task record is written again with `"project":null,"recur":null,"series":null` (lists copy the stored JSON into responses, so it must hold every field), and gets its entry in the project index (`task_projects`, under "no project"); in batches |

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
fn add_project_fields(trees: &Trees) -> Result<(), StoreError> {
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
            index.insert(
                keys::task_project(owner, task.project.as_ref().map(|p| p.as_str()), id),
                &[][..],
            );
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
    Ok(())
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
    use super::*;

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
