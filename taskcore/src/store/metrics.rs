//! What a store tells `/metrics` about itself: a typed snapshot
//! ([`StoreMetrics`]) read from atomics, so that recording costs the store's
//! own work no lock and no allocation.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of the store's own counters and gauges, from memory alone
/// (see [`TaskStore::metrics`](super::TaskStore::metrics)).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreMetrics {
    /// The group commit's flushes (sled); `None` for a store without them.
    pub flushes: Option<FlushMetrics>,
    /// The connection pool (PostgreSQL); `None` for a store without one.
    pub pool: Option<PoolMetrics>,
}

/// The durable flushes of a store that batches writes (sled's group commit).
#[derive(Clone, Debug, PartialEq)]
pub struct FlushMetrics {
    /// How long each flush took (log write and sync), in seconds.
    pub seconds: Histogram,
    /// How many waiting writes each flush made durable.
    pub writes: Histogram,
}

/// A connection pool's use (PostgreSQL).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolMetrics {
    /// Connections lent out to a call right now.
    pub in_use: u64,
    /// Open connections waiting in the pool.
    pub idle: u64,
    /// The most connections the pool opens.
    pub max: u64,
    /// Calls waiting for a connection.
    pub waiting: u64,
}

/// A histogram as a snapshot: counts per bucket and the sum of the values.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// The buckets' upper bounds, ascending.
    pub bounds: &'static [f64],
    /// Values per bucket (not cumulative): one entry per bound, and a last
    /// one for the values above every bound.
    pub counts: Vec<u64>,
    /// The sum of every value recorded.
    pub sum: f64,
}

impl Histogram {
    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// The recording side of a [`Histogram`]: fixed buckets of atomics, so
/// recording takes no lock and allocates nothing.
pub(crate) struct AtomicHistogram {
    bounds: &'static [f64],
    /// One per bound, plus the overflow bucket.
    counts: Box<[AtomicU64]>,
    /// The sum, as `f64` bits.
    sum: AtomicU64,
}

impl AtomicHistogram {
    /// An empty histogram over `bounds` (ascending).
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Records one value.
    pub(crate) fn record(&self, value: f64) {
        let bucket = self
            .bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(self.bounds.len());
        if let Some(count) = self.counts.get(bucket) {
            count.fetch_add(1, Relaxed);
        }
        // Never fails: the closure always returns `Some`.
        let _ = self.sum.fetch_update(Relaxed, Relaxed, |bits| {
            Some((f64::from_bits(bits) + value).to_bits())
        });
    }

    /// The values recorded so far.
    pub(crate) fn snapshot(&self) -> Histogram {
        Histogram {
            bounds: self.bounds,
            counts: self.counts.iter().map(|c| c.load(Relaxed)).collect(),
            sum: f64::from_bits(self.sum.load(Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_first_bucket_that_holds_them() {
        static BOUNDS: [f64; 3] = [1.0, 2.0, 4.0];
        let histogram = AtomicHistogram::new(&BOUNDS);
        for value in [0.5, 1.0, 1.5, 4.0, 9.0] {
            histogram.record(value);
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.counts, vec![2, 1, 1, 1]);
        assert_eq!(snapshot.count(), 5);
        assert!((snapshot.sum - 16.0).abs() < 1e-9, "{}", snapshot.sum);
    }
}
