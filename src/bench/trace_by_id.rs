//! `lookout bench trace-by-id`: latency of `GET /api/v1/traces/{id}` on a running daemon's
//! store, over trace ids sampled from it.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Args;
use lookout_model::api::SqlRequest;

use super::report::percentile;

/// Flags of `lookout bench trace-by-id`.
#[derive(Debug, Clone, Args)]
pub struct TraceByIdArgs {
    /// Base URL of the daemon's HTTP API.
    #[arg(long, env = "LOOKOUT_URL", default_value = "http://127.0.0.1:8700")]
    pub api_url: String,
    /// How many distinct trace ids to sample and fetch.
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Fetch each trace this many times (the first fetch warms caches).
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
}

/// Samples trace ids through SQL, fetches each trace, prints latency percentiles.
pub async fn run(args: TraceByIdArgs) -> anyhow::Result<()> {
    ensure!(args.samples > 0, "--samples must be at least 1");
    ensure!(args.rounds > 0, "--rounds must be at least 1");
    let client = reqwest::Client::new();
    let base = args.api_url.trim_end_matches('/');
    let query = format!(
        "SELECT trace_id FROM (SELECT DISTINCT trace_id FROM spans) ORDER BY random() LIMIT {}",
        args.samples
    );
    let answer: serde_json::Value = client
        .post(format!("{base}/api/v1/sql"))
        .json(&SqlRequest { query })
        .send()
        .await
        .context("failed to sample trace ids")?
        .error_for_status()
        .context("failed to sample trace ids")?
        .json()
        .await
        .context("failed to decode sampled trace ids")?;
    let trace_ids: Vec<String> = answer["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|row| row["trace_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ensure!(!trace_ids.is_empty(), "the store holds no traces");
    let total_spans: serde_json::Value = client
        .post(format!("{base}/api/v1/sql"))
        .json(&SqlRequest {
            query: "SELECT count(*) AS spans FROM spans".into(),
        })
        .send()
        .await?
        .json()
        .await?;

    let mut latencies = Vec::new();
    let mut spans_fetched = 0usize;
    for round in 0..args.rounds {
        for trace_id in &trace_ids {
            let started = Instant::now();
            let response = client
                .get(format!("{base}/api/v1/traces/{trace_id}"))
                .send()
                .await
                .with_context(|| format!("failed to fetch trace {trace_id}"))?;
            ensure!(
                response.status().is_success(),
                "trace {trace_id} answered {}",
                response.status()
            );
            let body: serde_json::Value = response.json().await?;
            let elapsed = started.elapsed();
            // The first round warms the caches; report the steady state.
            if round + 1 == args.rounds {
                latencies.push(elapsed);
                spans_fetched += body["spans"].as_array().map_or(0, Vec::len);
            }
        }
    }
    latencies.sort();
    let ms = |quantile: f64| {
        percentile(&latencies, quantile)
            .unwrap_or(Duration::ZERO)
            .as_secs_f64()
            * 1e3
    };
    println!(
        "store spans: {}",
        total_spans["rows"][0]["spans"].as_i64().unwrap_or(-1)
    );
    println!(
        "traces fetched: {} (avg {:.1} spans each)",
        latencies.len(),
        spans_fetched as f64 / latencies.len() as f64
    );
    println!(
        "trace by id latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(1.0)
    );
    Ok(())
}
