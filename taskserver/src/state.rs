//! What every request shares: the store, accounts, limits, metrics, config.

use crate::config::{Config, ConfigError};
use crate::http::events::Streams;
use crate::http::metrics::Metrics;
use crate::jwks::JwksFetcher;
use crate::ratelimit::AuthLimits;
use crate::server::StartError;
use secrecy::ExposeSecret;
use std::ops::Deref;
use std::sync::Arc;
use taskcore::TaskStore;
use taskcore::auth::cursor::CursorCodec;
use taskcore::auth::password::HashingPool;
use taskcore::auth::{Accounts, AuthSettings, tokens};

/// Password hashes that may wait for a worker before new ones are refused (503).
const HASH_QUEUE: usize = 64;

/// The state behind [`routes`](crate::routes): cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The shared parts of [`AppState`].
pub struct Shared {
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn TaskStore>,
    pub(crate) accounts: Accounts,
    pub(crate) cursors: CursorCodec,
    pub(crate) limits: AuthLimits,
    pub(crate) metrics: Metrics,
    /// The external provider's JWK set, when `--jwt-jwks-url` is set.
    pub(crate) jwks: Option<Arc<JwksFetcher>>,
    /// The open event streams (`GET /api/events`).
    pub(crate) streams: Arc<Streams>,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State over an open store. The JWT secret is the configured one, or
    /// the one kept in the store (generated on first start). External keys
    /// from files are loaded here; a JWK set is fetched by
    /// [`start`](crate::start), or on the first token that needs it.
    pub async fn new(config: Config, store: Arc<dyn TaskStore>) -> Result<Self, StartError> {
        let secret = match &config.jwt_secret {
            Some(secret) => secret.expose_secret().as_bytes().to_vec(),
            None => store
                .jwt_secret(&tokens::new_jwt_secret)
                .await
                .map_err(|e| StartError::Store(e.to_string()))?,
        };
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hashing = HashingPool::new(workers, HASH_QUEUE);
        let settings = AuthSettings {
            token_ttl: config.token_ttl,
            refresh_ttl: config.refresh_ttl,
            refresh_reuse_grace: config.refresh_reuse_grace,
        };
        let mut accounts = Accounts::new(store.clone(), &secret, hashing, settings);
        let mut jwks = None;
        if let Some(external) = config.external_issuer()? {
            let external = Arc::new(external);
            if let Some(url) = &config.jwt_jwks_url {
                jwks = Some(Arc::new(
                    JwksFetcher::new(url, external.clone()).map_err(ConfigError)?,
                ));
            }
            accounts = accounts.with_external(external);
        }
        if config.no_local_accounts {
            accounts = accounts.without_local_tokens();
        }
        if let Some(fetcher) = &jwks {
            // Here rather than in `start`, so an app that mounts the
            // filters itself gets the keys loaded and kept fresh too.
            fetcher.first_fetch().await;
            tokio::spawn(JwksFetcher::refresh_while_used(Arc::downgrade(fetcher)));
        }
        Ok(Self(Arc::new(Shared {
            jwks,
            cursors: CursorCodec::new(&secret),
            limits: AuthLimits::new(config.auth_rate_limit == crate::config::Switch::On),
            metrics: Metrics::default(),
            streams: Arc::default(),
            accounts,
            store,
            config,
        })))
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn TaskStore> {
        &self.0.store
    }

    /// Ends every open event stream (`GET /api/events`), as a server does
    /// when it shuts down: until then a stream keeps its connection open.
    pub fn close_streams(&self) {
        self.0.streams.close_all();
    }
}
