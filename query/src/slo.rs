//! The SLO engine: SLO definitions as code (OpenSLO v1, Sloth import), per-minute (good,
//! total) buckets maintained as data arrives, error budgets and multi-window burn rates
//! evaluated every step, and backtests over stored data. The semantics of every number are
//! those of the SLO semantics document; the math (`series`) reads no clock and does no IO.

pub mod calendar;
pub mod classify;
pub mod duration;
pub mod engine;
pub mod metric;
pub mod openslo;
pub mod ring;
pub mod rules;
pub mod series;
pub mod sloth;

pub use engine::{Clock, SloEngine, SloEngineConfig, SystemClock};
pub mod api;
pub mod config;
pub mod evidence;

pub use config::SloFileConfig;
