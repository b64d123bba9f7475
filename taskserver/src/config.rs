//! The server's configuration: one struct, validated before anything starts.
//!
//! The library builds it with [`Config::new`] and reads nothing from the
//! process; only the `taskserver` binary fills it from flags, the environment
//! and `.env` (process environment wins), through the clap attributes below.

use clap::{Args, ValueEnum};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;
use taskcore::auth::external::ExternalIssuer;
use taskcore::auth::tokens;

/// The shortest JWT secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// The longest `--token-ttl`: longer sessions are what refresh tokens are for.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// The longest `--refresh-ttl`: a session ends 90 days after its login anyway.
pub const MAX_REFRESH_TTL: Duration = Duration::from_secs(90 * 86_400);

/// The longest `--refresh-reuse-grace`: within it a stolen, already used
/// refresh token revokes nothing, so the window stays short.
pub const MAX_REFRESH_REUSE_GRACE: Duration = Duration::from_secs(5 * 60);

/// The shortest `--storage-timeout`: less than a disk's or a database's
/// round trip would make every request a 503.
pub const MIN_STORAGE_TIMEOUT: Duration = Duration::from_millis(10);

/// A connection whose response writes make no progress for this long is closed.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A live event stream sends a comment at least this often, so proxies keep
/// it open (`docs/api.md` promises one at least every 20 s).
pub const EVENTS_HEARTBEAT: Duration = Duration::from_secs(15);

/// The defaults, written once: the flags' defaults and [`Config::new`] both
/// read them (a test checks that the two agree).
pub mod defaults {
    use super::*;

    /// `--listen`.
    pub const LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
    /// `--data-dir` of the binary (the library's [`Config::new`] takes one).
    pub const DATA_DIR: &str = "./taskserver-data";
    /// `--database-pool-size`.
    pub const DATABASE_POOL_SIZE: usize = 16;
    /// `--storage-timeout`.
    pub const STORAGE_TIMEOUT: &str = "10s";
    /// `--token-ttl`.
    pub const TOKEN_TTL: &str = "15m";
    /// `--refresh-ttl`.
    pub const REFRESH_TTL: &str = "30d";
    /// `--refresh-reuse-grace`.
    pub const REFRESH_REUSE_GRACE: &str = "10s";
    /// `--cors-origin`.
    pub const CORS_ORIGIN: &str = "http://localhost:3000";
    /// `--auth-rate-limit`.
    pub const AUTH_RATE_LIMIT: Switch = Switch::On;
    /// `--max-tasks-per-user`.
    pub const MAX_TASKS_PER_USER: u64 = 100_000;
    /// `--log-format`.
    pub const LOG_FORMAT: LogFormat = LogFormat::Text;
    /// `--cache-mb`.
    pub const CACHE_MB: u64 = 16;
    /// `--tombstone-retention`.
    pub const TOMBSTONE_RETENTION: &str = "30d";
}

/// `taskserver`: a multi-user task API on an embedded store.
///
/// Build it with [`Config::new`] and the builder methods (or set the public
/// fields); the clap attributes are the binary's flags and are read only by
/// its `main`.
#[derive(Clone, Debug, Args)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "TASKSERVER_LISTEN", default_value_t = defaults::LISTEN)]
    pub listen: SocketAddr,

    /// Serve `/metrics` on this address instead of `--listen`, whose
    /// `/metrics` is then 404 like any unknown path: a public API address
    /// need not expose them. Port 0 picks a free port.
    #[arg(long, env = "TASKSERVER_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Directory of the embedded store, relative to where the server starts
    /// (created with mode 0700 when missing; the start log says which);
    /// unused with `--database-url`.
    #[arg(
        long,
        env = "TASKSERVER_DATA_DIR",
        default_value = defaults::DATA_DIR,
        global = true
    )]
    pub data_dir: PathBuf,

    /// `postgres://user@host:port/database`: keep everything in PostgreSQL
    /// instead of the embedded store, so several servers can share it.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<DatabaseUrl>,

    /// Most connections to PostgreSQL this process opens.
    #[arg(
        long,
        env = "TASKSERVER_DATABASE_POOL_SIZE",
        default_value_t = defaults::DATABASE_POOL_SIZE,
        global = true
    )]
    pub database_pool_size: usize,

    /// The longest a request waits on the store: past it, or while the
    /// store cannot serve (database down, disk full), the answer is 503
    /// `storage_unavailable`. Starting against a database that does not
    /// answer gives up after the same time. At least 10ms.
    #[arg(
        long,
        env = "TASKSERVER_STORAGE_TIMEOUT",
        default_value = defaults::STORAGE_TIMEOUT,
        value_parser = parse_duration,
        global = true
    )]
    pub storage_timeout: Duration,

    /// HS256 key for access tokens, at least 32 bytes; generated once and kept
    /// in the store when absent. Prefer the environment or `.env` to the flag.
    #[arg(long, env = "TASKSERVER_JWT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub jwt_secret: Option<SecretString>,

    /// Access-token lifetime, 1s to 24h. Durations take a unit: `500ms`,
    /// `30s`, `15m`, `2h`, `7d`, or combined, like `1h30m`.
    #[arg(long, env = "TASKSERVER_TOKEN_TTL", default_value = defaults::TOKEN_TTL, value_parser = parse_duration)]
    pub token_ttl: Duration,

    /// Refresh-token lifetime, 1s to 90d.
    #[arg(long, env = "TASKSERVER_REFRESH_TTL", default_value = defaults::REFRESH_TTL, value_parser = parse_duration)]
    pub refresh_ttl: Duration,

    /// How long after its rotation a reused refresh token is refused without
    /// revoking its session, 0s to 5m.
    #[arg(long, env = "TASKSERVER_REFRESH_REUSE_GRACE", default_value = defaults::REFRESH_REUSE_GRACE, value_parser = parse_duration)]
    pub refresh_reuse_grace: Duration,

    /// Browser origins allowed by CORS (repeatable).
    #[arg(
        long = "cors-origin",
        env = "TASKSERVER_CORS_ORIGINS",
        value_delimiter = ',',
        default_value = defaults::CORS_ORIGIN
    )]
    pub cors_origins: Vec<String>,

    /// Refuse new registrations with 403.
    #[arg(long, env = "TASKSERVER_NO_REGISTRATION", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_registration: bool,

    /// Rate limits on login, register and refresh.
    #[arg(long, env = "TASKSERVER_AUTH_RATE_LIMIT", default_value_t = defaults::AUTH_RATE_LIMIT)]
    pub auth_rate_limit: Switch,

    /// Addresses or CIDRs of proxies whose `X-Forwarded-For` names the client.
    #[arg(long = "trusted-proxies", env = "TASKSERVER_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_trusted_proxy)]
    pub trusted_proxies: Vec<IpNet>,

    /// Most live tasks one user may have.
    #[arg(long, env = "TASKSERVER_MAX_TASKS_PER_USER", default_value_t = defaults::MAX_TASKS_PER_USER)]
    pub max_tasks_per_user: u64,

    /// Most open connections; past it new ones are closed at once. Default:
    /// the open-file limit (raised to its hard limit at start) less a
    /// reserve for the server's own files; a larger value is lowered to that.
    #[arg(long, env = "TASKSERVER_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// How long writing a response may make no progress before the
    /// connection is closed (a client that does not read its answers). Not
    /// a flag: `docs/api.md` fixes it at 30 s; tests shorten it.
    #[arg(skip = WRITE_STALL_TIMEOUT)]
    pub write_stall_timeout: Duration,

    /// How long the change feed remembers deletions: a change-feed cursor
    /// older than this is refused with 410 `cursor_expired` (the client
    /// syncs in full again), and deletions older than this are pruned from
    /// the feed (hourly). At least 1s.
    #[arg(
        long,
        env = "TASKSERVER_TOMBSTONE_RETENTION",
        default_value = defaults::TOMBSTONE_RETENTION,
        value_parser = parse_duration
    )]
    pub tombstone_retention: Duration,

    /// How often a live event stream sends a comment line when nothing
    /// else happens, and checks that its token still holds. Not a flag:
    /// `docs/api.md` promises at most 20 s; tests shorten it.
    #[arg(skip = EVENTS_HEARTBEAT)]
    pub events_heartbeat: Duration,

    /// Log format; the level comes from `RUST_LOG`.
    #[arg(
        long,
        env = "TASKSERVER_LOG_FORMAT",
        default_value_t = defaults::LOG_FORMAT,
        global = true
    )]
    pub log_format: LogFormat,

    // ----- external identity providers -----
    /// Trust tokens signed by the keys of this JWK set (`https://`, or
    /// `http://` on a loopback address).
    #[arg(long, env = "TASKSERVER_JWT_JWKS_URL")]
    pub jwt_jwks_url: Option<String>,

    /// Trust tokens signed by this PEM public key (repeatable; Ed25519, P-256 or RSA).
    #[arg(
        long = "jwt-public-key",
        env = "TASKSERVER_JWT_PUBLIC_KEYS",
        value_delimiter = ','
    )]
    pub jwt_public_keys: Vec<PathBuf>,

    /// Trust HS256 tokens signed with this secret shared with an external
    /// issuer, at least 32 bytes. Prefer the environment or `.env` to the flag.
    #[arg(long, env = "TASKSERVER_JWT_EXTERNAL_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub jwt_external_secret: Option<SecretString>,

    /// The `iss` external tokens must have.
    #[arg(long, env = "TASKSERVER_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// The `aud` external tokens must name.
    #[arg(long, env = "TASKSERVER_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Only external tokens: register, login and refresh answer 403.
    #[arg(long, env = "TASKSERVER_NO_LOCAL_ACCOUNTS", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_local_accounts: bool,
    // ----- end of external identity providers -----
    /// Memory the store may use for its cache, in MiB (the process needs
    /// about 100 MiB more on a store of a million tasks).
    #[arg(long, env = "TASKSERVER_CACHE_MB", default_value_t = defaults::CACHE_MB, global = true)]
    pub cache_mb: u64,
}

impl Config {
    /// The binary's defaults on `data_dir`, read from nothing else: neither
    /// flags nor the environment (an exported `DATABASE_URL` or
    /// `TASKSERVER_*` does not reach an embedding application or a test).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: defaults::LISTEN,
            metrics_listen: None,
            data_dir: data_dir.into(),
            database_url: None,
            database_pool_size: defaults::DATABASE_POOL_SIZE,
            storage_timeout: default_duration(defaults::STORAGE_TIMEOUT),
            jwt_secret: None,
            token_ttl: default_duration(defaults::TOKEN_TTL),
            refresh_ttl: default_duration(defaults::REFRESH_TTL),
            refresh_reuse_grace: default_duration(defaults::REFRESH_REUSE_GRACE),
            cors_origins: vec![defaults::CORS_ORIGIN.to_string()],
            no_registration: false,
            auth_rate_limit: defaults::AUTH_RATE_LIMIT,
            trusted_proxies: Vec::new(),
            max_tasks_per_user: defaults::MAX_TASKS_PER_USER,
            max_connections: None,
            write_stall_timeout: WRITE_STALL_TIMEOUT,
            tombstone_retention: default_duration(defaults::TOMBSTONE_RETENTION),
            events_heartbeat: EVENTS_HEARTBEAT,
            log_format: defaults::LOG_FORMAT,
            jwt_jwks_url: None,
            jwt_public_keys: Vec::new(),
            jwt_external_secret: None,
            jwt_issuer: None,
            jwt_audience: None,
            no_local_accounts: false,
            cache_mb: defaults::CACHE_MB,
        }
    }

    /// Listens on `addr` (port 0 picks a free port).
    pub fn listen(mut self, addr: impl Into<SocketAddr>) -> Self {
        self.listen = addr.into();
        self
    }

    /// Serves `/metrics` on `addr` (port 0 picks a free port) instead of
    /// the API's address, which then answers it 404.
    pub fn metrics_listen(mut self, addr: impl Into<SocketAddr>) -> Self {
        self.metrics_listen = Some(addr.into());
        self
    }

    /// Keeps everything in the PostgreSQL database at `url` instead of the
    /// embedded store.
    pub fn database_url(mut self, url: DatabaseUrl) -> Self {
        self.database_url = Some(url);
        self
    }

    /// Signs access tokens with `secret` instead of the one kept in the store.
    pub fn jwt_secret(mut self, secret: impl Into<SecretString>) -> Self {
        self.jwt_secret = Some(secret.into());
        self
    }

    /// Turns the rate limits on login, register and refresh on or off.
    pub fn auth_rate_limit(mut self, switch: Switch) -> Self {
        self.auth_rate_limit = switch;
        self
    }

    /// At most `max` live tasks per user.
    pub fn max_tasks_per_user(mut self, max: u64) -> Self {
        self.max_tasks_per_user = max;
        self
    }

    /// Checks what flags alone cannot: one sentence per problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(secret) = &self.jwt_secret
            && secret.expose_secret().len() < MIN_SECRET_BYTES
        {
            return Err(ConfigError(format!(
                "the JWT secret is {} bytes long; it must be at least {MIN_SECRET_BYTES} bytes",
                secret.expose_secret().len()
            )));
        }
        self.check_durations()?;
        if self.max_tasks_per_user == 0 {
            return Err(ConfigError(
                "--max-tasks-per-user must be at least 1".into(),
            ));
        }
        if self.max_connections == Some(0) {
            return Err(ConfigError("--max-connections must be at least 1".into()));
        }
        if let Some(metrics) = self.metrics_listen
            && metrics == self.listen
            && metrics.port() != 0
        {
            return Err(ConfigError(format!(
                "--metrics-listen {metrics} is the API's own address: give metrics another port, or leave the flag out to serve them on --listen"
            )));
        }
        if self.database_pool_size == 0 {
            return Err(ConfigError(
                "--database-pool-size must be at least 1".into(),
            ));
        }
        if let Some(bad) = self.cors_origins.iter().find(|o| !valid_origin(o)) {
            return Err(ConfigError(format!(
                "the CORS origin `{bad}` is not an origin like https://app.example.com"
            )));
        }
        self.external_issuer()?;
        Ok(())
    }

    /// Each duration within its bounds. Zero is refused where it would
    /// mean nothing works (a token that is born expired, a store call that
    /// times out at once); a token lifetime has an upper bound, so a typo
    /// cannot make tokens live for years.
    fn check_durations(&self) -> Result<(), ConfigError> {
        let second = Duration::from_secs(1);
        DurationFlag {
            flag: "--token-ttl",
            env: "TASKSERVER_TOKEN_TTL",
        }
        .check(
            self.token_ttl,
            second,
            Some((
                MAX_TOKEN_TTL,
                "longer sessions are what refresh tokens are for",
            )),
        )?;
        DurationFlag {
            flag: "--refresh-ttl",
            env: "TASKSERVER_REFRESH_TTL",
        }
        .check(
            self.refresh_ttl,
            second,
            Some((MAX_REFRESH_TTL, "a session ends 90 days after its login")),
        )?;
        DurationFlag {
            flag: "--refresh-reuse-grace",
            env: "TASKSERVER_REFRESH_REUSE_GRACE",
        }
        .check(
            self.refresh_reuse_grace,
            Duration::ZERO,
            Some((
                MAX_REFRESH_REUSE_GRACE,
                "within it a reused refresh token revokes nothing",
            )),
        )?;
        DurationFlag {
            flag: "--storage-timeout",
            env: "TASKSERVER_STORAGE_TIMEOUT",
        }
        .check(self.storage_timeout, MIN_STORAGE_TIMEOUT, None)?;
        // Cursors tell their age in whole seconds.
        DurationFlag {
            flag: "--tombstone-retention",
            env: "TASKSERVER_TOMBSTONE_RETENTION",
        }
        .check(self.tombstone_retention, second, None)
    }

    /// Whether any external key source is configured.
    pub fn has_external_keys(&self) -> bool {
        self.jwt_jwks_url.is_some()
            || !self.jwt_public_keys.is_empty()
            || self.jwt_external_secret.is_some()
    }

    /// The external issuer the flags describe, with its PEM keys and shared
    /// secret loaded (the JWK set is fetched later); `None` without any
    /// external key source.
    pub fn external_issuer(&self) -> Result<Option<ExternalIssuer>, ConfigError> {
        if !self.has_external_keys() {
            if self.jwt_issuer.is_some() || self.jwt_audience.is_some() {
                return Err(ConfigError(
                    "--jwt-issuer and --jwt-audience need a key source: --jwt-jwks-url, --jwt-public-key or --jwt-external-secret".into(),
                ));
            }
            if self.no_local_accounts {
                return Err(ConfigError(
                    "--no-local-accounts needs an external identity provider: --jwt-jwks-url, --jwt-public-key or --jwt-external-secret, with --jwt-issuer and --jwt-audience".into(),
                ));
            }
            return Ok(None);
        }
        let nonempty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let (Some(issuer), Some(audience)) =
            (nonempty(&self.jwt_issuer), nonempty(&self.jwt_audience))
        else {
            return Err(ConfigError(
                "external tokens (--jwt-jwks-url, --jwt-public-key, --jwt-external-secret) need both --jwt-issuer and --jwt-audience".into(),
            ));
        };
        if issuer == tokens::LOCAL_ISSUER {
            return Err(ConfigError(format!(
                "--jwt-issuer cannot be `{}`: that is the issuer of this server's own tokens",
                tokens::LOCAL_ISSUER
            )));
        }
        if let Some(url) = &self.jwt_jwks_url {
            check_jwks_url(url)?;
        }
        let mut external = ExternalIssuer::new(&issuer, &audience, self.jwt_jwks_url.is_some());
        for path in &self.jwt_public_keys {
            let pem = std::fs::read(path).map_err(|e| {
                ConfigError(format!(
                    "cannot read the public key file {}: {}",
                    path.display(),
                    io_reason(&e)
                ))
            })?;
            external = external.with_pem(&pem).map_err(|e| {
                ConfigError(format!(
                    "the public key file {} cannot be used: {e}",
                    path.display()
                ))
            })?;
        }
        if let Some(secret) = &self.jwt_external_secret {
            let secret = secret.expose_secret();
            if secret.len() < MIN_SECRET_BYTES {
                return Err(ConfigError(format!(
                    "the external JWT secret is {} bytes long; it must be at least {MIN_SECRET_BYTES} bytes",
                    secret.len()
                )));
            }
            external = external.with_secret(secret.as_bytes());
        }
        Ok(Some(external))
    }
}

/// A JWK set URL must be `https://`, or `http://` on a loopback address
/// (parsed by the same parser the fetcher uses).
fn check_jwks_url(url: &str) -> Result<(), ConfigError> {
    let bad = || {
        ConfigError(format!(
            "the JWK set URL `{url}` is not a valid http(s) URL"
        ))
    };
    let parsed = reqwest::Url::parse(url).map_err(|_| bad())?;
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = match host.parse::<IpAddr>() {
        Ok(ip) => canonical(ip).is_loopback(),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(ConfigError(format!(
            "the JWK set URL `{url}` must use https:// (plain http:// is allowed only on a loopback address)"
        ))),
        _ => Err(bad()),
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn valid_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    matches!(rest, Some(host) if !host.is_empty() && !host.contains('/'))
}

/// A configuration problem, in one sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A secret flag's value, kept in a [`SecretString`] (never printed, zeroed on drop).
fn parse_secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(text.into())
}

/// A PostgreSQL connection URL. It may hold a password: its `Debug` and
/// `Display` show the host and database only. Our own rather than a
/// `SecretString`, which would hide the host and database logs need.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL itself, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(Self(s.to_string()))
        } else {
            Err("a database URL starts with postgres:// (like postgres://user@localhost:5432/tasks)".into())
        }
    }
}

impl fmt::Display for DatabaseUrl {
    /// `postgres://HOST/DATABASE`, without user or password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rest = self.0.split_once("://").map_or("", |(_, rest)| rest);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let rest = rest.split_once('?').map_or(rest, |(path, _)| path);
        write!(f, "postgres://{rest}")
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

// The flags' defaults print these (`default_value_t`), so they are written once.
impl fmt::Display for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display_value(self, f)
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display_value(self, f)
    }
}

/// A value's name as its flag spells it.
fn display_value(value: &impl ValueEnum, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match value.to_possible_value() {
        Some(name) => f.write_str(name.get_name()),
        None => Ok(()),
    }
}

/// One `--trusted-proxies` entry: `10.0.0.0/8`, `::1/128`, or a bare
/// address (a range of one).
pub fn parse_trusted_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    text.parse::<IpNet>()
        .map_err(|_| match text.split_once('/') {
            Some((addr, _)) if addr.parse::<IpAddr>().is_ok() => {
                format!("`{text}` has a prefix length out of range")
            }
            _ => format!("`{text}` is not an IP address or CIDR"),
        })
}

/// IPv4-mapped IPv6 addresses count as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// One of the [`defaults`] durations; a test parses every one of them.
fn default_duration(text: &str) -> Duration {
    parse_duration(text).expect("the built-in default durations parse")
}

/// The forms a duration flag accepts, shown when a value is refused.
const DURATION_FORMS: &str =
    "a number with a unit: 500ms, 5s, 15m, 2h or 7d (or combined, like 1h30m)";

/// Parses `15m`, `30d`, `10s`, `500ms`, `1h30m`. Every number needs a unit:
/// a bare `5` could mean seconds or minutes, so it is refused rather than
/// guessed. Weeks, months and years are refused too: no duration flag needs
/// them, and a month or a year has no one length.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{trimmed}` has no unit: write {trimmed}s for seconds; a duration is {DURATION_FORMS}"
        ));
    }
    let refuse = || format!("`{trimmed}` is not a duration: use {DURATION_FORMS}");
    let mut rest = trimmed;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return Err(refuse());
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (number, after) = rest.split_at(digits);
        let letters = after.len()
            - after
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let (unit, after) = after.split_at(letters);
        let number: u64 = number.parse().map_err(|_| refuse())?;
        let part = match unit {
            "ms" | "msec" | "msecs" => Some(Duration::from_millis(number)),
            "s" | "sec" | "secs" | "second" | "seconds" => Some(Duration::from_secs(number)),
            "m" | "min" | "mins" | "minute" | "minutes" => {
                number.checked_mul(60).map(Duration::from_secs)
            }
            "h" | "hr" | "hrs" | "hour" | "hours" => {
                number.checked_mul(3600).map(Duration::from_secs)
            }
            "d" | "day" | "days" => number.checked_mul(86_400).map(Duration::from_secs),
            _ => return Err(refuse()),
        };
        total = part
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| format!("`{trimmed}` is too long a duration"))?;
        rest = after.trim_start();
    }
    Ok(total)
}

/// `d` as the flags write it: `90d`, `25h`, `5m`, `1h30m`, `10ms`, `0s`
/// (hours up to two days, which reads better than `1d1h`).
pub fn show_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    let mut out = String::new();
    let mut part = |amount: u64, unit: &str| {
        if amount > 0 {
            out.push_str(&format!("{amount}{unit}"));
        }
    };
    if secs >= 2 * 86_400 {
        part(secs / 86_400, "d");
        secs %= 86_400;
    }
    part(secs / 3600, "h");
    part(secs % 3600 / 60, "m");
    part(secs % 60, "s");
    part(u64::from(d.subsec_millis()), "ms");
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// A duration flag and the variable that sets it too, as errors name them.
struct DurationFlag {
    flag: &'static str,
    env: &'static str,
}

impl DurationFlag {
    /// Refuses `value` below `min` or above `max`, saying why the bound is there.
    fn check(
        &self,
        value: Duration,
        min: Duration,
        max: Option<(Duration, &str)>,
    ) -> Result<(), ConfigError> {
        let Self { flag, env } = self;
        let shown = show_duration;
        if value < min {
            return Err(ConfigError(format!(
                "{flag} ({env}) is {}; it must be at least {}",
                shown(value),
                shown(min)
            )));
        }
        if let Some((max, why)) = max
            && value > max
        {
            return Err(ConfigError(format!(
                "{flag} ({env}) is {}; it must be at most {} ({why})",
                shown(value),
                shown(max)
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SPEC: a comment line at least every 20 s keeps proxies from
    /// closing an idle event stream; the default leaves room for delay.
    #[test]
    fn the_default_heartbeat_comes_well_within_20_seconds() {
        let config = Config::new("data");
        assert!(config.events_heartbeat <= Duration::from_secs(15));
        assert!(config.events_heartbeat > Duration::ZERO);
    }

    /// The flags' defaults, parsed as the binary parses them but with every
    /// `env = ...` removed, so that the test's own environment is not read.
    fn flag_defaults() -> Config {
        use clap::FromArgMatches;
        let command =
            Config::augment_args(clap::Command::new("taskserver")).mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(["taskserver"])
            .expect("the defaults parse");
        Config::from_arg_matches(&matches).expect("a config")
    }

    #[test]
    fn new_has_the_binary_defaults() {
        assert_eq!(
            format!("{:?}", Config::new(defaults::DATA_DIR)),
            format!("{:?}", flag_defaults())
        );
    }

    /// Set in the child process [`new_reads_nothing_from_the_environment`] starts.
    const CHILD: &str = "TASKSERVER_CONFIG_TEST_CHILD";

    /// Runs in a child whose environment sets what the binary would read;
    /// does nothing in a plain test run.
    #[test]
    fn new_in_an_environment_that_sets_flags() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        let config = Config::new("data");
        assert!(config.database_url.is_none(), "{config:?}");
        assert_eq!(config.max_tasks_per_user, defaults::MAX_TASKS_PER_USER);
        assert_eq!(config.listen, defaults::LISTEN);
    }

    /// An embedding application or a test run with `DATABASE_URL` or any
    /// `TASKSERVER_*` exported gets the defaults all the same. The variables
    /// are set on a child process (this test binary, running the test above)
    /// rather than here, which would take `unsafe` and race other tests.
    #[test]
    fn new_reads_nothing_from_the_environment() {
        let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "config::tests::new_in_an_environment_that_sets_flags",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .env("DATABASE_URL", "postgres://app@db.invalid:5432/tasks")
            .env("TASKSERVER_MAX_TASKS_PER_USER", "7")
            .env("TASKSERVER_LISTEN", "127.0.0.1:9")
            .output()
            .expect("the test binary runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("1 passed"),
            "the child ran no test:\n{stdout}"
        );
    }

    #[test]
    fn cidrs_match_their_ranges() {
        let ip = |text: &str| text.parse::<IpAddr>().expect("ip");
        let net = parse_trusted_proxy("10.1.0.0/16").expect("valid");
        assert!(net.contains(&ip("10.1.200.3")));
        assert!(!net.contains(&ip("10.2.0.1")));
        assert!(
            parse_trusted_proxy(" ::1")
                .expect("valid")
                .contains(&ip("::1"))
        );
        assert!(
            !parse_trusted_proxy("::1")
                .expect("valid")
                .contains(&ip("::2"))
        );
        assert!(
            parse_trusted_proxy("0.0.0.0/0")
                .expect("valid")
                .contains(&ip("8.8.8.8"))
        );
        // Host bits after the prefix are ignored, as before.
        assert!(
            parse_trusted_proxy("10.1.2.3/16")
                .expect("valid")
                .contains(&ip("10.1.9.9"))
        );
        let error = parse_trusted_proxy("10.0.0.0/33").expect_err("too long");
        assert!(error.contains("prefix length out of range"), "{error}");
        let error = parse_trusted_proxy("proxy.internal").expect_err("a name");
        assert!(error.contains("not an IP address or CIDR"), "{error}");
    }

    #[test]
    fn database_urls_never_show_their_password() {
        let url: DatabaseUrl = "postgres://app:hunter2@db.internal:5432/tasks?sslmode=disable"
            .parse()
            .expect("valid");
        assert_eq!(url.to_string(), "postgres://db.internal:5432/tasks");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!("mysql://x".parse::<DatabaseUrl>().is_err());
    }

    #[test]
    fn zero_connections_are_refused() {
        let mut config = Config::new("data");
        config.max_connections = Some(0);
        assert!(
            config
                .validate()
                .unwrap_err()
                .0
                .contains("--max-connections")
        );
        config.max_connections = Some(1);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn metrics_need_an_address_of_their_own() {
        let config = Config::new("data").metrics_listen(defaults::LISTEN);
        let error = config.validate().expect_err("the same address twice");
        assert!(error.0.contains("--metrics-listen"), "{error}");
        let other = SocketAddr::from(([127, 0, 0, 1], 9090));
        assert!(Config::new("data").metrics_listen(other).validate().is_ok());
        // Two free ports are two addresses.
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let config = Config::new("data").listen(any).metrics_listen(any);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn short_secrets_are_refused() {
        let mut config = Config::new("data");
        config.jwt_secret = Some("short".into());
        assert!(
            !format!("{config:?}").contains("short"),
            "secrets never print"
        );
        assert!(
            config
                .validate()
                .unwrap_err()
                .0
                .contains("at least 32 bytes")
        );
    }

    #[test]
    fn jwks_urls_need_https_unless_loopback() {
        for ok in [
            "https://auth.example.com/api/auth/jwks",
            "http://localhost:3000/api/auth/jwks",
            "http://LOCALHOST/jwks",
            "http://app.localhost:8080/jwks",
            "http://127.0.0.1:9/jwks",
            "http://127.8.9.10/jwks",
            "http://[::1]:3000/jwks",
        ] {
            assert!(check_jwks_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://auth.example.com/jwks",
            "http://localhost.evil.com/jwks",
            "http://127.0.0.1.nip.io/jwks",
            "http://10.0.0.1/jwks",
            "http://[::2]/jwks",
            "http://127.0.0.1@auth.example.com/jwks",
            "ftp://localhost/jwks",
            "localhost/jwks",
        ] {
            assert!(check_jwks_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_defaults_pass_validation() {
        assert!(Config::new("data").validate().is_ok());
        assert!(flag_defaults().validate().is_ok());
    }

    #[test]
    fn durations_need_a_unit_and_a_fixed_length() {
        let secs = Duration::from_secs;
        for (text, want) in [
            ("2s", secs(2)),
            ("15m", secs(900)),
            ("2h", secs(7200)),
            ("7d", secs(7 * 86_400)),
            ("500ms", Duration::from_millis(500)),
            ("1h30m", secs(5400)),
            ("1h 30m", secs(5400)),
            ("0s", Duration::ZERO),
            (" 10sec ", secs(10)),
            ("15min", secs(900)),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        let error = parse_duration("5").expect_err("no unit");
        assert!(error.contains("no unit") && error.contains("5s"), "{error}");
        for bad in [
            "1y", "2w", "1M", "1month", "", "s", "5 ", "-5s", "1.5h", "5x", "h5",
        ] {
            if bad.trim() == "5" {
                continue;
            }
            let error = parse_duration(bad).expect_err(bad);
            assert!(error.contains("15m"), "{bad}: {error}");
        }
        assert!(parse_duration("99999999999999999999d").is_err());
        for text in ["90d", "25h", "24h", "5m", "1h30m", "10ms", "0s", "2d1h1s"] {
            let parsed = parse_duration(text).expect(text);
            assert_eq!(show_duration(parsed), text);
        }
    }

    #[test]
    fn durations_out_of_bounds_name_the_bound() {
        let refused = |set: &dyn Fn(&mut Config)| {
            let mut config = Config::new("data");
            set(&mut config);
            config.validate().expect_err("out of bounds").0
        };
        let secs = Duration::from_secs;
        let error = refused(&|c| c.token_ttl = secs(25 * 3600));
        assert!(
            error.contains("--token-ttl")
                && error.contains("is 25h")
                && error.contains("at most 24h"),
            "{error}"
        );
        let error = refused(&|c| c.token_ttl = Duration::ZERO);
        assert!(
            error.contains("--token-ttl") && error.contains("at least 1s"),
            "{error}"
        );
        let error = refused(&|c| c.refresh_ttl = secs(91 * 86_400));
        assert!(
            error.contains("--refresh-ttl")
                && error.contains("is 91d")
                && error.contains("at most 90d"),
            "{error}"
        );
        let error = refused(&|c| c.refresh_ttl = Duration::ZERO);
        assert!(error.contains("--refresh-ttl"), "{error}");
        let error = refused(&|c| c.refresh_reuse_grace = secs(301));
        assert!(
            error.contains("--refresh-reuse-grace") && error.contains("at most 5m"),
            "{error}"
        );
        let error = refused(&|c| c.storage_timeout = Duration::ZERO);
        assert!(
            error.contains("--storage-timeout") && error.contains("at least 10ms"),
            "{error}"
        );
        let error = refused(&|c| c.tombstone_retention = Duration::from_millis(500));
        assert!(
            error.contains("--tombstone-retention")
                && error.contains("TASKSERVER_TOMBSTONE_RETENTION")
                && error.contains("at least 1s"),
            "{error}"
        );
        // The bounds themselves, and short values tests and demos use, pass.
        let mut config = Config::new("data");
        config.token_ttl = MAX_TOKEN_TTL;
        config.refresh_ttl = MAX_REFRESH_TTL;
        config.refresh_reuse_grace = Duration::ZERO;
        assert!(config.validate().is_ok());
        config.token_ttl = secs(2);
        config.refresh_ttl = secs(2);
        config.refresh_reuse_grace = MAX_REFRESH_REUSE_GRACE;
        config.storage_timeout = MIN_STORAGE_TIMEOUT;
        config.tombstone_retention = secs(1);
        assert!(config.validate().is_ok());
    }
}
