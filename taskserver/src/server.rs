//! Starting and stopping a server: open the store, bind, serve with
//! slow-client timeouts, shut down gracefully and flush.

use crate::config::{Config, ConfigError};
use crate::http::{PeerAddr, problem::ApiError};
use crate::state::AppState;
use crate::stores::Missing;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use parse_errors::ParseErrorBodies;
use stall::WriteStall;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use taskcore::auth::tokens;
use taskcore::{StoreError, TaskStore, Timestamp};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use warp::Filter;

mod parse_errors;
mod stall;

/// A client must send its request headers within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request head read, request line included: past it, 431.
/// hyper answers a URI over 64 KiB with 414, so a head up to this size
/// with a long URI is a 414, and a head past it a 431 whatever is long.
/// Without it, hyper's bound is its read buffer (about 400 KiB), checked
/// only between reads, so one read can overshoot it.
const MAX_HEAD: usize = 256 * 1024;
/// In-flight requests get this long to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the binary checks that the store can still be trusted (a
/// memory read, no I/O).
const BROKEN_CHECK_EVERY: Duration = Duration::from_millis(250);
/// How often expired sessions are swept.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// How often deletions older than `--tombstone-retention` leave the change
/// feed (and once at start).
const PRUNE_DELETIONS_EVERY: Duration = Duration::from_secs(3600);
/// Open files kept back from connections for the server's own: the sled
/// store's files, the PostgreSQL pool (16 by default), JWK-set fetches, the
/// log, the listeners, the metrics address's connections
/// ([`METRICS_CONNECTIONS`]) and the runtime's epoll and wake-up descriptors. Ample
/// for all of them; a quarter of the limit when the limit is small.
const FILE_RESERVE: u64 = 256;
/// Most connections open at once on `--metrics-listen`: a scraper or two.
const METRICS_CONNECTIONS: usize = 16;
/// Accepting pauses this long after a failure such as running out of
/// descriptors, so a failing `accept` cannot spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Refused connections and failed accepts are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(1);

/// Why the server could not start, in one sentence.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A flag or setting is wrong.
    #[error(transparent)]
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
    /// The metrics address (`--metrics-listen`) could not be bound.
    #[error("cannot serve metrics on {addr}: {reason}")]
    MetricsBind {
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
    /// Where `/metrics` is served when `--metrics-listen` is set (with the
    /// real port); `None` when it is served on [`addr`](Self::addr).
    pub metrics_addr: Option<SocketAddr>,
    /// Every accept loop stops when this turns `true` (or is dropped).
    stop: watch::Sender<bool>,
    serving: JoinHandle<()>,
    serving_metrics: Option<JoinHandle<()>>,
    pruning: JoinHandle<()>,
    store: Arc<dyn TaskStore>,
    /// The API's state, to end its event streams at shutdown.
    state: AppState,
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
        self.stop.send_replace(true);
        // A stream never ends by itself: the connections it holds would
        // keep the drain waiting for its whole timeout.
        self.state.close_streams();
        let _ = (&mut self.serving).await;
        if let Some(metrics) = self.serving_metrics.take() {
            let _ = metrics.await;
        }
        self.pruning.abort();
        // Until the aborted task is dropped it holds a clone of the store,
        // and a sled directory opens again only once every clone is gone.
        let _ = (&mut self.pruning).await;
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

/// Binds, opens the configured store (creating it when there is none),
/// and serves until [`RunningServer::shutdown`].
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    config.validate()?;
    // Bound first, both addresses: a taken port must fail before anything
    // is created on disk.
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(
            bind(addr)
                .await
                .map_err(|reason| StartError::MetricsBind { addr, reason })?,
        ),
        None => None,
    };
    let (listener, addr) = bind(config.listen)
        .await
        .map_err(|reason| StartError::Bind {
            addr: config.listen,
            reason,
        })?;
    let opened = crate::stores::open(&config, Missing::Create)
        .await
        .map_err(|e| StartError::Store(crate::ErrorChain(&e).to_string()))?;
    // Said at every start: a server started from another directory makes a
    // new empty store, and this line is how its operator notices.
    tracing::info!(store = %opened.location, created = opened.created, "{}", opened.summary());
    let store = opened.store;
    log_secret_source(&config, store.as_ref()).await?;
    let limits = ConnectionLimits {
        max: max_connections(config.max_connections),
        write_stall: config.write_stall_timeout,
    };
    let state = AppState::new(config, store.clone()).await?;
    let hashing = state.accounts.hashing().clone();
    tokio::spawn(async move { hashing.warm_up().await });

    let (stop, _) = watch::channel(false);
    let metrics_addr = metrics_listener.as_ref().map(|(_, addr)| *addr);
    let serving_metrics = metrics_listener.map(|(listener, addr)| {
        tracing::info!(%addr, "serving metrics");
        let limits = ConnectionLimits {
            max: METRICS_CONNECTIONS,
            ..limits
        };
        let app = app(crate::metrics_routes(state.clone()));
        tokio::spawn(accept_loop(listener, app, limits, stop.subscribe()))
    });
    let serving = tokio::spawn(accept_loop(
        listener,
        app(crate::routes(state.clone())),
        limits,
        stop.subscribe(),
    ));
    let retention = state.config.tombstone_retention;
    let pruning = tokio::spawn(prune(store.clone(), retention));
    tracing::info!(%addr, "listening");
    Ok(RunningServer {
        addr,
        metrics_addr,
        stop,
        serving,
        serving_metrics,
        pruning,
        store,
        state,
    })
}

/// Logs where the JWT secret comes from. Without a configured one, reads
/// (or generates and keeps) the store's here, so the log can say which:
/// a newly generated secret on a store that had users means their tokens
/// stopped working. [`AppState::new`] then reads the same one back.
async fn log_secret_source(config: &Config, store: &dyn TaskStore) -> Result<(), StartError> {
    if config.jwt_secret.is_some() {
        tracing::info!("JWT secret: given by --jwt-secret or TASKSERVER_JWT_SECRET");
        return Ok(());
    }
    let fresh = OnceLock::new();
    let secret = store
        .jwt_secret(&|| fresh.get_or_init(tokens::new_jwt_secret).clone())
        .await
        .map_err(|e| StartError::Store(crate::ErrorChain(&e).to_string()))?;
    // Generated here only if ours was the one kept (another replica may
    // have stored its own first).
    if fresh.get() == Some(&secret) {
        tracing::info!("JWT secret: generated now and kept in the store");
    } else {
        tracing::info!("JWT secret: read from the store");
    }
    Ok(())
}

/// Binds `addr`; the address actually bound (the real port for port 0), or
/// why not in words.
async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), String> {
    let reason = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::AddrInUse => "the address is already in use".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    };
    let listener = TcpListener::bind(addr).await.map_err(reason)?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((listener, bound))
}

/// The background sweeps, each at start and then at its own interval:
/// expired sessions, and deletions older than `retention` in the change feed.
async fn prune(store: Arc<dyn TaskStore>, retention: Duration) {
    let mut sessions = tokio::time::interval(PRUNE_EVERY);
    let mut deletions = tokio::time::interval(PRUNE_DELETIONS_EVERY);
    loop {
        tokio::select! {
            _ = sessions.tick() => match store.prune_expired(Timestamp::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sessions = n, "pruned expired sessions"),
                Err(e) => tracing::warn!(error = %e, "pruning expired sessions failed"),
            },
            _ = deletions.tick() => {
                let before = Timestamp::from_micros_clamped(
                    Timestamp::now()
                        .as_micros()
                        .saturating_sub(i64::try_from(retention.as_micros()).unwrap_or(i64::MAX)),
                );
                match store.prune_deletions(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deletions = n, %before, "pruned deletions from the change feed"),
                    Err(e) => tracing::warn!(error = %e, "pruning the change feed's deletions failed"),
                }
            }
        }
    }
}

/// The binary's filter: `routes` (the API's, or the metrics address's),
/// with every other path a problem+json 404.
fn app(
    routes: impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
    + Clone
    + Send
    + Sync
    + 'static,
) -> impl Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible>
+ Clone
+ Send
+ Sync
+ 'static {
    routes
        .recover(|_| async {
            Ok::<_, std::convert::Infallible>(ApiError::NotFound.into_response().map(Into::into))
        })
        .unify()
}

/// hyper's settings for every connection.
fn http1() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_header_size(MAX_HEAD)
        // One flat write buffer: ParseErrorBodies sees each head whole.
        .writev(false);
    builder
}

/// What bounds each connection.
#[derive(Clone, Copy, Debug)]
struct ConnectionLimits {
    /// Most connections open at once.
    max: usize,
    /// How long a response write may make no progress.
    write_stall: Duration,
}

/// Raises the open-file limit to the hard limit, and returns how many
/// connections may be open at once: `asked`, or by default the limit less
/// [`FILE_RESERVE`], so that accepting never fails for lack of descriptors.
/// More than that is lowered to it, with a warning: the flag is a cap, and
/// the same value may be given to machines with different limits.
fn max_connections(asked: Option<usize>) -> usize {
    let files = rlimit::increase_nofile_limit(u64::MAX).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot raise the open-file limit");
        rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
    });
    let reserve = FILE_RESERVE.min(files / 4);
    let most = usize::try_from(files - reserve)
        .unwrap_or(usize::MAX)
        .clamp(1, Semaphore::MAX_PERMITS);
    let max = match asked {
        Some(asked) if asked > most => {
            tracing::warn!(
                asked,
                most,
                "--max-connections is more than the open-file limit leaves room for; serving at most {most}"
            );
            most
        }
        Some(asked) => asked,
        None => most,
    };
    tracing::info!(
        open_files = files,
        max_connections = max,
        "connection limit"
    );
    max
}

/// Counts events and says when to log them: at most once per [`WARN_EVERY`].
#[derive(Default)]
struct Throttle {
    last: Option<Instant>,
    since: u64,
}

impl Throttle {
    /// Counts one event; `Some(n)` when it is time to log the `n` events
    /// since the last log line.
    fn count(&mut self) -> Option<u64> {
        self.since += 1;
        let now = Instant::now();
        if self.last.is_some_and(|last| now - last < WARN_EVERY) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.since))
    }
}

/// Errors of one connection that came and went before it was accepted: the
/// next accept is unaffected.
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::ConnectionRefused | K::Interrupted
    )
}

async fn accept_loop<F>(
    listener: TcpListener,
    app: F,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) where
    F: Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
{
    let service = TowerToHyperService::new(warp::service(app));
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(limits.max));
    let (mut refused, mut failed) = (Throttle::default(), Throttle::default());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    // Out of descriptors or memory: wait instead of spinning,
                    // and say so once a second, not at every attempt.
                    if let Some(times) = failed.count() {
                        tracing::warn!(error = %e, times, "accept failed");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            // The one change is to `true`; a dropped sender (the server
            // dropped without a shutdown) stops too.
            _ = stop.changed() => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            // Full: close this one at once; the open ones go on.
            drop(stream);
            if let Some(times) = refused.count() {
                tracing::warn!(
                    max_connections = limits.max,
                    times,
                    "connection limit reached; closing new connections"
                );
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let with_peer = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(PeerAddr(peer));
                hyper::service::Service::call(&service, request)
            },
        );
        let io = ParseErrorBodies::new(WriteStall::new(stream, limits.write_stall));
        let connection = http1().serve_connection(TokioIo::new(io), with_peer);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            // The slot frees when the connection is gone.
            drop(permit);
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
