//! `taskclient`: a typed async SDK for the task API.
//!
//! - [`Client`] has one method per endpoint, speaking the
//!   [`taskcore`] domain types, re-exported here ([`Task`], [`TaskDraft`],
//!   [`TaskPatch`], [`ListQuery`], [`Project`], [`Recur`], ...), so a
//!   program never touches raw JSON.
//! - Every failure is one [`Error`], with a variant per documented status.
//! - Requests have timeouts (10 s to connect, 30 s in all, by default);
//!   idempotent ones (`GET`, `PUT`, `DELETE`) are retried with backoff on
//!   transport errors, 429 and 503 (see [`RetryPolicy`]).
//! - With a refresh token, an expired or rejected access token is refreshed
//!   once, transparently, and the request retried once; the new pair goes to
//!   the callback set with [`ClientBuilder::on_token_refresh`]. Concurrent
//!   requests that find the token expired share a single refresh.
//! - [`Client::all_tasks`] walks every page of a list.
//! - [`Client::changes`] walks the change feed (a full sync, or what changed
//!   since a cursor), and [`Client::events`] follows changes live, as a
//!   stream that reconnects by itself and resumes where it stopped.
//! - With the feature `replica`, `Replica` is a local copy of one user's
//!   tasks on sled that works offline: reads at local speed, writes applied
//!   at once and queued, and `Replica::sync` pushing the queue by the merge
//!   rules, then pulling the change feed.
//! - [`Client::create`] and [`Client::update`] build a write field by field;
//!   an update answers [`Updated`]: the task, and the next task of its
//!   recurring series when completing it created one (the response's
//!   `Link: rel="next"` header).
//! - The types a program speaks are re-exported here, so `taskclient` alone
//!   is enough: [`Task`], [`TaskDraft`], [`TaskPatch`], [`ListQuery`], and
//!   the typed fields [`Project`] (validated like the server: dot-separated
//!   levels, `Home.Garden` inside `Home`) and [`Recur`] (an RFC 5545 RRULE
//!   subset that parses, checks and prints the rule; [`Recur::from_friendly`]
//!   reads `weekly`, `every 2 weeks`, `every mon,thu`, ...).
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
//!
//! Projects and recurrence:
//!
//! ```no_run
//! use taskclient::{
//!     Client, ListQuery, Project, ProjectFilter, Recur, Sort, SortField, Tags, TaskRef, Timestamp,
//!     Title,
//! };
//!
//! # async fn run(client: Client) -> Result<(), Box<dyn std::error::Error>> {
//! let first_due = Timestamp::parse_rfc3339("2026-12-07T18:00:00Z").ok_or("a date")?;
//! let plants = client
//!     .create(Title::parse("Water plants")?)
//!     .project(Project::parse("Home.Garden")?)
//!     .due(first_due)
//!     .recur(Recur::from_friendly("weekly")?)
//!     .send()
//!     .await?;
//!
//! // Completing it creates the next one, in the same write.
//! let done = client.update(TaskRef::Id(plants.id)).completed(true).send().await?;
//! if let Some(next) = done.next {
//!     let next = client.get_task(TaskRef::Id(next)).await?;
//!     println!("next: task {}, due {:?}", next.number, next.due);
//! }
//!
//! // Tag edits that merge with other clients' edits.
//! client.update(TaskRef::Number(3)).add_tags(Tags::parse(["garden"])?).send().await?;
//!
//! // Everything in Home and inside it, by project; the projects with counts.
//! let home = ListQuery {
//!     project: Some(ProjectFilter::Within(Project::parse("Home")?)),
//!     sort: Sort { field: SortField::Project, descending: false },
//!     ..ListQuery::default()
//! };
//! let page = client.list_tasks(&home).await?;
//! for project in client.projects().await? {
//!     println!("{} {} pending", project.name, project.pending);
//! }
//! # Ok(())
//! # }
//! ```

mod api;
mod client;
mod error;
mod feed;
mod model;
mod pagination;
#[cfg(feature = "replica")]
mod replica;
mod requests;
mod sse;

pub use client::{
    Client, ClientBuilder, DEFAULT_BASE_URL, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, RetryPolicy,
    normalize_base_url,
};
pub use error::{Error, Problem, Result};
pub use feed::LiveChange;
pub use model::{ApiTokenInfo, CreatedApiToken, Health, Session, TokenPair};
#[cfg(feature = "replica")]
pub use replica::{
    ChangeKind, DropReason, Dropped, Identity, LocalRef, LocalTask, Lost, Numbered, Rebuilt,
    Replica, ReplicaError, ReplicaView, Successor, SyncReport,
};
pub use requests::{CreateTask, UpdateTask, Updated};
/// The HTTP status type used in [`Error`].
pub use reqwest::StatusCode;
/// The domain types the SDK speaks, from `taskcore`, so that a program needs
/// no other crate: tasks and their fields, list queries, projects and
/// recurrence rules, each validated when it is parsed.
pub use taskcore::{
    ByDay, CHANGES_LIMIT_DEFAULT, CHANGES_LIMIT_MAX, Change, ChangesResponse, Description,
    FieldError, Frequency, ListQuery, Page, Priority, Project, ProjectCount, ProjectError,
    ProjectFilter, ProjectList, Recur, RecurError, Sort, SortField, StatusFilter, Tags, Task,
    TaskDraft, TaskId, TaskPatch, TaskRef, TimeError, Timestamp, Title, User, UserId,
    ValidationErrors,
};
