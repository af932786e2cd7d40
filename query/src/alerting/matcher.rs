//! Label matchers as Alertmanager writes them (`severity="page"`, `slo=~"checkout-.*"`,
//! `team!=db`, `env!~"dev|test"`): used by routes, inhibition rules and silences.

use std::collections::BTreeMap;
use std::fmt;

use lookout_model::alerting::SilenceMatcher;
use regex::Regex;

/// Alert labels.
pub type Labels = BTreeMap<String, String>;

/// The four matcher operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (regular expression anchored at both ends)
    Regex,
    /// `!~`
    NotRegex,
}

/// One matcher. A missing label matches as the empty string, as in Alertmanager.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Operator.
    pub op: MatchOp,
    /// Value or pattern as written.
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// A matcher; fails on an invalid regular expression or an empty name.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, String> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(format!("invalid label name `{name}` in matcher"));
        }
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|error| format!("invalid regular expression `{value}`: {error}"))?,
            ),
            _ => None,
        };
        Ok(Self {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        })
    }

    /// Parses `name="value"`, `name!=value`, `name=~"re"` or `name!~re`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let position = text
            .find(['=', '!'])
            .ok_or_else(|| format!("invalid matcher `{text}`: expected name, operator, value"))?;
        let name = text[..position].trim();
        let rest = &text[position..];
        let (op, value) = if let Some(value) = rest.strip_prefix("=~") {
            (MatchOp::Regex, value)
        } else if let Some(value) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, value)
        } else if let Some(value) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, value)
        } else if let Some(value) = rest.strip_prefix('=') {
            (MatchOp::Equal, value)
        } else {
            return Err(format!("invalid matcher `{text}`: unknown operator"));
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Self::new(name, op, &value.replace("\\\"", "\""))
            .map_err(|error| format!("invalid matcher `{text}`: {error}"))
    }

    /// The matcher of a silence.
    pub fn from_silence(matcher: &SilenceMatcher) -> Result<Self, String> {
        let op = match (matcher.is_regex, matcher.is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        };
        Self::new(&matcher.name, op, &matcher.value)
    }

    /// Whether the labels satisfy this matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.name).map_or("", String::as_str);
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        write!(f, "{}{op}{:?}", self.name, self.value)
    }
}

/// Whether every matcher matches.
pub fn all_match(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn check(matcher: &str, pairs: &[(&str, &str)], expected: bool) {
        let parsed = Matcher::parse(matcher).unwrap();
        assert_eq!(
            parsed.matches(&labels(pairs)),
            expected,
            "{matcher} {pairs:?}"
        );
    }

    #[test]
    fn operators() {
        check("severity=page", &[("severity", "page")], true);
        check("severity=\"page\"", &[("severity", "page")], true);
        check("severity=page", &[("severity", "ticket")], false);
        check("severity!=page", &[("severity", "ticket")], true);
        check("severity!=page", &[], true);
        check("slo=~\"check.*\"", &[("slo", "checkout")], true);
        check("slo=~check", &[("slo", "checkout")], false);
        check("slo!~\"check.*\"", &[("slo", "checkout")], false);
        check("slo!~\"check.*\"", &[("slo", "search")], true);
        check("team=\"\"", &[], true);
    }

    #[test]
    fn invalid_matchers_are_refused() {
        for bad in ["severity", "=page", "slo=~\"(\"", "a b=c"] {
            assert!(Matcher::parse(bad).is_err(), "{bad}");
        }
    }
}
