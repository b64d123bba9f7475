//! Where taskcli keeps its files, and the small non-secret settings file
//! (the default server, and where each server's tokens are kept).

use crate::error::{CliError, CliResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Settings that are not secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The server of the last successful login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_server: Option<String>,
    /// Per server URL: where its tokens are.
    pub servers: BTreeMap<String, ServerSettings>,
}

/// What taskcli remembers about one server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    /// Which store holds the tokens (`file`, `secret-service`, `keyutils`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

impl Settings {
    fn path(dir: &Path) -> PathBuf {
        dir.join("config.json")
    }

    /// Reads the settings; a missing file is the defaults, and so is a
    /// damaged one (with a warning: it is rewritten at the next login).
    pub fn load(dir: &Path) -> Self {
        let path = Self::path(dir);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                eprintln!(
                    "warning: ignoring {}, which is not valid settings JSON",
                    path.display()
                );
                Self::default()
            }),
            Err(_) => Self::default(),
        }
    }

    /// Writes the settings.
    pub fn save(&self, dir: &Path) -> CliResult<()> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| CliError::failure(format!("Could not encode the settings: {e}.")))?;
        write_private(&Self::path(dir), &bytes)
    }
}

/// Writes a file readable by its owner alone (0600, in a 0700 directory),
/// atomically: a reader sees the old content or the new, never half.
pub fn write_private(path: &Path, bytes: &[u8]) -> CliResult<()> {
    let fail =
        |e: std::io::Error| CliError::failure(format!("Could not write {}: {e}.", path.display()));
    let dir = path
        .parent()
        .ok_or_else(|| CliError::failure(format!("{} has no directory.", path.display())))?;
    create_private_dir(dir).map_err(fail)?;
    // tempfile makes the file owner-only (0600) and unique in the
    // directory; persisting renames it over `path` in one step.
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    temp.write_all(bytes).map_err(fail)?;
    temp.as_file().sync_all().map_err(fail)?;
    temp.persist(path).map_err(|e| fail(e.error))?;
    restrict(path).map_err(fail)
}

/// Creates a directory (and its parents) with mode 0700 where new.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Opens (creating or truncating) a file with mode 0600.
pub fn open_private(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    restrict(path)?;
    Ok(file)
}

#[cfg(unix)]
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_files_are_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dir = dir.path().join("taskcli");
        assert_eq!(Settings::load(&dir), Settings::default());
        let mut settings = Settings {
            default_server: Some("http://h:1".into()),
            ..Settings::default()
        };
        settings.servers.insert(
            "http://h:1".into(),
            ServerSettings {
                storage: Some("file".into()),
            },
        );
        settings.save(&dir).expect("save");
        assert_eq!(Settings::load(&dir), settings);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join("config.json"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = fs::metadata(&dir).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        fs::write(dir.join("config.json"), b"{not json").expect("write");
        assert_eq!(Settings::load(&dir), Settings::default());
    }
}
