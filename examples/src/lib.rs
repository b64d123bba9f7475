//! Runnable examples of the task crates; the code is in `examples/`:
//!
//! - `embed_store`: the sled store used directly, without HTTP
//!   (`cargo run -p examples --example embed_store`).
//! - `sdk_client`: the `taskclient` SDK against a running server
//!   (`cargo run -p examples --example sdk_client -- --spawn` starts one in-process).
//! - `mount_in_your_app`: the API's warp filters next to an application's own routes
//!   (`cargo run -p examples --example mount_in_your_app -- --self-test`).
//! - `follow_changes`: live changes with `Client::events`
//!   (`cargo run -p examples --example follow_changes -- --spawn` starts a
//!   server, makes changes and checks it saw each of them).
//!
//! This library holds what the SDK examples share: the server they start
//! in their self-contained mode, and where they find one otherwise.

/// Any error, for the examples' `main`s.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A whole task server in this process, on a free port of 127.0.0.1 and a
/// store in a temporary directory that goes away with it.
pub struct LocalServer {
    server: taskserver::RunningServer,
    _data: tempfile::TempDir,
}

impl LocalServer {
    /// Starts one with the default settings.
    pub async fn start() -> Result<Self, BoxError> {
        let data = tempfile::tempdir()?;
        let config = taskserver::Config::new(data.path().join("store")).listen(([127, 0, 0, 1], 0));
        let server = taskserver::start(config).await?;
        println!("started a server at {}", server.url());
        Ok(Self {
            server,
            _data: data,
        })
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Stops it and flushes its store.
    pub async fn stop(self) -> Result<(), BoxError> {
        self.server.shutdown().await?;
        Ok(())
    }
}

/// The server an example talks to when it starts none: the first argument
/// that is not a flag, else `TASKSERVER_URL`, else `http://127.0.0.1:8080`.
pub fn server_url(args: &[String]) -> String {
    args.iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .or_else(|| std::env::var("TASKSERVER_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_string())
}
