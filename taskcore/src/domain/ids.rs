//! Identifiers: users, tasks, login sessions and API tokens are UUIDv7.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered (v7) id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// The 16 bytes of the id, big-endian: byte order is time order.
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            /// From 16 bytes as returned by [`Self::as_bytes`].
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }

            /// Parses the hyphenated form only (`8-4-4-4-12` hex digits).
            pub fn parse(text: &str) -> Option<Self> {
                if text.len() != 36 {
                    return None;
                }
                Uuid::try_parse(text).ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A user's id.
    UserId
);
uuid_id!(
    /// A task's id; its bytes sort by creation time.
    TaskId
);
uuid_id!(
    /// A login session's id (the `sid` claim of access tokens).
    SessionId
);
uuid_id!(
    /// An API token's id (not its secret value).
    ApiTokenId
);

/// How a path names a task: its UUID or the owner's per-user number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskRef {
    /// The task's UUID.
    Id(TaskId),
    /// The task's per-user number (1, 2, ...).
    Number(u64),
}

impl TaskRef {
    /// Parses a path segment: a hyphenated UUID, or a decimal number without
    /// sign or leading zeros (`0` is not a number any task has). Anything else
    /// is `None`, which callers answer like a task that does not exist.
    pub fn parse(segment: &str) -> Option<Self> {
        if let Some(id) = TaskId::parse(segment) {
            return Some(Self::Id(id));
        }
        parse_decimal(segment).filter(|n| *n >= 1).map(Self::Number)
    }
}

/// Parses the one form of a number in a path or a query: ASCII
/// decimal digits, no sign, no leading zeros (`0` alone is zero), no
/// white space, at most `u64::MAX`. `+5`, `05`, ` 5` and `5.0` are not
/// numbers, though Rust's `str::parse` takes some of them.
pub fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
}

impl fmt::Display for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::Number(n) => n.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_refs_accept_only_canonical_forms() {
        assert_eq!(TaskRef::parse("7"), Some(TaskRef::Number(7)));
        for bad in [
            "0",
            "007",
            "-1",
            "+1",
            "abc",
            "",
            "#7",
            "1.0",
            "99999999999999999999",
        ] {
            assert_eq!(TaskRef::parse(bad), None, "{bad}");
        }
        let id = TaskId::generate();
        assert_eq!(TaskRef::parse(&id.to_string()), Some(TaskRef::Id(id)));
        assert_eq!(TaskRef::parse(&id.0.simple().to_string()), None);
    }

    #[test]
    fn decimals_have_one_form() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("5"), Some(5));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "+5",
            "-5",
            "05",
            "00",
            " 5",
            "5 ",
            "5.0",
            "0x5",
            "1e3",
            "\u{0665}",
            "18446744073709551616",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }
}
