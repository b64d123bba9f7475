//! The standard `process_*` metrics (the names and types every Prometheus
//! client library uses), read from `/proc/self` when scraped: nothing runs
//! in the background. Other systems than Linux leave them out, and so does
//! any file that cannot be read. Read on the async task: `/proc` is made by
//! the kernel from memory and never waits on a device.

/// Appends the process metrics this system can tell.
pub(super) fn render(out: &mut String) {
    #[cfg(target_os = "linux")]
    linux::render(out);
    #[cfg(not(target_os = "linux"))]
    let _ = out;
}

#[cfg(any(target_os = "linux", test))]
mod parse {
    /// `/proc` counts CPU time in USER_HZ ticks, which the kernel fixes at
    /// 100 a second on every architecture it exposes to user space (the
    /// Prometheus Go client assumes the same).
    pub(super) const TICKS_PER_SECOND: f64 = 100.0;

    /// The fields of `/proc/self/stat` the metrics need.
    #[derive(Debug, PartialEq, Eq)]
    pub(super) struct Stat {
        /// User plus system CPU time, in ticks.
        pub cpu_ticks: u64,
        /// When the process started, in ticks after boot.
        pub start_ticks: u64,
        /// Virtual memory size, in bytes.
        pub virtual_bytes: u64,
    }

    /// Parses `/proc/self/stat`. The command name (field 2) is in
    /// parentheses and may hold spaces and parentheses itself, so the
    /// fields are counted from the last `)`.
    pub(super) fn stat(text: &str) -> Option<Stat> {
        let (_, rest) = text.rsplit_once(')')?;
        // `rest` starts at field 3 (state): field N is at N - 3.
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(Stat {
            cpu_ticks: field(14)?.checked_add(field(15)?)?,
            start_ticks: field(22)?,
            virtual_bytes: field(23)?,
        })
    }

    /// The resident set size in bytes, from `/proc/self/status`
    /// (`VmRSS:  1234 kB`), which needs no page size.
    pub(super) fn resident_bytes(status: &str) -> Option<u64> {
        kilobytes(status, "VmRSS:")
    }

    fn kilobytes(status: &str, key: &str) -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        let mut words = line[key.len()..].split_ascii_whitespace();
        let value = words.next()?.parse::<u64>().ok()?;
        match words.next() {
            Some("kB") => value.checked_mul(1024),
            _ => None,
        }
    }

    /// The boot time in seconds since the epoch, from `/proc/stat` (`btime N`).
    pub(super) fn boot_time(stat: &str) -> Option<u64> {
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::parse;
    use crate::http::metrics::text::single;
    use std::sync::OnceLock;

    pub(super) fn render(out: &mut String) {
        let stat = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|text| parse::stat(&text));
        if let Some(stat) = &stat {
            single(
                out,
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                stat.cpu_ticks as f64 / parse::TICKS_PER_SECOND,
            );
        }
        if let Some(open) = open_fds() {
            single(
                out,
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
                open,
            );
        }
        if let Ok((soft, _)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
            single(
                out,
                "process_max_fds",
                "gauge",
                "Maximum number of open file descriptors.",
                soft,
            );
        }
        if let Some(stat) = &stat {
            single(
                out,
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                stat.virtual_bytes,
            );
        }
        let resident = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|text| parse::resident_bytes(&text));
        if let Some(resident) = resident {
            single(
                out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                resident,
            );
        }
        if let Some(start) = start_time(stat.as_ref()) {
            single(
                out,
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                start,
            );
        }
    }

    /// The entries of `/proc/self/fd` (the directory's own descriptor
    /// included, as other clients count it).
    fn open_fds() -> Option<u64> {
        let entries = std::fs::read_dir("/proc/self/fd").ok()?;
        Some(entries.count() as u64)
    }

    /// Boot time plus the start in ticks after boot; it never changes, so it
    /// is worked out at the first scrape that can.
    fn start_time(stat: Option<&parse::Stat>) -> Option<f64> {
        static START: OnceLock<f64> = OnceLock::new();
        if let Some(start) = START.get() {
            return Some(*start);
        }
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| parse::boot_time(&text))?;
        let start = boot as f64 + stat?.start_ticks as f64 / parse::TICKS_PER_SECOND;
        Some(*START.get_or_init(|| start))
    }
}

#[cfg(test)]
mod tests {
    use super::parse::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // A command name with spaces and parentheses of its own.
        let text = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    250 50 0 0 20 0 8 0 123456 987654321 3000 18446744073709551615 \
                    1 1 0 0 0 0 0 4096 17414 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(
            stat(text),
            Some(Stat {
                cpu_ticks: 300,
                start_ticks: 123_456,
                virtual_bytes: 987_654_321,
            })
        );
        assert_eq!(stat("4242 (cut short) S 1 2"), None);
        assert_eq!(stat("no parentheses"), None);
    }

    #[test]
    fn resident_memory_comes_from_status_in_kilobytes() {
        let status = "Name:\ttaskserver\nVmPeak:\t  300000 kB\nVmRSS:\t   20480 kB\nThreads:\t8\n";
        assert_eq!(resident_bytes(status), Some(20_480 * 1024));
        assert_eq!(resident_bytes("Name:\tkernel thread\n"), None);
        assert_eq!(resident_bytes("VmRSS:\t12 pages\n"), None);
    }

    #[test]
    fn boot_time_is_the_btime_line() {
        let stat = "cpu  1 2 3 4\nintr 5 6\nbtime 1765000000\nprocesses 99\n";
        assert_eq!(boot_time(stat), Some(1_765_000_000));
        assert_eq!(boot_time("cpu 1 2 3\n"), None);
    }
}
