//! Tasks, and the validated inputs that create and change them.

use super::ids::TaskId;
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
}

impl Task {
    /// A new task from a draft, version 1.
    pub fn new(id: TaskId, number: u64, draft: TaskDraft, now: Timestamp) -> Self {
        Self {
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

    /// Applies a change. Returns whether anything changed; only then are
    /// `version` and `updated_at` moved on.
    pub fn apply(&mut self, patch: TaskPatch, now: Timestamp) -> bool {
        let before = self.clone();
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
        if let Some(completed) = patch.completed
            && completed != self.completed
        {
            self.completed = completed;
            self.completed_at = completed.then_some(now);
        }
        let changed = *self != before;
        if changed {
            self.version += 1;
            self.updated_at = now;
        }
        changed
    }
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
}

impl TaskDraft {
    /// A draft with this title and every other field at its default.
    pub fn new(title: &str) -> Result<Self, ValidationErrors> {
        let title = Title::parse(title).map_err(|m| ValidationErrors::single("title", m))?;
        Ok(Self {
            title,
            description: Description::default(),
            completed: false,
            priority: Priority::None,
            due: None,
            tags: Tags::default(),
        })
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
        match (title, errors.is_empty()) {
            (Some(title), true) => Ok(Self {
                title,
                description: patch.description.unwrap_or_default(),
                completed: patch.completed.unwrap_or(false),
                priority: patch.priority.unwrap_or_default(),
                due: patch.due.unwrap_or(None),
                tags: patch.tags.unwrap_or_default(),
            }),
            _ => Err(errors),
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
}

impl TaskPatch {
    /// Validates a JSON request body for PATCH.
    pub fn from_json(body: &Map<String, Value>) -> Result<Self, ValidationErrors> {
        let fields = parse_fields(body);
        fields.errors.into_result(|| fields.patch)
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
            "tags" => match value.as_array() {
                Some(items) => {
                    let mut strings = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        match item.as_str() {
                            Some(s) => strings.push(s),
                            None => errors.push(format!("tags[{i}]"), "must be a string"),
                        }
                    }
                    match Tags::parse(strings) {
                        Ok(tags) => patch.tags = Some(tags),
                        Err(e) => errors.0.extend(e.0),
                    }
                }
                None => errors.push("tags", "must be an array of strings"),
            },
            other => errors.push(other, "is not a field that can be set"),
        }
    }
    ParsedFields { patch, errors }
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
        assert!(!task.apply(TaskPatch::default(), now));
        assert_eq!(task.version, 1);
        let patch = TaskPatch {
            completed: Some(true),
            ..Default::default()
        };
        assert!(task.apply(patch, now));
        assert_eq!((task.version, task.completed_at), (2, Some(now)));
        let patch = TaskPatch {
            completed: Some(false),
            ..Default::default()
        };
        assert!(task.apply(patch, now));
        assert_eq!(task.completed_at, None);
    }
}
