//! Extracts simple bounds on the event-time column from pushed-down filters, to skip files
//! whose `[min, max]` event time cannot match.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};

/// Inclusive lower and upper bounds in Unix nanoseconds; `None` is unbounded.
pub type TimeBounds = (Option<i64>, Option<i64>);

/// Inclusive `(lower, upper)` bounds in Unix nanoseconds that every matching row satisfies,
/// from conjuncts like `column >= literal`, `literal > column`, `column = literal` and
/// `column BETWEEN a AND b`. Anything else contributes no bound.
pub fn time_bounds(filters: &[Expr], column: &str) -> TimeBounds {
    let mut lower: Option<i64> = None;
    let mut upper: Option<i64> = None;
    let mut tighten_lower =
        |value: i64| lower = Some(lower.map_or(value, |known| known.max(value)));
    let mut tighten_upper =
        |value: i64| upper = Some(upper.map_or(value, |known| known.min(value)));
    let mut conjuncts = Vec::new();
    for filter in filters {
        split_conjunction(filter, &mut conjuncts);
    }
    for conjunct in conjuncts {
        match conjunct {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (op, value) = match (is_column(left, column), is_column(right, column)) {
                    (true, false) => (*op, literal_nanos(right)),
                    (false, true) => match op.swap() {
                        Some(swapped) => (swapped, literal_nanos(left)),
                        None => continue,
                    },
                    _ => continue,
                };
                let Some(value) = value else { continue };
                match op {
                    Operator::Eq => {
                        tighten_lower(value);
                        tighten_upper(value);
                    }
                    Operator::Gt => tighten_lower(value.saturating_add(1)),
                    Operator::GtEq => tighten_lower(value),
                    Operator::Lt => tighten_upper(value.saturating_sub(1)),
                    Operator::LtEq => tighten_upper(value),
                    _ => {}
                }
            }
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) if is_column(expr, column) => {
                if let Some(low) = literal_nanos(low) {
                    tighten_lower(low);
                }
                if let Some(high) = literal_nanos(high) {
                    tighten_upper(high);
                }
            }
            _ => {}
        }
    }
    (lower, upper)
}

fn split_conjunction<'a>(expr: &'a Expr, out: &mut Vec<&'a Expr>) {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            split_conjunction(left, out);
            split_conjunction(right, out);
        }
        other => out.push(other),
    }
}

fn is_column(expr: &Expr, column: &str) -> bool {
    matches!(expr, Expr::Column(found) if found.name == column)
}

fn literal_nanos(expr: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    match value {
        ScalarValue::TimestampNanosecond(Some(nanos), _) => Some(*nanos),
        ScalarValue::TimestampMicrosecond(Some(micros), _) => micros.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(millis), _) => millis.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(secs), _) => secs.checked_mul(1_000_000_000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::{col, lit};

    use super::*;

    fn ts(nanos: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(
            Some(nanos),
            Some("UTC".into()),
        ))
    }

    #[test]
    fn bounds_from_simple_filters() {
        let cases: Vec<(Vec<Expr>, TimeBounds)> = vec![
            (vec![col("timestamp").gt_eq(ts(10))], (Some(10), None)),
            (vec![col("timestamp").gt(ts(10))], (Some(11), None)),
            (vec![ts(10).gt(col("timestamp"))], (None, Some(9))),
            (
                vec![
                    col("timestamp")
                        .gt_eq(ts(10))
                        .and(col("timestamp").lt_eq(ts(20))),
                ],
                (Some(10), Some(20)),
            ),
            (vec![col("timestamp").eq(ts(5))], (Some(5), Some(5))),
            (
                vec![col("timestamp").between(ts(1), ts(2))],
                (Some(1), Some(2)),
            ),
            (vec![col("other").gt_eq(ts(10))], (None, None)),
            (
                vec![
                    col("timestamp")
                        .gt_eq(ts(10))
                        .or(col("timestamp").lt(ts(0))),
                ],
                (None, None),
            ),
            (
                vec![
                    col("timestamp").gt_eq(ts(10)),
                    col("timestamp").gt_eq(ts(15)),
                    col("timestamp").lt(lit(ScalarValue::TimestampSecond(Some(1), None))),
                ],
                (Some(15), Some(999_999_999)),
            ),
        ];
        for (filters, expected) in cases {
            assert_eq!(time_bounds(&filters, "timestamp"), expected, "{filters:?}");
        }
    }
}
