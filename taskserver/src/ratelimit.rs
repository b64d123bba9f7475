//! Rate limits on login, register and refresh, per server process, in
//! bounded memory: fixed windows keyed by client address and email.
//!
//! Not `governor`: its GCRA spreads a quota evenly (10 per 15 minutes
//! becomes one every 90 s after a burst), while the contract counts
//! attempts per window, and a window's count must also be read without
//! spending (a 429 for the right password after ten failures).

use crate::config::canonical;
use ipnet::IpNet;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept per limit; past it, expired entries go first, then arbitrary ones.
const MAX_ENTRIES: usize = 100_000;

/// A client address as limits count it: IPv4 whole, IPv6 per /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey(u128);

impl ClientKey {
    /// The key of an address.
    pub fn of(ip: IpAddr) -> Self {
        match canonical(ip) {
            IpAddr::V4(v4) => Self(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => Self((u128::from(v6) >> 64) | (1 << 127)),
        }
    }
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the
/// last address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    // IPv4-mapped IPv6 peers match IPv4 ranges.
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&canonical(ip)));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // Garbage in the header: trust nothing further left of it.
            Err(_) => break,
        }
    }
    client
}

/// At most `limit` events per key per `period`.
struct Window<K> {
    limit: u32,
    period: Duration,
    entries: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Eq + Hash + Clone> Window<K> {
    fn new(limit: u32, period: Duration) -> Self {
        Self {
            limit,
            period,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds to wait if `key` is at its limit now.
    fn blocked(&self, key: &K, now: Instant) -> Option<u64> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (start, count) = entries.get(key)?;
        let elapsed = now.saturating_duration_since(*start);
        (elapsed < self.period && *count >= self.limit)
            .then(|| (self.period - elapsed).as_secs().max(1))
    }

    /// Counts one event; returns seconds to wait if that went over the limit.
    fn hit(&self, key: &K, now: Instant) -> Option<u64> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(key) {
            let period = self.period;
            entries.retain(|_, (start, _)| now.saturating_duration_since(*start) < period);
            if entries.len() >= MAX_ENTRIES
                && let Some(victim) = entries.keys().next().cloned()
            {
                entries.remove(&victim);
            }
        }
        let entry = entries.entry(key.clone()).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= self.period {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        let elapsed = now.saturating_duration_since(entry.0);
        (entry.1 > self.limit).then(|| (self.period - elapsed).as_secs().max(1))
    }
}

/// The three auth limits of `docs/api.md`.
pub struct AuthLimits {
    enabled: bool,
    per_client: Window<ClientKey>,
    failures_per_email_client: Window<(String, ClientKey)>,
    failures_per_email: Window<String>,
}

impl AuthLimits {
    /// 60 requests per address per minute; 10 failed logins per email and
    /// address per 15 minutes; 100 per email per hour.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            per_client: Window::new(60, Duration::from_secs(60)),
            failures_per_email_client: Window::new(10, Duration::from_secs(15 * 60)),
            failures_per_email: Window::new(100, Duration::from_secs(3600)),
        }
    }

    /// Counts a login, register or refresh request from `client`.
    pub fn request(&self, client: ClientKey) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        self.per_client
            .hit(&client, Instant::now())
            .map_or(Ok(()), Err)
    }

    /// Whether logins for `email` from `client` are blocked by past failures.
    pub fn login_allowed(&self, email: &str, client: ClientKey) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        let now = Instant::now();
        let pair = (email.to_string(), client);
        match (
            self.failures_per_email_client.blocked(&pair, now),
            self.failures_per_email.blocked(&email.to_string(), now),
        ) {
            (None, None) => Ok(()),
            (a, b) => Err(a.unwrap_or(0).max(b.unwrap_or(0))),
        }
    }

    /// Records a failed login.
    pub fn login_failed(&self, email: &str, client: ClientKey) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        self.failures_per_email_client
            .hit(&(email.to_string(), client), now);
        self.failures_per_email.hit(&email.to_string(), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = [crate::config::parse_trusted_proxy("10.0.0.0/8").expect("cidr")];
        assert_eq!(
            client_address(ip("1.2.3.4"), Some("9.9.9.9"), &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), Some("9.9.9.9, 5.5.5.5, 10.0.0.2"), &trusted),
            ip("5.5.5.5")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), None, &trusted),
            ip("10.0.0.1")
        );
        // An IPv4-mapped IPv6 peer is its IPv4 address.
        assert_eq!(
            client_address(ip("::ffff:10.0.0.1"), Some("5.5.5.5"), &trusted),
            ip("5.5.5.5")
        );
    }

    #[test]
    fn ipv6_counts_per_64() {
        assert_eq!(
            ClientKey::of(ip("2001:db8::1")),
            ClientKey::of(ip("2001:db8::ffff"))
        );
        assert_ne!(
            ClientKey::of(ip("2001:db8::1")),
            ClientKey::of(ip("2001:db8:0:1::1"))
        );
        assert_eq!(
            ClientKey::of(ip("::ffff:1.2.3.4")),
            ClientKey::of(ip("1.2.3.4"))
        );
    }

    #[test]
    fn windows_block_past_the_limit() {
        let limits = AuthLimits::new(true);
        let client = ClientKey::of(ip("1.2.3.4"));
        for _ in 0..60 {
            assert!(limits.request(client).is_ok());
        }
        assert!(limits.request(client).is_err());
        for _ in 0..10 {
            assert!(limits.login_allowed("a@x.org", client).is_ok());
            limits.login_failed("a@x.org", client);
        }
        let wait = limits
            .login_allowed("a@x.org", client)
            .expect_err("blocked");
        assert!(wait > 800 && wait <= 900);
        assert!(limits.login_allowed("b@x.org", client).is_ok());
    }
}
