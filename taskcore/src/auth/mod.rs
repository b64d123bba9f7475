//! Accounts and tokens, without HTTP: registration, login, refresh with
//! rotation and reuse detection, logout, the per-request bearer check, and
//! API tokens. Also the primitives: password hashing, token signing, cursors.

#[cfg(feature = "server")]
pub mod cursor;
#[cfg(feature = "server")]
pub mod external;
#[cfg(feature = "server")]
pub mod password;
#[cfg(feature = "server")]
pub mod tokens;

#[cfg_attr(not(feature = "server"), allow(unused_imports))]
use crate::domain::{
    ApiTokenId, Email, ExternalIdentity, Password, SessionId, Timestamp, User, UserId,
};
#[cfg(feature = "server")]
use crate::store::{
    ApiTokenInfo, NewApiToken, NewSession, RefreshOutcome, RefreshRequest, StoreError, TaskStore,
};
#[cfg(feature = "server")]
use external::{ExternalError, ExternalIssuer};
#[cfg(feature = "server")]
use password::{HashingPool, PasswordError};
use serde::{Deserialize, Serialize};
#[cfg(feature = "server")]
use std::sync::Arc;
#[cfg(feature = "server")]
use std::time::Duration;
#[cfg(feature = "server")]
use tokens::{API_TOKEN_PREFIX, AccessTokens};

/// A session ends at most this long after its login, however often it is refreshed.
#[cfg(feature = "server")]
pub const SESSION_MAX_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);
/// How often a used API token's `last_used_at` is written, in microseconds.
#[cfg(feature = "server")]
const API_TOKEN_TOUCH_MICROS: i64 = 60 * 1_000_000;
/// Live sessions one user may have; logging in past it ends the oldest.
#[cfg(feature = "server")]
pub const MAX_SESSIONS_PER_USER: usize = 100;
/// Live API tokens one user may have; creating one past it is refused.
#[cfg(feature = "server")]
pub const MAX_API_TOKENS_PER_USER: usize = 100;

/// Lifetimes and limits of tokens.
#[cfg(feature = "server")]
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// Access-token lifetime.
    pub token_ttl: Duration,
    /// Refresh-token lifetime.
    pub refresh_ttl: Duration,
    /// Window after a rotation in which reusing the old token revokes nothing.
    pub refresh_reuse_grace: Duration,
}

/// The body of a successful register, login or refresh. Its `Debug` output
/// hides both tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user.
    pub user: User,
    /// A JWT for the `Authorization: Bearer` header.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single-use token for `POST /api/auth/refresh`.
    pub refresh_token: String,
}

/// A newly created API token: the only time its value is shown. Its
/// `Debug` output hides the value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedApiToken {
    /// Token id (for revoking).
    pub id: ApiTokenId,
    /// The user's name for it.
    pub name: String,
    /// The value, `tsk_...`.
    pub token: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("access_token", &"***")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &"***")
            .finish()
    }
}

impl std::fmt::Debug for CreatedApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("token", &"***")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Who is making a request, and with what kind of credential.
#[cfg(feature = "server")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user: UserId,
    /// The credential.
    pub via: Credential,
    /// When the token stops being valid by itself (an access token's `exp`),
    /// in seconds since the epoch; `None` for API tokens, whose expiry the
    /// store checks at each use. A live stream ends then.
    pub expires_at: Option<i64>,
}

/// The kind of bearer token a request carried.
#[cfg(feature = "server")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// An access token of a login session.
    Session(SessionId),
    /// An API token.
    ApiToken(ApiTokenId),
    /// An access token of an external identity provider (its sessions are
    /// the provider's: there is none here to revoke).
    External,
}

/// Why an authentication step failed.
#[cfg(feature = "server")]
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown email or wrong password (deliberately the same).
    #[error("the email or password is wrong")]
    InvalidCredentials,
    /// The email is registered already.
    #[error("the email is already registered")]
    EmailTaken,
    /// The refresh token is unknown, expired, used, or its session ended.
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    /// The bearer token is not valid.
    #[error("the access token is not valid")]
    InvalidToken,
    /// An external token names a signing key that is not loaded: refetching
    /// the provider's JWK set may help. Otherwise the same as `InvalidToken`.
    #[error("the access token's signing key is not known")]
    UnknownSigningKey,
    /// An API token may not do this (manage API tokens, log out, delete the account).
    #[error("an API token cannot do this")]
    ApiTokenNotAllowed,
    /// Too many password hashes in flight.
    #[error("the server is busy hashing passwords")]
    Overloaded,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something that should not happen (signing failed, hashing failed).
    #[error("internal error: {0}")]
    Internal(String),
}

#[cfg(feature = "server")]
impl From<PasswordError> for AuthError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Overloaded => Self::Overloaded,
            PasswordError::Hashing(m) => Self::Internal(m),
        }
    }
}

/// Accounts and tokens over a [`TaskStore`].
#[cfg(feature = "server")]
pub struct Accounts {
    store: Arc<dyn TaskStore>,
    tokens: AccessTokens,
    hashing: HashingPool,
    settings: AuthSettings,
    external: Option<Arc<ExternalIssuer>>,
    local_tokens: bool,
}

#[cfg(feature = "server")]
impl Accounts {
    /// Accounts on `store`, signing with `secret`, hashing on `hashing`.
    pub fn new(
        store: Arc<dyn TaskStore>,
        secret: &[u8],
        hashing: HashingPool,
        settings: AuthSettings,
    ) -> Self {
        Self {
            store,
            tokens: AccessTokens::new(secret),
            hashing,
            settings,
            external: None,
            local_tokens: true,
        }
    }

    /// Also accepts tokens of an external identity provider. Its issuer
    /// must not be `taskserver` (the caller checks).
    pub fn with_external(mut self, issuer: Arc<ExternalIssuer>) -> Self {
        self.external = Some(issuer);
        self
    }

    /// Refuses locally issued access tokens (`--no-local-accounts`); API
    /// tokens and external tokens still work.
    pub fn without_local_tokens(mut self) -> Self {
        self.local_tokens = false;
        self
    }

    /// The external issuer, if one is configured.
    pub fn external(&self) -> Option<&Arc<ExternalIssuer>> {
        self.external.as_ref()
    }

    /// The password-hashing pool.
    pub fn hashing(&self) -> &HashingPool {
        &self.hashing
    }

    /// Creates a local account and logs it in.
    pub async fn register(&self, email: Email, password: Password) -> Result<Session, AuthError> {
        // Cheap check first, so a taken email costs no hash; the store re-checks atomically.
        if self.store.credentials(&email).await?.is_some() {
            return Err(AuthError::EmailTaken);
        }
        let hash = self.hashing.hash(password).await?;
        let user = match self.store.create_user(&email, &hash).await {
            Err(StoreError::EmailTaken) => return Err(AuthError::EmailTaken),
            other => other?,
        };
        self.start_session(user).await
    }

    /// Logs in. An unknown email costs the same work as a wrong password.
    pub async fn login(
        &self,
        email: Option<Email>,
        password: Password,
    ) -> Result<Session, AuthError> {
        let credentials = match &email {
            Some(email) => self.store.credentials(email).await?,
            None => None,
        };
        let (user, stored) = match credentials {
            Some(c) => (Some(c.user), Some(c.password_hash)),
            None => (None, None),
        };
        let verified = self.hashing.verify(password, stored).await?;
        match user {
            Some(user) if verified => self.start_session(user).await,
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    /// Rotates a refresh token into a new session response.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session, AuthError> {
        let now = Timestamp::now();
        let new_refresh = tokens::new_refresh_token();
        let outcome = self
            .store
            .refresh(RefreshRequest {
                presented: tokens::token_hash(refresh_token),
                replacement: tokens::token_hash(&new_refresh),
                now,
                refresh_ttl: self.settings.refresh_ttl,
                reuse_grace: self.settings.refresh_reuse_grace,
            })
            .await?;
        match outcome {
            RefreshOutcome::Rotated { user, session, .. } => {
                self.session_response(user, session, now, new_refresh)
            }
            RefreshOutcome::ReusedSessionRevoked => {
                tracing::warn!("a used refresh token was presented again; its session is revoked");
                Err(AuthError::InvalidRefreshToken)
            }
            RefreshOutcome::Invalid | RefreshOutcome::ReusedWithinGrace => {
                Err(AuthError::InvalidRefreshToken)
            }
        }
    }

    /// Ends the caller's session, and the session of `refresh_token` if given.
    pub async fn logout(
        &self,
        session: SessionId,
        refresh_token: Option<&str>,
    ) -> Result<(), AuthError> {
        self.store.revoke_session(session).await?;
        if let Some(token) = refresh_token
            && let Some(other) = self
                .store
                .session_of_refresh(&tokens::token_hash(token))
                .await?
        {
            self.store.revoke_session(other.id).await?;
        }
        Ok(())
    }

    /// Checks a bearer token: an API token (`tsk_...`, one lookup) or an
    /// access token (signature, claims, then one lookup of its session).
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        let now = Timestamp::now();
        if bearer.starts_with(API_TOKEN_PREFIX) {
            let hash = tokens::token_hash(bearer);
            let found = self
                .store
                .api_token_owner(&hash, now)
                .await?
                .ok_or(AuthError::InvalidToken)?;
            // At most one (non-durable) write a minute per token: `last_used_at` may lag.
            let stale = found
                .last_used_at
                .is_none_or(|last| now.as_micros() - last.as_micros() >= API_TOKEN_TOUCH_MICROS);
            if stale {
                self.store.touch_api_token(&hash, now).await?;
            }
            return Ok(Principal {
                user: found.user,
                via: Credential::ApiToken(found.id),
                expires_at: None,
            });
        }
        // The unverified `iss` only picks the keys: `taskserver` tokens are
        // checked with the local secret alone, the external issuer's with
        // its keys alone, anything else is refused.
        if let Some(external) = &self.external {
            match external::unverified_issuer(bearer) {
                Some(iss) if iss == tokens::LOCAL_ISSUER => {}
                Some(iss) if iss == external.issuer() => {
                    return self.authenticate_external(external, bearer).await;
                }
                _ => return Err(AuthError::InvalidToken),
            }
        }
        if !self.local_tokens {
            return Err(AuthError::InvalidToken);
        }
        let claims = self
            .tokens
            .verify(bearer)
            .map_err(|_| AuthError::InvalidToken)?;
        match self.store.session(claims.sid, now).await? {
            Some(session) if session.user_id == claims.sub => Ok(Principal {
                user: claims.sub,
                via: Credential::Session(claims.sid),
                expires_at: Some(claims.exp),
            }),
            _ => Err(AuthError::InvalidToken),
        }
    }

    /// An external token's user, created on their first valid request.
    async fn authenticate_external(
        &self,
        external: &ExternalIssuer,
        bearer: &str,
    ) -> Result<Principal, AuthError> {
        let subject = external.verify(bearer).map_err(|e| match e {
            ExternalError::UnknownKey => AuthError::UnknownSigningKey,
            ExternalError::Invalid => AuthError::InvalidToken,
        })?;
        let identity = ExternalIdentity {
            issuer: external.issuer().to_owned(),
            subject: subject.subject,
        };
        let user = self
            .store
            .external_user(&identity, subject.email.as_deref())
            .await?;
        Ok(Principal {
            user: user.id,
            via: Credential::External,
            expires_at: Some(subject.expires_at),
        })
    }

    /// The user behind a principal.
    pub async fn user(&self, id: UserId) -> Result<User, AuthError> {
        self.store.user(id).await?.ok_or(AuthError::InvalidToken)
    }

    /// Deletes the caller's account and everything of theirs; every token of
    /// it stops working at once. A local account proves itself with its
    /// password (verified on the hashing pool; a missing or wrong one is
    /// [`AuthError::InvalidCredentials`]); an external user's token is
    /// enough; an API token is refused.
    pub async fn delete_account(
        &self,
        principal: &Principal,
        password: Option<Password>,
    ) -> Result<(), AuthError> {
        match principal.via {
            Credential::ApiToken(_) => return Err(AuthError::ApiTokenNotAllowed),
            Credential::External => {}
            Credential::Session(_) => {
                let user = self.user(principal.user).await?;
                let credentials = match user.email.as_deref().map(Email::parse) {
                    Some(Ok(email)) => self.store.credentials(&email).await?,
                    _ => None,
                };
                let hash = credentials
                    .filter(|c| c.user.id == principal.user)
                    .map(|c| c.password_hash);
                let Some(password) = password else {
                    return Err(AuthError::InvalidCredentials);
                };
                if !self.hashing.verify(password, hash).await? {
                    return Err(AuthError::InvalidCredentials);
                }
            }
        }
        self.store.delete_user(principal.user).await?;
        Ok(())
    }

    /// Creates an API token for `user`, valid for `days`.
    pub async fn create_api_token(
        &self,
        user: UserId,
        name: String,
        days: u32,
    ) -> Result<CreatedApiToken, AuthError> {
        let token = tokens::new_api_token();
        let created_at = Timestamp::now();
        let info = self
            .store
            .create_api_token(
                NewApiToken {
                    id: ApiTokenId::generate(),
                    user_id: user,
                    name,
                    hash: tokens::token_hash(&token),
                    created_at,
                    expires_at: created_at.plus(Duration::from_secs(u64::from(days) * 86_400)),
                },
                MAX_API_TOKENS_PER_USER,
            )
            .await?;
        Ok(CreatedApiToken {
            id: info.id,
            name: info.name,
            token,
            created_at: info.created_at,
            expires_at: info.expires_at,
        })
    }

    /// The user's live API tokens.
    pub async fn api_tokens(&self, user: UserId) -> Result<Vec<ApiTokenInfo>, AuthError> {
        Ok(self.store.api_tokens(user, Timestamp::now()).await?)
    }

    /// Revokes one of the user's API tokens.
    pub async fn revoke_api_token(&self, user: UserId, id: ApiTokenId) -> Result<(), AuthError> {
        Ok(self
            .store
            .revoke_api_token(user, id, Timestamp::now())
            .await?)
    }

    async fn start_session(&self, user: User) -> Result<Session, AuthError> {
        let now = Timestamp::now();
        let refresh_token = tokens::new_refresh_token();
        let expires_at = now.plus(SESSION_MAX_LIFETIME);
        let session = SessionId::generate();
        let refresh_expires_at = now.plus(self.settings.refresh_ttl).min(expires_at);
        self.store
            .create_session(
                NewSession {
                    id: session,
                    user_id: user.id,
                    created_at: now,
                    expires_at,
                    refresh_hash: tokens::token_hash(&refresh_token),
                    refresh_expires_at,
                },
                MAX_SESSIONS_PER_USER,
            )
            .await?;
        self.session_response(user, session, now, refresh_token)
    }

    fn session_response(
        &self,
        user: User,
        session: SessionId,
        now: Timestamp,
        refresh_token: String,
    ) -> Result<Session, AuthError> {
        let access_token = self
            .tokens
            .issue(user.id, session, now, self.settings.token_ttl)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(Session {
            user,
            access_token,
            token_type: "Bearer".into(),
            expires_in: self.settings.token_ttl.as_secs(),
            refresh_token,
        })
    }
}
