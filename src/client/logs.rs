//! `lookout logs`: full-text search of a daemon's logs from the command line.

use anyhow::Context;
use clap::{Args, ValueEnum};
use lookout_model::search::{LogHit, LogSearchResponse};

use super::{ClientArgs, check, endpoint};

/// Output format of `lookout logs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogsFormat {
    /// One line per record: time, severity, service, body, trace id.
    Text,
    /// The API answer as JSON.
    Json,
}

/// `lookout logs`.
#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Start of the time range: RFC 3339, Unix time, `now-1h`...
    #[arg(long)]
    pub start: Option<String>,
    /// End of the time range (default: no limit).
    #[arg(long)]
    pub end: Option<String>,
    /// Records to print (newest first).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = LogsFormat::Text)]
    pub format: LogsFormat,
    /// The search, e.g. `service:checkout severity>=warn "payment declined"`.
    pub query: String,
}

/// Runs `lookout logs`, printing to standard output.
pub async fn logs(args: LogsArgs) -> anyhow::Result<()> {
    let url = endpoint(&args.client.url, "/api/v1/logs");
    let mut params = vec![("q", args.query.clone()), ("limit", args.limit.to_string())];
    if let Some(start) = &args.start {
        params.push(("start", start.clone()));
    }
    if let Some(end) = &args.end {
        params.push(("end", end.clone()));
    }
    let url = reqwest::Url::parse_with_params(&url, &params)
        .with_context(|| format!("invalid URL `{url}`"))?;
    let response = reqwest::Client::new()
        .get(url.clone())
        .send()
        .await
        .with_context(|| format!("failed to reach `{url}`"))?;
    let answer: LogSearchResponse = check(response)
        .await?
        .json()
        .await
        .context("failed to decode the answer")?;
    match args.format {
        LogsFormat::Json => println!("{}", serde_json::to_string_pretty(&answer)?),
        LogsFormat::Text => {
            for hit in &answer.logs {
                println!("{}", render_line(hit));
            }
            if answer.next_cursor.is_some() {
                eprintln!("(more records match; raise --limit or narrow the range)");
            }
        }
    }
    Ok(())
}

/// One record as a line of text.
pub fn render_line(hit: &LogHit) -> String {
    let severity = if hit.severity_text.is_empty() {
        hit.severity_number.to_string()
    } else {
        hit.severity_text.clone()
    };
    let mut line = format!(
        "{} {severity:<5} {} {}",
        hit.timestamp,
        hit.service_name,
        hit.body.as_deref().unwrap_or("")
    );
    if let Some(trace_id) = &hit.trace_id {
        line.push_str(&format!(" trace_id={trace_id}"));
    }
    line
}
