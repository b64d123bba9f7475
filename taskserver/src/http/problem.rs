//! Every error the API answers, as one type, mapped to RFC 9457
//! `application/problem+json` in one place.

use super::endpoint::Route;
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use serde::Serialize;
use std::error::Error;
use std::fmt;
use taskcore::auth::AuthError;
use taskcore::{StoreError, ValidationErrors};

/// An error and its causes, joined with ": ", for a log line or a
/// message that must say why all the way down.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

/// An error answer of the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No such route, or no such task/token for this user: one identical body.
    #[error("not found")]
    NotFound,
    /// A known path with a method it does not serve; the route, for `Allow`.
    #[error("method not allowed")]
    MethodNotAllowed(&'static Route),
    /// Too many attempts; seconds to wait.
    #[error("rate limited")]
    RateLimited(u64),
    /// No bearer token.
    #[error("missing token")]
    MissingToken,
    /// A bearer token that is not valid.
    #[error("invalid token")]
    InvalidToken,
    /// Wrong email or password.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A refresh token that is not valid.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// Registration is closed on this server.
    #[error("registration closed")]
    RegistrationClosed,
    /// Local accounts are off (`--no-local-accounts`).
    #[error("local accounts disabled")]
    LocalAccountsDisabled,
    /// API tokens may not do this.
    #[error("api token not allowed")]
    ApiTokenNotAllowed,
    /// The user has as many tasks as allowed.
    #[error("task limit reached")]
    TaskLimitReached,
    /// The user has as many live API tokens as allowed.
    #[error("api token limit reached")]
    ApiTokenLimitReached,
    /// A CORS preflight from an origin that is not allowed.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// The body is not a JSON object.
    #[error("malformed json: {0}")]
    MalformedJson(String),
    /// A bad query parameter or cursor.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A change-feed cursor older than `--tombstone-retention`: the
    /// deletions after it may be forgotten, so the client syncs in full.
    #[error("cursor expired")]
    CursorExpired,
    /// The caller has as many live event streams open as allowed.
    #[error("too many streams")]
    TooManyStreams,
    /// A conditional header this request cannot take (`If-None-Match`
    /// other than `*` on `PUT`, or with `If-Match`); the detail says which.
    #[error("invalid precondition: {0}")]
    InvalidPrecondition(&'static str),
    /// A request hyper could not parse (answered by the connection, not a route).
    #[error("malformed request")]
    MalformedRequest,
    /// The request line's URI is over 64 KiB.
    #[error("uri too long")]
    UriTooLong,
    /// The request head is too large or has too many headers.
    #[error("headers too large")]
    HeadersTooLarge,
    /// The body is over 64 KiB.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body is not JSON by its content type.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// Fields broke the rules.
    #[error("validation failed: {0}")]
    Validation(ValidationErrors),
    /// The email is registered already.
    #[error("email taken")]
    EmailTaken,
    /// `If-Match` did not match.
    #[error("version mismatch")]
    VersionMismatch,
    /// `If-None-Match: *`: the caller has or had a task with this id.
    #[error("already exists")]
    AlreadyExists,
    /// The password-hashing pool is full.
    #[error("overloaded")]
    Overloaded,
    /// The store does not answer, or the external JWK set is not loaded;
    /// the detail says which.
    #[error("not ready: {0}")]
    NotReady(&'static str),
    /// The store cannot serve now (down, not answering in time, disk
    /// full, a failed flush); the cause goes to the log only.
    #[error("storage unavailable: {0}")]
    StorageUnavailable(String),
    /// A failure of ours; the cause (and its causes) goes to the log only.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Seconds a client waits before retrying on `storage_unavailable`: long
/// enough for a database restart or failover to make progress.
const STORAGE_RETRY_AFTER: &str = "5";
/// Seconds a client waits before opening another event stream when it has
/// as many open as allowed: a stream that just ended frees its place at once.
const STREAMS_RETRY_AFTER: &str = "5";

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: &'a str,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a ValidationErrors>,
}

impl ApiError {
    /// Status, code, title and the default detail.
    fn parts(&self) -> (StatusCode, &'static str, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::NotFound => (
                S::NOT_FOUND,
                "not_found",
                "Not Found",
                "The resource does not exist.",
            ),
            Self::MethodNotAllowed(_) => (
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method Not Allowed",
                "This path does not support this method; see the Allow header.",
            ),
            Self::RateLimited(_) => (
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too Many Requests",
                "Too many attempts; retry after the time in the Retry-After header.",
            ),
            Self::MissingToken => (
                S::UNAUTHORIZED,
                "missing_token",
                "Unauthorized",
                "This endpoint needs an Authorization: Bearer token.",
            ),
            Self::InvalidToken => (
                S::UNAUTHORIZED,
                "invalid_token",
                "Unauthorized",
                "The bearer token is invalid, expired or revoked.",
            ),
            Self::InvalidCredentials => (
                S::UNAUTHORIZED,
                "invalid_credentials",
                "Unauthorized",
                "The email or password is wrong.",
            ),
            Self::InvalidRefreshToken => (
                S::UNAUTHORIZED,
                "invalid_refresh_token",
                "Unauthorized",
                "The refresh token is invalid, expired or already used; log in again.",
            ),
            Self::RegistrationClosed => (
                S::FORBIDDEN,
                "registration_closed",
                "Forbidden",
                "This server does not accept new registrations.",
            ),
            Self::LocalAccountsDisabled => (
                S::FORBIDDEN,
                "local_accounts_disabled",
                "Forbidden",
                "This server accepts only tokens of its external identity provider; sign in there.",
            ),
            Self::ApiTokenNotAllowed => (
                S::FORBIDDEN,
                "api_token_not_allowed",
                "Forbidden",
                "API tokens cannot do this; use a login session.",
            ),
            Self::TaskLimitReached => (
                S::FORBIDDEN,
                "task_limit_reached",
                "Forbidden",
                "You have as many tasks as this server allows; delete some first.",
            ),
            Self::ApiTokenLimitReached => (
                S::FORBIDDEN,
                "api_token_limit_reached",
                "Forbidden",
                "You have as many live API tokens as this server allows; revoke one first.",
            ),
            Self::OriginNotAllowed => (
                S::FORBIDDEN,
                "origin_not_allowed",
                "Forbidden",
                "This origin is not allowed to call the API.",
            ),
            Self::MalformedJson(_) => (
                S::BAD_REQUEST,
                "malformed_json",
                "Bad Request",
                "The body must be a JSON object.",
            ),
            Self::InvalidQuery(_) => (
                S::BAD_REQUEST,
                "invalid_query",
                "Bad Request",
                "A query parameter is invalid.",
            ),
            Self::CursorExpired => (
                S::GONE,
                "cursor_expired",
                "Gone",
                "The change-feed cursor is older than this server remembers deletions; \
                 sync in full again (without `since`).",
            ),
            Self::TooManyStreams => (
                S::TOO_MANY_REQUESTS,
                "too_many_streams",
                "Too Many Requests",
                "You have as many event streams open as this server allows; close one, or \
                 retry after the time in the Retry-After header.",
            ),
            Self::InvalidPrecondition(_) => (
                S::BAD_REQUEST,
                "invalid_precondition",
                "Bad Request",
                "A conditional header is not one this request takes.",
            ),
            Self::MalformedRequest => (
                S::BAD_REQUEST,
                "malformed_request",
                "Bad Request",
                "The request is not valid HTTP/1.1.",
            ),
            Self::UriTooLong => (
                S::URI_TOO_LONG,
                "uri_too_long",
                "URI Too Long",
                "The request line is longer than this server reads.",
            ),
            Self::HeadersTooLarge => (
                S::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                "Request Header Fields Too Large",
                "The request headers are larger, or more, than this server reads.",
            ),
            Self::PayloadTooLarge => (
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload Too Large",
                "The body is larger than 65536 bytes.",
            ),
            Self::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported Media Type",
                "Send the body as application/json.",
            ),
            Self::Validation(_) => (
                S::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Unprocessable Entity",
                "Some fields are invalid; see errors.",
            ),
            Self::EmailTaken => (
                S::CONFLICT,
                "email_taken",
                "Conflict",
                "An account with this email already exists.",
            ),
            Self::VersionMismatch => (
                S::PRECONDITION_FAILED,
                "version_mismatch",
                "Precondition Failed",
                "The task has changed since that version (If-Match); fetch it again.",
            ),
            Self::AlreadyExists => (
                S::PRECONDITION_FAILED,
                "already_exists",
                "Precondition Failed",
                "You have or had a task with this id (If-None-Match: *); nothing was created.",
            ),
            Self::Overloaded => (
                S::SERVICE_UNAVAILABLE,
                "overloaded",
                "Service Unavailable",
                "The server is busy; retry after the time in the Retry-After header.",
            ),
            Self::NotReady(_) => (
                S::SERVICE_UNAVAILABLE,
                "not_ready",
                "Service Unavailable",
                "The store is not answering.",
            ),
            Self::StorageUnavailable(_) => (
                S::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "Service Unavailable",
                "The store cannot serve right now; retry after the time in the Retry-After \
                 header. A write answered this way may or may not have been applied.",
            ),
            Self::Internal(_) => (
                S::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal Server Error",
                "Something went wrong on our side.",
            ),
        }
    }

    /// The problem+json response, with the headers `docs/api.md` lists.
    pub fn into_response(self) -> Response<Bytes> {
        let (status, code, title, default_detail) = self.parts();
        let detail = match &self {
            Self::MalformedJson(d) | Self::InvalidQuery(d) => d.as_str(),
            Self::NotReady(d) | Self::InvalidPrecondition(d) => d,
            _ => default_detail,
        };
        match &self {
            Self::Internal(_) => tracing::error!(error = %Chain(&self), "internal error"),
            Self::StorageUnavailable(cause) => tracing::warn!(%cause, "storage unavailable"),
            _ => {}
        }
        let errors = match &self {
            Self::Validation(e) => Some(e),
            _ => None,
        };
        let problem = Problem {
            kind: "about:blank",
            title,
            status: status.as_u16(),
            detail,
            code,
            errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = Response::new(Bytes::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            Self::MissingToken | Self::InvalidCredentials | Self::InvalidRefreshToken => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::InvalidToken => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            Self::MethodNotAllowed(route) => {
                if let Ok(allow) = HeaderValue::try_from(route.allow()) {
                    headers.insert(ALLOW, allow);
                }
            }
            Self::RateLimited(secs) => {
                headers.insert(RETRY_AFTER, HeaderValue::from((*secs).max(1)));
            }
            Self::Overloaded => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::StorageUnavailable(_) => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static(STORAGE_RETRY_AFTER));
            }
            Self::TooManyStreams => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static(STREAMS_RETRY_AFTER));
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::EmailTaken => Self::EmailTaken,
            StoreError::VersionMismatch => Self::VersionMismatch,
            StoreError::AlreadyExists => Self::AlreadyExists,
            StoreError::TaskLimitReached => Self::TaskLimitReached,
            StoreError::Unavailable(cause) => Self::StorageUnavailable(cause),
            StoreError::ApiTokenLimitReached => Self::ApiTokenLimitReached,
            StoreError::Invalid(errors) => Self::Validation(errors),
            other @ (StoreError::Incompatible(_)
            | StoreError::ImportConflict(_)
            | StoreError::Backend { .. }) => Self::Internal(Box::new(other)),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => Self::InvalidCredentials,
            AuthError::EmailTaken => Self::EmailTaken,
            AuthError::InvalidRefreshToken => Self::InvalidRefreshToken,
            AuthError::InvalidToken | AuthError::UnknownSigningKey => Self::InvalidToken,
            AuthError::ApiTokenNotAllowed => Self::ApiTokenNotAllowed,
            AuthError::Overloaded => Self::Overloaded,
            AuthError::Store(s) => s.into(),
            e @ AuthError::Internal(_) => Self::Internal(Box::new(e)),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        Self::Validation(e)
    }
}
