//! The `[slo]` table of `lookout.toml`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::SloEngineConfig;

/// The folder used when neither `--rules` nor `rules_dir` is given, if it exists.
pub const DEFAULT_RULES_DIR: &str = "./slo-rules";

/// `[slo]` as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloFileConfig {
    /// Folder of OpenSLO / Sloth rule files.
    pub rules_dir: Option<PathBuf>,
    /// Evaluation step in seconds (a multiple of 60).
    pub step_secs: Option<u64>,
    /// Delay after a step before it is evaluated, so late events count.
    pub evaluation_delay_secs: Option<u64>,
    /// Events further in the future than this are not counted.
    pub max_future_secs: Option<u64>,
}

impl SloFileConfig {
    /// Resolves with the `--rules` flag (which wins) into the engine's settings.
    pub fn resolve(&self, rules_flag: Option<PathBuf>) -> Result<SloEngineConfig, String> {
        let defaults = SloEngineConfig::default();
        let rules_dir = rules_flag.or_else(|| self.rules_dir.clone()).or_else(|| {
            Path::new(DEFAULT_RULES_DIR)
                .is_dir()
                .then(|| PathBuf::from(DEFAULT_RULES_DIR))
        });
        let step_secs = self.step_secs.unwrap_or(defaults.step_secs);
        if step_secs == 0 || !step_secs.is_multiple_of(60) {
            return Err(format!(
                "step_secs = {step_secs}: the evaluation step must be a positive multiple of 60"
            ));
        }
        Ok(SloEngineConfig {
            rules_dir,
            step_secs,
            evaluation_delay_secs: self
                .evaluation_delay_secs
                .unwrap_or(defaults.evaluation_delay_secs),
            max_future_secs: self.max_future_secs.unwrap_or(defaults.max_future_secs),
            reload_interval: Duration::from_secs(2),
        })
    }
}
