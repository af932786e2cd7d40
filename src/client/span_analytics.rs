//! `lookout traces`, `lookout services` and `lookout service-graph`: clients of trace
//! search, RED per service and the service graph, printing tables (or JSON).

use anyhow::Context;
use clap::Args;
use lookout_model::api::span_analytics::{
    ServiceGraphResponse, ServicesResponse, TraceSearchResponse,
};
use serde::de::DeserializeOwned;

use super::{ClientArgs, OutputFormat, check, endpoint};

/// Time range flags, in the API's syntax (RFC 3339 or Unix seconds).
#[derive(Debug, Clone, Args)]
pub struct RangeArgs {
    /// Range start (default: one hour before the end).
    #[arg(long)]
    pub start: Option<String>,
    /// Range end (default: now).
    #[arg(long)]
    pub end: Option<String>,
}

impl RangeArgs {
    fn push(&self, query: &mut Vec<(String, String)>) {
        for (name, value) in [("start", &self.start), ("end", &self.end)] {
            if let Some(value) = value {
                query.push((name.to_owned(), value.clone()));
            }
        }
    }
}

/// `lookout traces`.
#[derive(Debug, Clone, Args)]
pub struct TracesArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Only traces with a span of this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Only traces with a span of this name.
    #[arg(long)]
    pub operation: Option<String>,
    /// Smallest span duration, like 250ms or 1.5s.
    #[arg(long)]
    pub min_duration: Option<String>,
    /// Largest span duration.
    #[arg(long)]
    pub max_duration: Option<String>,
    /// Span status: error, ok or unset.
    #[arg(long)]
    pub status: Option<String>,
    /// Attribute condition KEY=VALUE (repeatable).
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    pub attributes: Vec<String>,
    /// Most traces to list.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `lookout services`.
#[derive(Debug, Clone, Args)]
pub struct ServicesArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Only this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `lookout service-graph`.
#[derive(Debug, Clone, Args)]
pub struct ServiceGraphArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// The query string of `lookout traces` (`attr` values must be KEY=VALUE).
pub fn traces_query(args: &TracesArgs) -> anyhow::Result<Vec<(String, String)>> {
    let mut query = Vec::new();
    args.range.push(&mut query);
    let optional = [
        ("service", &args.service),
        ("operation", &args.operation),
        ("min_duration", &args.min_duration),
        ("max_duration", &args.max_duration),
        ("status", &args.status),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            query.push((name.to_owned(), value.clone()));
        }
    }
    for attribute in &args.attributes {
        let (key, value) = attribute
            .split_once('=')
            .with_context(|| format!("--attr {attribute:?} must look like KEY=VALUE"))?;
        query.push((format!("attr.{key}"), value.to_owned()));
    }
    if let Some(limit) = args.limit {
        query.push(("limit".to_owned(), limit.to_string()));
    }
    Ok(query)
}

async fn fetch<T: DeserializeOwned>(
    client: &ClientArgs,
    path: &str,
    query: &[(String, String)],
) -> anyhow::Result<T> {
    let base = endpoint(&client.url, path);
    let url = reqwest::Url::parse_with_params(&base, query)
        .with_context(|| format!("invalid url `{base}`"))?;
    let response = reqwest::Client::new()
        .get(url.clone())
        .send()
        .await
        .with_context(|| format!("failed to reach `{url}`"))?;
    check(response)
        .await?
        .json()
        .await
        .context("failed to decode the answer")
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(header.iter().copied());
    for row in rows {
        table.add_row(row);
    }
    table.to_string()
}

fn millis(seconds: Option<f64>) -> String {
    seconds.map_or_else(String::new, |seconds| format!("{:.2}", seconds * 1e3))
}

/// Runs `lookout traces`.
pub async fn traces(args: TracesArgs) -> anyhow::Result<()> {
    let query = traces_query(&args)?;
    let answer: TraceSearchResponse = fetch(&args.client, "/api/v1/traces", &query).await?;
    if args.format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let rows = answer
        .traces
        .iter()
        .map(|trace| {
            vec![
                trace.trace_id.clone(),
                format!("{} {}", trace.root_service, trace.root_operation),
                format_time(trace.start_unix_nanos),
                format!("{:.2}", trace.duration_nanos as f64 / 1e6),
                trace.span_count.to_string(),
                trace.error_count.to_string(),
                trace.services.join(","),
            ]
        })
        .collect();
    let header = [
        "trace_id",
        "root",
        "start",
        "duration_ms",
        "spans",
        "errors",
        "services",
    ];
    println!("{}", table(&header, rows));
    if answer.truncated {
        eprintln!("more traces matched; raise --limit or narrow the search");
    }
    Ok(())
}

fn format_time(unix_nanos: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(unix_nanos)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Runs `lookout services`.
pub async fn services(args: ServicesArgs) -> anyhow::Result<()> {
    let mut query = Vec::new();
    args.range.push(&mut query);
    if let Some(service) = &args.service {
        query.push(("service".to_owned(), service.clone()));
    }
    let answer: ServicesResponse = fetch(&args.client, "/api/v1/services", &query).await?;
    if args.format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let rows = answer
        .operations
        .iter()
        .map(|operation| {
            vec![
                operation.service.clone(),
                operation.operation.clone(),
                operation.calls.to_string(),
                format!("{:.3}", operation.rate_per_second),
                format!("{:.2}", operation.error_ratio * 100.0),
                millis(operation.p50_seconds),
                millis(operation.p90_seconds),
                millis(operation.p99_seconds),
            ]
        })
        .collect();
    let header = [
        "service",
        "operation",
        "calls",
        "rate/s",
        "errors_%",
        "p50_ms",
        "p90_ms",
        "p99_ms",
    ];
    println!("{}", table(&header, rows));
    Ok(())
}

/// Runs `lookout service-graph`.
pub async fn service_graph(args: ServiceGraphArgs) -> anyhow::Result<()> {
    let mut query = Vec::new();
    args.range.push(&mut query);
    let answer: ServiceGraphResponse = fetch(&args.client, "/api/v1/service-graph", &query).await?;
    if args.format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let rows = answer
        .edges
        .iter()
        .map(|edge| {
            vec![
                edge.client.clone(),
                edge.server.clone(),
                edge.connection.clone(),
                edge.calls.to_string(),
                edge.errors.to_string(),
                millis(edge.p95_seconds),
            ]
        })
        .collect();
    let header = [
        "client",
        "server",
        "connection",
        "calls",
        "errors",
        "p95_ms",
    ];
    println!("{}", table(&header, rows));
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: TracesArgs,
    }

    fn query(argv: &[&str]) -> anyhow::Result<Vec<(String, String)>> {
        let parsed =
            Wrapper::try_parse_from(std::iter::once("traces").chain(argv.iter().copied()))?;
        traces_query(&parsed.args)
    }

    #[test]
    fn flags_become_the_query_string() {
        let pairs = query(&[
            "--service",
            "checkout",
            "--min-duration",
            "250ms",
            "--attr",
            "http.route=/pay=1",
            "--limit",
            "5",
            "--start",
            "2026-11-28T10:00:00Z",
        ])
        .unwrap();
        let expected: Vec<(String, String)> = [
            ("start", "2026-11-28T10:00:00Z"),
            ("service", "checkout"),
            ("min_duration", "250ms"),
            ("attr.http.route", "/pay=1"),
            ("limit", "5"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(pairs, expected);
        assert!(query(&["--attr", "no-equals-sign"]).is_err());
    }
}
