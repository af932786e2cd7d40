//! `lookout slo`: validate rule folders, import Sloth files, and read SLOs from a daemon.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use comfy_table::Table;
use lookout_model::slo::{SloBacktest, SloDetail, SloListResponse};
use lookout_query::slo::rules::{Level, load_dir, load_sources};
use lookout_query::slo::sloth::to_openslo_yaml;

use crate::client::{ClientArgs, get_json};

/// `lookout slo ...`.
#[derive(Debug, Subcommand)]
pub enum SloCommand {
    /// Validate every rule file of a folder; errors and warnings as `file:line: message`.
    Check {
        /// The rules folder.
        dir: PathBuf,
    },
    /// Print the OpenSLO v1 equivalent of a Sloth `prometheus/v1` file.
    ImportSloth {
        /// The Sloth file.
        file: PathBuf,
    },
    /// List the SLOs of a daemon, lowest budget remaining first.
    List(ClientArgs),
    /// Show one SLO of a daemon: budget, windows, pairs, alerts.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        /// SLO name.
        id: String,
    },
    /// Re-evaluate an SLO over stored data and print when its alerts would have fired.
    Backtest(BacktestArgs),
}

/// `lookout slo backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// SLO name.
    id: String,
    /// Start: RFC 3339 or Unix seconds [default: end - 1d].
    #[arg(long)]
    start: Option<String>,
    /// End: RFC 3339 or Unix seconds [default: now].
    #[arg(long)]
    end: Option<String>,
    /// Step, e.g. 60s or 5m.
    #[arg(long, default_value = "60s")]
    step: String,
    /// Print the whole answer as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs a `lookout slo` command.
pub async fn run(command: SloCommand) -> anyhow::Result<()> {
    match command {
        SloCommand::Check { dir } => check(dir),
        SloCommand::ImportSloth { file } => import_sloth(file),
        SloCommand::List(client) => list(client).await,
        SloCommand::Show { client, id } => show(client, id).await,
        SloCommand::Backtest(args) => backtest(args).await,
    }
}

fn check(dir: PathBuf) -> anyhow::Result<()> {
    if !dir.is_dir() {
        bail!("`{}` is not a directory", dir.display());
    }
    let rules = load_dir(&dir);
    for diagnostic in &rules.diagnostics {
        println!("{diagnostic}");
    }
    let errors = rules
        .diagnostics
        .iter()
        .filter(|d| d.level == Level::Error)
        .count();
    let warnings = rules.diagnostics.len() - errors;
    println!(
        "{} file(s), {} SLO(s), {errors} error(s), {warnings} warning(s)",
        rules.files.len(),
        rules.slos.len()
    );
    if errors > 0 {
        bail!("{errors} error(s) in `{}`", dir.display());
    }
    Ok(())
}

fn import_sloth(file: PathBuf) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("failed to read `{}`", file.display()))?;
    let rules = load_sources(&[(file.display().to_string(), text)]);
    for diagnostic in &rules.diagnostics {
        eprintln!("{diagnostic}");
    }
    if rules.has_errors() {
        bail!("`{}` could not be imported", file.display());
    }
    if rules.slos.is_empty() {
        bail!("`{}` holds no SLO", file.display());
    }
    let mut documents = Vec::new();
    for spec in &rules.slos {
        documents.push(to_openslo_yaml(spec).map_err(anyhow::Error::msg)?);
    }
    print!("{}", documents.join("---\n"));
    Ok(())
}

fn percent(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{:.3}%", v * 100.0))
}

fn burn(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.2}x"))
}

fn duration(secs: Option<f64>) -> String {
    match secs {
        None => "never".into(),
        Some(s) if s >= 86_400.0 => format!("{:.1}d", s / 86_400.0),
        Some(s) if s >= 3_600.0 => format!("{:.1}h", s / 3_600.0),
        Some(s) => format!("{:.0}m", s / 60.0),
    }
}

async fn list(client: ClientArgs) -> anyhow::Result<()> {
    let response: SloListResponse = get_json(&client.url, "/api/v1/slos").await?;
    for line in response.rule_errors.iter().chain(&response.rule_warnings) {
        eprintln!("{line}");
    }
    if let Some(error) = &response.reload_error {
        eprintln!("{error}");
    }
    let mut table = Table::new();
    table.set_header([
        "SLO",
        "service",
        "objective",
        "window",
        "SLI",
        "budget left",
        "burn 1h",
        "exhausted in",
        "firing",
    ]);
    for slo in &response.slos {
        let evaluation = slo.evaluation.as_ref();
        let burn_1h = evaluation.and_then(|e| {
            e.windows
                .iter()
                .find(|w| w.window_secs == 3_600)
                .and_then(|w| w.burn_rate)
        });
        table.add_row([
            slo.id.to_string(),
            slo.service.clone(),
            format!("{}%", slo.objective * 100.0),
            slo.window.clone(),
            percent(evaluation.and_then(|e| e.budget.sli)),
            evaluation.map_or("-".into(), |e| percent(Some(e.budget.remaining))),
            burn(burn_1h),
            evaluation.map_or("-".into(), |e| duration(e.budget.time_to_exhaustion_secs)),
            match (&slo.error, evaluation) {
                (Some(error), _) => error.clone(),
                (None, Some(e)) if !e.firing.is_empty() => e.firing.join(","),
                _ => String::new(),
            },
        ]);
    }
    println!("{table}");
    Ok(())
}

async fn show(client: ClientArgs, id: String) -> anyhow::Result<()> {
    let detail: SloDetail = get_json(&client.url, &format!("/api/v1/slos/{id}")).await?;
    let summary = &detail.summary;
    println!(
        "{} ({}) service={} objective={}% window={} {} budgeting={}",
        summary.id,
        summary.display_name,
        summary.service,
        summary.objective * 100.0,
        summary.window,
        summary.window_type,
        summary.budgeting_method
    );
    let Some(evaluation) = &summary.evaluation else {
        println!("not evaluated yet");
        return Ok(());
    };
    println!(
        "SLI {}  budget left {}  exhausted in {}  firing: {}",
        percent(evaluation.budget.sli),
        percent(Some(evaluation.budget.remaining)),
        duration(evaluation.budget.time_to_exhaustion_secs),
        if evaluation.firing.is_empty() {
            "none".to_owned()
        } else {
            evaluation.firing.join(", ")
        }
    );
    let mut table = Table::new();
    table.set_header([
        "pair",
        "severity",
        "threshold",
        "long",
        "burn long",
        "short",
        "burn short",
        "active",
    ]);
    for pair in &evaluation.pairs {
        table.add_row([
            pair.name.clone(),
            pair.severity.clone(),
            format!("{}x", pair.burn_rate_threshold),
            pair.long_window.clone(),
            burn(pair.long.burn_rate),
            pair.short_window.clone(),
            burn(pair.short.burn_rate),
            if pair.active { "yes" } else { "" }.to_owned(),
        ]);
    }
    println!("{table}");
    Ok(())
}

async fn backtest(args: BacktestArgs) -> anyhow::Result<()> {
    let mut query = vec![format!("step={}", args.step)];
    if let Some(start) = &args.start {
        query.push(format!("start={start}"));
    }
    if let Some(end) = &args.end {
        query.push(format!("end={end}"));
    }
    let path = format!("/api/v1/slos/{}/backtest?{}", args.id, query.join("&"));
    let result: SloBacktest = get_json(&args.client.url, &path).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(());
    }
    let time = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| t.to_string())
    };
    println!(
        "{}: {} steps from {} to {}",
        result.id,
        result.steps.len(),
        time(result.start),
        time(result.end)
    );
    if let Some(last) = result.steps.last() {
        println!(
            "at the end: SLI {}, budget left {}",
            percent(last.sli),
            percent(Some(last.budget_remaining))
        );
    }
    if result.alerts.is_empty() {
        println!("no alert would have fired");
        return Ok(());
    }
    let mut table = Table::new();
    table.set_header(["severity", "fired", "resolved", "pairs"]);
    for alert in &result.alerts {
        table.add_row([
            alert.severity.clone(),
            time(alert.start),
            alert.end.map_or("still firing".into(), time),
            alert.pairs.join(", "),
        ]);
    }
    println!("{table}");
    Ok(())
}
