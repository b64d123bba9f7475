//! `taskclient`: a typed async SDK for the task API.
//!
//! - [`Client`] has one method per endpoint, speaking the
//!   [`taskcore`] domain types ([`Task`](taskcore::Task),
//!   [`TaskDraft`](taskcore::TaskDraft), [`TaskPatch`](taskcore::TaskPatch),
//!   [`ListQuery`](taskcore::ListQuery), ...), so a program never touches raw JSON.
//! - Every failure is one [`Error`], with a variant per documented status.
//! - Requests have timeouts (10 s to connect, 30 s in all, by default);
//!   idempotent ones (`GET`, `PUT`, `DELETE`) are retried with backoff on
//!   transport errors, 429 and 503 (see [`RetryPolicy`]).
//! - With a refresh token, an expired or rejected access token is refreshed
//!   once, transparently, and the request retried once; the new pair goes to
//!   the callback set with [`ClientBuilder::on_token_refresh`]. Concurrent
//!   requests that find the token expired share a single refresh.
//! - [`Client::all_tasks`] walks every page of a list.
//!
//! ```no_run
//! use futures_util::TryStreamExt;
//! use taskclient::{Client, Error};
//! use taskcore::{ListQuery, TaskDraft, TaskPatch, TaskRef};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder()
//!     .base_url("http://127.0.0.1:8080")
//!     .on_token_refresh(|pair| println!("new tokens, expiring at {:?}", pair.expires_at))
//!     .build()?;
//! client.login("ada@example.com", "correct horse battery").await?;
//!
//! let task = client.create_task(&TaskDraft::new("Write the report")?).await?;
//! let done = TaskPatch { completed: Some(true), ..TaskPatch::default() };
//! match client.update_task(TaskRef::Id(task.id), &done, Some(task.version)).await {
//!     Ok(task) => println!("done at version {}", task.version),
//!     Err(Error::VersionMismatch) => println!("changed elsewhere in the meantime"),
//!     Err(other) => return Err(other.into()),
//! }
//!
//! let all: Vec<_> = client.all_tasks(ListQuery::default()).try_collect().await?;
//! println!("{} tasks", all.len());
//! # Ok(())
//! # }
//! ```

mod api;
mod client;
mod error;
mod model;
mod pagination;

pub use client::{
    Client, ClientBuilder, DEFAULT_BASE_URL, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, RetryPolicy,
};
pub use error::{Error, Problem, Result};
pub use model::{ApiTokenInfo, CreatedApiToken, Health, Session, TokenPair};
/// The HTTP status type used in [`Error`].
pub use reqwest::StatusCode;
