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
mod handlers;
pub(crate) mod metrics;
pub(crate) mod problem;

use crate::ratelimit::{ClientKey, client_address};
use crate::state::AppState;
use bytes::{Buf, Bytes};
use endpoint::Endpoint;
use futures_util::Stream;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use http::{Method, Response};
use problem::ApiError;
use serde_json::{Map, Value};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;
use taskcore::auth::{AuthError, Credential, Principal};
use warp::Filter;
use warp::filters::path::FullPath;

/// The peer address of a connection, put into request extensions by the
/// binary's accept loop (warp's own `addr::remote` covers `warp::serve`).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// The API as one warp filter: mount it in any warp application. It answers
/// `/api/...`, `/healthz`, `/readyz` and `/metrics`, and rejects every other
/// path (as not found) so the host application's routes can take them.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection>
+ Clone
+ Send
+ Sync
+ 'static {
    let ours = warp::path::full().and_then(|path: FullPath| async move {
        match Endpoint::resolve(path.as_str()) {
            Some(_) => Ok(path),
            None => Err(warp::reject::not_found()),
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
    path: FullPath,
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
    let endpoint = Endpoint::resolve(path.as_str()).unwrap_or(Endpoint::UnknownApi);
    let request = Request {
        state: &state,
        headers: &headers,
        query: &query,
        peer,
    };
    let mut response = dispatch(&request, endpoint, &method, body)
        .await
        .unwrap_or_else(ApiError::into_response);

    let request_id = request_id(&headers);
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
        .record(endpoint.index(), status.as_u16(), elapsed);
    tracing::debug!(
        request_id = request_id.to_str().unwrap_or(""),
        method = %method,
        route = endpoint.name(),
        status = status.as_u16(),
        micros = elapsed.as_micros() as u64,
        "request"
    );
    response.map(Into::into)
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

/// A fresh request id, for requests without a usable one of their own.
pub(crate) fn new_request_id() -> HeaderValue {
    HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
        .unwrap_or(HeaderValue::from_static("unknown"))
}

/// The order of checks of `docs/api.md`, then the handler.
async fn dispatch<S, B>(
    req: &Request<'_>,
    endpoint: Endpoint<'_>,
    method: &Method,
    body: S,
) -> Result<Response<Bytes>, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    use Endpoint as E;
    let state = req.state;
    if endpoint == E::UnknownApi {
        return Err(ApiError::NotFound);
    }
    if method == Method::OPTIONS {
        return cors::options(req.headers, &state.config.cors_origins, endpoint.allow());
    }
    if !endpoint.serves(method) {
        return Err(ApiError::MethodNotAllowed(endpoint.allow()));
    }

    // 429: the auth limits count every login, register and refresh request.
    if matches!(endpoint, E::Register | E::Login | E::Refresh) {
        state
            .limits
            .request(req.client())
            .map_err(ApiError::RateLimited)?;
    }

    // 401: who is asking.
    let public = matches!(
        endpoint,
        E::Register | E::Login | E::Refresh | E::Health | E::Ready | E::Metrics | E::OpenApi
    );
    let principal = if public {
        None
    } else {
        Some(authenticate(req).await?)
    };

    // 403: what is refused outright.
    if matches!(endpoint, E::Register | E::Login | E::Refresh) && state.config.no_local_accounts {
        return Err(ApiError::LocalAccountsDisabled);
    }
    if endpoint == E::Register && state.config.no_registration {
        return Err(ApiError::RegistrationClosed);
    }
    let deletes_account = endpoint == E::Me && method == Method::DELETE;
    if (matches!(endpoint, E::ApiTokens | E::ApiToken(_) | E::Logout) || deletes_account)
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

    // 400/413/415: the body, where the method carries one.
    // (Deleting the account takes one too: a local account's password.)
    let body = if matches!(*method, Method::POST | Method::PUT | Method::PATCH) || deletes_account {
        read_object(req, body, endpoint == E::Logout || deletes_account).await?
    } else {
        None
    };

    let principal = principal.as_ref();
    let user = || principal.map(|p| p.user).ok_or(ApiError::MissingToken);
    match (endpoint, method.clone()) {
        (E::Register, _) => handlers::register(req, body).await,
        (E::Login, _) => handlers::login(req, body).await,
        (E::Refresh, _) => handlers::refresh(req, body).await,
        (E::Logout, _) => handlers::logout(req, principal, body).await,
        (E::Me, Method::DELETE) => {
            let principal = principal.ok_or(ApiError::MissingToken)?;
            handlers::delete_account(req, principal, body).await
        }
        (E::Me, _) => handlers::me(req, user()?).await,
        (E::ApiTokens, Method::GET) => handlers::list_api_tokens(req, user()?).await,
        (E::ApiTokens, _) => handlers::create_api_token(req, user()?, body).await,
        (E::ApiToken(id), _) => handlers::revoke_api_token(req, user()?, id).await,
        (E::Tasks, Method::GET) => handlers::list_tasks(req, user()?).await,
        (E::Tasks, _) => handlers::create_task(req, user()?, body).await,
        (E::Task(id), Method::GET) => handlers::get_task(req, user()?, id).await,
        (E::Task(id), Method::PUT) => handlers::replace_task(req, user()?, id, body).await,
        (E::Task(id), Method::PATCH) => handlers::update_task(req, user()?, id, body).await,
        (E::Task(id), _) => handlers::delete_task(req, user()?, id).await,
        (E::Health, _) => Ok(handlers::health()),
        (E::Ready, _) => handlers::ready(req).await,
        (E::Metrics, _) => Ok(handlers::metrics(req)),
        (E::OpenApi, _) => Ok(handlers::openapi()),
        (E::UnknownApi, _) => Err(ApiError::NotFound),
    }
}

/// The bearer token's principal. Another scheme counts as no token.
async fn authenticate(req: &Request<'_>) -> Result<Principal, ApiError> {
    let header = req
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?;
    let text = header.to_str().map_err(|_| ApiError::InvalidToken)?;
    let (scheme, token) = text.split_once(' ').ok_or(ApiError::MissingToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::MissingToken);
    }
    let token = token.trim();
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
) -> Result<Option<Map<String, Value>>, ApiError>
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
