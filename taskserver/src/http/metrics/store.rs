//! The store's metrics: sled's flushes, PostgreSQL's pool, and the size on
//! disk, from the snapshot the store hands out ([`StoreMetrics`]).

use super::text::{family, histogram, sample, single};
use taskcore::store::StoreMetrics;

/// Appends what the store told; families it has nothing for are left out.
pub(super) fn render(out: &mut String, metrics: &StoreMetrics, size: Option<u64>) {
    if let Some(flushes) = &metrics.flushes {
        single(
            out,
            "taskserver_store_flushes_total",
            "counter",
            "Durable flushes of the embedded store, each syncing a batch of writes.",
            flushes.seconds.count(),
        );
        histogram(
            out,
            "taskserver_store_flush_seconds",
            "Time a flush of the embedded store took (log write and sync).",
            &flushes.seconds,
        );
        histogram(
            out,
            "taskserver_store_writes_per_flush",
            "Writes that one flush of the embedded store made durable.",
            &flushes.writes,
        );
    }
    if let Some(pool) = &metrics.pool {
        let name = "taskserver_store_pool_connections";
        family(
            out,
            name,
            "gauge",
            "Open connections to the database, lent out (in_use) or waiting in the pool (idle).",
        );
        sample(out, name, "state=\"in_use\"", pool.in_use);
        sample(out, name, "state=\"idle\"", pool.idle);
        single(
            out,
            "taskserver_store_pool_max_connections",
            "gauge",
            "The most connections to the database the pool opens (--database-pool-size).",
            pool.max,
        );
        single(
            out,
            "taskserver_store_pool_waiting",
            "gauge",
            "Store calls waiting for a free connection.",
            pool.waiting,
        );
    }
    if let Some(size) = size {
        single(
            out,
            "taskserver_store_size_bytes",
            "gauge",
            "Bytes the store takes on disk: the embedded store's files, or the PostgreSQL database.",
            size,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskcore::store::PoolMetrics;

    #[test]
    fn a_store_without_metrics_adds_nothing() {
        let mut out = String::new();
        render(&mut out, &StoreMetrics::default(), None);
        assert_eq!(out, "");
    }

    #[test]
    fn pool_use_is_labelled_by_state() {
        let metrics = StoreMetrics {
            flushes: None,
            pool: Some(PoolMetrics {
                in_use: 3,
                idle: 2,
                max: 16,
                waiting: 0,
            }),
        };
        let mut out = String::new();
        render(&mut out, &metrics, Some(4096));
        for line in [
            "taskserver_store_pool_connections{state=\"in_use\"} 3",
            "taskserver_store_pool_connections{state=\"idle\"} 2",
            "taskserver_store_pool_max_connections 16",
            "taskserver_store_size_bytes 4096",
        ] {
            assert!(out.lines().any(|l| l == line), "no {line} in:\n{out}");
        }
        assert!(!out.contains("flush"), "{out}");
    }
}
