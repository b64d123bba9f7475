//! The built binary as a child process: started with a clean environment,
//! its `listening on` line awaited, its output kept, stopped on drop.
//! Shared by both HTTP test binaries, each of which uses part of it.
#![allow(dead_code)]

use crate::helpers::*;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The binary with a clean environment, in `cwd`, on `data_dir`, port 0.
pub(crate) fn command(cwd: &Path, data_dir: &Path) -> Command {
    command_on(cwd, data_dir, "127.0.0.1:0")
}

/// The binary with a clean environment, in `cwd`, on `data_dir` and `listen`.
pub(crate) fn command_on(cwd: &Path, data_dir: &Path, listen: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskserver"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TASKSERVER_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(cwd)
        .arg("--listen")
        .arg(listen)
        .arg("--data-dir")
        .arg(data_dir)
        .env("TASKSERVER_AUTH_RATE_LIMIT", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A running server process; everything it writes is kept in `output`.
pub(crate) struct Bin {
    pub(crate) child: Child,
    pub(crate) url: String,
    output: Arc<Mutex<String>>,
}

/// Copies lines from a pipe into `output`, and the `listening on` URL into `tx`.
fn collect(pipe: impl Read + Send + 'static, output: Arc<Mutex<String>>, tx: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.trim().to_string());
            }
            let mut out = output.lock().expect("output");
            out.push_str(&line);
            out.push('\n');
        }
    });
}

impl Bin {
    /// Starts the command and waits for its `listening on` line.
    pub(crate) fn start(mut cmd: Command) -> Bin {
        let mut child = cmd.spawn().expect("spawn taskserver");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        collect(
            child.stdout.take().expect("stdout"),
            output.clone(),
            tx.clone(),
        );
        // Only stdout may announce the address; stderr is drained and kept.
        collect(
            child.stderr.take().expect("stderr"),
            output.clone(),
            mpsc::channel().0,
        );
        drop(tx);
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => {
                let port = url
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse::<u16>().ok())
                    .expect("a port");
                assert!(
                    url.starts_with("http://127.0.0.1:") && port != 0,
                    "printed {url:?}"
                );
                Bin { child, url, output }
            }
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                std::thread::sleep(Duration::from_millis(200));
                let out = output.lock().expect("output").clone();
                panic!("the server never printed `listening on` ({status:?}): {out}");
            }
        }
    }

    /// Everything written so far on stdout and stderr.
    pub(crate) fn output(&self) -> String {
        self.output.lock().expect("output").clone()
    }

    /// Everything written so far, once it holds `expected` (or after 10 s,
    /// for the caller's assertion to show what it holds). The log is on
    /// stderr, read by a thread of its own: a line written before
    /// `listening on` may still be on its way when `start` returns.
    pub(crate) fn output_with(&self, expected: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let output = self.output();
            if output.contains(expected) || std::time::Instant::now() > deadline {
                return output;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(crate) fn app(&self) -> App {
        App::remote(&self.url)
    }

    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits up to `secs` for the process to exit.
    pub(crate) fn wait(mut self, secs: u64) -> ExitStatus {
        wait_for(&mut self.child, secs)
    }
}

impl Drop for Bin {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) fn wait_for(child: &mut Child, secs: u64) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not exit within {secs}s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fresh working directory and a data directory path inside it (not yet created).
pub(crate) fn dirs() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    (dir, data)
}

pub(crate) fn with_secret(mut cmd: Command) -> Command {
    cmd.env("TASKSERVER_JWT_SECRET", SECRET);
    cmd
}

/// Runs one of the binary's tools with a clean environment; returns whether
/// it succeeded and everything it printed.
pub(crate) fn tool(args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskserver"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TASKSERVER_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run taskserver");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A path as the tools take it.
pub(crate) fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// How a run of the binary ended: its exit code and what it printed.
pub(crate) struct Ran {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Ran {
    /// The lines of stderr that say something.
    pub(crate) fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// Runs the binary to its exit (at most 30 s) in `cwd`, with a clean
/// environment plus `envs`.
pub(crate) fn run_in(cwd: &Path, args: &[&str], envs: &[(&str, &str)]) -> Ran {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskserver"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TASKSERVER_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(cwd)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn taskserver");
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("stderr")));
    let status = wait_for(&mut child, 30);
    Ran {
        code: status.code(),
        stdout: stdout.join().expect("stdout"),
        stderr: stderr.join().expect("stderr"),
    }
}
