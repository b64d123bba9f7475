//! The client, its builder, and what every request goes through: the
//! bearer token, transparent refresh, and retries of idempotent requests.

use crate::error::{Error, Result};
use crate::model::{RefreshBody, Session, TokenPair};
use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, IF_MATCH, IF_NONE_MATCH, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use reqwest::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use taskcore::Timestamp;

/// The base URL a builder uses when none is given: the server's default address.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";
/// Default time allowed to establish a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time allowed for a whole request, response body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A callback that receives every new token pair the client obtains.
type TokenCallback = Arc<dyn Fn(&TokenPair) + Send + Sync>;

/// How idempotent requests (`GET`, `PUT`, `DELETE`) are retried.
///
/// Only transport failures and the statuses 429 and 503 are retried, and
/// never a `POST` or `PATCH`. The delay doubles from `base_delay` with up
/// to 25 % jitter, unless the server names one in `Retry-After`; a `Retry-After`
/// longer than `max_delay` is not waited for: the error is returned at once.
///
/// ```
/// use std::time::Duration;
/// use taskclient::RetryPolicy;
///
/// let patient = RetryPolicy { max_attempts: 5, ..RetryPolicy::default() };
/// assert_eq!(patient.base_delay, Duration::from_millis(200));
/// let never = RetryPolicy::none();
/// assert_eq!(never.max_attempts, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 means no retry).
    pub max_attempts: u32,
    /// Delay before the first retry when the server names none.
    pub base_delay: Duration,
    /// The longest delay the client is willing to wait before a retry.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Three attempts, 200 ms doubling, waiting at most 10 s.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let exponential = self.base_delay.saturating_mul(1u32 << retry.min(16));
        // Capped below `max_delay` so that the jitter stays at the cap too:
        // clients that failed together (a server restart) come back apart.
        let capped = exponential.min(self.max_delay.mul_f64(0.8));
        // Up to 25 % jitter, from the clock: enough to keep clients apart.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = capped.mul_f64(f64::from(nanos % 1000) / 4000.0);
        capped.saturating_add(jitter).min(self.max_delay)
    }
}

/// Configures a [`Client`]: base URL, timeouts, tokens, user agent, retries,
/// and the callback that persists refreshed tokens.
///
/// ```
/// use std::time::Duration;
/// use taskclient::Client;
///
/// let client = Client::builder()
///     .base_url("http://127.0.0.1:8080")
///     .connect_timeout(Duration::from_secs(3))
///     .timeout(Duration::from_secs(20))
///     .user_agent("my-app/1.0")
///     .access_token("eyJ...")
///     .refresh_token("r-...")
///     .on_token_refresh(|pair| {
///         // Persist `pair` wherever the application keeps its tokens.
///         let _ = pair.refresh_token.as_deref();
///     })
///     .build()?;
/// assert_eq!(client.base_url(), "http://127.0.0.1:8080");
/// # Ok::<(), taskclient::Error>(())
/// ```
#[must_use]
pub struct ClientBuilder {
    base_url: String,
    connect_timeout: Duration,
    timeout: Duration,
    user_agent: String,
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_at: Option<Timestamp>,
    on_tokens: Option<TokenCallback>,
    retry: RetryPolicy,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("user_agent", &self.user_agent)
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("expires_at", &self.expires_at)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            user_agent: concat!("taskclient/", env!("CARGO_PKG_VERSION")).to_string(),
            access_token: None,
            refresh_token: None,
            expires_at: None,
            on_tokens: None,
            retry: RetryPolicy::default(),
        }
    }
}

impl ClientBuilder {
    /// A builder with the defaults: [`DEFAULT_BASE_URL`], 10 s to connect,
    /// 30 s per request, three attempts for idempotent requests, no tokens.
    pub fn new() -> Self {
        Self::default()
    }

    /// The server's base URL, such as `https://tasks.example.com`; a path
    /// prefix is kept (`https://example.com/tasks` serves `/tasks/api/...`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Time allowed to establish a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for each request from start to the end of its body (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `User-Agent` header (default `taskclient/VERSION`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The bearer token to send: an access token or an API token (`tsk_...`).
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.access_token = Some(token.into());
        self
    }

    /// When the access token expires, if known: the client refreshes before
    /// sending a request with a token it knows has expired.
    pub fn access_token_expires_at(mut self, at: Timestamp) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// The refresh token that obtains a new pair when the access token
    /// expires or is rejected.
    pub fn refresh_token(mut self, token: impl Into<String>) -> Self {
        self.refresh_token = Some(token.into());
        self
    }

    /// All three of access token, refresh token and expiry at once, as
    /// persisted from an earlier [`Client::tokens`] or callback.
    pub fn tokens(mut self, pair: TokenPair) -> Self {
        self.access_token = Some(pair.access_token);
        self.refresh_token = pair.refresh_token;
        self.expires_at = pair.expires_at;
        self
    }

    /// Called with every new token pair the client obtains (login, register,
    /// and each refresh, transparent or explicit), so the caller can persist
    /// it: refresh tokens are single use, and the old pair stops working.
    pub fn on_token_refresh<F>(mut self, callback: F) -> Self
    where
        F: Fn(&TokenPair) + Send + Sync + 'static,
    {
        self.on_tokens = Some(Arc::new(callback));
        self
    }

    /// How idempotent requests are retried (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Builds the client. Fails on a base URL that is not `http://` or
    /// `https://`, or a user agent that is not a valid header value.
    pub fn build(self) -> Result<Client> {
        let base = normalize_base_url(&self.base_url)?;
        let mut http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .user_agent(self.user_agent);
        if base.starts_with("http://") {
            // Plain HTTP needs no certificate roots; loading the system's
            // costs a short-lived program (a CLI command) milliseconds.
            http = http.tls_certs_only(Vec::<reqwest::Certificate>::new());
        }
        let http = http
            .build()
            .map_err(|e| Error::Config(format!("the HTTP client could not be built: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                auth: Mutex::new(AuthState {
                    access: self.access_token,
                    refresh: self.refresh_token,
                    expires_at: self.expires_at,
                    generation: 0,
                }),
                refresh_lock: tokio::sync::Mutex::new(()),
                on_tokens: self.on_tokens,
                retry: self.retry,
                timeout: self.timeout,
            }),
        })
    }
}

/// A server's base URL as every [`Client`] holds it: `http://` or
/// `https://`, with a host, no query or fragment, no trailing `/`. What
/// [`ClientBuilder::build`] checks, without building a client.
///
/// ```
/// assert_eq!(
///     taskclient::normalize_base_url(" http://127.0.0.1:8080/ ").ok().as_deref(),
///     Some("http://127.0.0.1:8080")
/// );
/// assert!(taskclient::normalize_base_url("ftp://example.com").is_err());
/// ```
pub fn normalize_base_url(raw: &str) -> Result<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed)
        .map_err(|e| Error::Config(format!("`{raw}` is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::Config(format!(
            "`{raw}` is not an http:// or https:// URL"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!(
            "`{raw}` must not have a query or a fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// A typed async client of the task API.
///
/// Cheap to clone: clones share the connection pool and the tokens, so a
/// refresh done by one is seen by all, and concurrent requests that find the
/// access token expired share a single refresh.
///
/// ```no_run
/// use taskclient::Client;
/// use taskcore::{ListQuery, StatusFilter, TaskDraft};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::new("http://127.0.0.1:8080")?;
/// client.login("ada@example.com", "correct horse battery").await?;
/// let task = client.create_task(&TaskDraft::new("Buy oat milk")?).await?;
/// println!("created task {} (version {})", task.number, task.version);
/// let query = ListQuery { status: StatusFilter::Pending, ..ListQuery::default() };
/// for task in client.list_tasks(&query).await?.tasks {
///     println!("{} {}", task.number, task.title);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    base: String,
    auth: Mutex<AuthState>,
    refresh_lock: tokio::sync::Mutex<()>,
    on_tokens: Option<TokenCallback>,
    retry: RetryPolicy,
    /// The per-request time limit, kept for calls that replace it with a
    /// longer one for their body (event streams) but not for their answer.
    pub(crate) timeout: Duration,
}

struct AuthState {
    access: Option<String>,
    refresh: Option<String>,
    expires_at: Option<Timestamp>,
    /// One more on every change of tokens: lets a request that saw an old
    /// token tell whether someone else already refreshed.
    generation: u64,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base)
            .finish_non_exhaustive()
    }
}

/// One request, kept whole so it can be sent again (after a refresh or for a retry).
pub(crate) struct Call {
    pub method: Method,
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
    pub if_match: Option<u64>,
    /// `If-None-Match: *`: a PUT that only creates.
    pub create_only: bool,
    pub auth: bool,
    /// Further headers (`Accept`, `Last-Event-ID`, ...).
    pub headers: Vec<(HeaderName, String)>,
    /// Replaces the client's time limit for this request, body included.
    pub timeout: Option<Duration>,
    /// Whether an idempotent call is retried here; a caller with its own
    /// reconnection loop turns this off.
    pub retry: bool,
}

impl Call {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            if_match: None,
            create_only: false,
            auth: true,
            headers: Vec::new(),
            timeout: None,
            retry: true,
        }
    }

    pub fn json(mut self, body: &impl serde::Serialize) -> Result<Self> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::Config(format!("the request body could not be encoded: {e}")))?;
        self.body = Some(bytes);
        Ok(self)
    }

    pub fn anonymous(mut self) -> Self {
        self.auth = false;
        self
    }

    pub fn if_match(mut self, version: Option<u64>) -> Self {
        self.if_match = version;
        self
    }

    pub fn create_only(mut self) -> Self {
        self.create_only = true;
        self
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// A time limit for the whole request, in place of the client's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// No retries: the caller handles failures itself.
    pub fn no_retry(mut self) -> Self {
        self.retry = false;
        self
    }

    fn idempotent(&self) -> bool {
        matches!(
            self.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        )
    }
}

impl Client {
    /// A client of the server at `base_url` with the default settings and no token.
    ///
    /// ```
    /// let client = taskclient::Client::new("http://127.0.0.1:8080/")?;
    /// assert_eq!(client.base_url(), "http://127.0.0.1:8080");
    /// assert!(taskclient::Client::new("ftp://example.com").is_err());
    /// # Ok::<(), taskclient::Error>(())
    /// ```
    pub fn new(base_url: impl Into<String>) -> Result<Self> {
        ClientBuilder::new().base_url(base_url).build()
    }

    /// A builder for a client with other timeouts, tokens, user agent or callback.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The server's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The tokens the client currently holds (`None` without an access token).
    ///
    /// ```
    /// let client = taskclient::Client::builder().access_token("tsk_x").build()?;
    /// assert_eq!(client.tokens().map(|t| t.access_token), Some("tsk_x".to_string()));
    /// # Ok::<(), taskclient::Error>(())
    /// ```
    pub fn tokens(&self) -> Option<TokenPair> {
        let state = self.auth();
        state.access.as_ref().map(|access| TokenPair {
            access_token: access.clone(),
            refresh_token: state.refresh.clone(),
            expires_at: state.expires_at,
        })
    }

    /// Replaces the tokens the client holds (`None` forgets them). The
    /// refresh callback is not called.
    pub fn set_tokens(&self, pair: Option<TokenPair>) {
        let mut state = self.auth();
        match pair {
            Some(pair) => {
                state.access = Some(pair.access_token);
                state.refresh = pair.refresh_token;
                state.expires_at = pair.expires_at;
            }
            None => {
                state.access = None;
                state.refresh = None;
                state.expires_at = None;
            }
        }
        state.generation += 1;
    }

    fn auth(&self) -> MutexGuard<'_, AuthState> {
        // A panic elsewhere while holding the lock cannot leave the state
        // half-written (every write is a plain assignment): keep going.
        self.inner
            .auth
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a new session's tokens and tells the callback.
    pub(crate) fn install(&self, session: &Session) {
        let pair = TokenPair::from_session(session);
        {
            let mut state = self.auth();
            state.access = Some(pair.access_token.clone());
            state.refresh = pair.refresh_token.clone();
            state.expires_at = pair.expires_at;
            state.generation += 1;
        }
        if let Some(callback) = &self.inner.on_tokens {
            callback(&pair);
        }
    }

    /// Refreshes with the held refresh token unless someone else did since
    /// `seen_generation`. One refresh at a time per client.
    pub(crate) async fn refresh_after(
        &self,
        seen_generation: u64,
    ) -> Result<Session, Option<Error>> {
        let _one_at_a_time = self.inner.refresh_lock.lock().await;
        let refresh_token = {
            let state = self.auth();
            if state.generation != seen_generation {
                return Err(None); // already refreshed by another request: just retry
            }
            state.refresh.clone()
        };
        let Some(refresh_token) = refresh_token else {
            return Err(Some(Error::Unauthorized { problem: None }));
        };
        let session = self.post_refresh(&refresh_token).await.map_err(Some)?;
        self.install(&session);
        Ok(session)
    }

    /// `POST /api/auth/refresh` with the given token, without touching the held tokens.
    pub(crate) async fn post_refresh(&self, refresh_token: &str) -> Result<Session> {
        let call = Call::new(Method::POST, "/api/auth/refresh")
            .anonymous()
            .json(&RefreshBody { refresh_token })?;
        let response = self.send_once(&call, None).await?;
        read_json(response).await
    }

    /// Sends a call: with the bearer token, refreshing it once when it is
    /// known to be expired or is rejected, and retrying idempotent calls.
    pub(crate) async fn execute(&self, call: &Call) -> Result<Response> {
        let mut refreshed = false;
        loop {
            let (token, generation, can_refresh, expired) = {
                let state = self.auth();
                let expired = state.access.is_none()
                    || state.expires_at.is_some_and(|at| Timestamp::now() >= at);
                (
                    state.access.clone(),
                    state.generation,
                    state.refresh.is_some(),
                    expired,
                )
            };
            let token = if call.auth { token } else { None };
            if call.auth && can_refresh && expired && !refreshed {
                refreshed = true;
                match self.refresh_after(generation).await {
                    Ok(_) | Err(None) => continue,
                    Err(Some(error)) => return Err(error),
                }
            }
            let response = self.send_with_retries(call, token.as_deref()).await?;
            if response.status() == StatusCode::UNAUTHORIZED
                && call.auth
                && can_refresh
                && !refreshed
                && token_rejected(&response)
            {
                refreshed = true;
                match self.refresh_after(generation).await {
                    Ok(_) | Err(None) => continue,
                    Err(Some(error)) => return Err(error),
                }
            }
            return Ok(response);
        }
    }

    async fn send_with_retries(&self, call: &Call, token: Option<&str>) -> Result<Response> {
        let policy = self.inner.retry;
        let attempts = if call.retry && call.idempotent() {
            policy.max_attempts.max(1)
        } else {
            1
        };
        let mut attempt = 1;
        loop {
            let result = self.send_once(call, token).await;
            let last = attempt >= attempts;
            let delay = match &result {
                _ if last => None,
                Err(Error::Transport(e)) if !e.is_builder() => Some(policy.backoff(attempt - 1)),
                Ok(response)
                    if matches!(
                        response.status(),
                        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                    ) =>
                {
                    match retry_after(response.headers()) {
                        Some(wait) if wait > policy.max_delay => None,
                        Some(wait) => Some(wait),
                        None => Some(policy.backoff(attempt - 1)),
                    }
                }
                _ => None,
            };
            match delay {
                None => return result,
                Some(delay) => {
                    drop(result);
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    pub(crate) async fn send_once(&self, call: &Call, token: Option<&str>) -> Result<Response> {
        let url = format!("{}{}", self.inner.base, call.path);
        let mut request = self.inner.http.request(call.method.clone(), url);
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(version) = call.if_match {
            request = request.header(IF_MATCH, format!("\"{version}\""));
        }
        if call.create_only {
            request = request.header(IF_NONE_MATCH, "*");
        }
        for (name, value) in &call.headers {
            request = request.header(name, value.as_str());
        }
        if let Some(timeout) = call.timeout {
            request = request.timeout(timeout);
        }
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        Ok(request.send().await?)
    }

    /// Executes a call and decodes a JSON success body.
    pub(crate) async fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T> {
        let response = self.execute(&call).await?;
        read_json(response).await
    }

    /// Executes a call whose success has no body (204).
    pub(crate) async fn no_content(&self, call: Call) -> Result<()> {
        let response = self.execute(&call).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(error_from(response).await)
        }
    }
}

/// Decodes a success body, or turns a failure into the matching [`Error`].
pub(crate) async fn read_json<T: DeserializeOwned>(response: Response) -> Result<T> {
    let status = response.status();
    if !status.is_success() {
        return Err(error_from(response).await);
    }
    let body = response.bytes().await?;
    serde_json::from_slice(&body).map_err(|e| Error::InvalidResponse {
        status,
        reason: format!("the body is not the JSON the API documents ({e})"),
    })
}

pub(crate) async fn error_from(response: Response) -> Error {
    let status = response.status();
    let wait = retry_after(response.headers());
    // A body that cannot be read just means no problem details.
    let body = response.bytes().await.unwrap_or_default();
    Error::from_response(status, wait, &body)
}

/// `Retry-After` as seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Whether a 401 says the bearer token itself was refused (so a refresh may
/// help), rather than, say, a wrong password (`invalid_credentials`, whose
/// challenge names no error): retrying that would only count another
/// failed attempt. A 401 without a challenge is taken as a refused token.
fn token_rejected(response: &Response) -> bool {
    response
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|challenge| challenge.contains("invalid_token"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn base_urls_are_checked_and_normalized() {
        assert_eq!(
            normalize_base_url("http://h:1/").ok().as_deref(),
            Some("http://h:1")
        );
        assert_eq!(
            normalize_base_url(" https://h/x/ ").ok().as_deref(),
            Some("https://h/x")
        );
        for bad in ["", "h:1", "ftp://h", "http://h/?a=1", "not a url"] {
            assert!(normalize_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("12"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(12)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy::default();
        let first = policy.backoff(0);
        assert!(first >= policy.base_delay && first <= policy.base_delay.mul_f64(1.25));
        assert!(policy.backoff(1) >= policy.base_delay * 2);
        let longest = policy.backoff(30);
        assert!(longest <= policy.max_delay);
        // At the cap there is still room for the jitter.
        assert!(longest >= policy.max_delay.mul_f64(0.8));
    }

    #[test]
    fn only_idempotent_methods_are_retried() {
        assert!(Call::new(Method::GET, "/").idempotent());
        assert!(Call::new(Method::PUT, "/").idempotent());
        assert!(Call::new(Method::DELETE, "/").idempotent());
        assert!(!Call::new(Method::POST, "/").idempotent());
        assert!(!Call::new(Method::PATCH, "/").idempotent());
    }
}
