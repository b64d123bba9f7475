//! Prometheus metrics: request counts and latency histograms by route and
//! status, in fixed arrays of atomics (no lock, no allocation per request);
//! and, read only when scraped, the process's (`process`) and the store's
//! (`store`).

use super::endpoint::{ROUTES, UNMATCHED};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use taskcore::TaskStore;

mod process;
mod store;
mod text;

/// The whole exposition: requests, then the process, then the store.
pub(crate) async fn exposition(requests: &Metrics, store: &dyn TaskStore) -> String {
    // The only part that may wait (a query on PostgreSQL), bounded by
    // `--storage-timeout`; without an answer the sample is left out.
    let size = store.size_on_disk().await.unwrap_or_else(|e| {
        tracing::debug!(error = %e, "the store's size on disk is unknown");
        None
    });
    let mut out = requests.render();
    process::render(&mut out);
    store::render(&mut out, &store.metrics(), size);
    out
}

/// Statuses the API answers; anything else is counted as the last entry.
const STATUSES: [u16; 20] = [
    200, 201, 204, 400, 401, 403, 404, 405, 409, 410, 412, 413, 415, 422, 429, 500, 503, 408, 411,
    0,
];
/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Cell {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// Counters for every (route, status).
pub struct Metrics {
    cells: Vec<Cell>,
}

impl Default for Metrics {
    fn default() -> Self {
        let cells = (0..(ROUTES.len() + 1) * STATUSES.len())
            .map(|_| Cell::default())
            .collect();
        Self { cells }
    }
}

impl Metrics {
    /// Records one request; `route` is the position in [`ROUTES`], or
    /// `ROUTES.len()` for a path no route serves.
    pub fn record(&self, route: usize, status: u16, elapsed: Duration) {
        let status_index = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(STATUSES.len() - 1);
        let Some(cell) = self.cells.get(route * STATUSES.len() + status_index) else {
            return;
        };
        let secs = elapsed.as_secs_f64();
        if let Some(bucket) = BUCKETS.iter().position(|b| secs <= *b) {
            cell.buckets[bucket].fetch_add(1, Relaxed);
        }
        cell.count.fetch_add(1, Relaxed);
        cell.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Relaxed,
        );
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        out.push_str("# HELP taskserver_requests_total Requests answered, by route and status.\n");
        out.push_str("# TYPE taskserver_requests_total counter\n");
        self.each(|route, status, cell| {
            let _ = writeln!(
                out,
                "taskserver_requests_total{{route=\"{route}\",status=\"{status}\"}} {}",
                cell.count.load(Relaxed)
            );
        });
        out.push_str(
            "# HELP taskserver_request_duration_seconds Time to answer, by route and status.\n",
        );
        out.push_str("# TYPE taskserver_request_duration_seconds histogram\n");
        self.each(|route, status, cell| {
            let mut cumulative = 0;
            for (bound, bucket) in BUCKETS.iter().zip(&cell.buckets) {
                cumulative += bucket.load(Relaxed);
                let _ = writeln!(
                    out,
                    "taskserver_request_duration_seconds_bucket{{route=\"{route}\",status=\"{status}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = cell.count.load(Relaxed);
            let sum = cell.sum_micros.load(Relaxed) as f64 / 1e6;
            let labels = format!("route=\"{route}\",status=\"{status}\"");
            let _ = writeln!(out, "taskserver_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "taskserver_request_duration_seconds_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "taskserver_request_duration_seconds_count{{{labels}}} {count}");
        });
        out
    }

    /// Visits every (route, status) that has seen a request.
    fn each(&self, mut visit: impl FnMut(&str, String, &Cell)) {
        let names = ROUTES.iter().map(|r| r.name).chain([UNMATCHED]);
        for (r, route) in names.enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let cell = &self.cells[r * STATUSES.len() + s];
                if cell.count.load(Relaxed) > 0 {
                    let status = if *status == 0 {
                        "other".to_string()
                    } else {
                        status.to_string()
                    };
                    visit(route, status, cell);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_buckets() {
        let metrics = Metrics::default();
        metrics.record(7, 200, Duration::from_millis(3));
        metrics.record(7, 200, Duration::from_millis(30));
        let text = metrics.render();
        assert!(text.contains("taskserver_requests_total{route=\"/api/tasks\",status=\"200\"} 2"));
        assert!(text.contains("route=\"/api/tasks\",status=\"200\",le=\"0.005\"} 1"));
        assert!(text.contains("route=\"/api/tasks\",status=\"200\",le=\"+Inf\"} 2"));
        assert!(!text.contains("status=\"404\""));
    }
}
