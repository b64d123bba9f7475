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
