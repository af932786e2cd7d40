//! `matches(body, 'query')` in SQL over `logs` (and `spans`): the table recognises the filter
//! and answers the scan from the full-text index (only the matching rows are read), instead
//! of scanning and filtering bodies.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarUDF, Volatility, create_udf};
use lookout_model::search::SearchQuery;

/// Name of the SQL function.
pub(crate) const MATCHES: &str = "matches";

/// Parses the text of a `matches` query (the query language lives outside storage).
pub type SearchParser = fn(&str) -> Result<SearchQuery, String>;

/// The `matches(column, 'query')` function. It has no row-by-row implementation: it only
/// works as a filter (`WHERE`) on `logs` or `spans`, where the table answers it from the index.
pub(crate) fn matches_udf() -> ScalarUDF {
    create_udf(
        MATCHES,
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(|_args: &[ColumnarValue]| {
            Err(DataFusionError::Plan(
                "matches(column, 'query') works only as a WHERE condition on the logs or spans table"
                    .into(),
            ))
        }),
    )
}

/// The query text of a `matches(column, 'text')` filter, if `expr` is one.
pub(crate) fn matches_text(expr: &Expr) -> Option<&str> {
    let Expr::ScalarFunction(ScalarFunction { func, args }) = expr else {
        return None;
    };
    if func.name() != MATCHES || args.len() != 2 {
        return None;
    }
    match &args[1] {
        Expr::Literal(ScalarValue::Utf8(Some(text)), _)
        | Expr::Literal(ScalarValue::LargeUtf8(Some(text)), _)
        | Expr::Literal(ScalarValue::Utf8View(Some(text)), _) => Some(text),
        _ => None,
    }
}
