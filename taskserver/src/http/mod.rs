//! The HTTP layer: one warp filter, [`routes`], serving the whole API.
//!
//! Requests are resolved against the route table ([`endpoint`]), then pass
//! the checks in the order `docs/api.md` gives, in one place ([`dispatch`]):
//! 404/405, rate limits, authentication, refusals (403), the body
//! (400/413/415), and only then the handler (404 for a task, 403 limits,
//! 422, 412). Every answer gets `x-request-id`, CORS headers and metrics.

mod body;
mod cors;
pub(crate) mod endpoint;
pub(crate) mod events;
mod feed;
mod handlers;
pub(crate) mod metrics;
pub(crate) mod problem;

use crate::ratelimit::{ClientKey, client_address};
use crate::state::AppState;
use bytes::Buf;
use endpoint::{Auth, BodyKind, Endpoint, Limit, Op};
use futures_util::Stream;
use http::Method;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use problem::ApiError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;
use taskcore::auth::{AuthError, Credential, Principal};
use tracing::Instrument;
use warp::Filter;
use warp::filters::path::FullPath;

/// The peer address of a connection, put into request extensions by the
/// binary's accept loop (warp's own `addr::remote` covers `warp::serve`).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// The API as one warp filter: mount it in any warp application. It answers
/// `/api/...`, `/healthz`, `/readyz` and `/metrics`, and rejects every other
/// path (as not found) so the host application's routes can take them.
/// With `Config::metrics_listen` set, `/metrics` is left out too:
/// [`metrics_routes`] serves it.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
+ Clone
+ Send
+ Sync
+ 'static {
    let metrics_elsewhere = state.config.metrics_listen.is_some();
    paths(state, move |endpoint| {
        !(metrics_elsewhere && endpoint.serves(Op::Metrics))
    })
}

/// `/metrics` alone, as [`routes`] serves it (request ids, CORS, counted in
/// the metrics), for another address than the API's: every other path is
/// rejected as not found.
pub fn metrics_routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
+ Clone
+ Send
+ Sync
+ 'static {
    paths(state, |endpoint| endpoint.serves(Op::Metrics))
}

/// The API's filter, answering the paths of the route table that `answers`
/// accepts and rejecting the rest as not found.
fn paths(
    state: AppState,
    answers: impl Fn(&Endpoint<'_>) -> bool + Clone + Send + Sync + 'static,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
+ Clone
+ Send
+ Sync
+ 'static {
    // Resolved once here; `serve` rebuilds the endpoint from its index.
    let ours = warp::path::full().and_then(move |path: FullPath| {
        let index = Endpoint::resolve(path.as_str())
            .filter(|e| answers(e))
            .map(|e| e.index);
        async move {
            match index {
                Some(index) => Ok((path, index)),
                None => Err(warp::reject::not_found()),
            }
        }
    });
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let peer = warp::ext::optional::<PeerAddr>()
        .and(warp::addr::remote())
        .map(|ours: Option<PeerAddr>, warps: Option<SocketAddr>| {
            ours.map(|p| p.0)
                .or(warps)
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip())
        });
    let state = warp::any().map(move || state.clone());
    ours.and(state)
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and(query)
        .and(peer)
        .and(warp::body::stream())
        .then(serve)
}

/// Everything a handler may need of the request.
pub(crate) struct Request<'a> {
    pub state: &'a AppState,
    pub headers: &'a HeaderMap,
    pub query: &'a str,
    /// The connection's peer; see [`Request::client`].
    pub peer: IpAddr,
}

impl Request<'_> {
    /// The client as the rate limits count it: the peer, or the address a
    /// trusted proxy forwarded for. Only the limited endpoints need it.
    pub fn client(&self) -> ClientKey {
        ClientKey::of(client_address(
            self.peer,
            self.header("x-forwarded-for"),
            &self.state.config.trusted_proxies,
        ))
    }

    /// A header as text, if present and visible ASCII.
    pub fn header(&self, name: impl http::header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn serve<S, B>(
    // The path, and its route's index in the table as `ours` resolved it.
    (path, route): (FullPath, usize),
    state: AppState,
    method: Method,
    headers: HeaderMap,
    query: String,
    peer: IpAddr,
    body: S,
) -> warp::reply::Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let started = Instant::now();
    let endpoint = Endpoint::at(route, path.as_str());
    let request_id = request_id(&headers);
    let id = request_id.to_str().unwrap_or("");
    // Every log line of the request, a 500's included, carries the id the
    // client gets. ERROR level: the span is on whenever any of its events
    // is, whatever the filter.
    let span = tracing::error_span!(
        "request",
        request_id = id,
        method = %method,
        route = endpoint.name(),
        user = tracing::field::Empty,
    );
    let request = Request {
        state: &state,
        headers: &headers,
        query: &query,
        peer,
    };
    let mut response = async {
        dispatch(&request, endpoint, &method, body)
            .await
            .unwrap_or_else(|e| e.into_response().map(Into::into))
    }
    .instrument(span.clone())
    .await;

    let status = response.status();
    response
        .headers_mut()
        .insert("x-request-id", request_id.clone());
    cors::decorate(
        &mut response,
        cors::allowed_origin(&headers, &state.config.cors_origins).cloned(),
    );
    let elapsed = started.elapsed();
    state
        .metrics
        .record(endpoint.index, status.as_u16(), elapsed);
    // The line keeps its own fields (as before the span) for those who read them there.
    span.in_scope(|| {
        tracing::debug!(
            request_id = id,
            method = %method,
            route = endpoint.name(),
            status = status.as_u16(),
            micros = elapsed.as_micros() as u64,
            "request"
        );
    });
    response
}

/// The request's own id when it is `[A-Za-z0-9._-]{1,64}`, else a new one.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    let valid = |v: &HeaderValue| {
        let b = v.as_bytes();
        (1..=64).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    };
    match headers.get("x-request-id") {
        Some(v) if valid(v) => v.clone(),
        _ => new_request_id(),
    }
}

/// A fresh request id, for requests without a usable one of their own: a
/// UUIDv7 whose bits after the time are a random base drawn once per
/// process plus a counter (a counter there is one of RFC 9562's methods).
/// Unique within the process by the counter, across processes by the
/// base, and without a system call for randomness on every request, which
/// `Uuid::now_v7` made (3 % of a read's CPU).
pub(crate) fn new_request_id() -> HeaderValue {
    static BASE: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let base = *BASE.get_or_init(|| u128::from_be_bytes(taskcore::auth::tokens::random_bytes()));
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tail = base.wrapping_add(u128::from(count)).to_be_bytes();
    let mut bits = [0u8; 10];
    bits.copy_from_slice(&tail[6..]);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let id = uuid::Builder::from_unix_timestamp_millis(millis, &bits).into_uuid();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    HeaderValue::from_bytes(id.hyphenated().encode_lower(&mut text).as_bytes())
        .unwrap_or(HeaderValue::from_static("unknown"))
}

/// The order of checks of `docs/api.md`, each read from the endpoint's row
/// of the route table, then the handler.
async fn dispatch<S, B>(
    req: &Request<'_>,
    endpoint: Endpoint<'_>,
    method: &Method,
    body: S,
) -> Result<warp::reply::Response, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let state = req.state;
    let Some(route) = endpoint.route else {
        return Err(ApiError::NotFound);
    };
    if method == Method::OPTIONS {
        return cors::options(req.headers, &state.config.cors_origins, route)
            .map(|r| r.map(Into::into));
    }
    let Some(operation) = route.operation(method) else {
        return Err(ApiError::MethodNotAllowed(route));
    };

    // 429: the limits that count requests before anything else is read.
    match operation.limit {
        Limit::None => {}
        Limit::Credentials => state
            .limits
            .request(req.client())
            .map_err(ApiError::RateLimited)?,
    }

    // 401: who is asking.
    let principal = match operation.auth {
        Auth::None => None,
        Auth::Bearer | Auth::Session => {
            let principal = authenticate(req).await?;
            tracing::Span::current().record("user", tracing::field::display(principal.user));
            Some(principal)
        }
    };

    // 403: what is refused outright.
    if operation.local_accounts && state.config.no_local_accounts {
        return Err(ApiError::LocalAccountsDisabled);
    }
    if operation.op == Op::Register && state.config.no_registration {
        return Err(ApiError::RegistrationClosed);
    }
    if !operation.api_tokens_allowed()
        && matches!(
            principal,
            Some(Principal {
                via: Credential::ApiToken(_),
                ..
            })
        )
    {
        return Err(ApiError::ApiTokenNotAllowed);
    }

    // 400/413/415: the body, where the operation reads one.
    let body = match operation.body {
        BodyKind::None => None,
        BodyKind::Object => read_object(req, body, false).await?,
        BodyKind::Optional => read_object(req, body, true).await?,
    };

    let principal = principal.as_ref();
    let caller = || principal.ok_or(ApiError::MissingToken);
    let user = || caller().map(|p| p.user);
    // Routes with a `{...}` segment always have a parameter.
    let id = || endpoint.param.ok_or(ApiError::NotFound);
    let answer = match operation.op {
        // The one answer whose body is a stream rather than bytes.
        Op::Events => return events::open(req, caller()?).await,
        Op::Register => handlers::register(req, body).await,
        Op::Login => handlers::login(req, body).await,
        Op::Refresh => handlers::refresh(req, body).await,
        Op::Logout => handlers::logout(req, principal, body).await,
        Op::Me => handlers::me(req, user()?).await,
        Op::DeleteAccount => handlers::delete_account(req, caller()?, body).await,
        Op::ListApiTokens => handlers::list_api_tokens(req, user()?).await,
        Op::CreateApiToken => handlers::create_api_token(req, user()?, body).await,
        Op::RevokeApiToken => handlers::revoke_api_token(req, user()?, id()?).await,
        Op::ListTasks => handlers::list_tasks(req, user()?).await,
        Op::CreateTask => handlers::create_task(req, user()?, body).await,
        Op::GetTask => handlers::get_task(req, user()?, id()?).await,
        Op::ReplaceTask => handlers::replace_task(req, user()?, id()?, body).await,
        Op::UpdateTask => handlers::update_task(req, user()?, id()?, body).await,
        Op::DeleteTask => handlers::delete_task(req, user()?, id()?).await,
        Op::ListProjects => handlers::list_projects(req, user()?).await,
        Op::Changes => feed::changes(req, user()?).await,
        Op::Health => Ok(handlers::health()),
        Op::Ready => handlers::ready(req).await,
        Op::Metrics => Ok(handlers::metrics(req).await),
        Op::OpenApi => Ok(handlers::openapi()),
    };
    answer.map(|r| r.map(Into::into))
}

/// The token of an `Authorization: Bearer` header: `None` without one (or
/// with another scheme), `Some("")` for a bearer header without a token.
/// Only this header carries tokens: a token in the query string would end
/// up in logs, so none is read there.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let text = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The bearer token's principal. Another scheme counts as no token.
async fn authenticate(req: &Request<'_>) -> Result<Principal, ApiError> {
    let header = req
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?;
    // A header that is not text is a token we cannot read.
    header.to_str().map_err(|_| ApiError::InvalidToken)?;
    let token = bearer_token(req.headers).ok_or(ApiError::MissingToken)?;
    if token.is_empty() {
        return Err(ApiError::InvalidToken);
    }
    let accounts = &req.state.accounts;
    match accounts.authenticate(token).await {
        // A key the loaded JWK set lacks: refetch it (at most once every
        // 10 s, whatever the number of such tokens) and try once more.
        Err(AuthError::UnknownSigningKey) => match &req.state.jwks {
            Some(jwks) => {
                jwks.refetch_for_unknown_key().await;
                Ok(accounts.authenticate(token).await?)
            }
            None => Err(ApiError::InvalidToken),
        },
        other => Ok(other?),
    }
}

/// Reads a JSON object body. `optional`: an empty body is `None` rather than an error.
async fn read_object<S, B>(
    req: &Request<'_>,
    stream: S,
    optional: bool,
) -> Result<Option<body::Object>, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    let content_length = req
        .header(CONTENT_LENGTH)
        .and_then(|v| v.parse::<u64>().ok());
    let bytes = body::read(content_length, stream).await?;
    if optional && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    body::check_content_type(req.header(CONTENT_TYPE))?;
    body::parse_object(&bytes).map(Some)
}

#[cfg(test)]
mod tests {
    use super::new_request_id;
    use std::collections::HashSet;

    /// Fresh ids are UUIDv7s, in time order, and never repeat.
    #[test]
    fn fresh_request_ids_are_distinct_version_7_uuids() {
        let ids: Vec<uuid::Uuid> = (0..10_000)
            .map(|_| {
                let value = new_request_id();
                let text = value.to_str().expect("ASCII");
                uuid::Uuid::parse_str(text).expect("a UUID")
            })
            .collect();
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
        let first = ids[0].get_timestamp().expect("v7").to_unix();
        let last = ids[ids.len() - 1].get_timestamp().expect("v7").to_unix();
        assert!(first <= last);
    }
}
