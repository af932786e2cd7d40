//! `lookout`: the observability and SLO daemon, and its command-line clients.

mod alert_cli;
mod bench;
mod client;
mod config;
mod self_telemetry;
mod serve;
mod slo_cli;

use clap::{Parser, Subcommand};

/// mimalloc returns freed memory to the system far better than glibc's per-thread arenas under
/// the many-threaded ingest and flush load (see BENCHMARKS.md for the RSS it saved).
#[global_allocator]
static GLOBAL_ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lookout: OTLP in, durable columnar storage, SQL and traces out.
#[derive(Debug, Parser)]
#[command(name = "lookout", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: OTLP receivers, storage, the HTTP API.
    Serve(config::ServeArgs),
    /// Run a read-only SQL query against a daemon.
    Sql(client::SqlArgs),
    /// Fetch every span of a trace from a daemon.
    Trace(client::TraceArgs),
    /// Search traces by service, operation, duration, status and attributes.
    Traces(client::span_analytics::TracesArgs),
    /// Rate, errors and duration per service and operation.
    Services(client::span_analytics::ServicesArgs),
    /// Calls between services.
    ServiceGraph(client::span_analytics::ServiceGraphArgs),
    /// SLOs: validate rules, import Sloth files, list, show and backtest.
    #[command(subcommand)]
    Slo(slo_cli::SloCommand),
    /// Search a daemon's logs (full-text query language, newest first).
    Logs(client::LogsArgs),
    /// List firing alerts, active and suppressed.
    Alerts(alert_cli::AlertsArgs),
    /// Silences: add, list, expire.
    #[command(subcommand)]
    Silence(alert_cli::SilenceCommand),
    /// Load generators and measurements.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    self_telemetry::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args.resolve()?).await,
            Command::Sql(args) => client::sql(args).await,
            Command::Trace(args) => client::trace(args).await,
            Command::Traces(args) => client::span_analytics::traces(args).await,
            Command::Services(args) => client::span_analytics::services(args).await,
            Command::ServiceGraph(args) => client::span_analytics::service_graph(args).await,
            Command::Slo(command) => slo_cli::run(command).await,
            Command::Logs(args) => client::logs(args).await,
            Command::Alerts(args) => alert_cli::alerts(args).await,
            Command::Silence(command) => alert_cli::silence(command).await,
            Command::Bench(command) => bench::run(command).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
