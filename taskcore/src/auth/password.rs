//! Password hashing with argon2id, bounded so a login flood cannot exhaust
//! memory or starve the async runtime.

use crate::domain::Password;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::{Arc, LazyLock};
use tokio::sync::Semaphore;

/// Hashes a password with argon2id (default parameters, random salt) into a PHC string.
pub fn hash_password(password: &Password) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Verifies a password against a PHC string (the comparison is constant-time).
/// A malformed stored hash verifies nothing.
pub fn verify_password(password: &Password, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.expose().as_bytes(), phc)
        .is_ok()
}

/// A hash of a random password, made once: verifying against it costs what a
/// real verification costs, so an unknown email takes as long as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let random = super::tokens::random_bytes::<24>();
    Argon2::default()
        .hash_password(&random)
        .map(|hash| hash.to_string())
        .unwrap_or_default()
});

/// Spends the work of one verification and returns false.
pub fn dummy_verify(password: &Password) -> bool {
    let _ = verify_password(password, &DUMMY_HASH);
    false
}

/// Why hashing did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too many hashes are already running or waiting: try again later.
    #[error("the password-hashing pool is full")]
    Overloaded,
    /// argon2 failed (should not happen with valid parameters).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Runs argon2 on the blocking pool, at most `workers` at a time, with at
/// most `queue` more waiting; beyond that, [`PasswordError::Overloaded`].
#[derive(Clone)]
pub struct HashingPool {
    workers: Arc<Semaphore>,
    admission: Arc<Semaphore>,
}

impl HashingPool {
    /// A pool of `workers` concurrent hashes and `queue` waiting ones.
    pub fn new(workers: usize, queue: usize) -> Self {
        Self {
            workers: Arc::new(Semaphore::new(workers.max(1))),
            admission: Arc::new(Semaphore::new(workers.max(1) + queue)),
        }
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: Password) -> Result<String, PasswordError> {
        self.run(move || hash_password(&password)).await?
    }

    /// Verifies a password against a stored hash, or against the dummy hash
    /// when there is none (unknown email): the same work either way.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        self.run(move || match stored {
            Some(phc) => verify_password(&password, &phc),
            None => dummy_verify(&password),
        })
        .await
    }

    /// Warms the dummy hash so the first unknown-email login is not slower.
    pub async fn warm_up(&self) {
        let _ = tokio::task::spawn_blocking(|| LazyLock::force(&DUMMY_HASH)).await;
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _admitted = self
            .admission
            .try_acquire()
            .map_err(|_| PasswordError::Overloaded)?;
        let _slot = self
            .workers
            .acquire()
            .await
            .map_err(|_| PasswordError::Overloaded)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| PasswordError::Hashing(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let password = Password::parse("correct horse").expect("valid");
        let a = hash_password(&password).expect("hash");
        let b = hash_password(&password).expect("hash");
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify_password(&password, &a));
        assert!(!verify_password(
            &Password::parse("wrong horse").expect("valid"),
            &a
        ));
        assert!(!verify_password(&password, "not a hash"));
        assert!(!dummy_verify(&password));
    }

    #[tokio::test]
    async fn a_full_pool_says_overloaded() {
        let pool = HashingPool::new(1, 0);
        let held = pool
            .admission
            .clone()
            .try_acquire_owned()
            .expect("one slot");
        let password = Password::parse("correct horse").expect("valid");
        assert!(matches!(
            pool.hash(password.clone()).await,
            Err(PasswordError::Overloaded)
        ));
        drop(held);
        assert!(pool.hash(password).await.is_ok());
    }
}
