//! Recurrence: the subset of RFC 5545 RRULE values a task's `recur` may hold,
//! the dates they make, and the ids of the tasks they create.
//!
//! The date arithmetic is the `rrule` crate's; this module parses and prints
//! our subset, decides what the series' first date means, and bounds the work.

use super::ids::TaskId;
use super::time::Timestamp;
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, TimeDelta, Utc, Weekday};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Longest rule text accepted, in characters: far more than any sensible rule,
/// small enough that parsing one costs nothing.
pub const RECUR_MAX: usize = 1000;
/// Largest `INTERVAL` and `COUNT`.
pub const RECUR_NUMBER_MAX: u16 = 999;
/// How far past the previous date the next one may lie before the series
/// ends: 100 years. A rule that matches more rarely than that (or never, such
/// as every fourth 29 February from a year that is not a leap year) ends.
pub const RECUR_HORIZON_YEARS: u32 = 100;

/// How often a rule repeats: its `FREQ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Frequency {
    /// `DAILY`.
    Daily,
    /// `WEEKLY` (weeks start on Monday).
    Weekly,
    /// `MONTHLY`.
    Monthly,
    /// `YEARLY`.
    Yearly,
}

impl Frequency {
    /// Every frequency, shortest period first.
    pub const ALL: [Frequency; 4] = [Self::Daily, Self::Weekly, Self::Monthly, Self::Yearly];

    /// The RRULE name (`DAILY`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Daily => "DAILY",
            Self::Weekly => "WEEKLY",
            Self::Monthly => "MONTHLY",
            Self::Yearly => "YEARLY",
        }
    }

    fn unit(&self) -> &'static str {
        match self {
            Self::Daily => "day",
            Self::Weekly => "week",
            Self::Monthly => "month",
            Self::Yearly => "year",
        }
    }

    fn to_rrule(self) -> rrule::Frequency {
        match self {
            Self::Daily => rrule::Frequency::Daily,
            Self::Weekly => rrule::Frequency::Weekly,
            Self::Monthly => rrule::Frequency::Monthly,
            Self::Yearly => rrule::Frequency::Yearly,
        }
    }
}

impl fmt::Display for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `BYDAY` item: a weekday, on its own (`MO`: every Monday of the
/// period) or with an ordinal (`1MO`: the first Monday of the month or year,
/// `-1FR`: the last Friday).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ByDay {
    /// Which occurrence in the month or year; `None` for every one.
    pub ordinal: Option<i8>,
    /// The weekday.
    pub weekday: Weekday,
}

impl ByDay {
    /// Every such weekday of the period.
    pub fn every(weekday: Weekday) -> Self {
        Self {
            ordinal: None,
            weekday,
        }
    }

    fn sort_key(&self) -> (u32, i8) {
        (
            self.weekday.num_days_from_monday(),
            self.ordinal.unwrap_or(0),
        )
    }
}

impl fmt::Display for ByDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.ordinal {
            write!(f, "{n}")?;
        }
        f.write_str(weekday_code(self.weekday))
    }
}

/// Why a text is not a [`Recur`]; each message is one sentence that names
/// the part at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecurError {
    /// Nothing at all.
    #[error("must not be empty")]
    Empty,
    /// Longer than [`RECUR_MAX`].
    #[error("must be at most {RECUR_MAX} characters")]
    TooLong,
    /// The `RRULE:` property name in front of the value.
    #[error("must be the rule alone, without the `RRULE:` prefix (such as FREQ=WEEKLY;BYDAY=MO)")]
    Prefix,
    /// `;;`, or a `;` at either end.
    #[error("must not have an empty part (a semicolon at either end or two in a row)")]
    EmptyPart,
    /// A part without `=`.
    #[error("`{0}` is not a NAME=VALUE part")]
    NotAPart(String),
    /// An RFC 5545 part outside our subset (`BYHOUR`, `WKST`, ...).
    #[error("{0} is not supported")]
    Unsupported(String),
    /// A name RFC 5545 does not have.
    #[error("{0} is not a rule part")]
    UnknownPart(String),
    /// A part given twice.
    #[error("{0} must not be given more than once")]
    Duplicate(&'static str),
    /// No `FREQ`.
    #[error("FREQ is required")]
    FreqRequired,
    /// `FREQ` other than the four we know.
    #[error("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")]
    Freq,
    /// `INTERVAL` out of range.
    #[error("INTERVAL must be 1 to 999")]
    Interval,
    /// `COUNT` out of range.
    #[error("COUNT must be 1 to 999")]
    Count,
    /// `UNTIL` not a UTC date-time.
    #[error("UNTIL must be a UTC date-time such as 20301231T235959Z")]
    Until,
    /// Both ends of a series (RFC 5545 forbids it).
    #[error("COUNT and UNTIL cannot both be given")]
    CountAndUntil,
    /// A `BYDAY` item that is no weekday.
    #[error(
        "BYDAY must be a comma list of MO, TU, WE, TH, FR, SA, SU, each maybe after an ordinal such as 1 or -1"
    )]
    ByDay,
    /// An ordinal `BYDAY` under `DAILY` or `WEEKLY`.
    #[error("BYDAY ordinals such as 1MO or -1FR need FREQ=MONTHLY or FREQ=YEARLY")]
    ByDayOrdinalFreq,
    /// An ordinal out of range for the frequency.
    #[error("BYDAY ordinals must be 1 to {max} or -1 to -{min} with FREQ={freq}")]
    ByDayOrdinalRange {
        /// The frequency that sets the range.
        freq: Frequency,
        /// Largest positive ordinal.
        max: i8,
        /// Largest negative ordinal, without its sign.
        min: i8,
    },
    /// A `BYMONTHDAY` item out of range.
    #[error("BYMONTHDAY must be a comma list of days 1 to 31 or -31 to -1")]
    ByMonthDay,
    /// `BYMONTHDAY` with `WEEKLY` (RFC 5545 forbids it).
    #[error("BYMONTHDAY cannot be used with FREQ=WEEKLY")]
    ByMonthDayWeekly,
    /// A `BYMONTH` item out of range.
    #[error("BYMONTH must be a comma list of months 1 to 12")]
    ByMonth,
    /// `BYMONTH` and `BYMONTHDAY` that no date satisfies (`BYMONTH=2;BYMONTHDAY=30`).
    #[error("BYMONTHDAY and BYMONTH never meet: none of the months has such a day")]
    NeverMeet,
    /// A friendly form ([`Recur::from_friendly`]) that is not one.
    #[error(
        "\"{0}\": expected daily, weekly, monthly, yearly, weekdays, every N days|weeks|months|years, every monday (or several: every mon,thu) or an RRULE such as FREQ=WEEKLY;BYDAY=MO"
    )]
    NotUnderstood(String),
}

/// A recurrence rule: an RFC 5545 RRULE value limited to `FREQ` (`DAILY`,
/// `WEEKLY`, `MONTHLY`, `YEARLY`; required), `INTERVAL` (1 to 999), `BYDAY`,
/// `BYMONTHDAY`, `BYMONTH`, `COUNT` (1 to 999) and `UNTIL`.
///
/// Input: parts in any order, each at most once, names and values in any
/// case, without the `RRULE:` prefix. `BYDAY` ordinals (`1MO`, `-1FR`) only
/// with `MONTHLY` (1 to 5, -1 to -4) and `YEARLY` (1 to 53, -1 to -52; within
/// the month when `BYMONTH` is given); `BYMONTHDAY` not with `WEEKLY`; not
/// both `COUNT` and `UNTIL`. `UNTIL` must be a UTC date-time
/// (`YYYYMMDDTHHMMSSZ`): RFC 5545 wants `UNTIL` of the same type as the
/// series' start, and a task's `due` is a UTC date-time, so a bare date is
/// refused rather than guessed at. Weeks start on Monday (`WKST` is not
/// supported). A `BYDAY` that mixes plain and ordinal weekdays (`TH,-1SU`)
/// means days of either kind, as in RFC 5545.
///
/// Output ([`fmt::Display`], serde): the canonical form, upper case, parts in
/// the order `FREQ`, `INTERVAL`, `BYDAY`, `BYMONTHDAY`, `BYMONTH`, `COUNT`,
/// `UNTIL`; `INTERVAL=1` left out; lists without duplicates, sorted (`BYDAY`
/// by weekday, `BYMONTHDAY` 1 to 31 then -1 to -31, `BYMONTH` ascending);
/// numbers without `+` or leading zeros. Two rules that mean the same by these
/// rules are equal.
///
/// Dates: see [`Recur::next_after`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Recur {
    freq: Frequency,
    interval: u16,
    by_day: Vec<ByDay>,
    by_month_day: Vec<i8>,
    by_month: Vec<u8>,
    count: Option<u16>,
    until: Option<Timestamp>,
}

/// The RFC 5545 rule parts outside our subset, for a precise message.
const UNSUPPORTED_PARTS: [&str; 7] = [
    "BYSECOND",
    "BYMINUTE",
    "BYHOUR",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYSETPOS",
    "WKST",
];

/// Longest part name echoed in an error message.
const ECHO_MAX: usize = 40;

impl Recur {
    /// A rule with only a frequency and an interval (1 to 999).
    pub fn every(freq: Frequency, interval: u16) -> Result<Self, RecurError> {
        if !(1..=RECUR_NUMBER_MAX).contains(&interval) {
            return Err(RecurError::Interval);
        }
        Ok(Self {
            freq,
            interval,
            by_day: Vec::new(),
            by_month_day: Vec::new(),
            by_month: Vec::new(),
            count: None,
            until: None,
        })
    }

    /// Parses an RRULE value (see the type's documentation for the subset).
    pub fn parse(raw: &str) -> Result<Self, RecurError> {
        if raw.is_empty() {
            return Err(RecurError::Empty);
        }
        if super::validation::char_len(raw) > RECUR_MAX {
            return Err(RecurError::TooLong);
        }
        if raw
            .get(..6)
            .is_some_and(|head| head.eq_ignore_ascii_case("RRULE:"))
        {
            return Err(RecurError::Prefix);
        }
        let mut freq = None;
        let mut interval = None;
        let mut by_day: Option<Vec<ByDay>> = None;
        let mut by_month_day: Option<Vec<i8>> = None;
        let mut by_month: Option<Vec<u8>> = None;
        let mut count = None;
        let mut until = None;
        for part in raw.split(';') {
            if part.is_empty() {
                return Err(RecurError::EmptyPart);
            }
            let Some((name, value)) = part.split_once('=') else {
                return Err(RecurError::NotAPart(echo(part)));
            };
            let name = name.to_ascii_uppercase();
            let value = value.to_ascii_uppercase();
            match name.as_str() {
                "FREQ" => set_once(&mut freq, "FREQ", parse_freq(&value)?)?,
                "INTERVAL" => set_once(
                    &mut interval,
                    "INTERVAL",
                    parse_number(&value).ok_or(RecurError::Interval)?,
                )?,
                "COUNT" => set_once(
                    &mut count,
                    "COUNT",
                    parse_number(&value).ok_or(RecurError::Count)?,
                )?,
                "UNTIL" => set_once(&mut until, "UNTIL", parse_until(&value)?)?,
                "BYDAY" => set_once(
                    &mut by_day,
                    "BYDAY",
                    parse_list(&value, parse_by_day, RecurError::ByDay)?,
                )?,
                "BYMONTHDAY" => set_once(
                    &mut by_month_day,
                    "BYMONTHDAY",
                    parse_list(&value, parse_month_day, RecurError::ByMonthDay)?,
                )?,
                "BYMONTH" => set_once(
                    &mut by_month,
                    "BYMONTH",
                    parse_list(&value, parse_month, RecurError::ByMonth)?,
                )?,
                other if UNSUPPORTED_PARTS.contains(&other) => {
                    return Err(RecurError::Unsupported(other.to_string()));
                }
                _ => return Err(RecurError::UnknownPart(echo(&name))),
            }
        }
        let freq = freq.ok_or(RecurError::FreqRequired)?;
        if count.is_some() && until.is_some() {
            return Err(RecurError::CountAndUntil);
        }
        let mut rule = Self::every(freq, interval.unwrap_or(1))?;
        rule.count = count;
        rule.until = until;
        rule.by_day = by_day.unwrap_or_default();
        rule.by_month_day = by_month_day.unwrap_or_default();
        rule.by_month = by_month.unwrap_or_default();
        rule.check_and_normalise()
    }

    /// The rules that tie parts together, then the canonical order of lists.
    fn check_and_normalise(mut self) -> Result<Self, RecurError> {
        if let Some(range) = ordinal_range(self.freq) {
            let (min, max) = range;
            if self
                .by_day
                .iter()
                .filter_map(|d| d.ordinal)
                .any(|n| !(-min..=max).contains(&n))
            {
                return Err(RecurError::ByDayOrdinalRange {
                    freq: self.freq,
                    max,
                    min,
                });
            }
        } else if self.by_day.iter().any(|d| d.ordinal.is_some()) {
            return Err(RecurError::ByDayOrdinalFreq);
        }
        if self.freq == Frequency::Weekly && !self.by_month_day.is_empty() {
            return Err(RecurError::ByMonthDayWeekly);
        }
        if !self.by_month_day.is_empty() {
            let months: Vec<u8> = if self.by_month.is_empty() {
                (1..=12).collect()
            } else {
                self.by_month.clone()
            };
            let meet = months.iter().any(|m| {
                let longest = longest_month(*m);
                self.by_month_day
                    .iter()
                    .any(|d| d.unsigned_abs() <= longest)
            });
            if !meet {
                return Err(RecurError::NeverMeet);
            }
        }
        self.by_day.sort_by_key(ByDay::sort_key);
        self.by_day.dedup();
        self.by_month_day
            .sort_by_key(|d| (*d < 0, d.unsigned_abs()));
        self.by_month_day.dedup();
        self.by_month.sort_unstable();
        self.by_month.dedup();
        Ok(self)
    }

    /// Parses what a person types: `daily`, `weekly`, `monthly`, `yearly`,
    /// `weekdays` (Monday to Friday), `every day|week|month|year`, `every N
    /// days|weeks|months|years` (N from 1 to 999), `every monday` or several
    /// weekdays (`every mon,thu`, `every tue fri`; full names or three
    /// letters), in any case; anything with an `=` is read as an RRULE.
    pub fn from_friendly(text: &str) -> Result<Self, RecurError> {
        let trimmed = text.trim();
        if trimmed.contains('=') {
            return Self::parse(trimmed);
        }
        let lower = trimmed.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .collect();
        let not_understood = || RecurError::NotUnderstood(echo_friendly(trimmed));
        let simple = |freq| Self::every(freq, 1);
        match words.as_slice() {
            [] => Err(RecurError::Empty),
            ["daily"] => simple(Frequency::Daily),
            ["weekly"] => simple(Frequency::Weekly),
            ["monthly"] => simple(Frequency::Monthly),
            ["yearly"] => simple(Frequency::Yearly),
            ["weekdays"] => {
                let mut rule = simple(Frequency::Weekly)?;
                rule.by_day = [
                    Weekday::Mon,
                    Weekday::Tue,
                    Weekday::Wed,
                    Weekday::Thu,
                    Weekday::Fri,
                ]
                .into_iter()
                .map(ByDay::every)
                .collect();
                Ok(rule)
            }
            ["every", unit] if unit_of(unit).is_some() => {
                simple(unit_of(unit).ok_or_else(not_understood)?)
            }
            ["every", n, unit] if unit_of(unit).is_some() => {
                let freq = unit_of(unit).ok_or_else(not_understood)?;
                let n = parse_number(n).ok_or_else(|| {
                    if n.bytes().all(|b| b.is_ascii_digit()) {
                        RecurError::Interval
                    } else {
                        not_understood()
                    }
                })?;
                Self::every(freq, n)
            }
            ["every", days @ ..] if !days.is_empty() => {
                let mut rule = simple(Frequency::Weekly)?;
                for day in days {
                    let weekday = weekday_of_name(day).ok_or_else(not_understood)?;
                    rule.by_day.push(ByDay::every(weekday));
                }
                rule.check_and_normalise()
            }
            _ => Err(not_understood()),
        }
    }

    /// The words of `text` that no friendly form of
    /// [`Recur::from_friendly`] has, lower-cased, in order: what to name
    /// when a rule is not understood (`every 2 weekz` → `weekz`). Numbers
    /// count as known.
    pub fn unknown_friendly_words(text: &str) -> Vec<String> {
        let known = |word: &str| {
            matches!(
                word,
                "daily" | "weekly" | "monthly" | "yearly" | "weekdays" | "every"
            ) || unit_of(word).is_some()
                || weekday_of_name(word).is_some()
                || word.bytes().all(|b| b.is_ascii_digit())
        };
        text.to_lowercase()
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|word| !word.is_empty() && !known(word))
            .map(str::to_string)
            .collect()
    }

    /// A short human form for display: `daily`, `every 2 weeks`,
    /// `weekdays`, `every Mon, Thu`, ...; the RRULE itself for anything
    /// more involved. [`Recur::from_friendly`] reads every form back.
    pub fn describe(&self) -> String {
        let plain = self.by_month_day.is_empty()
            && self.by_month.is_empty()
            && self.count.is_none()
            && self.until.is_none();
        if !plain {
            return self.to_string();
        }
        if self.by_day.is_empty() {
            return match (self.freq, self.interval) {
                (Frequency::Daily, 1) => "daily".into(),
                (Frequency::Weekly, 1) => "weekly".into(),
                (Frequency::Monthly, 1) => "monthly".into(),
                (Frequency::Yearly, 1) => "yearly".into(),
                (freq, n) => format!("every {n} {}s", freq.unit()),
            };
        }
        if self.freq != Frequency::Weekly
            || self.interval != 1
            || self.by_day.iter().any(|d| d.ordinal.is_some())
        {
            return self.to_string();
        }
        let days: Vec<Weekday> = self.by_day.iter().map(|d| d.weekday).collect();
        if days
            == [
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ]
        {
            return "weekdays".into();
        }
        let names: Vec<String> = days.iter().map(|d| d.to_string()).collect();
        format!("every {}", names.join(", "))
    }

    /// `FREQ`.
    pub fn freq(&self) -> Frequency {
        self.freq
    }

    /// `INTERVAL` (1 when not given).
    pub fn interval(&self) -> u16 {
        self.interval
    }

    /// `BYDAY`, in canonical order (empty when not given).
    pub fn by_day(&self) -> &[ByDay] {
        &self.by_day
    }

    /// `BYMONTHDAY`, in canonical order (empty when not given).
    pub fn by_month_day(&self) -> &[i8] {
        &self.by_month_day
    }

    /// `BYMONTH`, ascending (empty when not given).
    pub fn by_month(&self) -> &[u8] {
        &self.by_month
    }

    /// `COUNT`: how many dates the series has, its first included.
    pub fn count(&self) -> Option<u16> {
        self.count
    }

    /// `UNTIL`: the last time a date of the series may have (inclusive).
    pub fn until(&self) -> Option<Timestamp> {
        self.until
    }

    /// The next date of the series strictly after `after`.
    ///
    /// `anchor` is the series' first date (its first task's `due`). It is
    /// always the first date of the series, and counts as the first for
    /// `COUNT`, even when it does not match the rule (RFC 5545: "the DTSTART
    /// property value always counts as the first occurrence"): the first task
    /// exists whatever the rule says. The other dates are those the rule
    /// matches after the anchor, stepping in UTC from it and keeping its time
    /// of day to the microsecond; the defaults come from the anchor as in
    /// RFC 5545 (`MONTHLY` alone repeats the anchor's day of the month, and
    /// skips months without it; `WEEKLY` alone its weekday; `YEARLY` alone its
    /// month and day).
    ///
    /// `None` when the series has no date after `after`: `COUNT` reached,
    /// past `UNTIL`, past 9999-12-31, or nothing within
    /// [`RECUR_HORIZON_YEARS`] after `after`.
    ///
    /// The work is bounded whatever the rule and times: a look at most day by
    /// day over the horizon (about 36,500 days, and only for a rule that
    /// matches rarely) that a date can come at all, then the crate's walk over
    /// at most `COUNT` dates from the anchor or, without `COUNT`, over the
    /// dates of at most `INTERVAL` periods before `after`.
    pub fn next_after(&self, anchor: Timestamp, after: Timestamp) -> Option<Timestamp> {
        self.next_after_from(anchor, after, true)
    }

    /// The first date of the series at or after `at`; [`Recur::next_after`]
    /// says what the dates are.
    pub fn first_at_or_after(&self, anchor: Timestamp, at: Timestamp) -> Option<Timestamp> {
        if at <= anchor {
            return self.allows(anchor).then_some(anchor);
        }
        // `at` > `anchor` >= MIN, so one microsecond earlier is in range.
        let just_before = Timestamp::from_micros(at.as_micros() - 1)?;
        self.next_after(anchor, just_before)
    }

    /// Whether the series has a date at or after `at`: a task whose rule has
    /// none after its own `due` (an `UNTIL` before it) is refused (422).
    pub fn has_date_at_or_after(&self, anchor: Timestamp, at: Timestamp) -> bool {
        self.first_at_or_after(anchor, at).is_some()
    }

    /// Whether `UNTIL` lets a date through.
    fn allows(&self, at: Timestamp) -> bool {
        self.until.is_none_or(|until| at <= until)
    }

    /// [`Recur::next_after`]; `skip_ahead: false` walks from the anchor even
    /// without `COUNT` (for the tests that check the shortcut).
    fn next_after_from(
        &self,
        anchor: Timestamp,
        after: Timestamp,
        skip_ahead: bool,
    ) -> Option<Timestamp> {
        if after < anchor {
            return self.allows(anchor).then_some(anchor);
        }
        let horizon = after
            .as_datetime()
            .checked_add_months(Months::new(RECUR_HORIZON_YEARS * 12))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        // The crate steps in whole seconds: walk from the anchor's whole
        // second and add its fraction back to every date.
        let fraction = TimeDelta::microseconds(anchor.as_micros().rem_euclid(1_000_000));
        let anchor_whole = anchor.as_datetime() - fraction;
        let start = if self.count.is_none() && skip_ahead {
            self.skip_ahead(anchor_whole, after.as_datetime())?
        } else {
            anchor_whole
        };
        let first_day = anchor_whole.date_naive();
        let last_day = horizon
            .date_naive()
            .min(Timestamp::MAX.as_datetime().date_naive());
        let after_day = after.as_datetime().date_naive();
        // Only the rules that can make a date in time: the crate would
        // search for the others' until it gives up, which takes seconds.
        let rules: Vec<Parts> = self
            .parts(first_day)
            .split()
            .into_iter()
            .filter(|parts| self.may_match(parts, first_day, after_day, last_day))
            .collect();
        if rules.is_empty() {
            return None;
        }
        let tz = rrule::Tz::UTC;
        let mut dates = rrule::RRuleSet::new(start.with_timezone(&tz))
            // Stops the crate after 100,000 periods without a date.
            .limit();
        for parts in &rules {
            // Our parser admits only rules the crate accepts; should one
            // slip through, the series ends rather than the request failing.
            let rule = self
                .to_rrule(parts)
                .validate(start.with_timezone(&tz))
                .ok()?;
            dates = dates.rrule(rule);
        }
        let mut number: u16 = 1;
        let mut last = anchor;
        for date in &dates {
            let at = Timestamp::from_datetime(date.with_timezone(&Utc) + fraction)?;
            // The anchor is already date 1, and two rules may share a date.
            if at <= last {
                continue;
            }
            last = at;
            number = number.saturating_add(1);
            if self.count.is_some_and(|count| number > count)
                || !self.allows(at)
                || at.as_datetime() > horizon
            {
                return None;
            }
            if at > after {
                return Some(at);
            }
        }
        None
    }

    /// Where to start the crate's walk so that it makes the same dates after
    /// `after` as a walk from the anchor, without the dates before: the
    /// first period, a whole number of `INTERVAL`s after the anchor's, that
    /// holds `after`'s period or ends before it. Only without `COUNT`, which
    /// needs the dates counted from the anchor.
    fn skip_ahead(&self, anchor: DateTime<Utc>, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if after <= anchor {
            return Some(anchor);
        }
        let n = i64::from(self.interval);
        let time: NaiveTime = anchor.time();
        let (a, b) = (anchor.date_naive(), after.date_naive());
        let start: NaiveDate = match self.freq {
            Frequency::Daily => {
                let k = (b - a).num_days() / n * n;
                a.checked_add_days(Days::new(u64::try_from(k).ok()?))?
            }
            Frequency::Weekly => {
                let monday =
                    |d: NaiveDate| d - Days::new(u64::from(d.weekday().num_days_from_monday()));
                let (wa, wb) = (monday(a), monday(b));
                let k = (wb - wa).num_days() / 7 / n * n;
                if k == 0 {
                    return Some(anchor);
                }
                wa.checked_add_days(Days::new(u64::try_from(k * 7).ok()?))?
            }
            Frequency::Monthly => {
                let months = |d: NaiveDate| i64::from(d.year()) * 12 + i64::from(d.month0());
                let k = (months(b) - months(a)) / n * n;
                if k == 0 {
                    return Some(anchor);
                }
                let first = a.with_day(1)?;
                first.checked_add_months(Months::new(u32::try_from(k).ok()?))?
            }
            Frequency::Yearly => {
                let k = (i64::from(b.year()) - i64::from(a.year())) / n * n;
                if k == 0 {
                    return Some(anchor);
                }
                NaiveDate::from_ymd_opt(a.year() + i32::try_from(k).ok()?, 1, 1)?
            }
        };
        Some(start.and_time(time).and_utc())
    }

    /// The `BY` parts with the defaults RFC 5545 takes from the series'
    /// start made explicit (`MONTHLY` alone: the anchor's day of the month;
    /// `WEEKLY` alone: its weekday; `YEARLY` alone: its month and day), so
    /// that a walk that starts later ([`Recur::skip_ahead`]) makes the same
    /// dates as one from the anchor.
    fn parts(&self, anchor: NaiveDate) -> Parts {
        let mut parts = Parts {
            by_day: self.by_day.clone(),
            by_month_day: self.by_month_day.clone(),
            by_month: self.by_month.clone(),
        };
        if parts.by_day.is_empty() && parts.by_month_day.is_empty() {
            // A day of the month fits in an i8 and a month in a u8.
            let day = i8::try_from(anchor.day()).unwrap_or(1);
            let month = u8::try_from(anchor.month()).unwrap_or(1);
            match self.freq {
                Frequency::Daily => {}
                Frequency::Weekly => parts.by_day.push(ByDay::every(anchor.weekday())),
                Frequency::Monthly => parts.by_month_day.push(day),
                Frequency::Yearly => {
                    if parts.by_month.is_empty() {
                        parts.by_month.push(month);
                    }
                    parts.by_month_day.push(day);
                }
            }
        }
        parts
    }

    /// The rule for the crate. `COUNT` and `UNTIL` are left out:
    /// [`Recur::next_after`] applies them, counting the anchor.
    fn to_rrule(&self, parts: &Parts) -> rrule::RRule<rrule::Unvalidated> {
        let by_day: Vec<rrule::NWeekday> = parts
            .by_day
            .iter()
            .map(|d| rrule::NWeekday::new(d.ordinal.map(i16::from), d.weekday))
            .collect();
        let months: Vec<chrono::Month> = parts
            .by_month
            .iter()
            .filter_map(|m| chrono::Month::try_from(*m).ok())
            .collect();
        let mut rule = rrule::RRule::new(self.freq.to_rrule())
            .interval(self.interval)
            .by_weekday(by_day)
            .by_month_day(parts.by_month_day.clone());
        if !months.is_empty() {
            rule = rule.by_month(&months);
        }
        rule
    }

    /// Which period of the rule's frequency a day is in, counted from a
    /// fixed origin: days, weeks (from Monday), months or years.
    fn period(&self, day: NaiveDate) -> i64 {
        match self.freq {
            Frequency::Daily => i64::from(day.num_days_from_ce()),
            Frequency::Weekly => {
                (i64::from(day.num_days_from_ce())
                    - i64::from(day.weekday().num_days_from_monday()))
                    / 7
            }
            Frequency::Monthly => i64::from(day.year()) * 12 + i64::from(day.month0()),
            Frequency::Yearly => i64::from(day.year()),
        }
    }

    /// Whether any day from `from` to `to` lies in a period the rule steps
    /// on from `anchor` and matches its `BY` parts: a cheap look, day by
    /// day (at most about 36,500 of them), that spares the crate a search
    /// for a date that does not come (it gives up only after 100,000
    /// empty periods, or at the year 10000, which takes seconds).
    ///
    /// It may say yes where the crate finds nothing (the crate then stops
    /// by itself), never the reverse: the tests check each date the crate
    /// makes against it.
    fn may_match(&self, parts: &Parts, anchor: NaiveDate, from: NaiveDate, to: NaiveDate) -> bool {
        let origin = self.period(anchor);
        let n = i64::from(self.interval);
        let mut day = from;
        loop {
            if (self.period(day) - origin).rem_euclid(n) == 0 && parts.matches(self.freq, day) {
                return true;
            }
            match day.succ_opt() {
                Some(next) if next <= to => day = next,
                _ => return false,
            }
        }
    }
}

/// The `BY` parts of a rule for one series ([`Recur::parts`]).
#[derive(Clone)]
struct Parts {
    by_day: Vec<ByDay>,
    by_month_day: Vec<i8>,
    by_month: Vec<u8>,
}

impl Parts {
    /// A `BYDAY` that mixes plain weekdays and ordinals (`TH,-1SU`) means
    /// either kind (RFC 5545), but the crate keeps only days that match both
    /// (none): such parts become two, one per kind, whose dates merge.
    fn split(self) -> Vec<Parts> {
        let (plain, nth): (Vec<ByDay>, Vec<ByDay>) =
            self.by_day.iter().partition(|d| d.ordinal.is_none());
        if plain.is_empty() || nth.is_empty() {
            return vec![self];
        }
        let with = |by_day| Parts {
            by_day,
            ..self.clone()
        };
        vec![with(plain), with(nth)]
    }

    /// Whether a day matches every `BY` part given, as RFC 5545 reads them:
    /// an ordinal weekday counts within the month under `MONTHLY` and under
    /// `YEARLY` with `BYMONTH`, else within the year.
    fn matches(&self, freq: Frequency, day: NaiveDate) -> bool {
        let month_len = days_in_month(day);
        let month = u8::try_from(day.month()).unwrap_or(0);
        let dom = i64::from(day.day());
        if !self.by_month.is_empty() && !self.by_month.contains(&month) {
            return false;
        }
        if !self.by_month_day.is_empty()
            && !self.by_month_day.iter().any(|d| {
                let d = i64::from(*d);
                if d > 0 {
                    dom == d
                } else {
                    dom == month_len + d + 1
                }
            })
        {
            return false;
        }
        if self.by_day.is_empty() {
            return true;
        }
        let in_month = freq == Frequency::Monthly || !self.by_month.is_empty();
        let (index, len) = if in_month {
            (dom - 1, month_len)
        } else {
            let year_len = if day.leap_year() { 366 } else { 365 };
            (i64::from(day.ordinal0()), year_len)
        };
        self.by_day.iter().any(|b| {
            b.weekday == day.weekday()
                && match b.ordinal.map(i64::from) {
                    None => true,
                    Some(n) if n > 0 => index / 7 + 1 == n,
                    Some(n) => (len - 1 - index) / 7 + 1 == -n,
                }
        })
    }
}

fn days_in_month(day: NaiveDate) -> i64 {
    let first = day.with_day(1).unwrap_or(day);
    match first.checked_add_months(Months::new(1)) {
        Some(next) => (next - first).num_days(),
        // December 9999: the last month there is.
        None => 31,
    }
}

impl fmt::Display for Recur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FREQ={}", self.freq)?;
        if self.interval != 1 {
            write!(f, ";INTERVAL={}", self.interval)?;
        }
        write_list(f, "BYDAY", &self.by_day)?;
        write_list(f, "BYMONTHDAY", &self.by_month_day)?;
        write_list(f, "BYMONTH", &self.by_month)?;
        if let Some(count) = self.count {
            write!(f, ";COUNT={count}")?;
        }
        if let Some(until) = self.until {
            write!(f, ";UNTIL={}", until.as_datetime().format("%Y%m%dT%H%M%SZ"))?;
        }
        Ok(())
    }
}

impl FromStr for Recur {
    type Err = RecurError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Recur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Recur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).map_err(|e| serde::de::Error::custom(format_args!("recur {e}")))
    }
}

/// The id of the task that completing `occurrence`, a task of the series
/// `series`, creates.
///
/// It is derived, not drawn: every replica, device and retry that completes
/// the same occurrence computes the same id, so the stores insert the
/// successor only if that id is absent (and was never deleted), and a second
/// successor of one occurrence cannot be written at all. It hangs on the
/// occurrence's id rather than on its `due`, so that uncompleting it, editing
/// its `due` and completing it again still finds the successor made the first
/// time.
///
/// The id is a UUIDv8 laid out like the v7 ids of other tasks: its first 48
/// bits are the occurrence's (a time in milliseconds) plus one, the rest the
/// SHA-1 of the two ids under a namespace of ours (as in UUIDv5). Ids order
/// tasks by creation, so a successor sorts right after the task it follows:
/// a recurring task keeps its place in a list by creation, as one task whose
/// date moves would.
pub fn successor_id(series: TaskId, occurrence: TaskId) -> TaskId {
    let mut name = [0u8; 32];
    name[..16].copy_from_slice(series.as_bytes());
    name[16..].copy_from_slice(occurrence.as_bytes());
    let mut bytes = *uuid::Uuid::new_v5(&SUCCESSOR_NAMESPACE, &name).as_bytes();
    let mut time = [0u8; 8];
    time[2..].copy_from_slice(&occurrence.as_bytes()[..6]);
    let next = u64::from_be_bytes(time)
        .saturating_add(1)
        .min((1 << 48) - 1);
    bytes[..6].copy_from_slice(&next.to_be_bytes()[2..]);
    TaskId(uuid::Uuid::new_v8(bytes))
}

/// The namespace of successor ids: fixed forever, as changing it
/// would let an occurrence completed before and after the change have two
/// successors.
const SUCCESSOR_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6c1e_3f0a_9b5d_4e27_8a41_d2f6_0c93_b7e5);

fn set_once<T>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), RecurError> {
    if slot.is_some() {
        return Err(RecurError::Duplicate(name));
    }
    *slot = Some(value);
    Ok(())
}

fn echo(text: &str) -> String {
    text.chars().take(ECHO_MAX).collect()
}

fn echo_friendly(text: &str) -> String {
    text.chars().take(2 * ECHO_MAX).collect()
}

fn parse_freq(value: &str) -> Result<Frequency, RecurError> {
    Frequency::ALL
        .into_iter()
        .find(|f| f.as_str() == value)
        .ok_or(RecurError::Freq)
}

/// 1 to 999, in decimal digits (leading zeros allowed, as RFC 5545 has them).
fn parse_number(value: &str) -> Option<u16> {
    if value.is_empty() || value.len() > 5 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value
        .parse::<u16>()
        .ok()
        .filter(|n| (1..=RECUR_NUMBER_MAX).contains(n))
}

/// A signed number of one or two digits, `+` allowed (RFC 5545's `ordwk`
/// and `ordmoday`); never zero.
fn parse_signed(value: &str) -> Option<i8> {
    let (negative, digits) = match value.as_bytes().first() {
        Some(b'-') => (true, &value[1..]),
        Some(b'+') => (false, &value[1..]),
        _ => (false, value),
    };
    if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i8 = digits.parse().ok()?;
    (n != 0).then_some(if negative { -n } else { n })
}

fn parse_list<T>(
    value: &str,
    item: fn(&str) -> Option<T>,
    error: RecurError,
) -> Result<Vec<T>, RecurError> {
    value
        .split(',')
        .map(|v| item(v).ok_or_else(|| error.clone()))
        .collect()
}

fn parse_by_day(value: &str) -> Option<ByDay> {
    let split = value.len().checked_sub(2)?;
    let (ordinal, code) = (value.get(..split)?, value.get(split..)?);
    let weekday = weekday_of_code(code)?;
    let ordinal = if ordinal.is_empty() {
        None
    } else {
        Some(parse_signed(ordinal)?)
    };
    Some(ByDay { ordinal, weekday })
}

fn parse_month_day(value: &str) -> Option<i8> {
    parse_signed(value).filter(|d| (-31..=31).contains(d))
}

fn parse_month(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|m| (1..=12).contains(m))
}

fn parse_until(value: &str) -> Result<Timestamp, RecurError> {
    // Exactly `YYYYMMDDTHHMMSSZ`: chrono alone would take fewer digits.
    let shape = value.len() == 16
        && value.as_bytes()[8] == b'T'
        && value.as_bytes()[15] == b'Z'
        && value
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 8 || i == 15 || b.is_ascii_digit());
    if !shape {
        return Err(RecurError::Until);
    }
    let naive = chrono::NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%SZ")
        .map_err(|_| RecurError::Until)?;
    Timestamp::from_datetime(naive.and_utc()).ok_or(RecurError::Until)
}

/// The ordinal range of `BYDAY` for a frequency as `(largest negative,
/// without its sign; largest positive)`; `None` where ordinals are not
/// allowed. RFC 5545 allows ±5 in a month and ±53 in a year; the `rrule`
/// crate, which computes the dates, stops at -4 and -52.
fn ordinal_range(freq: Frequency) -> Option<(i8, i8)> {
    match freq {
        Frequency::Daily | Frequency::Weekly => None,
        Frequency::Monthly => Some((4, 5)),
        Frequency::Yearly => Some((52, 53)),
    }
}

/// The most days month `m` (1 to 12) has, in a leap year.
fn longest_month(m: u8) -> u8 {
    match m {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn weekday_code(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

fn weekday_of_code(code: &str) -> Option<Weekday> {
    WEEK.into_iter().find(|d| weekday_code(*d) == code)
}

/// A lower-case weekday name or its three letters (`monday`, `mon`).
fn weekday_of_name(name: &str) -> Option<Weekday> {
    const NAMES: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    WEEK.into_iter()
        .zip(NAMES)
        .find(|(_, full)| name == *full || Some(name) == full.get(..3))
        .map(|(day, _)| day)
}

/// `day`/`days` → DAILY, and so on.
fn unit_of(word: &str) -> Option<Frequency> {
    Frequency::ALL.into_iter().find(|f| {
        let unit = f.unit();
        word == unit || word.strip_suffix('s') == Some(unit)
    })
}

fn write_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, name: &str, items: &[T]) -> fmt::Result {
    if items.is_empty() {
        return Ok(());
    }
    write!(f, ";{name}=")?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
