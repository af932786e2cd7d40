//! Translation of a parsed [`SearchQuery`] into a tantivy query over the index schema.

use std::ops::Bound;

use lookout_model::search::{SearchField, SearchQuery};
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query, RangeQuery,
    TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TokenizerManager;

use super::document::{TOKENIZER, fields};
use crate::TimeRange;

/// How many index terms a prefix may expand to; more are ignored (a bound on cost, as
/// regular expressions would need).
pub(crate) const MAX_PREFIX_EXPANSIONS: u32 = 10_000;

/// The tantivy query of `query` restricted to `range` (event time, inclusive).
pub(crate) fn to_tantivy(query: &SearchQuery, range: TimeRange) -> Box<dyn Query> {
    let f = fields();
    let time = RangeQuery::new(
        Bound::Included(Term::from_field_i64(f.timestamp, range.start_unix_nanos)),
        Bound::Included(Term::from_field_i64(f.timestamp, range.end_unix_nanos)),
    );
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, Box::new(time))];
    add_clauses(query, &mut clauses);
    Box::new(BooleanQuery::new(clauses))
}

/// Adds `query` to a conjunction (so `a AND NOT b` needs no extra all-docs clause).
fn add_clauses(query: &SearchQuery, clauses: &mut Vec<(Occur, Box<dyn Query>)>) {
    match query {
        SearchQuery::All => {}
        SearchQuery::And(children) => {
            for child in children {
                add_clauses(child, clauses);
            }
        }
        SearchQuery::Not(child) => clauses.push((Occur::MustNot, translate(child))),
        other => clauses.push((Occur::Must, translate(other))),
    }
}

fn translate(query: &SearchQuery) -> Box<dyn Query> {
    match query {
        SearchQuery::All => Box::new(AllQuery),
        SearchQuery::Term { field, text } | SearchQuery::Phrase { field, text } => {
            text_query(field, text, false)
        }
        SearchQuery::Prefix { field, prefix } => text_query(field, prefix, true),
        SearchQuery::Severity { min, max } => {
            let field = fields().severity;
            let low = u64::try_from(*min).unwrap_or(0);
            let high = u64::try_from(*max).unwrap_or(0);
            Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_u64(field, low)),
                Bound::Included(Term::from_field_u64(field, high)),
            ))
        }
        SearchQuery::And(_) => {
            let mut clauses = Vec::new();
            add_clauses(query, &mut clauses);
            if clauses.iter().all(|(occur, _)| *occur == Occur::MustNot) {
                clauses.push((Occur::Must, Box::new(AllQuery)));
            }
            Box::new(BooleanQuery::new(clauses))
        }
        SearchQuery::Or(children) => Box::new(BooleanQuery::new(
            children
                .iter()
                .map(|child| (Occur::Should, translate(child)))
                .collect(),
        )),
        SearchQuery::Not(child) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery)),
            (Occur::MustNot, translate(child)),
        ])),
    }
}

/// Where a field's terms live: the index field and, for JSON fields, the path.
fn target(field: &SearchField) -> (Field, Option<&str>) {
    let f = fields();
    match field {
        SearchField::Text => (f.text, None),
        SearchField::Service => (f.service, None),
        SearchField::TraceId => (f.trace_id, None),
        SearchField::SpanId => (f.span_id, None),
        SearchField::Name => (f.name, None),
        SearchField::Status => (f.status, None),
        SearchField::Attribute(path) => (f.attributes, Some(path)),
        SearchField::Resource(path) => (f.resource, Some(path)),
        SearchField::Body(path) => (f.body, Some(path)),
    }
}

/// A term, phrase or prefix query: exact fields match the whole value as one term; other
/// fields are tokenized as at indexing, several tokens making a phrase.
fn text_query(field: &SearchField, text: &str, prefix: bool) -> Box<dyn Query> {
    let (index_field, path) = target(field);
    let make_term = |token: &str| match path {
        Some(path) => {
            let mut term = Term::from_field_json_path(index_field, path, true);
            term.append_type_and_str(token);
            term
        }
        None => Term::from_field_text(index_field, token),
    };
    let terms: Vec<(usize, Term)> = if field.is_exact() {
        let value = match field {
            SearchField::TraceId | SearchField::SpanId | SearchField::Status => {
                text.to_ascii_lowercase()
            }
            _ => text.to_owned(),
        };
        vec![(0, make_term(&value))]
    } else {
        tokenize(text)
            .into_iter()
            .map(|(position, token)| (position, make_term(&token)))
            .collect()
    };
    if prefix {
        if terms.is_empty() {
            // `*` alone, or a prefix of separators only: everything that has the field.
            return Box::new(AllQuery);
        }
        let mut query = PhrasePrefixQuery::new_with_offset(terms);
        query.set_max_expansions(MAX_PREFIX_EXPANSIONS);
        return Box::new(query);
    }
    match terms.len() {
        0 => Box::new(EmptyQuery),
        1 => {
            let (_, term) = terms.into_iter().next().expect("one term");
            Box::new(TermQuery::new(term, IndexRecordOption::Basic))
        }
        _ => Box::new(PhraseQuery::new_with_offset(terms)),
    }
}

/// The tokens of `text` with their positions, as the index tokenizer produces them.
pub(crate) fn tokenize(text: &str) -> Vec<(usize, String)> {
    let Some(mut analyzer) = TokenizerManager::default().get(TOKENIZER) else {
        return Vec::new();
    };
    let mut tokens = Vec::new();
    let mut stream = analyzer.token_stream(text);
    stream.process(&mut |token| tokens.push((token.position, token.text.clone())));
    tokens
}
