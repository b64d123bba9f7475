//! The one error type of the SDK, and the server's problem details.

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use taskcore::FieldError;

/// A `Result` whose error is the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An RFC 9457 problem, as the server sends it with every error response.
///
/// Every field is optional on the wire: a proxy or another server in front of
/// the API may answer with something less complete, and the SDK keeps what it
/// can read.
///
/// ```
/// use taskclient::Problem;
///
/// let body = r#"{"type":"about:blank","title":"Not Found","status":404,"code":"not_found"}"#;
/// let problem: Problem = serde_json::from_str(body).expect("valid problem");
/// assert_eq!(problem.code.as_deref(), Some("not_found"));
/// assert!(problem.errors.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Problem {
    /// A URI naming the problem type; `about:blank` for plain HTTP statuses.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<String>,
    /// A short summary of the problem type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The HTTP status the server gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong this time, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The machine-readable reason (`invalid_credentials`, `task_limit_reached`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Per-field messages of a validation failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// The most specific human text the problem carries: `detail`, else `title`.
    ///
    /// ```
    /// let problem = taskclient::Problem { title: Some("Conflict".into()), ..Default::default() };
    /// assert_eq!(problem.message(), Some("Conflict"));
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.detail
            .as_deref()
            .or(self.title.as_deref())
            .filter(|s| !s.is_empty())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.message(), &self.code) {
            (Some(message), _) => f.write_str(message),
            (None, Some(code)) => f.write_str(code),
            (None, None) => f.write_str("no details given"),
        }
    }
}

/// Everything that can go wrong when talking to the server.
///
/// Each HTTP status the API documents has its own variant, so a caller can
/// `match` on what happened without reading status codes; the server's
/// problem details ride along where they say more. The SDK never panics on
/// an unexpected response: a body it cannot read is
/// [`Error::InvalidResponse`].
///
/// ```
/// use taskclient::Error;
///
/// fn explain(error: &Error) -> &'static str {
///     match error {
///         Error::Transport(_) => "the server could not be reached",
///         Error::Unauthorized { .. } => "log in again",
///         Error::Forbidden { .. } => "not allowed",
///         Error::NotFound => "no such task",
///         Error::Conflict { .. } => "already exists",
///         Error::VersionMismatch => "someone else changed it first",
///         Error::AlreadyExists => "created already (an earlier try got through)",
///         Error::Validation { .. } => "fix the fields",
///         Error::RateLimited { .. } => "slow down",
///         Error::CursorExpired => "sync everything again",
///         Error::TooManyStreams { .. } => "close another event stream first",
///         Error::Other { .. } | Error::InvalidResponse { .. } | Error::Config(_) => "something else",
///     }
/// }
/// assert_eq!(explain(&Error::NotFound), "no such task");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request did not get an HTTP response: connection refused, DNS,
    /// TLS, a timeout, or a connection cut mid-way.
    #[error("could not reach the server: {}", transport_reason(.0))]
    Transport(#[source] reqwest::Error),

    /// 401: no token, an invalid or expired one, wrong credentials, or a
    /// refresh token that is no longer valid. `problem.code` tells which
    /// (`missing_token`, `invalid_token`, `invalid_credentials`,
    /// `invalid_refresh_token`); it is `None` when the SDK itself had no
    /// token to refresh with.
    #[error("not authenticated: {}", problem_text(.problem.as_deref(), "no valid token"))]
    Unauthorized {
        /// The server's problem details, when it sent them.
        problem: Option<Box<Problem>>,
    },

    /// 403: the server refuses this outright (`registration_closed`,
    /// `local_accounts_disabled`, `task_limit_reached`, `api_token_not_allowed`,
    /// `api_token_limit_reached`, ...).
    #[error("forbidden ({code}): {}", problem_text(Some(.problem), "refused"))]
    Forbidden {
        /// The problem's `code` (empty if the server gave none).
        code: String,
        /// The server's problem details.
        problem: Box<Problem>,
    },

    /// 404: no such task or token for this user (or no such path).
    #[error("not found")]
    NotFound,

    /// 409: the thing exists already (`email_taken`).
    #[error("conflict: {}", problem_text(Some(.problem), "already exists"))]
    Conflict {
        /// The server's problem details.
        problem: Box<Problem>,
    },

    /// 412: an `If-Match` version did not match the task's current version.
    #[error("the task was changed by someone else (version mismatch)")]
    VersionMismatch,

    /// 412 `already_exists`: a create with a chosen id
    /// ([`Client::create_task_with_id`](crate::Client::create_task_with_id))
    /// whose id the user has or had (deleted). Nothing changed; after a
    /// retry it means an earlier try got through.
    #[error("a task with this id exists or existed (already created)")]
    AlreadyExists,

    /// 422: the request broke the API's rules; one message per field.
    #[error("invalid request: {}", field_errors(.errors))]
    Validation {
        /// What each field got wrong.
        errors: Vec<FieldError>,
    },

    /// 429: too many requests; wait `retry_after` (from `Retry-After`) before trying again.
    #[error("rate limited{}", retry_after_text(.retry_after))]
    RateLimited {
        /// How long the server asked the client to wait.
        retry_after: Option<Duration>,
    },

    /// 410 `cursor_expired`: a change-feed cursor older than the server's
    /// tombstone retention. Deletions since then may be forgotten, so the
    /// only way to be in step again is a full sync
    /// ([`Client::changes`](crate::Client::changes) with `since: None`).
    #[error("the change-feed cursor is too old: sync everything again")]
    CursorExpired,

    /// 429 `too_many_streams`: the user has as many open event streams as
    /// the server allows (10). [`Client::events`](crate::Client::events)
    /// waits and tries again by itself.
    #[error("too many open event streams for this user{}", retry_after_text(.retry_after))]
    TooManyStreams {
        /// How long the server asked the client to wait, if it said.
        retry_after: Option<Duration>,
    },

    /// Any other non-success status (400, 413, 415, 500, 503, ...).
    #[error("the server answered {status}: {}", problem_text(.problem.as_deref(), "no details"))]
    Other {
        /// The HTTP status.
        status: StatusCode,
        /// The server's problem details, when the body was problem JSON.
        problem: Option<Box<Problem>>,
    },

    /// A response the SDK could not make sense of: a success whose body is
    /// not the JSON it should be, for instance.
    #[error("unexpected response from the server (status {status}): {reason}")]
    InvalidResponse {
        /// The HTTP status of the response.
        status: StatusCode,
        /// What was wrong with it.
        reason: String,
    },

    /// The client was configured wrongly (a base URL that is not `http(s)://`,
    /// a user agent that is not a valid header value, ...).
    #[error("invalid client configuration: {0}")]
    Config(String),
}

impl Error {
    /// The HTTP status behind this error, if a response was received.
    ///
    /// ```
    /// use taskclient::Error;
    /// assert_eq!(Error::NotFound.status().map(|s| s.as_u16()), Some(404));
    /// assert_eq!(Error::Config("x".into()).status(), None);
    /// ```
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Transport(e) => e.status(),
            Self::Unauthorized { .. } => Some(StatusCode::UNAUTHORIZED),
            Self::Forbidden { .. } => Some(StatusCode::FORBIDDEN),
            Self::NotFound => Some(StatusCode::NOT_FOUND),
            Self::Conflict { .. } => Some(StatusCode::CONFLICT),
            Self::VersionMismatch | Self::AlreadyExists => Some(StatusCode::PRECONDITION_FAILED),
            Self::Validation { .. } => Some(StatusCode::UNPROCESSABLE_ENTITY),
            Self::RateLimited { .. } | Self::TooManyStreams { .. } => {
                Some(StatusCode::TOO_MANY_REQUESTS)
            }
            Self::CursorExpired => Some(StatusCode::GONE),
            Self::Other { status, .. } | Self::InvalidResponse { status, .. } => Some(*status),
            Self::Config(_) => None,
        }
    }

    /// The problem's machine-readable `code`, when the server sent one.
    ///
    /// ```
    /// use taskclient::{Error, Problem};
    /// let error = Error::Unauthorized {
    ///     problem: Some(Box::new(Problem { code: Some("invalid_credentials".into()), ..Default::default() })),
    /// };
    /// assert_eq!(error.code(), Some("invalid_credentials"));
    /// ```
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Unauthorized { problem } | Self::Other { problem, .. } => {
                problem.as_deref().and_then(|p| p.code.as_deref())
            }
            Self::Forbidden { code, .. } => Some(code.as_str()).filter(|c| !c.is_empty()),
            Self::Conflict { problem } => problem.code.as_deref(),
            Self::NotFound => Some("not_found"),
            Self::VersionMismatch => Some("version_mismatch"),
            Self::AlreadyExists => Some("already_exists"),
            Self::Validation { .. } => Some("validation_failed"),
            Self::RateLimited { .. } => Some("rate_limited"),
            Self::CursorExpired => Some("cursor_expired"),
            Self::TooManyStreams { .. } => Some("too_many_streams"),
            Self::Transport(_) | Self::InvalidResponse { .. } | Self::Config(_) => None,
        }
    }

    /// Builds the error for a non-success response from its status, headers
    /// and body. Never fails: an unreadable body just means no problem details.
    pub(crate) fn from_response(
        status: StatusCode,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> Self {
        let problem: Option<Problem> = serde_json::from_slice::<Problem>(body)
            .ok()
            .filter(|p| *p != Problem::default());
        match status {
            StatusCode::UNAUTHORIZED => Self::Unauthorized {
                problem: problem.map(Box::new),
            },
            StatusCode::FORBIDDEN => {
                let problem = problem.unwrap_or_default();
                Self::Forbidden {
                    code: problem.code.clone().unwrap_or_default(),
                    problem: Box::new(problem),
                }
            }
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::CONFLICT => Self::Conflict {
                problem: Box::new(problem.unwrap_or_default()),
            },
            // Both 412s; only the code tells a create's from If-Match's.
            StatusCode::PRECONDITION_FAILED => {
                match problem.as_ref().and_then(|p| p.code.as_deref()) {
                    Some("already_exists") => Self::AlreadyExists,
                    _ => Self::VersionMismatch,
                }
            }
            StatusCode::UNPROCESSABLE_ENTITY => Self::Validation {
                errors: problem.map(|p| p.errors).unwrap_or_default(),
            },
            // Both 429s; the code tells a stream limit from a rate limit.
            StatusCode::TOO_MANY_REQUESTS => {
                match problem.as_ref().and_then(|p| p.code.as_deref()) {
                    Some("too_many_streams") => Self::TooManyStreams { retry_after },
                    _ => Self::RateLimited { retry_after },
                }
            }
            StatusCode::GONE
                if problem.as_ref().and_then(|p| p.code.as_deref()) == Some("cursor_expired") =>
            {
                Self::CursorExpired
            }
            status => Self::Other {
                status,
                problem: problem.map(Box::new),
            },
        }
    }
}

impl From<reqwest::Error> for Error {
    fn from(error: reqwest::Error) -> Self {
        Self::Transport(error)
    }
}

fn transport_reason(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "the request timed out"
    } else if error.is_connect() {
        "the connection failed"
    } else {
        "the request failed"
    };
    // The innermost cause is the one that says something (e.g. "Connection refused").
    let mut innermost = None;
    let mut next = std::error::Error::source(error);
    while let Some(cause) = next {
        innermost = Some(cause);
        next = cause.source();
    }
    match innermost {
        Some(cause) => format!("{what} ({cause})"),
        None => what.to_string(),
    }
}

fn problem_text(problem: Option<&Problem>, fallback: &str) -> String {
    problem
        .and_then(|p| p.message().or(p.code.as_deref()))
        .unwrap_or(fallback)
        .to_string()
}

fn field_errors(errors: &[FieldError]) -> String {
    if errors.is_empty() {
        return "the server gave no details".into();
    }
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!("; retry after {} s", d.as_secs().max(1)),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_variants() {
        let body = br#"{"type":"about:blank","title":"Unprocessable","status":422,"code":"validation_failed",
            "errors":[{"field":"title","message":"must not be empty"}]}"#;
        match Error::from_response(StatusCode::UNPROCESSABLE_ENTITY, None, body) {
            Error::Validation { errors } => assert_eq!(errors[0].field, "title"),
            other => panic!("unexpected {other:?}"),
        }
        let body = br#"{"title":"Forbidden","status":403,"code":"task_limit_reached"}"#;
        match Error::from_response(StatusCode::FORBIDDEN, None, body) {
            Error::Forbidden { code, .. } => assert_eq!(code, "task_limit_reached"),
            other => panic!("unexpected {other:?}"),
        }
        let wait = Some(Duration::from_secs(7));
        assert!(matches!(
            Error::from_response(StatusCode::TOO_MANY_REQUESTS, wait, b""),
            Error::RateLimited { retry_after } if retry_after == wait
        ));
        let body = br#"{"status":429,"code":"too_many_streams"}"#;
        let error = Error::from_response(StatusCode::TOO_MANY_REQUESTS, wait, body);
        assert!(
            matches!(error, Error::TooManyStreams { retry_after } if retry_after == wait),
            "{error:?}"
        );
        assert_eq!(error.code(), Some("too_many_streams"));
        let body = br#"{"status":410,"code":"cursor_expired"}"#;
        let error = Error::from_response(StatusCode::GONE, None, body);
        assert!(matches!(error, Error::CursorExpired), "{error:?}");
        assert_eq!(error.status(), Some(StatusCode::GONE));
        // A 410 without that code (a proxy's, say) is not a feed answer.
        assert!(matches!(
            Error::from_response(StatusCode::GONE, None, b""),
            Error::Other { .. }
        ));
        assert!(matches!(
            Error::from_response(StatusCode::PRECONDITION_FAILED, None, b"garbage"),
            Error::VersionMismatch
        ));
        match Error::from_response(StatusCode::BAD_GATEWAY, None, b"<html>oops</html>") {
            Error::Other { status, problem } => {
                assert_eq!(status, StatusCode::BAD_GATEWAY);
                assert!(problem.is_none());
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            Error::from_response(StatusCode::UNAUTHORIZED, None, b""),
            Error::Unauthorized { problem: None }
        ));
    }

    #[test]
    fn messages_are_one_sentence() {
        let error = Error::Validation {
            errors: vec![FieldError {
                field: "title".into(),
                message: "must not be empty".into(),
            }],
        };
        assert_eq!(
            error.to_string(),
            "invalid request: title: must not be empty"
        );
        let error = Error::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(error.to_string(), "rate limited; retry after 30 s");
    }
}
