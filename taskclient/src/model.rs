//! Response and request bodies the API has beyond the `taskcore` domain types.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use taskcore::Timestamp;

pub use taskcore::auth::{CreatedApiToken, Session};
pub use taskcore::store::ApiTokenInfo;

/// The tokens a client holds: what a caller persists between runs.
///
/// `access_token` may also be an API token (`tsk_...`), which has no refresh
/// token and no known expiry. Its `Debug` output hides both tokens.
///
/// ```
/// use taskclient::TokenPair;
///
/// let pair = TokenPair::access_only("tsk_example");
/// assert!(pair.refresh_token.is_none());
/// assert!(!pair.is_expired());
/// assert!(!format!("{pair:?}").contains("tsk_example"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPair {
    /// The bearer token sent with each request.
    pub access_token: String,
    /// The token that obtains a new pair when the access token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the access token expires, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

impl TokenPair {
    /// The token pair of a session, with the access token's expiry computed
    /// from `expires_in` and the current time.
    ///
    /// ```
    /// # use taskclient::{Session, TokenPair};
    /// # let session: Session = serde_json::from_str(r#"{"user":{"id":"0193b3a4-7a40-7cc0-8000-000000000001",
    /// #   "email":"ada@example.com","created_at":"2030-01-01T00:00:00Z"},"access_token":"a",
    /// #   "token_type":"Bearer","expires_in":900,"refresh_token":"r"}"#).expect("valid");
    /// let pair = TokenPair::from_session(&session);
    /// assert_eq!(pair.refresh_token.as_deref(), Some("r"));
    /// assert!(pair.expires_at.is_some());
    /// ```
    pub fn from_session(session: &Session) -> Self {
        Self {
            access_token: session.access_token.clone(),
            refresh_token: Some(session.refresh_token.clone()),
            expires_at: Some(Timestamp::now().plus(Duration::from_secs(session.expires_in))),
        }
    }

    /// Just an access token (or an API token): no refresh, no known expiry.
    pub fn access_only(access_token: impl Into<String>) -> Self {
        Self {
            access_token: access_token.into(),
            refresh_token: None,
            expires_at: None,
        }
    }

    /// Whether the access token's known expiry has passed.
    pub fn is_expired(&self) -> bool {
        self.expires_within(Duration::ZERO)
    }

    /// Whether the access token's known expiry is less than `margin` away (or past).
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskclient::TokenPair;
    /// use taskcore::Timestamp;
    ///
    /// let mut pair = TokenPair::access_only("a");
    /// pair.expires_at = Some(Timestamp::now().plus(Duration::from_secs(60)));
    /// assert!(!pair.expires_within(Duration::from_secs(10)));
    /// assert!(pair.expires_within(Duration::from_secs(120)));
    /// ```
    pub fn expires_within(&self, margin: Duration) -> bool {
        match self.expires_at {
            Some(at) => Timestamp::now().plus(margin) >= at,
            None => false,
        }
    }
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"***")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The body of `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok` when the process is up.
    pub status: String,
}

#[derive(Serialize)]
pub(crate) struct CredentialsBody<'a> {
    pub email: &'a str,
    pub password: &'a str,
}

#[derive(Serialize)]
pub(crate) struct PasswordBody<'a> {
    pub password: &'a str,
}

#[derive(Serialize)]
pub(crate) struct RefreshBody<'a> {
    pub refresh_token: &'a str,
}

#[derive(Serialize)]
pub(crate) struct NewApiTokenBody<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u32>,
}

#[derive(Deserialize)]
pub(crate) struct ApiTokenList {
    pub tokens: Vec<ApiTokenInfo>,
}
