//! Access tokens (HS256 JWTs), refresh tokens and API tokens.
//!
//! Refresh and API tokens are random strings that stores keep only as
//! SHA-256 digests: a leaked database reveals no usable token.

use crate::domain::{SessionId, Timestamp, UserId};
use crate::store::TokenHash;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `iss` and `aud` of locally issued access tokens.
pub const LOCAL_ISSUER: &str = "taskserver";
/// Prefix that marks a bearer token as an API token.
pub const API_TOKEN_PREFIX: &str = "tsk_";
/// Random bytes in a refresh or API token (256 bits).
const TOKEN_BYTES: usize = 32;

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user.
    pub sub: UserId,
    /// The login session; revoking it revokes the token.
    pub sid: SessionId,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Always `taskserver`.
    pub iss: String,
    /// Always `taskserver`.
    pub aud: String,
}

/// Why an access token was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid access token: {0}")]
pub struct TokenError(String);

/// Signs and verifies access tokens with one HS256 secret. The algorithm is
/// pinned: the token header's `alg` never chooses it.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    header: Header,
    verified: VerifiedTokens,
}

/// How many verified tokens [`AccessTokens`] remembers before it starts
/// over: a few hundred bytes each, so well under 2 MiB.
const VERIFIED_TOKENS: usize = 4096;

/// Tokens that passed [`AccessTokens::verify`], with their claims: a client
/// sends one token with every request until it expires, and checking its
/// signature and parsing it again cost a seventh of a read request's CPU.
/// Keyed by the whole token, so only a byte-identical token is taken from
/// here, and only before its `exp` (the session is still looked up on every
/// request, so a logout ends the token at once).
#[derive(Default)]
struct VerifiedTokens(std::sync::Mutex<std::collections::HashMap<Box<str>, AccessClaims>>);

impl VerifiedTokens {
    fn get(&self, token: &str, now_secs: i64) -> Option<AccessClaims> {
        let cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(token).filter(|c| c.exp > now_secs).cloned()
    }

    fn insert(&self, token: &str, claims: &AccessClaims) {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= VERIFIED_TOKENS {
            // Starting over keeps the bound without bookkeeping per hit;
            // the tokens in use are verified once more and come back.
            cache.clear();
        }
        cache.insert(token.into(), claims.clone());
    }
}

impl AccessTokens {
    /// Keys from a secret (the caller checks it is at least 32 bytes).
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[LOCAL_ISSUER]);
        validation.set_audience(&[LOCAL_ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Our own clock issued it: no leeway needed (`docs/api.md` allows at most 30 s).
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            header: Header::new(Algorithm::HS256),
            verified: VerifiedTokens::default(),
        }
    }

    /// Issues a token for a session, valid for `ttl` from `now`.
    pub fn issue(
        &self,
        user: UserId,
        session: SessionId,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<String, TokenError> {
        let iat = now.as_secs();
        let claims = AccessClaims {
            sub: user,
            sid: session,
            iat,
            exp: iat.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
            iss: LOCAL_ISSUER.to_string(),
            aud: LOCAL_ISSUER.to_string(),
        };
        jsonwebtoken::encode(&self.header, &claims, &self.encoding)
            .map_err(|e| TokenError(e.to_string()))
    }

    /// Checks signature, algorithm, `exp`, `iss` and `aud`. Whether the
    /// session is live is the caller's second step.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        // Not yet at `exp` by the clock jsonwebtoken reads: a token it would
        // refuse is never answered from the cache.
        let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
        if let Some(claims) = self.verified.get(token, now) {
            return Ok(claims);
        }
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError(e.to_string()))?;
        self.verified.insert(token, &claims);
        Ok(claims)
    }
}

/// Base64url without padding.
pub fn encode_base64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Random bytes from the system's secure generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        // The OS generator failing is not something to continue through.
        panic!("the system's secure random number generator failed");
    }
    bytes
}

/// A new refresh token: 256 random bits, base64url.
pub fn new_refresh_token() -> String {
    encode_base64(&random_bytes::<TOKEN_BYTES>())
}

/// A new API token: `tsk_` and 256 random bits, base64url.
pub fn new_api_token() -> String {
    format!(
        "{API_TOKEN_PREFIX}{}",
        encode_base64(&random_bytes::<TOKEN_BYTES>())
    )
}

/// A new JWT secret: 64 random bytes.
pub fn new_jwt_secret() -> Vec<u8> {
    random_bytes::<64>().to_vec()
}

/// The SHA-256 digest under which a token is stored.
pub fn token_hash(token: &str) -> TokenHash {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest.as_ref());
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn tokens_round_trip_and_foreign_ones_fail() {
        let keys = AccessTokens::new(SECRET);
        let (user, sid) = (UserId::generate(), SessionId::generate());
        let token = keys
            .issue(user, sid, Timestamp::now(), Duration::from_secs(60))
            .expect("issue");
        let claims = keys.verify(&token).expect("valid");
        assert_eq!((claims.sub, claims.sid), (user, sid));
        let other = AccessTokens::new(b"another-secret-another-secret-xx");
        assert!(other.verify(&token).is_err());
        let expired = keys
            .issue(
                user,
                sid,
                Timestamp::from_micros(0).expect("epoch"),
                Duration::from_secs(60),
            )
            .expect("issue");
        assert!(keys.verify(&expired).is_err());
        assert!(keys.verify("garbage").is_err());
    }

    /// A token answered from the cache of verified tokens ends at its
    /// `exp` all the same, and only the very same token is answered there.
    #[test]
    fn a_verified_token_still_expires_and_a_tampered_copy_still_fails() {
        let keys = AccessTokens::new(SECRET);
        let now = Timestamp::now();
        // Issued 59 s ago for 60 s: `exp` is a second or two away.
        let issued = Timestamp::from_micros(now.as_micros() - 59_000_000).expect("time");
        let token = keys
            .issue(
                UserId::generate(),
                SessionId::generate(),
                issued,
                Duration::from_secs(60),
            )
            .expect("issue");
        let claims = keys.verify(&token).expect("valid");
        assert_eq!(keys.verify(&token).expect("valid from the cache"), claims);
        let mut tampered = token.clone();
        let last = tampered.pop().expect("not empty");
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(keys.verify(&tampered).is_err());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while jsonwebtoken::get_current_timestamp() as i64 <= claims.exp {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(keys.verify(&token).is_err(), "expired, cached or not");
    }

    #[test]
    fn random_tokens_have_their_shapes() {
        assert!(new_api_token().starts_with("tsk_"));
        assert!(new_refresh_token().len() >= 43);
        assert_ne!(new_refresh_token(), new_refresh_token());
        assert_eq!(token_hash("a"), token_hash("a"));
    }
}
