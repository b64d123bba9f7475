//! HTTP integration tests of the task server: the real server, in process on
//! port 0 (and as the built binary where a test is about the process),
//! spoken to over HTTP.

/// The store behind this binary's in-process servers.
const BACKEND: helpers::Backend = helpers::Backend::Sled;

mod binary;
mod helpers;

mod accounts;
mod auth;
mod connections;
mod errors_http;
mod external_idp;
mod extremes;
mod faults_disk;
mod fuzz;
mod isolation;
mod model;
mod operations;
mod pagination;
mod process;
mod ratelimit;
mod tasks;
mod tokens_attacks;
mod transfer;
mod upgrade;
mod validation;
