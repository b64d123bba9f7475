//! `taskcore`: the task store.
//!
//! - [`domain`]: tasks, users, list queries and their validation rules.
//! - [`store`]: the async, backend-neutral [`store::TaskStore`]
//!   trait, the embedded sled backend (the default) and, with the
//!   `postgres` feature, the PostgreSQL backend that several servers can
//!   share; plus export and import records for moving between them.
//! - [`auth`]: password hashing, access and refresh tokens, API tokens,
//!   opaque list cursors: the token logic that is not HTTP.
//!
//! Every task operation is scoped to one user: see [`store::UserTasks`].

pub mod auth;
pub mod domain;
pub mod store;

pub use domain::*;
#[cfg(feature = "postgres")]
pub use store::{PgConfig, PgStore};
pub use store::{SledConfig, SledStore, StoreError, TaskStore, UserTasks};
