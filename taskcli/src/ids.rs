//! Task ids as users type them: `7`, `#7`, or a full UUID.

use std::fmt;
use std::str::FromStr;
use taskcore::{TaskId, TaskRef};

/// A task named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskArg(pub TaskRef);

impl TaskArg {
    /// The reference the API takes.
    pub fn reference(&self) -> TaskRef {
        self.0
    }
}

impl FromStr for TaskArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let bare = trimmed.strip_prefix('#').unwrap_or(trimmed);
        if let Some(id) = TaskId::parse(bare).filter(|_| bare.len() == trimmed.len()) {
            return Ok(Self(TaskRef::Id(id)));
        }
        match TaskRef::parse(bare) {
            Some(TaskRef::Number(n)) => Ok(Self(TaskRef::Number(n))),
            _ => Err(format!(
                "`{text}` is not a task id: use a task number (7 or #7) or a full UUID"
            )),
        }
    }
}

impl fmt::Display for TaskArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            TaskRef::Number(n) => write!(f, "#{n}"),
            TaskRef::Id(id) => write!(f, "{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_hashes_and_uuids() {
        assert_eq!("7".parse::<TaskArg>(), Ok(TaskArg(TaskRef::Number(7))));
        assert_eq!("#7".parse::<TaskArg>(), Ok(TaskArg(TaskRef::Number(7))));
        let id = TaskId::generate();
        assert_eq!(
            id.to_string().parse::<TaskArg>(),
            Ok(TaskArg(TaskRef::Id(id)))
        );
        for bad in ["", "#", "0", "007", "-1", "x7", "7a", "##7", "#", "1.5"] {
            assert!(bad.parse::<TaskArg>().is_err(), "{bad}");
        }
        assert_eq!(
            "#7".parse::<TaskArg>().map(|t| t.to_string()),
            Ok("#7".to_string())
        );
    }
}
