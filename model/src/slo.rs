//! SLO specifications (resolved from OpenSLO or Sloth files) and the SLO status the API
//! reports. The meaning of every number is fixed by the SLO semantics document: budget
//! `B = 1 - T`, error ratio `e(w) = bad(w) / total(w)` over the left-open window `(t - w, t]`,
//! burn rate `e(w) / B`, and multi-window burn-rate pairs with strict `>` thresholds.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Identity of an SLO: its OpenSLO `metadata.name`, unique within a tenant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SloId(String);

/// Why a string is not an [`SloId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SLO name `{0}`: use 1 to 128 characters of a-z, A-Z, 0-9, '-', '_' or '.'")]
pub struct SloIdError(pub String);

impl SloId {
    /// Validates an SLO name: `[A-Za-z0-9._-]{1,128}`, not starting with `.`.
    pub fn new(name: &str) -> Result<Self, SloIdError> {
        let valid = !name.is_empty()
            && name.len() <= 128
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(SloIdError(name.to_owned()))
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SloId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One SLO, fully resolved: references followed, defaults applied, durations typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloSpec {
    /// Unique name.
    pub id: SloId,
    /// Human name (`metadata.displayName`), or the id.
    pub display_name: String,
    /// The service the SLO belongs to.
    pub service: String,
    /// Free text.
    pub description: String,
    /// Target `T` in (0, 1), e.g. 0.999.
    pub objective: f64,
    /// The SLO period.
    pub window: SloWindow,
    /// How the SLI over the period is computed.
    pub budgeting: BudgetingMethod,
    /// What is counted.
    pub indicator: Indicator,
    /// Multi-window burn-rate pairs; alert identity is (SLO, severity).
    pub alert_pairs: Vec<BurnRatePair>,
    /// Whether a window without events raises the alert (`alertWhenNoData`); default false.
    pub alert_when_no_data: bool,
    /// User labels, copied onto alerts.
    pub labels: BTreeMap<String, String>,
    /// User annotations (`summary`, `runbook_url`...).
    pub annotations: BTreeMap<String, String>,
    /// Periods whose events spend no budget and during which alerts do not fire.
    pub maintenance: Vec<MaintenanceWindow>,
    /// Where alerts of each severity go (from the alert policies' notification targets).
    pub notification_targets: Vec<NotificationTarget>,
    /// Where the SLO was defined.
    pub source: SourceLocation,
}

impl SloSpec {
    /// The error budget `B = 1 - T`.
    pub fn error_budget(&self) -> f64 {
        1.0 - self.objective
    }
}

/// A file and line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLocation {
    /// Path of the file as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
}

/// The SLO period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SloWindow {
    /// A trailing window `(t - duration, t]`.
    Rolling {
        /// Length in seconds.
        duration_secs: u64,
    },
    /// Calendar-aligned periods that reset at each boundary.
    Calendar {
        /// Unit of the period.
        unit: CalendarUnit,
        /// Number of units per period.
        count: u32,
        /// First boundary, `YYYY-MM-DD HH:MM:SS` in `time_zone`.
        start: String,
        /// IANA time zone of the boundaries.
        time_zone: String,
    },
}

impl SloWindow {
    /// The nominal length in seconds (calendar months count 30 days, quarters 91, years 365):
    /// used to scale burn-rate thresholds, never for boundaries.
    pub fn nominal_secs(&self) -> u64 {
        match self {
            SloWindow::Rolling { duration_secs } => *duration_secs,
            SloWindow::Calendar { unit, count, .. } => unit.nominal_secs() * u64::from(*count),
        }
    }

    /// OpenSLO spelling: `30d`, `1M`...
    pub fn display(&self) -> String {
        match self {
            SloWindow::Rolling { duration_secs } => format_duration_secs(*duration_secs),
            SloWindow::Calendar { unit, count, .. } => format!("{count}{}", unit.suffix()),
        }
    }
}

/// Units of calendar windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarUnit {
    /// `d`
    Day,
    /// `w`
    Week,
    /// `M`
    Month,
    /// `Q`
    Quarter,
    /// `Y`
    Year,
}

impl CalendarUnit {
    /// Nominal length of one unit in seconds.
    pub fn nominal_secs(self) -> u64 {
        const DAY: u64 = 86_400;
        match self {
            CalendarUnit::Day => DAY,
            CalendarUnit::Week => 7 * DAY,
            CalendarUnit::Month => 30 * DAY,
            CalendarUnit::Quarter => 91 * DAY,
            CalendarUnit::Year => 365 * DAY,
        }
    }

    /// The OpenSLO duration suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            CalendarUnit::Day => "d",
            CalendarUnit::Week => "w",
            CalendarUnit::Month => "M",
            CalendarUnit::Quarter => "Q",
            CalendarUnit::Year => "Y",
        }
    }
}

/// OpenSLO `budgetingMethod`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BudgetingMethod {
    /// `A = sum(good) / sum(total)` over the window (event weighted).
    Occurrences,
    /// A slice is good iff its ratio is at least `target`; `A = good slices / slices`.
    Timeslices {
        /// Slice length in seconds (a multiple of 60).
        slice_secs: u64,
        /// `timeSliceTarget`.
        target: f64,
    },
    /// `A = mean of the slice ratios`.
    RatioTimeslices {
        /// Slice length in seconds (a multiple of 60).
        slice_secs: u64,
    },
}

impl BudgetingMethod {
    /// The OpenSLO name.
    pub fn name(&self) -> &'static str {
        match self {
            BudgetingMethod::Occurrences => "Occurrences",
            BudgetingMethod::Timeslices { .. } => "Timeslices",
            BudgetingMethod::RatioTimeslices { .. } => "RatioTimeslices",
        }
    }
}

/// What an SLO counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Indicator {
    /// Eligible spans and which of them are good (counted exactly, by span end time).
    Spans(EventIndicator),
    /// Eligible log records and which of them are good (counted exactly, by timestamp).
    Logs(EventIndicator),
    /// A PromQL ratio over OTLP metrics.
    Metrics(MetricIndicator),
}

/// An event-based SLI: `total` selects eligible events; an eligible event is good when it
/// matches `good`, or bad when it matches `bad` (exactly one of the two is set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventIndicator {
    /// Which events are eligible.
    pub total: EventFilter,
    /// Which eligible events are good (mutually exclusive with `bad`).
    pub good: Option<EventFilter>,
    /// Which eligible events are bad (mutually exclusive with `good`).
    pub bad: Option<EventFilter>,
}

/// A conjunction of conditions on one span or log record. Every set field must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventFilter {
    /// `service.name` equals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Span name is one of (spans only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<String>,
    /// Span kind is one of: internal, server, client, producer, consumer (spans only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// Span status is one of: unset, ok, error (spans only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<String>,
    /// Span status is none of (spans only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_not: Vec<String>,
    /// Span duration strictly below, e.g. `300ms` (spans only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_below: Option<String>,
    /// Span duration at least (spans only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_at_least: Option<String>,
    /// Only spans without a parent (entry spans).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub entry_only: bool,
    /// Severity at least: trace, debug, info, warn, error, fatal, or a number 1-24 (logs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_at_least: Option<String>,
    /// Severity below (logs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_below: Option<String>,
    /// Body contains this text (logs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// Record attributes equal (a list means any of).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, AttributeValues>,
    /// Record attributes differ from (a list means none of); absent attributes pass.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes_not: BTreeMap<String, AttributeValues>,
    /// Resource attributes equal (a list means any of).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resource_attributes: BTreeMap<String, AttributeValues>,
    /// A SQL boolean expression over the columns of the `spans` or `logs` table.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub where_sql: Option<String>,
}

/// One value or several (any of).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttributeValues {
    /// One value.
    One(String),
    /// Any of several values.
    Any(Vec<String>),
}

impl AttributeValues {
    /// The values as a slice.
    pub fn values(&self) -> Vec<&str> {
        match self {
            AttributeValues::One(value) => vec![value.as_str()],
            AttributeValues::Any(values) => values.iter().map(String::as_str).collect(),
        }
    }
}

/// A metric SLI over OTLP metrics, in PromQL; `{{.window}}` in a query is replaced by the
/// window being evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MetricIndicator {
    /// `bad / total` or `1 - good / total`.
    Ratio {
        /// Query of good events (exclusive with `bad`).
        good: Option<String>,
        /// Query of bad events (exclusive with `good`).
        bad: Option<String>,
        /// Query of all events.
        total: String,
    },
    /// A query that already is the error ratio.
    RawErrorRatio {
        /// The query.
        query: String,
    },
}

/// One multi-window burn-rate pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BurnRatePair {
    /// `page`, `ticket` or another lowercase name; the alert identity is (SLO, severity).
    pub severity: String,
    /// The AlertCondition it came from (or `default-...`).
    pub name: String,
    /// The burn rate both windows must exceed.
    pub burn_rate_threshold: f64,
    /// Long window in seconds.
    pub long_window_secs: u64,
    /// Short window in seconds (`long / 12` unless overridden).
    pub short_window_secs: u64,
}

impl BurnRatePair {
    /// The error ratio both windows must exceed: `threshold * B`.
    pub fn error_ratio_threshold(&self, error_budget: f64) -> f64 {
        self.burn_rate_threshold * error_budget
    }

    /// Budget consumed over the long window at the threshold: `threshold * W / P`.
    pub fn budget_consumed_at_threshold(&self, period_secs: u64) -> f64 {
        self.burn_rate_threshold * self.long_window_secs as f64 / period_secs as f64
    }
}

/// An OpenSLO `AlertNotificationTarget` attached to the policies of some severities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationTarget {
    /// The target's name.
    pub name: String,
    /// An email address, a webhook URL, or a receiver name of `lookout.toml`.
    pub target: String,
    /// Severities whose alerts go there.
    pub severities: Vec<String>,
}

/// A period in which events spend no budget and alerts do not fire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindow {
    /// Start, Unix seconds (inclusive).
    pub start_unix_secs: i64,
    /// End, Unix seconds (exclusive).
    pub end_unix_secs: i64,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// `30d`, `1h`, `5m`, `90s`: the largest unit that divides evenly.
pub fn format_duration_secs(secs: u64) -> String {
    // Weeks are left out on purpose: common periods (28d, 35d) read better in days.
    const UNITS: [(u64, &str); 3] = [(86_400, "d"), (3_600, "h"), (60, "m")];
    if secs == 0 {
        return "0s".to_owned();
    }
    for (size, suffix) in UNITS {
        if secs.is_multiple_of(size) {
            return format!("{}{suffix}", secs / size);
        }
    }
    format!("{secs}s")
}

/// The state of one alert identity (SLO, severity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Not firing.
    Inactive,
    /// At least one pair of this severity is active.
    Firing,
}

/// Error ratio and burn rate of one window at one evaluation time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowStatus {
    /// `5m`, `1h`...
    pub window: String,
    /// Window length in seconds.
    pub window_secs: u64,
    /// Bad events (or bad slices) in the window.
    pub bad: f64,
    /// Eligible events (or slices) in the window.
    pub total: f64,
    /// `bad / total`; `None` when the window has no events.
    pub error_ratio: Option<f64>,
    /// `error_ratio / B`; `None` when the window has no events.
    pub burn_rate: Option<f64>,
}

/// One burn-rate pair evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PairStatus {
    /// Severity of the pair.
    pub severity: String,
    /// Condition name.
    pub name: String,
    /// Burn-rate threshold.
    pub burn_rate_threshold: f64,
    /// `threshold * B`.
    pub error_ratio_threshold: f64,
    /// `threshold * W_long / P`.
    pub budget_consumed_at_threshold: f64,
    /// `1h`...
    pub long_window: String,
    /// `5m`...
    pub short_window: String,
    /// The long window.
    pub long: WindowStatus,
    /// The short window.
    pub short: WindowStatus,
    /// Both windows strictly above the threshold.
    pub active: bool,
}

/// Budget figures over the SLO period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetStatus {
    /// Good events (or slices) in the period so far.
    pub good: f64,
    /// Eligible events (or slices) in the period so far.
    pub total: f64,
    /// SLI over the period (`None` without events).
    pub sli: Option<f64>,
    /// `C = e(P) / B` (0 without events).
    pub consumed: f64,
    /// `R = 1 - C`; may be negative.
    pub remaining: f64,
    /// Time until the remaining budget is gone at the current (1h) burn rate: `R * P / br`;
    /// 0 when nothing remains; `None` (infinite) when nothing burns.
    pub time_to_exhaustion_secs: Option<f64>,
    /// For calendar windows: the budget consumed at the end of the period if the error
    /// ratio so far continues; otherwise equal to `consumed`.
    pub projected_consumed: f64,
}

/// An SLO evaluated at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SloEvaluation {
    /// Evaluation time, Unix seconds (a multiple of the step).
    pub evaluated_at_unix_secs: i64,
    /// Budget over the period.
    pub budget: BudgetStatus,
    /// Every distinct window of the pairs, shortest first.
    pub windows: Vec<WindowStatus>,
    /// Every pair.
    pub pairs: Vec<PairStatus>,
    /// Severities with at least one active pair (maintenance suppresses them).
    pub firing: Vec<String>,
    /// Whether the time is inside a maintenance window.
    pub in_maintenance: bool,
}

/// Summary of one SLO in `GET /api/v1/slos`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SloSummary {
    /// Name.
    pub id: SloId,
    /// Human name.
    pub display_name: String,
    /// Service.
    pub service: String,
    /// Objective `T`.
    pub objective: f64,
    /// Period, e.g. `30d` or `1M`.
    pub window: String,
    /// `rolling` or `calendar`.
    pub window_type: String,
    /// Budgeting method name.
    pub budgeting_method: String,
    /// Error budget `B`.
    pub error_budget: f64,
    /// `spans`, `logs` or `metrics`.
    pub source: String,
    /// Latest evaluation, `None` until the first one.
    pub evaluation: Option<SloEvaluation>,
    /// Alert state per severity.
    pub alerts: BTreeMap<String, AlertState>,
    /// A problem preventing evaluation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Answer of `GET /api/v1/slos`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SloListResponse {
    /// SLOs sorted by budget remaining, lowest first.
    pub slos: Vec<SloSummary>,
    /// Errors of the last load of the rules folder (`file:line: error: message`).
    pub rule_errors: Vec<String>,
    /// Warnings of the last load.
    pub rule_warnings: Vec<String>,
    /// Set when the last reload failed and the previous rules stay in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload_error: Option<String>,
}

/// One step of a backtest or history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SloStep {
    /// Unix seconds.
    pub t: i64,
    /// Budget remaining.
    pub budget_remaining: f64,
    /// SLI over the period so far.
    pub sli: Option<f64>,
    /// Error ratio per window, same order as `windows` of the response.
    pub error_ratios: Vec<Option<f64>>,
    /// Burn rate per window.
    pub burn_rates: Vec<Option<f64>>,
    /// Active pairs by name.
    pub active_pairs: Vec<String>,
    /// Firing severities.
    pub firing: Vec<String>,
}

/// A firing interval found by a backtest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertInterval {
    /// Severity.
    pub severity: String,
    /// First step at which it fired, Unix seconds.
    pub start: i64,
    /// First step at which it no longer fired (`None` if still firing at the end).
    pub end: Option<i64>,
    /// Pairs active at any step of the interval.
    pub pairs: Vec<String>,
}

/// Answer of `GET /api/v1/slos/{id}/backtest` and of the history part of `GET
/// /api/v1/slos/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SloBacktest {
    /// The SLO.
    pub id: SloId,
    /// Start, Unix seconds.
    pub start: i64,
    /// End, Unix seconds.
    pub end: i64,
    /// Step in seconds.
    pub step_secs: u64,
    /// Window names, in the order of each step's arrays.
    pub windows: Vec<String>,
    /// Every step.
    pub steps: Vec<SloStep>,
    /// Firing intervals per severity.
    pub alerts: Vec<AlertInterval>,
}

/// Answer of `GET /api/v1/slos/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SloDetail {
    /// The summary, as in the list.
    pub summary: SloSummary,
    /// The resolved definition.
    pub spec: SloSpec,
    /// History over the requested range.
    pub history: SloBacktest,
}

/// A group of bad events sharing their most telling attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BadEventGroup {
    /// The grouping attributes (`service`, `operation`, `route`, `status`, `version`...).
    pub labels: BTreeMap<String, String>,
    /// Bad events in the group.
    pub bad: u64,
    /// Time of the newest one, Unix nanoseconds.
    pub last_seen_unix_nanos: i64,
    /// Trace ids of recent examples (newest first).
    pub example_trace_ids: Vec<String>,
    /// Recent example log records (log SLIs only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub example_logs: Vec<ExampleLog>,
}

/// One example log record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExampleLog {
    /// Unix nanoseconds.
    pub timestamp_unix_nanos: i64,
    /// Trace id, if the record has one.
    pub trace_id: Option<String>,
    /// Span id, if the record has one.
    pub span_id: Option<String>,
    /// The body, cut to 300 characters.
    pub body: String,
}

/// Answer of `GET /api/v1/slos/{id}/bad-events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BadEventsResponse {
    /// The SLO.
    pub id: SloId,
    /// Start, Unix seconds (exclusive).
    pub start: i64,
    /// End, Unix seconds (inclusive).
    pub end: i64,
    /// Bad events in the range.
    pub total_bad: u64,
    /// The largest groups, most bad events first.
    pub groups: Vec<BadEventGroup>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slo_ids_are_validated() {
        assert!(SloId::new("checkout-availability").is_ok());
        assert!(SloId::new("a.b_c-1").is_ok());
        for bad in ["", ".hidden", "a/b", "a b", "../x", &"x".repeat(129)] {
            assert!(SloId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_are_formatted_with_the_largest_even_unit() {
        assert_eq!(format_duration_secs(30 * 86_400), "30d");
        assert_eq!(format_duration_secs(28 * 86_400), "28d");
        assert_eq!(format_duration_secs(3_600), "1h");
        assert_eq!(format_duration_secs(300), "5m");
        assert_eq!(format_duration_secs(90), "90s");
        assert_eq!(format_duration_secs(0), "0s");
    }

    #[test]
    fn pair_thresholds_follow_the_semantics() {
        let pair = BurnRatePair {
            severity: "page".into(),
            name: "p".into(),
            burn_rate_threshold: 14.4,
            long_window_secs: 3_600,
            short_window_secs: 300,
        };
        assert!((pair.error_ratio_threshold(0.001) - 0.0144).abs() < 1e-12);
        assert!((pair.budget_consumed_at_threshold(30 * 86_400) - 0.02).abs() < 1e-12);
    }
}
