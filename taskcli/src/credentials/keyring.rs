//! The OS keyring, through `keyring-core` and the platform's store crate.
//! Every call runs on its own thread and is abandoned after a timeout, so a
//! keyring that does not answer (a stuck D-Bus service) cannot hang the CLI.

use super::{SERVICE, StoredLogin};
use crate::error::{CliError, CliResult, seconds, sentence};
use keyring_core::{CredentialStore, Entry};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// How long one keyring call may take, unless `TASKCLI_KEYRING_TIMEOUT` says otherwise.
pub const KEYRING_TIMEOUT: Duration = Duration::from_secs(5);

/// What the environment says about keyrings (see [`crate::env`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyringConfig {
    /// `false` with `TASKCLI_KEYRING=none`: no keyring is even opened.
    pub enabled: bool,
    /// How long one keyring call may take.
    pub timeout: Duration,
}

impl Default for KeyringConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            timeout: KEYRING_TIMEOUT,
        }
    }
}

/// Which keyring holds the tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyringKind {
    /// A desktop keyring over D-Bus (GNOME Keyring, KWallet, KeePassXC).
    SecretService,
    /// The Linux kernel's persistent keyring.
    KernelKeyring,
    /// The macOS Keychain.
    MacosKeychain,
    /// The Windows Credential Manager.
    WindowsCredentialManager,
    /// An in-memory keyring (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Mock,
}

impl KeyringKind {
    /// The settings' name for it.
    pub fn id(self) -> &'static str {
        match self {
            Self::SecretService => "secret-service",
            Self::KernelKeyring => "keyutils",
            Self::MacosKeychain => "macos-keychain",
            Self::WindowsCredentialManager => "windows-credential-manager",
            Self::Mock => "mock",
        }
    }

    /// From the settings' name.
    pub fn from_id(id: &str) -> Option<Self> {
        [
            Self::SecretService,
            Self::KernelKeyring,
            Self::MacosKeychain,
            Self::WindowsCredentialManager,
        ]
        .into_iter()
        .find(|k| k.id() == id)
    }

    /// In words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::SecretService => "the desktop keyring (Secret Service)",
            Self::KernelKeyring => "the Linux kernel keyring (kept until a reboot or 3 idle days)",
            Self::MacosKeychain => "the macOS Keychain",
            Self::WindowsCredentialManager => "the Windows Credential Manager",
            Self::Mock => "an in-memory keyring",
        }
    }

    /// The keyrings of this platform, in the order they are tried.
    fn candidates() -> &'static [Self] {
        if cfg!(target_os = "linux") {
            &[Self::SecretService, Self::KernelKeyring]
        } else if cfg!(target_os = "macos") {
            &[Self::MacosKeychain]
        } else if cfg!(target_os = "windows") {
            &[Self::WindowsCredentialManager]
        } else {
            &[]
        }
    }
}

/// Tokens in a keyring: service `taskcli`, user = the server URL, secret =
/// the tokens as JSON.
#[derive(Clone)]
pub struct KeyringStore {
    store: Arc<CredentialStore>,
    kind: KeyringKind,
    timeout: Duration,
}

impl KeyringStore {
    /// A store over an already opened keyring.
    pub fn new(store: Arc<CredentialStore>, kind: KeyringKind, timeout: Duration) -> Self {
        Self {
            store,
            kind,
            timeout,
        }
    }

    /// Which keyring it is.
    pub fn kind(&self) -> KeyringKind {
        self.kind
    }

    fn call<T: Send + 'static>(
        &self,
        what: &str,
        server: &str,
        op: impl FnOnce(&Entry) -> keyring_core::Result<T> + Send + 'static,
    ) -> CliResult<keyring_core::Result<T>> {
        let store = self.store.clone();
        let server = server.to_string();
        bounded(self.timeout, move || {
            Entry::new_in_store(&store, SERVICE, &server).and_then(|e| op(&e))
        })
        .map_err(|e| self.unavailable(what, e))
    }

    fn unavailable(&self, what: &str, error: Bounded) -> CliError {
        CliError::failure(match error {
            Bounded::TimedOut => format!(
                "{} did not answer within {} while {what} the tokens; try again, or use --insecure-storage.",
                capitalized(self.kind.describe()),
                seconds(self.timeout.as_secs())
            ),
            Bounded::Failed(reason) => {
                format!(
                    "{} failed while {what} the tokens ({reason}).",
                    capitalized(self.kind.describe())
                )
            }
        })
    }

    fn failed(&self, what: &str, error: &keyring_core::Error) -> CliError {
        CliError::failure(sentence(&format!(
            "{} failed while {what} the tokens: {error}",
            capitalized(self.kind.describe())
        )))
    }

    /// The tokens for `server`, if any.
    pub fn load(&self, server: &str) -> CliResult<Option<StoredLogin>> {
        match self.call("reading", server, |entry| entry.get_password())? {
            // Something unreadable is as good as nothing: log in again.
            Ok(secret) => Ok(serde_json::from_str(&secret).ok()),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.failed("reading", &e)),
        }
    }

    /// Stores the tokens for `server`.
    pub fn save(&self, server: &str, login: &StoredLogin) -> CliResult<()> {
        let secret = serde_json::to_string(login)
            .map_err(|e| CliError::failure(format!("Could not encode the tokens: {e}.")))?;
        self.call("storing", server, move |entry| entry.set_password(&secret))?
            .map_err(|e| self.failed("storing", &e))
    }

    /// Deletes the tokens for `server`; whether there were any.
    pub fn delete(&self, server: &str) -> CliResult<bool> {
        match self.call("deleting", server, |entry| entry.delete_credential())? {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(self.failed("deleting", &e)),
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Why a bounded call gave no answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Bounded {
    /// It did not finish in time (its thread is abandoned).
    TimedOut,
    /// Its thread could not start or panicked.
    Failed(String),
}

/// Runs `op` on its own thread and waits at most `timeout` for it.
pub fn bounded<T: Send + 'static>(
    timeout: Duration,
    op: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Bounded> {
    let (sender, receiver) = mpsc::channel();
    std::thread::Builder::new()
        .name("taskcli-keyring".into())
        .spawn(move || {
            let _ = sender.send(op());
        })
        .map_err(|e| Bounded::Failed(format!("no thread: {e}")))?;
    receiver.recv_timeout(timeout).map_err(|e| match e {
        mpsc::RecvTimeoutError::Timeout => Bounded::TimedOut,
        mpsc::RecvTimeoutError::Disconnected => {
            Bounded::Failed("the keyring library crashed".into())
        }
    })
}

/// Opens the first keyring of this platform that works, trying `preferred`
/// (the one that holds this server's tokens) first. `Err` says, in a few
/// words, why none is available.
pub fn open_keyring(
    config: KeyringConfig,
    preferred: Option<KeyringKind>,
) -> Result<KeyringStore, String> {
    if !config.enabled {
        return Err("TASKCLI_KEYRING=none".into());
    }
    let mut order: Vec<KeyringKind> = preferred.into_iter().collect();
    order.extend(
        KeyringKind::candidates()
            .iter()
            .copied()
            .filter(|k| Some(*k) != preferred),
    );
    let mut reasons = Vec::new();
    for kind in order {
        match open(kind, config.timeout) {
            Ok(store) => return Ok(KeyringStore::new(store, kind, config.timeout)),
            Err(reason) => reasons.push(reason),
        }
    }
    if reasons.is_empty() {
        reasons.push("this platform has no supported keyring".into());
    }
    Err(reasons.join("; "))
}

/// Opens exactly the keyring `kind` (reads use the one recorded at login,
/// never another that might hold someone else's tokens).
pub fn open_keyring_of(config: KeyringConfig, kind: KeyringKind) -> Result<KeyringStore, String> {
    if !config.enabled {
        return Err("TASKCLI_KEYRING=none".into());
    }
    open(kind, config.timeout).map(|store| KeyringStore::new(store, kind, config.timeout))
}

/// Every keyring of this platform that opens: a logout clears them all, so a
/// login left in one cannot take over after the user logged out.
pub fn open_keyrings(config: KeyringConfig) -> Vec<KeyringStore> {
    if !config.enabled {
        return Vec::new();
    }
    KeyringKind::candidates()
        .iter()
        .filter_map(|&kind| {
            open(kind, config.timeout)
                .ok()
                .map(|store| KeyringStore::new(store, kind, config.timeout))
        })
        .collect()
}

// Only the Secret Service is opened under a timeout (on Linux).
#[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
fn open(kind: KeyringKind, timeout: Duration) -> Result<Arc<CredentialStore>, String> {
    match kind {
        #[cfg(target_os = "linux")]
        KeyringKind::SecretService => {
            match bounded(timeout, zbus_secret_service_keyring_store::Store::new) {
                Ok(Ok(store)) => Ok(store),
                Ok(Err(e)) => Err(format!(
                    "no Secret Service ({})",
                    first_line(&e.to_string())
                )),
                Err(Bounded::TimedOut) => Err(format!(
                    "the Secret Service did not answer within {}",
                    seconds(timeout.as_secs())
                )),
                Err(Bounded::Failed(reason)) => {
                    Err(format!("the Secret Service failed ({reason})"))
                }
            }
        }
        #[cfg(target_os = "linux")]
        KeyringKind::KernelKeyring => {
            // Joining a session keyring changes this thread's credentials, which
            // the threads that run the keyring calls inherit: do it right here.
            kernel::ensure_session_keyring()?;
            linux_keyutils_keyring_store::Store::new()
                .map(|store| store as Arc<CredentialStore>)
                .map_err(|e| format!("the kernel keyring failed ({e})"))
        }
        #[cfg(target_os = "macos")]
        KeyringKind::MacosKeychain => apple_native_keyring_store::keychain::Store::new()
            .map(|store| store as Arc<CredentialStore>)
            .map_err(|e| format!("the Keychain failed ({e})")),
        #[cfg(target_os = "windows")]
        KeyringKind::WindowsCredentialManager => windows_native_keyring_store::Store::new()
            .map(|store| store as Arc<CredentialStore>)
            .map_err(|e| format!("the Credential Manager failed ({e})")),
        other => Err(format!(
            "{} is not available on this platform",
            other.describe()
        )),
    }
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[cfg(target_os = "linux")]
mod kernel {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};

    fn usable() -> bool {
        KeyRing::from_special_id(KeyRingIdentifier::Session, false).is_ok()
            && KeyRing::get_persistent(KeyRingIdentifier::Session).is_ok()
    }

    /// Makes the kernel keyring usable from this thread: tokens go to the
    /// user's persistent keyring (it outlives the process; idle entries expire
    /// after a few days), reached through the session keyring. On a headless
    /// box the inherited session keyring may be inaccessible: then join a new
    /// one, as `keyctl new_session` would.
    pub fn ensure_session_keyring() -> Result<(), String> {
        if usable() {
            return Ok(());
        }
        join_session_keyring()?;
        if usable() {
            Ok(())
        } else {
            Err("the kernel keyring has no persistent keyring here".into())
        }
    }

    #[allow(unsafe_code)]
    fn join_session_keyring() -> Result<(), String> {
        const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
        // SAFETY: keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL) takes no buffers
        // from us (a null name means an anonymous keyring) and only changes
        // this thread's session keyring. No Rust memory is involved.
        let result = unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                KEYCTL_JOIN_SESSION_KEYRING,
                std::ptr::null::<libc::c_char>(),
            )
        };
        if result < 0 {
            Err(format!(
                "the kernel keyring is not available ({})",
                std::io::Error::last_os_error()
            ))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyring_core::mock;

    fn mock_store() -> (KeyringStore, Arc<CredentialStore>) {
        let store: Arc<CredentialStore> = mock::Store::new().expect("mock store");
        (
            KeyringStore::new(store.clone(), KeyringKind::Mock, Duration::from_secs(2)),
            store,
        )
    }

    fn login() -> StoredLogin {
        StoredLogin {
            access_token: "access".into(),
            refresh_token: Some("refresh".into()),
            expires_at: taskcore::Timestamp::parse_rfc3339("2030-01-01T00:00:00Z"),
            email: Some("ada@example.com".into()),
            user: None,
        }
    }

    #[test]
    fn tokens_live_in_one_entry_per_server() {
        let (keyring, raw) = mock_store();
        assert_eq!(keyring.load("http://a:1").expect("load"), None);
        keyring.save("http://a:1", &login()).expect("save");
        assert_eq!(keyring.load("http://a:1").expect("load"), Some(login()));
        assert_eq!(keyring.load("http://b:2").expect("load"), None);
        // Service `taskcli`, user = the server URL, secret = JSON.
        let entry = Entry::new_in_store(&raw, "taskcli", "http://a:1").expect("entry");
        let secret = entry.get_password().expect("stored");
        assert!(secret.contains("\"refresh_token\":\"refresh\""), "{secret}");
        assert!(keyring.delete("http://a:1").expect("delete"));
        assert!(!keyring.delete("http://a:1").expect("delete again"));
        assert_eq!(keyring.load("http://a:1").expect("load"), None);
    }

    #[test]
    fn keyring_failures_are_one_sentence() {
        let (keyring, _raw) = mock_store();
        let error = keyring.call("reading", "http://a:1", |_| {
            Err::<(), _>(keyring_core::Error::NoStorageAccess("locked".into()))
        });
        let error = match error.expect("answered") {
            Err(e) => keyring.failed("reading", &e),
            Ok(()) => panic!("expected a failure"),
        };
        assert_eq!(error.exit, crate::error::Exit::Failure);
        assert!(
            error
                .message
                .starts_with("An in-memory keyring failed while reading the tokens"),
            "{}",
            error.message
        );
        // Damaged content reads as "not logged in".
        Entry::new_in_store(&keyring.store, SERVICE, "http://c:3")
            .expect("entry")
            .set_password("not json")
            .expect("set");
        assert_eq!(keyring.load("http://c:3").expect("load"), None);
    }

    #[test]
    fn a_keyring_that_does_not_answer_is_abandoned() {
        let started = std::time::Instant::now();
        let result = bounded(Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_secs(3))
        });
        assert_eq!(result, Err(Bounded::TimedOut));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(bounded(Duration::from_secs(1), || 7), Ok(7));
        let keyring = KeyringStore {
            timeout: Duration::from_millis(50),
            ..mock_store().0
        };
        let error = keyring.call("reading", "http://a:1", |_| {
            std::thread::sleep(Duration::from_secs(2));
            Ok(())
        });
        let message = error.map(|_| ()).expect_err("timed out").message;
        assert!(message.contains("did not answer within"), "{message}");
    }
}
