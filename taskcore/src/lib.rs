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
//!
//! Without the default `server` feature only the domain types and the
//! API's wire types (`auth::Session`, `auth::CreatedApiToken`,
//! `store::ApiTokenInfo`) are built: what a client needs, with no store,
//! no password hashing and no token signing.

pub mod auth;
pub mod domain;
pub mod store;

pub use domain::*;
#[cfg(feature = "postgres")]
pub use store::{PgConfig, PgStore};
#[cfg(feature = "server")]
pub use store::{SledConfig, SledStore, StoreError, TaskStore, UserTasks};
