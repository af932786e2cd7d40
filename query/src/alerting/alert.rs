//! Alerts of SLOs: one identity per (SLO id, severity), its labels, annotations and the `slo`
//! object of the webhook payload, built from an SLO evaluation and the evidence of the burn.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use lookout_model::alerting::Acknowledgement;
use lookout_model::slo::{BadEventsResponse, SloEvaluation, SloSpec, SloWindow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::matcher::Labels;

/// The `alertname` label of every SLO burn-rate alert.
pub const ALERT_NAME: &str = "SLOBurnRate";

/// Example trace ids carried by a notification.
pub const EXAMPLE_TRACES: usize = 3;

/// One alert as the alerting state keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Hash of the labels.
    pub fingerprint: String,
    /// Routing labels.
    pub labels: Labels,
    /// `summary`, `description`, `runbook_url` and user annotations.
    pub annotations: Labels,
    /// When it started firing, Unix seconds.
    pub starts_at: i64,
    /// When it resolved; `None` while firing.
    pub ends_at: Option<i64>,
    /// Last evaluation that updated it, Unix seconds.
    pub updated_at: i64,
    /// The `slo` object of the webhook payload (SLO semantics section 5).
    pub slo: Value,
    /// The facts the email subject and body need.
    pub facts: Facts,
    /// OpenSLO notification targets of its severity.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Set when someone acknowledged it; cleared when it fires again.
    #[serde(default)]
    pub acknowledgement: Option<Acknowledgement>,
}

impl Alert {
    /// Firing at the moment.
    pub fn is_firing(&self) -> bool {
        self.ends_at.is_none()
    }
}

/// Figures of the latest evaluation, for mail and chat messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Facts {
    /// `service/name`.
    pub title: String,
    /// Severity.
    pub severity: String,
    /// Burn rate of the headline pair's short window.
    pub burn_short: Option<f64>,
    /// The headline pair's long window, e.g. `1h`.
    pub long_window: String,
    /// Burn rate of the headline pair's long window.
    pub burn_long: Option<f64>,
    /// Budget remaining (fraction, may be negative).
    pub budget_remaining: f64,
    /// Seconds until the budget is gone; `None` when nothing burns.
    pub time_to_exhaustion_secs: Option<f64>,
    /// Burn rate per window, shortest first: (window, burn rate).
    pub windows: Vec<(String, Option<f64>)>,
    /// Largest bad-event groups: (labels as text, bad events).
    pub top_bad_groups: Vec<(String, u64)>,
    /// Example trace ids.
    pub example_trace_ids: Vec<String>,
    /// Runbook, if any.
    pub runbook_url: Option<String>,
    /// The SLO page.
    pub dashboard_url: String,
}

/// What one evaluation says about one alert identity.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertUpdate {
    /// Labels (identity).
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// Whether it fires now.
    pub firing: bool,
    /// Evaluation time, Unix seconds.
    pub evaluated_at: i64,
    /// `slo` object.
    pub slo: Value,
    /// Message facts.
    pub facts: Facts,
    /// OpenSLO notification targets.
    pub targets: Vec<String>,
}

/// Alertmanager's fingerprint: FNV-1a 64 over sorted label names and values, each followed by
/// the byte 0xff, as 16 hex digits.
pub fn fingerprint(labels: &Labels) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for (name, value) in labels {
        for byte in name
            .bytes()
            .chain([0xff])
            .chain(value.bytes())
            .chain([0xff])
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    format!("{hash:016x}")
}

/// RFC 3339 in UTC with whole seconds, as Go prints such times.
pub fn rfc3339(unix_secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix_secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The short name of an SLO: its id without the `service-` prefix.
pub fn slo_name(spec: &SloSpec) -> String {
    spec.id
        .as_str()
        .strip_prefix(&format!("{}-", spec.service))
        .unwrap_or(spec.id.as_str())
        .to_owned()
}

/// One update per severity of `spec`'s pairs.
pub fn updates_from_evaluation(
    spec: &SloSpec,
    evaluation: &SloEvaluation,
    evidence: Option<&BadEventsResponse>,
    external_url: &str,
) -> Vec<AlertUpdate> {
    let mut severities: Vec<&String> = spec.alert_pairs.iter().map(|p| &p.severity).collect();
    severities.sort();
    severities.dedup();
    severities
        .into_iter()
        .map(|severity| update_for(spec, evaluation, evidence, external_url, severity))
        .collect()
}

fn update_for(
    spec: &SloSpec,
    evaluation: &SloEvaluation,
    evidence: Option<&BadEventsResponse>,
    external_url: &str,
    severity: &str,
) -> AlertUpdate {
    let name = slo_name(spec);
    let mut labels = Labels::new();
    for (key, value) in &spec.labels {
        labels.insert(key.clone(), value.clone());
    }
    labels.insert("alertname".into(), ALERT_NAME.into());
    labels.insert("slo".into(), spec.id.to_string());
    labels.insert("service".into(), spec.service.clone());
    labels.insert("severity".into(), severity.to_owned());

    let pairs: Vec<_> = evaluation
        .pairs
        .iter()
        .filter(|p| p.severity == severity)
        .collect();
    let active: Vec<_> = pairs.iter().filter(|p| p.active).copied().collect();
    // The headline: the fastest active pair, else the fastest pair of the severity.
    let headline = active.iter().chain(pairs.iter()).copied().max_by(|a, b| {
        let rank = |p: &lookout_model::slo::PairStatus| (p.active, p.burn_rate_threshold);
        let (a_active, a_thr) = rank(a);
        let (b_active, b_thr) = rank(b);
        a_active.cmp(&b_active).then(a_thr.total_cmp(&b_thr))
    });
    let dashboard_url = format!("{external_url}/slos/{}", spec.id);
    let runbook_url = spec
        .annotations
        .get("runbook_url")
        .or_else(|| spec.annotations.get("runbook"))
        .cloned();

    let mut annotations = Labels::new();
    for (key, value) in &spec.annotations {
        annotations.insert(key.clone(), value.clone());
    }
    let burn_text = headline
        .and_then(|p| p.short.burn_rate)
        .map_or_else(|| "-".to_owned(), |b| format!("{b:.1}×"));
    annotations.entry("summary".into()).or_insert_with(|| {
        format!(
            "{}/{name}: error budget burning at {burn_text}",
            spec.service
        )
    });
    annotations.entry("description".into()).or_insert_with(|| {
        if spec.description.is_empty() {
            format!(
                "SLO {} ({} over {}) burns its error budget too fast; {:.1} % of the budget is left",
                spec.id,
                spec.objective,
                spec.window.display(),
                evaluation.budget.remaining * 100.0
            )
        } else {
            spec.description.clone()
        }
    });
    if let Some(runbook) = &runbook_url {
        annotations.insert("runbook_url".into(), runbook.clone());
    }
    annotations.remove("runbook");

    let active_pairs: Vec<Value> = active
        .iter()
        .map(|p| {
            json!({
                "burnRateThreshold": p.burn_rate_threshold,
                "longWindow": p.long_window,
                "shortWindow": p.short_window,
                "errorRatioThreshold": p.error_ratio_threshold,
                "budgetConsumedAtThreshold": p.budget_consumed_at_threshold,
                "errorRatioLong": p.long.error_ratio,
                "errorRatioShort": p.short.error_ratio,
                "burnRateLong": p.long.burn_rate,
                "burnRateShort": p.short.burn_rate,
                "badLong": p.long.bad,
                "totalLong": p.long.total,
            })
        })
        .collect();
    let mut top_bad_groups = Vec::new();
    let mut top_bad_json = Vec::new();
    let mut example_trace_ids: Vec<String> = Vec::new();
    let mut example_log_ids: Vec<String> = Vec::new();
    if let Some(evidence) = evidence {
        for group in evidence.groups.iter().take(5) {
            let mut object = serde_json::Map::new();
            for (key, value) in &group.labels {
                if !value.is_empty() {
                    object.insert(key.clone(), Value::String(value.clone()));
                }
            }
            let text = object
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(" ");
            object.insert("bad".into(), json!(group.bad));
            top_bad_json.push(Value::Object(object));
            top_bad_groups.push((text, group.bad));
        }
        // Examples round-robin over the groups, so three traces show three causes if there are.
        let longest = evidence
            .groups
            .iter()
            .map(|g| g.example_trace_ids.len())
            .max()
            .unwrap_or(0);
        'outer: for index in 0..longest {
            for group in &evidence.groups {
                if let Some(id) = group.example_trace_ids.get(index)
                    && !example_trace_ids.contains(id)
                {
                    example_trace_ids.push(id.clone());
                    if example_trace_ids.len() == EXAMPLE_TRACES {
                        break 'outer;
                    }
                }
            }
        }
        for log in evidence.groups.iter().flat_map(|g| &g.example_logs).take(3) {
            example_log_ids.push(match &log.span_id {
                Some(span) => format!("{}-{span}", log.timestamp_unix_nanos),
                None => log.timestamp_unix_nanos.to_string(),
            });
        }
    }
    let budget = &evaluation.budget;
    let slo = json!({
        "id": spec.id,
        "name": name,
        "service": spec.service,
        "objective": spec.objective,
        "window": spec.window.display(),
        "windowType": match spec.window {
            SloWindow::Rolling { .. } => "rolling",
            SloWindow::Calendar { .. } => "calendar",
        },
        "budgetingMethod": spec.budgeting.name(),
        "errorBudget": spec.error_budget(),
        "severity": severity,
        "activePairs": active_pairs,
        "budget": {
            "consumed": budget.consumed,
            "remaining": budget.remaining,
            "timeToExhaustionSeconds": budget.time_to_exhaustion_secs,
        },
        "evaluatedAt": rfc3339(evaluation.evaluated_at_unix_secs),
        "dashboardURL": dashboard_url,
        "evidence": {
            "topBadGroups": top_bad_json,
            "exampleTraceIds": example_trace_ids,
            "exampleLogIds": example_log_ids,
        },
    });
    let facts = Facts {
        title: format!("{}/{name}", spec.service),
        severity: severity.to_owned(),
        burn_short: headline.and_then(|p| p.short.burn_rate),
        long_window: headline.map(|p| p.long_window.clone()).unwrap_or_default(),
        burn_long: headline.and_then(|p| p.long.burn_rate),
        budget_remaining: budget.remaining,
        time_to_exhaustion_secs: budget.time_to_exhaustion_secs,
        windows: evaluation
            .windows
            .iter()
            .map(|w| (w.window.clone(), w.burn_rate))
            .collect(),
        top_bad_groups,
        example_trace_ids,
        runbook_url,
        dashboard_url,
    };
    AlertUpdate {
        labels,
        annotations,
        firing: evaluation.firing.iter().any(|s| s == severity),
        evaluated_at: evaluation.evaluated_at_unix_secs,
        slo,
        facts,
        targets: spec
            .notification_targets
            .iter()
            .filter(|t| t.severities.iter().any(|s| s == severity))
            .map(|t| t.target.clone())
            .collect(),
    }
}

/// Labels as `{a="1", b="2"}`.
pub fn format_labels(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_order_free() {
        let a: Labels = [("a", "1"), ("b", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let b: Labels = [("b", "2"), ("a", "1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a).len(), 16);
        assert_ne!(fingerprint(&a), fingerprint(&Labels::new()));
        // FNV-1a 64 of the empty input is its offset basis.
        assert_eq!(fingerprint(&Labels::new()), "cbf29ce484222325");
    }

    #[test]
    fn go_style_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
