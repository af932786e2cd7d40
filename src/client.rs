//! Command-line clients of a running daemon: `lookout sql` and `lookout trace`; trace search,
//! RED and the service graph are in `client/span_analytics.rs`.

pub mod span_analytics;

mod logs;

pub use logs::{LogsArgs, logs};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use lookout_model::api::{ApiError, SqlRequest, TraceResponse};
use lookout_query::SqlOutcome;

/// Output format of `lookout sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// An array of row objects.
    Json,
    /// A text table.
    Table,
}

/// Flags shared by the clients.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Base URL of the daemon's HTTP API.
    #[arg(long, env = "LOOKOUT_URL", default_value = "http://127.0.0.1:8700")]
    pub url: String,
}

/// `lookout sql`.
#[derive(Debug, Clone, Args)]
pub struct SqlArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// The query, e.g. "SELECT service_name, count(*) FROM spans GROUP BY 1".
    pub query: String,
}

/// `lookout trace`.
#[derive(Debug, Clone, Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Trace id, 32 hex digits.
    pub trace_id: String,
}

fn endpoint(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

/// GETs `path` from the daemon at `base` and decodes the JSON answer.
pub async fn get_json<T: serde::de::DeserializeOwned>(base: &str, path: &str) -> anyhow::Result<T> {
    let url = endpoint(base, path);
    let response = reqwest::Client::new()
        .get(&url)
        .send()
        .await
        .with_context(|| format!("failed to reach {url}"))?;
    check(response)
        .await?
        .json()
        .await
        .with_context(|| format!("unexpected answer from {url}"))
}

/// POSTs `body` as JSON to `path` of the daemon at `base` and decodes the JSON answer.
pub async fn post_json<B: serde::Serialize, T: serde::de::DeserializeOwned>(
    base: &str,
    path: &str,
    body: &B,
) -> anyhow::Result<T> {
    let url = endpoint(base, path);
    let response = reqwest::Client::new()
        .post(&url)
        .json(body)
        .send()
        .await
        .with_context(|| format!("failed to reach {url}"))?;
    check(response)
        .await?
        .json()
        .await
        .with_context(|| format!("unexpected answer from {url}"))
}

/// DELETEs `path` of the daemon at `base`.
pub async fn delete(base: &str, path: &str) -> anyhow::Result<()> {
    let url = endpoint(base, path);
    let response = reqwest::Client::new()
        .delete(&url)
        .send()
        .await
        .with_context(|| format!("failed to reach {url}"))?;
    check(response).await?;
    Ok(())
}

async fn check(response: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<ApiError>(&text) {
        Ok(error) => bail!("{} ({status})", error.message),
        Err(_) => bail!("request failed with {status}: {text}"),
    }
}

/// Runs `lookout sql`, printing to standard output.
pub async fn sql(args: SqlArgs) -> anyhow::Result<()> {
    let url = endpoint(&args.client.url, "/api/v1/sql");
    let response = reqwest::Client::new()
        .post(&url)
        .json(&SqlRequest { query: args.query })
        .send()
        .await
        .with_context(|| format!("failed to reach `{url}`"))?;
    let outcome: SqlOutcome = check(response)
        .await?
        .json()
        .await
        .context("failed to decode the answer")?;
    match args.format {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&outcome.rows)?);
        }
        OutputFormat::Table => {
            println!("{}", render_table(&outcome));
            let plural = if outcome.rows.len() == 1 { "" } else { "s" };
            println!("{} row{plural}", outcome.rows.len());
        }
    }
    if outcome.truncated {
        eprintln!("warning: the answer was truncated at the server's row limit");
    }
    Ok(())
}

/// Formats an SQL answer as a text table.
pub fn render_table(outcome: &SqlOutcome) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(outcome.columns.iter().map(|column| column.name.clone()));
    for row in &outcome.rows {
        table.add_row(
            outcome
                .columns
                .iter()
                .map(|column| match row.get(&column.name) {
                    None | Some(serde_json::Value::Null) => String::new(),
                    Some(serde_json::Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                }),
        );
    }
    table.to_string()
}

/// Runs `lookout trace`, printing the trace as JSON.
pub async fn trace(args: TraceArgs) -> anyhow::Result<()> {
    let url = endpoint(
        &args.client.url,
        &format!("/api/v1/traces/{}", args.trace_id.trim()),
    );
    let response = reqwest::Client::new()
        .get(&url)
        .send()
        .await
        .with_context(|| format!("failed to reach `{url}`"))?;
    let trace: TraceResponse = check(response)
        .await?
        .json()
        .await
        .context("failed to decode the answer")?;
    println!("{}", serde_json::to_string_pretty(&trace)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_query::sql::Column;

    #[test]
    fn table_keeps_column_order_and_blanks_nulls() {
        let mut row = serde_json::Map::new();
        row.insert("b".into(), serde_json::json!(null));
        row.insert("a".into(), serde_json::json!("x"));
        let outcome = SqlOutcome {
            columns: vec![
                Column {
                    name: "a".into(),
                    data_type: "Utf8".into(),
                },
                Column {
                    name: "b".into(),
                    data_type: "Int64".into(),
                },
            ],
            rows: vec![row],
            truncated: false,
        };
        let text = render_table(&outcome);
        let header = text.lines().nth(1).unwrap();
        assert!(
            header.find('a').unwrap() < header.find('b').unwrap(),
            "{text}"
        );
        assert!(text.contains('x'));
    }
}
