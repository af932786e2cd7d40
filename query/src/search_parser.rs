//! The search language parser: text -> [`SearchQuery`], by recursive descent.
//!
//! ```text
//! query    := or? EOF                  (empty query: everything)
//! or       := and ("OR" and)*
//! and      := unary ("AND"? unary)*    (juxtaposition means AND)
//! unary    := ("NOT" | "-") unary | primary
//! primary  := "(" or ")" | field_op value | value
//! field_op := FIELD ":" | "severity" (">=" | ">" | "<=" | "<" | "=")
//! value    := WORD | WORD"*" | "\"" PHRASE "\"" | "*"
//! ```
//!
//! Positions in errors count characters from 0.

use lookout_model::search::{SearchField, SearchQuery, severity_level_range};

/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Deepest nesting of parentheses and `NOT`s accepted.
const MAX_DEPTH: usize = 64;

/// A query that does not parse, with the character position of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid query at position {position}: {message}")]
pub struct SearchParseError {
    /// Character offset (from 0) where the problem is.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

fn error<T>(position: usize, message: impl Into<String>) -> Result<T, SearchParseError> {
    Err(SearchParseError {
        position,
        message: message.into(),
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    LeftParen,
    RightParen,
    /// A run of characters other than whitespace, parentheses and quotes.
    Word(String),
    /// Text between double quotes (escapes `\"` and `\\` resolved).
    Quoted(String),
}

#[derive(Debug, Clone)]
struct Lexed {
    token: Token,
    /// Character position of the first character.
    position: usize,
    /// Whether whitespace (or the start) precedes the token.
    spaced: bool,
}

fn lex(input: &str) -> Result<Vec<Lexed>, SearchParseError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    let mut spaced = true;
    while index < chars.len() {
        let c = chars[index];
        if c.is_whitespace() {
            spaced = true;
            index += 1;
            continue;
        }
        let position = index;
        let token = match c {
            '(' => {
                index += 1;
                Token::LeftParen
            }
            ')' => {
                index += 1;
                Token::RightParen
            }
            '"' => {
                let mut text = String::new();
                index += 1;
                loop {
                    match chars.get(index) {
                        None => {
                            return error(position, "unterminated phrase: missing closing `\"`");
                        }
                        Some('"') => {
                            index += 1;
                            break;
                        }
                        Some('\\') => match chars.get(index + 1) {
                            Some(escaped @ ('"' | '\\')) => {
                                text.push(*escaped);
                                index += 2;
                            }
                            _ => {
                                text.push('\\');
                                index += 1;
                            }
                        },
                        Some(other) => {
                            text.push(*other);
                            index += 1;
                        }
                    }
                }
                Token::Quoted(text)
            }
            _ => {
                let mut text = String::new();
                while let Some(&c) = chars.get(index) {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '"') {
                        break;
                    }
                    text.push(c);
                    index += 1;
                }
                Token::Word(text)
            }
        };
        tokens.push(Lexed {
            token,
            position,
            spaced,
        });
        spaced = false;
    }
    Ok(tokens)
}

/// Parses a search query; an empty (or blank) query matches everything.
pub fn parse_search(input: &str) -> Result<SearchQuery, SearchParseError> {
    if input.len() > MAX_QUERY_BYTES {
        return error(
            0,
            format!(
                "query is {} bytes long, at most {MAX_QUERY_BYTES} are accepted",
                input.len()
            ),
        );
    }
    let tokens = lex(input)?;
    let mut parser = Parser {
        tokens,
        next: 0,
        end: input.chars().count(),
        depth: 0,
    };
    if parser.tokens.is_empty() {
        return Ok(SearchQuery::All);
    }
    let query = parser.or()?;
    if let Some(extra) = parser.peek() {
        let what = match &extra.token {
            Token::RightParen => "unbalanced `)`".to_owned(),
            other => format!("unexpected {}", describe(other)),
        };
        return error(extra.position, what);
    }
    Ok(query)
}

fn describe(token: &Token) -> String {
    match token {
        Token::LeftParen => "`(`".into(),
        Token::RightParen => "`)`".into(),
        Token::Word(word) => format!("`{word}`"),
        Token::Quoted(text) => format!("phrase \"{text}\""),
    }
}

struct Parser {
    tokens: Vec<Lexed>,
    next: usize,
    /// Character length of the input (position of "end of query").
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Lexed> {
        self.tokens.get(self.next)
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Lexed { token: Token::Word(w), .. }) if w == word)
    }

    fn advance(&mut self) -> Option<Lexed> {
        let token = self.tokens.get(self.next).cloned();
        self.next += 1;
        token
    }

    fn or(&mut self) -> Result<SearchQuery, SearchParseError> {
        let mut children = vec![self.and()?];
        while self.peek_word("OR") {
            self.advance();
            children.push(self.and()?);
        }
        Ok(combine(children, SearchQuery::Or))
    }

    fn and(&mut self) -> Result<SearchQuery, SearchParseError> {
        let mut children = vec![self.unary()?];
        loop {
            match self.peek() {
                None => break,
                Some(Lexed {
                    token: Token::RightParen,
                    ..
                }) => break,
                Some(Lexed {
                    token: Token::Word(word),
                    ..
                }) if word == "OR" => break,
                Some(Lexed {
                    token: Token::Word(word),
                    ..
                }) if word == "AND" => {
                    self.advance();
                }
                Some(_) => {}
            }
            children.push(self.unary()?);
        }
        Ok(combine(children, SearchQuery::And))
    }

    fn unary(&mut self) -> Result<SearchQuery, SearchParseError> {
        let Some(next) = self.peek().cloned() else {
            return error(
                self.end,
                "expected a term, a phrase or `(` at the end of the query",
            );
        };
        self.enter(next.position)?;
        let result = match &next.token {
            Token::Word(word) if word == "NOT" => {
                self.advance();
                self.unary().map(|child| SearchQuery::Not(Box::new(child)))
            }
            Token::Word(word) if word.len() > 1 && word.starts_with('-') => {
                // `-term` excludes; the rest of the word is parsed as a term of its own.
                self.tokens[self.next].token = Token::Word(word[1..].to_owned());
                self.tokens[self.next].position += 1;
                self.unary().map(|child| SearchQuery::Not(Box::new(child)))
            }
            _ => self.primary(),
        };
        self.depth -= 1;
        result
    }

    fn enter(&mut self, position: usize) -> Result<(), SearchParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return error(
                position,
                format!("query nests deeper than {MAX_DEPTH} levels"),
            );
        }
        Ok(())
    }

    fn primary(&mut self) -> Result<SearchQuery, SearchParseError> {
        let Some(lexed) = self.advance() else {
            return error(self.end, "expected a term at the end of the query");
        };
        match lexed.token {
            Token::LeftParen => {
                if matches!(
                    self.peek(),
                    Some(Lexed {
                        token: Token::RightParen,
                        ..
                    })
                ) {
                    return error(lexed.position, "empty parentheses");
                }
                let inner = self.or()?;
                match self.advance() {
                    Some(Lexed {
                        token: Token::RightParen,
                        ..
                    }) => Ok(inner),
                    Some(other) => error(
                        other.position,
                        format!("expected `)`, found {}", describe(&other.token)),
                    ),
                    None => error(
                        self.end,
                        format!("missing `)` for the `(` at position {}", lexed.position),
                    ),
                }
            }
            Token::RightParen => error(lexed.position, "unexpected `)`"),
            Token::Quoted(text) => Ok(SearchQuery::Phrase {
                field: SearchField::Text,
                text,
            }),
            Token::Word(word) => self.word(word, lexed.position),
        }
    }

    /// A word: `AND`/`OR` misplaced, `field:value`, `severity>=level`, or a bare value.
    fn word(&mut self, word: String, position: usize) -> Result<SearchQuery, SearchParseError> {
        if word == "AND" || word == "OR" {
            return error(position, format!("`{word}` needs a term on both sides"));
        }
        if let Some((name, operator, value)) = split_field(&word) {
            let field_name_end = position + name.chars().count();
            let value_position = field_name_end + operator.len();
            let field =
                resolve_field(name).map_err(|message| SearchParseError { position, message })?;
            return match field {
                FieldKind::Severity => {
                    let value = self.field_value_text(value, value_position)?;
                    severity(operator, &value, value_position)
                }
                FieldKind::Search(_) if operator != ":" => error(
                    field_name_end,
                    format!("`{operator}` compares only `severity`; use `{name}:value`"),
                ),
                FieldKind::Search(field) => {
                    if value.is_empty() {
                        return match self.peek().cloned() {
                            Some(Lexed {
                                token: Token::Quoted(text),
                                spaced: false,
                                ..
                            }) => {
                                self.advance();
                                Ok(SearchQuery::Phrase { field, text })
                            }
                            _ => error(value_position, format!("expected a value after `{name}:`")),
                        };
                    }
                    value_query(field, value, value_position)
                }
            };
        }
        value_query(SearchField::Text, &word, position)
    }

    /// The value of `severity<op>`: the rest of the word, or an adjacent phrase.
    fn field_value_text(
        &mut self,
        value: &str,
        position: usize,
    ) -> Result<String, SearchParseError> {
        if !value.is_empty() {
            return Ok(value.to_owned());
        }
        match self.peek().cloned() {
            Some(Lexed {
                token: Token::Quoted(text),
                spaced: false,
                ..
            }) => {
                self.advance();
                Ok(text)
            }
            _ => error(
                position,
                "expected a severity level (trace, debug, info, warn, error, fatal or 1-24)",
            ),
        }
    }
}

fn combine(
    mut children: Vec<SearchQuery>,
    make: fn(Vec<SearchQuery>) -> SearchQuery,
) -> SearchQuery {
    if children.len() == 1 {
        children.pop().expect("one child")
    } else {
        make(children)
    }
}

/// Splits `name:value` / `name>=value` when `name` looks like a field name.
fn split_field(word: &str) -> Option<(&str, &'static str, &str)> {
    let name_end = word
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@' | '/')))
        .map(|(index, _)| index)?;
    if name_end == 0 {
        return None;
    }
    let (name, rest) = word.split_at(name_end);
    let operator = [">=", "<=", ":", ">", "<", "="]
        .into_iter()
        .find(|operator| rest.starts_with(operator))?;
    Some((name, operator, &rest[operator.len()..]))
}

enum FieldKind {
    Search(SearchField),
    Severity,
}

fn resolve_field(name: &str) -> Result<FieldKind, String> {
    let field = match name {
        "body" | "text" | "message" | "msg" => SearchField::Text,
        "service" | "service.name" | "service_name" => SearchField::Service,
        "trace_id" | "traceid" | "trace" => SearchField::TraceId,
        "span_id" | "spanid" => SearchField::SpanId,
        "name" | "span_name" => SearchField::Name,
        "status" | "status_code" => SearchField::Status,
        "severity" | "level" | "severity_text" | "severity_number" => {
            return Ok(FieldKind::Severity);
        }
        _ => {
            let nested = |prefix: &str| {
                name.strip_prefix(prefix)
                    .filter(|rest| !rest.is_empty())
                    .map(str::to_owned)
            };
            if let Some(key) = nested("attributes.").or_else(|| nested("attr.")) {
                SearchField::Attribute(key)
            } else if let Some(key) = nested("resource.") {
                SearchField::Resource(key)
            } else if let Some(key) = nested("body.") {
                SearchField::Body(key)
            } else {
                return Err(format!(
                    "unknown field `{name}` (fields: body, service, severity, trace_id, span_id, name, status, attributes.KEY, resource.KEY, body.KEY; quote text that contains `:`)"
                ));
            }
        }
    };
    Ok(FieldKind::Search(field))
}

/// A bare or field value: `word`, `prefix*`, `*`.
fn value_query(
    field: SearchField,
    value: &str,
    position: usize,
) -> Result<SearchQuery, SearchParseError> {
    if value == "*" {
        return Ok(if field == SearchField::Text {
            SearchQuery::All
        } else {
            SearchQuery::Prefix {
                field,
                prefix: String::new(),
            }
        });
    }
    if let Some(star) = value.find(['*', '?']) {
        let is_trailing_star = star == value.len() - 1 && value.ends_with('*');
        if !is_trailing_star {
            return error(
                position + value[..star].chars().count(),
                "wildcards are supported only at the end of a word (`pay*`)",
            );
        }
        return Ok(SearchQuery::Prefix {
            field,
            prefix: value[..star].to_owned(),
        });
    }
    Ok(SearchQuery::Term {
        field,
        text: value.to_owned(),
    })
}

/// `severity<op>level` as a number range.
fn severity(operator: &str, value: &str, position: usize) -> Result<SearchQuery, SearchParseError> {
    let (low, high) = match value.parse::<i32>() {
        Ok(number) if (1..=24).contains(&number) => (number, number),
        Ok(_) => return error(position, "severity numbers go from 1 to 24"),
        Err(_) => severity_level_range(value).ok_or_else(|| SearchParseError {
            position,
            message: format!(
                "unknown severity `{value}` (trace, debug, info, warn, error, fatal or 1-24)"
            ),
        })?,
    };
    let (min, max) = match operator {
        ":" | "=" => (low, high),
        ">=" => (low, 24),
        ">" => (high + 1, 24),
        "<=" => (1, high),
        "<" => (1, low - 1),
        _ => return error(position, format!("unknown operator `{operator}`")),
    };
    if min > max {
        return error(position, format!("no severity is {operator} {value}"));
    }
    Ok(SearchQuery::Severity { min, max })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(query: &SearchQuery) -> String {
        let field = |field: &SearchField| match field {
            SearchField::Text => "text".to_owned(),
            SearchField::Service => "service".to_owned(),
            SearchField::TraceId => "trace_id".to_owned(),
            SearchField::SpanId => "span_id".to_owned(),
            SearchField::Name => "name".to_owned(),
            SearchField::Status => "status".to_owned(),
            SearchField::Attribute(key) => format!("attributes.{key}"),
            SearchField::Resource(key) => format!("resource.{key}"),
            SearchField::Body(key) => format!("body.{key}"),
        };
        let list = |op: &str, children: &[SearchQuery]| {
            let inner: Vec<String> = children.iter().map(render).collect();
            format!("({op} {})", inner.join(" "))
        };
        match query {
            SearchQuery::All => "*".into(),
            SearchQuery::Term { field: f, text } => format!("{}:{text}", field(f)),
            SearchQuery::Phrase { field: f, text } => format!("{}:\"{text}\"", field(f)),
            SearchQuery::Prefix { field: f, prefix } => format!("{}:{prefix}*", field(f)),
            SearchQuery::Severity { min, max } => format!("severity[{min}..{max}]"),
            SearchQuery::And(children) => list("AND", children),
            SearchQuery::Or(children) => list("OR", children),
            SearchQuery::Not(child) => format!("(NOT {})", render(child)),
        }
    }

    fn check(input: &str, expected: &str) {
        match parse_search(input) {
            Ok(query) => assert_eq!(render(&query), expected, "input: {input}"),
            Err(error) => panic!("input `{input}` failed: {error}"),
        }
    }

    fn check_error(input: &str, position: usize, message_part: &str) {
        match parse_search(input) {
            Ok(query) => panic!("input `{input}` parsed as {}", render(&query)),
            Err(error) => {
                assert_eq!(error.position, position, "input `{input}`: {error}");
                assert!(
                    error.message.contains(message_part),
                    "input `{input}`: `{}` lacks `{message_part}`",
                    error.message
                );
            }
        }
    }

    #[test]
    fn valid_queries() {
        let cases = [
            ("", "*"),
            ("   ", "*"),
            ("*", "*"),
            ("timeout", "text:timeout"),
            ("req-42", "text:req-42"),
            ("\"payment declined\"", "text:\"payment declined\""),
            ("\"say \\\"hi\\\"\"", "text:\"say \"hi\"\""),
            ("pay*", "text:pay*"),
            ("a b", "(AND text:a text:b)"),
            ("a AND b", "(AND text:a text:b)"),
            ("a OR b", "(OR text:a text:b)"),
            ("a b OR c", "(OR (AND text:a text:b) text:c)"),
            ("a (b OR c)", "(AND text:a (OR text:b text:c))"),
            ("NOT a", "(NOT text:a)"),
            ("-a b", "(AND (NOT text:a) text:b)"),
            ("a NOT b", "(AND text:a (NOT text:b))"),
            ("NOT NOT a", "(NOT (NOT text:a))"),
            ("((a))", "text:a"),
            ("and or not", "(AND text:and text:or text:not)"),
            ("service:checkout", "service:checkout"),
            ("service.name:checkout", "service:checkout"),
            ("body:timeout", "text:timeout"),
            (
                "trace_id:0AF7651916CD43DD8448EB211C80319C",
                "trace_id:0AF7651916CD43DD8448EB211C80319C",
            ),
            ("span_id:b7ad6b7169203331", "span_id:b7ad6b7169203331"),
            ("name:checkout*", "name:checkout*"),
            ("status:error", "status:error"),
            (
                "attributes.http.route:\"/api/pay\"",
                "attributes.http.route:\"/api/pay\"",
            ),
            (
                "attributes.http.route:/api/pay",
                "attributes.http.route:/api/pay",
            ),
            ("attr.user_id:42", "attributes.user_id:42"),
            ("resource.host.name:web-1", "resource.host.name:web-1"),
            ("body.user:alice", "body.user:alice"),
            ("attributes.k:*", "attributes.k:*"),
            ("severity:error", "severity[17..20]"),
            ("level:WARN", "severity[13..16]"),
            ("severity>=warn", "severity[13..24]"),
            ("severity>warn", "severity[17..24]"),
            ("severity<=info", "severity[1..12]"),
            ("severity<info", "severity[1..8]"),
            ("severity=9", "severity[9..9]"),
            ("severity>=13", "severity[13..24]"),
            ("severity:\"error\"", "severity[17..20]"),
            (
                "service:checkout AND severity>=warn AND NOT \"health check\"",
                "(AND service:checkout severity[13..24] (NOT text:\"health check\"))",
            ),
            ("a OR b OR c", "(OR text:a text:b text:c)"),
            ("\"a\"\"b\"", "(AND text:\"a\" text:\"b\")"),
            ("/api/pay", "text:/api/pay"),
            ("héllo wörld", "(AND text:héllo text:wörld)"),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn malformed_queries_report_the_position() {
        let cases = [
            ("\"unterminated", 0, "unterminated phrase"),
            ("a \"b", 2, "unterminated phrase"),
            ("(a", 2, "missing `)`"),
            ("a)", 1, "unbalanced `)`"),
            ("()", 0, "empty parentheses"),
            ("a AND", 5, "expected a term"),
            ("OR a", 0, "needs a term on both sides"),
            ("a OR OR b", 5, "needs a term on both sides"),
            ("NOT", 3, "expected a term"),
            ("unknown:x", 0, "unknown field `unknown`"),
            ("http://example.com", 0, "unknown field `http`"),
            ("service:", 8, "expected a value"),
            ("service: checkout", 8, "expected a value"),
            ("service>=a", 7, "compares only `severity`"),
            ("severity>=loud", 10, "unknown severity"),
            ("severity>=30", 10, "from 1 to 24"),
            ("severity<trace", 9, "no severity"),
            ("severity>fatal", 9, "no severity"),
            ("severity>=", 10, "expected a severity level"),
            ("p*y", 1, "wildcards"),
            ("ab?", 2, "wildcards"),
            ("x *y", 2, "wildcards"),
            ("a (b", 4, "missing `)`"),
            ("attributes.:x", 0, "unknown field"),
        ];
        for (input, position, message) in cases {
            check_error(input, position, message);
        }
    }

    #[test]
    fn limits_on_size_and_depth() {
        let deep = format!("{}a{}", "(".repeat(100), ")".repeat(100));
        let error = parse_search(&deep).unwrap_err();
        assert!(error.message.contains("nests deeper"), "{error}");
        let nots = format!("{}a", "NOT ".repeat(100));
        assert!(parse_search(&nots).is_err());
        let long = "a ".repeat(MAX_QUERY_BYTES);
        assert_eq!(parse_search(&long).unwrap_err().position, 0);
    }
}
