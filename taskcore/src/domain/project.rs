//! Projects: a dot-separated hierarchy of names (`Home.Garden` is inside `Home`).

use super::validation::{char_len, is_control};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::str::FromStr;

/// Longest project name, in characters.
pub const PROJECT_MAX: usize = 100;

/// The separator between the levels of a project name.
pub const PROJECT_SEPARATOR: char = '.';

/// A valid project name: 1 to 100 characters, no control characters, no
/// white space at either end, and dots between non-empty segments
/// (`Home.Garden`; not `Home..x`, `.Home` or `Home.`).
///
/// Names compare as strings (byte order), which is the order of
/// `sort=project` and of a store's project index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Project(String);

/// Why a text is not a [`Project`]; each message is one sentence naming the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProjectError {
    /// The name is empty.
    #[error("must not be empty")]
    Empty,
    /// The name is longer than [`PROJECT_MAX`] characters.
    #[error("must be at most {PROJECT_MAX} characters")]
    TooLong,
    /// The name holds a control character.
    #[error("must not contain control characters")]
    Control,
    /// The name starts or ends with white space.
    #[error("must not start or end with white space")]
    OuterWhiteSpace,
    /// A dot at either end, or two dots in a row.
    #[error("must not have an empty segment: no dot at either end and no two dots in a row")]
    EmptySegment,
}

impl Project {
    /// Checks a project name (kept exactly as given: nothing is trimmed).
    pub fn parse(raw: &str) -> Result<Self, ProjectError> {
        if raw.is_empty() {
            return Err(ProjectError::Empty);
        }
        if char_len(raw) > PROJECT_MAX {
            return Err(ProjectError::TooLong);
        }
        if raw.chars().any(is_control) {
            return Err(ProjectError::Control);
        }
        if raw.starts_with(char::is_whitespace) || raw.ends_with(char::is_whitespace) {
            return Err(ProjectError::OuterWhiteSpace);
        }
        if raw.split(PROJECT_SEPARATOR).any(str::is_empty) {
            return Err(ProjectError::EmptySegment);
        }
        Ok(Self(raw.to_string()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name's levels, outermost first: `Home.Garden` → `Home`, `Garden`.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split(PROJECT_SEPARATOR)
    }

    /// How many levels deep it is: 1 for `Home`, 2 for `Home.Garden`.
    pub fn depth(&self) -> usize {
        self.segments().count()
    }

    /// Every project this one is inside, outermost first, without itself:
    /// `Home.Garden.Beds` → `Home`, `Home.Garden`.
    pub fn parents(&self) -> impl Iterator<Item = Project> + '_ {
        self.0
            .match_indices(PROJECT_SEPARATOR)
            .map(|(at, _)| Self(self.0[..at].to_string()))
    }

    /// The project directly containing this one (`Home` for `Home.Garden`),
    /// `None` at the top level.
    pub fn parent(&self) -> Option<Project> {
        self.0
            .rfind(PROJECT_SEPARATOR)
            .map(|at| Self(self.0[..at].to_string()))
    }

    /// Whether `other` is this project or inside it: `Home` contains `Home`
    /// and `Home.Garden`, not `Homework`. This is the `project=P` filter.
    pub fn contains(&self, other: &Project) -> bool {
        self.contains_name(other.as_str())
    }

    /// [`Project::contains`] for a stored name that is not parsed again.
    pub fn contains_name(&self, name: &str) -> bool {
        name.strip_prefix(self.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(PROJECT_SEPARATOR))
    }

    /// Whether this project is `other` or inside it (`other.contains(self)`).
    pub fn is_within(&self, other: &Project) -> bool {
        other.contains(self)
    }

    /// The prefix every project strictly inside this one starts with: the
    /// name and a dot (`Home.` for `Home`).
    ///
    /// In a store index sorted by name, the `project=P` filter is the key `P`
    /// itself plus the range of keys starting with this prefix. It is not one
    /// contiguous range from `P`: `Home-x` sorts between `Home` and
    /// `Home.Garden` (`-` comes before `.`), and `Homework` is not inside `Home`.
    pub fn subtree_prefix(&self) -> String {
        let mut prefix = String::with_capacity(self.0.len() + 1);
        prefix.push_str(&self.0);
        prefix.push(PROJECT_SEPARATOR);
        prefix
    }
}

impl fmt::Display for Project {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Project {
    type Err = ProjectError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Project {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Project {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).map_err(|e| serde::de::Error::custom(format_args!("project {e}")))
    }
}

/// One line of `GET /api/projects`: a project and how many of the caller's
/// live tasks are in it or inside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectCount {
    /// The project's name.
    pub name: Project,
    /// Pending tasks in it or in a project inside it.
    pub pending: u64,
    /// Completed tasks in it or in a project inside it.
    pub completed: u64,
}

/// The body of `GET /api/projects`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectList {
    /// Sorted by name.
    pub projects: Vec<ProjectCount>,
}

/// The project list from counts of tasks per named project and completion
/// (`(project, completed, how many)`, in any order, a project possibly more
/// than once): every project named and every parent of one, a parent's
/// counts including its children's, sorted by name. Both stores count their
/// way and share this.
pub fn project_counts<'a>(
    counts: impl IntoIterator<Item = (&'a Project, bool, u64)>,
) -> Vec<ProjectCount> {
    let mut totals: std::collections::BTreeMap<&'a str, (u64, u64)> = Default::default();
    for (project, completed, n) in counts {
        let name = project.as_str();
        let ends = name
            .match_indices(PROJECT_SEPARATOR)
            .map(|(at, _)| at)
            .chain([name.len()]);
        for end in ends {
            let entry = totals.entry(&name[..end]).or_default();
            if completed {
                entry.1 += n;
            } else {
                entry.0 += n;
            }
        }
    }
    totals
        .into_iter()
        .map(|(name, (pending, completed))| ProjectCount {
            name: Project(name.to_string()),
            pending,
            completed,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(name: &str) -> Project {
        Project::parse(name).expect(name)
    }

    #[test]
    fn counts_roll_up_into_parents_sorted_by_name() {
        let garden = project("Home.Garden");
        let home = project("Home");
        let work = project("Homework");
        let list = project_counts([
            (&garden, false, 2),
            (&home, true, 1),
            (&garden, true, 3),
            (&work, false, 1),
        ]);
        let lines: Vec<(&str, u64, u64)> = list
            .iter()
            .map(|c| (c.name.as_str(), c.pending, c.completed))
            .collect();
        assert_eq!(
            lines,
            [("Home", 2, 4), ("Home.Garden", 2, 3), ("Homework", 1, 0)]
        );
    }

    #[test]
    fn valid_names_are_kept_as_given() {
        for name in [
            "Home",
            "Home.Garden",
            "Home.Garden.Beds",
            "a",
            "Work stuff.Q3 plan",
            "Été.Café",
            "x-y_z",
            &"p".repeat(PROJECT_MAX),
            &"é".repeat(PROJECT_MAX),
        ] {
            let p = project(name);
            assert_eq!(p.as_str(), name);
            assert_eq!(p.to_string(), name);
            assert_eq!(name.parse::<Project>(), Ok(p));
        }
    }

    #[test]
    fn each_rule_has_its_message() {
        let cases = [
            ("", ProjectError::Empty, "must not be empty"),
            (
                &"p".repeat(PROJECT_MAX + 1),
                ProjectError::TooLong,
                "must be at most 100 characters",
            ),
            (
                "Home\u{7f}",
                ProjectError::Control,
                "must not contain control characters",
            ),
            (
                "Ho\tme",
                ProjectError::Control,
                "must not contain control characters",
            ),
            (
                " Home",
                ProjectError::OuterWhiteSpace,
                "must not start or end with white space",
            ),
            (
                "Home\u{a0}",
                ProjectError::OuterWhiteSpace,
                "must not start or end with white space",
            ),
            ("Home..x", ProjectError::EmptySegment, ""),
            (".Home", ProjectError::EmptySegment, ""),
            ("Home.", ProjectError::EmptySegment, ""),
            (".", ProjectError::EmptySegment, ""),
        ];
        for (raw, error, message) in cases {
            assert_eq!(Project::parse(raw), Err(error), "{raw:?}");
            if !message.is_empty() {
                assert_eq!(error.to_string(), message);
            }
        }
        assert!(
            ProjectError::EmptySegment
                .to_string()
                .starts_with("must not have an empty segment")
        );
    }

    #[test]
    fn hierarchy() {
        let beds = project("Home.Garden.Beds");
        assert_eq!(
            beds.segments().collect::<Vec<_>>(),
            ["Home", "Garden", "Beds"]
        );
        assert_eq!(beds.depth(), 3);
        assert_eq!(
            beds.parents().collect::<Vec<_>>(),
            [project("Home"), project("Home.Garden")]
        );
        assert_eq!(beds.parent(), Some(project("Home.Garden")));
        assert_eq!(project("Home").parents().count(), 0);
        assert_eq!(project("Home").parent(), None);

        let home = project("Home");
        assert!(home.contains(&home));
        assert!(home.contains(&project("Home.Garden")));
        assert!(home.contains(&beds));
        assert!(!home.contains(&project("Homework")));
        assert!(!home.contains(&project("Home-x")));
        assert!(!home.contains(&project("Hom")));
        assert!(!beds.contains(&home));
        assert!(beds.is_within(&home));
        assert!(!home.is_within(&beds));
        assert!(!project("Garden").contains(&beds), "only from the top");
        assert!(home.contains_name("Home.Garden"));
        assert!(!home.contains_name("Homework"));
    }

    #[test]
    fn the_subtree_prefix_selects_exactly_what_contains_does() {
        let home = project("Home");
        assert_eq!(home.subtree_prefix(), "Home.");
        let mut names = [
            "Home", "Home-x", "Home.A", "Home.A.B", "Homework", "Hom", "House", "Home.",
        ];
        names.sort();
        let prefix = home.subtree_prefix();
        for name in names {
            let by_keys = name == home.as_str() || name.starts_with(&prefix);
            assert_eq!(by_keys, home.contains_name(name), "{name}");
        }
    }

    #[test]
    fn serde_is_a_validated_string() {
        let p: Project = serde_json::from_str("\"Home.Garden\"").expect("valid");
        assert_eq!(
            serde_json::to_string(&p).expect("serializes"),
            "\"Home.Garden\""
        );
        let bad = serde_json::from_str::<Project>("\"Home..x\"").expect_err("invalid");
        assert!(bad.to_string().contains("empty segment"), "{bad}");
        assert!(serde_json::from_str::<Project>("3").is_err());
    }
}
