//! Task ids as users type them: `7`, `#7`, a full UUID, or the local
//! handle of a task added offline (`~1`).

use std::fmt;
use std::str::FromStr;
use taskclient::LocalRef;
use taskcore::TaskRef;

/// A task named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskArg(pub LocalRef);

impl TaskArg {
    /// The reference the API takes; `None` for a local handle, which only
    /// the local copy knows.
    pub fn reference(&self) -> Option<TaskRef> {
        match self.0 {
            LocalRef::Number(n) => Some(TaskRef::Number(n)),
            LocalRef::Id(id) => Some(TaskRef::Id(id)),
            LocalRef::Handle(_) => None,
        }
    }
}

impl FromStr for TaskArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let bare = trimmed.strip_prefix('#').unwrap_or(trimmed);
        // `#~1` is not a way to write a handle.
        let parsed = match LocalRef::parse(bare) {
            Some(LocalRef::Handle(_)) if bare.len() != trimmed.len() => None,
            other => other,
        };
        parsed.map(Self).ok_or_else(|| {
            format!(
                "`{text}` is not a task id: use a task number (7 or #7), a full UUID, or the handle of a task added offline (~1)"
            )
        })
    }
}

impl fmt::Display for TaskArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            LocalRef::Number(n) => write!(f, "#{n}"),
            other => write!(f, "{other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskcore::TaskId;

    #[test]
    fn numbers_hashes_handles_and_uuids() {
        assert_eq!("7".parse::<TaskArg>(), Ok(TaskArg(LocalRef::Number(7))));
        assert_eq!("#7".parse::<TaskArg>(), Ok(TaskArg(LocalRef::Number(7))));
        assert_eq!("~3".parse::<TaskArg>(), Ok(TaskArg(LocalRef::Handle(3))));
        let id = TaskId::generate();
        assert_eq!(
            id.to_string().parse::<TaskArg>(),
            Ok(TaskArg(LocalRef::Id(id)))
        );
        for bad in [
            "", "#", "0", "007", "-1", "x7", "7a", "##7", "#", "1.5", "~", "~0", "#~1", "~-1",
            "~1a",
        ] {
            assert!(bad.parse::<TaskArg>().is_err(), "{bad}");
        }
        assert_eq!(
            "#7".parse::<TaskArg>().map(|t| t.to_string()),
            Ok("#7".to_string())
        );
        assert_eq!(
            "~2".parse::<TaskArg>().map(|t| t.to_string()),
            Ok("~2".to_string())
        );
        assert_eq!("~2".parse::<TaskArg>().map(|t| t.reference()), Ok(None));
    }
}
