//! The merge rules, on the replica's side.
//!
//! The server's state is the truth; the replica shows it with the changes
//! still queued here applied on top ([`replay`]), so reads show the user's
//! own changes until the server has them, and the server's order decides
//! once it does. A queued change carries only what the user changed
//! ([`edit_between`]): the fields that differ, and tag edits as tags to add
//! and to remove, so that edits of other fields or other tags made
//! elsewhere survive.

use super::queue::{self, Pending, Queued};
use super::store::Stored;
use taskcore::{Description, Tags, Task, TaskPatch, Title};

/// The task `id` as the replica shows it: `server` (the server's state,
/// `None` if it has none) with the queued changes `pending` of that task
/// applied in order.
///
/// A create makes the task when the server has none yet (unnumbered, with
/// its handle); an edit applies to whatever is there (an edit the task
/// refuses now is left to the server to judge); a delete removes it.
/// Nothing here makes a recurring task's successor: the server does, and
/// the next pull brings it.
pub(super) fn replay<'a>(
    server: Option<Task>,
    pending: impl IntoIterator<Item = &'a Queued>,
) -> Option<Stored> {
    let mut shown = server.map(|task| Stored { task, handle: None });
    for queued in pending {
        match &queued.change {
            Pending::Create { draft, handle } => {
                if shown.is_none()
                    && let Ok(draft) = queue::draft(draft)
                {
                    shown = Some(Stored {
                        task: Task::new(queued.task, 0, draft, queued.at),
                        handle: Some(*handle),
                    });
                }
            }
            Pending::Edit { patch } => {
                if let (Some(shown), Ok(patch)) = (shown.as_mut(), queue::patch(patch)) {
                    // The anchor of a rule only matters for successors,
                    // which the server makes.
                    let _refused = shown.task.apply(patch, &mut None, queued.at);
                }
            }
            Pending::Delete => shown = None,
        }
    }
    shown
}

/// The change that turns `before` into `after`: each field that differs,
/// and the tags as `add_tags`/`remove_tags` (never a whole `tags` list).
/// Empty when nothing differs.
pub(super) fn edit_between(before: &Task, after: &Task) -> TaskPatch {
    let mut patch = TaskPatch::default();
    if before.title != after.title {
        patch.title = Title::parse(&after.title).ok();
    }
    if before.description != after.description {
        patch.description = Description::parse(&after.description).ok();
    }
    if before.completed != after.completed {
        patch.completed = Some(after.completed);
    }
    if before.priority != after.priority {
        patch.priority = Some(after.priority);
    }
    if before.due != after.due {
        patch.due = Some(after.due);
    }
    if before.project != after.project {
        patch.project = Some(after.project.clone());
    }
    if before.recur != after.recur {
        patch.recur = Some(after.recur.clone());
    }
    let added = after.tags.iter().filter(|t| !before.tags.contains(t));
    let removed = before.tags.iter().filter(|t| !after.tags.contains(t));
    patch.add_tags = Tags::parse(added.map(String::as_str))
        .ok()
        .filter(|t| !t.as_slice().is_empty());
    patch.remove_tags = Tags::parse(removed.map(String::as_str))
        .ok()
        .filter(|t| !t.as_slice().is_empty());
    patch
}

/// Whether a patch changes nothing.
pub(super) fn is_empty(patch: &TaskPatch) -> bool {
    *patch == TaskPatch::default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskcore::{TaskDraft, TaskId, Timestamp};

    fn task(tags: &[&str]) -> Task {
        let mut draft = TaskDraft::new("Water plants").expect("a title");
        draft.tags = Tags::parse(tags.iter().copied()).expect("tags");
        Task::new(TaskId::generate(), 3, draft, Timestamp::now())
    }

    #[test]
    fn an_edit_carries_the_changed_fields_and_tags_as_additions_and_removals() {
        let before = task(&["home", "weekly"]);
        let mut after = before.clone();
        after.title = "Water the plants".into();
        after.tags = vec!["weekly".into(), "garden".into()];
        let patch = edit_between(&before, &after);
        assert_eq!(
            serde_json::to_value(&patch).expect("json"),
            serde_json::json!({
                "title": "Water the plants",
                "add_tags": ["garden"],
                "remove_tags": ["home"],
            })
        );
        assert!(is_empty(&edit_between(&before, &before)));
    }

    #[test]
    fn queued_changes_replay_over_the_servers_state() {
        let server = task(&["home"]);
        let at = Timestamp::now();
        let rename = TaskPatch {
            title: Title::parse("Renamed").ok(),
            ..TaskPatch::default()
        };
        let edit = Queued::edit(server.id, &rename, at);
        let shown = replay(Some(server.clone()), [&edit]).expect("shown");
        assert_eq!(shown.task.title, "Renamed");
        assert_eq!(
            shown.task.tags, server.tags,
            "other fields are the server's"
        );
        let delete = Queued::delete(server.id, at);
        assert_eq!(replay(Some(server.clone()), [&edit, &delete]), None);
        // An edit of a task the server no longer has makes nothing.
        assert_eq!(replay(None, [&edit]), None);
    }
}
