//! Opaque cursors: a position sealed with AES-256-GCM, bound to the user,
//! to what it is for (a list page or the change feed) and to the query that
//! issued it, so a cursor reveals nothing about any task and is refused for
//! another user, another purpose or another query.

use crate::domain::{Position, UserId};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Seals and opens cursors with a key derived from the server's secret (so
/// every replica that shares the secret accepts the others' cursors).
pub struct CursorCodec {
    key: LessSafeKey,
}

impl CursorCodec {
    /// Derives the cursor key from the server secret.
    pub fn new(secret: &[u8]) -> Self {
        let derive = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let tag = hmac::sign(&derive, b"taskserver list cursor key v1");
        let key = UnboundKey::new(&AES_256_GCM, tag.as_ref())
            .map(LessSafeKey::new)
            .unwrap_or_else(|_| unreachable!("a SHA-256 tag is a valid AES-256 key"));
        Self { key }
    }

    /// An opaque list cursor for `position`, valid for `owner` and this
    /// query fingerprint.
    pub fn seal(&self, owner: UserId, fingerprint: &str, position: &Position) -> String {
        self.seal_for(Purpose::List, owner, fingerprint, position)
    }

    /// The position in a list cursor, if this codec sealed it for this owner and query.
    pub fn open(&self, owner: UserId, fingerprint: &str, cursor: &str) -> Option<Position> {
        self.open_for(Purpose::List, owner, fingerprint, cursor)
    }

    /// An opaque cursor sealing `payload`, valid for `purpose`, `owner` and
    /// this fingerprint only.
    pub fn seal_for<T: Serialize>(
        &self,
        purpose: Purpose,
        owner: UserId,
        fingerprint: &str,
        payload: &T,
    ) -> String {
        let nonce_bytes = super::tokens::random_bytes::<NONCE_LEN>();
        let mut data = serde_json::to_vec(payload).unwrap_or_default();
        let aad = associated_data(purpose, owner, fingerprint);
        let sealed = self.key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(aad.as_slice()),
            &mut data,
        );
        if sealed.is_err() {
            return String::new();
        }
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&data);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The payload of a cursor, if this codec sealed it for this purpose,
    /// owner and fingerprint.
    pub fn open_for<T: DeserializeOwned>(
        &self,
        purpose: Purpose,
        owner: UserId,
        fingerprint: &str,
        cursor: &str,
    ) -> Option<T> {
        let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        if raw.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let aad = associated_data(purpose, owner, fingerprint);
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad.as_slice()), &mut sealed)
            .ok()?;
        serde_json::from_slice(plain).ok()
    }
}

/// What a cursor is for. It is part of the associated data, so a cursor
/// of one purpose never opens as another's (a list cursor is no feed cursor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A page of `GET /api/tasks`.
    List,
    /// A position in the change feed (`GET /api/changes`, `GET /api/events`).
    Feed,
}

impl Purpose {
    /// The label in the associated data, between the owner and the
    /// fingerprint. Lists have none, so list cursors issued before feed
    /// cursors existed still open; the feed's starts with a NUL, which
    /// begins no list fingerprint (`status=...`), so the two cannot meet.
    fn label(self) -> &'static [u8] {
        match self {
            Self::List => b"",
            Self::Feed => b"\0feed",
        }
    }
}

fn associated_data(purpose: Purpose, owner: UserId, fingerprint: &str) -> Vec<u8> {
    let label = purpose.label();
    let mut aad = Vec::with_capacity(16 + label.len() + fingerprint.len());
    aad.extend_from_slice(owner.as_bytes());
    aad.extend_from_slice(label);
    aad.extend_from_slice(fingerprint.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{SortKey, TaskId};

    #[test]
    fn cursors_open_only_for_their_owner_and_query() {
        let codec = CursorCodec::new(b"0123456789abcdef0123456789abcdef");
        let owner = UserId::generate();
        let position = Position {
            key: SortKey::Title("milk".into()),
            id: TaskId::generate(),
        };
        let cursor = codec.seal(owner, "sort=title", &position);
        assert!(!cursor.contains("milk"));
        assert_eq!(codec.open(owner, "sort=title", &cursor), Some(position));
        assert_eq!(codec.open(UserId::generate(), "sort=title", &cursor), None);
        assert_eq!(codec.open(owner, "sort=-title", &cursor), None);
        assert_eq!(codec.open(owner, "sort=title", "garbage"), None);
        let other = CursorCodec::new(b"another-secret-another-secret-xx");
        assert_eq!(other.open(owner, "sort=title", &cursor), None);
    }

    #[test]
    fn a_cursor_opens_only_for_its_purpose() {
        let codec = CursorCodec::new(b"0123456789abcdef0123456789abcdef");
        let owner = UserId::generate();
        let position = Position {
            key: SortKey::Created,
            id: TaskId::generate(),
        };
        let list = codec.seal(owner, "", &position);
        let feed = codec.seal_for(Purpose::Feed, owner, "", &position);
        assert_eq!(codec.open(owner, "", &list), Some(position.clone()));
        assert_eq!(codec.open(owner, "", &feed), None);
        assert_eq!(
            codec.open_for::<Position>(Purpose::Feed, owner, "", &list),
            None
        );
        assert_eq!(
            codec.open_for(Purpose::Feed, owner, "", &feed),
            Some(position)
        );
    }

    /// List cursors that a release before the feed issued still open: their
    /// associated data is the owner and the query's fingerprint, as then.
    #[test]
    fn list_cursors_keep_the_associated_data_of_earlier_releases() {
        let owner = UserId::generate();
        let mut before = owner.as_bytes().to_vec();
        before.extend_from_slice(b"status=all&q=&tag=&priority=&sort=created&project=");
        assert_eq!(
            associated_data(
                Purpose::List,
                owner,
                "status=all&q=&tag=&priority=&sort=created&project="
            ),
            before
        );
    }
}
