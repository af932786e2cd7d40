//! Which samples an expression needs: every selector with the time range its evaluation reads,
//! computed with the same offset, `@` and subquery arithmetic the evaluator uses.

use promql_parser::label::Matcher;
use promql_parser::parser::{Expr, VectorSelector};

use super::eval::{Grid, at_time, offset_ms, subquery_grid};
use super::fetch::selector_matchers;
use super::{Millis, PromqlConfig};

/// The samples one selector needs: those in `(mint, maxt]`.
#[derive(Debug, Clone)]
pub struct Need {
    /// Identity of the selector node in the expression tree.
    pub key: usize,
    /// Matcher sets (alternatives), the metric name included.
    pub matchers: Vec<Vec<Matcher>>,
    /// Exclusive lower bound.
    pub mint: Millis,
    /// Inclusive upper bound.
    pub maxt: Millis,
}

/// The identity of a selector node (its address; the tree is not moved while evaluating).
pub fn selector_key(selector: &VectorSelector) -> usize {
    selector as *const VectorSelector as usize
}

/// Every selector of `expr` evaluated over `grid`.
pub fn collect(expr: &Expr, grid: Grid, config: &PromqlConfig) -> Vec<Need> {
    let mut needs: Vec<Need> = Vec::new();
    walk(expr, grid, grid, config, &mut needs);
    needs
}

fn add(needs: &mut Vec<Need>, selector: &VectorSelector, grid: Grid, query: Grid, range: Millis) {
    let offset = offset_ms(&selector.offset);
    let (first, last) = match at_time(&selector.at, query) {
        Some(at) => (at, at),
        None => (grid.start, grid.end),
    };
    let mint = first - offset - range;
    let maxt = last - offset;
    let key = selector_key(selector);
    if let Some(need) = needs.iter_mut().find(|need| need.key == key) {
        need.mint = need.mint.min(mint);
        need.maxt = need.maxt.max(maxt);
        return;
    }
    needs.push(Need {
        key,
        matchers: selector_matchers(selector.name.as_deref(), &selector.matchers),
        mint,
        maxt,
    });
}

fn walk(expr: &Expr, grid: Grid, query: Grid, config: &PromqlConfig, needs: &mut Vec<Need>) {
    match expr {
        Expr::VectorSelector(selector) => {
            let lookback = config.lookback_delta.as_millis() as Millis;
            add(needs, selector, grid, query, lookback);
        }
        Expr::MatrixSelector(matrix) => {
            let range = matrix.range.as_millis() as Millis;
            add(needs, &matrix.vs, grid, query, range);
        }
        Expr::Subquery(subquery) => {
            let inner = subquery_grid(grid, query, subquery, config);
            walk(&subquery.expr, inner, query, config, needs);
        }
        Expr::Aggregate(aggregate) => {
            walk(&aggregate.expr, grid, query, config, needs);
            if let Some(param) = &aggregate.param {
                walk(param, grid, query, config, needs);
            }
        }
        Expr::Unary(unary) => walk(&unary.expr, grid, query, config, needs),
        Expr::Binary(binary) => {
            walk(&binary.lhs, grid, query, config, needs);
            walk(&binary.rhs, grid, query, config, needs);
        }
        Expr::Paren(paren) => walk(&paren.expr, grid, query, config, needs),
        Expr::Call(call) => {
            for arg in &call.args.args {
                walk(arg, grid, query, config, needs);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}
