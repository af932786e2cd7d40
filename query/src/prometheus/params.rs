//! Request parameters as Prometheus reads them: the URL query and, for POST, a
//! `application/x-www-form-urlencoded` body; times as RFC 3339 or Unix seconds, durations as
//! `5m`-style or float seconds.

use axum::http::{HeaderMap, header};

use super::ApiError;
use crate::promql::Millis;

/// All `(name, value)` pairs of a request.
pub struct Params(Vec<(String, String)>);

/// Now, in Unix milliseconds.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

impl Params {
    /// Reads the URL query and a form body.
    pub fn parse(
        raw_query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Self, ApiError> {
        let mut pairs: Vec<(String, String)> = match raw_query {
            Some(raw) => serde_urlencoded::from_str(raw)
                .map_err(|error| ApiError::bad_data(format!("invalid query string: {error}")))?,
            None => Vec::new(),
        };
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form && !body.is_empty() {
            let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|error| ApiError::bad_data(format!("invalid form body: {error}")))?;
            // As Go's ParseForm: body values come first.
            pairs.splice(0..0, form);
        }
        Ok(Self(pairs))
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// A parameter that must be present and non-empty.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.first(name) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(ApiError::bad_data(format!(
                "invalid parameter \"{name}\": parameter is missing"
            ))),
        }
    }

    /// A time parameter that must be present.
    pub fn required_time(&self, name: &str) -> Result<Millis, ApiError> {
        let text = self.required(name)?;
        parse_time(text)
            .map_err(|error| ApiError::bad_data(format!("invalid parameter \"{name}\": {error}")))
    }

    /// A time parameter, `now` when absent.
    pub fn time_or_now(&self, name: &str) -> Result<Millis, ApiError> {
        self.time_or(name, now_ms())
    }

    /// A time parameter with a default.
    pub fn time_or(&self, name: &str, default: Millis) -> Result<Millis, ApiError> {
        match self.first(name) {
            None | Some("") => Ok(default),
            Some(text) => parse_time(text).map_err(|error| {
                ApiError::bad_data(format!("invalid parameter \"{name}\": {error}"))
            }),
        }
    }

    /// A duration parameter that must be present, in milliseconds.
    pub fn required_duration(&self, name: &str) -> Result<Millis, ApiError> {
        let text = self.required(name)?;
        parse_duration(text)
            .map_err(|error| ApiError::bad_data(format!("invalid parameter \"{name}\": {error}")))
    }
}

/// Unix seconds (fractions rounded to the millisecond) or RFC 3339, as Prometheus' `parseTime`.
pub fn parse_time(text: &str) -> Result<Millis, String> {
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
    {
        let whole = seconds.trunc();
        let fraction = ((seconds - whole) * 1000.0).round() / 1000.0;
        return Ok(whole as Millis * 1000 + (fraction * 1000.0).round() as Millis);
    }
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_millis());
    }
    match text {
        // Prometheus' formatted minimum and maximum times, which clients send back.
        "-292273086-05-16T16:47:06Z" => Ok(i64::MIN / 4),
        "292277025-08-18T07:12:54.999999999Z" => Ok(i64::MAX / 4),
        _ => Err(format!("cannot parse {text:?} to a valid timestamp")),
    }
}

/// Float seconds or a PromQL duration (`1h30m`, `5m`, `250ms`), as Prometheus' `parseDuration`.
pub fn parse_duration(text: &str) -> Result<Millis, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        let millis = seconds * 1000.0;
        if !millis.is_finite() || millis.abs() > i64::MAX as f64 / 1e6 {
            return Err(format!(
                "cannot parse {text:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(millis as Millis);
    }
    promql_parser::util::parse_duration(text)
        .map(|duration| duration.as_millis() as Millis)
        .map_err(|_| format!("cannot parse {text:?} to a valid duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(parse_time("1435781451.781"), Ok(1_435_781_451_781));
        assert_eq!(parse_time("1435781451"), Ok(1_435_781_451_000));
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z"),
            Ok(1_435_781_451_781)
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51.781+02:00"),
            Ok(1_435_781_451_781)
        );
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_duration("15"), Ok(15_000));
        assert_eq!(parse_duration("0.5"), Ok(500));
        assert_eq!(parse_duration("5m"), Ok(300_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert!(parse_duration("soon").is_err());
    }
}
