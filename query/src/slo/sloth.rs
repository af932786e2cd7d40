//! Sloth `prometheus/v1` files, read as SLOs, and the OpenSLO form of any SLO (what
//! `lookout slo import-sloth` prints).
//!
//! Mapping (SLO semantics §7): `objective / 100` is the target; `events.error_query` and
//! `total_query` become a metric ratio with `{{.window}}` kept for the evaluator to replace;
//! `raw.error_ratio_query` becomes a raw failure ratio; `page_alert` and `ticket_alert` are the
//! default pairs, `disable: true` drops them; the period is 30 days.

use std::collections::BTreeMap;

use lookout_model::slo::{
    BudgetingMethod, Indicator, MetricIndicator, SloId, SloSpec, SloWindow, SourceLocation,
    format_duration_secs,
};
use serde::Deserialize;

use super::openslo::{
    API_VERSION, AlertConditionSpec, AlertPolicySpec, CalendarDoc, ConditionDoc, ConditionItem,
    Document, InlineSli, Metadata, MetricHolder, MetricSource, ObjectiveDoc, PolicyItem,
    RatioMetric, SHORT_WINDOW_ANNOTATION, SliSpec, SloDocSpec, SourceSpec, TimeWindowDoc,
};
use super::rules::{Diagnostic, default_pairs, error_at, parse};

/// The `version` of Sloth files.
pub const SLOTH_VERSION: &str = "prometheus/v1";

/// Sloth's default period.
pub const SLOTH_PERIOD_SECS: u64 = 30 * 86_400;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothFile {
    #[allow(dead_code)]
    version: String,
    service: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    slos: Vec<SlothSlo>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothSlo {
    name: String,
    objective: f64,
    #[serde(default)]
    description: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    sli: SlothSli,
    #[serde(default)]
    alerting: SlothAlerting,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothSli {
    #[serde(default)]
    events: Option<SlothEvents>,
    #[serde(default)]
    raw: Option<SlothRaw>,
    #[serde(default)]
    plugin: Option<serde_norway::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothEvents {
    error_query: String,
    total_query: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothRaw {
    error_ratio_query: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothAlerting {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    page_alert: SlothAlert,
    #[serde(default)]
    ticket_alert: SlothAlert,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlothAlert {
    #[serde(default)]
    disable: bool,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Reads one Sloth document into SLOs.
pub fn read(location: &SourceLocation, text: &str) -> Result<Vec<SloSpec>, Diagnostic> {
    let file: SlothFile = parse(location, text)?;
    let mut specs = Vec::with_capacity(file.slos.len());
    for slo in file.slos {
        let at = slo_location(location, text, &slo.name);
        let id = SloId::new(&format!("{}-{}", file.service, slo.name))
            .map_err(|error| error_at(&at, error.to_string()))?;
        let objective = slo.objective / 100.0;
        if !(objective > 0.0 && objective < 1.0) {
            return Err(error_at(
                &at,
                format!(
                    "objective {} must be strictly between 0 and 100",
                    slo.objective
                ),
            ));
        }
        let indicator = match (slo.sli.events, slo.sli.raw, slo.sli.plugin) {
            (Some(events), None, None) => Indicator::Metrics(MetricIndicator::Ratio {
                good: None,
                bad: Some(events.error_query),
                total: events.total_query,
            }),
            (None, Some(raw), None) => Indicator::Metrics(MetricIndicator::RawErrorRatio {
                query: raw.error_ratio_query,
            }),
            (None, None, Some(_)) => {
                return Err(error_at(
                    &at,
                    "Sloth SLI plugins cannot be imported: rewrite the SLI as `events` or `raw`",
                ));
            }
            _ => {
                return Err(error_at(
                    &at,
                    "a Sloth SLI needs exactly one of `events`, `raw` and `plugin`",
                ));
            }
        };
        let alert_pairs = default_pairs(SLOTH_PERIOD_SECS)
            .into_iter()
            .filter(|pair| match pair.severity.as_str() {
                "page" => !slo.alerting.page_alert.disable,
                _ => !slo.alerting.ticket_alert.disable,
            })
            .collect();
        let mut labels = file.labels.clone();
        labels.extend(slo.labels);
        labels.extend(slo.alerting.labels);
        let mut annotations = slo.alerting.annotations;
        if let Some(name) = slo.alerting.name {
            annotations.insert("alertname".into(), name);
        }
        for (severity, alert) in [
            ("page", &slo.alerting.page_alert),
            ("ticket", &slo.alerting.ticket_alert),
        ] {
            for (key, value) in &alert.labels {
                annotations.insert(format!("lookout/{severity}-label.{key}"), value.clone());
            }
            for (key, value) in &alert.annotations {
                annotations.insert(
                    format!("lookout/{severity}-annotation.{key}"),
                    value.clone(),
                );
            }
        }
        specs.push(SloSpec {
            display_name: slo.name.clone(),
            id,
            service: file.service.clone(),
            description: slo.description,
            objective,
            window: SloWindow::Rolling {
                duration_secs: SLOTH_PERIOD_SECS,
            },
            budgeting: BudgetingMethod::Occurrences,
            indicator,
            alert_pairs,
            alert_when_no_data: false,
            labels,
            annotations,
            maintenance: Vec::new(),
            notification_targets: Vec::new(),
            source: at,
        });
    }
    Ok(specs)
}

fn slo_location(location: &SourceLocation, text: &str, name: &str) -> SourceLocation {
    let line = text
        .lines()
        .position(|line| {
            let trimmed = line.trim_start().trim_start_matches("- ").trim();
            trimmed.starts_with("name:")
                && trimmed["name:".len()..].trim().trim_matches(['"', '\'']) == name
        })
        .map_or(location.line, |offset| location.line + offset);
    SourceLocation {
        file: location.file.clone(),
        line,
    }
}

/// The OpenSLO v1 documents (YAML, `---`-separated) equivalent to `spec`: one SLO with an
/// inline SLI and, unless the pairs are the defaults, one inline policy per pair.
pub fn to_openslo_yaml(spec: &SloSpec) -> Result<String, String> {
    let holder = |source_type: &str, filter, query: Option<String>| MetricHolder {
        metric_source: MetricSource {
            metric_source_ref: None,
            source_type: source_type.to_owned(),
            spec: SourceSpec { filter, query },
        },
    };
    let ratio = match &spec.indicator {
        Indicator::Spans(events) | Indicator::Logs(events) => {
            let source_type = if matches!(spec.indicator, Indicator::Spans(_)) {
                "otel-traces"
            } else {
                "otel-logs"
            };
            RatioMetric {
                counter: true,
                good: events
                    .good
                    .clone()
                    .map(|f| holder(source_type, Some(f), None)),
                bad: events
                    .bad
                    .clone()
                    .map(|f| holder(source_type, Some(f), None)),
                total: Some(holder(source_type, Some(events.total.clone()), None)),
                ..RatioMetric::default()
            }
        }
        Indicator::Metrics(MetricIndicator::Ratio { good, bad, total }) => RatioMetric {
            counter: true,
            good: good.clone().map(|q| holder("otel-metrics", None, Some(q))),
            bad: bad.clone().map(|q| holder("otel-metrics", None, Some(q))),
            total: Some(holder("otel-metrics", None, Some(total.clone()))),
            ..RatioMetric::default()
        },
        Indicator::Metrics(MetricIndicator::RawErrorRatio { query }) => RatioMetric {
            raw_type: Some("failure".into()),
            raw: Some(holder("otel-metrics", None, Some(query.clone()))),
            ..RatioMetric::default()
        },
    };
    let time_window = match &spec.window {
        SloWindow::Rolling { duration_secs } => TimeWindowDoc {
            duration: format_duration_secs(*duration_secs),
            is_rolling: true,
            calendar: None,
        },
        SloWindow::Calendar {
            unit,
            count,
            start,
            time_zone,
        } => TimeWindowDoc {
            duration: format!("{count}{}", unit.suffix()),
            is_rolling: false,
            calendar: Some(CalendarDoc {
                start_time: start.clone(),
                time_zone: time_zone.clone(),
            }),
        },
    };
    let (time_slice_target, time_slice_window) = match &spec.budgeting {
        BudgetingMethod::Occurrences => (None, None),
        BudgetingMethod::Timeslices { slice_secs, target } => {
            (Some(*target), Some(format_duration_secs(*slice_secs)))
        }
        BudgetingMethod::RatioTimeslices { slice_secs } => {
            (None, Some(format_duration_secs(*slice_secs)))
        }
    };
    let alert_policies = if spec.alert_pairs == default_pairs(spec.window.nominal_secs()) {
        Vec::new()
    } else {
        spec.alert_pairs
            .iter()
            .map(|pair| {
                let mut annotations = BTreeMap::new();
                if pair.short_window_secs != pair.long_window_secs / 12 {
                    annotations.insert(
                        SHORT_WINDOW_ANNOTATION.to_owned(),
                        format_duration_secs(pair.short_window_secs),
                    );
                }
                PolicyItem::Inline(Box::new(Document {
                    api_version: API_VERSION.into(),
                    kind: "AlertPolicy".into(),
                    metadata: Metadata {
                        name: format!("{}-{}", spec.id, pair.name),
                        ..Metadata::default()
                    },
                    spec: AlertPolicySpec {
                        alert_when_no_data: spec.alert_when_no_data,
                        alert_when_resolved: true,
                        alert_when_breaching: true,
                        conditions: vec![ConditionItem::Inline(Box::new(Document {
                            api_version: API_VERSION.into(),
                            kind: "AlertCondition".into(),
                            metadata: Metadata {
                                name: pair.name.clone(),
                                annotations,
                                ..Metadata::default()
                            },
                            spec: AlertConditionSpec {
                                description: None,
                                severity: pair.severity.clone(),
                                condition: ConditionDoc {
                                    kind: "burnrate".into(),
                                    op: Some("gt".into()),
                                    threshold: pair.burn_rate_threshold,
                                    lookback_window: format_duration_secs(pair.long_window_secs),
                                    alert_after: None,
                                },
                            },
                        }))],
                        ..AlertPolicySpec::default()
                    },
                }))
            })
            .collect()
    };
    let document = Document {
        api_version: API_VERSION.into(),
        kind: "SLO".into(),
        metadata: Metadata {
            name: spec.id.to_string(),
            display_name: Some(spec.display_name.clone()),
            labels: spec
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), super::openslo::LabelValue::One(v.clone())))
                .collect(),
            annotations: spec.annotations.clone(),
        },
        spec: SloDocSpec {
            description: (!spec.description.is_empty()).then(|| spec.description.clone()),
            service: spec.service.clone(),
            indicator: Some(InlineSli {
                metadata: Metadata {
                    name: format!("{}-sli", spec.id),
                    ..Metadata::default()
                },
                spec: SliSpec {
                    ratio_metric: Some(ratio),
                    ..SliSpec::default()
                },
            }),
            indicator_ref: None,
            time_window: vec![time_window],
            budgeting_method: spec.budgeting.name().into(),
            objectives: vec![ObjectiveDoc {
                target: Some(spec.objective),
                time_slice_target,
                time_slice_window,
                ..ObjectiveDoc::default()
            }],
            alert_policies,
            maintenance_windows: spec
                .maintenance
                .iter()
                .map(|m| super::openslo::MaintenanceDoc {
                    start: rfc3339(m.start_unix_secs),
                    end: rfc3339(m.end_unix_secs),
                    comment: (!m.comment.is_empty()).then(|| m.comment.clone()),
                })
                .collect(),
        },
    };
    serde_norway::to_string(&document).map_err(|error| error.to_string())
}

fn rfc3339(unix_secs: i64) -> String {
    chrono::DateTime::from_timestamp(unix_secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
