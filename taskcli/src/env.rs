//! Every environment variable taskcli reads, read once at start: the rest
//! of the CLI takes an [`Environment`] and never looks at the process's own.

use crate::credentials::{KEYRING_TIMEOUT, KeyringConfig};
use crate::error::{CliError, CliResult};
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The server URL when `--server` is not given.
pub const SERVER: &str = "TASKCLI_SERVER";
/// A token that bypasses all token storage.
pub const TOKEN: &str = "TASKCLI_TOKEN";
/// `none` keeps taskcli away from the OS keyring.
pub const KEYRING: &str = "TASKCLI_KEYRING";
/// Seconds one keyring call may take (1 to 600).
pub const KEYRING_TIMEOUT_SECS: &str = "TASKCLI_KEYRING_TIMEOUT";
/// Any non-empty value turns colours off (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";
/// `0` keeps the online behaviour: no local copy, every command asks the server.
pub const REPLICA: &str = "TASKCLI_REPLICA";
/// Seconds a local copy stays fresh enough to read without syncing first.
pub const SYNC_MAX_AGE: &str = "TASKCLI_SYNC_MAX_AGE";

/// How long a sync keeps a local copy fresh when `TASKCLI_SYNC_MAX_AGE` is not set.
pub const SYNC_MAX_AGE_DEFAULT: Duration = Duration::from_secs(300);

/// Every variable above, for the check that `--help` lists them all.
#[cfg(test)]
const DOCUMENTED: [&str; 7] = [
    SERVER,
    TOKEN,
    KEYRING,
    KEYRING_TIMEOUT_SECS,
    NO_COLOR,
    REPLICA,
    SYNC_MAX_AGE,
];

/// What the environment says, read once.
#[derive(Clone, Default)]
pub struct Environment {
    /// `TASKCLI_SERVER`, if set and not empty.
    pub server: Option<String>,
    /// `TASKCLI_TOKEN`, trimmed, if set and not empty.
    pub token: Option<String>,
    /// `TASKCLI_KEYRING` and `TASKCLI_KEYRING_TIMEOUT`.
    pub keyring: KeyringConfig,
    /// `NO_COLOR` is set and not empty.
    pub no_color: bool,
    /// From `XDG_CONFIG_HOME`, `HOME` or `APPDATA`; `None` without any of them.
    pub config_dir: Option<PathBuf>,
    /// From `XDG_DATA_HOME`, `HOME` or `LOCALAPPDATA`: where the local copies are.
    pub data_dir: Option<PathBuf>,
    /// False when `TASKCLI_REPLICA` is `0` (or `false`, `no`, `off`).
    pub replica: bool,
    /// `TASKCLI_SYNC_MAX_AGE`, else 5 minutes.
    pub sync_max_age: Duration,
    /// `HOME`, to show paths under it as `~/...`.
    pub home: Option<PathBuf>,
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("keyring", &self.keyring)
            .field("no_color", &self.no_color)
            .field("config_dir", &self.config_dir)
            .field("data_dir", &self.data_dir)
            .field("replica", &self.replica)
            .field("sync_max_age", &self.sync_max_age)
            .field("home", &self.home)
            .finish()
    }
}

impl Environment {
    /// Reads this process's environment.
    pub fn from_process() -> Self {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads the variables through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<OsString>) -> Self {
        let non_empty = |name: &str| get(name).filter(|v| !v.is_empty());
        // Not valid Unicode is as good as unset, as it was for `std::env::var`.
        let text = |name: &str| {
            non_empty(name)
                .and_then(|v| v.into_string().ok())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let timeout = text(KEYRING_TIMEOUT_SECS)
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|s| (1..=600).contains(s))
            .map_or(KEYRING_TIMEOUT, Duration::from_secs);
        // `$XDG_CONFIG_HOME/taskcli`, else `~/.config/taskcli`, else `%APPDATA%\taskcli`.
        let config_dir = non_empty("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|xdg| xdg.join("taskcli"))
            .or_else(|| {
                non_empty("HOME").map(|home| PathBuf::from(home).join(".config").join("taskcli"))
            })
            .or_else(|| non_empty("APPDATA").map(|appdata| PathBuf::from(appdata).join("taskcli")));
        // `$XDG_DATA_HOME/taskcli`, else `~/.local/share/taskcli`, else `%LOCALAPPDATA%\taskcli`.
        let data_dir = non_empty("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|xdg| xdg.join("taskcli"))
            .or_else(|| {
                non_empty("HOME").map(|home| {
                    PathBuf::from(home)
                        .join(".local")
                        .join("share")
                        .join("taskcli")
                })
            })
            .or_else(|| non_empty("LOCALAPPDATA").map(|dir| PathBuf::from(dir).join("taskcli")));
        let replica = !text(REPLICA).is_some_and(|v| {
            ["0", "false", "no", "off"]
                .iter()
                .any(|off| v.eq_ignore_ascii_case(off))
        });
        let sync_max_age = text(SYNC_MAX_AGE)
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(SYNC_MAX_AGE_DEFAULT, Duration::from_secs);
        Self {
            server: text(SERVER),
            token: text(TOKEN),
            keyring: KeyringConfig {
                enabled: !text(KEYRING).is_some_and(|v| v.eq_ignore_ascii_case("none")),
                timeout,
            },
            no_color: non_empty(NO_COLOR).is_some(),
            config_dir,
            data_dir,
            replica,
            sync_max_age,
            home: non_empty("HOME").map(PathBuf::from),
        }
    }

    /// The directory of taskcli's files, or why there is none.
    pub fn config_dir(&self) -> CliResult<PathBuf> {
        self.config_dir.clone().ok_or_else(|| {
            CliError::failure("Cannot find a configuration directory: set HOME or XDG_CONFIG_HOME.")
        })
    }

    /// `path` for people: `~/...` when it is under `HOME`.
    pub fn shown_path(&self, path: &std::path::Path) -> String {
        match self
            .home
            .as_deref()
            .and_then(|home| path.strip_prefix(home).ok())
        {
            Some(rest) => format!("~/{}", rest.display()),
            None => path.display().to_string(),
        }
    }

    /// The directory of the local copies, or why there is none.
    pub fn data_dir(&self) -> CliResult<PathBuf> {
        self.data_dir.clone().ok_or_else(|| {
            CliError::failure("Cannot find a data directory: set HOME or XDG_DATA_HOME.")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Environment {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Environment::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn every_variable_is_read_here() {
        let env = read(&[
            (SERVER, "http://h:1"),
            (TOKEN, "  secret \n"),
            (KEYRING, "NONE"),
            (KEYRING_TIMEOUT_SECS, "9"),
            (NO_COLOR, "1"),
            (REPLICA, "0"),
            (SYNC_MAX_AGE, "60"),
            ("XDG_CONFIG_HOME", "/xdg"),
            ("XDG_DATA_HOME", "/xdg-data"),
            ("HOME", "/home/ada"),
        ]);
        assert_eq!(env.server.as_deref(), Some("http://h:1"));
        assert_eq!(env.token.as_deref(), Some("secret"));
        assert!(!env.keyring.enabled);
        assert_eq!(env.keyring.timeout, Duration::from_secs(9));
        assert!(env.no_color);
        assert_eq!(env.config_dir, Some(PathBuf::from("/xdg/taskcli")));
        assert_eq!(env.data_dir, Some(PathBuf::from("/xdg-data/taskcli")));
        assert!(!env.replica);
        assert_eq!(env.sync_max_age, Duration::from_secs(60));
        assert_eq!(
            env.shown_path(std::path::Path::new("/home/ada/.local/share/taskcli")),
            "~/.local/share/taskcli"
        );
        assert_eq!(env.shown_path(std::path::Path::new("/srv/x")), "/srv/x");
        assert!(!format!("{env:?}").contains("secret"), "{env:?}");
    }

    #[test]
    fn empty_or_bad_values_mean_the_defaults() {
        let env = read(&[
            (SERVER, ""),
            (TOKEN, "   "),
            (KEYRING_TIMEOUT_SECS, "0"),
            (NO_COLOR, ""),
            (REPLICA, "1"),
            (SYNC_MAX_AGE, "soon"),
            ("XDG_CONFIG_HOME", "relative"),
            ("XDG_DATA_HOME", "relative"),
            ("HOME", "/home/ada"),
        ]);
        assert_eq!(env.server, None);
        assert_eq!(env.token, None);
        assert!(env.keyring.enabled);
        assert_eq!(env.keyring.timeout, KEYRING_TIMEOUT);
        assert!(!env.no_color);
        assert!(env.replica);
        assert_eq!(env.sync_max_age, SYNC_MAX_AGE_DEFAULT);
        assert_eq!(
            env.config_dir,
            Some(PathBuf::from("/home/ada/.config/taskcli"))
        );
        assert_eq!(
            env.data_dir,
            Some(PathBuf::from("/home/ada/.local/share/taskcli"))
        );
        let nothing = read(&[]);
        assert!(nothing.config_dir().is_err());
        assert_eq!(
            read(&[("APPDATA", "C:\\Users\\ada")]).config_dir,
            Some(PathBuf::from("C:\\Users\\ada").join("taskcli"))
        );
    }

    #[test]
    fn help_lists_every_variable() {
        use clap::CommandFactory;
        let help = crate::cli::Cli::command().render_long_help().to_string();
        for name in DOCUMENTED {
            assert!(help.contains(name), "--help does not mention {name}");
        }
    }
}
