//! Failures as the user sees them: one sentence and an exit code.

use std::fmt;
use taskclient::Error as ApiError;

/// The documented exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Anything else, a server-side validation error included.
    Failure = 1,
    /// Bad flags or arguments, caught before any request.
    Usage = 2,
    /// Not logged in, session expired, wrong email or password.
    Auth = 3,
    /// The task (or token) does not exist.
    NotFound = 4,
}

/// An error for the user: what happened, in one sentence, and the exit code.
#[derive(Debug)]
pub struct CliError {
    /// Which exit code it maps to.
    pub exit: Exit,
    /// One sentence, no trailing newline.
    pub message: String,
    /// Whether the server did not answer at all (so what is known locally
    /// may still be worth showing).
    pub unreachable: bool,
}

impl CliError {
    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Usage,
            message: message.into(),
            unreachable: false,
        }
    }

    /// An authentication error (exit 3).
    pub fn auth(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Auth,
            message: message.into(),
            unreachable: false,
        }
    }

    /// Any other failure (exit 1).
    pub fn failure(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Failure,
            message: message.into(),
            unreachable: false,
        }
    }

    /// A failure of several parts, each already reported on stderr: nothing
    /// more to say, only the exit code.
    pub fn reported(exit: Exit) -> Self {
        Self {
            exit,
            message: String::new(),
            unreachable: false,
        }
    }

    /// A not-found error (exit 4).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::NotFound,
            message: message.into(),
            unreachable: false,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;

/// What the user was doing when the API failed, for a sentence that names it.
#[derive(Clone, Copy, Debug)]
pub enum Doing<'a> {
    /// A request about a task, named as the user named it.
    Task(&'a str),
    /// A request about an API token.
    ApiToken(&'a str),
    /// Logging in or registering.
    Credentials,
    /// Anything else.
    General,
}

/// Turns an SDK error into a sentence and an exit code.
pub fn from_api(error: ApiError, server: &str, env_token: bool, doing: Doing<'_>) -> CliError {
    match error {
        ApiError::Transport(cause) => {
            let reason = if cause.is_timeout() {
                "the request timed out".to_string()
            } else if cause.is_connect() {
                "is it running?".to_string()
            } else {
                "the connection failed".to_string()
            };
            // `sentence`: the reason may end in its own question mark.
            CliError {
                unreachable: true,
                ..CliError::failure(sentence(&format!("Could not reach the server at {server}: {reason}")))
            }
        }
        ApiError::Unauthorized { problem } => {
            let code = problem.as_ref().and_then(|p| p.code.as_deref());
            match (code, doing) {
                (Some("invalid_credentials"), _) | (_, Doing::Credentials) => {
                    CliError::auth("Wrong email or password.")
                }
                _ if env_token => CliError::auth(format!(
                    "The server at {server} refused the token in {}: it is invalid, expired or revoked.",
                    crate::session::TOKEN_ENV
                )),
                (Some("missing_token"), _) | (None, _) => CliError::auth(format!(
                    "Not logged in to {server}; run `taskcli auth login --email EMAIL` first."
                )),
                _ => CliError::auth(format!(
                    "Your session on {server} has expired or was revoked; log in again with `taskcli auth login --email EMAIL`."
                )),
            }
        }
        ApiError::Forbidden { code, problem } => CliError::failure(match code.as_str() {
            "registration_closed" => format!("The server at {server} does not accept new registrations."),
            "local_accounts_disabled" => {
                format!("The server at {server} only accepts tokens from an external identity provider.")
            }
            "task_limit_reached" => {
                "You have as many tasks as this server allows; delete some first.".to_string()
            }
            "api_token_not_allowed" => {
                "An API token cannot manage API tokens, log out or delete the account; log in with your password for that."
                    .to_string()
            }
            "api_token_limit_reached" => {
                "You have as many API tokens as this server allows (100); revoke one first.".to_string()
            }
            _ => sentence(&format!("The server refused the request: {problem}")),
        }),
        ApiError::NotFound => match doing {
            Doing::Task(id) => CliError::not_found(format!("Task {id} not found.")),
            Doing::ApiToken(id) => CliError::not_found(format!("API token {id} not found.")),
            _ => CliError::not_found(format!("Not found on the server at {server}.")),
        },
        ApiError::Conflict { problem } => match problem.code.as_deref() {
            Some("email_taken") => CliError::failure("An account with this email already exists; log in instead."),
            _ => CliError::failure(sentence(&format!("Conflict: {problem}"))),
        },
        ApiError::VersionMismatch => CliError::failure(match doing {
            Doing::Task(id) => format!("Task {id} was changed by someone else in the meantime; try again."),
            _ => "It was changed by someone else in the meantime; try again.".to_string(),
        }),
        ApiError::AlreadyExists => CliError::failure("A task with this id exists or existed; it was not created again."),
        ApiError::Validation { errors } => {
            let details: Vec<String> = errors.iter().map(|e| format!("{} {}", e.field, e.message)).collect();
            if details.is_empty() {
                CliError::failure("The server rejected the request as invalid.")
            } else {
                CliError::failure(sentence(&format!("The server rejected the request: {}", details.join("; "))))
            }
        }
        ApiError::RateLimited { retry_after } => CliError::failure(match retry_after {
            Some(wait) => format!("Too many attempts; try again in {}.", seconds(wait.as_secs().max(1))),
            None => "Too many attempts; try again later.".to_string(),
        }),
        ApiError::CursorExpired => CliError::failure("The sync position is older than the server remembers; sync everything again."),
        ApiError::TooManyStreams { .. } => CliError::failure("Too many open event streams for this account; close one and try again."),
        ApiError::Other { status, problem } => {
            let detail = problem.as_deref().and_then(|p| p.message().map(str::to_string));
            let reason = status.canonical_reason().unwrap_or("an unexpected status");
            CliError::failure(match detail {
                Some(detail) => sentence(&format!("The server answered {} {reason}: {detail}", status.as_u16())),
                None => format!("The server answered {} {reason}.", status.as_u16()),
            })
        }
        ApiError::InvalidResponse { status, .. } => CliError::failure(format!(
            "The server at {server} sent a response taskcli could not read (status {}); is it a task server?",
            status.as_u16()
        )),
        ApiError::Config(message) => CliError::usage(sentence(&message)),
    }
}

/// `1 second`, `5 seconds`.
pub fn seconds(n: u64) -> String {
    if n == 1 {
        "1 second".to_string()
    } else {
        format!("{n} seconds")
    }
}

/// Capitalizes nothing, but makes sure the text ends with a full stop.
pub fn sentence(text: &str) -> String {
    let text = text.trim_end();
    if text.ends_with(['.', '!', '?']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskclient::{Problem, StatusCode};

    #[test]
    fn exit_codes_follow_the_spec() {
        let server = "http://127.0.0.1:8080";
        let unauthorized = |code: &str| ApiError::Unauthorized {
            problem: Some(Box::new(Problem {
                code: Some(code.into()),
                ..Problem::default()
            })),
        };
        assert_eq!(
            from_api(
                unauthorized("invalid_credentials"),
                server,
                false,
                Doing::General
            )
            .exit,
            Exit::Auth
        );
        let expired = from_api(unauthorized("invalid_token"), server, false, Doing::General);
        assert_eq!(expired.exit, Exit::Auth);
        assert!(expired.message.contains("expired"), "{}", expired.message);
        let missing = from_api(ApiError::NotFound, server, false, Doing::Task("#7"));
        assert_eq!(
            (missing.exit, missing.message.as_str()),
            (Exit::NotFound, "Task #7 not found.")
        );
        let invalid = from_api(
            ApiError::Validation {
                errors: vec![taskcore::FieldError {
                    field: "title".into(),
                    message: "must not be empty".into(),
                }],
            },
            server,
            false,
            Doing::General,
        );
        assert_eq!(invalid.exit, Exit::Failure);
        assert_eq!(
            invalid.message,
            "The server rejected the request: title must not be empty."
        );
        let other = from_api(
            ApiError::Other {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                problem: None,
            },
            server,
            false,
            Doing::General,
        );
        assert_eq!(
            other.message,
            "The server answered 500 Internal Server Error."
        );
        let limited = from_api(
            ApiError::RateLimited {
                retry_after: Some(std::time::Duration::from_millis(300)),
            },
            server,
            false,
            Doing::General,
        );
        assert_eq!(limited.message, "Too many attempts; try again in 1 second.");
    }
}
