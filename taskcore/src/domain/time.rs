//! Timestamps as the API speaks them: UTC, microsecond precision, RFC 3339 with `Z`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A point in time, UTC, truncated to the microsecond, between
/// [`Timestamp::MIN`] and [`Timestamp::MAX`].
///
/// The range is what RFC 3339 can write (four-digit years), so every value
/// serializes as RFC 3339 with `Z` and parses back: a time outside it could
/// be stored but not exported or read again, so no constructor makes one.
/// It prints only as many fractional digits as needed (none, 3 or 6), so a
/// `due` sent as `2030-01-01T12:00:00Z` comes back exactly as sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

/// Microseconds since the epoch of `0001-01-01T00:00:00Z`.
const MIN_MICROS: i64 = -62_135_596_800_000_000;
/// Microseconds since the epoch of `9999-12-31T23:59:59.999999Z`.
const MAX_MICROS: i64 = 253_402_300_799_999_999;

/// Why a text is not a [`Timestamp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not an RFC 3339 date-time at all.
    #[error("must be an RFC 3339 date-time")]
    NotRfc3339,
    /// A valid date-time, but before 0001 or after 9999 once in UTC.
    #[error("must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z")]
    OutOfRange,
}

impl Timestamp {
    /// The earliest time there is: `0001-01-01T00:00:00Z`.
    pub const MIN: Self = Self(DateTime::from_timestamp_micros(MIN_MICROS).expect("in range"));
    /// The latest time there is: `9999-12-31T23:59:59.999999Z`.
    pub const MAX: Self = Self(DateTime::from_timestamp_micros(MAX_MICROS).expect("in range"));

    /// The current time, truncated to the microsecond.
    pub fn now() -> Self {
        Self::from_micros(Utc::now().timestamp_micros()).unwrap_or(Self(DateTime::UNIX_EPOCH))
    }

    /// From microseconds since the Unix epoch; `None` outside the range.
    pub fn from_micros(micros: i64) -> Option<Self> {
        if !(MIN_MICROS..=MAX_MICROS).contains(&micros) {
            return None;
        }
        DateTime::from_timestamp_micros(micros).map(Self)
    }

    /// From microseconds since the Unix epoch, moved into the range: for
    /// repairing values that releases before the range check stored.
    pub fn from_micros_clamped(micros: i64) -> Self {
        Self::from_micros(micros.clamp(MIN_MICROS, MAX_MICROS)).unwrap_or(Self::MAX)
    }

    /// From a chrono time (truncated to the microsecond); `None` outside the range.
    pub fn from_datetime(at: DateTime<Utc>) -> Option<Self> {
        Self::from_micros(at.timestamp_micros())
    }

    /// Microseconds since the Unix epoch.
    pub fn as_micros(&self) -> i64 {
        self.0.timestamp_micros()
    }

    /// Whole seconds since the Unix epoch.
    pub fn as_secs(&self) -> i64 {
        self.0.timestamp()
    }

    /// Parses RFC 3339 (any offset), converts to UTC keeping microseconds,
    /// and checks the range.
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        let parsed = DateTime::parse_from_rfc3339(text).map_err(|_| TimeError::NotRfc3339)?;
        Self::from_datetime(parsed.with_timezone(&Utc)).ok_or(TimeError::OutOfRange)
    }

    /// [`Timestamp::parse`], when the reason does not matter.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        Self::parse(text).ok()
    }

    /// Reads a time as any earlier release may have stored it, moving one
    /// outside the range to the nearest end: chrono writes years past 9999
    /// as `+10000-...` and years before 1 as `-0001-...`, which RFC 3339
    /// cannot parse. `None` for text that is no time at all.
    pub fn parse_stored(text: &str) -> Option<Self> {
        match Self::parse(text) {
            Ok(at) => Some(at),
            Err(TimeError::OutOfRange) => {
                let parsed = DateTime::parse_from_rfc3339(text).ok()?;
                Some(Self::from_micros_clamped(parsed.timestamp_micros()))
            }
            Err(TimeError::NotRfc3339) => {
                let year_digits = |rest: &str| {
                    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                    digits >= 4 && rest.as_bytes().get(digits) == Some(&b'-')
                };
                match text.split_at_checked(1) {
                    Some(("+", rest)) if year_digits(rest) => Some(Self::MAX),
                    Some(("-", rest)) if year_digits(rest) => Some(Self::MIN),
                    _ => None,
                }
            }
        }
    }

    /// This time plus a duration (saturating at [`Timestamp::MAX`]).
    pub fn plus(&self, duration: std::time::Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Self::from_micros_clamped(self.as_micros().saturating_add(micros))
    }

    /// The underlying chrono value.
    pub fn as_datetime(&self) -> DateTime<Utc> {
        self.0
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
        Self::parse(&text).map_err(|e| serde::de::Error::custom(format_args!("`{text}` {e}")))
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

    #[test]
    fn the_range_is_what_rfc_3339_can_write() {
        let max = Timestamp::parse("9999-12-31T23:59:59.9999999Z").expect("truncates into range");
        assert_eq!(max, Timestamp::MAX);
        assert_eq!(max.to_string(), "9999-12-31T23:59:59.999999Z");
        let min = Timestamp::parse("0001-01-01T01:30:00+01:30").expect("the first instant");
        assert_eq!(min, Timestamp::MIN);
        assert_eq!(min.to_string(), "0001-01-01T00:00:00Z");
        for outside in [
            "9999-12-31T23:59:59.999999999-23:59",
            "0000-01-01T00:00:00+23:59",
            "0001-01-01T00:00:00+00:01",
            "0000-12-31T23:59:59.999999Z",
        ] {
            assert_eq!(
                Timestamp::parse(outside),
                Err(TimeError::OutOfRange),
                "{outside}"
            );
        }
        assert_eq!(Timestamp::parse("tomorrow"), Err(TimeError::NotRfc3339));
        assert!(Timestamp::from_micros(MAX_MICROS + 1).is_none());
        assert!(Timestamp::from_micros(MIN_MICROS - 1).is_none());
        assert_eq!(
            Timestamp::MAX.plus(std::time::Duration::from_secs(1)),
            Timestamp::MAX
        );
        // Every value in the range prints as text that parses back to it.
        for at in [Timestamp::MIN, Timestamp::MAX] {
            assert_eq!(Timestamp::parse(&at.to_string()), Ok(at));
        }
    }

    #[test]
    fn stored_times_from_before_the_range_check_move_to_its_ends() {
        // What chrono printed for the two times the attack stored.
        assert_eq!(
            Timestamp::parse_stored("+10000-01-01T23:58:59.999999Z"),
            Some(Timestamp::MAX)
        );
        assert_eq!(
            Timestamp::parse_stored("-0001-12-31T00:01:00Z"),
            Some(Timestamp::MIN)
        );
        assert_eq!(
            Timestamp::parse_stored("0000-06-01T00:00:00Z"),
            Some(Timestamp::MIN)
        );
        let fine = Timestamp::parse("2030-01-01T00:00:00Z").expect("valid");
        assert_eq!(Timestamp::parse_stored("2030-01-01T00:00:00Z"), Some(fine));
        assert_eq!(Timestamp::parse_stored("+x"), None);
        assert_eq!(Timestamp::parse_stored("soon"), None);
        let old = serde_json::from_str::<Timestamp>("\"+10000-01-01T23:58:59.999999Z\"");
        assert!(old.is_err(), "strict when reading input: {old:?}");
    }
}
