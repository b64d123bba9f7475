//! Listing tasks: filters, sort orders, keyset positions, and `If-Match`.

use super::ids::{TaskId, parse_decimal};
use super::project::Project;
use super::task::{Priority, Task};
use super::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// Largest page size.
pub const LIMIT_MAX: usize = 200;
/// Page size when none is asked for.
pub const LIMIT_DEFAULT: usize = 50;

/// Which tasks a list shows by completion.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    /// Every task (the default).
    #[default]
    All,
    /// Tasks not completed.
    Pending,
    /// Completed tasks.
    Completed,
}

impl StatusFilter {
    /// The query-string value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Pending => "pending",
            Self::Completed => "completed",
        }
    }
}

/// The field a list is ordered by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortField {
    /// Creation time (id order; the default).
    #[default]
    Created,
    /// Due date; tasks without one come last in both directions.
    Due,
    /// none, low, medium, high.
    Priority,
    /// Title lower-cased, by code point.
    Title,
    /// Last change.
    Updated,
    /// Project name (byte order); tasks without one come last in both
    /// directions.
    Project,
}

/// An order: a field and a direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sort {
    /// The field.
    pub field: SortField,
    /// Whether it runs high to low.
    pub descending: bool,
}

impl Sort {
    /// Parses `created`, `-due`, ...
    pub fn parse(text: &str) -> Option<Self> {
        let (descending, name) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let field = match name {
            "created" => SortField::Created,
            "due" => SortField::Due,
            "priority" => SortField::Priority,
            "title" => SortField::Title,
            "updated" => SortField::Updated,
            "project" => SortField::Project,
            _ => return None,
        };
        Some(Self { field, descending })
    }
}

impl fmt::Display for Sort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.field {
            SortField::Created => "created",
            SortField::Due => "due",
            SortField::Priority => "priority",
            SortField::Title => "title",
            SortField::Updated => "updated",
            SortField::Project => "project",
        };
        if self.descending {
            f.write_str("-")?;
        }
        f.write_str(name)
    }
}

/// A parsed, valid list query. `q` is kept lower-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Completion filter.
    pub status: StatusFilter,
    /// Lower-cased substring of title or description; `None` for no filter.
    pub q: Option<String>,
    /// Exact tag; `None` for no filter.
    pub tag: Option<String>,
    /// Exact priority.
    pub priority: Option<Priority>,
    /// A project and the projects inside it, or no project.
    pub project: Option<ProjectFilter>,
    /// Order.
    pub sort: Sort,
    /// Page size, 1 to 200.
    pub limit: usize,
    /// The opaque cursor of the previous page, as sent.
    pub cursor: Option<String>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            status: StatusFilter::All,
            q: None,
            tag: None,
            priority: None,
            project: None,
            sort: Sort::default(),
            limit: LIMIT_DEFAULT,
            cursor: None,
        }
    }
}

/// The `project=` filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProjectFilter {
    /// `project=-`: tasks without a project.
    None,
    /// `project=P`: tasks in `P` or a project inside it.
    Within(Project),
}

impl ProjectFilter {
    /// Whether a task's project passes.
    pub fn matches(&self, project: Option<&Project>) -> bool {
        match (self, project) {
            (Self::None, None) => true,
            (Self::Within(p), Some(q)) => p.contains(q),
            _ => false,
        }
    }

    /// The query-string value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::None => "-",
            Self::Within(p) => p.as_str(),
        }
    }
}

/// Why a query string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

impl ListQuery {
    /// Parses a raw query string. Unknown parameters are ignored; a repeated
    /// known parameter or a value out of range is an error; an empty `q` or
    /// `tag` means no filter.
    pub fn parse(raw: &str) -> Result<Self, QueryError> {
        let mut query = Self::default();
        let mut seen: [bool; 8] = [false; 8];
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            let slot = match key.as_ref() {
                "status" => 0,
                "q" => 1,
                "tag" => 2,
                "priority" => 3,
                "sort" => 4,
                "limit" => 5,
                "cursor" => 6,
                "project" => 7,
                _ => continue,
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(QueryError(format!(
                    "the parameter `{key}` is given more than once"
                )));
            }
            let bad = |what: &str| QueryError(format!("`{key}` {what}"));
            match slot {
                0 => {
                    query.status = match value.as_ref() {
                        "all" => StatusFilter::All,
                        "pending" => StatusFilter::Pending,
                        "completed" => StatusFilter::Completed,
                        _ => return Err(bad("must be one of all, pending, completed")),
                    }
                }
                1 => query.q = (!value.is_empty()).then(|| value.to_lowercase()),
                2 => query.tag = (!value.is_empty()).then(|| value.into_owned()),
                3 => {
                    query.priority = Some(
                        value.parse().map_err(|_| bad("must be one of none, low, medium, high"))?,
                    )
                }
                4 => {
                    query.sort = Sort::parse(&value).ok_or_else(|| {
                        bad("must be one of created, due, priority, project, title, updated, each optionally prefixed with -")
                    })?
                }
                5 => {
                    query.limit = parse_decimal(&value)
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|n| (1..=LIMIT_MAX).contains(n))
                        .ok_or_else(|| bad("must be a whole number from 1 to 200"))?
                }
                6 => query.cursor = (!value.is_empty()).then(|| value.into_owned()),
                _ => {
                    query.project = match value.as_ref() {
                        "" => None,
                        "-" => Some(ProjectFilter::None),
                        name => Some(ProjectFilter::Within(Project::parse(name).map_err(|e| {
                            bad(&format!("must be a project name or - (for none): it {e}"))
                        })?)),
                    }
                }
            }
        }
        Ok(query)
    }

    /// Whether any filter is set (else every task matches).
    pub fn has_filters(&self) -> bool {
        self.status != StatusFilter::All
            || self.q.is_some()
            || self.tag.is_some()
            || self.priority.is_some()
            || self.project.is_some()
    }

    /// Whether a task passes the filters.
    pub fn matches(&self, task: &Task) -> bool {
        let status_ok = match self.status {
            StatusFilter::All => true,
            StatusFilter::Pending => !task.completed,
            StatusFilter::Completed => task.completed,
        };
        status_ok
            && self.priority.is_none_or(|p| task.priority == p)
            && self
                .project
                .as_ref()
                .is_none_or(|p| p.matches(task.project.as_ref()))
            && self
                .tag
                .as_ref()
                .is_none_or(|t| task.tags.iter().any(|x| x == t))
            && self.q.as_ref().is_none_or(|q| {
                task.title.to_lowercase().contains(q.as_str())
                    || task.description.to_lowercase().contains(q.as_str())
            })
    }

    /// A canonical text of the filters and sort (not limit or cursor): a
    /// cursor is only valid for the query that issued it.
    pub fn fingerprint(&self) -> String {
        format!(
            "status={}&q={}&tag={}&priority={}&sort={}&project={}",
            self.status.as_str(),
            self.q.as_deref().unwrap_or(""),
            self.tag.as_deref().unwrap_or(""),
            self.priority.map(|p| p.as_str()).unwrap_or(""),
            self.sort,
            self.project.as_ref().map_or("", ProjectFilter::as_str),
        )
    }

    /// The position of a task in this query's order.
    pub fn position_of(&self, task: &Task) -> Position {
        let key = match self.sort.field {
            SortField::Created => SortKey::Created,
            SortField::Due => SortKey::Due(task.due),
            SortField::Priority => SortKey::Priority(task.priority),
            SortField::Title => SortKey::Title(task.title.to_lowercase()),
            SortField::Updated => SortKey::Updated(task.updated_at),
            SortField::Project => SortKey::Project(task.project.clone()),
        };
        Position { key, id: task.id }
    }

    /// Compares two positions in this query's order (ties broken by id).
    pub fn compare(&self, a: &Position, b: &Position) -> Ordering {
        let desc = self.sort.descending;
        let directed = |o: Ordering| if desc { o.reverse() } else { o };
        // Tasks without the value come last in both directions.
        fn absent_last<T: Ord>(
            x: &Option<T>,
            y: &Option<T>,
            directed: impl Fn(Ordering) -> Ordering,
        ) -> Ordering {
            match (x, y) {
                (Some(x), Some(y)) => directed(x.cmp(y)),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        }
        let by_key = match (&a.key, &b.key) {
            (SortKey::Due(x), SortKey::Due(y)) => absent_last(x, y, directed),
            (SortKey::Project(x), SortKey::Project(y)) => absent_last(x, y, directed),
            (SortKey::Priority(x), SortKey::Priority(y)) => directed(x.cmp(y)),
            (SortKey::Title(x), SortKey::Title(y)) => directed(x.cmp(y)),
            (SortKey::Updated(x), SortKey::Updated(y)) => directed(x.cmp(y)),
            _ => Ordering::Equal,
        };
        by_key.then_with(|| directed(a.id.cmp(&b.id)))
    }
}

/// The value a task is ordered by, for keyset pagination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortKey {
    /// Creation order is id order.
    Created,
    /// The due date, if any.
    Due(Option<Timestamp>),
    /// The priority.
    Priority(Priority),
    /// The lower-cased title.
    Title(String),
    /// Last change.
    Updated(Timestamp),
    /// The project, if any.
    Project(Option<Project>),
}

/// Where a page ended: the last task's sort key and id. Backends continue
/// strictly after it. The HTTP layer seals it into an opaque cursor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The sort key of the last task returned.
    pub key: SortKey,
    /// Its id, the tie breaker.
    pub id: TaskId,
}

/// One page of tasks as a store returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskPage {
    /// The tasks, in order.
    pub tasks: Vec<Task>,
    /// Where to continue, when more tasks match.
    pub next: Option<Position>,
}

/// One page of tasks as the API returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// The tasks, in order.
    pub tasks: Vec<Task>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// An `If-Match` precondition on a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// No `If-Match`: the write is unconditional.
    None,
    /// `If-Match: *`: the task must exist.
    Any,
    /// A list of strong versions; the task's version must be one of them.
    /// Empty when the header was malformed or weak: then nothing matches.
    Versions(Vec<u64>),
}

impl Precondition {
    /// Parses an `If-Match` header value (absent is [`Precondition::None`]).
    pub fn from_if_match(header: Option<&str>) -> Self {
        let Some(header) = header else {
            return Self::None;
        };
        if header.trim() == "*" {
            return Self::Any;
        }
        let mut versions = Vec::new();
        for item in header.split(',') {
            let item = item.trim();
            let parsed = item
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                // An entity tag compares exactly: "07" is not the ETag "7".
                .and_then(parse_decimal);
            match parsed {
                Some(v) => versions.push(v),
                // A weak or malformed entry never matches; one bad entry makes the header malformed.
                None => return Self::Versions(Vec::new()),
            }
        }
        Self::Versions(versions)
    }

    /// Whether a task at `version` satisfies it.
    pub fn allows(&self, version: u64) -> bool {
        match self {
            Self::None | Self::Any => true,
            Self::Versions(list) => list.contains(&version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_rejects_repeats_and_out_of_range() {
        assert!(ListQuery::parse("limit=0").is_err());
        assert!(ListQuery::parse("limit=201").is_err());
        assert_eq!(ListQuery::parse("limit=200").expect("valid").limit, 200);
        assert!(ListQuery::parse("tag=a&tag=b").is_err());
        assert!(ListQuery::parse("status=done").is_err());
        let q = ListQuery::parse("q=&tag=&whatever=1&q2=x").expect("valid");
        assert_eq!((q.q, q.tag), (None, None));
        let q = ListQuery::parse("q=MiLK&sort=-due").expect("valid");
        assert_eq!(q.q.as_deref(), Some("milk"));
        assert_eq!(
            q.sort,
            Sort {
                field: SortField::Due,
                descending: true
            }
        );
    }

    #[test]
    fn project_filter_and_order() {
        let q = ListQuery::parse("project=Home&sort=-project").expect("valid");
        let home = Project::parse("Home").expect("valid");
        assert_eq!(q.project, Some(ProjectFilter::Within(home.clone())));
        let garden = Project::parse("Home.Garden").expect("valid");
        let work = Project::parse("Homework").expect("valid");
        let filter = q.project.as_ref().expect("set");
        assert!(filter.matches(Some(&home)) && filter.matches(Some(&garden)));
        assert!(!filter.matches(Some(&work)) && !filter.matches(None));
        assert!(ProjectFilter::None.matches(None));
        assert_eq!(ListQuery::parse("project=").expect("valid").project, None);
        let err = ListQuery::parse("project=Home..x").expect_err("empty segment");
        assert!(
            err.0.starts_with("`project` must be a project name"),
            "{err}"
        );
        let at = |p: Option<&Project>, id: u128| Position {
            key: SortKey::Project(p.cloned()),
            id: TaskId(uuid::Uuid::from_u128(id)),
        };
        for sort in ["sort=project", "sort=-project"] {
            let q = ListQuery::parse(sort).expect("valid");
            assert_eq!(
                q.compare(&at(Some(&work), 1), &at(None, 0)),
                Ordering::Less,
                "{sort}"
            );
        }
        let q = ListQuery::parse("sort=-project").expect("valid");
        assert_eq!(
            q.compare(&at(Some(&work), 1), &at(Some(&home), 2)),
            Ordering::Less
        );
    }

    #[test]
    fn if_match_forms() {
        assert!(Precondition::from_if_match(Some("\"3\"")).allows(3));
        assert!(Precondition::from_if_match(Some("\"1\", \"3\"")).allows(3));
        assert!(!Precondition::from_if_match(Some("W/\"3\"")).allows(3));
        assert!(!Precondition::from_if_match(Some("3")).allows(3));
        assert!(!Precondition::from_if_match(Some("\"03\"")).allows(3));
        assert!(Precondition::from_if_match(Some("*")).allows(9));
        assert!(Precondition::from_if_match(None).allows(9));
    }
}
