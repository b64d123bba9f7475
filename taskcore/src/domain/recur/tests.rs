use super::*;
use std::time::{Duration, Instant};

fn t(text: &str) -> Timestamp {
    Timestamp::parse(text).expect(text)
}

fn r(text: &str) -> Recur {
    Recur::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The series' dates as the stores will make them: the anchor, then each
/// completion's successor, at most `max` dates.
fn series(rule: &Recur, anchor: Timestamp, max: usize) -> Vec<Timestamp> {
    let mut dates = vec![anchor];
    while dates.len() < max {
        let Some(next) = rule.next_after(anchor, *dates.last().expect("one")) else {
            break;
        };
        dates.push(next);
    }
    dates
}

fn texts(dates: &[Timestamp]) -> Vec<String> {
    dates.iter().map(Timestamp::to_string).collect()
}

#[test]
fn canonical_form() {
    let cases = [
        ("FREQ=DAILY", "FREQ=DAILY"),
        ("freq=weekly;byday=mo", "FREQ=WEEKLY;BYDAY=MO"),
        ("FREQ=DAILY;INTERVAL=1", "FREQ=DAILY"),
        ("INTERVAL=02;FREQ=Monthly", "FREQ=MONTHLY;INTERVAL=2"),
        (
            "BYDAY=FR,MO,mo,WE;FREQ=WEEKLY",
            "FREQ=WEEKLY;BYDAY=MO,WE,FR",
        ),
        (
            "FREQ=MONTHLY;BYDAY=-1FR,+1MO,MO",
            "FREQ=MONTHLY;BYDAY=MO,1MO,-1FR",
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=-1,15,+1,-2,15",
            "FREQ=MONTHLY;BYMONTHDAY=1,15,-1,-2",
        ),
        (
            "BYMONTH=12,1,07;FREQ=YEARLY;BYMONTHDAY=4",
            "FREQ=YEARLY;BYMONTHDAY=4;BYMONTH=1,7,12",
        ),
        ("COUNT=3;FREQ=DAILY", "FREQ=DAILY;COUNT=3"),
        (
            "until=20301231t235959z;freq=daily;interval=999",
            "FREQ=DAILY;INTERVAL=999;UNTIL=20301231T235959Z",
        ),
        (
            "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
            "FREQ=YEARLY;BYDAY=4TH;BYMONTH=11",
        ),
        (
            "FREQ=YEARLY;BYDAY=53MO,-52SU",
            "FREQ=YEARLY;BYDAY=53MO,-52SU",
        ),
    ];
    for (input, canonical) in cases {
        let rule = r(input);
        assert_eq!(rule.to_string(), canonical, "{input}");
        assert_eq!(
            r(canonical),
            rule,
            "{input}: the canonical form parses back"
        );
        assert_eq!(r(canonical).to_string(), canonical);
    }
    let rule = r("FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=12");
    assert_eq!(rule.freq(), Frequency::Monthly);
    assert_eq!(rule.interval(), 3);
    assert_eq!(
        rule.by_day(),
        [ByDay {
            ordinal: Some(-1),
            weekday: Weekday::Fri
        }]
    );
    assert_eq!(rule.count(), Some(12));
    assert_eq!(rule.until(), None);
    let rule = r("FREQ=YEARLY;BYMONTHDAY=1;BYMONTH=2;UNTIL=20300101T000000Z");
    assert_eq!(rule.by_month_day(), [1]);
    assert_eq!(rule.by_month(), [2]);
    assert_eq!(rule.until(), Some(t("2030-01-01T00:00:00Z")));
}

#[test]
fn every_error_has_its_message() {
    let long = format!("FREQ=DAILY;{}", "BYMONTH=1;".repeat(100));
    let cases: Vec<(&str, &str)> = vec![
        ("", "must not be empty"),
        (&long, "must be at most 1000 characters"),
        (
            "RRULE:FREQ=DAILY",
            "must be the rule alone, without the `RRULE:` prefix (such as FREQ=WEEKLY;BYDAY=MO)",
        ),
        (
            "rrule:FREQ=DAILY",
            "must be the rule alone, without the `RRULE:` prefix (such as FREQ=WEEKLY;BYDAY=MO)",
        ),
        (
            "FREQ=DAILY;",
            "must not have an empty part (a semicolon at either end or two in a row)",
        ),
        (
            "FREQ=DAILY;;COUNT=2",
            "must not have an empty part (a semicolon at either end or two in a row)",
        ),
        ("FREQ=DAILY;COUNT", "`COUNT` is not a NAME=VALUE part"),
        ("FREQ=DAILY;BYHOUR=9", "BYHOUR is not supported"),
        ("FREQ=DAILY;byminute=9", "BYMINUTE is not supported"),
        ("FREQ=DAILY;BYSECOND=9", "BYSECOND is not supported"),
        ("FREQ=YEARLY;BYYEARDAY=9", "BYYEARDAY is not supported"),
        ("FREQ=YEARLY;BYWEEKNO=9", "BYWEEKNO is not supported"),
        (
            "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-1",
            "BYSETPOS is not supported",
        ),
        ("FREQ=WEEKLY;WKST=SU", "WKST is not supported"),
        ("FREQ=DAILY;COLOUR=red", "COLOUR is not a rule part"),
        ("FREQ=DAILY;X-NAME=1", "X-NAME is not a rule part"),
        (
            "FREQ=DAILY;freq=weekly",
            "FREQ must not be given more than once",
        ),
        (
            "FREQ=DAILY;COUNT=2;COUNT=2",
            "COUNT must not be given more than once",
        ),
        (
            "FREQ=WEEKLY;BYDAY=MO;BYDAY=TU",
            "BYDAY must not be given more than once",
        ),
        ("COUNT=2", "FREQ is required"),
        (
            "FREQ=HOURLY",
            "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY",
        ),
        ("FREQ=", "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be 1 to 999"),
        ("FREQ=DAILY;INTERVAL=1000", "INTERVAL must be 1 to 999"),
        ("FREQ=DAILY;INTERVAL=-1", "INTERVAL must be 1 to 999"),
        ("FREQ=DAILY;INTERVAL=", "INTERVAL must be 1 to 999"),
        (
            "FREQ=DAILY;INTERVAL=99999999999",
            "INTERVAL must be 1 to 999",
        ),
        ("FREQ=DAILY;COUNT=0", "COUNT must be 1 to 999"),
        ("FREQ=DAILY;COUNT=1000", "COUNT must be 1 to 999"),
        ("FREQ=DAILY;COUNT=+3", "COUNT must be 1 to 999"),
        (
            "FREQ=DAILY;UNTIL=20301231",
            "UNTIL must be a UTC date-time such as 20301231T235959Z",
        ),
        (
            "FREQ=DAILY;UNTIL=20301231T235959",
            "UNTIL must be a UTC date-time such as 20301231T235959Z",
        ),
        (
            "FREQ=DAILY;UNTIL=20301331T000000Z",
            "UNTIL must be a UTC date-time such as 20301231T235959Z",
        ),
        (
            "FREQ=DAILY;UNTIL=00001231T000000Z",
            "UNTIL must be a UTC date-time such as 20301231T235959Z",
        ),
        (
            "FREQ=DAILY;UNTIL=2030-12-31T00:00:00Z",
            "UNTIL must be a UTC date-time such as 20301231T235959Z",
        ),
        (
            "FREQ=DAILY;UNTIL=+0301231T000000Z",
            "UNTIL must be a UTC date-time such as 20301231T235959Z",
        ),
        (
            "FREQ=DAILY;COUNT=2;UNTIL=20301231T235959Z",
            "COUNT and UNTIL cannot both be given",
        ),
        (
            "FREQ=WEEKLY;BYDAY=XX",
            "BYDAY must be a comma list of MO, TU, WE, TH, FR, SA, SU, each maybe after an ordinal such as 1 or -1",
        ),
        (
            "FREQ=WEEKLY;BYDAY=MO,",
            "BYDAY must be a comma list of MO, TU, WE, TH, FR, SA, SU, each maybe after an ordinal such as 1 or -1",
        ),
        (
            "FREQ=WEEKLY;BYDAY=",
            "BYDAY must be a comma list of MO, TU, WE, TH, FR, SA, SU, each maybe after an ordinal such as 1 or -1",
        ),
        (
            "FREQ=MONTHLY;BYDAY=0MO",
            "BYDAY must be a comma list of MO, TU, WE, TH, FR, SA, SU, each maybe after an ordinal such as 1 or -1",
        ),
        (
            "FREQ=MONTHLY;BYDAY=MONDAY",
            "BYDAY must be a comma list of MO, TU, WE, TH, FR, SA, SU, each maybe after an ordinal such as 1 or -1",
        ),
        (
            "FREQ=MONTHLY;BYDAY=é",
            "BYDAY must be a comma list of MO, TU, WE, TH, FR, SA, SU, each maybe after an ordinal such as 1 or -1",
        ),
        (
            "FREQ=MONTHLY;BYDAY=1éMO",
            "BYDAY must be a comma list of MO, TU, WE, TH, FR, SA, SU, each maybe after an ordinal such as 1 or -1",
        ),
        (
            "FREQ=YEARLY;BYDAY=100MO",
            "BYDAY must be a comma list of MO, TU, WE, TH, FR, SA, SU, each maybe after an ordinal such as 1 or -1",
        ),
        (
            "FREQ=WEEKLY;BYDAY=1MO",
            "BYDAY ordinals such as 1MO or -1FR need FREQ=MONTHLY or FREQ=YEARLY",
        ),
        (
            "FREQ=DAILY;BYDAY=-1FR",
            "BYDAY ordinals such as 1MO or -1FR need FREQ=MONTHLY or FREQ=YEARLY",
        ),
        (
            "FREQ=MONTHLY;BYDAY=6MO",
            "BYDAY ordinals must be 1 to 5 or -1 to -4 with FREQ=MONTHLY",
        ),
        (
            "FREQ=MONTHLY;BYDAY=-5MO",
            "BYDAY ordinals must be 1 to 5 or -1 to -4 with FREQ=MONTHLY",
        ),
        (
            "FREQ=YEARLY;BYDAY=54MO",
            "BYDAY ordinals must be 1 to 53 or -1 to -52 with FREQ=YEARLY",
        ),
        (
            "FREQ=YEARLY;BYDAY=-53MO",
            "BYDAY ordinals must be 1 to 53 or -1 to -52 with FREQ=YEARLY",
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=0",
            "BYMONTHDAY must be a comma list of days 1 to 31 or -31 to -1",
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=32",
            "BYMONTHDAY must be a comma list of days 1 to 31 or -31 to -1",
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=-32",
            "BYMONTHDAY must be a comma list of days 1 to 31 or -31 to -1",
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=1,,2",
            "BYMONTHDAY must be a comma list of days 1 to 31 or -31 to -1",
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=--1",
            "BYMONTHDAY must be a comma list of days 1 to 31 or -31 to -1",
        ),
        (
            "FREQ=WEEKLY;BYMONTHDAY=1",
            "BYMONTHDAY cannot be used with FREQ=WEEKLY",
        ),
        (
            "FREQ=YEARLY;BYMONTH=0",
            "BYMONTH must be a comma list of months 1 to 12",
        ),
        (
            "FREQ=YEARLY;BYMONTH=13",
            "BYMONTH must be a comma list of months 1 to 12",
        ),
        (
            "FREQ=YEARLY;BYMONTH=-1",
            "BYMONTH must be a comma list of months 1 to 12",
        ),
        (
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
            "BYMONTHDAY and BYMONTH never meet: none of the months has such a day",
        ),
        (
            "FREQ=MONTHLY;BYMONTH=4,6,9,11;BYMONTHDAY=31,-31",
            "BYMONTHDAY and BYMONTH never meet: none of the months has such a day",
        ),
    ];
    for (input, message) in cases {
        let error = Recur::parse(input).expect_err(input);
        assert_eq!(error.to_string(), message, "{input}");
    }
    // Names echoed in messages are cut short.
    let error = Recur::parse(&format!("FREQ=DAILY;{}=1", "X".repeat(500))).expect_err("long");
    assert_eq!(
        error.to_string(),
        format!("{} is not a rule part", "X".repeat(40))
    );
    // Rules that meet in some month are fine.
    r("FREQ=YEARLY;BYMONTH=2,3;BYMONTHDAY=30");
    r("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29");
    r("FREQ=MONTHLY;BYMONTHDAY=31");
}

#[test]
fn serde_is_the_canonical_string() {
    let rule: Recur = serde_json::from_str("\"freq=weekly;byday=mo\"").expect("valid");
    assert_eq!(
        serde_json::to_string(&rule).expect("serializes"),
        "\"FREQ=WEEKLY;BYDAY=MO\""
    );
    let bad = serde_json::from_str::<Recur>("\"FREQ=DAILY;BYHOUR=1\"").expect_err("invalid");
    assert!(bad.to_string().contains("BYHOUR is not supported"), "{bad}");
    assert_eq!("FREQ=DAILY".parse::<Recur>(), Ok(r("FREQ=DAILY")));
}

#[test]
fn monthday_31_skips_the_shorter_months() {
    let anchor = t("2030-01-31T09:00:00Z");
    let expected = [
        "2030-01-31T09:00:00Z",
        "2030-03-31T09:00:00Z",
        "2030-05-31T09:00:00Z",
        "2030-07-31T09:00:00Z",
        "2030-08-31T09:00:00Z",
        "2030-10-31T09:00:00Z",
        "2030-12-31T09:00:00Z",
        "2031-01-31T09:00:00Z",
    ];
    assert_eq!(
        texts(&series(&r("FREQ=MONTHLY;BYMONTHDAY=31"), anchor, 8)),
        expected
    );
    // MONTHLY alone takes the anchor's day, with the same skips (RFC 5545).
    assert_eq!(texts(&series(&r("FREQ=MONTHLY"), anchor, 8)), expected);
    // The last day of every month is BYMONTHDAY=-1.
    assert_eq!(
        texts(&series(&r("FREQ=MONTHLY;BYMONTHDAY=-1"), anchor, 4)),
        [
            "2030-01-31T09:00:00Z",
            "2030-02-28T09:00:00Z",
            "2030-03-31T09:00:00Z",
            "2030-04-30T09:00:00Z"
        ]
    );
    // Every other month from January: September and November have 30 days,
    // so after July the next 31st in step is January.
    assert_eq!(
        texts(&series(
            &r("FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=31"),
            anchor,
            5
        )),
        [
            "2030-01-31T09:00:00Z",
            "2030-03-31T09:00:00Z",
            "2030-05-31T09:00:00Z",
            "2030-07-31T09:00:00Z",
            "2031-01-31T09:00:00Z"
        ]
    );
}

#[test]
fn last_friday_of_the_month() {
    let anchor = t("2030-01-25T17:00:00Z");
    let dates = series(&r("FREQ=MONTHLY;BYDAY=-1FR"), anchor, 12);
    let days: Vec<String> = dates
        .iter()
        .map(|d| d.to_string()[..10].to_string())
        .collect();
    assert_eq!(
        days,
        [
            "2030-01-25",
            "2030-02-22",
            "2030-03-29",
            "2030-04-26",
            "2030-05-31",
            "2030-06-28",
            "2030-07-26",
            "2030-08-30",
            "2030-09-27",
            "2030-10-25",
            "2030-11-29",
            "2030-12-27"
        ]
    );
    // The fourth Thursday of November (Thanksgiving): ordinals count within
    // the month when BYMONTH is given.
    let anchor = t("2030-11-28T12:00:00Z");
    assert_eq!(
        texts(&series(&r("FREQ=YEARLY;BYMONTH=11;BYDAY=4TH"), anchor, 3)),
        [
            "2030-11-28T12:00:00Z",
            "2031-11-27T12:00:00Z",
            "2032-11-25T12:00:00Z"
        ]
    );
}

#[test]
fn the_anchor_is_the_first_date_and_counts_for_count() {
    // Tuesday 2030-01-01; the rule says Mondays.
    let anchor = t("2030-01-01T08:00:00Z");
    let rule = r("FREQ=WEEKLY;BYDAY=MO;COUNT=3");
    assert_eq!(
        texts(&series(&rule, anchor, 10)),
        [
            "2030-01-01T08:00:00Z",
            "2030-01-07T08:00:00Z",
            "2030-01-14T08:00:00Z"
        ]
    );
    // COUNT=1: a one-date series, no successor.
    let once = r("FREQ=DAILY;COUNT=1");
    assert_eq!(once.next_after(anchor, anchor), None);
    assert!(once.has_date_at_or_after(anchor, anchor));
    // COUNT=3: exactly two successors.
    let three = r("FREQ=DAILY;COUNT=3");
    assert_eq!(
        texts(&series(&three, anchor, 10)),
        [
            "2030-01-01T08:00:00Z",
            "2030-01-02T08:00:00Z",
            "2030-01-03T08:00:00Z"
        ]
    );
    // Before the anchor, the next date is the anchor.
    assert_eq!(
        three.next_after(anchor, t("2020-01-01T00:00:00Z")),
        Some(anchor)
    );
    // Completing a task late (or early) still steps from the series.
    assert_eq!(
        three.next_after(anchor, t("2030-01-01T20:00:00Z")),
        Some(t("2030-01-02T08:00:00Z"))
    );
    assert_eq!(three.next_after(anchor, t("2030-01-03T08:00:00Z")), None);
    assert_eq!(
        three.first_at_or_after(anchor, t("2030-01-03T08:00:00Z")),
        Some(t("2030-01-03T08:00:00Z"))
    );
    assert_eq!(
        three.first_at_or_after(anchor, t("2030-01-03T08:00:00.000001Z")),
        None
    );
}

#[test]
fn until_is_inclusive_and_one_before_the_anchor_leaves_no_date() {
    let anchor = t("2030-01-01T08:00:00Z");
    let rule = r("FREQ=DAILY;UNTIL=20300103T080000Z");
    assert_eq!(
        texts(&series(&rule, anchor, 10)),
        [
            "2030-01-01T08:00:00Z",
            "2030-01-02T08:00:00Z",
            "2030-01-03T08:00:00Z"
        ]
    );
    let short = r("FREQ=DAILY;UNTIL=20300103T075959Z");
    assert_eq!(series(&short, anchor, 10).len(), 2);
    let before = r("FREQ=DAILY;UNTIL=20291231T000000Z");
    assert!(!before.has_date_at_or_after(anchor, anchor));
    assert_eq!(before.first_at_or_after(anchor, anchor), None);
    assert_eq!(before.next_after(anchor, anchor), None);
    assert_eq!(before.next_after(anchor, t("2000-01-01T00:00:00Z")), None);
    // UNTIL at the anchor itself: the anchor is the only date.
    let at = r("FREQ=DAILY;UNTIL=20300101T080000Z");
    assert!(at.has_date_at_or_after(anchor, anchor));
    assert_eq!(at.next_after(anchor, anchor), None);
}

#[test]
fn intervals_and_months() {
    let anchor = t("2030-01-01T08:00:00Z"); // a Tuesday
    assert_eq!(
        texts(&series(&r("FREQ=DAILY;INTERVAL=3"), anchor, 3)),
        [
            "2030-01-01T08:00:00Z",
            "2030-01-04T08:00:00Z",
            "2030-01-07T08:00:00Z"
        ]
    );
    assert_eq!(
        texts(&series(&r("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH"), anchor, 5)),
        [
            "2030-01-01T08:00:00Z",
            "2030-01-03T08:00:00Z",
            "2030-01-15T08:00:00Z",
            "2030-01-17T08:00:00Z",
            "2030-01-29T08:00:00Z"
        ]
    );
    assert_eq!(
        texts(&series(
            &r("FREQ=YEARLY;BYMONTH=1,7"),
            t("2030-01-15T08:00:00Z"),
            4
        )),
        [
            "2030-01-15T08:00:00Z",
            "2030-07-15T08:00:00Z",
            "2031-01-15T08:00:00Z",
            "2031-07-15T08:00:00Z"
        ]
    );
    assert_eq!(
        texts(&series(&r("FREQ=DAILY;BYMONTH=2;BYDAY=SA"), anchor, 3)),
        [
            "2030-01-01T08:00:00Z",
            "2030-02-02T08:00:00Z",
            "2030-02-09T08:00:00Z"
        ]
    );
    // Yearly on 29 February: leap years only.
    assert_eq!(
        texts(&series(&r("FREQ=YEARLY"), t("2028-02-29T00:00:00Z"), 3)),
        [
            "2028-02-29T00:00:00Z",
            "2032-02-29T00:00:00Z",
            "2036-02-29T00:00:00Z"
        ]
    );
}

#[test]
fn the_time_of_day_is_kept_to_the_microsecond() {
    let anchor = t("2030-01-01T09:30:15.123456Z");
    assert_eq!(
        r("FREQ=DAILY").next_after(anchor, anchor),
        Some(t("2030-01-02T09:30:15.123456Z"))
    );
    assert_eq!(
        r("FREQ=DAILY").next_after(anchor, t("2030-01-05T09:30:15.123456Z")),
        Some(t("2030-01-06T09:30:15.123456Z"))
    );
    // Before 1970 too.
    let old = t("1969-12-31T23:59:59.999999Z");
    assert_eq!(
        r("FREQ=DAILY").next_after(old, old),
        Some(t("1970-01-01T23:59:59.999999Z"))
    );
}

#[test]
fn rare_or_impossible_dates_end_the_series_quickly() {
    let started = Instant::now();
    // Every fourth 29 February from a year that is not a leap year: never.
    let never = r("FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29");
    let anchor = t("2029-02-28T00:00:00Z");
    assert_eq!(never.next_after(anchor, anchor), None);
    // Every seven days from a Tuesday, on Mondays: never.
    let never = r("FREQ=DAILY;INTERVAL=7;BYDAY=MO");
    let anchor = t("2030-01-01T00:00:00Z");
    assert_eq!(never.next_after(anchor, anchor), None);
    assert_eq!(never.next_after(anchor, t("2500-01-01T00:00:00Z")), None);
    // Further than 100 years away: the series ends.
    assert_eq!(
        r("FREQ=YEARLY;INTERVAL=101").next_after(anchor, anchor),
        None
    );
    assert_eq!(
        r("FREQ=YEARLY;INTERVAL=100").next_after(anchor, anchor),
        Some(t("2130-01-01T00:00:00Z"))
    );
    // The fifth Monday of February: only when February 1 is a Monday in a leap year.
    let fifth = r("FREQ=YEARLY;BYMONTH=2;BYDAY=5MO");
    let next = fifth.next_after(anchor, anchor).expect("within 100 years");
    assert_eq!(next, t("2044-02-29T00:00:00Z"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn the_end_of_time_ends_the_series() {
    for (rule, anchor) in [
        ("FREQ=DAILY", "9999-12-31T12:00:00Z"),
        ("FREQ=WEEKLY", "9999-12-28T00:00:00Z"),
        ("FREQ=MONTHLY", "9999-12-15T00:00:00Z"),
        ("FREQ=YEARLY", "9999-01-01T00:00:00Z"),
        ("FREQ=YEARLY;INTERVAL=999", "9000-01-01T00:00:00Z"),
        (
            "FREQ=MONTHLY;BYDAY=-1FR;COUNT=999",
            "9999-12-31T23:59:59.999999Z",
        ),
        ("FREQ=DAILY", "9999-12-31T23:59:59.999999Z"),
    ] {
        let rule = r(rule);
        let anchor = t(anchor);
        assert_eq!(
            rule.next_after(anchor, anchor),
            None,
            "{rule} from {anchor}"
        );
        assert_eq!(rule.next_after(anchor, Timestamp::MAX), None);
    }
    let rule = r("FREQ=DAILY");
    let anchor = t("9999-12-30T00:00:00Z");
    assert_eq!(texts(&series(&rule, anchor, 5)).len(), 2);
    // From the first day there is, too.
    assert_eq!(
        rule.next_after(Timestamp::MIN, Timestamp::MIN),
        Some(t("0001-01-02T00:00:00Z"))
    );
    assert_eq!(
        rule.next_after(Timestamp::MIN, t("2030-06-01T12:00:00Z")),
        Some(t("2030-06-02T00:00:00Z"))
    );
}

/// A small deterministic generator, so the property tests need no crate
/// and fail the same way every time.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn random_rule(rng: &mut Xorshift) -> String {
    let freq = Frequency::ALL[rng.below(4) as usize];
    let mut parts = vec![format!("FREQ={freq}")];
    if rng.chance(50) {
        let interval = if rng.chance(80) {
            1 + rng.below(4)
        } else {
            1 + rng.below(999)
        };
        parts.push(format!("INTERVAL={interval}"));
    }
    if rng.chance(40) {
        let codes = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
        let n = 1 + rng.below(3);
        let days: Vec<String> = (0..n)
            .map(|_| {
                let code = codes[rng.below(7) as usize];
                match freq {
                    Frequency::Monthly if rng.chance(50) => {
                        let ordinals = [1, 2, 3, 4, 5, -1, -2, -3, -4];
                        format!("{}{code}", ordinals[rng.below(9) as usize])
                    }
                    Frequency::Yearly if rng.chance(30) => format!("{}{code}", 1 + rng.below(5)),
                    _ => code.to_string(),
                }
            })
            .collect();
        parts.push(format!("BYDAY={}", days.join(",")));
    }
    if freq != Frequency::Weekly && rng.chance(30) {
        let day = |rng: &mut Xorshift| {
            let d = 1 + rng.below(31) as i64;
            if rng.chance(30) { -d } else { d }
        };
        let days: Vec<String> = (0..1 + rng.below(2))
            .map(|_| day(rng).to_string())
            .collect();
        parts.push(format!("BYMONTHDAY={}", days.join(",")));
    }
    if rng.chance(25) {
        parts.push(format!("BYMONTH={}", 1 + rng.below(12)));
    }
    match rng.below(4) {
        0 => parts.push(format!("COUNT={}", 1 + rng.below(20))),
        1 => parts.push(format!("UNTIL={}0101T000000Z", 2031 + rng.below(30))),
        _ => {}
    }
    // Any order: the parser does not care.
    for i in (1..parts.len()).rev() {
        parts.swap(i, rng.below(i as u64 + 1) as usize);
    }
    parts.join(";")
}

#[test]
fn generated_rules_round_trip_and_step_consistently() {
    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
    let mut checked = 0;
    for _ in 0..500 {
        let text = random_rule(&mut rng);
        let rule = match Recur::parse(&text) {
            Ok(rule) => rule,
            Err(RecurError::NeverMeet) => continue,
            Err(e) => panic!("{text}: {e}"),
        };
        let canonical = rule.to_string();
        assert_eq!(r(&canonical), rule, "{text}");
        assert_eq!(r(&canonical.to_lowercase()), rule, "{text}");
        assert_eq!(r(&canonical).to_string(), canonical);

        let anchor = Timestamp::from_micros(
            t("2000-01-01T00:00:00Z").as_micros()
                + i64::try_from(rng.below(30 * 365 * 86_400_000_000)).expect("fits"),
        )
        .expect("in range");
        let dates = series(&rule, anchor, 25);
        for pair in dates.windows(2) {
            assert!(pair[0] < pair[1], "{rule} from {anchor}: {dates:?}");
            // Every date has the anchor's time of day.
            assert_eq!(
                pair[1].as_datetime().time(),
                anchor.as_datetime().time(),
                "{rule} from {anchor}"
            );
        }
        // Every date the crate makes passes the look that spares it a
        // hopeless search, so that look never hides a date.
        let first_day = anchor.as_datetime().date_naive();
        let parts = rule.parts(first_day);
        for date in dates.iter().skip(1) {
            let day = date.as_datetime().date_naive();
            assert!(
                rule.may_match(&parts, first_day, day, day),
                "{rule} from {anchor}: {date}"
            );
        }
        if let Some(count) = rule.count() {
            assert!(dates.len() <= usize::from(count), "{rule}: {dates:?}");
        }
        if let Some(until) = rule.until() {
            assert!(dates.iter().skip(1).all(|d| *d <= until), "{rule}");
        }
        // The shortcut that starts near `after` makes the same dates as a
        // walk from the anchor, from anywhere in the series.
        for _ in 0..3 {
            let after = Timestamp::from_micros(
                anchor.as_micros()
                    + i64::try_from(rng.below(12 * 365 * 86_400_000_000)).expect("fits"),
            )
            .expect("in range");
            assert_eq!(
                rule.next_after_from(anchor, after, true),
                rule.next_after_from(anchor, after, false),
                "{rule} from {anchor} after {after}"
            );
            if let Some(next) = rule.next_after(anchor, after) {
                assert!(next > after);
                assert_eq!(rule.first_at_or_after(anchor, next), Some(next));
            }
        }
        checked += 1;
    }
    assert!(checked > 400, "only {checked} rules were valid");
}

#[test]
fn friendly_forms() {
    let cases = [
        ("daily", "FREQ=DAILY"),
        ("Weekly", "FREQ=WEEKLY"),
        ("  monthly ", "FREQ=MONTHLY"),
        ("YEARLY", "FREQ=YEARLY"),
        ("weekdays", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
        ("every day", "FREQ=DAILY"),
        ("every week", "FREQ=WEEKLY"),
        ("every month", "FREQ=MONTHLY"),
        ("every year", "FREQ=YEARLY"),
        ("every 1 day", "FREQ=DAILY"),
        ("every 3 days", "FREQ=DAILY;INTERVAL=3"),
        ("every 2 weeks", "FREQ=WEEKLY;INTERVAL=2"),
        ("Every  6 Months", "FREQ=MONTHLY;INTERVAL=6"),
        ("every 999 years", "FREQ=YEARLY;INTERVAL=999"),
        ("every monday", "FREQ=WEEKLY;BYDAY=MO"),
        ("every Mon", "FREQ=WEEKLY;BYDAY=MO"),
        ("every mon,thu", "FREQ=WEEKLY;BYDAY=MO,TH"),
        ("every thursday, monday", "FREQ=WEEKLY;BYDAY=MO,TH"),
        ("every tue fri sun", "FREQ=WEEKLY;BYDAY=TU,FR,SU"),
        ("freq=monthly;byday=-1fr", "FREQ=MONTHLY;BYDAY=-1FR"),
        ("FREQ=DAILY;COUNT=5", "FREQ=DAILY;COUNT=5"),
    ];
    for (input, canonical) in cases {
        let rule = Recur::from_friendly(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(rule.to_string(), canonical, "{input}");
    }
    let expected = "expected daily, weekly, monthly, yearly, weekdays, every N days|weeks|months|years, every monday (or several: every mon,thu) or an RRULE such as FREQ=WEEKLY;BYDAY=MO";
    for input in [
        "every fortnight",
        "fortnightly",
        "every",
        "every 2",
        "every two weeks",
        "every -1 days",
        "every mon,someday",
        "every 2 weeks on monday",
        "on mondays",
        "every mo",
    ] {
        let error = Recur::from_friendly(input).expect_err(input);
        assert_eq!(error.to_string(), format!("\"{input}\": {expected}"));
    }
    assert_eq!(Recur::from_friendly("   "), Err(RecurError::Empty));
    assert_eq!(
        Recur::from_friendly("every 0 days"),
        Err(RecurError::Interval)
    );
    assert_eq!(
        Recur::from_friendly("every 1000 weeks"),
        Err(RecurError::Interval)
    );
    assert_eq!(
        Recur::from_friendly("FREQ=DAILY;BYHOUR=1"),
        Err(RecurError::Unsupported("BYHOUR".into()))
    );
    assert_eq!(
        Recur::from_friendly("RRULE:FREQ=DAILY"),
        Err(RecurError::Prefix)
    );
}

#[test]
fn descriptions_are_short_and_read_back() {
    let cases = [
        ("FREQ=DAILY", "daily"),
        ("FREQ=WEEKLY", "weekly"),
        ("FREQ=MONTHLY", "monthly"),
        ("FREQ=YEARLY", "yearly"),
        ("FREQ=DAILY;INTERVAL=3", "every 3 days"),
        ("FREQ=WEEKLY;INTERVAL=2", "every 2 weeks"),
        ("FREQ=MONTHLY;INTERVAL=6", "every 6 months"),
        ("FREQ=YEARLY;INTERVAL=2", "every 2 years"),
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "weekdays"),
        ("FREQ=WEEKLY;BYDAY=MO", "every Mon"),
        ("FREQ=WEEKLY;BYDAY=TH,MO", "every Mon, Thu"),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO",
        ),
        ("FREQ=MONTHLY;BYDAY=-1FR", "FREQ=MONTHLY;BYDAY=-1FR"),
        ("FREQ=DAILY;BYDAY=MO", "FREQ=DAILY;BYDAY=MO"),
        ("FREQ=DAILY;COUNT=3", "FREQ=DAILY;COUNT=3"),
        ("FREQ=MONTHLY;BYMONTHDAY=1", "FREQ=MONTHLY;BYMONTHDAY=1"),
    ];
    for (rule, description) in cases {
        let rule = r(rule);
        assert_eq!(rule.describe(), description);
        assert_eq!(Recur::from_friendly(&rule.describe()), Ok(rule));
    }
}

#[test]
fn successor_ids_are_derived() {
    let series = TaskId::generate();
    let first = TaskId::generate();
    let id = successor_id(series, first);
    assert_eq!(id, successor_id(series, first), "the same every time");
    assert_eq!(id.0.get_version_num(), 8);
    assert!(first < id, "a successor sorts after the task it follows");
    std::thread::sleep(std::time::Duration::from_millis(2));
    let later = TaskId::generate();
    assert!(id < later, "and before the tasks created a moment later");
    assert_ne!(id, successor_id(series, TaskId::generate()));
    assert_ne!(id, successor_id(TaskId::generate(), first));
    assert_ne!(successor_id(series, id), id, "a chain goes on");
    // Fixed forever: a stored successor must keep being found. (The time
    // bits saturate; the rest is SHA-1 of the namespace and the 32 bytes.)
    let nil = TaskId(uuid::Uuid::nil());
    let max = TaskId(uuid::Uuid::max());
    assert_eq!(
        successor_id(nil, max).to_string(),
        "ffffffff-ffff-8436-a7a6-b34e8ee380c4"
    );
}

#[test]
fn plain_and_ordinal_weekdays_together_mean_either() {
    // RFC 5545: every Thursday, and the fourth Sunday from the end.
    let anchor = t("2029-07-22T07:00:00Z");
    let days: Vec<String> = series(&r("FREQ=MONTHLY;BYDAY=TH,-4SU"), anchor, 6)
        .iter()
        .map(|d| d.to_string()[..10].to_string())
        .collect();
    assert_eq!(
        days,
        [
            "2029-07-22",
            "2029-07-26",
            "2029-08-02",
            "2029-08-05",
            "2029-08-09",
            "2029-08-16"
        ]
    );
    // A date both kinds make counts once.
    let days: Vec<String> = series(
        &r("FREQ=MONTHLY;BYDAY=TH,1TH;COUNT=4"),
        t("2030-01-03T07:00:00Z"),
        9,
    )
    .iter()
    .map(|d| d.to_string()[..10].to_string())
    .collect();
    assert_eq!(
        days,
        ["2030-01-03", "2030-01-10", "2030-01-17", "2030-01-24"]
    );
}
