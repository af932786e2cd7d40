//! PromQL functions: range functions over windows `(t - range, t]` (rate, increase, delta,
//! irate, idelta, `*_over_time`, changes, resets, deriv, predict_linear), instant functions,
//! `histogram_quantile` over classic buckets, label functions and the scalar helpers.

use std::collections::HashMap;

use promql_parser::label::MatchOp;
use promql_parser::parser::{Call, Expr};

use super::aggregate::quantile;
use super::eval::{
    Evaluator, Grid, RangeInput, StepSeries, Value, absent, kahan_sum_inc, present, window,
};
use super::fetch::is_stale;
use super::labels::{Labels, METRIC_NAME};
use super::selectors::selector_key;
use super::{Millis, PromqlError};

pub(super) fn eval_call(
    evaluator: &Evaluator<'_>,
    call: &Call,
    grid: Grid,
) -> Result<Value, PromqlError> {
    let name = call.func.name;
    let args: Vec<&Expr> = call.args.args.iter().map(|arg| arg.as_ref()).collect();
    let arg = |index: usize| -> Result<&Expr, PromqlError> {
        args.get(index).copied().ok_or_else(|| {
            PromqlError::BadData(format!("function `{name}` is missing an argument"))
        })
    };
    let len = grid.len();
    match name {
        "rate" | "increase" | "delta" | "irate" | "idelta" | "avg_over_time" | "min_over_time"
        | "max_over_time" | "sum_over_time" | "count_over_time" | "last_over_time"
        | "present_over_time" | "stddev_over_time" | "stdvar_over_time" | "changes" | "resets"
        | "deriv" => {
            let input = evaluator.range_input(arg(0)?, grid)?;
            let keep_name = name == "last_over_time";
            Ok(Value::Vector(over_windows(
                &input,
                grid,
                keep_name,
                |points, t_eval| range_function(name, points, &input, t_eval),
            )))
        }
        "quantile_over_time" => {
            let q = evaluator.eval_scalar(arg(0)?, grid)?;
            let input = evaluator.range_input(arg(1)?, grid)?;
            let t0 = grid.start;
            let step = grid.step;
            Ok(Value::Vector(over_windows(
                &input,
                grid,
                false,
                |points, t_eval| {
                    if points.is_empty() {
                        return None;
                    }
                    let i = ((t_eval - t0) / step) as usize;
                    let mut values: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
                    Some(quantile(q[i.min(q.len() - 1)], &mut values))
                },
            )))
        }
        "predict_linear" => {
            let input = evaluator.range_input(arg(0)?, grid)?;
            let seconds = evaluator.eval_scalar(arg(1)?, grid)?;
            let t0 = grid.start;
            let step = grid.step;
            Ok(Value::Vector(over_windows(
                &input,
                grid,
                false,
                |points, t_eval| {
                    if points.len() < 2 {
                        return None;
                    }
                    let i = ((t_eval - t0) / step) as usize;
                    let (slope, intercept) = linear_regression(points, t_eval);
                    Some(slope * seconds[i.min(seconds.len() - 1)] + intercept)
                },
            )))
        }
        "absent_over_time" => {
            let input = evaluator.range_input(arg(0)?, grid)?;
            let mut values = vec![1.0; len];
            for (i, slot) in values.iter_mut().enumerate() {
                let end = input.window_end(grid.time(i));
                if input
                    .series
                    .iter()
                    .any(|(_, points)| !window(points, end, input.range).is_empty())
                {
                    *slot = absent();
                }
            }
            Ok(Value::Vector(vec![StepSeries {
                labels: absent_labels(arg(0)?),
                values,
            }]))
        }
        "absent" => {
            let input = evaluator.eval_vector(arg(0)?, grid)?;
            let values = (0..len)
                .map(|i| {
                    if input.iter().any(|s| present(s.values[i])) {
                        absent()
                    } else {
                        1.0
                    }
                })
                .collect();
            Ok(Value::Vector(vec![StepSeries {
                labels: absent_labels(arg(0)?),
                values,
            }]))
        }
        "histogram_quantile" => {
            let q = evaluator.eval_scalar(arg(0)?, grid)?;
            let input = evaluator.eval_vector(arg(1)?, grid)?;
            Ok(Value::Vector(histogram_quantile(&q, input, len)))
        }
        "time" => Ok(Value::Scalar(
            (0..len).map(|i| grid.time(i) as f64 / 1000.0).collect(),
        )),
        "vector" => {
            let values = evaluator.eval_scalar(arg(0)?, grid)?;
            Ok(Value::Vector(vec![StepSeries {
                labels: Labels::default(),
                values,
            }]))
        }
        "scalar" => {
            let input = evaluator.eval_vector(arg(0)?, grid)?;
            Ok(Value::Scalar(
                (0..len)
                    .map(|i| {
                        let mut found = input.iter().filter(|s| present(s.values[i]));
                        match (found.next(), found.next()) {
                            (Some(one), None) => one.values[i],
                            _ => f64::NAN,
                        }
                    })
                    .collect(),
            ))
        }
        "timestamp" => {
            let target = arg(0)?;
            if let Expr::VectorSelector(selector) = unparen(target) {
                return Ok(Value::Vector(sample_timestamps(evaluator, selector, grid)));
            }
            let input = evaluator.eval_vector(target, grid)?;
            Ok(Value::Vector(map_values(input, true, |i, _| {
                Some(grid.time(i) as f64 / 1000.0)
            })))
        }
        "sort" | "sort_desc" => {
            let mut input = evaluator.eval_vector(arg(0)?, grid)?;
            if len == 1 {
                input.sort_by(|a, b| {
                    let ordering = a.values[0]
                        .partial_cmp(&b.values[0])
                        .unwrap_or(std::cmp::Ordering::Equal);
                    if name == "sort" {
                        ordering
                    } else {
                        ordering.reverse()
                    }
                });
            }
            Ok(Value::Vector(input))
        }
        "label_replace" => {
            let input = evaluator.eval_vector(arg(0)?, grid)?;
            let destination = string_arg(arg(1)?)?;
            let replacement = string_arg(arg(2)?)?;
            let source = string_arg(arg(3)?)?;
            let pattern = string_arg(arg(4)?)?;
            let regex = regex::Regex::new(&format!("^(?s:{pattern})$")).map_err(|error| {
                PromqlError::BadData(format!(
                    "invalid regular expression in label_replace(): {error}"
                ))
            })?;
            if !is_label_name(&destination) {
                return Err(PromqlError::BadData(format!(
                    "invalid destination label name in label_replace(): {destination}"
                )));
            }
            Ok(Value::Vector(
                input
                    .into_iter()
                    .map(|mut series| {
                        let value = series.labels.get(&source).to_owned();
                        if let Some(captures) = regex.captures(&value) {
                            let mut expanded = String::new();
                            captures.expand(&replacement, &mut expanded);
                            series.labels.set(&destination, &expanded);
                        }
                        series
                    })
                    .collect(),
            ))
        }
        "label_join" => {
            let input = evaluator.eval_vector(arg(0)?, grid)?;
            let destination = string_arg(arg(1)?)?;
            let separator = string_arg(arg(2)?)?;
            let sources = args[3..]
                .iter()
                .map(|a| string_arg(a))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Vector(
                input
                    .into_iter()
                    .map(|mut series| {
                        let joined = sources
                            .iter()
                            .map(|s| series.labels.get(s))
                            .collect::<Vec<_>>()
                            .join(&separator);
                        series.labels.set(&destination, &joined);
                        series
                    })
                    .collect(),
            ))
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let input = evaluator.eval_vector(arg(0)?, grid)?;
            let first = evaluator.eval_scalar(arg(1)?, grid)?;
            let second = if name == "clamp" {
                Some(evaluator.eval_scalar(arg(2)?, grid)?)
            } else {
                None
            };
            Ok(Value::Vector(map_values(input, true, |i, v| match name {
                "clamp_min" => Some(v.max(first[i])),
                "clamp_max" => Some(v.min(first[i])),
                _ => {
                    let (low, high) = (first[i], second.as_ref().map_or(f64::NAN, |s| s[i]));
                    if low > high {
                        None
                    } else {
                        Some(v.max(low).min(high))
                    }
                }
            })))
        }
        "round" => {
            let input = evaluator.eval_vector(arg(0)?, grid)?;
            let to = match args.get(1) {
                Some(expr) => evaluator.eval_scalar(expr, grid)?,
                None => vec![1.0; len],
            };
            Ok(Value::Vector(map_values(input, true, |i, v| {
                let inverse = 1.0 / to[i];
                Some((v * inverse + 0.5).floor() / inverse)
            })))
        }
        "abs" | "ceil" | "floor" | "exp" | "ln" | "log2" | "log10" | "sqrt" | "sgn" | "sin"
        | "cos" | "tan" | "asin" | "acos" | "atan" | "sinh" | "cosh" | "tanh" | "deg" | "rad" => {
            let input = evaluator.eval_vector(arg(0)?, grid)?;
            Ok(Value::Vector(map_values(input, true, |_, v| {
                Some(match name {
                    "abs" => v.abs(),
                    "ceil" => v.ceil(),
                    "floor" => v.floor(),
                    "exp" => v.exp(),
                    "ln" => v.ln(),
                    "log2" => v.log2(),
                    "log10" => v.log10(),
                    "sqrt" => v.sqrt(),
                    "sgn" => {
                        if v > 0.0 {
                            1.0
                        } else if v < 0.0 {
                            -1.0
                        } else {
                            v
                        }
                    }
                    "sin" => v.sin(),
                    "cos" => v.cos(),
                    "tan" => v.tan(),
                    "asin" => v.asin(),
                    "acos" => v.acos(),
                    "atan" => v.atan(),
                    "sinh" => v.sinh(),
                    "cosh" => v.cosh(),
                    "tanh" => v.tanh(),
                    "deg" => v.to_degrees(),
                    _ => v.to_radians(),
                })
            })))
        }
        "pi" => Ok(Value::Scalar(vec![std::f64::consts::PI; len])),
        other => Err(PromqlError::BadData(format!(
            "function `{other}` is not supported"
        ))),
    }
}

fn unparen(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(paren) => unparen(&paren.expr),
        other => other,
    }
}

fn string_arg(expr: &Expr) -> Result<String, PromqlError> {
    match unparen(expr) {
        Expr::StringLiteral(string) => Ok(string.val.clone()),
        _ => Err(PromqlError::BadData("expected a string argument".into())),
    }
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Applies `f` to every present value; `None` removes the value. Drops `__name__` when asked.
fn map_values(
    input: Vec<StepSeries>,
    drop_name: bool,
    f: impl Fn(usize, f64) -> Option<f64>,
) -> Vec<StepSeries> {
    input
        .into_iter()
        .map(|series| StepSeries {
            labels: if drop_name {
                series.labels.without_name()
            } else {
                series.labels
            },
            values: series
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if present(*v) {
                        f(i, *v).unwrap_or_else(absent)
                    } else {
                        absent()
                    }
                })
                .collect(),
        })
        .collect()
}

/// Evaluates `f` over the window of every step of every series.
fn over_windows(
    input: &RangeInput,
    grid: Grid,
    keep_name: bool,
    f: impl Fn(&[(Millis, f64)], Millis) -> Option<f64>,
) -> Vec<StepSeries> {
    let len = grid.len();
    let mut out = Vec::with_capacity(input.series.len());
    for (labels, points) in &input.series {
        if points.is_empty() {
            continue;
        }
        let mut values = vec![absent(); len];
        let mut any = false;
        for (i, slot) in values.iter_mut().enumerate() {
            let t = grid.time(i);
            let end = input.window_end(t);
            let samples = window(points, end, input.range);
            if samples.is_empty() {
                continue;
            }
            if let Some(value) = f(samples, t) {
                *slot = value;
                any = true;
            }
        }
        if any {
            out.push(StepSeries {
                labels: if keep_name {
                    labels.clone()
                } else {
                    labels.without_name()
                },
                values,
            });
        }
    }
    out
}

fn range_function(
    name: &str,
    points: &[(Millis, f64)],
    input: &RangeInput,
    t_eval: Millis,
) -> Option<f64> {
    let values = || points.iter().map(|(_, v)| *v);
    match name {
        "rate" => extrapolated_rate(points, input, t_eval, true, true),
        "increase" => extrapolated_rate(points, input, t_eval, true, false),
        "delta" => extrapolated_rate(points, input, t_eval, false, false),
        "irate" => instant_value(points, true),
        "idelta" => instant_value(points, false),
        "sum_over_time" => {
            let (sum, c) = values().fold((0.0, 0.0), |(s, c), v| kahan_sum_inc(v, s, c));
            Some(if sum.is_infinite() { sum } else { sum + c })
        }
        "avg_over_time" => {
            let (sum, c) = values().fold((0.0, 0.0), |(s, c), v| kahan_sum_inc(v, s, c));
            let count = points.len() as f64;
            Some(if sum.is_infinite() {
                sum / count
            } else {
                (sum + c) / count
            })
        }
        "count_over_time" => Some(points.len() as f64),
        "present_over_time" => Some(1.0),
        "last_over_time" => points.last().map(|(_, v)| *v),
        "min_over_time" | "max_over_time" => {
            let max = name == "max_over_time";
            let mut result = points[0].1;
            for v in values() {
                if (max && v > result) || (!max && v < result) || result.is_nan() {
                    result = v;
                }
            }
            Some(result)
        }
        "stddev_over_time" | "stdvar_over_time" => {
            let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for v in values() {
                count += 1.0;
                let delta = v - (mean + c_mean);
                (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
                (aux, c_aux) = kahan_sum_inc(delta * (v - (mean + c_mean)), aux, c_aux);
            }
            let variance = (aux + c_aux) / count;
            Some(if name == "stddev_over_time" {
                variance.sqrt()
            } else {
                variance
            })
        }
        "changes" => {
            let mut changes = 0.0;
            let mut previous = points[0].1;
            for v in values().skip(1) {
                if !(v == previous || (v.is_nan() && previous.is_nan())) {
                    changes += 1.0;
                }
                previous = v;
            }
            Some(changes)
        }
        "resets" => {
            let mut resets = 0.0;
            let mut previous = points[0].1;
            for v in values().skip(1) {
                if v < previous {
                    resets += 1.0;
                }
                previous = v;
            }
            Some(resets)
        }
        "deriv" => {
            if points.len() < 2 {
                return None;
            }
            Some(linear_regression(points, points[0].0).0)
        }
        _ => None,
    }
}

/// `rate`, `increase` and `delta`, following Prometheus 3.x `extrapolatedRate` step by step
/// (same operations in the same order, so results agree to the last bit).
fn extrapolated_rate(
    points: &[(Millis, f64)],
    input: &RangeInput,
    t_eval: Millis,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let range_end = input.window_end(t_eval);
    let range_start = range_end - input.range;
    let num_samples_minus_one = points.len() - 1;
    let first_t = points[0].0;
    let last_t = points[num_samples_minus_one].0;
    let mut result = points[num_samples_minus_one].1 - points[0].1;
    if is_counter {
        let mut previous = points[0].1;
        for (_, current) in &points[1..] {
            if *current < previous {
                result += previous;
            }
            previous = *current;
        }
    }
    let mut duration_to_start = (first_t - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let average_duration_between_samples = sampled_interval / num_samples_minus_one as f64;
    let extrapolation_threshold = average_duration_between_samples * 1.1;
    let mut extrapolate_to_interval = sampled_interval;
    if duration_to_start >= extrapolation_threshold {
        duration_to_start = average_duration_between_samples / 2.0;
    }
    if is_counter && result > 0.0 && points[0].1 >= 0.0 {
        let duration_to_zero = sampled_interval * (points[0].1 / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    extrapolate_to_interval += duration_to_start;
    if duration_to_end >= extrapolation_threshold {
        duration_to_end = average_duration_between_samples / 2.0;
    }
    extrapolate_to_interval += duration_to_end;
    let mut factor = extrapolate_to_interval / sampled_interval;
    if is_rate {
        factor /= input.range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` and `idelta`: the last two samples.
fn instant_value(points: &[(Millis, f64)], is_rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (t0, v0) = points[points.len() - 2];
    let (t1, v1) = points[points.len() - 1];
    let sampled_interval = t1 - t0;
    if sampled_interval == 0 {
        return None;
    }
    let mut result = v1;
    if !is_rate || v1 >= v0 || v1.is_nan() || v0.is_nan() {
        result = v1 - v0;
    }
    if is_rate {
        result /= sampled_interval as f64 / 1000.0;
    }
    Some(result)
}

/// Least squares fit of the samples, x in seconds relative to `intercept_time`.
fn linear_regression(points: &[(Millis, f64)], intercept_time: Millis) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = points[0].1;
    let mut const_y = true;
    for (i, (t, v)) in points.iter().enumerate() {
        if const_y && i > 0 && *v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_sum_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_sum_inc(*v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_sum_inc(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_sum_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// The labels `absent()` answers with: the equality matchers of a plain selector.
fn absent_labels(expr: &Expr) -> Labels {
    let selector = match unparen(expr) {
        Expr::VectorSelector(selector) => selector,
        Expr::MatrixSelector(matrix) => &matrix.vs,
        _ => return Labels::default(),
    };
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for matcher in &selector.matchers.matchers {
        *counts.entry(matcher.name.as_str()).or_default() += 1;
    }
    Labels::from_pairs(
        selector
            .matchers
            .matchers
            .iter()
            .filter(|m| {
                matches!(m.op, MatchOp::Equal)
                    && m.name != METRIC_NAME
                    && counts[m.name.as_str()] == 1
            })
            .map(|m| (m.name.clone(), m.value.clone())),
    )
}

/// `timestamp(selector)`: the time of the sample each step selected.
fn sample_timestamps(
    evaluator: &Evaluator<'_>,
    selector: &promql_parser::parser::VectorSelector,
    grid: Grid,
) -> Vec<StepSeries> {
    let raw = evaluator.raw(selector_key(selector));
    let offset = super::eval::offset_ms(&selector.offset);
    let at = super::eval::at_time(&selector.at, evaluator.query);
    let lookback = evaluator.config.lookback_delta.as_millis() as Millis;
    let len = grid.len();
    let mut out = Vec::new();
    for series in raw {
        let mut values = vec![absent(); len];
        for (i, slot) in values.iter_mut().enumerate() {
            let t = at.unwrap_or_else(|| grid.time(i)) - offset;
            let index = series.samples.partition_point(|(ts, _)| *ts <= t);
            if index == 0 {
                continue;
            }
            let (ts, value) = series.samples[index - 1];
            if ts > t - lookback && !is_stale(value) {
                *slot = ts as f64 / 1000.0;
            }
        }
        out.push(StepSeries {
            labels: series.labels.without_name(),
            values,
        });
    }
    out
}

/// `histogram_quantile` over classic `_bucket{le}` series, as Prometheus' `BucketQuantile`.
fn histogram_quantile(q: &[f64], input: Vec<StepSeries>, len: usize) -> Vec<StepSeries> {
    let mut groups: HashMap<Labels, Vec<(f64, usize)>> = HashMap::new();
    for (index, series) in input.iter().enumerate() {
        let Ok(upper) = parse_le(series.labels.get("le")) else {
            continue;
        };
        let mut key = series.labels.without_name();
        key.set("le", "");
        groups.entry(key).or_default().push((upper, index));
    }
    let mut out = Vec::with_capacity(groups.len());
    for (labels, members) in groups {
        let mut values = vec![absent(); len];
        let mut buckets: Vec<(f64, f64)> = Vec::with_capacity(members.len());
        for (i, slot) in values.iter_mut().enumerate() {
            buckets.clear();
            for (upper, index) in &members {
                let v = input[*index].values[i];
                if present(v) {
                    buckets.push((*upper, v));
                }
            }
            if buckets.is_empty() {
                continue;
            }
            *slot = bucket_quantile(q[i], &mut buckets);
        }
        out.push(StepSeries { labels, values });
    }
    out
}

fn parse_le(text: &str) -> Result<f64, ()> {
    match text {
        "+Inf" | "Inf" | "+inf" | "inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        "" => Err(()),
        other => other.parse::<f64>().map_err(|_| ()),
    }
}

fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Prometheus' `BucketQuantile`: `(upper bound, cumulative count)` pairs.
pub(super) fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().map(|b| b.0) != Some(f64::INFINITY) {
        return f64::NAN;
    }
    // Coalesce buckets with the same upper bound.
    let mut coalesced: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(upper, count) in buckets.iter() {
        match coalesced.last_mut() {
            Some(last) if last.0 == upper => last.1 += count,
            _ => coalesced.push((upper, count)),
        }
    }
    let buckets = &mut coalesced;
    // Ignore tiny deltas, then force monotonicity.
    let mut previous = buckets[0].1;
    for bucket in buckets.iter_mut().skip(1) {
        let current = bucket.1;
        if current == previous {
            continue;
        }
        if almost_equal(previous, current, 1e-12) || current < previous {
            bucket.1 = previous;
            continue;
        }
        previous = current;
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = buckets[..buckets.len() - 1].partition_point(|bucket| bucket.1 < rank);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let mut bucket_start = 0.0;
    let bucket_end = buckets[b].0;
    let mut count = buckets[b].1;
    if b > 0 {
        bucket_start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}
