//! Metric SLIs: PromQL ratios evaluated with Prometheus' own semantics. Each window is one
//! PromQL evaluation with `{{.window}}` replaced by the window (as Sloth and Pyrra generate
//! their rules), so burn rates and alert timelines match what Prometheus gave; time-slice
//! budgeting evaluates one slice per step and keeps the finished slices.

use std::collections::{BTreeMap, HashMap};

use lookout_model::TenantId;
use lookout_model::slo::{BudgetingMethod, Indicator, MetricIndicator, SloSpec};

use super::series::{
    BUCKET_SECS, Counts, SliceSeries, intervals_read, lookback_buckets, slice_value,
};
use crate::promql::{Engine, Millis, PromqlError, QueryValue};

/// Where the window goes in a metric query.
pub const WINDOW_PLACEHOLDER: &str = "{{.window}}";

/// The PromQL templates of one metric SLI.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricQueries {
    /// `bad / total`, or `(total - good) / total` when `numerator_is_good`.
    Ratio {
        /// Good or bad events over the window.
        numerator: String,
        /// Whether `numerator` counts good events.
        numerator_is_good: bool,
        /// All events over the window.
        total: String,
    },
    /// The error ratio over the window.
    RawErrorRatio(String),
}

impl MetricQueries {
    /// The templates of a metric indicator, checked: each must contain `{{.window}}` and
    /// parse as PromQL once the window is in place.
    pub fn new(indicator: &MetricIndicator) -> Result<Self, String> {
        let queries = match indicator {
            MetricIndicator::Ratio { good, bad, total } => {
                let (numerator, numerator_is_good) = match (good, bad) {
                    (Some(good), None) => (good.clone(), true),
                    (None, Some(bad)) => (bad.clone(), false),
                    _ => return Err("a metric ratio needs exactly one of good and bad".into()),
                };
                MetricQueries::Ratio {
                    numerator,
                    numerator_is_good,
                    total: total.clone(),
                }
            }
            MetricIndicator::RawErrorRatio { query } => MetricQueries::RawErrorRatio(query.clone()),
        };
        for template in queries.templates() {
            check_template(template)?;
        }
        Ok(queries)
    }

    fn templates(&self) -> Vec<&str> {
        match self {
            MetricQueries::Ratio {
                numerator, total, ..
            } => vec![numerator, total],
            MetricQueries::RawErrorRatio(query) => vec![query],
        }
    }
}

/// Checks one query template: it names the window and parses.
pub fn check_template(template: &str) -> Result<(), String> {
    if !template.contains(WINDOW_PLACEHOLDER) && !template.contains("{{ .window }}") {
        return Err(format!(
            "metric query `{template}` has no `{WINDOW_PLACEHOLDER}`: write the window as a \
             placeholder, e.g. sum(rate(http_requests_total{{code=~\"5..\"}}[{WINDOW_PLACEHOLDER}]))"
        ));
    }
    crate::promql::parse(&render(template, 300))
        .map(|_| ())
        .map_err(|error| format!("metric query `{template}` is not valid PromQL: {error}"))
}

/// `template` with the window of `window_secs` in place, as a Prometheus duration.
pub fn render(template: &str, window_secs: u64) -> String {
    let window = prometheus_duration(window_secs);
    template
        .replace(WINDOW_PLACEHOLDER, &window)
        .replace("{{ .window }}", &window)
}

fn prometheus_duration(secs: u64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// The finished slices of a metric SLI with time-slice budgeting: slice index -> value
/// (see [`slice_value`]).
pub type SliceCache = BTreeMap<i64, Option<f64>>;

/// Evaluates a metric SLI for the evaluation at `t` and returns what the evaluator reads.
/// `slices` keeps finished slices between calls (live evaluation) or starts empty
/// (backtests).
pub async fn counts_at(
    engine: &Engine,
    tenant: &TenantId,
    spec: &SloSpec,
    queries: &MetricQueries,
    t_unix_secs: i64,
    slices: &mut SliceCache,
) -> Result<Counts, PromqlError> {
    match slice_secs(spec) {
        None => {
            let mut values = HashMap::new();
            for (after, until) in intervals_read(spec, t_unix_secs) {
                let window_secs = (until - after).max(0) as u64;
                if window_secs == 0 {
                    continue;
                }
                let value = interval(engine, tenant, queries, window_secs, until).await?;
                values.insert((after, until), value);
            }
            Ok(Counts::Intervals(values))
        }
        Some(slice) => {
            let slice_buckets = (slice / BUCKET_SECS).max(1);
            let last = t_unix_secs.div_euclid(slice);
            let first = last - lookback_buckets(spec) / slice_buckets - 1;
            slices.retain(|j, _| *j >= first);
            let missing_from = (first..=last).find(|j| !slices.contains_key(j));
            if let Some(from) = missing_from {
                let computed =
                    slice_values(engine, tenant, spec, queries, slice, from, last).await?;
                slices.extend(computed);
            }
            let values = (first..=last).map(|j| slices.get(&j).copied().flatten());
            Ok(Counts::Slices(SliceSeries::from_values(
                first,
                slice_buckets,
                values,
            )))
        }
    }
}

/// The slice length in seconds under a time-slice budgeting method.
fn slice_secs(spec: &SloSpec) -> Option<i64> {
    match &spec.budgeting {
        BudgetingMethod::Occurrences => None,
        BudgetingMethod::Timeslices { slice_secs, .. }
        | BudgetingMethod::RatioTimeslices { slice_secs } => {
            Some((*slice_secs as i64).max(BUCKET_SECS) / BUCKET_SECS * BUCKET_SECS)
        }
    }
}

/// (bad, total) over the window ending at `until`: one instant evaluation per query.
async fn interval(
    engine: &Engine,
    tenant: &TenantId,
    queries: &MetricQueries,
    window_secs: u64,
    until: i64,
) -> Result<(f64, f64), PromqlError> {
    let at: Millis = until * 1000;
    match queries {
        MetricQueries::Ratio {
            numerator,
            numerator_is_good,
            total,
        } => {
            let total = scalar(
                engine
                    .instant(tenant, &render(total, window_secs), at)
                    .await?,
            );
            let numerator = scalar(
                engine
                    .instant(tenant, &render(numerator, window_secs), at)
                    .await?,
            );
            Ok(ratio_counts(numerator, *numerator_is_good, total))
        }
        MetricQueries::RawErrorRatio(query) => {
            let ratio = scalar(
                engine
                    .instant(tenant, &render(query, window_secs), at)
                    .await?,
            );
            Ok(raw_counts(ratio))
        }
    }
}

/// (bad, total) from a numerator and a total. No total means no data; a missing numerator
/// beside a total means none of those events (SLO semantics §3.5).
fn ratio_counts(numerator: Option<f64>, numerator_is_good: bool, total: Option<f64>) -> (f64, f64) {
    let Some(total) = total.filter(|t| t.is_finite() && *t > 0.0) else {
        return (0.0, 0.0);
    };
    let numerator = numerator.filter(|n| n.is_finite()).unwrap_or(0.0).max(0.0);
    let bad = if numerator_is_good {
        (total - numerator).max(0.0)
    } else {
        numerator.min(total)
    };
    (bad, total)
}

/// A raw error ratio counts as `ratio` bad out of one.
fn raw_counts(ratio: Option<f64>) -> (f64, f64) {
    match ratio.filter(|r| r.is_finite()) {
        Some(ratio) => (ratio.clamp(0.0, 1.0), 1.0),
        None => (0.0, 0.0),
    }
}

/// The value of an instant query: a scalar, or the sum of a vector (`None` when empty).
fn scalar(value: QueryValue) -> Option<f64> {
    match value {
        QueryValue::Scalar { value, .. } => Some(value),
        QueryValue::Vector(samples) if !samples.is_empty() => {
            Some(samples.iter().map(|s| s.value).sum())
        }
        _ => None,
    }
}

/// Values of slices `from ..= last` (slice `j` ends at `j * slice`).
async fn slice_values(
    engine: &Engine,
    tenant: &TenantId,
    spec: &SloSpec,
    queries: &MetricQueries,
    slice: i64,
    from: i64,
    last: i64,
) -> Result<Vec<(i64, Option<f64>)>, PromqlError> {
    let window_secs = slice as u64;
    let (start, end) = (from * slice, last * slice);
    let counts_at: Box<dyn Fn(i64) -> (f64, f64)> = match queries {
        MetricQueries::Ratio {
            numerator,
            numerator_is_good,
            total,
        } => {
            let totals = range_sums(
                engine,
                tenant,
                &render(total, window_secs),
                start,
                end,
                slice,
            )
            .await?;
            let numerators = range_sums(
                engine,
                tenant,
                &render(numerator, window_secs),
                start,
                end,
                slice,
            )
            .await?;
            let numerator_is_good = *numerator_is_good;
            Box::new(move |at| {
                ratio_counts(
                    numerators.get(&at).copied(),
                    numerator_is_good,
                    totals.get(&at).copied(),
                )
            })
        }
        MetricQueries::RawErrorRatio(query) => {
            let ratios = range_sums(
                engine,
                tenant,
                &render(query, window_secs),
                start,
                end,
                slice,
            )
            .await?;
            Box::new(move |at| raw_counts(ratios.get(&at).copied()))
        }
    };
    Ok((from..=last)
        .map(|j| {
            let (bad, total) = counts_at(j * slice);
            let in_maintenance = spec
                .maintenance
                .iter()
                .any(|m| (j - 1) * slice < m.end_unix_secs && j * slice > m.start_unix_secs);
            let ratio = (total > 0.0 && !in_maintenance).then(|| 1.0 - bad / total);
            (j, slice_value(&spec.budgeting, ratio))
        })
        .collect())
}

/// A range query from `start` to `end` (unix seconds) every `step`, split into requests of
/// at most the engine's step limit; the answer's series summed per timestamp (seconds).
async fn range_sums(
    engine: &Engine,
    tenant: &TenantId,
    query: &str,
    start: i64,
    end: i64,
    step: i64,
) -> Result<BTreeMap<i64, f64>, PromqlError> {
    let max_steps = engine.config().max_steps.max(1) as i64;
    let mut sums = BTreeMap::new();
    let mut chunk_start = start;
    while chunk_start <= end {
        let chunk_end = (chunk_start + (max_steps - 1) * step).min(end);
        let value = engine
            .range(
                tenant,
                query,
                chunk_start * 1000,
                chunk_end * 1000,
                step * 1000,
            )
            .await?;
        for (at_ms, value) in matrix_sums(value) {
            sums.insert(at_ms.div_euclid(1000), value);
        }
        chunk_start = chunk_end + step;
    }
    Ok(sums)
}

/// What the evaluator reads for every evaluation time in `times` (a backtest): range
/// queries for the windows, one slice series for time-slice budgeting.
pub async fn backtest_counts(
    engine: &Engine,
    tenant: &TenantId,
    spec: &SloSpec,
    queries: &MetricQueries,
    times: &[i64],
) -> Result<Counts, PromqlError> {
    let (Some(first_t), Some(last_t)) = (times.first().copied(), times.last().copied()) else {
        return Ok(Counts::Intervals(HashMap::new()));
    };
    if let Some(slice) = slice_secs(spec) {
        let slice_buckets = (slice / BUCKET_SECS).max(1);
        let first = first_t.div_euclid(slice) - lookback_buckets(spec) / slice_buckets - 1;
        let last = last_t.div_euclid(slice);
        let values = slice_values(engine, tenant, spec, queries, slice, first, last).await?;
        return Ok(Counts::Slices(SliceSeries::from_values(
            first,
            slice_buckets,
            values.into_iter().map(|(_, v)| v),
        )));
    }
    // Interval length -> the evaluation times that read it.
    let mut by_length: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for t in times {
        for (after, until) in intervals_read(spec, *t) {
            by_length.entry(until - after).or_default().push(until);
        }
    }
    let step = if times.len() > 1 {
        times[1] - times[0]
    } else {
        BUCKET_SECS
    };
    let mut values = HashMap::new();
    for (length, untils) in by_length {
        if length <= 0 {
            continue;
        }
        let window_secs = length as u64;
        let evenly_spaced = untils.windows(2).all(|w| w[1] - w[0] == step);
        if untils.len() > 1 && evenly_spaced {
            let (first, last) = (untils[0], untils[untils.len() - 1]);
            let at = |template: &str| render(template, window_secs);
            match queries {
                MetricQueries::Ratio {
                    numerator,
                    numerator_is_good,
                    total,
                } => {
                    let totals = range_sums(engine, tenant, &at(total), first, last, step).await?;
                    let numerators =
                        range_sums(engine, tenant, &at(numerator), first, last, step).await?;
                    for until in untils {
                        let counts = ratio_counts(
                            numerators.get(&until).copied(),
                            *numerator_is_good,
                            totals.get(&until).copied(),
                        );
                        values.insert((until - length, until), counts);
                    }
                }
                MetricQueries::RawErrorRatio(query) => {
                    let ratios = range_sums(engine, tenant, &at(query), first, last, step).await?;
                    for until in untils {
                        values.insert(
                            (until - length, until),
                            raw_counts(ratios.get(&until).copied()),
                        );
                    }
                }
            }
        } else {
            for until in untils {
                let counts = interval(engine, tenant, queries, window_secs, until).await?;
                values.insert((until - length, until), counts);
            }
        }
    }
    Ok(Counts::Intervals(values))
}

/// Sum over the series of a range answer, per timestamp.
fn matrix_sums(value: QueryValue) -> BTreeMap<Millis, f64> {
    let mut sums = BTreeMap::new();
    match value {
        QueryValue::Matrix(series) => {
            for series in series {
                for (at, value) in series.points {
                    *sums.entry(at).or_insert(0.0) += value;
                }
            }
        }
        QueryValue::Scalar {
            timestamp_ms,
            value,
        } => {
            sums.insert(timestamp_ms, value);
        }
        _ => {}
    }
    sums
}

/// The metric templates of a spec, if its indicator is a metric one.
pub fn queries_of(spec: &SloSpec) -> Option<Result<MetricQueries, String>> {
    match &spec.indicator {
        Indicator::Metrics(metric) => Some(MetricQueries::new(metric)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_render_as_prometheus_durations() {
        let template = "sum(rate(http_requests_total{code=~\"5..\"}[{{.window}}]))";
        assert_eq!(
            render(template, 300),
            "sum(rate(http_requests_total{code=~\"5..\"}[5m]))"
        );
        assert_eq!(render("x[{{ .window }}]", 3_600), "x[1h]");
        assert_eq!(render("x[{{.window}}]", 2_592_000), "x[30d]");
        assert_eq!(render("x[{{.window}}]", 90), "x[90s]");
    }

    #[test]
    fn templates_must_name_the_window_and_parse() {
        assert!(check_template("sum(rate(x[{{.window}}]))").is_ok());
        let missing = check_template("sum(rate(x[5m]))").unwrap_err();
        assert!(missing.contains("{{.window}}"), "{missing}");
        let invalid = check_template("sum(rate(x[{{.window}}])").unwrap_err();
        assert!(invalid.contains("not valid PromQL"), "{invalid}");
    }

    #[test]
    fn ratios_follow_the_absent_series_rules() {
        // No total: no data, whatever the numerator says.
        assert_eq!(ratio_counts(Some(3.0), false, None), (0.0, 0.0));
        // A total without an error series: no errors.
        assert_eq!(ratio_counts(None, false, Some(10.0)), (0.0, 10.0));
        assert_eq!(ratio_counts(Some(2.5), false, Some(10.0)), (2.5, 10.0));
        // Good events: bad is the rest, never negative.
        assert_eq!(ratio_counts(Some(9.0), true, Some(10.0)), (1.0, 10.0));
        assert_eq!(ratio_counts(Some(11.0), true, Some(10.0)), (0.0, 10.0));
        assert_eq!(raw_counts(Some(0.25)), (0.25, 1.0));
        assert_eq!(raw_counts(Some(f64::NAN)), (0.0, 0.0));
    }
}
