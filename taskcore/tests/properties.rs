//! Property tests of the rules a request must pass before it reaches a store:
//!
//! - the field rules (title, description, tags, email, password), each
//!   against a plain reference predicate written here from `docs/api.md`, on
//!   strings generated around their length limits, with multibyte, white
//!   space and control characters;
//! - the task body parsers on arbitrary JSON objects: no panic, unknown keys
//!   always refused, and the same verdict as the reference rules;
//! - the list cursor codec: round trips, bound to owner, query and secret,
//!   never opens garbage, and never shows a title or an id;
//! - list query and `If-Match` parsing on arbitrary text.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value};
use taskcore::auth::cursor::CursorCodec;
use taskcore::{
    Description, Email, ListQuery, Password, Position, Precondition, Priority, SortKey, Tags,
    TaskDraft, TaskId, TaskPatch, Timestamp, Title, UserId,
};

// ----- reference rules, written from `docs/api.md` -----

/// U+0000 to U+001F and U+007F.
fn spec_control(c: char) -> bool {
    let n = u32::from(c);
    n <= 0x1f || n == 0x7f
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn ref_title(raw: &str) -> Option<String> {
    let trimmed = raw.trim_matches(char::is_whitespace);
    let n = chars(trimmed);
    ((1..=200).contains(&n) && !trimmed.chars().any(spec_control)).then(|| trimmed.to_string())
}

fn ref_description(raw: &str) -> bool {
    chars(raw) <= 4000
        && raw
            .chars()
            .all(|c| !spec_control(c) || c == '\n' || c == '\r' || c == '\t')
}

fn ref_tag(raw: &str) -> bool {
    (1..=50).contains(&chars(raw)) && !raw.chars().any(|c| c.is_whitespace() || spec_control(c))
}

fn ref_tags(raw: &[String]) -> Option<Vec<String>> {
    let mut kept: Vec<String> = Vec::new();
    for tag in raw {
        if !ref_tag(tag) {
            return None;
        }
        if !kept.contains(tag) {
            kept.push(tag.clone());
        }
    }
    (kept.len() <= 20).then_some(kept)
}

fn ref_password(raw: &str) -> bool {
    (8..=128).contains(&chars(raw))
}

const PRIORITIES: [&str; 4] = ["none", "low", "medium", "high"];
const TASK_FIELDS: [&str; 6] = [
    "title",
    "description",
    "completed",
    "priority",
    "due",
    "tags",
];
const GOOD_DUES: [&str; 4] = [
    "2030-01-01T12:00:00Z",
    "2030-01-01T12:00:00.123456Z",
    "2030-06-30T23:59:59+02:00",
    "1999-12-31t23:59:59.5-00:30",
];
const BAD_DUES: [&str; 7] = [
    "",
    "2030-01-01",
    "12:00:00Z",
    "tomorrow",
    "2030-13-01T00:00:00Z",
    "2030-01-01T12:00:00",
    "2030-01-01 12:00:00Z junk",
];

/// The verdict of the rules of `docs/api.md` on one task field.
fn ref_field_ok(key: &str, value: &Value) -> bool {
    match (key, value) {
        ("title", Value::String(s)) => ref_title(s).is_some(),
        ("description", Value::String(s)) => ref_description(s),
        ("completed", Value::Bool(_)) => true,
        ("priority", Value::String(s)) => PRIORITIES.contains(&s.as_str()),
        ("due", Value::Null) => true,
        ("due", Value::String(s)) => GOOD_DUES.contains(&s.as_str()),
        ("tags", Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .is_some_and(|tags| ref_tags(&tags).is_some()),
        _ => false,
    }
}

// ----- generators -----

/// Characters that sit on the edges of the rules: white space that `trim`
/// removes (ASCII and not), control characters (`docs/api.md`) and their neighbours
/// (U+0020, U+0080..U+009F, which are not controls there), multibyte
/// characters of every UTF-8 length, and characters whose lower case is longer.
const EDGE_CHARS: &[char] = &[
    ' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{a0}', '\u{85}', '\u{2003}', '\u{3000}', '\u{0}',
    '\u{1}', '\u{1f}', '\u{7f}', '\u{80}', '\u{9f}', '\u{ad}', '\u{200b}', '\u{200d}', '\u{feff}',
    'é', 'ß', '€', '漢', '😀', '\u{301}', 'İ', 'ẞ', '@', '.', '-', '"', ',', '*', '/', '=', '&',
    '%', '+',
];

/// Mostly ordinary characters (so valid values come up often), sometimes an edge.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => prop::char::range('a', 'z'),
        2 => prop::char::range('A', 'Z'),
        1 => prop::char::range('0', '9'),
        2 => select(EDGE_CHARS),
        1 => any::<char>(),
    ]
}

/// Character lengths near 0, near `max` and anywhere in between.
fn length_around(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![0..=3usize, max.saturating_sub(3)..=max + 3, 0..=max + 10]
}

fn text_around(max: usize) -> impl Strategy<Value = String> {
    length_around(max).prop_flat_map(|n| {
        prop::collection::vec(text_char(), n).prop_map(|cs| cs.into_iter().collect())
    })
}

/// Long text around `max`, cheap to make: one filler character repeated,
/// with a few characters anywhere replaced by any of [`text_char`]'s.
fn long_text_around(max: usize) -> impl Strategy<Value = String> {
    let filler = prop_oneof![
        4 => select(&['a', 'Z', 'é', '😀'][..]),
        1 => select(&[' ', '\n', '\t'][..]),
    ];
    (
        length_around(max),
        filler,
        prop::collection::vec((any::<prop::sample::Index>(), text_char()), 0..4),
    )
        .prop_map(|(n, filler, edits)| {
            let mut cs = vec![filler; n];
            if n > 0 {
                for (at, c) in edits {
                    cs[at.index(n)] = c;
                }
            }
            cs.into_iter().collect()
        })
}

/// Text made only of ordinary characters, exactly `n` long.
fn plain_text(n: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::char::range('a', 'z'), n).prop_map(|cs| cs.into_iter().collect())
}

/// White space (or nothing) around a text: what a title is trimmed of.
fn padded(core: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    let pad = || {
        prop::collection::vec(select(&[' ', '\t', '\n', '\u{a0}', '\u{3000}'][..]), 0..3)
            .prop_map(|cs| cs.into_iter().collect::<String>())
    };
    (pad(), core, pad()).prop_map(|(a, b, c)| format!("{a}{b}{c}"))
}

/// One tag: from a small pool (so duplicates and the 20-distinct limit come
/// up), or generated around the 50-character limit.
fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0..25u8).prop_map(|i| format!("t{i}")),
        1 => select(&["A", "a", "é", "😀", "x-y", "a b", "a\tb", "a\u{7f}", "a\u{a0}b", ""][..])
            .prop_map(str::to_string),
        1 => long_text_around(50),
    ]
}

fn tags() -> impl Strategy<Value = Vec<String>> {
    let pool_tag = (0..25u8).prop_map(|i| format!("t{i}"));
    prop_oneof![
        prop::collection::vec(tag(), 0..=5),
        // Around 20 distinct tags, with duplicates.
        prop::collection::vec(pool_tag, 15..=30),
        prop::collection::vec(tag(), 18..=26),
    ]
}

/// Any JSON value, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text_around(8).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((text_around(4), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A value for a known task field: usually of the right type (valid or
/// not by the rules), sometimes anything at all.
fn field_value(key: &'static str) -> BoxedStrategy<Value> {
    let typed: BoxedStrategy<Value> = match key {
        "title" => prop_oneof![padded(text_around(20)), padded(long_text_around(200))]
            .prop_map(Value::String)
            .boxed(),
        "description" => prop_oneof![text_around(10), long_text_around(4000)]
            .prop_map(Value::String)
            .boxed(),
        "completed" => any::<bool>().prop_map(Value::Bool).boxed(),
        "priority" => select(&["none", "low", "medium", "high", "High", "urgent", ""][..])
            .prop_map(Value::from)
            .boxed(),
        "due" => prop_oneof![
            Just(Value::Null),
            select(&GOOD_DUES[..]).prop_map(Value::from),
            select(&BAD_DUES[..]).prop_map(Value::from),
        ]
        .boxed(),
        _ => tags()
            .prop_map(|t| Value::Array(t.into_iter().map(Value::String).collect()))
            .boxed(),
    };
    prop_oneof![9 => typed, 1 => json_value()].boxed()
}

/// A task body: some known fields, and sometimes keys no body may carry.
fn task_body() -> impl Strategy<Value = Map<String, Value>> {
    let known =
        prop::sample::subsequence(&TASK_FIELDS[..], 0..=TASK_FIELDS.len()).prop_flat_map(|keys| {
            keys.into_iter()
                .map(|k| field_value(k).prop_map(move |v| (k.to_string(), v)))
                .collect::<Vec<_>>()
        });
    let unknown_key = prop_oneof![
        select(
            &[
                "id",
                "number",
                "user_id",
                "version",
                "created_at",
                "updated_at",
                "completed_at",
                "Title",
                "title ",
                "",
            ][..]
        )
        .prop_map(str::to_string),
        text_around(6),
    ];
    let unknown = prop::collection::vec((unknown_key, json_value()), 0..3);
    (known, prop_oneof![2 => Just(Vec::new()), 1 => unknown]).prop_map(|(known, unknown)| {
        let mut body: Map<String, Value> = known.into_iter().collect();
        body.extend(unknown);
        body
    })
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    // Year 1 to year 9999, to the microsecond.
    (-62_135_596_800_000_000i64..253_402_300_799_999_999)
        .prop_map(|us| Timestamp::from_micros(us).expect("in range"))
}

fn position() -> impl Strategy<Value = Position> {
    let key = prop_oneof![
        Just(SortKey::Created),
        proptest::option::of(timestamp()).prop_map(SortKey::Due),
        select(&Priority::ALL[..]).prop_map(SortKey::Priority),
        long_text_around(200).prop_map(SortKey::Title),
        timestamp().prop_map(SortKey::Updated),
    ];
    (key, any::<[u8; 16]>()).prop_map(|(key, id)| Position {
        key,
        id: TaskId::from_bytes(id),
    })
}

fn user_id() -> impl Strategy<Value = UserId> {
    any::<[u8; 16]>().prop_map(UserId::from_bytes)
}

/// Text a query string or header might hold: separators, escapes, known
/// names and values, and anything else.
fn query_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        select(
            &[
                "&",
                "=",
                "%",
                "%2",
                "%zz",
                "%41",
                "%26",
                "%3D",
                "%C3%A9",
                "%FF",
                "%00",
                "+",
                "?",
                "status",
                "q",
                "tag",
                "priority",
                "sort",
                "limit",
                "cursor",
                "all",
                "pending",
                "-due",
                "title",
                "200",
                "201",
                "0",
                "-1",
                "18446744073709551616",
            ][..]
        )
        .prop_map(str::to_string),
        text_around(6),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

/// Text an `If-Match` header might hold: quoted versions, weak ones, lists,
/// stars, leading zeros, numbers past `u64`, and anything else.
fn if_match_text() -> impl Strategy<Value = String> {
    let item = prop_oneof![
        4 => (0..10u64).prop_map(|n| format!("\"{n}\"")),
        1 => (0..10u64).prop_map(|n| format!("\"0{n}\"")),
        1 => (0..10u64).prop_map(|n| format!("W/\"{n}\"")),
        1 => select(
            &[
                "\"", "*", "\"18446744073709551615\"", "\"18446744073709551616\"", "\"\"",
                "\"-1\"", "\"+1\"", "\"1 \"", "\" 1\"", "\"\u{661}\"", "1", "w/\"1\"",
            ][..]
        )
        .prop_map(str::to_string),
        1 => text_around(3),
    ];
    let separator = select(&[",", ", ", " , ", ",,", ""][..]);
    prop::collection::vec((item, separator), 1..4).prop_map(|items| {
        items
            .into_iter()
            .enumerate()
            .map(|(i, (item, sep))| if i == 0 { item } else { format!("{sep}{item}") })
            .collect()
    })
}

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-property-tests";
const OTHER_SECRET: &[u8] = b"another-secret-another-secret-another-secret!!";

// ----- (a) field rules -----

proptest! {
    #[test]
    fn title_matches_the_reference(raw in prop_oneof![
        padded(long_text_around(200)),
        text_around(12),
        (195..=205usize).prop_flat_map(plain_text).prop_flat_map(|s| padded(Just(s))),
    ]) {
        let got = Title::parse(&raw).ok().map(|t| t.as_str().to_string());
        prop_assert_eq!(got, ref_title(&raw), "title {:?}", raw);
    }

    #[test]
    fn multibyte_titles_count_characters(c in select(&['é', '€', '漢', '😀'][..]), n in 198..=202usize) {
        let raw: String = std::iter::repeat_n(c, n).collect();
        prop_assert_eq!(Title::parse(&raw).is_ok(), n <= 200);
    }

    #[test]
    fn description_matches_the_reference(raw in prop_oneof![text_around(12), long_text_around(4000)]) {
        let got = Description::parse(&raw);
        prop_assert_eq!(got.is_ok(), ref_description(&raw), "description of {} chars", chars(&raw));
        if let Ok(d) = got {
            prop_assert_eq!(d.as_str(), raw.as_str(), "a description is kept as given");
        }
    }

    #[test]
    fn long_descriptions_count_characters(
        c in select(&['x', 'é', '😀', '\n', '\t', '\r'][..]),
        n in 3998..=4002usize,
    ) {
        let raw: String = std::iter::repeat_n(c, n).collect();
        prop_assert_eq!(Description::parse(&raw).is_ok(), n <= 4000);
    }

    #[test]
    fn tags_match_the_reference(raw in tags()) {
        let got = Tags::parse(raw.iter().map(String::as_str));
        let want = ref_tags(&raw);
        match (&got, &want) {
            (Ok(tags), Some(want)) => prop_assert_eq!(tags.as_slice(), want.as_slice()),
            (Err(errors), None) => {
                // Every bad tag is named by its index.
                for (i, tag) in raw.iter().enumerate() {
                    if !ref_tag(tag) {
                        let field = format!("tags[{i}]");
                        prop_assert!(errors.0.iter().any(|e| e.field == field), "{} not reported", field);
                    }
                }
            }
            _ => prop_assert!(false, "tags {:?}: got {:?}, want {:?}", raw, got, want),
        }
    }

    #[test]
    fn emails_normalize_idempotently(raw in prop_oneof![
        text_around(20),
        (text_around(12), text_around(8)).prop_map(|(l, d)| format!("{l}@{d}")),
        (padded(long_text_around(250)), select(&["@x.org", "@X.ORG", "@.x", "@x.", "@x@y", "@"][..]))
            .prop_map(|(l, d)| format!("{l}{d}")),
    ]) {
        if let Ok(email) = Email::parse(&raw) {
            let normal = email.as_str();
            prop_assert_eq!(normal, raw.trim().to_lowercase());
            prop_assert!(chars(normal) <= 254);
            prop_assert_eq!(normal.matches('@').count(), 1);
            let (local, domain) = normal.split_once('@').expect("one @");
            prop_assert!(!local.is_empty() && !domain.is_empty());
            prop_assert!(!normal.chars().any(|c| c.is_whitespace() || spec_control(c)));
            let again = Email::parse(normal).expect("a normalized email parses");
            prop_assert_eq!(&again, &email);
            // Case does not matter, where upper-casing round-trips (it does not for ß).
            let upper = normal.to_uppercase();
            if upper.to_lowercase() == normal {
                prop_assert_eq!(Email::parse(&upper).ok(), Some(email));
            }
        }
    }

    #[test]
    fn email_length_limit_is_exact(local_len in 240..=252usize, upper in any::<bool>(), pad in padded(Just(String::new()))) {
        // `local@x.org`: local_len + 6 characters once normalized.
        let local: String = std::iter::repeat_n(if upper { 'A' } else { 'a' }, local_len).collect();
        let raw = format!("{pad}{local}@x.org{pad}");
        prop_assert_eq!(Email::parse(&raw).is_ok(), local_len + 6 <= 254);
    }

    #[test]
    fn email_length_counts_the_lower_cased_form(n in 120..=130usize) {
        // 'İ' lower-cases to two characters (i and a combining dot).
        let raw = format!("{}@x.org", "İ".repeat(n));
        let normal_len = chars(&raw.to_lowercase());
        prop_assert_eq!(Email::parse(&raw).is_ok(), normal_len <= 254);
    }

    #[test]
    fn password_matches_the_reference(raw in prop_oneof![text_around(8), long_text_around(128)]) {
        prop_assert_eq!(Password::parse(&raw).is_ok(), ref_password(&raw), "{} chars", chars(&raw));
    }
}

// ----- (b) task bodies -----

proptest! {
    #[test]
    fn task_bodies_follow_the_reference(body in task_body()) {
        let draft = TaskDraft::from_json(&body);
        let patch = TaskPatch::from_json(&body);
        let unknown: Vec<&String> = body.keys().filter(|k| !TASK_FIELDS.contains(&k.as_str())).collect();
        if !unknown.is_empty() {
            let (Err(draft_errors), Err(patch_errors)) = (&draft, &patch) else {
                return Err(TestCaseError::fail(format!("unknown keys {unknown:?} accepted")));
            };
            for key in unknown {
                prop_assert!(draft_errors.0.iter().any(|e| &e.field == key), "draft: {:?} not reported", key);
                prop_assert!(patch_errors.0.iter().any(|e| &e.field == key), "patch: {:?} not reported", key);
            }
            return Ok(());
        }
        let fields_ok = body.iter().all(|(k, v)| ref_field_ok(k, v));
        prop_assert_eq!(patch.is_ok(), fields_ok, "patch of {:?}", body);
        prop_assert_eq!(draft.is_ok(), fields_ok && body.contains_key("title"), "draft of {:?}", body);
        if let Ok(draft) = draft {
            let title = body["title"].as_str().and_then(ref_title);
            prop_assert_eq!(Some(draft.title.as_str()), title.as_deref());
            let description = body.get("description").and_then(Value::as_str).unwrap_or("");
            prop_assert_eq!(draft.description.as_str(), description);
            prop_assert_eq!(draft.completed, body.get("completed").and_then(Value::as_bool).unwrap_or(false));
            let priority = body.get("priority").and_then(Value::as_str).unwrap_or("none");
            prop_assert_eq!(draft.priority.as_str(), priority);
            prop_assert_eq!(draft.due.is_some(), body.get("due").is_some_and(Value::is_string));
            let tags: Vec<String> = body
                .get("tags")
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let want_tags = ref_tags(&tags).expect("valid tags");
            prop_assert_eq!(draft.tags.as_slice(), want_tags.as_slice());
        }
        if let Ok(patch) = patch {
            prop_assert_eq!(patch.title.is_some(), body.contains_key("title"));
            prop_assert_eq!(patch.description.is_some(), body.contains_key("description"));
            prop_assert_eq!(patch.completed.is_some(), body.contains_key("completed"));
            prop_assert_eq!(patch.priority.is_some(), body.contains_key("priority"));
            prop_assert_eq!(patch.due.is_some(), body.contains_key("due"));
            prop_assert_eq!(patch.tags.is_some(), body.contains_key("tags"));
        }
    }

    #[test]
    fn arbitrary_objects_never_panic(value in json_value()) {
        let body = match value {
            Value::Object(map) => map,
            other => [("title".to_string(), other)].into_iter().collect(),
        };
        let draft = TaskDraft::from_json(&body);
        let patch = TaskPatch::from_json(&body);
        if body.keys().any(|k| !TASK_FIELDS.contains(&k.as_str())) {
            prop_assert!(draft.is_err() && patch.is_err());
        }
    }
}

// ----- (c) cursors -----

proptest! {
    #[test]
    fn cursors_round_trip(owner in user_id(), fingerprint in query_text(), position in position()) {
        let codec = CursorCodec::new(SECRET);
        let cursor = codec.seal(owner, &fingerprint, &position);
        prop_assert!(!cursor.is_empty());
        prop_assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        prop_assert_eq!(codec.open(owner, &fingerprint, &cursor), Some(position.clone()));
        // A second seal of the same position looks different (fresh nonce).
        prop_assert_ne!(codec.seal(owner, &fingerprint, &position), cursor);
    }

    #[test]
    fn cursors_open_for_nobody_else(
        owner in user_id(),
        other_owner in user_id(),
        fingerprint in query_text(),
        other_fingerprint in query_text(),
        position in position(),
    ) {
        let codec = CursorCodec::new(SECRET);
        let cursor = codec.seal(owner, &fingerprint, &position);
        if other_owner != owner {
            prop_assert_eq!(codec.open(other_owner, &fingerprint, &cursor), None);
        }
        if other_fingerprint != fingerprint {
            prop_assert_eq!(codec.open(owner, &other_fingerprint, &cursor), None);
        }
        prop_assert_eq!(CursorCodec::new(OTHER_SECRET).open(owner, &fingerprint, &cursor), None);
    }

    #[test]
    fn tampered_cursors_never_open(
        owner in user_id(),
        position in position(),
        at in any::<prop::sample::Index>(),
        bit in 0..8u8,
    ) {
        let codec = CursorCodec::new(SECRET);
        let cursor = codec.seal(owner, "sort=created", &position);
        let mut raw = URL_SAFE_NO_PAD.decode(&cursor).expect("base64url");
        let i = at.index(raw.len());
        raw[i] ^= 1 << bit;
        let tampered = URL_SAFE_NO_PAD.encode(&raw);
        prop_assert_eq!(codec.open(owner, "sort=created", &tampered), None);
        // Cut short, or with bytes added.
        prop_assert_eq!(codec.open(owner, "sort=created", &cursor[..cursor.len() - 1]), None);
        prop_assert_eq!(codec.open(owner, "sort=created", &format!("{cursor}A")), None);
    }

    #[test]
    fn garbage_never_opens(
        owner in user_id(),
        text in prop_oneof![
            any::<String>(),
            query_text(),
            prop::collection::vec(any::<u8>(), 0..120).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
        ],
    ) {
        let codec = CursorCodec::new(SECRET);
        prop_assert_eq!(codec.open(owner, "sort=created", &text), None);
    }

    #[test]
    fn cursors_show_no_title_or_id(
        owner in user_id(),
        title in (6..=200usize).prop_flat_map(|n| prop::collection::vec(text_char(), n))
            .prop_map(|cs| cs.into_iter().collect::<String>()),
        id in any::<[u8; 16]>(),
    ) {
        let id = TaskId::from_bytes(id);
        let codec = CursorCodec::new(SECRET);
        let position = Position { key: SortKey::Title(title.to_lowercase()), id };
        let cursor = codec.seal(owner, "sort=title", &position);
        let raw = URL_SAFE_NO_PAD.decode(&cursor).expect("base64url");
        let id_texts = [id.to_string(), id.0.simple().to_string()];
        for text in [title.clone(), title.to_lowercase()].iter().chain(&id_texts) {
            prop_assert!(!cursor.contains(text.as_str()), "cursor shows {:?}", text);
            prop_assert!(!contains_bytes(&raw, text.as_bytes()), "decoded cursor holds {:?}", text);
        }
        prop_assert!(!contains_bytes(&raw, id.as_bytes()), "decoded cursor holds the id's bytes");
    }
}

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

// ----- (d) list queries and If-Match -----

const QUERY_KEYS: [&str; 7] = ["status", "q", "tag", "priority", "sort", "limit", "cursor"];

/// A valid value for a known list parameter.
fn good_value(key: &'static str) -> BoxedStrategy<String> {
    match key {
        "status" => select(&["all", "pending", "completed"][..])
            .prop_map(str::to_string)
            .boxed(),
        "priority" => select(&PRIORITIES[..]).prop_map(str::to_string).boxed(),
        "sort" => select(
            &[
                "created",
                "-created",
                "due",
                "-due",
                "priority",
                "-priority",
                "title",
                "-title",
                "updated",
                "-updated",
            ][..],
        )
        .prop_map(str::to_string)
        .boxed(),
        "limit" => (1..=200u32).prop_map(|n| n.to_string()).boxed(),
        _ => plain_text(5).boxed(),
    }
}

/// Whether `"07"` is taken for version 7: no, an entity tag compares exactly.
const LEADING_ZEROS_MATCH: bool = false;

/// What an `If-Match` value allows, read by `docs/api.md`: `None` for `*` (any
/// version), else the quoted decimal versions of a comma list; one weak,
/// empty or malformed entry and nothing matches (an empty list).
fn ref_if_match(header: &str, leading_zeros_match: bool) -> Option<Vec<u64>> {
    if header.trim() == "*" {
        return None;
    }
    let mut versions = Vec::new();
    for item in header.split(',') {
        let item = item.trim();
        let digits = item
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or("");
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (leading_zeros_match || digits == "0" || !digits.starts_with('0'));
        match digits.parse::<u64>() {
            Ok(v) if canonical => versions.push(v),
            _ => return Some(Vec::new()),
        }
    }
    Some(versions)
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

proptest! {
    #[test]
    fn list_queries_never_panic(raw in prop_oneof![query_text(), any::<String>()]) {
        if let Ok(query) = ListQuery::parse(&raw) {
            prop_assert!((1..=200).contains(&query.limit));
            if let Some(q) = &query.q {
                prop_assert!(!q.is_empty());
                prop_assert_eq!(q.to_lowercase(), q.clone());
            }
            prop_assert!(query.tag.as_ref().is_none_or(|t| !t.is_empty()));
        }
    }

    #[test]
    fn repeated_known_parameters_are_refused(
        keys in prop::collection::vec(
            prop_oneof![3 => select(&QUERY_KEYS[..]), 1 => select(&["x", "page", "Limit", "q2"][..])],
            0..8,
        ),
        seed in any::<u64>(),
    ) {
        let pairs: Vec<(&str, String)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let n = seed.rotate_left(i as u32 * 7);
                let value = match *k {
                    "status" => ["all", "pending", "completed"][(n % 3) as usize].to_string(),
                    "priority" => PRIORITIES[(n % 4) as usize].to_string(),
                    "sort" => ["created", "-due", "title", "-priority"][(n % 4) as usize].to_string(),
                    "limit" => (n % 200 + 1).to_string(),
                    other => format!("{other}-{}", n % 1000),
                };
                (*k, value)
            })
            .collect();
        let raw = pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&");
        let repeated = QUERY_KEYS
            .iter()
            .any(|known| keys.iter().filter(|k| *k == known).count() > 1);
        prop_assert_eq!(ListQuery::parse(&raw).is_err(), repeated, "query {:?}", raw);
    }

    #[test]
    fn every_valid_query_parses(
        keys in prop::sample::subsequence(&QUERY_KEYS[..], 0..=QUERY_KEYS.len())
            .prop_flat_map(|keys| keys.into_iter().map(|k| good_value(k).prop_map(move |v| (k, v))).collect::<Vec<_>>())
            .prop_shuffle(),
    ) {
        let raw = keys.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&");
        let query = ListQuery::parse(&raw);
        prop_assert!(query.is_ok(), "query {:?}: {:?}", raw, query);
    }

    #[test]
    fn limit_is_exactly_1_to_200(n in prop_oneof![-5i128..=210, any::<i64>().prop_map(i128::from), any::<i128>()]) {
        let parsed = ListQuery::parse(&format!("limit={n}"));
        prop_assert_eq!(parsed.as_ref().ok().map(|q| q.limit as i128), (1..=200).contains(&n).then_some(n));
        // The same number percent-encoded.
        let escaped: String = n.to_string().bytes().map(|b| format!("%{b:02X}")).collect();
        prop_assert_eq!(ListQuery::parse(&format!("limit={escaped}")).is_ok(), (1..=200).contains(&n));
    }

    #[test]
    fn non_numeric_limits_are_refused(value in prop_oneof![
        text_around(4).prop_filter("not digits", |s| s.is_empty() || !s.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit())),
        select(&["", " 5", "5 ", "5.0", "1e2", "0x10", "-0", "five", "٣"][..]).prop_map(str::to_string),
    ]) {
        prop_assert!(ListQuery::parse(&format!("limit={}", encode(&value))).is_err(), "limit={:?}", value);
    }

    #[test]
    fn if_match_follows_the_reference(
        header in prop_oneof![3 => if_match_text(), 1 => query_text(), 1 => any::<String>()],
        version in prop_oneof![0..10u64, any::<u64>()],
    ) {
        let precondition = Precondition::from_if_match(Some(&header));
        let want = match ref_if_match(&header, LEADING_ZEROS_MATCH) {
            None => Precondition::Any,
            Some(versions) => Precondition::Versions(versions),
        };
        prop_assert_eq!(&precondition, &want, "If-Match: {:?}", header);
        let allowed = match &want {
            Precondition::Versions(versions) => versions.contains(&version),
            _ => true,
        };
        prop_assert_eq!(precondition.allows(version), allowed);
    }

    /// What `docs/api.md` asks of `"07"`: the ETag of version 7 is `"7"`, and
    /// `If-Match` compares entity tags strongly (RFC 9110), so `"07"` is no
    /// version the server issued and must match nothing.
    #[test]
    fn if_match_leading_zeros_match_nothing(
        header in if_match_text(),
    ) {
        let want = match ref_if_match(&header, false) {
            None => Precondition::Any,
            Some(versions) => Precondition::Versions(versions),
        };
        prop_assert_eq!(Precondition::from_if_match(Some(&header)), want, "If-Match: {:?}", header);
    }

    #[test]
    fn if_match_lists_allow_exactly_their_versions(
        versions in prop::collection::vec(any::<u64>(), 1..5),
        probe in any::<u64>(),
        spaces in any::<bool>(),
        weak_at in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let items: Vec<String> = versions
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let weak = weak_at.as_ref().is_some_and(|w| w.index(versions.len()) == i);
                format!("{}\"{v}\"", if weak { "W/" } else { "" })
            })
            .collect();
        let header = items.join(if spaces { " , " } else { "," });
        let precondition = Precondition::from_if_match(Some(&header));
        for v in versions.iter().chain([&probe]) {
            let want = weak_at.is_none() && versions.contains(v);
            prop_assert_eq!(precondition.allows(*v), want, "{:?} and version {}", header, v);
        }
    }
}

#[test]
fn if_match_star_and_absent_allow_everything() {
    for header in [None, Some("*"), Some(" * ")] {
        let precondition = Precondition::from_if_match(header);
        assert!(
            precondition.allows(0) && precondition.allows(u64::MAX),
            "{header:?}"
        );
    }
}
