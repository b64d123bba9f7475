//! What every `taskcli` integration test needs: a real server started
//! in-process on port 0, the built binary run with a private HOME and XDG
//! directories, and what each run printed.

// Each test file is its own crate and uses its own part of this.
#![allow(dead_code)]

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use taskclient::Client;
use taskcore::{ListQuery, StatusFilter, Task, TaskRef};
use taskserver::config::Switch;

/// The password every test account uses.
pub const PASSWORD: &str = "correct horse battery";

/// A server of its own and a private home for `taskcli`.
pub struct Env {
    pub runtime: tokio::runtime::Runtime,
    server: Option<taskserver::RunningServer>,
    /// The URL `taskcli` is given: the server's, or the [`Link`]'s in front
    /// of it.
    pub url: String,
    /// The server's own URL, for the SDK's checks.
    server_url: String,
    /// Between `taskcli` and the server, when the test cuts the network.
    pub link: Option<Link>,
    pub home: tempfile::TempDir,
    _data: tempfile::TempDir,
}

/// What the [`Link`] does with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Passes it on to the server.
    Up = 0,
    /// Hangs up at once: the server cannot be reached.
    Down = 1,
    /// Accepts it and never answers: a server that hangs.
    Hanging = 2,
}

/// A TCP relay in front of the server that a test can cut: the network
/// between a laptop and its server.
pub struct Link {
    state: std::sync::Arc<std::sync::atomic::AtomicU8>,
}

impl Link {
    /// Relays connections on a port of its own to `server`; returns the
    /// link and its URL.
    fn start(server: std::net::SocketAddr) -> (Self, String) {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port for the link");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(LinkState::Up as u8));
        let shared = state.clone();
        std::thread::spawn(move || {
            let mut hung = Vec::new();
            for connection in listener.incoming() {
                let Ok(client) = connection else { continue };
                match shared.load(Ordering::SeqCst) {
                    0 => relay(client, server),
                    1 => drop(client),
                    _ => hung.push(client),
                }
            }
        });
        (Self { state }, url)
    }

    /// Changes what happens to the next connections.
    pub fn set(&self, state: LinkState) {
        self.state
            .store(state as u8, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Copies bytes both ways between `client` and a new connection to `server`.
fn relay(client: std::net::TcpStream, server: std::net::SocketAddr) {
    let Ok(upstream) = std::net::TcpStream::connect(server) else {
        return;
    };
    let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Write);
        });
    };
    if let (Ok(client_copy), Ok(upstream_copy)) = (client.try_clone(), upstream.try_clone()) {
        pipe(client_copy, upstream);
        pipe(upstream_copy, client);
    }
}

impl Env {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    pub fn start_with(configure: impl FnOnce(&mut taskserver::Config)) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let data = tempfile::tempdir().expect("temp dir");
        let mut config = taskserver::Config::new(data.path().join("data"))
            .listen(([127, 0, 0, 1], 0))
            .auth_rate_limit(Switch::Off);
        configure(&mut config);
        let server = runtime
            .block_on(taskserver::start(config))
            .expect("server starts");
        let url = server.url();
        Self {
            runtime,
            server: Some(server),
            server_url: url.clone(),
            url,
            link: None,
            home: tempfile::tempdir().expect("home"),
            _data: data,
        }
    }

    /// A server behind a [`Link`] the test can cut.
    pub fn start_linked() -> Self {
        let mut env = Self::start();
        let addr = env.server.as_ref().expect("running").addr;
        let (link, url) = Link::start(addr);
        env.url = url;
        env.link = Some(link);
        env
    }

    /// Sets the link between `taskcli` and the server.
    pub fn network(&self, state: LinkState) {
        self.link.as_ref().expect("a linked Env").set(state);
    }

    /// Shuts the server down: its port no longer answers. The port stays
    /// held by a listener that hangs up on every connection, so that no
    /// other test's server can take it and answer in its place.
    pub fn stop_server(&mut self) {
        if let Some(server) = self.server.take() {
            let addr = server.addr;
            self.runtime
                .block_on(server.shutdown())
                .expect("the server stops");
            let holder = std::net::TcpListener::bind(addr).expect("the port is free again");
            std::thread::spawn(move || {
                for connection in holder.incoming() {
                    drop(connection);
                }
            });
        }
    }

    /// `taskcli`'s own directory under the private XDG_CONFIG_HOME.
    pub fn config_dir(&self) -> PathBuf {
        self.home.path().join("xdg").join("taskcli")
    }

    /// Where the local copies are, under the private XDG_DATA_HOME.
    pub fn data_dir(&self) -> PathBuf {
        self.home.path().join("xdg-data").join("taskcli")
    }

    /// What every run gets: a private HOME, XDG_CONFIG_HOME and
    /// XDG_DATA_HOME, this server, and no OS keyring unless a test asks for
    /// it. The local copy syncs before every read
    /// (`TASKCLI_SYNC_MAX_AGE=0`), so that a test may change tasks through
    /// the SDK and see them in the next command; the tests of the copy
    /// itself set their own age.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let home = self.home.path();
        vec![
            ("HOME", home.display().to_string()),
            ("XDG_CONFIG_HOME", home.join("xdg").display().to_string()),
            ("XDG_DATA_HOME", home.join("xdg-data").display().to_string()),
            ("TASKCLI_SERVER", self.url.clone()),
            ("TASKCLI_KEYRING", "none".to_string()),
            ("TASKCLI_SYNC_MAX_AGE", "0".to_string()),
        ]
    }

    /// `taskcli` with [`vars`](Self::vars), no token or NO_COLOR from the
    /// test's own environment, and nothing on stdin.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_taskcli"));
        command
            .args(args)
            .envs(self.vars())
            .env_remove("TASKCLI_TOKEN")
            .env_remove("TASKCLI_REPLICA")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("taskcli runs"))
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("taskcli runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        Run::from(child.wait_with_output().expect("taskcli ends"))
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args);
        for (key, value) in env {
            command.env(key, value);
        }
        Run::from(command.output().expect("taskcli runs"))
    }

    /// Logs in (registering first when `register`), tokens in the
    /// credentials file.
    pub fn log_in(&self, email: &str, register: bool) -> Run {
        let verb = if register { "register" } else { "login" };
        self.run_with_stdin(
            &[
                "auth",
                verb,
                "--email",
                email,
                "--password-stdin",
                "--insecure-storage",
            ],
            &format!("{PASSWORD}\n"),
        )
    }

    /// Registers through the CLI, which must succeed.
    pub fn register(&self, email: &str) -> Run {
        let run = self.log_in(email, true);
        run.ok();
        run
    }

    /// The stored login's access token.
    pub fn token(&self) -> String {
        self.run(&["auth", "token"]).ok().stdout.trim().to_string()
    }

    /// An SDK client with `token`, for checking what the server holds.
    pub fn client(&self, token: &str) -> Client {
        Client::builder()
            .base_url(&self.server_url)
            .access_token(token)
            .build()
            .expect("client")
    }

    /// An SDK client with the stored login's token.
    pub fn sdk(&self) -> Client {
        self.client(&self.token())
    }

    /// Every task of the stored login, as the server holds them.
    pub fn tasks(&self) -> Vec<Task> {
        let sdk = self.sdk();
        self.block_on(sdk.collect_tasks(ListQuery {
            status: StatusFilter::All,
            ..ListQuery::default()
        }))
        .expect("list")
    }

    /// One task of the stored login, as the server holds it.
    pub fn task(&self, number: u64) -> Task {
        let sdk = self.sdk();
        self.block_on(sdk.get_task(TaskRef::Number(number)))
            .expect("task")
    }

    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(server) = self.server.take()
            && let Err(e) = self.runtime.block_on(server.shutdown())
        {
            eprintln!("the test server's final flush failed: {e}");
        }
    }
}

/// What one run of `taskcli` printed, and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    /// Exit `code`, with a reason on stderr that is sentences, never a
    /// panic or a debug dump.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "expected exit {code}: {self:#?}");
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert!(!lines.is_empty(), "a failure says why: {self:#?}");
        for line in &lines {
            assert!(
                !line.contains("panicked")
                    && !line.contains("Error {")
                    && !line.contains("RUST_BACKTRACE"),
                "{self:#?}"
            );
        }
        self
    }

    /// Exit `code` with exactly `stderr` (one `error: ` line) and nothing
    /// on stdout.
    #[track_caller]
    pub fn fails_with(&self, code: i32, stderr: &str) -> &Self {
        assert_eq!(
            (self.code, self.stderr.as_str(), self.stdout.as_str()),
            (code, format!("error: {stderr}\n").as_str(), ""),
            "{self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}
