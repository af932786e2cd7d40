//! Query-string parameters shared by the span analytics and SLO endpoints: times, durations,
//! time ranges and limits. One rule for every endpoint, the Prometheus HTTP API's:
//!
//! - a **time** is RFC 3339 (`2026-11-28T10:00:00Z`, `2026-11-28T11:00:00.5+01:00`) or Unix
//!   seconds, optionally with a fraction (`1795860000`, `1795860000.25`);
//! - a **duration** is a number with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`, `d`,
//!   `w`), fractions and sequences allowed (`250ms`, `1.5s`, `1m30s`), or a bare number of
//!   seconds;
//! - `end` defaults to now and `start` to one hour before `end`.

use std::collections::BTreeMap;

use crate::QueryError;

/// The range used when `start` is absent.
pub const DEFAULT_RANGE_NANOS: i64 = 3_600 * 1_000_000_000;

/// Parses a time parameter into Unix nanoseconds.
pub fn parse_time(name: &str, text: &str) -> Result<i64, QueryError> {
    let bad = |why: &str| {
        QueryError::BadRequest(format!(
            "invalid `{name}` {text:?}: {why} (use RFC 3339 like 2026-11-28T10:00:00Z or Unix \
             seconds like 1795860000.5)"
        ))
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(bad("empty"));
    }
    if text
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return unix_seconds_to_nanos(text).ok_or_else(|| bad("not a number of seconds in range"));
    }
    let parsed =
        chrono::DateTime::parse_from_rfc3339(text).map_err(|error| bad(&error.to_string()))?;
    parsed
        .timestamp_nanos_opt()
        .ok_or_else(|| bad("out of range"))
}

/// `[-]SECONDS[.FRACTION]` as exact nanoseconds (a float would round `.25` away).
fn unix_seconds_to_nanos(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) || fraction.len() > 9 {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    let nanos = whole.checked_mul(1_000_000_000)?.checked_add(fraction)?;
    Some(if negative { -nanos } else { nanos })
}

/// Parses a duration parameter into nanoseconds.
pub fn parse_duration(name: &str, text: &str) -> Result<i64, QueryError> {
    let bad = |why: &str| {
        QueryError::BadRequest(format!(
            "invalid `{name}` {text:?}: {why} (use a number with a unit like 250ms, 1.5s, 1m30s)"
        ))
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(bad("empty"));
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return nanos_of(seconds, 1e9).ok_or_else(|| bad("out of range or negative"));
    }
    let mut total: i64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| bad("missing unit"))?;
        if number_len == 0 {
            return Err(bad("expected a number"));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| bad("not a number"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_nanos = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3_600e9,
            "d" => 86_400e9,
            "w" => 604_800e9,
            unit => return Err(bad(&format!("unknown unit {unit:?}"))),
        };
        rest = &rest[unit_len..];
        let part = nanos_of(number, unit_nanos).ok_or_else(|| bad("out of range"))?;
        total = total.checked_add(part).ok_or_else(|| bad("out of range"))?;
    }
    Ok(total)
}

fn nanos_of(number: f64, unit_nanos: f64) -> Option<i64> {
    let nanos = number * unit_nanos;
    (nanos.is_finite() && nanos >= 0.0 && nanos < i64::MAX as f64).then(|| nanos.round() as i64)
}

/// A parsed query string: every parameter once, except the repeatable `attr.KEY` ones.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
    /// `attr.KEY=VALUE` pairs in order.
    pub attributes: Vec<(String, String)>,
}

impl Params {
    /// Checks names against `allowed` (plus `attr.*` when `attributes_allowed`) and refuses
    /// repeated parameters.
    pub fn parse(
        pairs: Vec<(String, String)>,
        allowed: &[&str],
        attributes_allowed: bool,
    ) -> Result<Self, QueryError> {
        let mut params = Params::default();
        for (name, value) in pairs {
            if let Some(key) = name.strip_prefix("attr.")
                && attributes_allowed
            {
                if key.is_empty() {
                    return Err(QueryError::BadRequest(
                        "`attr.` needs an attribute key, like attr.http.route=/pay".into(),
                    ));
                }
                params.attributes.push((key.to_owned(), value));
                continue;
            }
            if !allowed.contains(&name.as_str()) {
                let mut known: Vec<String> = allowed.iter().map(|n| format!("`{n}`")).collect();
                if attributes_allowed {
                    known.push("`attr.KEY`".into());
                }
                return Err(QueryError::BadRequest(format!(
                    "unknown parameter `{name}` (known: {})",
                    known.join(", ")
                )));
            }
            if params.values.insert(name.clone(), value).is_some() {
                return Err(QueryError::BadRequest(format!(
                    "parameter `{name}` is given more than once"
                )));
            }
        }
        Ok(params)
    }

    /// The value of `name`, `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    /// `start` and `end` in Unix nanoseconds, with the defaults applied; `start <= end`.
    pub fn time_range(&self, now_unix_nanos: i64) -> Result<(i64, i64), QueryError> {
        let end = match self.get("end") {
            Some(text) => parse_time("end", text)?,
            None => now_unix_nanos,
        };
        let start = match self.get("start") {
            Some(text) => parse_time("start", text)?,
            None => end.saturating_sub(DEFAULT_RANGE_NANOS),
        };
        if start > end {
            return Err(QueryError::BadRequest(
                "`start` must not be after `end`".into(),
            ));
        }
        Ok((start, end))
    }

    /// A duration parameter in nanoseconds.
    pub fn duration(&self, name: &str) -> Result<Option<i64>, QueryError> {
        self.get(name)
            .map(|text| parse_duration(name, text))
            .transpose()
    }

    /// `limit`, between 1 and `max`, `default` when absent.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, QueryError> {
        let Some(text) = self.get("limit") else {
            return Ok(default);
        };
        match text.parse::<usize>() {
            Ok(limit) if (1..=max).contains(&limit) => Ok(limit),
            _ => Err(QueryError::BadRequest(format!(
                "invalid `limit` {text:?}: expected a whole number from 1 to {max}"
            ))),
        }
    }
}

/// Now, in Unix nanoseconds.
pub fn now_unix_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_duration(text: &str, expected: Option<i64>) {
        assert_eq!(parse_duration("d", text).ok(), expected, "{text:?}");
    }

    #[test]
    fn durations() {
        check_duration("250ms", Some(250_000_000));
        check_duration("1.5s", Some(1_500_000_000));
        check_duration("1m30s", Some(90_000_000_000));
        check_duration("2h", Some(7_200_000_000_000));
        check_duration("1d", Some(86_400_000_000_000));
        check_duration("100us", Some(100_000));
        check_duration("100µs", Some(100_000));
        check_duration("7ns", Some(7));
        check_duration("0.5", Some(500_000_000));
        check_duration("3", Some(3_000_000_000));
        check_duration(" 10ms ", Some(10_000_000));
        check_duration("", None);
        check_duration("ms", None);
        check_duration("10", Some(10_000_000_000));
        check_duration("10x", None);
        check_duration("-1s", None);
        check_duration("-1", None);
        check_duration("1.2.3s", None);
        check_duration("10 ms", None);
        check_duration("1e400", None);
        check_duration("NaN", None);
        check_duration("99999999999999h", None);
    }

    fn check_time(text: &str, expected: Option<i64>) {
        assert_eq!(parse_time("t", text).ok(), expected, "{text:?}");
    }

    #[test]
    fn times() {
        check_time("0", Some(0));
        check_time("1764324000", Some(1_764_324_000_000_000_000));
        check_time("1764324000.25", Some(1_764_324_000_250_000_000));
        check_time("2025-11-28T10:00:00Z", Some(1_764_324_000_000_000_000));
        check_time(
            "2025-11-28T11:00:00.5+01:00",
            Some(1_764_324_000_500_000_000),
        );
        check_time("-1", Some(-1_000_000_000));
        check_time("", None);
        check_time("yesterday", None);
        check_time("2026-11-28", None);
        check_time("1e30", None);
        check_time("99999999999999999999", None);
        check_time("1-2", None);
        check_time("1.0000000001", None);
        check_time(".5", Some(500_000_000));
        check_time(".", None);
        check_time("--1", None);
    }

    fn params(pairs: &[(&str, &str)]) -> Result<Params, QueryError> {
        Params::parse(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            &["start", "end", "limit"],
            true,
        )
    }

    #[test]
    fn parameter_sets() {
        let now = 10_000_000_000_000;
        let parsed = params(&[("attr.http.route", "/pay"), ("attr.a", "b")]).unwrap();
        assert_eq!(
            parsed.attributes,
            vec![
                ("http.route".into(), "/pay".into()),
                ("a".into(), "b".into())
            ]
        );
        assert_eq!(
            parsed.time_range(now).unwrap(),
            (now - DEFAULT_RANGE_NANOS, now)
        );
        let parsed = params(&[("start", "1"), ("end", "2"), ("limit", "5")]).unwrap();
        assert_eq!(
            parsed.time_range(now).unwrap(),
            (1_000_000_000, 2_000_000_000)
        );
        assert_eq!(parsed.limit(20, 100).unwrap(), 5);
        assert!(
            params(&[("start", "3"), ("end", "2")])
                .unwrap()
                .time_range(now)
                .is_err()
        );
        assert!(params(&[("bogus", "1")]).is_err());
        assert!(params(&[("limit", "1"), ("limit", "2")]).is_err());
        assert!(params(&[("attr.", "x")]).is_err());
        for bad_limit in ["0", "101", "x", "-1"] {
            assert!(
                params(&[("limit", bad_limit)])
                    .unwrap()
                    .limit(20, 100)
                    .is_err(),
                "{bad_limit}"
            );
        }
        assert_eq!(
            params(&[("limit", "")]).unwrap().limit(20, 100).unwrap(),
            20
        );
    }
}
