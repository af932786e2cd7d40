//! The evaluator: every node is evaluated once over the whole step grid (as Prometheus'
//! range evaluation does), so grouping keys and matching signatures are computed once per
//! series rather than once per step.

use std::collections::HashMap;
use std::time::SystemTime;

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr};

use super::fetch::{RawSeries, is_stale};
use super::labels::Labels;
use super::selectors::selector_key;
use super::{Millis, PromqlConfig, PromqlError, QueryValue, Sample, Series};

/// The evaluation times: `start`, `start + step`, ... up to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// First evaluation time.
    pub start: Millis,
    /// Last evaluation time (inclusive).
    pub end: Millis,
    /// Distance between evaluation times.
    pub step: Millis,
}

impl Grid {
    /// Number of evaluation times.
    pub fn len(&self) -> usize {
        if self.end < self.start {
            0
        } else {
            ((self.end - self.start) / self.step + 1) as usize
        }
    }

    /// The `i`-th evaluation time.
    pub fn time(&self, i: usize) -> Millis {
        self.start + i as Millis * self.step
    }
}

/// The bit pattern marking "no value at this step" in step series. Samples never carry it:
/// stored NaNs are normalised when read.
const ABSENT_BITS: u64 = 0x7ff0_0000_0000_0a5e;

/// The "no value" marker.
pub(super) fn absent() -> f64 {
    f64::from_bits(ABSENT_BITS)
}

/// Whether a step holds a value.
pub(super) fn present(value: f64) -> bool {
    value.to_bits() != ABSENT_BITS
}

/// One series over the grid: `values[i]` is the value at step `i` or [`absent`].
#[derive(Debug, Clone)]
pub(super) struct StepSeries {
    pub labels: Labels,
    pub values: Vec<f64>,
}

impl StepSeries {
    pub fn empty(labels: Labels, len: usize) -> Self {
        Self {
            labels,
            values: vec![absent(); len],
        }
    }

    fn has_values(&self) -> bool {
        self.values.iter().any(|v| present(*v))
    }
}

/// The value of a node over the grid.
#[derive(Debug, Clone)]
pub(super) enum Value {
    Scalar(Vec<f64>),
    String(String),
    Vector(Vec<StepSeries>),
    /// Only at the top of an instant query: the samples of a range selector or subquery.
    Matrix(Vec<Series>),
}

/// Offset in milliseconds (negative offsets look forward).
pub(super) fn offset_ms(offset: &Option<Offset>) -> Millis {
    match offset {
        Some(Offset::Pos(duration)) => duration.as_millis() as Millis,
        Some(Offset::Neg(duration)) => -(duration.as_millis() as Millis),
        None => 0,
    }
}

fn system_time_ms(time: &SystemTime) -> Millis {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => after.as_millis() as Millis,
        Err(before) => -(before.duration().as_millis() as Millis),
    }
}

/// The fixed evaluation time an `@` modifier sets, if any.
pub(super) fn at_time(at: &Option<AtModifier>, query: Grid) -> Option<Millis> {
    match at {
        Some(AtModifier::Start) => Some(query.start),
        Some(AtModifier::End) => Some(query.end),
        Some(AtModifier::At(time)) => Some(system_time_ms(time)),
        None => None,
    }
}

/// The grid a subquery's inner expression is evaluated on, as Prometheus computes it: from the
/// first multiple of the step after `start - offset - range` to `end - offset`.
pub(super) fn subquery_grid(
    outer: Grid,
    query: Grid,
    subquery: &SubqueryExpr,
    config: &PromqlConfig,
) -> Grid {
    let step = subquery
        .step
        .filter(|step| !step.is_zero())
        .unwrap_or(config.default_subquery_step)
        .as_millis()
        .max(1) as Millis;
    let offset = offset_ms(&subquery.offset);
    let range = subquery.range.as_millis() as Millis;
    let (start, end) = match at_time(&subquery.at, query) {
        Some(at) => (at, at),
        None => (outer.start, outer.end),
    };
    let lower = start - offset - range;
    let mut inner_start = step * lower.div_euclid(step);
    if inner_start <= lower {
        inner_start += step;
    }
    Grid {
        start: inner_start,
        end: end - offset,
        step,
    }
}

/// Formats a float as Prometheus does (`strconv.FormatFloat(f, 'f', -1, 64)`).
pub fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{value}")
    }
}

/// A range-vector argument: series samples plus the window each step reads.
pub(super) struct RangeInput {
    pub series: Vec<(Labels, Vec<(Millis, f64)>)>,
    pub range: Millis,
    pub offset: Millis,
    pub at: Option<Millis>,
}

impl RangeInput {
    /// The end of the window read at evaluation time `t`.
    pub fn window_end(&self, t: Millis) -> Millis {
        self.at.unwrap_or(t) - self.offset
    }
}

/// The samples of `points` in `(end - range, end]`.
pub(super) fn window(points: &[(Millis, f64)], end: Millis, range: Millis) -> &[(Millis, f64)] {
    let lo = points.partition_point(|(t, _)| *t <= end - range);
    let hi = points.partition_point(|(t, _)| *t <= end);
    &points[lo..hi.max(lo)]
}

pub(super) struct Evaluator<'a> {
    pub config: &'a PromqlConfig,
    pub data: &'a HashMap<usize, Vec<RawSeries>>,
    pub query: Grid,
}

/// Evaluates `expr` over `grid` and shapes the answer.
pub(super) fn evaluate(
    expr: &Expr,
    grid: Grid,
    config: &PromqlConfig,
    data: &HashMap<usize, Vec<RawSeries>>,
    instant: bool,
) -> Result<QueryValue, PromqlError> {
    let evaluator = Evaluator {
        config,
        data,
        query: grid,
    };
    let value = evaluator.eval(expr, grid)?;
    Ok(match value {
        Value::Scalar(values) if instant => QueryValue::Scalar {
            timestamp_ms: grid.start,
            value: values[0],
        },
        Value::Scalar(values) => QueryValue::Matrix(vec![Series {
            labels: Labels::default(),
            points: (0..grid.len()).map(|i| (grid.time(i), values[i])).collect(),
        }]),
        Value::String(value) => QueryValue::String {
            timestamp_ms: grid.start,
            value,
        },
        Value::Vector(series) => {
            let series = merge_duplicates(series)?;
            if instant {
                let mut samples: Vec<Sample> = series
                    .into_iter()
                    .filter(|s| present(s.values[0]))
                    .map(|s| Sample {
                        labels: s.labels,
                        timestamp_ms: grid.start,
                        value: s.values[0],
                    })
                    .collect();
                if !sorts_output(expr) {
                    samples.sort_by(|a, b| a.labels.cmp(&b.labels));
                }
                QueryValue::Vector(samples)
            } else {
                let mut out: Vec<Series> = series
                    .into_iter()
                    .map(|s| Series {
                        points: s
                            .values
                            .iter()
                            .enumerate()
                            .filter(|(_, v)| present(**v))
                            .map(|(i, v)| (grid.time(i), *v))
                            .collect(),
                        labels: s.labels,
                    })
                    .filter(|s| !s.points.is_empty())
                    .collect();
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                QueryValue::Matrix(out)
            }
        }
        Value::Matrix(series) => QueryValue::Matrix(series),
    })
}

/// Whether the outermost function orders the answer itself.
fn sorts_output(expr: &Expr) -> bool {
    match expr {
        Expr::Paren(paren) => sorts_output(&paren.expr),
        Expr::Call(call) => matches!(
            call.func.name,
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc"
        ),
        Expr::Aggregate(aggregate) => {
            matches!(aggregate.op.to_string().as_str(), "topk" | "bottomk")
        }
        _ => false,
    }
}

/// Series with equal labels are one series when their steps do not overlap; overlapping steps
/// are Prometheus' "vector cannot contain metrics with the same labelset" error.
pub(super) fn merge_duplicates(series: Vec<StepSeries>) -> Result<Vec<StepSeries>, PromqlError> {
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(series.len());
    let mut out: Vec<StepSeries> = Vec::with_capacity(series.len());
    for s in series {
        if !s.has_values() {
            continue;
        }
        match index.get(&s.labels) {
            Some(&existing) => {
                let target = &mut out[existing];
                for (i, value) in s.values.iter().enumerate() {
                    if present(*value) {
                        if present(target.values[i]) {
                            return Err(PromqlError::Execution(
                                "vector cannot contain metrics with the same labelset".into(),
                            ));
                        }
                        target.values[i] = *value;
                    }
                }
            }
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}

impl Evaluator<'_> {
    pub fn eval(&self, expr: &Expr, grid: Grid) -> Result<Value, PromqlError> {
        match expr {
            Expr::NumberLiteral(number) => Ok(Value::Scalar(vec![number.val; grid.len()])),
            Expr::StringLiteral(string) => Ok(Value::String(string.val.clone())),
            Expr::Paren(paren) => self.eval(&paren.expr, grid),
            Expr::Unary(unary) => match self.eval(&unary.expr, grid)? {
                Value::Scalar(values) => Ok(Value::Scalar(values.iter().map(|v| -v).collect())),
                Value::Vector(series) => Ok(Value::Vector(
                    series
                        .into_iter()
                        .map(|s| StepSeries {
                            labels: s.labels.without_name(),
                            values: s
                                .values
                                .iter()
                                .map(|v| if present(*v) { -v } else { *v })
                                .collect(),
                        })
                        .collect(),
                )),
                _ => Err(PromqlError::BadData(
                    "unary expression only allowed on expressions of type scalar or instant vector"
                        .into(),
                )),
            },
            Expr::VectorSelector(selector) => {
                let raw = self.raw(selector_key(selector));
                let offset = offset_ms(&selector.offset);
                let at = at_time(&selector.at, self.query);
                let lookback = self.config.lookback_delta.as_millis() as Millis;
                let len = grid.len();
                let mut out = Vec::with_capacity(raw.len());
                for series in raw {
                    let mut values = vec![absent(); len];
                    let mut any = false;
                    for (i, slot) in values.iter_mut().enumerate() {
                        let t = at.unwrap_or_else(|| grid.time(i)) - offset;
                        let index = series.samples.partition_point(|(ts, _)| *ts <= t);
                        if index == 0 {
                            continue;
                        }
                        let (ts, value) = series.samples[index - 1];
                        if ts > t - lookback && !is_stale(value) {
                            *slot = value;
                            any = true;
                        }
                    }
                    if any {
                        out.push(StepSeries {
                            labels: series.labels.clone(),
                            values,
                        });
                    }
                }
                Ok(Value::Vector(out))
            }
            Expr::MatrixSelector(_) | Expr::Subquery(_) => {
                let input = self.range_input(expr, grid)?;
                let t = grid.start;
                let end = input.window_end(t);
                Ok(Value::Matrix(
                    input
                        .series
                        .into_iter()
                        .filter_map(|(labels, points)| {
                            let points = window(&points, end, input.range).to_vec();
                            (!points.is_empty()).then_some(Series { labels, points })
                        })
                        .collect(),
                ))
            }
            Expr::Aggregate(aggregate) => super::aggregate::eval_aggregate(self, aggregate, grid),
            Expr::Binary(binary) => super::binary::eval_binary(self, binary, grid),
            Expr::Call(call) => super::functions::eval_call(self, call, grid),
            Expr::Extension(_) => Err(PromqlError::BadData(
                "extension expressions are not supported".into(),
            )),
        }
    }

    /// The stored series of a selector node.
    pub fn raw(&self, key: usize) -> &[RawSeries] {
        self.data.get(&key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Evaluates a scalar-typed argument (a number, `scalar(...)`, `time()`...).
    pub fn eval_scalar(&self, expr: &Expr, grid: Grid) -> Result<Vec<f64>, PromqlError> {
        match self.eval(expr, grid)? {
            Value::Scalar(values) => Ok(values),
            _ => Err(PromqlError::BadData(format!(
                "expected type scalar, got {}",
                value_type_name(expr.value_type())
            ))),
        }
    }

    /// Evaluates an instant-vector argument.
    pub fn eval_vector(&self, expr: &Expr, grid: Grid) -> Result<Vec<StepSeries>, PromqlError> {
        match self.eval(expr, grid)? {
            Value::Vector(series) => Ok(series),
            _ => Err(PromqlError::BadData(format!(
                "expected type instant vector, got {}",
                value_type_name(expr.value_type())
            ))),
        }
    }

    /// The samples and window of a range-vector argument (a range selector or a subquery).
    pub fn range_input(&self, expr: &Expr, grid: Grid) -> Result<RangeInput, PromqlError> {
        match expr {
            Expr::Paren(paren) => self.range_input(&paren.expr, grid),
            Expr::MatrixSelector(matrix) => {
                let raw = self.raw(selector_key(&matrix.vs));
                Ok(RangeInput {
                    series: raw
                        .iter()
                        .map(|series| {
                            let points = series
                                .samples
                                .iter()
                                .copied()
                                .filter(|(_, v)| !is_stale(*v))
                                .collect();
                            (series.labels.clone(), points)
                        })
                        .collect(),
                    range: matrix.range.as_millis() as Millis,
                    offset: offset_ms(&matrix.vs.offset),
                    at: at_time(&matrix.vs.at, self.query),
                })
            }
            Expr::Subquery(subquery) => {
                let inner = subquery_grid(grid, self.query, subquery, self.config);
                let series = match self.eval(&subquery.expr, inner)? {
                    Value::Vector(series) => merge_duplicates(series)?,
                    Value::Scalar(values) => vec![StepSeries {
                        labels: Labels::default(),
                        values,
                    }],
                    _ => {
                        return Err(PromqlError::BadData(
                            "subquery is only allowed on instant vector".into(),
                        ));
                    }
                };
                Ok(RangeInput {
                    series: series
                        .into_iter()
                        .map(|s| {
                            let points = s
                                .values
                                .iter()
                                .enumerate()
                                .filter(|(_, v)| present(**v))
                                .map(|(i, v)| (inner.time(i), *v))
                                .collect();
                            (s.labels, points)
                        })
                        .collect(),
                    range: subquery.range.as_millis() as Millis,
                    offset: offset_ms(&subquery.offset),
                    at: at_time(&subquery.at, self.query),
                })
            }
            other => Err(PromqlError::BadData(format!(
                "expected type range vector, got {}",
                value_type_name(other.value_type())
            ))),
        }
    }
}

pub(super) fn value_type_name(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::Vector => "instant vector",
        ValueType::Scalar => "scalar",
        ValueType::Matrix => "range vector",
        ValueType::String => "string",
    }
}

/// Kahan-Neumaier summation step, as Prometheus' `kahanSumInc`.
pub(super) fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}
