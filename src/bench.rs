//! `lookout bench`: load generators that measure a running daemon over the wire.

mod encoded;
mod report;
mod trace_by_id;
mod transport;
mod workload;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, ensure};
use clap::{Args, Subcommand, ValueEnum};
use futures::future::try_join_all;

use encoded::EncodedRequest;
use report::{IngestReport, scrape_daemon};
use transport::{REQUEST_TIMEOUT, TraceSender};
use workload::Workload;

/// Requests each worker encodes before the clock starts and then cycles through; trace ids
/// and timestamps are rewritten per send, so the daemon never sees the same trace twice.
const POOL_REQUESTS_PER_WORKER: usize = 16;
/// Pause after a failed request, so a refused connection does not become a busy loop.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_millis(10);

/// Load generators.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Send synthetic OTLP spans to a running daemon and report throughput and latency.
    Ingest(IngestArgs),
    /// Fetch sampled traces by id from a running daemon and report latency percentiles.
    TraceById(trace_by_id::TraceByIdArgs),
}

/// OTLP transport used by `lookout bench ingest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// OTLP/gRPC `TraceService/Export`.
    Grpc,
    /// OTLP/HTTP protobuf `POST /v1/traces`.
    Http,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::Http => "http",
        }
    }
}

/// Flags of `lookout bench ingest`.
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// OTLP/gRPC endpoint of the daemon.
    #[arg(long, default_value = "http://127.0.0.1:4317")]
    pub otlp_grpc_url: String,
    /// OTLP/HTTP base URL of the daemon (`/v1/traces` is appended).
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    pub otlp_http_url: String,
    /// Base URL of the daemon's HTTP API, scraped at `/metrics` before and after the run.
    #[arg(long, env = "LOOKOUT_URL", default_value = "http://127.0.0.1:8700")]
    pub api_url: String,
    /// OTLP transport.
    #[arg(long, value_enum, default_value_t = Transport::Grpc)]
    pub transport: Transport,
    /// Spans per export request (whole traces, so a request may hold a few more).
    #[arg(long, default_value_t = 1000)]
    pub spans_per_request: usize,
    /// Concurrent senders, each with one request in flight.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Gzip-compress request bodies.
    #[arg(long)]
    pub gzip: bool,
    /// Seed of the synthetic workload; worker `i` uses `seed + i`.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `lookout bench` subcommand.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest(args) => ingest(args).await,
        BenchCommand::TraceById(args) => trace_by_id::run(args).await,
    }
}

async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    ensure!(
        args.spans_per_request > 0,
        "--spans-per-request must be at least 1"
    );
    ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    ensure!(args.duration_secs > 0, "--duration-secs must be at least 1");
    let http_client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("failed to build the http client")?;

    // Generation is CPU work: on blocking threads, and before the clock starts.
    let generated_at_unix_nanos = now_unix_nanos();
    let spans_per_request = args.spans_per_request;
    let pools = try_join_all((0..args.concurrency).map(|worker_index| {
        let seed = args.seed.wrapping_add(worker_index as u64);
        tokio::task::spawn_blocking(move || {
            generate_pool(seed, spans_per_request, generated_at_unix_nanos)
        })
    }))
    .await
    .context("workload generation failed")?;
    let pooled_requests = pools.iter().flatten();
    let mean_request_size_bytes = pooled_requests
        .clone()
        .map(EncodedRequest::size_bytes)
        .sum::<usize>()
        / pooled_requests.count().max(1);

    let mut senders = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        senders.push(match args.transport {
            Transport::Grpc => TraceSender::connect_grpc(&args.otlp_grpc_url, args.gzip).await?,
            Transport::Http => {
                TraceSender::http(http_client.clone(), &args.otlp_http_url, args.gzip)
            }
        });
    }

    let daemon_before = scrape_daemon(&http_client, &args.api_url).await;
    tracing::info!(
        transport = args.transport.name(),
        concurrency = args.concurrency,
        duration_secs = args.duration_secs,
        "sending synthetic spans"
    );
    // Seeds make the content repeatable; the salt keeps trace ids unique across runs.
    let trace_id_salt = now_unix_nanos();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration_secs);
    let workers = senders
        .into_iter()
        .zip(pools)
        .map(|(sender, pool)| tokio::spawn(send_until(sender, pool, trace_id_salt, deadline)));
    let outcomes = try_join_all(workers)
        .await
        .context("a sender task failed")?;
    let wall_secs = started.elapsed().as_secs_f64();
    let daemon_after = scrape_daemon(&http_client, &args.api_url).await;

    let mut report = IngestReport {
        transport: args.transport.name(),
        gzip: args.gzip,
        concurrency: args.concurrency,
        spans_per_request: args.spans_per_request,
        mean_request_size_bytes,
        duration_secs: args.duration_secs,
        wall_secs,
        requests_ok: 0,
        requests_failed: 0,
        failures: BTreeMap::new(),
        spans_acknowledged: 0,
        spans_rejected: 0,
        spans_per_sec: 0.0,
        latency_p50_ms: None,
        latency_p90_ms: None,
        latency_p99_ms: None,
        latency_max_ms: None,
        daemon_cpu_secs: None,
        spans_per_daemon_cpu_sec: None,
        daemon_peak_resident_mib: None,
        daemon_metrics_error: None,
    };
    let mut latencies =
        Vec::with_capacity(outcomes.iter().map(|outcome| outcome.latencies.len()).sum());
    for outcome in outcomes {
        report.requests_ok += outcome.requests_ok;
        report.requests_failed += outcome.requests_failed;
        report.spans_acknowledged += outcome.spans_acknowledged;
        report.spans_rejected += outcome.spans_rejected;
        for (class, count) in outcome.failures {
            *report.failures.entry(class).or_default() += count;
        }
        latencies.extend(outcome.latencies);
    }
    report.spans_per_sec = report.spans_acknowledged as f64 / wall_secs.max(f64::EPSILON);
    report.set_latencies(latencies);
    report.set_daemon_samples(daemon_before, daemon_after);

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("failed to serialize the report")?
        );
    } else {
        println!("{}", report.to_text());
    }
    Ok(())
}

/// What one sender saw.
#[derive(Debug, Default)]
struct WorkerOutcome {
    /// Acknowledgement latency of each successful request.
    latencies: Vec<Duration>,
    requests_ok: u64,
    requests_failed: u64,
    spans_acknowledged: u64,
    spans_rejected: u64,
    failures: BTreeMap<String, u64>,
}

fn generate_pool(
    seed: u64,
    spans_per_request: usize,
    generated_at_unix_nanos: u64,
) -> Vec<EncodedRequest> {
    let mut workload = Workload::new(seed);
    (0..POOL_REQUESTS_PER_WORKER)
        .map(|_| {
            let request = workload.request(spans_per_request, generated_at_unix_nanos);
            EncodedRequest::new(&request, generated_at_unix_nanos)
        })
        .collect()
}

/// Sends one request at a time, cycling through `pool`, until `deadline`.
async fn send_until(
    mut sender: TraceSender,
    pool: Vec<EncodedRequest>,
    trace_id_salt: u64,
    deadline: Instant,
) -> WorkerOutcome {
    let mut outcome = WorkerOutcome {
        latencies: Vec::with_capacity(4096),
        ..WorkerOutcome::default()
    };
    let mut round: u64 = 0;
    while Instant::now() < deadline {
        let Some(request) = pool.get(round as usize % pool.len().max(1)) else {
            break;
        };
        let body = request.body_for_send(trace_id_salt.wrapping_add(round), now_unix_nanos());
        let span_count = request.span_count() as u64;
        let sent_at = Instant::now();
        match sender.send(body).await {
            Ok(rejected_spans) => {
                outcome.latencies.push(sent_at.elapsed());
                outcome.requests_ok += 1;
                let rejected_spans = rejected_spans.min(span_count);
                outcome.spans_rejected += rejected_spans;
                outcome.spans_acknowledged += span_count - rejected_spans;
            }
            Err(failure_class) => {
                outcome.requests_failed += 1;
                *outcome.failures.entry(failure_class).or_default() += 1;
                tokio::time::sleep(PAUSE_AFTER_FAILURE).await;
            }
        }
        round += 1;
    }
    outcome
}

fn now_unix_nanos() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct TestCli {
        #[command(subcommand)]
        command: BenchCommand,
    }

    #[test]
    fn ingest_flags_have_the_documented_defaults() {
        let cli = TestCli::try_parse_from(["bench", "ingest"]).expect("defaults parse");
        let BenchCommand::Ingest(args) = cli.command else {
            panic!("parsed as another bench command");
        };
        assert_eq!(args.otlp_grpc_url, "http://127.0.0.1:4317");
        assert_eq!(args.otlp_http_url, "http://127.0.0.1:4318");
        assert_eq!(args.transport, Transport::Grpc);
        assert_eq!(
            (
                args.spans_per_request,
                args.concurrency,
                args.duration_secs,
                args.seed
            ),
            (1000, 4, 10, 1)
        );
        assert!(!args.gzip && !args.json);

        let cli = TestCli::try_parse_from([
            "bench",
            "ingest",
            "--transport",
            "http",
            "--gzip",
            "--concurrency",
            "2",
        ])
        .expect("flags parse");
        let BenchCommand::Ingest(args) = cli.command else {
            panic!("parsed as another bench command");
        };
        assert_eq!(
            (args.transport, args.gzip, args.concurrency),
            (Transport::Http, true, 2)
        );
    }

    #[test]
    fn pools_hold_distinct_requests_of_the_requested_size() {
        let pool = generate_pool(1, 50, now_unix_nanos());
        assert_eq!(pool.len(), POOL_REQUESTS_PER_WORKER);
        assert!(pool.iter().all(|request| request.span_count() >= 50));
        assert_ne!(pool[0].body_for_send(0, 0), pool[1].body_for_send(0, 0));
    }
}
