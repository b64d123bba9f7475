//! `taskcore`: the task store.
//!
//! - [`domain`]: tasks, users, list queries and their validation rules.
//! - [`store`]: the async, backend-neutral [`store::TaskStore`]
//!   trait and the embedded sled backend.
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
