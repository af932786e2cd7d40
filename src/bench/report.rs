//! The result of `lookout bench ingest`: latency percentiles, daemon metrics and the report.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;

/// Counter of the daemon's user and system CPU time.
pub const CPU_SECONDS_METRIC: &str = "lookout_process_cpu_seconds_total";
/// Gauge of the daemon's peak resident set size since start.
pub const PEAK_RESIDENT_METRIC: &str = "lookout_process_peak_resident_memory_bytes";

const BYTES_PER_MIB: f64 = 1024.0 * 1024.0;

/// Nearest-rank percentile (`quantile` in 0..=1) of durations sorted in ascending order.
pub fn percentile(sorted: &[Duration], quantile: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (quantile.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// The value of the first sample named exactly `metric_name` (any labels) in Prometheus or
/// OpenMetrics text exposition.
pub fn parse_metric_value(exposition: &str, metric_name: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let after_name = line.strip_prefix(metric_name)?;
        let after_labels = if let Some(labels) = after_name.strip_prefix('{') {
            &labels[label_set_end(labels)?..]
        } else if after_name.starts_with([' ', '\t']) {
            after_name
        } else {
            // A longer name sharing the prefix, e.g. `_created` after a counter's name.
            return None;
        };
        after_labels.split_whitespace().next()?.parse().ok()
    })
}

/// Byte offset just past the `}` closing a label set, honouring quoted values.
fn label_set_end(labels: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (offset, character) in labels.char_indices() {
        match (in_quotes, escaped, character) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, false, '"') => in_quotes = !in_quotes,
            (false, _, '}') => return Some(offset + 1),
            _ => {}
        }
    }
    None
}

/// Process figures of the daemon read from its `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DaemonSample {
    /// CPU time used since the daemon started.
    pub cpu_seconds: f64,
    /// Peak resident set size since start, when exposed.
    pub peak_resident_bytes: Option<f64>,
}

/// Reads `{api_url}/metrics`.
pub async fn scrape_daemon(
    client: &reqwest::Client,
    api_url: &str,
) -> anyhow::Result<DaemonSample> {
    let url = format!("{}/metrics", api_url.trim_end_matches('/'));
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("failed to scrape `{url}`"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("scraping `{url}` failed with {status}");
    }
    let exposition = response
        .text()
        .await
        .with_context(|| format!("failed to read `{url}`"))?;
    let cpu_seconds = parse_metric_value(&exposition, CPU_SECONDS_METRIC)
        .with_context(|| format!("`{url}` has no `{CPU_SECONDS_METRIC}`"))?;
    let peak_resident_bytes = parse_metric_value(&exposition, PEAK_RESIDENT_METRIC);
    Ok(DaemonSample {
        cpu_seconds,
        peak_resident_bytes,
    })
}

/// Everything `lookout bench ingest` measured, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// `grpc` or `http`.
    pub transport: &'static str,
    /// Whether request bodies were gzip-compressed.
    pub gzip: bool,
    /// Number of concurrent senders.
    pub concurrency: usize,
    /// Requested spans per request (whole traces, so a request may hold a few more).
    pub spans_per_request: usize,
    /// Mean size of an encoded request before compression.
    pub mean_request_size_bytes: usize,
    /// Requested duration of the sending phase.
    pub duration_secs: u64,
    /// Measured time from the first send to the last answer.
    pub wall_secs: f64,
    /// Requests answered with success.
    pub requests_ok: u64,
    /// Requests that failed, any reason.
    pub requests_failed: u64,
    /// Failed requests by failure class.
    pub failures: BTreeMap<String, u64>,
    /// Spans in successful requests, minus those rejected through `partial_success`.
    pub spans_acknowledged: u64,
    /// Spans the daemon reported as rejected in successful requests.
    pub spans_rejected: u64,
    /// `spans_acknowledged / wall_secs`.
    pub spans_per_sec: f64,
    /// Acknowledgement latency percentiles of successful requests.
    pub latency_p50_ms: Option<f64>,
    /// 90th percentile latency.
    pub latency_p90_ms: Option<f64>,
    /// 99th percentile latency.
    pub latency_p99_ms: Option<f64>,
    /// Slowest successful request.
    pub latency_max_ms: Option<f64>,
    /// Daemon CPU time used between the two scrapes.
    pub daemon_cpu_secs: Option<f64>,
    /// `spans_acknowledged / daemon_cpu_secs`.
    pub spans_per_daemon_cpu_sec: Option<f64>,
    /// Daemon peak RSS since its start, after the run.
    pub daemon_peak_resident_mib: Option<f64>,
    /// Why daemon figures are missing, when they are.
    pub daemon_metrics_error: Option<String>,
}

impl IngestReport {
    /// Fills in the latency fields from unsorted per-request latencies.
    pub fn set_latencies(&mut self, mut latencies: Vec<Duration>) {
        latencies.sort_unstable();
        let millis = |quantile| percentile(&latencies, quantile).map(|d| d.as_secs_f64() * 1000.0);
        self.latency_p50_ms = millis(0.50);
        self.latency_p90_ms = millis(0.90);
        self.latency_p99_ms = millis(0.99);
        self.latency_max_ms = millis(1.0);
    }

    /// Fills in the daemon fields from the scrapes before and after the run.
    pub fn set_daemon_samples(
        &mut self,
        before: anyhow::Result<DaemonSample>,
        after: anyhow::Result<DaemonSample>,
    ) {
        match (before, after) {
            (Ok(before), Ok(after)) => {
                let cpu_secs = (after.cpu_seconds - before.cpu_seconds).max(0.0);
                self.daemon_cpu_secs = Some(cpu_secs);
                self.spans_per_daemon_cpu_sec =
                    (cpu_secs > 0.0).then(|| self.spans_acknowledged as f64 / cpu_secs);
                self.daemon_peak_resident_mib =
                    after.peak_resident_bytes.map(|bytes| bytes / BYTES_PER_MIB);
            }
            (Err(error), _) | (_, Err(error)) => {
                self.daemon_metrics_error = Some(format!("{error:#}"))
            }
        }
    }

    /// The report as aligned text lines.
    pub fn to_text(&self) -> String {
        let optional = |value: Option<f64>, unit: &str| {
            value.map_or("n/a".to_owned(), |v| format!("{v:.1} {unit}"))
        };
        let mut lines = vec![
            format!(
                "lookout bench ingest: {}{}, concurrency {}, {} spans/request ({:.1} KiB encoded), {} s",
                self.transport,
                if self.gzip { "+gzip" } else { "" },
                self.concurrency,
                self.spans_per_request,
                self.mean_request_size_bytes as f64 / 1024.0,
                self.duration_secs,
            ),
            format!("{:<22}{:.2} s", "wall time", self.wall_secs),
            format!(
                "{:<22}ok {}, failed {}",
                "requests", self.requests_ok, self.requests_failed
            ),
        ];
        for (class, count) in &self.failures {
            lines.push(format!("{:<22}{class}: {count}", "  failure"));
        }
        lines.push(format!(
            "{:<22}{} (rejected {})",
            "spans acknowledged", self.spans_acknowledged, self.spans_rejected
        ));
        lines.push(format!(
            "{:<22}{:.0} spans/s",
            "throughput", self.spans_per_sec
        ));
        lines.push(format!(
            "{:<22}p50 {}, p90 {}, p99 {}, max {}",
            "ack latency",
            optional(self.latency_p50_ms, "ms"),
            optional(self.latency_p90_ms, "ms"),
            optional(self.latency_p99_ms, "ms"),
            optional(self.latency_max_ms, "ms"),
        ));
        if let Some(error) = &self.daemon_metrics_error {
            lines.push(format!("{:<22}unavailable: {error}", "daemon metrics"));
        } else {
            let per_cpu = self
                .spans_per_daemon_cpu_sec
                .map_or("n/a".to_owned(), |v| format!("{v:.0}"));
            lines.push(format!(
                "{:<22}{} ({per_cpu} spans per cpu-second)",
                "daemon cpu",
                self.daemon_cpu_secs
                    .map_or("n/a".to_owned(), |secs| format!("{secs:.2} s"))
            ));
            lines.push(format!(
                "{:<22}{}",
                "daemon peak rss",
                optional(self.daemon_peak_resident_mib, "MiB")
            ));
        }
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let sorted = millis(1..=100);
        let check = |quantile, expected_millis| {
            assert_eq!(
                percentile(&sorted, quantile),
                Some(Duration::from_millis(expected_millis)),
                "q={quantile}"
            );
        };
        check(0.0, 1);
        check(0.5, 50);
        check(0.9, 90);
        check(0.99, 99);
        check(1.0, 100);
        assert_eq!(
            percentile(&millis([7]), 0.99),
            Some(Duration::from_millis(7))
        );
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn metric_values_are_parsed() {
        let exposition = "\
# HELP lookout_process_cpu_seconds User and system CPU time of the daemon
# TYPE lookout_process_cpu_seconds counter
lookout_process_cpu_seconds_total 12.5
lookout_process_cpu_seconds_created 1750000000.0
lookout_process_peak_resident_memory_bytes 104857600
lookout_ingest_spans_total{transport=\"grpc\",reason=\"a}b\"} 42 1750000000000
# EOF
";
        let check = |name, expected: Option<f64>| {
            assert_eq!(parse_metric_value(exposition, name), expected, "{name}")
        };
        check("lookout_process_cpu_seconds_total", Some(12.5));
        check(
            "lookout_process_peak_resident_memory_bytes",
            Some(104_857_600.0),
        );
        check("lookout_ingest_spans_total", Some(42.0));
        check("lookout_process_cpu_seconds", None);
        check("lookout_missing", None);
    }

    #[test]
    fn daemon_figures_come_from_the_difference_of_scrapes() {
        let mut report = sample_report();
        let before = DaemonSample {
            cpu_seconds: 10.0,
            peak_resident_bytes: Some(1.0),
        };
        let after = DaemonSample {
            cpu_seconds: 14.0,
            peak_resident_bytes: Some(256.0 * BYTES_PER_MIB),
        };
        report.set_daemon_samples(Ok(before), Ok(after));
        assert_eq!(report.daemon_cpu_secs, Some(4.0));
        assert_eq!(report.spans_per_daemon_cpu_sec, Some(250.0));
        assert_eq!(report.daemon_peak_resident_mib, Some(256.0));
        assert!(report.to_text().contains("256.0 MiB"));

        let mut unreachable = sample_report();
        unreachable.set_daemon_samples(Err(anyhow::anyhow!("connection refused")), Ok(after));
        assert_eq!(unreachable.daemon_cpu_secs, None);
        assert!(
            unreachable
                .to_text()
                .contains("unavailable: connection refused")
        );
    }

    fn sample_report() -> IngestReport {
        IngestReport {
            transport: "grpc",
            gzip: false,
            concurrency: 1,
            spans_per_request: 10,
            mean_request_size_bytes: 2048,
            duration_secs: 1,
            wall_secs: 1.0,
            requests_ok: 100,
            requests_failed: 0,
            failures: BTreeMap::new(),
            spans_acknowledged: 1000,
            spans_rejected: 0,
            spans_per_sec: 1000.0,
            latency_p50_ms: None,
            latency_p90_ms: None,
            latency_p99_ms: None,
            latency_max_ms: None,
            daemon_cpu_secs: None,
            spans_per_daemon_cpu_sec: None,
            daemon_peak_resident_mib: None,
            daemon_metrics_error: None,
        }
    }
}
