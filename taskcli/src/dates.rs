//! `--due WHEN` and how due dates are shown: local time, relative when near.

use chrono::{
    DateTime, Datelike, Days, Local, LocalResult, NaiveDate, NaiveTime, SecondsFormat, TimeZone,
    Weekday,
};
use std::str::FromStr;
use taskcore::{TimeError, Timestamp};

/// A due date given on the command line, resolved against the local clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct When(pub Timestamp);

impl FromStr for When {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        resolve(text, &Local::now()).map(When)
    }
}

const WHEN_FORMS: &str = "use a date (2026-12-24), today, tomorrow, a weekday (friday or fri), +3d, +2w, or an RFC 3339 date-time";

/// Resolves `WHEN` relative to `now`, in `now`'s time zone. A day means the
/// end of that day (23:59:59).
pub fn resolve<Tz: TimeZone>(text: &str, now: &DateTime<Tz>) -> Result<Timestamp, String> {
    let raw = text.trim();
    match Timestamp::parse(raw) {
        Ok(at) => return Ok(at),
        Err(e @ TimeError::OutOfRange) => return Err(format!("`{raw}` {e}")),
        Err(TimeError::NotRfc3339) => {}
    }
    let lower = raw.to_lowercase();
    let today = now.date_naive();
    let day = match lower.as_str() {
        "today" => Some(today),
        "tomorrow" => today.checked_add_days(Days::new(1)),
        _ => None,
    };
    let day = match day {
        Some(day) => day,
        None => {
            if let Some(weekday) = weekday(&lower) {
                // The next such day after today: 1 to 7 days ahead.
                let ahead = (7 + weekday.num_days_from_monday()
                    - today.weekday().num_days_from_monday())
                    % 7;
                let ahead = if ahead == 0 { 7 } else { ahead };
                today
                    .checked_add_days(Days::new(u64::from(ahead)))
                    .ok_or("that date is out of range")?
            } else if let Some(offset) = lower.strip_prefix('+') {
                let (count, unit) = offset.split_at(offset.len().saturating_sub(1));
                let count: u64 = count
                    .parse()
                    .map_err(|_| format!("`{raw}` is not a date: {WHEN_FORMS}"))?;
                let days = match unit {
                    "d" => count,
                    "w" => count.checked_mul(7).ok_or("that date is out of range")?,
                    _ => return Err(format!("`{raw}` is not a date: {WHEN_FORMS}")),
                };
                today
                    .checked_add_days(Days::new(days))
                    .ok_or("that date is out of range")?
            } else if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
                date
            } else {
                return Err(format!("`{raw}` is not a date: {WHEN_FORMS}"));
            }
        }
    };
    end_of_day(day, &now.timezone()).ok_or_else(|| format!("`{raw}` is past 9999-12-31"))
}

fn weekday(name: &str) -> Option<Weekday> {
    const NAMES: [(&str, Weekday); 7] = [
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
        ("sunday", Weekday::Sun),
    ];
    NAMES
        .iter()
        .find(|(full, _)| *full == name || (name.len() == 3 && full.starts_with(name)))
        .map(|(_, day)| *day)
}

/// 23:59:59 of `day` in `zone` (the earlier instant if the clock is set back then).
fn end_of_day<Tz: TimeZone>(day: NaiveDate, zone: &Tz) -> Option<Timestamp> {
    let time = NaiveTime::from_hms_opt(23, 59, 59)?;
    let local = match zone.from_local_datetime(&day.and_time(time)) {
        LocalResult::Single(at) => at,
        LocalResult::Ambiguous(earlier, _) => earlier,
        // Skipped by a clock change: an hour earlier surely exists.
        LocalResult::None => zone
            .from_local_datetime(&day.and_time(NaiveTime::from_hms_opt(22, 59, 59)?))
            .earliest()?,
    };
    Timestamp::from_datetime(local.with_timezone(&chrono::Utc))
}

/// A due date for a table cell, relative to `now`: "today", "tomorrow",
/// "in 3d", "2d overdue", or the local date when more than a week away.
pub fn relative_due<Tz: TimeZone>(due: Timestamp, now: &DateTime<Tz>) -> (String, Urgency) {
    let (days, urgency) = days_until(due, now);
    let text = match days {
        d if d < 0 => format!("{}d overdue", -d),
        0 => "today".to_string(),
        1 => "tomorrow".to_string(),
        2..=7 => format!("in {days}d"),
        _ => due
            .as_datetime()
            .with_timezone(&now.timezone())
            .date_naive()
            .format("%Y-%m-%d")
            .to_string(),
    };
    (text, urgency)
}

/// A due date in at most six columns, for narrow tables: "today", "tmrw",
/// days from today with a sign ("+3d", "-705d"), and whole years with a sign
/// from 1000 days on ("+12y").
pub fn compact_due<Tz: TimeZone>(due: Timestamp, now: &DateTime<Tz>) -> (String, Urgency) {
    let (days, urgency) = days_until(due, now);
    let text = match days {
        0 => "today".to_string(),
        1 => "tmrw".to_string(),
        d if d.abs() < 1000 => format!("{d:+}d"),
        // Julian years (365.25 days): close enough for a date this far away.
        d => format!("{:+}y", d * 4 / 1461),
    };
    (text, urgency)
}

/// Days from `now`'s local date to `due`'s, and how urgent that is.
fn days_until<Tz: TimeZone>(due: Timestamp, now: &DateTime<Tz>) -> (i64, Urgency) {
    let local = due.as_datetime().with_timezone(&now.timezone());
    let days = (local.date_naive() - now.date_naive()).num_days();
    let urgency = match days {
        d if d < 0 => Urgency::Overdue,
        0 if local < *now => Urgency::Overdue,
        0 | 1 => Urgency::Soon,
        _ => Urgency::Later,
    };
    (days, urgency)
}

/// A time for scripts: RFC 3339 in `zone`, with a fraction only when there
/// is one (`2026-12-24T23:59:59+01:00`).
pub fn machine_time<Tz: TimeZone>(at: Timestamp, zone: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    at.as_datetime()
        .with_timezone(zone)
        .to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// How close a due date is, for colouring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urgency {
    /// Past.
    Overdue,
    /// Today or tomorrow.
    Soon,
    /// Later.
    Later,
}

/// A time in full, in local time: `2026-12-24 23:59 (Thu)`.
pub fn local_datetime(at: Timestamp) -> String {
    at.as_datetime()
        .with_timezone(&Local)
        .format("%Y-%m-%d %H:%M (%a)")
        .to_string()
}

/// A day in local time with its weekday: `Mon 2026-12-14`.
pub fn local_day(at: Timestamp) -> String {
    at.as_datetime()
        .with_timezone(&Local)
        .format("%a %Y-%m-%d")
        .to_string()
}

/// How far `at` is from `now`, roughly: "in 14 min", "3 h ago", "in 20 s",
/// "just now" (within a second).
pub fn relative_time(at: Timestamp, now: Timestamp) -> String {
    let seconds = (at.as_micros() - now.as_micros()) / 1_000_000;
    let amount = seconds.unsigned_abs();
    if amount == 0 {
        return "just now".to_string();
    }
    let text = match amount {
        0..60 => format!("{amount} s"),
        60..3_600 => format!("{} min", amount / 60),
        3_600..86_400 => format!("{} h", amount / 3_600),
        _ => format!("{} d", amount / 86_400),
    };
    if seconds >= 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).expect("valid")
    }

    #[test]
    fn days_mean_the_end_of_that_day_in_local_time() {
        // Wednesday 2026-03-04, 10:00 at UTC+02:00.
        let now = at("2026-03-04T10:00:00+02:00");
        let check = |when: &str, expected: &str| {
            assert_eq!(
                resolve(when, &now).map(|t| t.to_string()).as_deref(),
                Ok(expected),
                "{when}"
            );
        };
        check("today", "2026-03-04T21:59:59Z");
        check("Tomorrow", "2026-03-05T21:59:59Z");
        check("2026-12-24", "2026-12-24T21:59:59Z");
        check("friday", "2026-03-06T21:59:59Z");
        check("fri", "2026-03-06T21:59:59Z");
        check("wed", "2026-03-11T21:59:59Z");
        check("wednesday", "2026-03-11T21:59:59Z");
        check("tue", "2026-03-10T21:59:59Z");
        check("+3d", "2026-03-07T21:59:59Z");
        check("+2w", "2026-03-18T21:59:59Z");
        check("+0d", "2026-03-04T21:59:59Z");
        check("2030-01-01T12:00:00+01:00", "2030-01-01T11:00:00Z");
        for bad in [
            "",
            "soon",
            "fr",
            "+3",
            "+xd",
            "+3m",
            "2026-13-01",
            "24.12.2026",
            "-3d",
        ] {
            assert!(resolve(bad, &now).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_past_what_the_server_stores_are_refused_with_the_reason() {
        let now = at("2026-03-04T10:00:00+02:00");
        let err = |when: &str| resolve(when, &now).expect_err(when);
        assert!(err("9999-12-31T23:59:59.999999999-23:59").contains("between 0001-01-01"));
        assert!(err("0000-01-01T00:00:00+23:59").contains("between 0001-01-01"));
        assert!(
            err("+3000000d").contains("past 9999-12-31"),
            "{}",
            err("+3000000d")
        );
        assert_eq!(
            resolve("9999-12-31T23:59:59.999999Z", &now).map(|t| t.to_string()),
            Ok("9999-12-31T23:59:59.999999Z".to_string())
        );
    }

    #[test]
    fn relative_times() {
        let now = Timestamp::parse_rfc3339("2026-03-04T10:00:00Z").expect("valid");
        let at = |text: &str| relative_time(Timestamp::parse_rfc3339(text).expect("valid"), now);
        assert_eq!(at("2026-03-04T10:14:59Z"), "in 14 min");
        assert_eq!(at("2026-03-04T10:00:20Z"), "in 20 s");
        assert_eq!(at("2026-03-04T07:00:00Z"), "3 h ago");
        assert_eq!(at("2026-04-03T10:00:00Z"), "in 30 d");
        assert_eq!(at("2026-03-04T09:59:59.5Z"), "just now");
        assert_eq!(at("2026-03-04T09:59:59Z"), "1 s ago");
    }

    #[test]
    fn due_dates_are_relative_when_near() {
        let now = at("2026-03-04T10:00:00+02:00");
        let due = |text: &str| relative_due(Timestamp::parse_rfc3339(text).expect("valid"), &now);
        assert_eq!(
            due("2026-03-04T21:59:59Z"),
            ("today".to_string(), Urgency::Soon)
        );
        assert_eq!(due("2026-03-04T07:00:00Z").1, Urgency::Overdue);
        assert_eq!(due("2026-03-05T12:00:00Z").0, "tomorrow");
        assert_eq!(due("2026-03-07T12:00:00Z").0, "in 3d");
        assert_eq!(
            due("2026-03-02T12:00:00Z"),
            ("2d overdue".to_string(), Urgency::Overdue)
        );
        assert_eq!(due("2026-12-24T12:00:00Z").0, "2026-12-24");
        // Local dates, not UTC ones: 23:30 UTC on the 4th is already the 5th at +02:00.
        assert_eq!(due("2026-03-04T23:30:00Z").0, "tomorrow");
    }

    #[test]
    fn compact_due_dates_fit_six_columns() {
        let now = at("2026-03-04T10:00:00+02:00");
        let due = |text: &str| compact_due(Timestamp::parse_rfc3339(text).expect("valid"), &now);
        assert_eq!(
            due("2026-03-04T21:59:59Z"),
            ("today".to_string(), Urgency::Soon)
        );
        assert_eq!(
            due("2026-03-04T07:00:00Z"),
            ("today".to_string(), Urgency::Overdue)
        );
        assert_eq!(due("2026-03-05T12:00:00Z").0, "tmrw");
        assert_eq!(due("2026-03-07T12:00:00Z").0, "+3d");
        assert_eq!(due("2026-12-24T12:00:00Z").0, "+295d");
        assert_eq!(
            due("2024-03-29T12:00:00Z"),
            ("-705d".to_string(), Urgency::Overdue)
        );
        assert_eq!(due("2029-03-04T12:00:00Z").0, "+3y");
        assert_eq!(due("0001-01-01T00:00:00Z").0, "-2025y");
        assert_eq!(due("9999-12-31T23:59:59Z").0, "+7973y");
        for text in ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"] {
            assert!(due(text).0.chars().count() <= 6, "{text}");
        }
    }

    #[test]
    fn machine_times_are_rfc3339_in_the_zone() {
        let zone = FixedOffset::east_opt(3600).expect("valid");
        let time = |text: &str| machine_time(Timestamp::parse_rfc3339(text).expect("valid"), &zone);
        assert_eq!(time("2026-12-24T22:59:59Z"), "2026-12-24T23:59:59+01:00");
        assert_eq!(
            time("2026-12-24T22:59:59.250Z"),
            "2026-12-24T23:59:59.250+01:00"
        );
    }
}
