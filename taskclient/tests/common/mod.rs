//! What the SDK's integration tests share: a real server started
//! in-process on port 0, with its own data directory.

#![allow(dead_code)] // each test binary uses its own part of it

use taskclient::{Client, TaskDraft, Timestamp};
use taskserver::config::Switch;

/// The password of every test user.
pub const PASSWORD: &str = "correct horse battery";

/// A server on a free port, on a store in a directory of its own.
pub struct TestServer {
    server: Option<taskserver::RunningServer>,
    /// Where it listens.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// A server with the default configuration (no auth rate limit).
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    /// A server whose configuration `configure` adjusts.
    pub async fn with(configure: impl FnOnce(&mut taskserver::Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = taskserver::Config::new(dir.path().join("data"))
            .listen(([127, 0, 0, 1], 0))
            .auth_rate_limit(Switch::Off);
        configure(&mut config);
        let server = taskserver::start(config).await.expect("server starts");
        let url = server.url();
        Self {
            server: Some(server),
            url,
            _dir: dir,
        }
    }

    /// A client of this server, logged in as nobody.
    pub fn client(&self) -> Client {
        Client::new(&self.url).expect("client")
    }

    /// A new client logged in as a fresh user.
    pub async fn user(&self, email: &str) -> Client {
        let client = self.client();
        client.register(email, PASSWORD).await.expect("register");
        client
    }

    /// Another device of an existing user: a client with its own session.
    pub async fn device(&self, email: &str) -> Client {
        let client = self.client();
        client.login(email, PASSWORD).await.expect("login");
        client
    }

    /// Stops the server, which flushes its store.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server
                .shutdown()
                .await
                .expect("the store flushes at shutdown");
        }
    }
}

/// A draft with this title.
pub fn draft(title: &str) -> TaskDraft {
    TaskDraft::new(title).expect("a valid title")
}

/// The time in an RFC 3339 text.
pub fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("a valid time")
}
