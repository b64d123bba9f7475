//! Which server, which tokens, and a client that uses (and keeps) them.

use crate::cli::Global;
use crate::config::{ServerSettings, Settings};
use crate::credentials::{
    FileStore, KeyringKind, RefreshLock, Store, StoredLogin, open_keyring, open_keyring_of,
    open_keyrings,
};
use crate::error::{CliError, CliResult, Doing, from_api};
use crate::render::Output;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use taskclient::{Client, DEFAULT_BASE_URL, RetryPolicy};

use crate::env::Environment;

/// The environment variable that bypasses all token storage.
pub use crate::env::TOKEN as TOKEN_ENV;

/// Refresh ahead of expiry by this much, so a request does not race the clock.
const REFRESH_MARGIN: Duration = Duration::from_secs(10);

/// Everything a command needs to know about where it runs.
pub struct Context {
    /// The server's base URL, normalized.
    pub server: String,
    /// How to print.
    pub out: Output,
    insecure_storage: bool,
    no_replica: bool,
    env: Environment,
}

/// Where the tokens of a client came from.
pub enum Origin {
    /// `TASKCLI_TOKEN`.
    Env,
    /// A store.
    Stored(Arc<Store>),
}

impl Origin {
    /// The settings-style name of the place (`TASKCLI_TOKEN`, `file`, `keyutils`, ...).
    pub fn id(&self) -> &'static str {
        match self {
            Self::Env => TOKEN_ENV,
            Self::Stored(store) => store.id(),
        }
    }

    /// In words.
    pub fn describe(&self) -> String {
        match self {
            Self::Env => format!("the {TOKEN_ENV} environment variable (nothing stored)"),
            Self::Stored(store) => store.describe(),
        }
    }
}

impl Context {
    /// Resolves the server: `--server`, `TASKCLI_SERVER`, the last login's, the default.
    pub fn new(global: &Global, env: Environment) -> CliResult<Self> {
        let configured = match global.server.as_ref().or(env.server.as_ref()) {
            Some(url) => url.clone(),
            None => env
                .config_dir()
                .ok()
                .and_then(|dir| Settings::load(&dir).default_server)
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_string()),
        };
        // Checked without building a client: most commands read the local
        // copy and never need one.
        let server = taskclient::normalize_base_url(&configured).map_err(|_| {
            CliError::usage(format!(
                "`{configured}` is not a server URL like http://127.0.0.1:8080."
            ))
        })?;
        Ok(Self {
            server,
            out: Output::detect(global.json, env.no_color),
            insecure_storage: global.insecure_storage,
            no_replica: global.no_replica,
            env,
        })
    }

    /// Whether `TASKCLI_TOKEN` is in use.
    pub fn env_token(&self) -> Option<&str> {
        self.env.token.as_deref()
    }

    /// Turns an SDK error into the user's sentence.
    pub fn api_error(&self, error: taskclient::Error, doing: Doing<'_>) -> CliError {
        from_api(error, &self.server, self.env.token.is_some(), doing)
    }

    /// The configuration directory.
    pub fn dir(&self) -> CliResult<PathBuf> {
        self.env.config_dir()
    }

    /// `path` for people: `~/...` when it is under the home directory.
    pub fn shown_path(&self, path: &std::path::Path) -> String {
        self.env.shown_path(path)
    }

    /// The directory of the local copies.
    pub fn data_dir(&self) -> CliResult<PathBuf> {
        self.env.data_dir()
    }

    /// Whether commands work on a local copy: not with `TASKCLI_TOKEN`,
    /// `--no-replica` or `TASKCLI_REPLICA=0`, which keep every command
    /// online.
    pub fn replica_enabled(&self) -> bool {
        !self.no_replica && self.env.replica && self.env.token.is_none()
    }

    /// How old a local copy may be and still be read without a sync.
    pub fn sync_max_age(&self) -> Duration {
        self.env.sync_max_age
    }

    /// A client without tokens.
    pub fn anonymous_client(&self) -> CliResult<Client> {
        Client::builder()
            .base_url(&self.server)
            .build()
            .map_err(|e| self.api_error(e, Doing::General))
    }

    fn server_settings(&self) -> CliResult<ServerSettings> {
        Ok(Settings::load(&self.dir()?)
            .servers
            .get(&self.server)
            .cloned()
            .unwrap_or_default())
    }

    /// Where a new login's tokens go: the file with `--insecure-storage` (or
    /// when this server's tokens were kept there before), else the OS keyring.
    pub fn store_for_login(&self) -> CliResult<Store> {
        let dir = self.dir()?;
        let recorded = self.server_settings()?.storage;
        if self.insecure_storage || recorded.as_deref() == Some("file") {
            return Ok(Store::File(FileStore::in_dir(&dir)));
        }
        let preferred = recorded.as_deref().and_then(KeyringKind::from_id);
        open_keyring(self.env.keyring, preferred).map(Store::Keyring).map_err(|reason| {
            CliError::failure(format!(
                "No OS keyring is available here ({reason}); run the command again with --insecure-storage to keep the tokens in a file readable only by you."
            ))
        })
    }

    /// Every store that may hold a login: the file, then each keyring that opens.
    fn all_stores(&self) -> CliResult<Vec<Store>> {
        let mut stores = vec![Store::File(FileStore::in_dir(&self.dir()?))];
        stores.extend(
            open_keyrings(self.env.keyring)
                .into_iter()
                .map(Store::Keyring),
        );
        Ok(stores)
    }

    /// This server's logins in `stores`, one per distinct token.
    fn logins_in(&self, stores: Vec<Store>) -> CliResult<Vec<(Arc<Store>, StoredLogin)>> {
        let mut found: Vec<(Arc<Store>, StoredLogin)> = Vec::new();
        for store in stores {
            if let Some(login) = store.load(&self.server)?
                && !found
                    .iter()
                    .any(|(_, seen)| seen.access_token == login.access_token)
            {
                found.push((Arc::new(store), login));
            }
        }
        Ok(found)
    }

    /// The stored login for this server and the store that holds it: only
    /// the store recorded at login is read. Without a record (settings
    /// lost), every store is, and logins in more than one are refused:
    /// picking one could run the command as another user.
    pub fn stored_login(&self) -> CliResult<Option<(Arc<Store>, StoredLogin)>> {
        let recorded = self.server_settings()?.storage;
        let candidates: Vec<Store> = match recorded.as_deref() {
            Some("file") => vec![Store::File(FileStore::in_dir(&self.dir()?))],
            Some(id) => {
                let kind = KeyringKind::from_id(id).ok_or_else(|| {
                    CliError::auth(format!(
                        "The settings say the tokens for {} are in `{id}`, which taskcli does not know; log in again.",
                        self.server
                    ))
                })?;
                // That keyring and no other: another one may hold someone else's login.
                let keyring = open_keyring_of(self.env.keyring, kind).map_err(|reason| {
                    CliError::auth(format!(
                        "The tokens for {} are kept in {}, which is not available now ({reason}).",
                        self.server,
                        kind.describe()
                    ))
                })?;
                vec![Store::Keyring(keyring)]
            }
            None => self.all_stores()?,
        };
        let mut found = self.logins_in(candidates)?;
        if found.len() > 1 {
            let places: Vec<String> = found.iter().map(|(store, _)| store.describe()).collect();
            return Err(CliError::auth(format!(
                "There are logins to {} in more than one place ({}) and taskcli cannot tell which one is current; run `taskcli auth logout`, then log in again.",
                self.server,
                places.join(" and ")
            )));
        }
        Ok(found.pop())
    }

    /// This server's logins in every store (after a login there is one; old
    /// versions of taskcli could leave one per store).
    pub fn all_stored_logins(&self) -> CliResult<Vec<(Arc<Store>, StoredLogin)>> {
        self.logins_in(self.all_stores()?)
    }

    /// Deletes these logins and forgets where this server's tokens were kept.
    pub fn delete_logins(&self, logins: &[(Arc<Store>, StoredLogin)]) -> CliResult<()> {
        for (store, _) in logins {
            store.delete(&self.server)?;
        }
        self.forget_login()
    }

    /// After a login kept in `kept`: a login for this server in any other
    /// store is stale, and must not come back after a logout. Failing to
    /// delete it only warns: the settings point at `kept` from now on.
    pub fn delete_other_logins(&self, kept: &Store) -> CliResult<()> {
        for store in self.all_stores()? {
            if store.id() != kept.id()
                && let Err(e) = store.delete(&self.server)
            {
                eprintln!(
                    "warning: an older login to {} in {} could not be deleted: {e}",
                    self.server,
                    store.describe()
                );
            }
        }
        Ok(())
    }

    /// Records a successful login: its store, and this server as the default.
    pub fn remember_login(&self, store: &Store) -> CliResult<()> {
        let dir = self.dir()?;
        let mut settings = Settings::load(&dir);
        settings.default_server = Some(self.server.clone());
        settings.servers.insert(
            self.server.clone(),
            ServerSettings {
                storage: Some(store.id().to_string()),
            },
        );
        settings.save(&dir)
    }

    /// Forgets this server's store (after logout).
    pub fn forget_login(&self) -> CliResult<()> {
        let dir = self.dir()?;
        let mut settings = Settings::load(&dir);
        if settings.servers.remove(&self.server).is_some() {
            settings.save(&dir)?;
        }
        Ok(())
    }

    /// The error for "no tokens".
    pub fn not_logged_in(&self) -> CliError {
        CliError::auth(format!(
            "Not logged in to {}; run `taskcli auth login --email EMAIL` first (or set {TOKEN_ENV}).",
            self.server
        ))
    }

    /// A client with the user's tokens: `TASKCLI_TOKEN`, else the stored
    /// login, refreshed first if it is about to expire. Tokens the client
    /// refreshes later are written back to their store.
    pub async fn client(&self) -> CliResult<(Client, Origin)> {
        self.client_with(RetryPolicy::default()).await
    }

    /// [`Context::client`] for a sync: no retries, since the next command
    /// syncs again and a sync has a budget to keep.
    pub async fn sync_client(&self) -> CliResult<(Client, Origin)> {
        self.client_with(RetryPolicy::none()).await
    }

    async fn client_with(&self, retry: RetryPolicy) -> CliResult<(Client, Origin)> {
        if let Some(token) = &self.env.token {
            let client = Client::builder()
                .base_url(&self.server)
                .retry_policy(retry)
                .access_token(token.clone())
                .build()
                .map_err(|e| self.api_error(e, Doing::General))?;
            return Ok((client, Origin::Env));
        }
        let (store, login) = self.stored_login()?.ok_or_else(|| self.not_logged_in())?;
        let login = if login.needs_refresh(REFRESH_MARGIN) {
            self.refresh_locked(&store, &login).await?
        } else {
            login
        };
        let (writer, server) = (store.clone(), self.server.clone());
        let (email, user) = (login.email.clone(), login.user);
        let client = Client::builder()
            .base_url(&self.server)
            .retry_policy(retry)
            .tokens(login.pair())
            .on_token_refresh(move |pair| {
                let login = StoredLogin {
                    user,
                    ..StoredLogin::from_pair(pair, email.clone())
                };
                if let Err(e) = writer.save(&server, &login) {
                    eprintln!("warning: the refreshed tokens could not be saved: {e}");
                }
            })
            .build()
            .map_err(|e| self.api_error(e, Doing::General))?;
        Ok((client, Origin::Stored(store)))
    }

    /// Refreshes under the lock file. Whoever waited for the lock first
    /// re-reads the store: if another process refreshed meanwhile, its tokens
    /// are used as they are (a refresh token works only once).
    async fn refresh_locked(&self, store: &Store, stale: &StoredLogin) -> CliResult<StoredLogin> {
        let _lock = RefreshLock::acquire(&self.dir()?)?;
        let current = store
            .load(&self.server)?
            .ok_or_else(|| self.not_logged_in())?;
        if current.access_token != stale.access_token && !current.pair().is_expired() {
            // Another process refreshed while this one waited: use its tokens.
            return Ok(current);
        }
        let Some(refresh_token) = current.refresh_token.clone() else {
            return Ok(current);
        };
        match self.anonymous_client()?.refresh_with(&refresh_token).await {
            Ok(session) => {
                let mut fresh = StoredLogin::from_session(&session);
                fresh.email = fresh.email.or(current.email);
                fresh.user = fresh.user.or(current.user);
                store.save(&self.server, &fresh)?;
                Ok(fresh)
            }
            Err(taskclient::Error::Unauthorized { .. }) => {
                // Someone outside the lock may have rotated the tokens meanwhile.
                if let Some(latest) = store.load(&self.server)?
                    && latest.refresh_token != current.refresh_token
                    && !latest.pair().is_expired()
                {
                    return Ok(latest);
                }
                // The session is over: the stored tokens are useless now.
                let _ = store.delete(&self.server);
                Err(CliError::auth(format!(
                    "Your session on {} has expired; log in again with `taskcli auth login --email {}`.",
                    self.server,
                    current.email.as_deref().unwrap_or("EMAIL")
                )))
            }
            Err(e) => Err(self.api_error(e, Doing::General)),
        }
    }
}
