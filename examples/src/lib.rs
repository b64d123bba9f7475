//! Runnable examples of the task crates; the code is in `examples/`:
//!
//! - `embed_store`: the sled store used directly, without HTTP
//!   (`cargo run -p examples --example embed_store`).
//! - `sdk_client`: the `taskclient` SDK against a running server
//!   (`cargo run -p examples --example sdk_client -- --spawn` starts one in-process).
//! - `mount_in_your_app`: the API's warp filters next to an application's own routes
//!   (`cargo run -p examples --example mount_in_your_app -- --self-test`).
//!
//! This library is empty: Cargo wants a target besides the examples.
