//! `taskserver`: the task API as warp filters, and the server around them.
//!
//! Mount the API in any warp application with [`routes`]:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use taskserver::{AppState, Config, routes};
//! use warp::Filter;
//!
//! let config = Config::new("./taskserver-data");
//! let store = taskcore::SledStore::open(taskcore::SledConfig::new(&config.data_dir))?;
//! let state = AppState::new(config, Arc::new(store)).await?;
//! let app = routes(state).or(warp::path("hello").map(|| "hi"));
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! Or run it whole with [`start`], as the `taskserver` binary does. The
//! store is the embedded sled one, or PostgreSQL with `--database-url`
//! (the `postgres` feature, on by default): see [`stores`].

pub mod commands;
pub mod config;
mod http;
mod jwks;
mod ratelimit;
mod server;
mod state;
pub mod stores;

pub use config::Config;
pub use http::problem::Chain as ErrorChain;
pub use http::{PeerAddr, metrics_routes, routes};
pub use server::{RunningServer, StartError, start};
pub use state::{AppState, Shared};
