//! Writing the Prometheus text exposition format (version 0.0.4).

use std::fmt::{Display, Write};
use taskcore::store::Histogram;

/// A metric family's `# HELP` and `# TYPE` lines.
pub(super) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One sample; `labels` is `key="value",...` or empty.
pub(super) fn sample(out: &mut String, name: &str, labels: &str, value: impl Display) {
    let _ = if labels.is_empty() {
        writeln!(out, "{name} {value}")
    } else {
        writeln!(out, "{name}{{{labels}}} {value}")
    };
}

/// A one-sample family: a gauge or a counter without labels.
pub(super) fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl Display) {
    family(out, name, kind, help);
    sample(out, name, "", value);
}

/// A histogram family without labels: cumulative buckets, sum and count.
pub(super) fn histogram(out: &mut String, name: &str, help: &str, histogram: &Histogram) {
    family(out, name, "histogram", help);
    let mut cumulative = 0;
    for (bound, count) in histogram.bounds.iter().zip(&histogram.counts) {
        cumulative += count;
        sample(
            out,
            &format!("{name}_bucket"),
            &format!("le=\"{bound}\""),
            cumulative,
        );
    }
    // +Inf and the count are the same number, from the same snapshot.
    let count = histogram.count();
    sample(out, &format!("{name}_bucket"), "le=\"+Inf\"", count);
    sample(out, &format!("{name}_sum"), "", histogram.sum);
    sample(out, &format!("{name}_count"), "", count);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_end_at_the_count() {
        static BOUNDS: [f64; 2] = [0.5, 1.0];
        let snapshot = Histogram {
            bounds: &BOUNDS,
            counts: vec![1, 2, 3],
            sum: 7.5,
        };
        let mut out = String::new();
        histogram(&mut out, "x_seconds", "Test.", &snapshot);
        assert_eq!(
            out,
            "# HELP x_seconds Test.\n# TYPE x_seconds histogram\n\
             x_seconds_bucket{le=\"0.5\"} 1\nx_seconds_bucket{le=\"1\"} 3\n\
             x_seconds_bucket{le=\"+Inf\"} 6\nx_seconds_sum 7.5\nx_seconds_count 6\n"
        );
    }
}
