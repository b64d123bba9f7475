//! Starting and stopping a server: open the store, bind, serve with
//! slow-client timeouts, shut down gracefully and flush.

use crate::config::{Config, ConfigError};
use crate::http::{PeerAddr, problem::ApiError};
use crate::state::AppState;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use taskcore::{StoreError, TaskStore, Timestamp};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use warp::Filter;

/// A client must send its request headers within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// In-flight requests get this long to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the binary checks that the store can still be trusted (a
/// memory read, no I/O).
const BROKEN_CHECK_EVERY: Duration = Duration::from_millis(250);
/// How often expired sessions are swept.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Why the server could not start, in one sentence.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A flag or setting is wrong.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The store could not be opened or read.
    #[error("{0}")]
    Store(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why, in words.
        reason: String,
    },
}

/// A server that is accepting connections.
pub struct RunningServer {
    /// The address it listens on (with the real port when 0 was asked for).
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    serving: JoinHandle<()>,
    pruning: JoinHandle<()>,
    store: Arc<dyn TaskStore>,
}

impl RunningServer {
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish, flushes the store.
    /// An error means the final flush failed: writes acknowledged before
    /// may be on disk, but the process must say it did not end cleanly.
    pub async fn shutdown(mut self) -> Result<(), StoreError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.serving).await;
        self.pruning.abort();
        let flushed = self.store.flush().await;
        match &flushed {
            Ok(()) => tracing::info!("stopped"),
            Err(e) => {
                tracing::error!(error = %e, "stopped, but the final flush of the store failed")
            }
        }
        flushed
    }

    /// Resolves once the store can no longer be trusted until the process
    /// restarts (a failed flush), with the reason. The binary then stops,
    /// so that a supervisor's restart serves only what is on disk.
    pub async fn store_broken(&self) -> String {
        let mut every = tokio::time::interval(BROKEN_CHECK_EVERY);
        loop {
            every.tick().await;
            if let Some(reason) = self.store.broken() {
                return reason;
            }
        }
    }
}

/// Opens the configured store, binds, and serves until [`RunningServer::shutdown`].
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    config.validate()?;
    let store = crate::stores::open(&config)
        .await
        .map_err(|e| StartError::Store(e.to_string()))?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Bind {
            addr: config.listen,
            reason: match e.kind() {
                std::io::ErrorKind::AddrInUse => "the address is already in use".into(),
                std::io::ErrorKind::PermissionDenied => "permission denied".into(),
                _ => e.to_string(),
            },
        })?;
    let addr = listener.local_addr().map_err(|e| StartError::Bind {
        addr: config.listen,
        reason: e.to_string(),
    })?;
    let state = AppState::new(config, store.clone()).await?;
    let hashing = state.accounts.hashing().clone();
    tokio::spawn(async move { hashing.warm_up().await });

    let (stop, stopped) = oneshot::channel();
    let serving = tokio::spawn(accept_loop(listener, state, stopped));
    let pruning = tokio::spawn(prune_sessions(store.clone()));
    tracing::info!(%addr, "listening");
    Ok(RunningServer {
        addr,
        stop: Some(stop),
        serving,
        pruning,
        store,
    })
}

async fn prune_sessions(store: Arc<dyn TaskStore>) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    loop {
        every.tick().await;
        match store.prune_expired(Timestamp::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "pruned expired sessions"),
            Err(e) => tracing::warn!(error = %e, "pruning expired sessions failed"),
        }
    }
}

/// The binary's filter: the API, with every other path a problem+json 404.
fn app(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible> + Clone {
    crate::routes(state)
        .recover(|_| async {
            Ok::<_, std::convert::Infallible>(ApiError::NotFound.into_response().map(Into::into))
        })
        .unify()
}

async fn accept_loop(listener: TcpListener, state: AppState, mut stopped: oneshot::Receiver<()>) {
    let service = TowerToHyperService::new(warp::service(app(state)));
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stopped => break,
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let with_peer = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(PeerAddr(peer));
                hyper::service::Service::call(&service, request)
            },
        );
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(TokioIo::new(stream), with_peer);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some requests were still running after {DRAIN_TIMEOUT:?}; stopping anyway");
    }
}
