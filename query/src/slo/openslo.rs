//! OpenSLO v1 documents (`Service`, `SLI`, `SLO`, `AlertPolicy`, `AlertCondition`,
//! `AlertNotificationTarget`) as they appear in YAML, with the Lookout source types
//! `otel-traces`, `otel-logs` and `otel-metrics` (and `Prometheus`) in `metricSource`.
//!
//! These types mirror the files; [`super::rules`] resolves them into `SloSpec`s.

use std::collections::BTreeMap;

use lookout_model::slo::EventFilter;
use serde::{Deserialize, Serialize};

/// The `apiVersion` Lookout reads.
pub const API_VERSION: &str = "openslo/v1";

/// Annotation on an `AlertCondition` overriding the short window (default: long / 12).
pub const SHORT_WINDOW_ANNOTATION: &str = "lookout/short-window";

/// `apiVersion` and `kind` of any document, read first to choose the type.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// `openslo/v1`.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Document kind.
    #[serde(default)]
    pub kind: Option<String>,
    /// Sloth files carry `version` instead.
    #[serde(default)]
    pub version: Option<String>,
}

/// `metadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Unique name within the kind.
    pub name: String,
    /// Human name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Labels: a value or a list of values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, LabelValue>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OpenSLO label value: one string or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LabelValue {
    /// One value.
    One(String),
    /// Several values (joined with `,` when used as an alert label).
    Many(Vec<String>),
}

impl LabelValue {
    /// The value as one string.
    pub fn joined(&self) -> String {
        match self {
            LabelValue::One(value) => value.clone(),
            LabelValue::Many(values) => values.join(","),
        }
    }
}

/// A whole document of a known kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Document<S> {
    /// `openslo/v1`.
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// Metadata.
    pub metadata: Metadata,
    /// Kind-specific body.
    pub spec: S,
}

/// `kind: Service`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `kind: SLO`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SloDocSpec {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Service name.
    pub service: String,
    /// An inline SLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator: Option<InlineSli>,
    /// A reference to an SLI document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator_ref: Option<String>,
    /// Exactly one time window.
    pub time_window: Vec<TimeWindowDoc>,
    /// `Occurrences`, `Timeslices` or `RatioTimeslices`.
    pub budgeting_method: String,
    /// Exactly one objective.
    pub objectives: Vec<ObjectiveDoc>,
    /// Alert policies by reference or inline; none means the four default pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_policies: Vec<PolicyItem>,
    /// Lookout extension: maintenance windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance_windows: Vec<MaintenanceDoc>,
}

/// An inline SLI (`metadata` + `spec`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InlineSli {
    /// Metadata.
    pub metadata: Metadata,
    /// Body.
    pub spec: SliSpec,
}

/// `kind: SLI` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SliSpec {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A threshold metric (not supported for evaluation yet; rejected with a message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_metric: Option<MetricHolder>,
    /// A ratio of good or bad over total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_metric: Option<RatioMetric>,
}

/// `ratioMetric`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RatioMetric {
    /// Whether the sources are counters (informational).
    #[serde(default)]
    pub counter: bool,
    /// Good events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good: Option<MetricHolder>,
    /// Bad events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad: Option<MetricHolder>,
    /// All events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<MetricHolder>,
    /// `success` or `failure` for a raw ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_type: Option<String>,
    /// A precomputed ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<MetricHolder>,
}

/// `{ metricSource: ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricHolder {
    /// The source.
    pub metric_source: MetricSource,
}

/// `metricSource`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricSource {
    /// Optional reference to a data source (ignored: the data source is Lookout itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_source_ref: Option<String>,
    /// `otel-traces`, `otel-logs`, `otel-metrics` or `Prometheus`.
    #[serde(rename = "type")]
    pub source_type: String,
    /// Type-specific: `{filter: ...}` for traces and logs, `{query: ...}` for metrics.
    pub spec: SourceSpec,
}

/// The body of a `metricSource`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceSpec {
    /// Event filter (`otel-traces`, `otel-logs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<EventFilter>,
    /// PromQL (`otel-metrics`, `Prometheus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// One entry of `timeWindow`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeWindowDoc {
    /// `30d`, `1M`...
    pub duration: String,
    /// Rolling (true) or calendar-aligned (false).
    #[serde(default)]
    pub is_rolling: bool,
    /// For calendar windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<CalendarDoc>,
}

/// `calendar`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CalendarDoc {
    /// `YYYY-MM-DD HH:MM:SS`.
    pub start_time: String,
    /// IANA zone.
    pub time_zone: String,
}

/// One objective.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectiveDoc {
    /// Human name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Target in (0, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    /// Target in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_percent: Option<f64>,
    /// For Timeslices: the ratio a slice needs to be good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_slice_target: Option<f64>,
    /// For Timeslices and RatioTimeslices: the slice length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_slice_window: Option<String>,
    /// Threshold SLIs (not supported yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// Threshold SLIs (not supported yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// An alert policy reference or an inline policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PolicyItem {
    /// `alertPolicyRef: name`.
    Ref {
        /// Name of an `AlertPolicy` document.
        #[serde(rename = "alertPolicyRef")]
        alert_policy_ref: String,
    },
    /// An inline `AlertPolicy` document.
    Inline(Box<Document<AlertPolicySpec>>),
}

/// `kind: AlertPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertPolicySpec {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Fire when a window has no events.
    #[serde(default)]
    pub alert_when_no_data: bool,
    /// Send a notification when resolved.
    #[serde(default = "yes")]
    pub alert_when_resolved: bool,
    /// Fire when breaching (always true for burn-rate alerts).
    #[serde(default = "yes")]
    pub alert_when_breaching: bool,
    /// Exactly one condition.
    pub conditions: Vec<ConditionItem>,
    /// Where to send.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notification_targets: Vec<TargetItem>,
}

fn yes() -> bool {
    true
}

/// A condition reference or an inline condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConditionItem {
    /// `conditionRef: name`.
    Ref {
        /// Name of an `AlertCondition` document.
        #[serde(rename = "conditionRef")]
        condition_ref: String,
    },
    /// An inline `AlertCondition` document.
    Inline(Box<Document<AlertConditionSpec>>),
}

/// A notification target reference or an inline target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetItem {
    /// `targetRef: name`.
    Ref {
        /// Name of an `AlertNotificationTarget` document.
        #[serde(rename = "targetRef")]
        target_ref: String,
    },
    /// An inline target.
    Inline(Box<Document<NotificationTargetSpec>>),
}

/// `kind: AlertCondition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertConditionSpec {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `page`, `ticket`...
    pub severity: String,
    /// The condition.
    pub condition: ConditionDoc,
}

/// `condition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConditionDoc {
    /// Only `burnrate`.
    pub kind: String,
    /// `gt` (the only comparison the semantics allow; `gte` is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// Burn-rate threshold.
    pub threshold: f64,
    /// Long window.
    pub lookback_window: String,
    /// Must be `0m` (alerts fire at the evaluation that satisfies both windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_after: Option<String>,
}

/// `kind: AlertNotificationTarget`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationTargetSpec {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where: an email address, a webhook URL, or a receiver name of `lookout.toml`.
    pub target: String,
}

/// Lookout extension: a maintenance window in an SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaintenanceDoc {
    /// RFC 3339 start.
    pub start: String,
    /// RFC 3339 end.
    pub end: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}
