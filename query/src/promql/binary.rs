//! Binary operators: arithmetic, comparisons (with and without `bool`) and the set operators,
//! with vector matching (`on`, `ignoring`, `group_left`, `group_right`).

use std::collections::HashMap;

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::PromqlError;
use super::eval::{Evaluator, Grid, StepSeries, Value, absent, present};
use super::labels::Labels;

/// `(value, keep)` of one operation, as Prometheus' `vectorElemBinop` (comparisons return the
/// left value and whether it is kept).
fn apply(op: &str, lhs: f64, rhs: f64) -> (f64, bool) {
    match op {
        "+" => (lhs + rhs, true),
        "-" => (lhs - rhs, true),
        "*" => (lhs * rhs, true),
        "/" => (lhs / rhs, true),
        "%" => (lhs % rhs, true),
        "^" => (lhs.powf(rhs), true),
        "atan2" => (lhs.atan2(rhs), true),
        "==" => (lhs, lhs == rhs),
        "!=" => (lhs, lhs != rhs),
        ">" => (lhs, lhs > rhs),
        "<" => (lhs, lhs < rhs),
        ">=" => (lhs, lhs >= rhs),
        "<=" => (lhs, lhs <= rhs),
        _ => (f64::NAN, false),
    }
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

pub(super) fn eval_binary(
    evaluator: &Evaluator<'_>,
    binary: &BinaryExpr,
    grid: Grid,
) -> Result<Value, PromqlError> {
    let op = binary.op.to_string();
    let return_bool = binary.return_bool();
    let lhs = evaluator.eval(&binary.lhs, grid)?;
    let rhs = evaluator.eval(&binary.rhs, grid)?;
    let comparison = is_comparison(&op);
    let drop_name = !comparison || return_bool;
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => Ok(Value::Scalar(
            l.iter()
                .zip(&r)
                .map(|(a, b)| {
                    let (value, keep) = apply(&op, *a, *b);
                    if comparison {
                        if keep { 1.0 } else { 0.0 }
                    } else {
                        value
                    }
                })
                .collect(),
        )),
        (Value::Vector(vector), Value::Scalar(scalar)) => Ok(Value::Vector(vector_scalar(
            vector,
            &scalar,
            &op,
            false,
            return_bool,
            drop_name,
        ))),
        (Value::Scalar(scalar), Value::Vector(vector)) => Ok(Value::Vector(vector_scalar(
            vector,
            &scalar,
            &op,
            true,
            return_bool,
            drop_name,
        ))),
        (Value::Vector(l), Value::Vector(r)) => {
            let modifier = binary.modifier.as_ref();
            let matching = modifier.and_then(|m| m.matching.as_ref());
            let card = modifier
                .map(|m| m.card.clone())
                .unwrap_or(VectorMatchCardinality::OneToOne);
            match op.as_str() {
                "and" | "or" | "unless" => {
                    Ok(Value::Vector(set_op(&op, l, r, matching, grid.len())))
                }
                _ => Ok(Value::Vector(vector_vector(
                    &op,
                    l,
                    r,
                    matching,
                    &card,
                    return_bool,
                    drop_name,
                    grid.len(),
                )?)),
            }
        }
        _ => Err(PromqlError::BadData(format!(
            "binary operator `{op}` is not defined on these operand types"
        ))),
    }
}

fn vector_scalar(
    vector: Vec<StepSeries>,
    scalar: &[f64],
    op: &str,
    scalar_left: bool,
    return_bool: bool,
    drop_name: bool,
) -> Vec<StepSeries> {
    vector
        .into_iter()
        .map(|series| {
            let values = series
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if !present(*v) {
                        return absent();
                    }
                    let (l, r) = if scalar_left {
                        (scalar[i], *v)
                    } else {
                        (*v, scalar[i])
                    };
                    let (mut value, keep) = apply(op, l, r);
                    // Comparisons keep the vector's value, whichever side it is on.
                    if is_comparison(op) && scalar_left {
                        value = *v;
                    }
                    if return_bool {
                        if keep { 1.0 } else { 0.0 }
                    } else if keep {
                        value
                    } else {
                        absent()
                    }
                })
                .collect();
            StepSeries {
                labels: if drop_name {
                    series.labels.without_name()
                } else {
                    series.labels
                },
                values,
            }
        })
        .collect()
}

/// The matching signature of a series.
fn signature(labels: &Labels, matching: Option<&LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(names)) => labels.keep(&names.labels),
        Some(LabelModifier::Exclude(names)) => labels.drop_names(&names.labels),
        None => labels.without_name(),
    }
}

fn signature_ids(
    series: &[StepSeries],
    matching: Option<&LabelModifier>,
    ids: &mut HashMap<Labels, usize>,
) -> Vec<usize> {
    series
        .iter()
        .map(|s| {
            let next = ids.len();
            *ids.entry(signature(&s.labels, matching)).or_insert(next)
        })
        .collect()
}

fn set_op(
    op: &str,
    lhs: Vec<StepSeries>,
    rhs: Vec<StepSeries>,
    matching: Option<&LabelModifier>,
    len: usize,
) -> Vec<StepSeries> {
    let mut ids = HashMap::new();
    let lhs_ids = signature_ids(&lhs, matching, &mut ids);
    let rhs_ids = signature_ids(&rhs, matching, &mut ids);
    let mut rhs_present = vec![vec![false; len]; ids.len()];
    for (series, &id) in rhs.iter().zip(&rhs_ids) {
        for (i, v) in series.values.iter().enumerate() {
            if present(*v) {
                rhs_present[id][i] = true;
            }
        }
    }
    match op {
        "and" | "unless" => {
            let keep_when = op == "and";
            lhs.into_iter()
                .zip(lhs_ids)
                .map(|(mut series, id)| {
                    for (i, v) in series.values.iter_mut().enumerate() {
                        if present(*v) && rhs_present[id][i] != keep_when {
                            *v = absent();
                        }
                    }
                    series
                })
                .collect()
        }
        _ => {
            let mut lhs_present = vec![vec![false; len]; ids.len()];
            for (series, &id) in lhs.iter().zip(&lhs_ids) {
                for (i, v) in series.values.iter().enumerate() {
                    if present(*v) {
                        lhs_present[id][i] = true;
                    }
                }
            }
            let mut out = lhs;
            for (mut series, id) in rhs.into_iter().zip(rhs_ids) {
                for (i, v) in series.values.iter_mut().enumerate() {
                    if lhs_present[id][i] {
                        *v = absent();
                    }
                }
                out.push(series);
            }
            out
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn vector_vector(
    op: &str,
    lhs: Vec<StepSeries>,
    rhs: Vec<StepSeries>,
    matching: Option<&LabelModifier>,
    card: &VectorMatchCardinality,
    return_bool: bool,
    drop_name: bool,
    len: usize,
) -> Result<Vec<StepSeries>, PromqlError> {
    // The "many" side is iterated; the "one" side is looked up by signature.
    let swap = matches!(card, VectorMatchCardinality::OneToMany(_));
    let (many, one) = if swap { (rhs, lhs) } else { (lhs, rhs) };
    let mut ids = HashMap::new();
    let many_ids = signature_ids(&many, matching, &mut ids);
    let one_ids = signature_ids(&one, matching, &mut ids);
    let include: Vec<String> = card.labels().map(|l| l.labels.clone()).unwrap_or_default();
    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);

    let mut out: Vec<StepSeries> = Vec::new();
    let mut out_by_labels: HashMap<Labels, usize> = HashMap::new();
    let mut pair_out: HashMap<(usize, usize), usize> = HashMap::new();
    let mut one_at: Vec<Option<usize>> = vec![None; ids.len()];
    let mut many_seen: Vec<Option<usize>> = vec![None; ids.len()];
    for i in 0..len {
        one_at.iter_mut().for_each(|slot| *slot = None);
        for (index, (series, &id)) in one.iter().zip(&one_ids).enumerate() {
            if present(series.values[i]) {
                if one_at[id].is_some() {
                    let side = if swap { "left" } else { "right" };
                    return Err(PromqlError::Execution(format!(
                        "found duplicate series for the match group {} on the {side} hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side",
                        signature(&series.labels, matching)
                    )));
                }
                one_at[id] = Some(index);
            }
        }
        if one_to_one {
            many_seen.iter_mut().for_each(|slot| *slot = None);
        }
        for (many_index, (series, &id)) in many.iter().zip(&many_ids).enumerate() {
            let value = series.values[i];
            if !present(value) {
                continue;
            }
            let Some(one_index) = one_at[id] else {
                continue;
            };
            if one_to_one {
                if many_seen[id].is_some() {
                    return Err(PromqlError::Execution(format!(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right); match group {}",
                        signature(&series.labels, matching)
                    )));
                }
                many_seen[id] = Some(many_index);
            }
            let other = one[one_index].values[i];
            let (l, r) = if swap { (other, value) } else { (value, other) };
            let (result, keep) = apply(op, l, r);
            let result = if return_bool {
                if keep { 1.0 } else { 0.0 }
            } else if keep {
                result
            } else {
                continue;
            };
            let slot = match pair_out.get(&(many_index, one_index)) {
                Some(slot) => *slot,
                None => {
                    let mut labels = series.labels.clone();
                    if drop_name {
                        labels = labels.without_name();
                    }
                    if one_to_one {
                        labels = match matching {
                            Some(LabelModifier::Include(names)) => labels.keep(&names.labels),
                            Some(LabelModifier::Exclude(names)) => {
                                let mut kept = labels;
                                for name in &names.labels {
                                    kept.set(name, "");
                                }
                                kept
                            }
                            None => labels,
                        };
                    }
                    for name in &include {
                        labels.set(name, one[one_index].labels.get(name));
                    }
                    let slot = *out_by_labels.entry(labels.clone()).or_insert_with(|| {
                        out.push(StepSeries::empty(labels, len));
                        out.len() - 1
                    });
                    pair_out.insert((many_index, one_index), slot);
                    slot
                }
            };
            if present(out[slot].values[i]) {
                return Err(PromqlError::Execution(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                        .into(),
                ));
            }
            out[slot].values[i] = result;
        }
    }
    Ok(out)
}
