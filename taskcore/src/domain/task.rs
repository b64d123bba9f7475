//! Tasks, and the validated inputs that create and change them.

use super::ids::TaskId;
use super::project::Project;
use super::recur::{Recur, successor_id};
use super::time::{TimeError, Timestamp};
use super::validation::{ValidationErrors, char_len, is_control};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// Longest title, in characters, after trimming.
pub const TITLE_MAX: usize = 200;
/// Longest description, in characters.
pub const DESCRIPTION_MAX: usize = 4000;
/// Most tags on one task.
pub const TAGS_MAX: usize = 20;
/// Longest tag, in characters.
pub const TAG_MAX: usize = 50;

/// A task as the API returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The task's UUID (v7).
    pub id: TaskId,
    /// The owner's short handle for it: 1 for their first task, never reused.
    pub number: u64,
    /// Trimmed title, 1 to 200 characters.
    pub title: String,
    /// Free text, at most 4000 characters.
    pub description: String,
    /// Whether the task is done.
    pub completed: bool,
    /// How important it is.
    pub priority: Priority,
    /// When it is due, if ever.
    pub due: Option<Timestamp>,
    /// Distinct tags, in the order given.
    pub tags: Vec<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it was last marked completed; `None` while pending.
    pub completed_at: Option<Timestamp>,
    /// Starts at 1, one more on every change; the `ETag`.
    pub version: u64,
    /// The project it belongs to, if any (absent in records written before
    /// projects existed).
    #[serde(default)]
    pub project: Option<Project>,
    /// How it repeats, if it does; a task with a rule has a `due`.
    #[serde(default)]
    pub recur: Option<Recur>,
    /// The id of the first task of its recurring series; set on that task
    /// itself when it first gets a rule, and kept when the rule goes.
    #[serde(default)]
    pub series: Option<TaskId>,
}

impl Task {
    /// A new task from a draft, version 1. A recurring one starts its own
    /// series (its anchor is its `due`: see [`Task::successor`]).
    pub fn new(id: TaskId, number: u64, draft: TaskDraft, now: Timestamp) -> Self {
        Self {
            series: draft.recur.is_some().then_some(id),
            project: draft.project,
            recur: draft.recur,
            id,
            number,
            title: draft.title.0,
            description: draft.description.0,
            completed: draft.completed,
            priority: draft.priority,
            due: draft.due,
            tags: draft.tags.0,
            created_at: now,
            updated_at: now,
            completed_at: draft.completed.then_some(now),
            version: 1,
        }
    }

    /// The anchor of a new task's rule: its `due` when it recurs.
    pub fn initial_anchor(&self) -> Option<Timestamp> {
        self.recur.as_ref().and(self.due)
    }

    /// Applies a change. Returns what changed; only when anything did are
    /// `version` and `updated_at` moved on.
    ///
    /// `anchor` is the stored anchor of the task's rule (the date its
    /// dates step from; stores keep it beside the task, not in its JSON).
    /// It moves to the task's `due` when the rule changes, or when the
    /// `due` of the series' first task does: an edit affects this task and
    /// the successors created after it, not the series' past.
    ///
    /// Fails, changing nothing, when the result would break a rule that
    /// spans fields: a rule without a `due`, a rule with no date at or
    /// after the `due`, more than [`TAGS_MAX`] tags after `add_tags`.
    pub fn apply(
        &mut self,
        patch: TaskPatch,
        anchor: &mut Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Applied, ValidationErrors> {
        let before = self.clone();
        let recur_given = patch.recur.is_some();
        let due_given = patch.due.is_some();
        let tag_edit = patch.add_tags.is_some() || patch.remove_tags.is_some();
        self.merge(patch, now);
        let recur_changed = self.recur != before.recur;
        let mut new_anchor = *anchor;
        if self.recur.is_some() {
            let restarts = recur_changed
                || (self.due != before.due && self.series == Some(self.id))
                || new_anchor.is_none();
            if restarts {
                new_anchor = self.due;
            }
            if self.series.is_none() {
                self.series = Some(self.id);
            }
        }
        if let Err(errors) = self.check_rule(new_anchor, recur_given, due_given) {
            *self = before;
            return Err(errors);
        }
        if tag_edit && self.tags.len() > TAGS_MAX {
            *self = before;
            return Err(ValidationErrors::single(
                "add_tags",
                format!("a task has at most {TAGS_MAX} distinct tags"),
            ));
        }
        let changed = *self != before;
        if changed {
            self.version += 1;
            self.updated_at = now;
        }
        *anchor = new_anchor;
        Ok(Applied {
            changed,
            completed_now: self.completed && !before.completed,
        })
    }

    /// The rules that span `recur` and `due`, checked on the result of a
    /// change; the error names the field the change touched.
    fn check_rule(
        &self,
        anchor: Option<Timestamp>,
        recur_given: bool,
        due_given: bool,
    ) -> Result<(), ValidationErrors> {
        let Some(recur) = &self.recur else {
            return Ok(());
        };
        let field = if recur_given || !due_given {
            "recur"
        } else {
            "due"
        };
        let Some(due) = self.due else {
            return Err(ValidationErrors::single(
                field,
                "a recurring task needs a due date",
            ));
        };
        if !recur.has_date_at_or_after(anchor.unwrap_or(due), due) {
            // Past the series' first date, COUNT can end it too.
            return Err(ValidationErrors::single(
                field,
                "the rule has no date at or after the due date (its UNTIL or COUNT ends the series before it)",
            ));
        }
        Ok(())
    }

    /// The plain field-by-field part of [`Task::apply`].
    fn merge(&mut self, patch: TaskPatch, now: Timestamp) {
        if let Some(title) = patch.title {
            self.title = title.0;
        }
        if let Some(description) = patch.description {
            self.description = description.0;
        }
        if let Some(priority) = patch.priority {
            self.priority = priority;
        }
        if let Some(due) = patch.due {
            self.due = due;
        }
        if let Some(tags) = patch.tags {
            self.tags = tags.0;
        }
        if let Some(add) = patch.add_tags {
            for tag in add.0 {
                if !self.tags.contains(&tag) {
                    self.tags.push(tag);
                }
            }
        }
        if let Some(remove) = patch.remove_tags {
            self.tags.retain(|tag| !remove.0.contains(tag));
        }
        if let Some(project) = patch.project {
            self.project = project;
        }
        if let Some(recur) = patch.recur {
            self.recur = recur;
        }
        if let Some(completed) = patch.completed
            && completed != self.completed
        {
            self.completed = completed;
            self.completed_at = completed.then_some(now);
        }
    }

    /// The task that completing this one creates, if it recurs and its rule
    /// has a date after its `due`: the next date of the rule stepping from
    /// `anchor`, everything else copied, pending, version 1, numbered
    /// `number`. Its id is [`successor_id`] of the series and this task, so
    /// every writer that completes this occurrence derives the same one.
    /// The successor's anchor is the same `anchor`.
    pub fn successor(
        &self,
        anchor: Option<Timestamp>,
        number: u64,
        now: Timestamp,
    ) -> Option<Task> {
        let recur = self.recur.as_ref()?;
        let due = self.due?;
        let series = self.series.unwrap_or(self.id);
        let next = recur.next_after(anchor.unwrap_or(due), due)?;
        Some(Task {
            id: self.successor_id()?,
            number,
            title: self.title.clone(),
            description: self.description.clone(),
            completed: false,
            priority: self.priority,
            due: Some(next),
            tags: self.tags.clone(),
            created_at: now,
            updated_at: now,
            completed_at: None,
            version: 1,
            project: self.project.clone(),
            recur: Some(recur.clone()),
            series: Some(series),
        })
    }

    /// The id the successor of this occurrence has or would have, if the
    /// task recurs (or did).
    pub fn successor_id(&self) -> Option<TaskId> {
        let series = self.series.or(self.recur.as_ref().map(|_| self.id))?;
        Some(successor_id(series, self.id))
    }

    /// The successor a response about this task points to (`Link:
    /// rel="next"`), if it exists: see [`linked_successor`].
    pub fn linked_successor(&self) -> Option<TaskId> {
        linked_successor(self.id, self.completed, self.series)
    }
}

/// The successor a response about a task points to, if it exists: a
/// completed occurrence of a series has one. From the task's id, whether it
/// is completed and its series, so a store can answer from those fields
/// alone.
pub fn linked_successor(id: TaskId, completed: bool, series: Option<TaskId>) -> Option<TaskId> {
    series
        .filter(|_| completed)
        .map(|series| successor_id(series, id))
}

/// What [`Task::apply`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Whether any field changed (and so `version` and `updated_at`).
    pub changed: bool,
    /// Whether the task went from pending to completed: a recurring task
    /// then gets its successor, in the same write.
    pub completed_now: bool,
}

/// How important a task is; ascending order is none, low, medium, high.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// No priority (the default).
    #[default]
    None,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

impl Priority {
    /// Every priority, in ascending order.
    pub const ALL: [Priority; 4] = [Self::None, Self::Low, Self::Medium, Self::High];

    /// The API's name for it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| "must be one of none, low, medium, high".to_string())
    }
}

/// A valid title: trimmed, 1 to 200 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Title(String);

impl Title {
    /// Trims and checks a title.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let len = char_len(trimmed);
        if len == 0 {
            return Err("must not be empty".into());
        }
        if len > TITLE_MAX {
            return Err(format!("must be at most {TITLE_MAX} characters"));
        }
        if trimmed.chars().any(is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(trimmed.to_string()))
    }

    /// The title's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A valid description: at most 4000 characters; no control characters
/// except line feed, carriage return and tab.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Description(String);

impl Description {
    /// Checks a description (kept as given, not trimmed).
    pub fn parse(raw: &str) -> Result<Self, String> {
        if char_len(raw) > DESCRIPTION_MAX {
            return Err(format!("must be at most {DESCRIPTION_MAX} characters"));
        }
        if raw
            .chars()
            .any(|c| is_control(c) && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(
                "must not contain control characters other than line feed, carriage return and tab"
                    .into(),
            );
        }
        Ok(Self(raw.to_string()))
    }

    /// The description's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A valid tag set: at most 20 distinct tags of 1 to 50 characters, no
/// white space, no control characters; duplicates dropped keeping the first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Tags(Vec<String>);

impl Tags {
    /// Checks one tag.
    pub fn parse_one(raw: &str) -> Result<String, String> {
        let len = char_len(raw);
        if len == 0 {
            return Err("must not be empty".into());
        }
        if len > TAG_MAX {
            return Err(format!("must be at most {TAG_MAX} characters"));
        }
        if raw.chars().any(|c| c.is_whitespace() || is_control(c)) {
            return Err("must not contain white space or control characters".into());
        }
        Ok(raw.to_string())
    }

    /// Checks a list of tags; errors name the offending index (`tags[3]`).
    pub fn parse<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let mut tags: Vec<String> = Vec::new();
        for (i, tag) in raw.into_iter().enumerate() {
            match Self::parse_one(tag) {
                Ok(tag) if !tags.contains(&tag) => tags.push(tag),
                Ok(_) => {}
                Err(message) => errors.push(format!("tags[{i}]"), message),
            }
        }
        if tags.len() > TAGS_MAX {
            errors.push(
                "tags",
                format!("must hold at most {TAGS_MAX} distinct tags"),
            );
        }
        errors.into_result(|| Self(tags))
    }

    /// The tags, in order.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// Every editable field of a task, validated: the body of a create (POST) or
/// a full replacement (PUT), where absent fields take their defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskDraft {
    /// Required title.
    pub title: Title,
    /// Defaults to `""`.
    pub description: Description,
    /// Defaults to false.
    pub completed: bool,
    /// Defaults to none.
    pub priority: Priority,
    /// Defaults to no due date.
    pub due: Option<Timestamp>,
    /// Defaults to no tags.
    pub tags: Tags,
    /// Defaults to no project.
    pub project: Option<Project>,
    /// Defaults to not recurring; needs `due`.
    pub recur: Option<Recur>,
}

impl TaskDraft {
    /// A draft with this title and every other field at its default.
    pub fn new(title: &str) -> Result<Self, ValidationErrors> {
        let title = Title::parse(title).map_err(|m| ValidationErrors::single("title", m))?;
        Ok(Self::with_title(title))
    }

    /// A draft with this (already valid) title and every other field at
    /// its default.
    pub fn with_title(title: Title) -> Self {
        Self {
            title,
            description: Description::default(),
            completed: false,
            priority: Priority::None,
            due: None,
            tags: Tags::default(),
            project: None,
            recur: None,
        }
    }

    /// Validates a JSON request body. Unknown fields, wrong types and broken
    /// rules are all reported, each with its field.
    pub fn from_json(body: &Map<String, Value>) -> Result<Self, ValidationErrors> {
        let ParsedFields {
            mut patch,
            mut errors,
        } = parse_fields(body);
        let title = patch.title.take();
        if title.is_none() && !body.contains_key("title") {
            errors.push("title", "is required");
        }
        for field in ["add_tags", "remove_tags"] {
            if body.contains_key(field) {
                errors.push(field, "is only for PATCH; send the whole list as tags");
            }
        }
        match (title, errors.is_empty()) {
            (Some(title), true) => {
                let draft = Self {
                    title,
                    description: patch.description.unwrap_or_default(),
                    completed: patch.completed.unwrap_or(false),
                    priority: patch.priority.unwrap_or_default(),
                    due: patch.due.unwrap_or(None),
                    tags: patch.tags.unwrap_or_default(),
                    project: patch.project.unwrap_or(None),
                    recur: patch.recur.unwrap_or(None),
                };
                draft.check_rule()?;
                Ok(draft)
            }
            _ => Err(errors),
        }
    }

    /// A draft's `recur` needs a `due`, and a date at or after it.
    pub fn check_rule(&self) -> Result<(), ValidationErrors> {
        let Some(recur) = &self.recur else {
            return Ok(());
        };
        match self.due {
            None => Err(ValidationErrors::single(
                "recur",
                "a recurring task needs a due date",
            )),
            Some(due) if !recur.has_date_at_or_after(due, due) => Err(ValidationErrors::single(
                "recur",
                "the rule has no date at or after the due date (UNTIL is before it)",
            )),
            Some(_) => Ok(()),
        }
    }

    /// This draft as a change that sets every field: what a PUT does.
    pub fn into_patch(self) -> TaskPatch {
        TaskPatch {
            title: Some(self.title),
            description: Some(self.description),
            completed: Some(self.completed),
            priority: Some(self.priority),
            due: Some(self.due),
            tags: Some(self.tags),
            add_tags: None,
            remove_tags: None,
            project: Some(self.project),
            recur: Some(self.recur),
        }
    }
}

/// A partial change (PATCH): only the fields given are changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TaskPatch {
    /// New title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<Title>,
    /// New description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Description>,
    /// Mark completed or pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<bool>,
    /// New priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// `Some(None)` clears the due date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<Option<Timestamp>>,
    /// Replaces the tag set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Tags>,
    /// Tags to add (kept where they are if present), leaving the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add_tags: Option<Tags>,
    /// Tags to remove, leaving the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove_tags: Option<Tags>,
    /// `Some(None)` takes the task out of its project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<Option<Project>>,
    /// `Some(None)` stops it recurring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recur: Option<Option<Recur>>,
}

impl TaskPatch {
    /// Validates a JSON request body for PATCH.
    pub fn from_json(body: &Map<String, Value>) -> Result<Self, ValidationErrors> {
        let ParsedFields { patch, mut errors } = parse_fields(body);
        if patch.tags.is_some()
            && (body.contains_key("add_tags") || body.contains_key("remove_tags"))
        {
            errors.push("tags", "cannot be given with add_tags or remove_tags");
        }
        errors.into_result(|| patch)
    }
}

struct ParsedFields {
    patch: TaskPatch,
    errors: ValidationErrors,
}

/// One pass over a task body: every known field parsed, every problem kept.
fn parse_fields(body: &Map<String, Value>) -> ParsedFields {
    let mut patch = TaskPatch::default();
    let mut errors = ValidationErrors::default();
    for (key, value) in body {
        match key.as_str() {
            "title" => match value.as_str() {
                Some(s) => match Title::parse(s) {
                    Ok(t) => patch.title = Some(t),
                    Err(m) => errors.push("title", m),
                },
                None => errors.push("title", "must be a string"),
            },
            "description" => match value.as_str() {
                Some(s) => match Description::parse(s) {
                    Ok(d) => patch.description = Some(d),
                    Err(m) => errors.push("description", m),
                },
                None => errors.push("description", "must be a string"),
            },
            "completed" => match value.as_bool() {
                Some(b) => patch.completed = Some(b),
                None => errors.push("completed", "must be true or false"),
            },
            "priority" => match value.as_str().map(str::parse::<Priority>) {
                Some(Ok(p)) => patch.priority = Some(p),
                _ => errors.push("priority", "must be one of none, low, medium, high"),
            },
            "due" => match value {
                Value::Null => patch.due = Some(None),
                Value::String(s) => match Timestamp::parse(s) {
                    Ok(t) => patch.due = Some(Some(t)),
                    Err(TimeError::NotRfc3339) => {
                        errors.push("due", "must be an RFC 3339 date-time or null")
                    }
                    Err(e @ TimeError::OutOfRange) => errors.push("due", e.to_string()),
                },
                _ => errors.push("due", "must be an RFC 3339 date-time or null"),
            },
            "tags" => patch.tags = parse_tag_list("tags", value, &mut errors),
            "add_tags" => patch.add_tags = parse_tag_list("add_tags", value, &mut errors),
            "remove_tags" => patch.remove_tags = parse_tag_list("remove_tags", value, &mut errors),
            "project" => match value {
                Value::Null => patch.project = Some(None),
                Value::String(s) => match Project::parse(s) {
                    Ok(p) => patch.project = Some(Some(p)),
                    Err(e) => errors.push("project", e.to_string()),
                },
                _ => errors.push("project", "must be a string or null"),
            },
            "recur" => match value {
                Value::Null => patch.recur = Some(None),
                Value::String(s) => match Recur::parse(s) {
                    Ok(r) => patch.recur = Some(Some(r)),
                    Err(e) => errors.push("recur", e.to_string()),
                },
                _ => errors.push("recur", "must be a string or null"),
            },
            other => errors.push(other, "is not a field that can be set"),
        }
    }
    ParsedFields { patch, errors }
}

/// A list of tags under `field`; errors name the index (`add_tags[3]`).
fn parse_tag_list(field: &str, value: &Value, errors: &mut ValidationErrors) -> Option<Tags> {
    let Some(items) = value.as_array() else {
        errors.push(field, "must be an array of strings");
        return None;
    };
    let mut strings = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(s) => strings.push(s),
            None => errors.push(format!("{field}[{i}]"), "must be a string"),
        }
    }
    match Tags::parse(strings) {
        Ok(tags) => Some(tags),
        Err(e) => {
            errors.0.extend(e.0.into_iter().map(|mut fe| {
                if let Some(rest) = fe.field.strip_prefix("tags") {
                    fe.field = format!("{field}{rest}");
                }
                fe
            }));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn title_limits_are_exact_and_count_characters() {
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        assert!(Title::parse(&"é".repeat(201)).is_err());
        assert_eq!(
            Title::parse("  Buy milk \n").expect("valid").as_str(),
            "Buy milk"
        );
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse("a\u{7f}b").is_err());
    }

    #[test]
    fn description_allows_newlines_tabs_only() {
        assert!(Description::parse("a\nb\r\tc").is_ok());
        assert!(Description::parse("a\u{0}b").is_err());
        assert!(Description::parse(&"x".repeat(4000)).is_ok());
        assert!(Description::parse(&"x".repeat(4001)).is_err());
    }

    #[test]
    fn tags_are_deduplicated_keeping_the_first() {
        let tags = Tags::parse(["b", "a", "b", "A"]).expect("valid");
        assert_eq!(tags.as_slice(), ["b", "a", "A"]);
        assert!(Tags::parse(["has space"]).is_err());
        let many: Vec<String> = (0..21).map(|i| i.to_string()).collect();
        assert!(Tags::parse(many.iter().map(String::as_str)).is_err());
        let dup_many: Vec<String> = (0..25).map(|i| (i % 20).to_string()).collect();
        assert!(Tags::parse(dup_many.iter().map(String::as_str)).is_ok());
    }

    #[test]
    fn drafts_reject_unknown_fields_and_need_a_title() {
        let err = TaskDraft::from_json(&obj(json!({"title": "x", "user_id": "u"}))).unwrap_err();
        assert_eq!(err.0[0].field, "user_id");
        let err = TaskDraft::from_json(&obj(json!({}))).unwrap_err();
        assert_eq!(err.0[0].field, "title");
        let err = TaskDraft::from_json(&obj(json!({"title": null}))).unwrap_err();
        assert_eq!(err.0.len(), 1);
    }

    #[test]
    fn patch_distinguishes_clearing_due_from_absent() {
        let p = TaskPatch::from_json(&obj(json!({"due": null}))).expect("valid");
        assert_eq!(p.due, Some(None));
        let p = TaskPatch::from_json(&obj(json!({}))).expect("valid");
        assert_eq!(p.due, None);
    }

    #[test]
    fn apply_moves_version_only_on_change() {
        let now = Timestamp::now();
        let mut task = Task::new(
            TaskId::generate(),
            1,
            TaskDraft::new("a").expect("valid"),
            now,
        );
        let mut anchor = None;
        let applied = task.apply(TaskPatch::default(), &mut anchor, now);
        assert!(!applied.expect("valid").changed);
        assert_eq!(task.version, 1);
        let patch = TaskPatch {
            completed: Some(true),
            ..Default::default()
        };
        let applied = task.apply(patch, &mut anchor, now).expect("valid");
        assert!(applied.changed && applied.completed_now);
        assert_eq!((task.version, task.completed_at), (2, Some(now)));
        let patch = TaskPatch {
            completed: Some(false),
            ..Default::default()
        };
        assert!(task.apply(patch, &mut anchor, now).expect("valid").changed);
        assert_eq!(task.completed_at, None);
    }

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).expect("time")
    }

    fn weekly_task(due: &str) -> (Task, Option<Timestamp>) {
        let body = obj(
            json!({"title": "Water plants", "due": due, "recur": "freq=weekly",
            "project": "Home.Garden", "tags": ["home"]}),
        );
        let draft = TaskDraft::from_json(&body).expect("valid");
        let task = Task::new(TaskId::generate(), 1, draft, Timestamp::now());
        let anchor = task.initial_anchor();
        (task, anchor)
    }

    #[test]
    fn a_recurring_task_starts_its_series_and_its_successor_is_derived() {
        let (task, anchor) = weekly_task("2026-12-07T09:00:00Z");
        assert_eq!(task.series, Some(task.id));
        assert_eq!(
            task.recur.as_ref().map(ToString::to_string).as_deref(),
            Some("FREQ=WEEKLY")
        );
        let now = Timestamp::now();
        let next = task.successor(anchor, 2, now).expect("a next date");
        assert_eq!(next.due, Some(at("2026-12-14T09:00:00Z")));
        assert_eq!((next.number, next.completed, next.version), (2, false, 1));
        assert_eq!(
            (next.series, next.project.clone()),
            (Some(task.id), task.project.clone())
        );
        assert_eq!(next.tags, task.tags);
        let again = task.successor(anchor, 3, now).expect("a next date");
        assert_eq!(again.id, next.id, "one occurrence, one successor id");
        let after = next.successor(anchor, 3, now).expect("a next date");
        assert_ne!(after.id, next.id);
        assert_eq!(after.due, Some(at("2026-12-21T09:00:00Z")));
    }

    #[test]
    fn recur_needs_a_due_date_with_a_date_at_or_after_it() {
        let err = TaskDraft::from_json(&obj(json!({"title": "x", "recur": "FREQ=DAILY"})))
            .expect_err("no due");
        assert_eq!(err.0[0].field, "recur");
        let err = TaskDraft::from_json(&obj(json!({"title": "x", "recur": "FREQ=DAILY;BYHOUR=3",
            "due": "2026-01-01T00:00:00Z"})))
        .expect_err("unsupported part");
        assert_eq!(err.0[0].message, "BYHOUR is not supported");
        let err = TaskDraft::from_json(&obj(json!({"title": "x",
            "recur": "FREQ=DAILY;UNTIL=20251231T000000Z", "due": "2026-01-01T00:00:00Z"})))
        .expect_err("UNTIL before due");
        assert_eq!(err.0[0].field, "recur");
        assert!(
            TaskDraft::from_json(&obj(json!({"title": "x", "recur": "FREQ=DAILY;COUNT=1",
            "due": "2026-01-01T00:00:00Z"})))
            .is_ok()
        );
        let (mut task, mut anchor) = weekly_task("2026-12-07T09:00:00Z");
        let before = task.clone();
        let clear_due = TaskPatch::from_json(&obj(json!({"due": null}))).expect("valid");
        let err = task
            .apply(clear_due, &mut anchor, Timestamp::now())
            .expect_err("needs due");
        assert_eq!(err.0[0].field, "due");
        assert_eq!(task, before, "a refused change changes nothing");
    }

    #[test]
    fn the_last_date_of_a_counted_series_cannot_move_past_its_end() {
        let body = obj(json!({"title": "x", "due": "2026-12-07T09:00:00Z",
            "recur": "FREQ=WEEKLY;COUNT=2"}));
        let draft = TaskDraft::from_json(&body).expect("valid");
        let first = Task::new(TaskId::generate(), 1, draft, Timestamp::now());
        let anchor = first.initial_anchor();
        let now = Timestamp::now();
        let mut second = first.successor(anchor, 2, now).expect("a second date");
        assert!(
            second.successor(anchor, 3, now).is_none(),
            "COUNT=2 ends it"
        );
        let before = second.clone();
        let mut second_anchor = anchor;
        let later =
            TaskPatch::from_json(&obj(json!({"due": "2026-12-16T09:00:00Z"}))).expect("valid");
        let err = second
            .apply(later, &mut second_anchor, now)
            .expect_err("past the series' end");
        assert_eq!(err.0[0].field, "due");
        assert!(err.0[0].message.contains("COUNT"), "{}", err.0[0].message);
        assert_eq!(second, before);
    }

    #[test]
    fn editing_the_first_due_moves_the_anchor_and_a_later_one_does_not() {
        let (mut task, mut anchor) = weekly_task("2026-12-07T09:00:00Z");
        let now = Timestamp::now();
        let mut next = task.successor(anchor, 2, now).expect("next");
        let mut next_anchor = anchor;
        let move_due = |to: &str| TaskPatch::from_json(&obj(json!({"due": to}))).expect("valid");
        next.apply(move_due("2026-12-15T09:00:00Z"), &mut next_anchor, now)
            .expect("valid");
        assert_eq!(next_anchor, anchor, "a later task keeps the series' anchor");
        task.apply(move_due("2026-12-08T09:00:00Z"), &mut anchor, now)
            .expect("valid");
        assert_eq!(anchor, Some(at("2026-12-08T09:00:00Z")));
    }

    #[test]
    fn tag_edits_merge_and_refuse_a_tag_list_beside_them() {
        let (mut task, mut anchor) = weekly_task("2026-12-07T09:00:00Z");
        let patch = TaskPatch::from_json(&obj(
            json!({"add_tags": ["a", "home"], "remove_tags": ["x"]}),
        ))
        .expect("valid");
        task.apply(patch, &mut anchor, Timestamp::now())
            .expect("valid");
        assert_eq!(task.tags, ["home", "a"]);
        let err =
            TaskPatch::from_json(&obj(json!({"tags": [], "add_tags": ["a"]}))).expect_err("both");
        assert_eq!(err.0[0].field, "tags");
        let err =
            TaskPatch::from_json(&obj(json!({"add_tags": ["has space"]}))).expect_err("bad tag");
        assert_eq!(err.0[0].field, "add_tags[0]");
        let many: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        let patch = TaskPatch::from_json(&obj(json!({"add_tags": many}))).expect("valid");
        let err = task
            .apply(patch, &mut anchor, Timestamp::now())
            .expect_err("21 tags");
        assert_eq!(err.0[0].field, "add_tags");
        let err = TaskDraft::from_json(&obj(json!({"title": "x", "add_tags": ["a"]})))
            .expect_err("not for a draft");
        assert_eq!(err.0[0].field, "add_tags");
    }
}
