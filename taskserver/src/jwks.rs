//! Fetching an external identity provider's JWK set: at start (the server
//! starts even when the provider is down), every 10 minutes, and when a
//! token names a key that is not loaded, at most once every 10 seconds. A
//! failed fetch keeps the keys there were.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use taskcore::auth::external::ExternalIssuer;
use tokio::sync::Mutex;

/// How often the set is refetched while it has keys.
pub const REFRESH_EVERY: Duration = Duration::from_secs(600);
/// Refetches for tokens naming an unknown key are at least this far apart;
/// also the retry interval while the set has no keys.
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// How long the first fetch may delay the start.
const FIRST_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// One fetch gives up after this long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A JWK set larger than this is refused.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// The JWK set of one provider, kept loaded into its [`ExternalIssuer`].
pub struct JwksFetcher {
    url: String,
    client: reqwest::Client,
    issuer: Arc<ExternalIssuer>,
    /// When the last refetch for an unknown key started; held during it, so
    /// concurrent requests wait for that fetch instead of starting their own.
    last_on_demand: Mutex<Option<Instant>>,
}

impl JwksFetcher {
    /// A fetcher for `url` (already checked to be https or loopback).
    pub fn new(url: &str, issuer: Arc<ExternalIssuer>) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .https_only(url.to_ascii_lowercase().starts_with("https:"))
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("taskserver/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client for the JWK set: {e}"))?;
        Ok(Self {
            url: url.to_owned(),
            client,
            issuer,
            last_on_demand: Mutex::new(None),
        })
    }

    /// The first fetch, at start: waits a few seconds at most, and only logs
    /// a failure (the background refresh keeps trying).
    pub async fn first_fetch(&self) {
        let loaded = tokio::time::timeout(FIRST_FETCH_TIMEOUT, self.fetch())
            .await
            .unwrap_or(false);
        if !loaded {
            tracing::warn!(
                url = %self.url,
                "starting without the identity provider's keys: external tokens are refused and /readyz is 503 until its JWK set loads (retried every {MIN_REFETCH_INTERVAL:?})"
            );
        }
    }

    /// Refetches every 10 minutes, or every 10 seconds while the set has
    /// no keys, until the fetcher is dropped with the app's state.
    pub async fn refresh_while_used(fetcher: Weak<Self>) {
        loop {
            let wait = match fetcher.upgrade() {
                Some(f) if f.issuer.jwks_len() > 0 => REFRESH_EVERY,
                Some(_) => MIN_REFETCH_INTERVAL,
                None => return,
            };
            tokio::time::sleep(wait).await;
            match fetcher.upgrade() {
                Some(f) => {
                    f.fetch().await;
                }
                None => return,
            }
        }
    }

    /// A token named a key that is not loaded: refetch, unless the last such
    /// refetch started less than 10 s ago. Returns once the keys are as
    /// fresh as they will get; the caller verifies again.
    pub async fn refetch_for_unknown_key(&self) {
        let mut last = self.last_on_demand.lock().await;
        if last.is_some_and(|at| at.elapsed() < MIN_REFETCH_INTERVAL) {
            return;
        }
        *last = Some(Instant::now());
        self.fetch().await;
    }

    /// One fetch; on success the set's keys replace the loaded ones. Returns
    /// whether it succeeded.
    pub async fn fetch(&self) -> bool {
        match self.download().await {
            Ok(document) => match self.issuer.keys_from_jwks(&document) {
                Ok((keys, skipped)) => {
                    for why in &skipped {
                        tracing::warn!(url = %self.url, "JWK set: ignoring {why}");
                    }
                    if keys.is_empty() {
                        tracing::warn!(url = %self.url, "the JWK set has no usable key; keeping the keys loaded before");
                        return false;
                    }
                    let count = keys.len();
                    self.issuer.replace_jwks(keys);
                    tracing::info!(url = %self.url, keys = count, "JWK set loaded");
                    true
                }
                Err(e) => {
                    tracing::warn!(url = %self.url, error = %e, "the JWK set cannot be used; keeping the keys loaded before");
                    false
                }
            },
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "fetching the JWK set failed; keeping the keys loaded before");
                false
            }
        }
    }

    async fn download(&self) -> Result<Vec<u8>, String> {
        let mut response = self
            .client
            .get(&self.url)
            .header(
                reqwest::header::ACCEPT,
                "application/json, application/jwk-set+json",
            )
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        if !response.status().is_success() {
            return Err(format!("the provider answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| error_chain(&e))? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!(
                    "the document is larger than {MAX_DOCUMENT_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// An error with its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
