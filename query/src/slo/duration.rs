//! Durations as SLO files write them: `30d`, `1h`, `5m`, `90s` (windows) and `300ms`, `1.5s`
//! (latency thresholds), plus the calendar units `M`, `Q`, `Y`.

use lookout_model::slo::CalendarUnit;

/// A window length in whole seconds: `<integer><s|m|h|d|w>`.
pub fn parse_window_secs(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration `{text}` has no unit (use s, m, h, d or w)"))?;
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("invalid duration `{text}`"))?;
    let size = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "invalid duration unit in `{text}` (use s, m, h, d or w)"
            ));
        }
    };
    value
        .checked_mul(size)
        .filter(|secs| *secs > 0)
        .ok_or_else(|| format!("duration `{text}` must be positive and reasonable"))
}

/// A calendar period: `<integer><d|w|M|Q|Y>`.
pub fn parse_calendar(text: &str) -> Result<(CalendarUnit, u32), String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("calendar duration `{text}` has no unit (use d, w, M, Q or Y)"))?;
    let (digits, unit) = text.split_at(split);
    let count: u32 = digits
        .parse()
        .ok()
        .filter(|count| *count > 0)
        .ok_or_else(|| format!("invalid calendar duration `{text}`"))?;
    let unit = match unit {
        "d" => CalendarUnit::Day,
        "w" => CalendarUnit::Week,
        "M" => CalendarUnit::Month,
        "Q" => CalendarUnit::Quarter,
        "Y" => CalendarUnit::Year,
        _ => {
            return Err(format!(
                "invalid calendar unit in `{text}` (use d, w, M, Q or Y)"
            ));
        }
    };
    Ok((unit, count))
}

/// A latency threshold in nanoseconds: `<number><ns|us|µs|ms|s|m|h>`, e.g. `300ms`, `1.5s`.
pub fn parse_latency_nanos(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("duration `{text}` has no unit (use ns, us, ms, s, m or h)"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration `{text}`"))?;
    let nanos_per_unit = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3_600e9,
        _ => {
            return Err(format!(
                "invalid duration unit in `{text}` (use ns, us, ms, s, m or h)"
            ));
        }
    };
    let nanos = (value * nanos_per_unit).round();
    if !(nanos.is_finite() && nanos > 0.0 && nanos < i64::MAX as f64) {
        return Err(format!("duration `{text}` must be positive and reasonable"));
    }
    Ok(nanos as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        let cases = [
            ("30d", Ok(2_592_000)),
            ("1h", Ok(3_600)),
            ("5m", Ok(300)),
            ("90s", Ok(90)),
            ("2w", Ok(1_209_600)),
            ("0m", Err(())),
            ("5", Err(())),
            ("m", Err(())),
            ("1.5h", Err(())),
            ("1M", Err(())),
            ("99999999999999999999d", Err(())),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_window_secs(input).map_err(|_| ()),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn calendars() {
        assert_eq!(parse_calendar("1M"), Ok((CalendarUnit::Month, 1)));
        assert_eq!(parse_calendar("1Q"), Ok((CalendarUnit::Quarter, 1)));
        assert_eq!(parse_calendar("2w"), Ok((CalendarUnit::Week, 2)));
        assert!(parse_calendar("0M").is_err());
        assert!(parse_calendar("1h").is_err());
    }

    #[test]
    fn latencies() {
        let cases = [
            ("300ms", Ok(300_000_000)),
            ("1.5s", Ok(1_500_000_000)),
            ("250us", Ok(250_000)),
            ("2m", Ok(120_000_000_000)),
            ("10", Err(())),
            ("-5ms", Err(())),
            ("0ms", Err(())),
            ("5 parsecs", Err(())),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_latency_nanos(input).map_err(|_| ()),
                expected,
                "{input}"
            );
        }
    }
}
