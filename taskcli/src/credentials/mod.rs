//! Where the tokens are kept: the OS keyring (one entry per server URL,
//! service `taskcli`), or, only with `--insecure-storage`, a file readable by
//! the user alone. A lock file serializes refreshes between processes.

mod file;
mod keyring;
mod lock;

pub use self::file::FileStore;
pub use self::keyring::{
    KEYRING_TIMEOUT, KeyringConfig, KeyringKind, KeyringStore, open_keyring, open_keyring_of,
    open_keyrings,
};
pub use self::lock::RefreshLock;

use crate::error::CliResult;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use taskclient::{Session, TokenPair};
use taskcore::{Timestamp, UserId};

/// The keyring service name.
pub const SERVICE: &str = "taskcli";

/// What is stored for one server.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLogin {
    /// The bearer token.
    pub access_token: String,
    /// The token that obtains the next pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the access token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// Who logged in (for messages; the server is asked when it matters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whose tokens these are: the local copy is theirs. Logins stored
    /// before there was a local copy lack it until the server is asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserId>,
}

impl fmt::Debug for StoredLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredLogin")
            .field("expires_at", &self.expires_at)
            .field("email", &self.email)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl StoredLogin {
    /// From a fresh session.
    pub fn from_session(session: &Session) -> Self {
        Self {
            user: Some(session.user.id),
            ..Self::from_pair(
                &TokenPair::from_session(session),
                session.user.email.clone(),
            )
        }
    }

    /// From a token pair and the email of whom it belongs to.
    pub fn from_pair(pair: &TokenPair, email: Option<String>) -> Self {
        Self {
            access_token: pair.access_token.clone(),
            refresh_token: pair.refresh_token.clone(),
            expires_at: pair.expires_at,
            email,
            user: None,
        }
    }

    /// The pair to hand to the SDK.
    pub fn pair(&self) -> TokenPair {
        TokenPair {
            access_token: self.access_token.clone(),
            refresh_token: self.refresh_token.clone(),
            expires_at: self.expires_at,
        }
    }

    /// Whether the access token expires within `margin` and can be refreshed.
    pub fn needs_refresh(&self, margin: Duration) -> bool {
        self.refresh_token.is_some() && self.pair().expires_within(margin)
    }
}

/// A place that holds tokens.
pub enum Store {
    /// The OS keyring.
    Keyring(KeyringStore),
    /// The `--insecure-storage` file.
    File(FileStore),
}

impl Store {
    /// The settings' name for it (`file`, `secret-service`, `keyutils`, ...).
    pub fn id(&self) -> &'static str {
        match self {
            Self::Keyring(k) => k.kind().id(),
            Self::File(_) => "file",
        }
    }

    /// Where the tokens are, in words.
    pub fn describe(&self) -> String {
        match self {
            Self::Keyring(k) => k.kind().describe().to_string(),
            Self::File(f) => format!("the file {} (readable only by you)", f.path().display()),
        }
    }

    /// The tokens stored for `server`, if any.
    pub fn load(&self, server: &str) -> CliResult<Option<StoredLogin>> {
        match self {
            Self::Keyring(k) => k.load(server),
            Self::File(f) => f.load(server),
        }
    }

    /// Stores the tokens for `server`.
    pub fn save(&self, server: &str, login: &StoredLogin) -> CliResult<()> {
        match self {
            Self::Keyring(k) => k.save(server, login),
            Self::File(f) => f.save(server, login),
        }
    }

    /// Deletes the tokens for `server`; whether there were any.
    pub fn delete(&self, server: &str) -> CliResult<bool> {
        match self {
            Self::Keyring(k) => k.delete(server),
            Self::File(f) => f.delete(server),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_tokens() {
        let login = StoredLogin {
            access_token: "secret-access".into(),
            refresh_token: Some("secret-refresh".into()),
            expires_at: None,
            email: Some("ada@example.com".into()),
            user: None,
        };
        let shown = format!("{login:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(
            !login.needs_refresh(Duration::from_secs(10)),
            "no known expiry: nothing to refresh"
        );
        let expired = StoredLogin {
            expires_at: Some(Timestamp::now()),
            ..login.clone()
        };
        assert!(expired.needs_refresh(Duration::from_secs(10)));
        let api_token = StoredLogin {
            refresh_token: None,
            ..expired
        };
        assert!(!api_token.needs_refresh(Duration::from_secs(10)));
    }
}
