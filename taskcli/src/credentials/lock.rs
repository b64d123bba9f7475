//! A lock file that lets one `taskcli` process at a time refresh tokens;
//! the others wait, then read the tokens the winner stored.

use crate::config::{create_private_dir, open_private};
use crate::error::{CliError, CliResult};
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a process waits for another one's refresh.
const WAIT: Duration = Duration::from_secs(30);

/// Held while refreshing; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct RefreshLock {
    _file: File,
}

impl RefreshLock {
    /// Takes the lock `refresh.lock` in `dir`, waiting for another holder.
    pub fn acquire(dir: &Path) -> CliResult<Self> {
        let path = dir.join("refresh.lock");
        let fail = |e: std::io::Error| {
            CliError::failure(format!("Could not lock {}: {e}.", path.display()))
        };
        create_private_dir(dir).map_err(fail)?;
        let file = open_lock_file(&path).map_err(fail)?;
        let started = Instant::now();
        loop {
            match fs4::FileExt::try_lock(&file) {
                Ok(()) => return Ok(Self { _file: file }),
                Err(fs4::TryLockError::WouldBlock) if started.elapsed() < WAIT => {
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(fs4::TryLockError::WouldBlock) => {
                    return Err(CliError::failure(format!(
                        "Another taskcli process has held {} for {} seconds; try again.",
                        path.display(),
                        WAIT.as_secs()
                    )));
                }
                Err(fs4::TryLockError::Error(e)) => return Err(fail(e)),
            }
        }
    }
}

fn open_lock_file(path: &Path) -> std::io::Result<File> {
    if path.exists() {
        std::fs::OpenOptions::new().write(true).open(path)
    } else {
        open_private(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = RefreshLock::acquire(dir.path()).expect("first");
        let path = dir.path().to_path_buf();
        let (sender, receiver) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let lock = RefreshLock::acquire(&path).expect("second");
            sender.send(()).expect("send");
            drop(lock);
        });
        assert!(
            receiver.recv_timeout(Duration::from_millis(200)).is_err(),
            "the second waits"
        );
        drop(first);
        receiver
            .recv_timeout(Duration::from_secs(5))
            .expect("then gets it");
        waiter.join().expect("join");
    }
}
