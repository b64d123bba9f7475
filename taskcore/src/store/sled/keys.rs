//! Key encodings. Every multi-part key is fixed-width and big-endian, so the
//! byte order sled sorts by is the order the store needs: one user's tasks
//! form one contiguous range in creation order (UUIDv7 bytes are time
//! ordered), a user's sessions sort by login time, and so on.

use crate::domain::{ApiTokenId, ExternalIdentity, SessionId, TaskId, Timestamp, UserId};
use crate::store::TokenHash;

/// `meta` key of the on-disk format version (`u32` big-endian).
pub(super) const META_FORMAT_VERSION: &[u8] = b"format_version";
/// `meta` key of the generated HS256 secret.
pub(super) const META_JWT_SECRET: &[u8] = b"jwt_secret";

/// The 16-byte prefix of everything a user owns in a per-user tree.
/// `external_ids` key: the issuer's length (`u32` big-endian), the issuer,
/// then the subject, so no pair of strings can collide with another.
pub(super) fn external_identity(identity: &ExternalIdentity) -> Vec<u8> {
    let issuer = identity.issuer.as_bytes();
    let subject = identity.subject.as_bytes();
    let mut key = Vec::with_capacity(4 + issuer.len() + subject.len());
    key.extend_from_slice(
        &u32::try_from(issuer.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    key.extend_from_slice(issuer);
    key.extend_from_slice(subject);
    key
}

pub(super) fn user_prefix(user: UserId) -> [u8; 16] {
    *user.as_bytes()
}

fn concat<const N: usize>(parts: &[&[u8]]) -> [u8; N] {
    let mut key = [0u8; N];
    let mut at = 0;
    for part in parts {
        key[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    debug_assert_eq!(at, N, "key parts must fill the key exactly");
    key
}

/// `tasks`: owner ++ task id.
pub(super) fn task(owner: UserId, id: TaskId) -> [u8; 32] {
    concat(&[owner.as_bytes(), id.as_bytes()])
}

/// The last possible key of `owner`'s task range (inclusive bound).
pub(super) fn task_range_end(owner: UserId) -> [u8; 32] {
    concat(&[owner.as_bytes(), &[0xff; 16]])
}

/// The first possible key of `owner`'s task range (inclusive bound).
pub(super) fn task_range_start(owner: UserId) -> [u8; 32] {
    concat(&[owner.as_bytes(), &[0x00; 16]])
}

/// `task_numbers`: owner ++ number (big-endian).
pub(super) fn task_number(owner: UserId, number: u64) -> [u8; 24] {
    concat(&[owner.as_bytes(), &number.to_be_bytes()])
}

/// `task_projects`: the byte that ends a project name in a key. It never
/// occurs in a name (a control character), and it sorts before every byte
/// that does, so `Home` ++ 0x00 sorts before `Home.Garden` ++ 0x00: keys
/// sort by name, then by id.
pub(super) const PROJECT_END: u8 = 0x00;

/// `task_projects`: a byte no UTF-8 text starts with, sorting after every
/// byte that does: owner ++ 0xFF is past every project key of the owner.
/// (Tasks without a project have no entry: creating one writes nothing
/// more than before projects existed.)
const PROJECTS_END: u8 = 0xff;

/// `task_projects`: owner ++ project ++ 0x00 ++ task id, for a task in a
/// project.
pub(super) fn task_project(owner: UserId, project: &str, id: TaskId) -> Vec<u8> {
    let mut key = project_prefix(owner, project);
    key.extend_from_slice(id.as_bytes());
    key
}

/// The part of a `task_projects` key before the id: owner ++ project ++ 0x00.
fn project_prefix(owner: UserId, project: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(16 + project.len() + 1 + 16);
    key.extend_from_slice(owner.as_bytes());
    key.extend_from_slice(project.as_bytes());
    key.push(PROJECT_END);
    key
}

/// The project name and the task id of a `task_projects` key, if it has
/// that shape.
pub(super) fn project_key_parts(key: &[u8]) -> Option<(&[u8], TaskId)> {
    let split = key.len().checked_sub(16)?;
    let id = TaskId::from_bytes(id_at(key, split)?);
    match key.get(16..split)? {
        [name @ .., PROJECT_END] if !name.is_empty() => Some((name, id)),
        _ => None,
    }
}

/// A range of `task_projects` keys: `start` included, `end` excluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct KeyRange {
    /// The first key that may be in it.
    pub start: Vec<u8>,
    /// The first key after it.
    pub end: Vec<u8>,
}

impl KeyRange {
    /// Every key that starts with `prefix`: up to `prefix` with its last
    /// byte replaced by `last`, that byte plus one.
    fn prefixed(prefix: Vec<u8>, last: u8) -> Self {
        let mut end = prefix.clone();
        if let Some(byte) = end.last_mut() {
            *byte = last;
        }
        Self { start: prefix, end }
    }

    /// Whether `key` is in it.
    #[cfg(test)]
    pub fn contains(&self, key: &[u8]) -> bool {
        self.start.as_slice() <= key && key < self.end.as_slice()
    }
}

/// The owner's tasks in exactly `project` (not the ones inside it).
pub(super) fn project_exact_range(owner: UserId, project: &str) -> KeyRange {
    KeyRange::prefixed(project_prefix(owner, project), PROJECT_END + 1)
}

/// The owner's tasks in the projects strictly inside `project`: names
/// starting with `project` and a dot (see `Project::subtree_prefix`).
pub(super) fn project_subtree_range(owner: UserId, project: &str) -> KeyRange {
    let mut start = Vec::with_capacity(16 + project.len() + 1);
    start.extend_from_slice(owner.as_bytes());
    start.extend_from_slice(project.as_bytes());
    start.push(b'.');
    KeyRange::prefixed(start, b'.' + 1)
}

/// Every `task_projects` key of the owner.
pub(super) fn any_project_range(owner: UserId) -> KeyRange {
    let mut end = owner.as_bytes().to_vec();
    end.push(PROJECTS_END);
    KeyRange {
        start: owner.as_bytes().to_vec(),
        end,
    }
}

/// `task_tombstones` value: the deleted task's number and when it went
/// (micros, big-endian).
pub(super) fn tombstone(number: u64, deleted_at: Timestamp) -> [u8; 16] {
    concat(&[&number.to_be_bytes(), &deleted_at.as_micros().to_be_bytes()])
}

/// The number and deletion time a `task_tombstones` value holds.
pub(super) fn tombstone_parts(value: &[u8]) -> Option<(u64, Timestamp)> {
    let number = u64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    let micros = i64::from_be_bytes(value.get(8..16)?.try_into().ok()?);
    Some((number, Timestamp::from_micros(micros)?))
}

/// `task_changes`: owner ++ change number (big-endian), so one owner's
/// feed is one key range in change order.
pub(super) fn task_change(owner: UserId, change: u64) -> [u8; 24] {
    concat(&[owner.as_bytes(), &change.to_be_bytes()])
}

/// The change number a `task_changes` key ends with.
pub(super) fn change_of_key(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(16..24)?.try_into().ok()?))
}

/// A change number as a value (`task_change_numbers`, the floor in
/// `task_counters`): big-endian.
pub(super) fn change_of_value(value: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(value.try_into().ok()?))
}

/// `task_counters`: where the owner's last change number is kept when the
/// entry that held it leaves the feed (see `changes.rs`).
pub(super) fn change_floor(owner: UserId) -> [u8; 17] {
    concat(&[owner.as_bytes(), b"c"])
}

/// `task_deletions`: deletion time ++ owner ++ task id, so the deletions
/// older than the retention are one key range from the start.
pub(super) fn task_deletion(deleted_at: Timestamp, owner: UserId, id: TaskId) -> [u8; 40] {
    concat(&[&time_bytes(deleted_at), owner.as_bytes(), id.as_bytes()])
}

/// The owner and task of a `task_deletions` key.
pub(super) fn deletion_parts(key: &[u8]) -> Option<(UserId, TaskId)> {
    let owner: [u8; 16] = key.get(8..24)?.try_into().ok()?;
    let id: [u8; 16] = key.get(24..40)?.try_into().ok()?;
    Some((UserId::from_bytes(owner), TaskId::from_bytes(id)))
}

/// `task_anchors` value: the anchor in micros, big-endian.
pub(super) fn anchor_value(anchor: Timestamp) -> [u8; 8] {
    anchor.as_micros().to_be_bytes()
}

/// The anchor a `task_anchors` value holds, if it has that shape.
pub(super) fn anchor_of(value: &[u8]) -> Option<Timestamp> {
    Timestamp::from_micros(i64::from_be_bytes(value.try_into().ok()?))
}

/// A timestamp as 8 bytes whose byte order is time order (sign bit flipped).
pub(super) fn time_bytes(at: Timestamp) -> [u8; 8] {
    (at.as_micros().cast_unsigned() ^ (1 << 63)).to_be_bytes()
}

/// `user_sessions`: user ++ login time ++ session id, so a prefix scan lists
/// a user's sessions oldest first.
pub(super) fn user_session(user: UserId, created_at: Timestamp, session: SessionId) -> [u8; 40] {
    concat(&[user.as_bytes(), &time_bytes(created_at), session.as_bytes()])
}

/// `session_refresh`: session id ++ refresh token hash.
pub(super) fn session_refresh(session: SessionId, hash: &TokenHash) -> [u8; 48] {
    concat(&[session.as_bytes(), hash])
}

/// `user_api_tokens`: user ++ token id.
pub(super) fn user_api_token(user: UserId, id: ApiTokenId) -> [u8; 32] {
    concat(&[user.as_bytes(), id.as_bytes()])
}

/// 16 bytes at `at` of a key, if the key is long enough.
fn id_at(key: &[u8], at: usize) -> Option<[u8; 16]> {
    key.get(at..at + 16)?.try_into().ok()
}

/// The session id of a `user_sessions` key.
pub(super) fn session_of_user_session(key: &[u8]) -> Option<SessionId> {
    id_at(key, 24).map(SessionId::from_bytes)
}

/// The refresh token hash of a `session_refresh` key.
pub(super) fn hash_of_session_refresh(key: &[u8]) -> Option<TokenHash> {
    key.get(16..48)?.try_into().ok()
}

/// A 16-byte id stored as a value.
pub(super) fn id_bytes(value: &[u8]) -> Option<[u8; 16]> {
    value.try_into().ok()
}

/// A 32-byte token hash stored as a value or key.
pub(super) fn hash_bytes(value: &[u8]) -> Option<TokenHash> {
    value.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_keys_sort_by_owner_then_creation() {
        let a = UserId::generate();
        let b = UserId::generate();
        let t1 = TaskId::generate();
        let t2 = TaskId::generate();
        assert!(t1 < t2);
        assert!(task(a, t1) < task(a, t2));
        assert!(task_range_start(a) <= task(a, t1));
        assert!(task(a, t2) <= task_range_end(a));
        // Every key of a sorts before every key of b (a was generated first).
        assert!(task_range_end(a) < task_range_start(b));
        assert_eq!(&task(a, t2)[16..], t2.as_bytes());
    }

    #[test]
    fn numbers_sort_numerically() {
        let u = UserId::generate();
        assert!(task_number(u, 9) < task_number(u, 10));
        assert!(task_number(u, 255) < task_number(u, 256));
        assert!(task_number(u, u64::MAX - 1) < task_number(u, u64::MAX));
    }

    #[test]
    fn times_sort_including_before_the_epoch() {
        let times = [-5_000_000i64, -1, 0, 1, 1_700_000_000_000_000];
        let encoded: Vec<[u8; 8]> = times
            .iter()
            .map(|&m| time_bytes(Timestamp::from_micros(m).expect("in range")))
            .collect();
        assert!(encoded.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn project_keys_sort_by_name_then_id() {
        let u = UserId::generate();
        let (t1, t2) = (TaskId::generate(), TaskId::generate());
        let names = [
            "Home",
            "Home-x",
            "Home.Garden",
            "Home.Garden.Beds",
            "Homework",
            "Été",
        ];
        let mut keys = Vec::new();
        for name in names {
            keys.push(task_project(u, name, t1));
            keys.push(task_project(u, name, t2));
        }
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "name, then id");
        for key in &keys {
            let (name, id) = project_key_parts(key).expect("parses");
            assert!(id == t1 || id == t2);
            assert!(names.contains(&std::str::from_utf8(name).expect("utf-8")));
        }
        assert_eq!(
            project_key_parts(&task_project(u, "Home", t1)),
            Some((&b"Home"[..], t1))
        );
        assert!(project_key_parts(&task(u, t1)).is_none(), "no end byte");
        // Every key of the owner, and nothing of anyone else's.
        let other = UserId::generate();
        let all = any_project_range(u);
        assert!(keys.iter().all(|key| all.contains(key)));
        assert!(!all.contains(&task_project(other, "Home", t1)));
        let last = TaskId::from_bytes([0xff; 16]);
        assert!(all.contains(&task_project(u, &"\u{10ffff}".repeat(100), last)));
        // `project=Home`: exactly Home, and everything inside it; not Home-x or Homework.
        let exact = project_exact_range(u, "Home");
        let subtree = project_subtree_range(u, "Home");
        let selected: Vec<&str> = names
            .into_iter()
            .filter(|n| {
                let key = task_project(u, n, t1);
                exact.contains(&key) || subtree.contains(&key)
            })
            .collect();
        assert_eq!(selected, ["Home", "Home.Garden", "Home.Garden.Beds"]);
        assert!(!subtree.contains(&task_project(u, "Home", t1)));
    }

    #[test]
    fn anchors_and_tombstones_round_trip() {
        for micros in [-62_135_596_800_000_000, -1, 0, 1_900_000_000_123_456] {
            let at = Timestamp::from_micros(micros).expect("in range");
            assert_eq!(anchor_of(&anchor_value(at)), Some(at));
        }
        assert_eq!(anchor_of(b"short"), None);
        let at = Timestamp::from_micros(5).expect("in range");
        let stone = tombstone(7, at);
        assert_eq!(tombstone_parts(&stone), Some((7, at)));
        assert_eq!(tombstone_parts(b"short"), None);
        assert_eq!(&stone[..8], &7u64.to_be_bytes());
        assert_eq!(&stone[8..], &5i64.to_be_bytes());
    }

    #[test]
    fn session_keys_round_trip() {
        let u = UserId::generate();
        let s = SessionId::generate();
        let early = Timestamp::from_micros(1_000).expect("in range");
        let late = Timestamp::from_micros(2_000).expect("in range");
        let k = user_session(u, early, s);
        assert_eq!(session_of_user_session(&k), Some(s));
        assert!(k < user_session(u, late, SessionId::from_bytes([0; 16])));
        let h = [7u8; 32];
        assert_eq!(hash_of_session_refresh(&session_refresh(s, &h)), Some(h));
        assert!(session_refresh(s, &h).starts_with(s.as_bytes()));
    }
}
