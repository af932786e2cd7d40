//! Aggregation operators: sum, avg, min, max, count, group, stddev, stdvar, quantile, topk,
//! bottomk and count_values, with `by` and `without`.

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use super::PromqlError;
use super::eval::{Evaluator, Grid, StepSeries, Value, format_float, kahan_sum_inc, present};
use super::labels::Labels;

fn grouping_labels(labels: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    match modifier {
        Some(LabelModifier::Include(names)) => labels.keep(&names.labels),
        Some(LabelModifier::Exclude(names)) => labels.drop_names(&names.labels),
        None => Labels::default(),
    }
}

pub(super) fn eval_aggregate(
    evaluator: &Evaluator<'_>,
    aggregate: &AggregateExpr,
    grid: Grid,
) -> Result<Value, PromqlError> {
    let op = aggregate.op.to_string();
    let input = evaluator.eval_vector(&aggregate.expr, grid)?;
    let len = grid.len();
    match op.as_str() {
        "topk" | "bottomk" => {
            let k = param_scalar(evaluator, &aggregate.param, grid)?;
            return Ok(Value::Vector(top_bottom(
                &input,
                &aggregate.modifier,
                &k,
                op == "topk",
                len,
            )));
        }
        "count_values" => {
            let label = match aggregate.param.as_deref() {
                Some(Expr::StringLiteral(label)) => label.val.clone(),
                _ => {
                    return Err(PromqlError::BadData(
                        "count_values needs a string label name".into(),
                    ));
                }
            };
            return Ok(Value::Vector(count_values(
                &input,
                &aggregate.modifier,
                &label,
                len,
            )));
        }
        _ => {}
    }
    // Group index per input series, computed once.
    let mut groups: Vec<Labels> = Vec::new();
    let mut by_labels: HashMap<Labels, usize> = HashMap::new();
    let membership: Vec<usize> = input
        .iter()
        .map(|series| {
            let key = grouping_labels(&series.labels, &aggregate.modifier);
            *by_labels.entry(key.clone()).or_insert_with(|| {
                groups.push(key);
                groups.len() - 1
            })
        })
        .collect();
    let mut out: Vec<StepSeries> = groups
        .iter()
        .map(|labels| StepSeries::empty(labels.clone(), len))
        .collect();
    match op.as_str() {
        "sum" | "avg" => {
            let mut sums = vec![vec![0.0; len]; groups.len()];
            let mut compensation = vec![vec![0.0; len]; groups.len()];
            let mut counts = vec![vec![0u64; len]; groups.len()];
            for (series, &group) in input.iter().zip(&membership) {
                for (i, value) in series.values.iter().enumerate() {
                    if present(*value) {
                        let (s, c) = kahan_sum_inc(*value, sums[group][i], compensation[group][i]);
                        sums[group][i] = s;
                        compensation[group][i] = c;
                        counts[group][i] += 1;
                    }
                }
            }
            for (group, series) in out.iter_mut().enumerate() {
                for i in 0..len {
                    if counts[group][i] > 0 {
                        let sum = sums[group][i];
                        let total = if sum.is_infinite() {
                            sum
                        } else {
                            sum + compensation[group][i]
                        };
                        series.values[i] = if op == "avg" {
                            total / counts[group][i] as f64
                        } else {
                            total
                        };
                    }
                }
            }
        }
        "min" | "max" => {
            let max = op == "max";
            for (series, &group) in input.iter().zip(&membership) {
                for (i, value) in series.values.iter().enumerate() {
                    if !present(*value) {
                        continue;
                    }
                    let slot = &mut out[group].values[i];
                    if !present(*slot)
                        || slot.is_nan()
                        || (max && *slot < *value)
                        || (!max && *slot > *value)
                    {
                        *slot = *value;
                    }
                }
            }
        }
        "count" | "group" => {
            for (series, &group) in input.iter().zip(&membership) {
                for (i, value) in series.values.iter().enumerate() {
                    if present(*value) {
                        let slot = &mut out[group].values[i];
                        *slot = if op == "group" {
                            1.0
                        } else if present(*slot) {
                            *slot + 1.0
                        } else {
                            1.0
                        };
                    }
                }
            }
        }
        "stddev" | "stdvar" => {
            let mut counts = vec![vec![0.0f64; len]; groups.len()];
            let mut means = vec![vec![0.0f64; len]; groups.len()];
            let mut aux = vec![vec![0.0f64; len]; groups.len()];
            for (series, &group) in input.iter().zip(&membership) {
                for (i, value) in series.values.iter().enumerate() {
                    if present(*value) {
                        counts[group][i] += 1.0;
                        let delta = value - means[group][i];
                        means[group][i] += delta / counts[group][i];
                        aux[group][i] += delta * (value - means[group][i]);
                    }
                }
            }
            for (group, series) in out.iter_mut().enumerate() {
                for i in 0..len {
                    if counts[group][i] > 0.0 {
                        let variance = aux[group][i] / counts[group][i];
                        series.values[i] = if op == "stddev" {
                            variance.sqrt()
                        } else {
                            variance
                        };
                    }
                }
            }
        }
        "quantile" => {
            let q = param_scalar(evaluator, &aggregate.param, grid)?;
            let mut values: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); len]; groups.len()];
            for (series, &group) in input.iter().zip(&membership) {
                for (i, value) in series.values.iter().enumerate() {
                    if present(*value) {
                        values[group][i].push(*value);
                    }
                }
            }
            for (group, series) in out.iter_mut().enumerate() {
                for i in 0..len {
                    if !values[group][i].is_empty() {
                        series.values[i] = quantile(q[i], &mut values[group][i]);
                    }
                }
            }
        }
        other => {
            return Err(PromqlError::BadData(format!(
                "aggregation `{other}` is not supported"
            )));
        }
    }
    Ok(Value::Vector(out))
}

fn param_scalar(
    evaluator: &Evaluator<'_>,
    param: &Option<Box<Expr>>,
    grid: Grid,
) -> Result<Vec<f64>, PromqlError> {
    match param {
        Some(param) => evaluator.eval_scalar(param, grid),
        None => Err(PromqlError::BadData("aggregation needs a parameter".into())),
    }
}

/// Prometheus' `quantile`: linear interpolation between the closest ranks.
pub(super) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| {
        a.partial_cmp(b)
            .unwrap_or_else(|| a.is_nan().cmp(&b.is_nan()).reverse())
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

fn top_bottom(
    input: &[StepSeries],
    modifier: &Option<LabelModifier>,
    k: &[f64],
    top: bool,
    len: usize,
) -> Vec<StepSeries> {
    let mut groups: HashMap<Labels, Vec<usize>> = HashMap::new();
    for (index, series) in input.iter().enumerate() {
        groups
            .entry(grouping_labels(&series.labels, modifier))
            .or_default()
            .push(index);
    }
    let mut out: Vec<StepSeries> = input
        .iter()
        .map(|s| StepSeries::empty(s.labels.clone(), len))
        .collect();
    for members in groups.values() {
        for (i, &wanted) in k.iter().enumerate().take(len) {
            // Also skips NaN.
            if wanted.is_nan() || wanted < 1.0 {
                continue;
            }
            let wanted = wanted.min(members.len() as f64) as usize;
            let mut present_members: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&m| present(input[m].values[i]))
                .collect();
            // NaN sorts last for both directions, as in Prometheus.
            present_members.sort_by(|&a, &b| {
                let (x, y) = (input[a].values[i], input[b].values[i]);
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if top => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
                    _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                }
            });
            for &m in present_members.iter().take(wanted) {
                out[m].values[i] = input[m].values[i];
            }
        }
    }
    out
}

fn count_values(
    input: &[StepSeries],
    modifier: &Option<LabelModifier>,
    label: &str,
    len: usize,
) -> Vec<StepSeries> {
    let mut out: Vec<StepSeries> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for series in input {
        let base = grouping_labels(&series.labels, modifier);
        for (i, value) in series.values.iter().enumerate() {
            if !present(*value) {
                continue;
            }
            let mut labels = base.clone();
            labels.set(label, &format_float(*value));
            let slot = *index.entry(labels.clone()).or_insert_with(|| {
                out.push(StepSeries::empty(labels, len));
                out.len() - 1
            });
            let current = out[slot].values[i];
            out[slot].values[i] = if present(current) { current + 1.0 } else { 1.0 };
        }
    }
    out
}
