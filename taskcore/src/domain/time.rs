//! Timestamps as the API speaks them: UTC, microsecond precision, RFC 3339 with `Z`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A point in time, UTC, truncated to the microsecond.
///
/// It serializes as RFC 3339 with `Z` and only as many fractional digits as
/// needed (none, 3 or 6), so a `due` sent as `2030-01-01T12:00:00Z` comes back
/// exactly as sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// The current time, truncated to the microsecond.
    pub fn now() -> Self {
        Self::from_micros(Utc::now().timestamp_micros()).unwrap_or(Self(DateTime::UNIX_EPOCH))
    }

    /// From microseconds since the Unix epoch; `None` when out of range.
    pub fn from_micros(micros: i64) -> Option<Self> {
        DateTime::from_timestamp_micros(micros).map(Self)
    }

    /// Microseconds since the Unix epoch.
    pub fn as_micros(&self) -> i64 {
        self.0.timestamp_micros()
    }

    /// Whole seconds since the Unix epoch.
    pub fn as_secs(&self) -> i64 {
        self.0.timestamp()
    }

    /// Parses RFC 3339 (any offset) and converts to UTC, keeping microseconds.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let parsed = DateTime::parse_from_rfc3339(text).ok()?;
        Self::from_micros(parsed.with_timezone(&Utc).timestamp_micros())
    }

    /// This time plus a duration (saturating at the far future).
    pub fn plus(&self, duration: std::time::Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Self::from_micros(self.as_micros().saturating_add(micros))
            .unwrap_or(Self(DateTime::<Utc>::MAX_UTC))
    }

    /// The underlying chrono value.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        Self::from_micros(value.timestamp_micros()).unwrap_or(Self(value))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 date-time"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_utc_and_precision_is_microseconds() {
        let t = Timestamp::parse_rfc3339("2030-01-01T14:00:00.1234567+02:00").expect("valid");
        assert_eq!(t.to_string(), "2030-01-01T12:00:00.123456Z");
        let whole = Timestamp::parse_rfc3339("2030-01-01T12:00:00Z").expect("valid");
        assert_eq!(whole.to_string(), "2030-01-01T12:00:00Z");
        assert!(Timestamp::parse_rfc3339("2030-01-01").is_none());
    }
}
