//! The `[collector]` table of `lookout.toml` and its resolved form.

use serde::Deserialize;

/// Collector settings, resolved into typed values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorConfig {
    /// Largest accepted request, in bytes after decompression (HTTP body or gRPC message).
    pub max_request_bytes: usize,
}

impl CollectorConfig {
    /// Default request limit: 16 MiB.
    pub const DEFAULT_MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            max_request_bytes: Self::DEFAULT_MAX_REQUEST_BYTES,
        }
    }
}

/// `[collector]` as written in `lookout.toml`; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorFileConfig {
    /// Largest accepted request in bytes, after decompression.
    pub max_request_bytes: Option<usize>,
}

impl CollectorFileConfig {
    /// Applies the file's values over the defaults.
    pub fn resolve(&self) -> Result<CollectorConfig, String> {
        let mut config = CollectorConfig::default();
        if let Some(bytes) = self.max_request_bytes {
            if bytes == 0 {
                return Err("collector.max_request_bytes must be at least 1".into());
            }
            config.max_request_bytes = bytes;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_applies_values_and_refuses_zero() {
        let empty = CollectorFileConfig::default().resolve().unwrap();
        assert_eq!(empty.max_request_bytes, 16 * 1024 * 1024);
        let set = CollectorFileConfig {
            max_request_bytes: Some(1024),
        };
        assert_eq!(set.resolve().unwrap().max_request_bytes, 1024);
        let zero = CollectorFileConfig {
            max_request_bytes: Some(0),
        };
        assert!(zero.resolve().is_err());
    }
}
