//! `--insecure-storage`: tokens in `credentials.json` under the config
//! directory, mode 0600, one entry per server URL.

use super::StoredLogin;
use crate::config::write_private;
use crate::error::{CliError, CliResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The credentials file.
#[derive(Clone, Debug)]
pub struct FileStore {
    path: PathBuf,
}

#[derive(Default, Serialize, Deserialize)]
struct CredentialsFile {
    #[serde(default)]
    servers: BTreeMap<String, StoredLogin>,
}

impl FileStore {
    /// The file `credentials.json` in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join("credentials.json"),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> CliResult<CredentialsFile> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|_| {
                CliError::failure(format!(
                    "{} is damaged (not the JSON taskcli writes); delete it and log in again.",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(CredentialsFile::default()),
            Err(e) => Err(CliError::failure(format!(
                "Could not read {}: {e}.",
                self.path.display()
            ))),
        }
    }

    fn write(&self, file: &CredentialsFile) -> CliResult<()> {
        if file.servers.is_empty() {
            return match fs::remove_file(&self.path) {
                Err(e) if e.kind() != ErrorKind::NotFound => Err(CliError::failure(format!(
                    "Could not delete {}: {e}.",
                    self.path.display()
                ))),
                _ => Ok(()),
            };
        }
        let bytes = serde_json::to_vec_pretty(file)
            .map_err(|e| CliError::failure(format!("Could not encode the tokens: {e}.")))?;
        write_private(&self.path, &bytes)
    }

    /// The tokens for `server`, if any.
    pub fn load(&self, server: &str) -> CliResult<Option<StoredLogin>> {
        Ok(self.read()?.servers.remove(server))
    }

    /// Stores the tokens for `server`.
    pub fn save(&self, server: &str, login: &StoredLogin) -> CliResult<()> {
        // A damaged file is replaced rather than blocking a login.
        let mut file = self.read().unwrap_or_default();
        file.servers.insert(server.to_string(), login.clone());
        self.write(&file)
    }

    /// Deletes the tokens for `server`; whether there were any.
    pub fn delete(&self, server: &str) -> CliResult<bool> {
        let mut file = self.read().unwrap_or_default();
        let existed = file.servers.remove(server).is_some();
        self.write(&file)?;
        Ok(existed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(token: &str) -> StoredLogin {
        StoredLogin {
            access_token: token.into(),
            refresh_token: Some("r".into()),
            expires_at: None,
            email: None,
            user: None,
        }
    }

    #[test]
    fn one_entry_per_server_and_mode_0600() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FileStore::in_dir(&dir.path().join("taskcli"));
        assert_eq!(store.load("http://a").expect("load"), None);
        store.save("http://a", &login("a")).expect("save");
        store.save("http://b", &login("b")).expect("save");
        assert_eq!(store.load("http://a").expect("load"), Some(login("a")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.path())
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(store.delete("http://a").expect("delete"));
        assert!(!store.delete("http://a").expect("delete again"));
        assert_eq!(store.load("http://b").expect("load"), Some(login("b")));
        assert!(store.delete("http://b").expect("delete"));
        assert!(!store.path().exists(), "the last logout removes the file");
    }
}
