//! Exemplars of the series a query selects, from the exemplars stored with OTLP points.

use lookout_model::TenantId;
use lookout_storage::Reader;
use promql_parser::parser::Expr;

use super::fetch::{StoredExemplar, fetch_series, selector_matchers};
use super::labels::Labels;
use super::{Millis, PromqlError, parse};

/// The exemplars of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesExemplars {
    /// The series they belong to.
    pub series_labels: Labels,
    /// Exemplars in time order.
    pub exemplars: Vec<StoredExemplar>,
}

fn selectors<'a>(expr: &'a Expr, out: &mut Vec<&'a promql_parser::parser::VectorSelector>) {
    match expr {
        Expr::VectorSelector(selector) => out.push(selector),
        Expr::MatrixSelector(matrix) => out.push(&matrix.vs),
        Expr::Subquery(subquery) => selectors(&subquery.expr, out),
        Expr::Aggregate(aggregate) => selectors(&aggregate.expr, out),
        Expr::Unary(unary) => selectors(&unary.expr, out),
        Expr::Binary(binary) => {
            selectors(&binary.lhs, out);
            selectors(&binary.rhs, out);
        }
        Expr::Paren(paren) => selectors(&paren.expr, out),
        Expr::Call(call) => call.args.args.iter().for_each(|arg| selectors(arg, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Exemplars in `[start, end]` of every series any selector of `query` matches.
pub async fn query_exemplars(
    reader: &Reader,
    tenant: &TenantId,
    query: &str,
    start_ms: Millis,
    end_ms: Millis,
) -> Result<Vec<SeriesExemplars>, PromqlError> {
    let expr = parse(query)?;
    let mut found = Vec::new();
    selectors(&expr, &mut found);
    let mut out: Vec<SeriesExemplars> = Vec::new();
    for selector in found {
        let sets = selector_matchers(selector.name.as_deref(), &selector.matchers);
        // Points are stored at export time, after their exemplars; read a little past `end`.
        let series =
            fetch_series(reader, tenant, &sets, start_ms - 1, end_ms + 60_000, true).await?;
        for s in series {
            let mut exemplars: Vec<StoredExemplar> = s
                .exemplars
                .into_iter()
                .filter(|e| e.timestamp_ms >= start_ms && e.timestamp_ms <= end_ms)
                .collect();
            if exemplars.is_empty() {
                continue;
            }
            exemplars.sort_by_key(|e| e.timestamp_ms);
            exemplars.dedup();
            if let Some(existing) = out.iter_mut().find(|e| e.series_labels == s.labels) {
                existing.exemplars.extend(exemplars);
                continue;
            }
            out.push(SeriesExemplars {
                series_labels: s.labels,
                exemplars,
            });
        }
    }
    Ok(out)
}
