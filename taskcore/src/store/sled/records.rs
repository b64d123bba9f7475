//! The values stored in the trees, as JSON. Keys carry the ids that index a
//! record; the records carry everything else.

use crate::domain::{ApiTokenId, ExternalIdentity, SessionId, Timestamp, User, UserId};
use crate::store::{ApiTokenInfo, SessionInfo, StoreError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// `users[user_id]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct UserRecord {
    /// Normalized email; `None` for a user without one.
    pub email: Option<String>,
    /// argon2id PHC string; `None` for a user who cannot log in locally.
    pub password_hash: Option<String>,
    /// Account creation.
    pub created_at: Timestamp,
    /// The provider identity of an external user (absent in records
    /// written before external users existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalIdentity>,
}

impl UserRecord {
    /// The user as the API shows it.
    pub fn user(&self, id: UserId) -> User {
        User {
            id,
            email: self.email.clone(),
            created_at: self.created_at,
        }
    }
}

/// `sessions[session_id]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SessionRecord {
    /// Whose session.
    pub user_id: UserId,
    /// Login time (part of the `user_sessions` key).
    pub created_at: Timestamp,
    /// The session's hard end.
    pub expires_at: Timestamp,
}

impl SessionRecord {
    /// The per-request view.
    pub fn info(&self, id: SessionId) -> SessionInfo {
        SessionInfo {
            id,
            user_id: self.user_id,
            expires_at: self.expires_at,
        }
    }
}

/// `refresh[hash]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct RefreshRecord {
    /// The session it continues.
    pub session_id: SessionId,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
    /// When it was rotated; kept until expiry for reuse detection.
    pub used_at: Option<Timestamp>,
}

/// `api_tokens[hash]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ApiTokenRecord {
    /// Token id.
    pub id: ApiTokenId,
    /// Whose token.
    pub user_id: UserId,
    /// The user's name for it.
    pub name: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Last use, written lazily (at most once a minute).
    pub last_used_at: Option<Timestamp>,
}

impl ApiTokenRecord {
    /// The listed view (no value, no hash).
    pub fn info(&self) -> ApiTokenInfo {
        ApiTokenInfo {
            id: self.id,
            name: self.name.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
        }
    }
}

/// Encodes a record.
pub(super) fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record)
        .map_err(|e| StoreError::backend(format!("cannot encode a record: {e}")))
}

/// Decodes a record; a record that does not decode is damaged data.
pub(super) fn decode<T: DeserializeOwned>(tree: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Incompatible(format!("a record in `{tree}` is unreadable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let now = Timestamp::now();
        let r = RefreshRecord {
            session_id: SessionId::generate(),
            expires_at: now,
            used_at: Some(now),
        };
        let bytes = encode(&r).expect("encodes");
        assert_eq!(
            decode::<RefreshRecord>("refresh", &bytes).expect("decodes"),
            r
        );
        assert!(matches!(
            decode::<RefreshRecord>("refresh", b"{}"),
            Err(StoreError::Incompatible(_))
        ));
    }
}
