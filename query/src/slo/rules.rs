//! Loading SLO rule files: split multi-document YAML, read OpenSLO v1 (and Sloth
//! `prometheus/v1`) documents, follow references across files, apply defaults, and report
//! every problem as `file:line: message`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use lookout_model::slo::{
    BudgetingMethod, BurnRatePair, EventFilter, EventIndicator, Indicator, MaintenanceWindow,
    MetricIndicator, NotificationTarget, SloId, SloSpec, SloWindow, SourceLocation,
};
use serde::de::DeserializeOwned;

use super::calendar;
use super::classify;
use super::duration::{parse_calendar, parse_window_secs};
use super::openslo::{
    API_VERSION, AlertConditionSpec, AlertPolicySpec, ConditionItem, Document, Header,
    MetricHolder, NotificationTargetSpec, PolicyItem, SHORT_WINDOW_ANNOTATION, ServiceSpec,
    SliSpec, SloDocSpec, TargetItem,
};
use super::sloth;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The SLO (or file) is not loaded.
    Error,
    /// Loaded, but probably not what was meant.
    Warning,
}

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub level: Level,
    /// Where.
    pub location: SourceLocation,
    /// What, lowercase.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        write!(
            f,
            "{}:{}: {level}: {}",
            self.location.file, self.location.line, self.message
        )
    }
}

/// Everything loaded from a folder.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// Valid SLOs, sorted by id.
    pub slos: Vec<SloSpec>,
    /// Errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// Files read.
    pub files: Vec<PathBuf>,
}

impl RuleSet {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.level == Level::Error)
    }
}

/// A document with where it starts.
struct Located<T> {
    value: T,
    location: SourceLocation,
    text: String,
}

#[derive(Default)]
struct Documents {
    services: BTreeMap<String, Located<Document<ServiceSpec>>>,
    slis: BTreeMap<String, Located<Document<SliSpec>>>,
    slos: Vec<Located<Document<SloDocSpec>>>,
    policies: BTreeMap<String, Located<Document<AlertPolicySpec>>>,
    conditions: BTreeMap<String, Located<Document<AlertConditionSpec>>>,
    targets: BTreeMap<String, Located<Document<NotificationTargetSpec>>>,
    /// SLOs already resolved (Sloth files).
    resolved: Vec<SloSpec>,
}

/// Loads every `*.yaml` / `*.yml` file below `dir` (recursively, sorted).
pub fn load_dir(dir: &Path) -> RuleSet {
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    collect_files(dir, &mut files, &mut diagnostics);
    files.sort();
    let mut sources = Vec::new();
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(text) => sources.push((file.display().to_string(), text)),
            Err(error) => diagnostics.push(Diagnostic {
                level: Level::Error,
                location: SourceLocation {
                    file: file.display().to_string(),
                    line: 1,
                },
                message: format!("failed to read file: {error}"),
            }),
        }
    }
    let mut rules = load_sources(&sources);
    diagnostics.append(&mut rules.diagnostics);
    rules.diagnostics = diagnostics;
    rules.files = files;
    rules
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>, diagnostics: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            diagnostics.push(Diagnostic {
                level: Level::Error,
                location: SourceLocation {
                    file: dir.display().to_string(),
                    line: 0,
                },
                message: format!("failed to read directory: {error}"),
            });
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, files, diagnostics);
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            files.push(path);
        }
    }
}

/// Loads from in-memory `(file name, text)` pairs; references may cross files.
pub fn load_sources(sources: &[(String, String)]) -> RuleSet {
    let mut diagnostics = Vec::new();
    let mut documents = Documents::default();
    for (file, text) in sources {
        for (line, doc) in split_documents(text) {
            let location = SourceLocation {
                file: file.clone(),
                line,
            };
            if let Err(diagnostic) = read_document(&mut documents, &location, &doc) {
                diagnostics.push(diagnostic);
            }
        }
    }
    let mut slos = std::mem::take(&mut documents.resolved);
    for slo in &documents.slos {
        match resolve_slo(&documents, slo, &mut diagnostics) {
            Ok(spec) => slos.push(spec),
            Err(diagnostic) => diagnostics.push(diagnostic),
        }
    }
    let mut seen = BTreeMap::new();
    let mut unique = Vec::with_capacity(slos.len());
    for slo in slos {
        if let Some(first) = seen.get(&slo.id) {
            diagnostics.push(Diagnostic {
                level: Level::Error,
                location: slo.source.clone(),
                message: format!("SLO `{}` is already defined at {first}", slo.id),
            });
            continue;
        }
        seen.insert(
            slo.id.clone(),
            format!("{}:{}", slo.source.file, slo.source.line),
        );
        warn_about(&documents, &slo, &mut diagnostics);
        unique.push(slo);
    }
    unique.sort_by(|a, b| a.id.cmp(&b.id));
    RuleSet {
        slos: unique,
        diagnostics,
        files: Vec::new(),
    }
}

/// Splits YAML text at `---` lines; returns (1-based line of the document's first line,
/// text), skipping documents with nothing but comments and blanks.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut documents = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (index, line) in text.lines().enumerate() {
        if line.starts_with("---") || line.trim_end() == "..." {
            documents.push((start, std::mem::take(&mut current)));
            start = index + 2;
            // `--- key: value` on the separator line: keep the rest as the first line.
            let rest = line.trim_start_matches('-').trim();
            if line.starts_with("---") && !rest.is_empty() && !rest.starts_with('#') {
                current.push_str(rest);
                current.push('\n');
                start = index + 1;
            }
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    documents.push((start, current));
    // A document is located at its first line of content, after blanks and comments.
    documents
        .into_iter()
        .filter_map(|(start, text)| {
            let offset = text.lines().position(|line| {
                let trimmed = line.trim();
                !trimmed.is_empty() && !trimmed.starts_with('#')
            })?;
            Some((
                start + offset,
                text.lines()
                    .skip(offset)
                    .map(|l| format!("{l}\n"))
                    .collect(),
            ))
        })
        .collect()
}

pub(super) fn parse<T: DeserializeOwned>(
    location: &SourceLocation,
    text: &str,
) -> Result<T, Diagnostic> {
    serde_norway::from_str(text).map_err(|error| {
        let line = error.location().map_or(location.line, |l| {
            location.line + l.line().saturating_sub(1)
        });
        let mut message = error.to_string();
        // The library appends "at line N column M" relative to the document: drop it, the
        // location is in front.
        if let Some(cut) = message.find(" at line ") {
            message.truncate(cut);
        }
        Diagnostic {
            level: Level::Error,
            location: SourceLocation {
                file: location.file.clone(),
                line,
            },
            message,
        }
    })
}

pub(super) fn error_at(location: &SourceLocation, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        level: Level::Error,
        location: location.clone(),
        message: message.into(),
    }
}

/// The location of the first line of `text` that holds `key:`, else the document start.
pub(super) fn key_location(location: &SourceLocation, text: &str, key: &str) -> SourceLocation {
    let needle = format!("{key}:");
    let line = text
        .lines()
        .position(|line| {
            line.match_indices(&needle).any(|(at, _)| {
                line[..at]
                    .chars()
                    .next_back()
                    .is_none_or(|c| matches!(c, ' ' | '{' | ',' | '-' | '['))
            })
        })
        .map_or(location.line, |offset| location.line + offset);
    SourceLocation {
        file: location.file.clone(),
        line,
    }
}

fn read_document(
    documents: &mut Documents,
    location: &SourceLocation,
    text: &str,
) -> Result<(), Diagnostic> {
    let header: Header = parse(location, text)?;
    if header.version.as_deref() == Some(sloth::SLOTH_VERSION) {
        let specs = sloth::read(location, text)?;
        documents.resolved.extend(specs);
        return Ok(());
    }
    let api_version = header.api_version.unwrap_or_default();
    if api_version != API_VERSION {
        return Err(error_at(
            &key_location(location, text, "apiVersion"),
            format!(
                "unsupported apiVersion `{api_version}`: use `{API_VERSION}` (or a Sloth `version: prometheus/v1` file)"
            ),
        ));
    }
    let kind = header.kind.unwrap_or_default();
    fn insert<S>(
        map: &mut BTreeMap<String, Located<Document<S>>>,
        kind: &str,
        value: Document<S>,
        location: &SourceLocation,
        text: &str,
    ) -> Result<(), Diagnostic> {
        let name = value.metadata.name.clone();
        if let Some(existing) = map.get(&name) {
            return Err(error_at(
                location,
                format!(
                    "{kind} `{name}` is already defined at {}:{}",
                    existing.location.file, existing.location.line
                ),
            ));
        }
        map.insert(
            name,
            Located {
                value,
                location: location.clone(),
                text: text.to_owned(),
            },
        );
        Ok(())
    }
    match kind.as_str() {
        "SLO" => {
            let value = parse(location, text)?;
            documents.slos.push(Located {
                value,
                location: location.clone(),
                text: text.to_owned(),
            });
            Ok(())
        }
        "SLI" => insert(
            &mut documents.slis,
            "SLI",
            parse(location, text)?,
            location,
            text,
        ),
        "Service" => insert(
            &mut documents.services,
            "Service",
            parse(location, text)?,
            location,
            text,
        ),
        "AlertPolicy" => insert(
            &mut documents.policies,
            "AlertPolicy",
            parse(location, text)?,
            location,
            text,
        ),
        "AlertCondition" => insert(
            &mut documents.conditions,
            "AlertCondition",
            parse(location, text)?,
            location,
            text,
        ),
        "AlertNotificationTarget" => insert(
            &mut documents.targets,
            "AlertNotificationTarget",
            parse(location, text)?,
            location,
            text,
        ),
        "DataSource" => Ok(()),
        other => Err(error_at(
            &key_location(location, text, "kind"),
            format!(
                "unknown kind `{other}`: expected Service, SLI, SLO, AlertPolicy, AlertCondition, AlertNotificationTarget or DataSource"
            ),
        )),
    }
}

fn resolve_slo(
    documents: &Documents,
    slo: &Located<Document<SloDocSpec>>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<SloSpec, Diagnostic> {
    let metadata = &slo.value.metadata;
    let doc = &slo.value.spec;
    let at = |key: &str| key_location(&slo.location, &slo.text, key);
    let id = SloId::new(&metadata.name).map_err(|e| error_at(&at("name"), e.to_string()))?;

    let [objective] = doc.objectives.as_slice() else {
        return Err(error_at(
            &at("objectives"),
            format!(
                "SLO `{id}` has {} objectives: Lookout evaluates exactly one per SLO (split it into several SLOs)",
                doc.objectives.len()
            ),
        ));
    };
    let target = match (objective.target, objective.target_percent) {
        (Some(target), None) => target,
        (None, Some(percent)) => percent / 100.0,
        _ => {
            return Err(error_at(
                &at("objectives"),
                "an objective needs exactly one of `target` and `targetPercent`",
            ));
        }
    };
    if !(target > 0.0 && target < 1.0) {
        return Err(error_at(
            &at("target"),
            format!("objective target {target} must be strictly between 0 and 1 (e.g. 0.999)"),
        ));
    }
    if objective.op.is_some() || objective.value.is_some() {
        return Err(error_at(
            &at("op"),
            "threshold objectives (`op`, `value`) are not supported: express the SLI as a ratio of good (or bad) over total events",
        ));
    }

    let [time_window] = doc.time_window.as_slice() else {
        return Err(error_at(
            &at("timeWindow"),
            "`timeWindow` must hold exactly one window",
        ));
    };
    let window = if time_window.is_rolling {
        if time_window.calendar.is_some() {
            return Err(error_at(
                &at("calendar"),
                "a rolling window takes no `calendar` (set `isRolling: false` for calendar windows)",
            ));
        }
        let duration_secs = parse_window_secs(&time_window.duration)
            .map_err(|message| error_at(&at("duration"), message))?;
        if !duration_secs.is_multiple_of(60) {
            return Err(error_at(
                &at("duration"),
                "the SLO window must be whole minutes",
            ));
        }
        SloWindow::Rolling { duration_secs }
    } else {
        let calendar_doc = time_window.calendar.as_ref().ok_or_else(|| {
            error_at(
                &at("timeWindow"),
                "a calendar window (`isRolling: false`) needs `calendar: {startTime, timeZone}`",
            )
        })?;
        let (unit, count) = parse_calendar(&time_window.duration)
            .map_err(|message| error_at(&at("duration"), message))?;
        calendar::validate(&calendar_doc.start_time, &calendar_doc.time_zone)
            .map_err(|message| error_at(&at("calendar"), message))?;
        SloWindow::Calendar {
            unit,
            count,
            start: calendar_doc.start_time.clone(),
            time_zone: calendar_doc.time_zone.clone(),
        }
    };

    let slice_secs = |required: bool| -> Result<u64, Diagnostic> {
        let Some(text) = &objective.time_slice_window else {
            if required {
                return Err(error_at(
                    &at("budgetingMethod"),
                    format!(
                        "{} needs `timeSliceWindow` in the objective",
                        doc.budgeting_method
                    ),
                ));
            }
            return Ok(0);
        };
        let secs =
            parse_window_secs(text).map_err(|message| error_at(&at("timeSliceWindow"), message))?;
        if !secs.is_multiple_of(60) {
            return Err(error_at(
                &at("timeSliceWindow"),
                "`timeSliceWindow` must be whole minutes",
            ));
        }
        Ok(secs)
    };
    let budgeting = match doc.budgeting_method.as_str() {
        "Occurrences" => BudgetingMethod::Occurrences,
        "Timeslices" => {
            let target = objective.time_slice_target.ok_or_else(|| {
                error_at(
                    &at("budgetingMethod"),
                    "Timeslices needs `timeSliceTarget` in the objective",
                )
            })?;
            if !(target > 0.0 && target <= 1.0) {
                return Err(error_at(
                    &at("timeSliceTarget"),
                    "`timeSliceTarget` must be in (0, 1]",
                ));
            }
            BudgetingMethod::Timeslices {
                slice_secs: slice_secs(true)?,
                target,
            }
        }
        "RatioTimeslices" => BudgetingMethod::RatioTimeslices {
            slice_secs: slice_secs(true)?,
        },
        other => {
            return Err(error_at(
                &at("budgetingMethod"),
                format!(
                    "unknown budgetingMethod `{other}`: use Occurrences, Timeslices or RatioTimeslices"
                ),
            ));
        }
    };

    let (sli_spec, sli_location, sli_text) = match (&doc.indicator, &doc.indicator_ref) {
        (Some(inline), None) => (&inline.spec, at("indicator"), slo.text.as_str()),
        (None, Some(name)) => {
            let found = documents
                .slis
                .get(name)
                .ok_or_else(|| error_at(&at("indicatorRef"), format!("unknown SLI `{name}`")))?;
            (
                &found.value.spec,
                found.location.clone(),
                found.text.as_str(),
            )
        }
        _ => {
            return Err(error_at(
                &slo.location,
                "an SLO needs exactly one of `indicator` and `indicatorRef`",
            ));
        }
    };
    let indicator = resolve_indicator(sli_spec, &sli_location, sli_text)?;

    let period_secs = window.nominal_secs();
    let mut alert_pairs = Vec::new();
    let mut alert_when_no_data = false;
    let mut notification_targets: Vec<NotificationTarget> = Vec::new();
    if doc.alert_policies.is_empty() {
        alert_pairs = default_pairs(period_secs);
    }
    for item in &doc.alert_policies {
        let (policy, policy_location, policy_text) = match item {
            PolicyItem::Ref { alert_policy_ref } => {
                let found = documents.policies.get(alert_policy_ref).ok_or_else(|| {
                    error_at(
                        &at("alertPolicyRef"),
                        format!("unknown AlertPolicy `{alert_policy_ref}`"),
                    )
                })?;
                (&found.value, found.location.clone(), found.text.as_str())
            }
            PolicyItem::Inline(policy) => (policy.as_ref(), at("alertPolicies"), slo.text.as_str()),
        };
        alert_when_no_data |= policy.spec.alert_when_no_data;
        let [condition_item] = policy.spec.conditions.as_slice() else {
            return Err(error_at(
                &policy_location,
                format!(
                    "AlertPolicy `{}` must have exactly one condition (OpenSLO v1); use one policy per burn-rate pair",
                    policy.metadata.name
                ),
            ));
        };
        let (condition, condition_location, condition_text) = match condition_item {
            ConditionItem::Ref { condition_ref } => {
                let found = documents.conditions.get(condition_ref).ok_or_else(|| {
                    error_at(
                        &key_location(&policy_location, policy_text, "conditionRef"),
                        format!("unknown AlertCondition `{condition_ref}`"),
                    )
                })?;
                (&found.value, found.location.clone(), found.text.as_str())
            }
            ConditionItem::Inline(condition) => (
                condition.as_ref(),
                key_location(&policy_location, policy_text, "conditions"),
                policy_text,
            ),
        };
        let pair = resolve_condition(condition, &condition_location, condition_text, diagnostics)?;
        for target_item in &policy.spec.notification_targets {
            let (name, target) = match target_item {
                TargetItem::Ref { target_ref } => {
                    let found = documents.targets.get(target_ref).ok_or_else(|| {
                        error_at(
                            &key_location(&policy_location, policy_text, "targetRef"),
                            format!("unknown AlertNotificationTarget `{target_ref}`"),
                        )
                    })?;
                    (target_ref.clone(), found.value.spec.target.clone())
                }
                TargetItem::Inline(target) => {
                    (target.metadata.name.clone(), target.spec.target.clone())
                }
            };
            match notification_targets.iter_mut().find(|t| t.name == name) {
                Some(existing) => {
                    if !existing.severities.contains(&pair.severity) {
                        existing.severities.push(pair.severity.clone());
                    }
                }
                None => notification_targets.push(NotificationTarget {
                    name,
                    target,
                    severities: vec![pair.severity.clone()],
                }),
            }
        }
        alert_pairs.push(pair);
    }

    let mut maintenance = Vec::new();
    for window in &doc.maintenance_windows {
        let parse_time = |text: &str| {
            chrono::DateTime::parse_from_rfc3339(text)
                .map(|t| t.timestamp())
                .map_err(|error| {
                    error_at(
                        &at("maintenanceWindows"),
                        format!("invalid maintenance time `{text}`: {error} (use RFC 3339)"),
                    )
                })
        };
        let start = parse_time(&window.start)?;
        let end = parse_time(&window.end)?;
        if end <= start {
            return Err(error_at(
                &at("maintenanceWindows"),
                "a maintenance window must end after it starts",
            ));
        }
        maintenance.push(MaintenanceWindow {
            start_unix_secs: start,
            end_unix_secs: end,
            comment: window.comment.clone().unwrap_or_default(),
        });
    }

    Ok(SloSpec {
        display_name: metadata
            .display_name
            .clone()
            .unwrap_or_else(|| id.to_string()),
        id,
        service: doc.service.clone(),
        description: doc.description.clone().unwrap_or_default(),
        objective: target,
        window,
        budgeting,
        indicator,
        alert_pairs,
        alert_when_no_data,
        labels: metadata
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.joined()))
            .collect(),
        annotations: metadata.annotations.clone(),
        maintenance,
        notification_targets,
        source: slo.location.clone(),
    })
}

fn resolve_indicator(
    sli: &SliSpec,
    location: &SourceLocation,
    text: &str,
) -> Result<Indicator, Diagnostic> {
    let at = |key: &str| key_location(location, text, key);
    if sli.threshold_metric.is_some() {
        return Err(error_at(
            &at("thresholdMetric"),
            "`thresholdMetric` SLIs are not supported: use `ratioMetric`",
        ));
    }
    let ratio = sli
        .ratio_metric
        .as_ref()
        .ok_or_else(|| error_at(location, "the SLI needs `ratioMetric`"))?;
    if let Some(raw) = &ratio.raw {
        let query = metric_query(raw, &at("raw"))?;
        return match ratio.raw_type.as_deref() {
            Some("failure") => Ok(Indicator::Metrics(MetricIndicator::RawErrorRatio { query })),
            Some("success") => Ok(Indicator::Metrics(MetricIndicator::RawErrorRatio {
                query: format!("1 - ({query})"),
            })),
            _ => Err(error_at(
                &at("rawType"),
                "a raw ratio needs `rawType: success` or `rawType: failure`",
            )),
        };
    }
    let total = ratio
        .total
        .as_ref()
        .ok_or_else(|| error_at(&at("ratioMetric"), "`ratioMetric` needs `total`"))?;
    let (numerator, is_good) = match (&ratio.good, &ratio.bad) {
        (Some(good), None) => (good, true),
        (None, Some(bad)) => (bad, false),
        _ => {
            return Err(error_at(
                &at("ratioMetric"),
                "`ratioMetric` needs exactly one of `good` and `bad`",
            ));
        }
    };
    let source_type = total.metric_source.source_type.as_str();
    if numerator.metric_source.source_type != source_type {
        return Err(error_at(
            &at("type"),
            format!(
                "`{}` and `total` must use the same metricSource type (`{}` vs `{source_type}`)",
                if is_good { "good" } else { "bad" },
                numerator.metric_source.source_type
            ),
        ));
    }
    match source_type {
        "otel-traces" | "otel-logs" => {
            let spans = source_type == "otel-traces";
            let filter = |holder: &MetricHolder, key: &str| -> Result<EventFilter, Diagnostic> {
                let filter = holder.metric_source.spec.filter.clone().ok_or_else(|| {
                    error_at(&at(key), format!("`{source_type}` needs `spec.filter`"))
                })?;
                classify::validate_filter(&filter, spans)
                    .map_err(|message| error_at(&at("filter"), message))?;
                Ok(filter)
            };
            let total_filter = filter(total, "total")?;
            let numerator_filter = filter(numerator, if is_good { "good" } else { "bad" })?;
            let events = EventIndicator {
                total: total_filter,
                good: is_good.then(|| numerator_filter.clone()),
                bad: (!is_good).then_some(numerator_filter),
            };
            Ok(if spans {
                Indicator::Spans(events)
            } else {
                Indicator::Logs(events)
            })
        }
        "otel-metrics" | "Prometheus" | "prometheus" => {
            let total = metric_query(total, &at("total"))?;
            let numerator = metric_query(numerator, &at("query"))?;
            Ok(Indicator::Metrics(MetricIndicator::Ratio {
                good: is_good.then(|| numerator.clone()),
                bad: (!is_good).then_some(numerator),
                total,
            }))
        }
        other => Err(error_at(
            &at("type"),
            format!(
                "unknown metricSource type `{other}`: use otel-traces, otel-logs or otel-metrics"
            ),
        )),
    }
}

fn metric_query(holder: &MetricHolder, location: &SourceLocation) -> Result<String, Diagnostic> {
    holder
        .metric_source
        .spec
        .query
        .clone()
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| error_at(location, "a metric source needs `spec.query` (PromQL)"))
        .and_then(|query| {
            super::metric::check_template(&query).map_err(|message| error_at(location, message))?;
            Ok(query)
        })
}

fn resolve_condition(
    condition: &Document<AlertConditionSpec>,
    location: &SourceLocation,
    text: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<BurnRatePair, Diagnostic> {
    let at = |key: &str| key_location(location, text, key);
    let spec = &condition.spec;
    if spec.condition.kind != "burnrate" {
        return Err(error_at(
            &at("kind"),
            format!(
                "unknown condition kind `{}`: only `burnrate` is supported",
                spec.condition.kind
            ),
        ));
    }
    match spec.condition.op.as_deref() {
        None | Some("gt") => {}
        Some("gte") => diagnostics.push(Diagnostic {
            level: Level::Warning,
            location: at("op"),
            message: "`op: gte` is evaluated as strict `>`, as every burn-rate threshold is".into(),
        }),
        Some(other) => {
            return Err(error_at(
                &at("op"),
                format!("burn-rate conditions compare with `gt`, not `{other}`"),
            ));
        }
    }
    if !(spec.condition.threshold.is_finite() && spec.condition.threshold > 0.0) {
        return Err(error_at(
            &at("threshold"),
            "the burn-rate threshold must be positive",
        ));
    }
    if let Some(after) = &spec.condition.alert_after {
        let zero = after
            .trim()
            .trim_end_matches(|c: char| c.is_ascii_alphabetic())
            == "0";
        if !zero {
            diagnostics.push(Diagnostic {
                level: Level::Warning,
                location: at("alertAfter"),
                message: format!(
                    "`alertAfter: {after}` is ignored: the short window already debounces burn-rate alerts"
                ),
            });
        }
    }
    let severity = spec.severity.trim().to_ascii_lowercase();
    if severity.is_empty()
        || !severity
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(error_at(
            &at("severity"),
            format!(
                "invalid severity `{}`: use a word such as page or ticket",
                spec.severity
            ),
        ));
    }
    let long_window_secs = parse_window_secs(&spec.condition.lookback_window)
        .map_err(|message| error_at(&at("lookbackWindow"), message))?;
    let short_window_secs = match condition.metadata.annotations.get(SHORT_WINDOW_ANNOTATION) {
        Some(text) => parse_window_secs(text)
            .map_err(|message| error_at(&at(SHORT_WINDOW_ANNOTATION), message))?,
        None => (long_window_secs / 12 / 60) * 60,
    };
    if !long_window_secs.is_multiple_of(60)
        || !short_window_secs.is_multiple_of(60)
        || short_window_secs == 0
    {
        return Err(error_at(
            &at("lookbackWindow"),
            "burn-rate windows must be whole minutes and the short window at least 1m",
        ));
    }
    if short_window_secs >= long_window_secs {
        return Err(error_at(
            &at("lookbackWindow"),
            "the short window must be shorter than the long window",
        ));
    }
    Ok(BurnRatePair {
        severity,
        name: condition.metadata.name.clone(),
        burn_rate_threshold: spec.condition.threshold,
        long_window_secs,
        short_window_secs,
    })
}

/// The four pairs of the SRE Workbook scaled to the period: `threshold = x * P / W_long` with
/// x = 2 %, 5 % (page) and 10 %, 10 % (ticket) over 1h, 6h, 1d and 3d.
pub fn default_pairs(period_secs: u64) -> Vec<BurnRatePair> {
    const PAIRS: [(&str, f64, u64); 4] = [
        ("page", 0.02, 3_600),
        ("page", 0.05, 6 * 3_600),
        ("ticket", 0.10, 86_400),
        ("ticket", 0.10, 3 * 86_400),
    ];
    PAIRS
        .iter()
        .map(|(severity, budget, long)| BurnRatePair {
            severity: (*severity).to_owned(),
            name: format!(
                "{severity}-{}",
                lookout_model::slo::format_duration_secs(*long)
            ),
            burn_rate_threshold: budget * period_secs as f64 / *long as f64,
            long_window_secs: *long,
            short_window_secs: long / 12,
        })
        .collect()
}

fn warn_about(documents: &Documents, slo: &SloSpec, diagnostics: &mut Vec<Diagnostic>) {
    let budget = slo.error_budget();
    for pair in &slo.alert_pairs {
        if pair.error_ratio_threshold(budget) >= 1.0 {
            diagnostics.push(Diagnostic {
                level: Level::Warning,
                location: slo.source.clone(),
                message: format!(
                    "pair `{}` of SLO `{}` can never fire: it needs an error ratio above {:.4}, and an error ratio is at most 1 (burn rate {} x budget {:.4})",
                    pair.name,
                    slo.id,
                    pair.error_ratio_threshold(budget),
                    pair.burn_rate_threshold,
                    budget
                ),
            });
        }
        if pair.long_window_secs > slo.window.nominal_secs() {
            diagnostics.push(Diagnostic {
                level: Level::Warning,
                location: slo.source.clone(),
                message: format!(
                    "pair `{}` of SLO `{}` looks back further than the SLO window",
                    pair.name, slo.id
                ),
            });
        }
    }
    if !documents.services.is_empty() && !documents.services.contains_key(&slo.service) {
        let known: BTreeSet<&String> = documents.services.keys().collect();
        diagnostics.push(Diagnostic {
            level: Level::Warning,
            location: slo.source.clone(),
            message: format!(
                "SLO `{}` names service `{}`, which no Service document defines (known: {})",
                slo.id,
                slo.service,
                known.into_iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        });
    }
}
