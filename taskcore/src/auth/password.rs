//! Password hashing with argon2id, bounded so a login flood cannot exhaust
//! memory or starve the async runtime.
//!
//! Every argon2 run needs `m_cost` KiB of blocks (19 MiB by default). Left to
//! the allocator, glibc's growing mmap threshold keeps freed arrays of that
//! size in per-thread arenas, one per blocking thread, and never returns
//! them: a server grew to 750 MB that way. So the pool owns one array per
//! worker, allocated on first use and reused: at most `workers` arrays ever
//! exist, whatever the number of threads. When the last admitted hash of a
//! burst is done, the arrays are freed (a server that hashed once would
//! otherwise keep 19 MiB per core for good); the next hash allocates again,
//! which costs a few milliseconds next to argon2's tens.

use crate::domain::Password;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::password_hash::try_generate_salt;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::fmt::Display;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};
use tokio::sync::Semaphore;

/// The largest `m_cost` (KiB) a stored hash may ask for: 256 MiB, well above
/// any recommended setting. A corrupt or hostile import must not make one
/// login allocate gigabytes.
const MAX_STORED_M_COST: u32 = 256 * 1024;

/// Hashes a password with argon2id (default parameters, random salt) into a
/// PHC string. Allocates the argon2 memory for this one call: a server
/// hashes through a [`HashingPool`], which reuses it.
pub fn hash_password(password: &Password) -> Result<String, PasswordError> {
    let mut memory = new_memory()?;
    hash_in(&mut memory, password.expose().as_bytes()).map(|hash| hash.to_string())
}

/// Verifies a password against a PHC string (the comparison is constant-time).
/// A malformed stored hash verifies nothing. Allocates the argon2 memory for
/// this one call, like [`hash_password`].
pub fn verify_password(password: &Password, phc: &str) -> bool {
    new_memory().is_ok_and(|mut memory| verify_in(&mut memory, password, phc))
}

/// Blocks for one default-sized argon2 run.
fn new_memory() -> Result<Vec<Block>, PasswordError> {
    blocks(Params::default().block_count())
}

/// `count` zeroed blocks, or an error (not an abort) when memory is short.
fn blocks(count: usize) -> Result<Vec<Block>, PasswordError> {
    let mut memory = Vec::new();
    memory.try_reserve_exact(count).map_err(failed)?;
    memory.resize(count, Block::new());
    Ok(memory)
}

fn failed(e: impl Display) -> PasswordError {
    PasswordError::Hashing(e.to_string())
}

/// Hashes with argon2id and the default parameters in `memory`, with a fresh
/// random salt; the PHC string is built by the crate's own types, exactly as
/// `Argon2::hash_password` builds it.
fn hash_in(memory: &mut [Block], password: &[u8]) -> Result<PasswordHash, PasswordError> {
    let (algorithm, version, params) = (Algorithm::Argon2id, Version::V0x13, Params::default());
    let salt = Salt::new(&try_generate_salt().map_err(failed)?).map_err(failed)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    run_argon2(&argon2, memory, password, &salt, &mut out)?;
    Ok(PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(&params).map_err(failed)?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(failed)?),
    })
}

/// Whether `password` matches the stored PHC string; anything malformed is false.
fn verify_in(memory: &mut [Block], password: &Password, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| matches_hash(memory, password, &hash).unwrap_or(false))
}

/// Recomputes `hash` for `password` with the hash's own algorithm, version,
/// parameters, salt and output length, and compares the outputs in constant
/// time (`Output`'s equality), as `Argon2::verify_password` does.
fn matches_hash(
    memory: &mut [Block],
    password: &Password,
    hash: &PasswordHash,
) -> Result<bool, PasswordError> {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Ok(false);
    };
    let algorithm = Algorithm::try_from(hash.algorithm.as_str()).map_err(failed)?;
    let version = match hash.version {
        Some(v) => Version::try_from(v).map_err(failed)?,
        None => Version::default(),
    };
    // Takes the output length from the stored output too.
    let params = Params::try_from(hash).map_err(failed)?;
    if params.m_cost() > MAX_STORED_M_COST {
        return Ok(false);
    }
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let out = buffer
        .get_mut(..expected.len())
        .ok_or_else(|| failed("output too long"))?;
    let argon2 = Argon2::new(algorithm, version, params);
    run_argon2(&argon2, memory, password.expose().as_bytes(), salt, out)?;
    let computed = Output::new(out).map_err(failed)?;
    Ok(computed == *expected)
}

/// Runs argon2 in `memory` when it is large enough (argon2 uses the first
/// `block_count` blocks and overwrites them before reading, so reuse is safe).
fn run_argon2(
    argon2: &Argon2<'_>,
    memory: &mut [Block],
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), PasswordError> {
    let needed = argon2.params().block_count();
    if needed <= memory.len() {
        return argon2
            .hash_password_into_with_memory(password, salt, out, memory)
            .map_err(failed);
    }
    // Only a stored hash made elsewhere (an import) asks for more than a
    // slot. Refusing would lock those users out, so this rare verification
    // gets a temporary array; it is capped by MAX_STORED_M_COST and by the
    // pool's workers, so it cannot grow without bound.
    let mut temporary = blocks(needed)?;
    argon2
        .hash_password_into_with_memory(password, salt, out, &mut temporary)
        .map_err(failed)
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
/// Each running hash uses one of `workers` preallocated block arrays.
#[derive(Clone)]
pub struct HashingPool {
    workers: Arc<Semaphore>,
    admission: Arc<Semaphore>,
    slots: Arc<Slots>,
}

/// The argon2 memory of a pool: one block array per worker, and the dummy
/// hash an unknown email is verified against.
struct Slots {
    arrays: Box<[Mutex<Vec<Block>>]>,
    /// Hashes admitted and not yet done (running or waiting for a worker).
    in_flight: AtomicUsize,
    /// A hash of a random password, made once (in a slot): verifying against
    /// it costs what a real verification costs, so an unknown email takes as
    /// long as a wrong password.
    dummy: OnceLock<PasswordHash>,
}

impl Slots {
    /// A free array, allocated on its first use. A job runs only while it
    /// holds a worker permit, and there are as many arrays as permits, so
    /// one is always free; should none be, this waits for the first.
    fn take(&self) -> Result<MutexGuard<'_, Vec<Block>>, PasswordError> {
        let free = self.arrays.iter().find_map(|slot| match slot.try_lock() {
            Ok(memory) => Some(memory),
            // The blocks carry nothing between runs: a panic mid-run leaves them usable.
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        });
        let mut memory = match free {
            Some(memory) => memory,
            None => self
                .arrays
                .first()
                .ok_or_else(|| failed("a pool without memory"))?
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        };
        if memory.is_empty() {
            *memory = new_memory()?;
        }
        Ok(memory)
    }

    /// Frees the arrays no hash is using.
    fn release_idle(&self) {
        for slot in &self.arrays {
            match slot.try_lock() {
                Ok(mut memory) => *memory = Vec::new(),
                Err(TryLockError::Poisoned(poisoned)) => *poisoned.into_inner() = Vec::new(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
    }

    /// Verifies against the dummy hash, making it first if need be; always false.
    fn dummy_verify(&self, memory: &mut [Block], password: &Password) -> bool {
        if let Some(dummy) = self.dummy_hash(memory) {
            let _ = matches_hash(memory, password, dummy);
        }
        false
    }

    fn dummy_hash(&self, memory: &mut [Block]) -> Option<&PasswordHash> {
        if let Some(dummy) = self.dummy.get() {
            return Some(dummy);
        }
        let random = super::tokens::random_bytes::<24>();
        let made = hash_in(memory, &random).ok()?;
        Some(self.dummy.get_or_init(|| made))
    }
}

impl HashingPool {
    /// A pool of `workers` concurrent hashes and `queue` waiting ones.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            workers: Arc::new(Semaphore::new(workers)),
            admission: Arc::new(Semaphore::new(workers + queue)),
            slots: Arc::new(Slots {
                arrays: (0..workers).map(|_| Mutex::new(Vec::new())).collect(),
                in_flight: AtomicUsize::new(0),
                dummy: OnceLock::new(),
            }),
        }
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: Password) -> Result<String, PasswordError> {
        self.run(move |_, memory| {
            hash_in(memory, password.expose().as_bytes()).map(|hash| hash.to_string())
        })
        .await?
    }

    /// Verifies a password against a stored hash, or against the dummy hash
    /// when there is none (unknown email): the same work either way.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        self.run(move |slots, memory| match stored {
            Some(phc) => verify_in(memory, &password, &phc),
            None => slots.dummy_verify(memory, &password),
        })
        .await
    }

    /// Makes the dummy hash (and so the first slot's memory) now, so the
    /// first unknown-email login is not slower.
    pub async fn warm_up(&self) {
        let _ = self
            .run(|slots, memory| slots.dummy_hash(memory).is_some())
            .await;
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Slots, &mut [Block]) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let admitted = self
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| PasswordError::Overloaded)?;
        let busy = InFlight::enter(&self.slots);
        let worker = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Overloaded)?;
        let slots = self.slots.clone();
        tokio::task::spawn_blocking(move || {
            // The permits go with the work, not with the caller's future: a
            // client that hangs up must not free a worker (and its slot)
            // while its hash still runs.
            let _permits = (admitted, worker, busy);
            let mut memory = slots.take()?;
            let out = work(&slots, &mut memory);
            // Unlocked before `busy` is dropped, so the last hash frees its own array too.
            drop(memory);
            Ok(out)
        })
        .await
        .map_err(failed)?
    }
}

/// One admitted hash, from admission until its work is done or its caller
/// gives up before it started; the last one out frees the idle arrays.
struct InFlight(Arc<Slots>);

impl InFlight {
    fn enter(slots: &Arc<Slots>) -> Self {
        slots.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(slots.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // A hash admitted meanwhile allocates its array again: correct either way.
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.release_idle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    fn password(text: &str) -> Password {
        Password::parse(text).expect("valid")
    }

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let right = password("correct horse");
        let a = hash_password(&right).expect("hash");
        let b = hash_password(&right).expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        assert!(verify_password(&right, &a));
        assert!(!verify_password(&password("wrong horse"), &a));
        assert!(!verify_password(&right, "not a hash"));
        assert!(!verify_password(&right, "$argon2id$v=19$m=19456,t=2,p=1"));
    }

    #[test]
    fn old_hashes_verify_here_and_new_hashes_verify_with_plain_argon2() {
        let right = password("correct horse");
        let wrong = password("wrong horse");
        // Written by the code before the slots: argon2's own defaults.
        let old = Argon2::default()
            .hash_password(right.expose().as_bytes())
            .expect("hash")
            .to_string();
        assert!(verify_password(&right, &old));
        assert!(!verify_password(&wrong, &old));
        // Written here: plain argon2 reads and verifies it.
        let new = hash_password(&right).expect("hash");
        let parsed = PasswordHash::new(&new).expect("a PHC string");
        assert!(
            Argon2::default()
                .verify_password(right.expose().as_bytes(), &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(wrong.expose().as_bytes(), &parsed)
                .is_err()
        );
    }

    #[test]
    fn other_parameters_verify_smaller_and_larger_than_a_slot() {
        let right = password("correct horse");
        let made_with = |algorithm, m_cost, p_cost, output_len| {
            let params = Params::new(m_cost, 1, p_cost, Some(output_len)).expect("params");
            Argon2::new(algorithm, Version::V0x13, params)
                .hash_password(right.expose().as_bytes())
                .expect("hash")
                .to_string()
        };
        let mut slot = new_memory().expect("memory");
        for phc in [
            made_with(Algorithm::Argon2i, 64, 2, 16),
            made_with(Algorithm::Argon2d, 256, 1, 64),
            // Larger than a slot, as an import might bring: a temporary array.
            made_with(Algorithm::Argon2id, Params::DEFAULT_M_COST + 1024, 1, 32),
        ] {
            assert!(verify_in(&mut slot, &right, &phc), "{phc}");
            assert!(
                !verify_in(&mut slot, &password("wrong horse"), &phc),
                "{phc}"
            );
        }
        assert_eq!(
            slot.len(),
            Params::default().block_count(),
            "the slot kept its size"
        );
    }

    #[test]
    fn a_stored_hash_asking_for_too_much_memory_verifies_nothing() {
        let right = password("correct horse");
        let phc = hash_password(&right).expect("hash");
        let huge = phc.replace("m=19456", &format!("m={}", MAX_STORED_M_COST + 1));
        assert_ne!(huge, phc);
        assert!(!verify_password(&right, &huge));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_hashes_use_at_most_one_array_per_worker() {
        let pool = HashingPool::new(2, 64);
        let right = password("correct horse");
        let jobs: Vec<_> = (0..8)
            .map(|i| {
                let (pool, right) = (pool.clone(), right.clone());
                tokio::spawn(async move {
                    let phc = pool.hash(right.clone()).await.expect("hash");
                    let stored = (i % 2 == 0).then_some(phc);
                    pool.verify(right, stored).await.expect("verify")
                })
            })
            .collect();
        for (i, job) in jobs.into_iter().enumerate() {
            // Even jobs verify their own hash; odd ones an unknown email (the dummy).
            assert_eq!(job.await.expect("job"), i % 2 == 0);
        }
        let allocated: Vec<usize> = pool
            .slots
            .arrays
            .iter()
            .map(|slot| slot.lock().expect("slot").len())
            .collect();
        assert_eq!(allocated.len(), 2);
        for len in allocated {
            assert!(len == 0 || len == Params::default().block_count(), "{len}");
        }
        assert!(pool.slots.dummy.get().is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_pool_frees_its_arrays() {
        let pool = HashingPool::new(2, 8);
        pool.warm_up().await;
        let right = password("correct horse");
        let jobs: Vec<_> = (0..4)
            .map(|_| {
                let (pool, right) = (pool.clone(), right.clone());
                tokio::spawn(async move { pool.hash(right).await })
            })
            .collect();
        for job in jobs {
            job.await.expect("job").expect("hash");
        }
        assert_eq!(pool.slots.in_flight.load(Ordering::Acquire), 0);
        for slot in &pool.slots.arrays {
            assert!(
                slot.lock().expect("slot").is_empty(),
                "an idle slot kept its array"
            );
        }
        // The dummy hash outlives the arrays, and the next hash allocates again.
        assert!(pool.slots.dummy.get().is_some());
        let phc = pool.hash(right.clone()).await.expect("hash");
        assert!(pool.verify(right, Some(phc)).await.expect("verify"));
    }

    #[tokio::test]
    async fn a_full_pool_says_overloaded() {
        let pool = HashingPool::new(1, 0);
        let held = pool
            .admission
            .clone()
            .try_acquire_owned()
            .expect("one slot");
        let right = password("correct horse");
        assert!(matches!(
            pool.hash(right.clone()).await,
            Err(PasswordError::Overloaded)
        ));
        drop(held);
        assert!(pool.hash(right).await.is_ok());
    }
}
