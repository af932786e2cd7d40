//! `lookout.toml`, `LOOKOUT_*` environment variables and flags, resolved into one typed config.
//!
//! Precedence: flag > environment > file > default. clap reads flags and the environment (in
//! one place, the `ServeArgs` definitions); this module layers the file and defaults under them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;

/// Flags of `lookout serve`; each also reads a `LOOKOUT_*` variable.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(long, env = "LOOKOUT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the WAL, Parquet segments and indexes live [default: ./lookout-data].
    #[arg(long, env = "LOOKOUT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// OTLP/gRPC listen address [default: 127.0.0.1:4317].
    #[arg(long, env = "LOOKOUT_OTLP_GRPC_ADDR")]
    pub otlp_grpc_addr: Option<SocketAddr>,
    /// OTLP/HTTP listen address [default: 127.0.0.1:4318].
    #[arg(long, env = "LOOKOUT_OTLP_HTTP_ADDR")]
    pub otlp_http_addr: Option<SocketAddr>,
    /// JSON API, web UI, /metrics and health listen address [default: 127.0.0.1:8700].
    #[arg(long, env = "LOOKOUT_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// Folder of SLO rule files (OpenSLO v1, Sloth) [default: ./slo-rules if it exists].
    #[arg(long, env = "LOOKOUT_RULES")]
    pub rules: Option<PathBuf>,
}

/// The whole `lookout.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `[server]`: addresses and the data directory.
    #[serde(default)]
    pub server: ServerFileConfig,
    /// `[storage]`.
    #[serde(default)]
    pub storage: lookout_storage::config::StorageFileConfig,
    /// `[collector]`.
    #[serde(default)]
    pub collector: lookout_collector::CollectorFileConfig,
    /// `[query]`.
    #[serde(default)]
    pub query: lookout_query::QueryFileConfig,
    /// `[slo]`.
    #[serde(default)]
    pub slo: lookout_query::slo::SloFileConfig,
}

/// `[server]` of `lookout.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFileConfig {
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// OTLP/gRPC listen address.
    pub otlp_grpc_addr: Option<SocketAddr>,
    /// OTLP/HTTP listen address.
    pub otlp_http_addr: Option<SocketAddr>,
    /// HTTP API listen address.
    pub http_addr: Option<SocketAddr>,
}

/// Everything `serve` needs, resolved.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// OTLP/gRPC listen address.
    pub otlp_grpc_addr: SocketAddr,
    /// OTLP/HTTP listen address.
    pub otlp_http_addr: SocketAddr,
    /// HTTP API listen address.
    pub http_addr: SocketAddr,
    /// Storage settings (includes the data directory).
    pub storage: lookout_storage::StorageConfig,
    /// Receiver settings.
    pub collector: lookout_collector::CollectorConfig,
    /// Query limits.
    pub query: lookout_query::QueryConfig,
    /// SLO engine settings.
    pub slo: lookout_query::slo::SloEngineConfig,
}

/// Default OTLP/gRPC address.
pub const DEFAULT_OTLP_GRPC_ADDR: &str = "127.0.0.1:4317";
/// Default OTLP/HTTP address.
pub const DEFAULT_OTLP_HTTP_ADDR: &str = "127.0.0.1:4318";
/// Default API address.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8700";
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./lookout-data";

/// Reads and parses a config file.
pub fn load_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read config file `{}`", path.display()))?;
    parse_file(&text).with_context(|| format!("invalid config file `{}`", path.display()))
}

/// Parses the text of a config file.
pub fn parse_file(text: &str) -> anyhow::Result<FileConfig> {
    Ok(toml::from_str(text)?)
}

impl ServeArgs {
    /// Layers flags and environment over the file over the defaults.
    pub fn resolve(&self) -> anyhow::Result<ServeConfig> {
        let file = match &self.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let parse =
            |text: &str| -> SocketAddr { text.parse().expect("default addresses are valid") };
        let data_dir = self
            .data_dir
            .clone()
            .or(file.server.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let config = ServeConfig {
            otlp_grpc_addr: self
                .otlp_grpc_addr
                .or(file.server.otlp_grpc_addr)
                .unwrap_or_else(|| parse(DEFAULT_OTLP_GRPC_ADDR)),
            otlp_http_addr: self
                .otlp_http_addr
                .or(file.server.otlp_http_addr)
                .unwrap_or_else(|| parse(DEFAULT_OTLP_HTTP_ADDR)),
            http_addr: self
                .http_addr
                .or(file.server.http_addr)
                .unwrap_or_else(|| parse(DEFAULT_HTTP_ADDR)),
            storage: file
                .storage
                .resolve(data_dir)
                .map_err(anyhow::Error::msg)
                .context("invalid [storage] settings")?,
            collector: file
                .collector
                .resolve()
                .map_err(anyhow::Error::msg)
                .context("invalid [collector] settings")?,
            query: file
                .query
                .resolve()
                .map_err(anyhow::Error::msg)
                .context("invalid [query] settings")?,
            slo: file
                .slo
                .resolve(self.rules.clone())
                .map_err(anyhow::Error::msg)
                .context("invalid [slo] settings")?,
        };
        let addresses = [
            config.otlp_grpc_addr,
            config.otlp_http_addr,
            config.http_addr,
        ];
        for (index, address) in addresses.iter().enumerate() {
            if address.port() != 0 && addresses[..index].contains(address) {
                bail!("two listeners share the address {address}");
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let text = include_str!("../lookout.example.toml");
        let file = parse_file(text).expect("lookout.example.toml parses");
        assert_eq!(
            file.server.http_addr,
            Some(DEFAULT_HTTP_ADDR.parse().unwrap())
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(parse_file("[server]\nhttp_adr = \"127.0.0.1:1\"\n").is_err());
        assert!(parse_file("[nope]\n").is_err());
    }

    #[test]
    fn flags_win_over_file_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lookout.toml");
        std::fs::write(
            &path,
            "[server]\nhttp_addr = \"127.0.0.1:9000\"\notlp_http_addr = \"127.0.0.1:9001\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            http_addr: Some("127.0.0.1:9100".parse().unwrap()),
            ..ServeArgs::default()
        };
        let config = args.resolve().unwrap();
        assert_eq!(config.http_addr.port(), 9100);
        assert_eq!(config.otlp_http_addr.port(), 9001);
        assert_eq!(config.otlp_grpc_addr.port(), 4317);
        assert_eq!(config.storage.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    }

    #[test]
    fn duplicate_addresses_are_refused() {
        let args = ServeArgs {
            http_addr: Some(DEFAULT_OTLP_HTTP_ADDR.parse().unwrap()),
            ..ServeArgs::default()
        };
        assert!(args.resolve().is_err());
    }
}
