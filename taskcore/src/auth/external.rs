//! Tokens of an external identity provider (Better Auth, Auth0, Keycloak,
//! any OIDC provider): verified with keys it publishes (a JWK set), PEM
//! public keys, or a shared HS256 secret.
//!
//! The algorithm always comes from the key: an Ed25519 key verifies EdDSA
//! only, a P-256 key ES256 only, an RSA key RS256 (or the RSA algorithm its
//! JWK names), the shared secret HS256 only. A token's `alg` that does not
//! match is refused, so `none` and "HS256 over a public key" cannot pass.
//! Symmetric keys in a JWK set are ignored.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::sync::{Arc, RwLock};

/// Clock skew tolerated on `exp` and `nbf` of external tokens, in seconds.
pub const EXTERNAL_LEEWAY_SECS: u64 = 30;

/// One trusted key with the one algorithm it verifies.
pub struct VerifyingKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// The key's id, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The only algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// A key that could not be used, in one sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// The claims of an external token that the server uses.
#[derive(Debug, Deserialize)]
struct ExternalClaims {
    sub: String,
    exp: i64,
    #[serde(default)]
    email: Option<serde_json::Value>,
}

/// Who a valid external token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalSubject {
    /// The provider's id for the user (`sub`).
    pub subject: String,
    /// The `email` claim, when it is a string.
    pub email: Option<String>,
    /// When the token stops being accepted (`exp` and the leeway), in
    /// seconds since the epoch.
    pub expires_at: i64,
}

/// Why an external token was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExternalError {
    /// No configured key could be tried: the token names a `kid` that is not
    /// known (or the JWK set is not loaded yet). Refetching the set may help.
    #[error("the token's signing key is not known")]
    UnknownKey,
    /// The token is not valid.
    #[error("the token is not valid")]
    Invalid,
}

/// An external issuer: its `iss`, the `aud` it must name, and the keys
/// trusted for it. Keys from a JWK set can be replaced at any time (an
/// atomic swap of an `Arc`); static keys (PEM files, the shared secret) are
/// fixed.
pub struct ExternalIssuer {
    issuer: String,
    audience: String,
    static_keys: Vec<VerifyingKey>,
    uses_jwks: bool,
    jwks: RwLock<Arc<Vec<VerifyingKey>>>,
}

impl ExternalIssuer {
    /// An issuer with no keys yet; add them with [`with_pem`](Self::with_pem),
    /// [`with_secret`](Self::with_secret) and [`replace_jwks`](Self::replace_jwks).
    /// `uses_jwks` says whether keys come from a JWK set (readiness waits for them).
    pub fn new(issuer: &str, audience: &str, uses_jwks: bool) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            static_keys: Vec::new(),
            uses_jwks,
            jwks: RwLock::new(Arc::new(Vec::new())),
        }
    }

    /// The configured `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Adds a PEM public key (Ed25519, P-256 or RSA; SubjectPublicKeyInfo
    /// or PKCS#1). RSA keys verify RS256.
    pub fn with_pem(mut self, pem: &[u8]) -> Result<Self, KeyError> {
        let der = pem_to_der(pem)?;
        let (algorithm, key) = classify_der(&der)?;
        self.static_keys.push(self.key(None, algorithm, key));
        Ok(self)
    }

    /// Adds the shared HS256 secret.
    pub fn with_secret(mut self, secret: &[u8]) -> Self {
        let key = DecodingKey::from_secret(secret);
        self.static_keys.push(self.key(None, Algorithm::HS256, key));
        self
    }

    /// Builds the usable keys of a JWK set document. Keys that cannot be
    /// used (symmetric, unknown curve, an `alg` that does not fit the key)
    /// are left out and described in the second value.
    pub fn keys_from_jwks(
        &self,
        document: &[u8],
    ) -> Result<(Vec<VerifyingKey>, Vec<String>), KeyError> {
        let set: JwkSet = serde_json::from_slice(document)
            .map_err(|e| KeyError(format!("the JWK set is not valid JSON of a JWK set: {e}")))?;
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for jwk in &set.keys {
            match jwk_key(jwk) {
                Ok((algorithm, key)) => {
                    keys.push(self.key(jwk.common.key_id.clone(), algorithm, key));
                }
                Err(why) => skipped.push(format!(
                    "key {}: {why}",
                    jwk.common.key_id.as_deref().unwrap_or("without kid")
                )),
            }
        }
        Ok((keys, skipped))
    }

    /// Replaces the keys that came from the JWK set.
    pub fn replace_jwks(&self, keys: Vec<VerifyingKey>) {
        let keys = Arc::new(keys);
        match self.jwks.write() {
            Ok(mut guard) => *guard = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
    }

    /// How many keys of the JWK set are loaded.
    pub fn jwks_len(&self) -> usize {
        self.current_jwks().len()
    }

    /// Whether every key source is loaded: true without a JWK set, else
    /// once the set has keys.
    pub fn ready(&self) -> bool {
        !self.uses_jwks || self.jwks_len() > 0
    }

    fn current_jwks(&self) -> Arc<Vec<VerifyingKey>> {
        match self.jwks.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn key(&self, kid: Option<String>, algorithm: Algorithm, key: DecodingKey) -> VerifyingKey {
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = EXTERNAL_LEEWAY_SECS;
        VerifyingKey {
            kid,
            algorithm,
            key,
            validation,
        }
    }

    /// Verifies a token of this issuer. A token with a `kid` is checked
    /// against the key with that id; keys without an id (PEM files, the
    /// shared secret) are tried when no key has it. A token without `kid`
    /// is checked against each key in turn.
    pub fn verify(&self, token: &str) -> Result<ExternalSubject, ExternalError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| ExternalError::Invalid)?;
        let jwks = self.current_jwks();
        let candidates: Vec<&VerifyingKey> = match &header.kid {
            Some(kid) => {
                let named: Vec<&VerifyingKey> = jwks
                    .iter()
                    .chain(&self.static_keys)
                    .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
                    .collect();
                if named.is_empty() {
                    self.static_keys
                        .iter()
                        .filter(|k| k.kid.is_none())
                        .collect()
                } else {
                    named
                }
            }
            None => jwks.iter().chain(&self.static_keys).collect(),
        };
        // The key decides the algorithm: a key of another algorithm is not tried.
        for key in candidates.iter().filter(|k| k.algorithm == header.alg) {
            if let Ok(data) =
                jsonwebtoken::decode::<ExternalClaims>(token, &key.key, &key.validation)
            {
                let claims = data.claims;
                if claims.sub.is_empty() {
                    return Err(ExternalError::Invalid);
                }
                let email = match claims.email {
                    Some(serde_json::Value::String(email)) => Some(email),
                    _ => None,
                };
                return Ok(ExternalSubject {
                    subject: claims.sub,
                    email,
                    expires_at: claims.exp.saturating_add_unsigned(EXTERNAL_LEEWAY_SECS),
                });
            }
        }
        // A newer JWK set may have the key: when the token names no key of
        // the set, or names none at all. The caller bounds the refetches.
        let known_kid = header
            .kid
            .as_deref()
            .is_some_and(|kid| jwks.iter().any(|k| k.kid.as_deref() == Some(kid)));
        if self.uses_jwks && !known_kid {
            return Err(ExternalError::UnknownKey);
        }
        Err(ExternalError::Invalid)
    }
}

/// The key and algorithm of one JWK, or why it cannot be used.
fn jwk_key(jwk: &Jwk) -> Result<(Algorithm, DecodingKey), String> {
    let named = jwk.common.key_algorithm;
    let algorithm = match (&jwk.algorithm, named) {
        (AlgorithmParameters::OctetKey(_), _) => {
            return Err("symmetric keys in a JWK set are ignored".into());
        }
        (AlgorithmParameters::OctetKeyPair(p), None | Some(KeyAlgorithm::EdDSA))
            if p.curve == EllipticCurve::Ed25519 =>
        {
            Algorithm::EdDSA
        }
        (AlgorithmParameters::EllipticCurve(p), None | Some(KeyAlgorithm::ES256))
            if p.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        (AlgorithmParameters::RSA(_), None) => Algorithm::RS256,
        (AlgorithmParameters::RSA(_), Some(alg)) => match alg {
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::RS384 => Algorithm::RS384,
            KeyAlgorithm::RS512 => Algorithm::RS512,
            KeyAlgorithm::PS256 => Algorithm::PS256,
            KeyAlgorithm::PS384 => Algorithm::PS384,
            KeyAlgorithm::PS512 => Algorithm::PS512,
            other => return Err(format!("`alg` {other} does not fit an RSA key")),
        },
        (AlgorithmParameters::OctetKeyPair(_), _) | (AlgorithmParameters::EllipticCurve(_), _) => {
            return Err("only Ed25519 (EdDSA) and P-256 (ES256) curve keys are supported".into());
        }
        _ => return Err("unsupported key type".into()),
    };
    if let Some(jsonwebtoken::jwk::PublicKeyUse::Encryption) = jwk.common.public_key_use {
        return Err("an encryption key (`use`: `enc`)".into());
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("malformed key: {e}"))?;
    Ok((algorithm, key))
}

/// The DER body of a PEM public key.
fn pem_to_der(pem: &[u8]) -> Result<Vec<u8>, KeyError> {
    let block = pem::parse(pem).map_err(|e| KeyError(format!("it is not a PEM key ({e})")))?;
    if block.tag().contains("PRIVATE") {
        return Err(KeyError("it is a private key; give the public key".into()));
    }
    Ok(block.into_contents())
}

/// The algorithm of a DER public key, by which key type parses it.
fn classify_der(der: &[u8]) -> Result<(Algorithm, DecodingKey), KeyError> {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
    };
    if ParsedPublicKey::new(&ED25519, der).is_ok() {
        Ok((Algorithm::EdDSA, DecodingKey::from_ed_der(der)))
    } else if ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, der).is_ok() {
        Ok((Algorithm::ES256, DecodingKey::from_ec_der(der)))
    } else if ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).is_ok() {
        Ok((Algorithm::RS256, DecodingKey::from_rsa_der(der)))
    } else {
        Err(KeyError(
            "it is not an Ed25519, P-256 or RSA (2048 bits or more) public key".into(),
        ))
    }
}

/// The `iss` of a JWT, read WITHOUT checking it: only to choose which keys
/// may verify the token. `None` when the token has no readable `iss`.
pub fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    jsonwebtoken::dangerous::insecure_decode_claims::<Iss>(token)
        .ok()
        .and_then(|claims| claims.iss)
}
