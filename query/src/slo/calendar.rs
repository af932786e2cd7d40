//! Boundaries of calendar-aligned SLO periods, in the SLO's IANA time zone.

use chrono::{DateTime, Datelike, Days, Months, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use lookout_model::slo::{CalendarUnit, SloWindow};

/// The format of `calendar.startTime`.
pub const START_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Checks a calendar window's start and time zone.
pub fn validate(start: &str, time_zone: &str) -> Result<(), String> {
    let tz: Tz = time_zone.parse().map_err(|_| {
        format!("unknown time zone `{time_zone}` (use an IANA name such as UTC or Europe/Paris)")
    })?;
    let naive = NaiveDateTime::parse_from_str(start, START_FORMAT).map_err(|error| {
        format!("invalid startTime `{start}` ({error}); expected `YYYY-MM-DD HH:MM:SS`")
    })?;
    tz.from_local_datetime(&naive)
        .earliest()
        .ok_or_else(|| format!("startTime `{start}` does not exist in {time_zone}"))?;
    Ok(())
}

/// For a calendar window, the period `(start, end]` containing `t` (Unix seconds); `None`
/// for rolling windows or an invalid definition (rejected at load time).
pub fn period_start(window: &SloWindow, t_unix_secs: i64) -> Option<(i64, i64)> {
    let SloWindow::Calendar {
        unit,
        count,
        start,
        time_zone,
    } = window
    else {
        return None;
    };
    let tz: Tz = time_zone.parse().ok()?;
    let naive = NaiveDateTime::parse_from_str(start, START_FORMAT).ok()?;
    let origin = tz.from_local_datetime(&naive).earliest()?;
    let count = (*count).max(1);
    let boundary = |k: i64| -> Option<i64> { nth_boundary(origin, *unit, count, k) };
    // Estimate k from the nominal length, then correct: boundary(k) < t <= boundary(k + 1).
    let nominal = (unit.nominal_secs() * u64::from(count)) as i64;
    let mut k = (t_unix_secs - origin.timestamp()).div_euclid(nominal);
    for _ in 0..8 {
        let lo = boundary(k)?;
        let hi = boundary(k + 1)?;
        if t_unix_secs <= lo {
            k -= 1;
        } else if t_unix_secs > hi {
            k += 1;
        } else {
            return Some((lo, hi));
        }
    }
    None
}

/// The k-th boundary after (k > 0) or before (k < 0) `origin`, in local calendar terms.
fn nth_boundary(origin: DateTime<Tz>, unit: CalendarUnit, count: u32, k: i64) -> Option<i64> {
    let tz = origin.timezone();
    let local = origin.naive_local();
    let steps = k.checked_mul(i64::from(count))?;
    let shifted = match unit {
        CalendarUnit::Day => shift_days(local, steps)?,
        CalendarUnit::Week => shift_days(local, steps.checked_mul(7)?)?,
        CalendarUnit::Month => shift_months(local, steps)?,
        CalendarUnit::Quarter => shift_months(local, steps.checked_mul(3)?)?,
        CalendarUnit::Year => shift_months(local, steps.checked_mul(12)?)?,
    };
    // A boundary falling into a DST gap moves to the first valid instant after it.
    let resolved = tz.from_local_datetime(&shifted).earliest().or_else(|| {
        tz.from_local_datetime(&(shifted + chrono::Duration::hours(1)))
            .earliest()
    })?;
    Some(resolved.with_timezone(&Utc).timestamp())
}

fn shift_days(local: NaiveDateTime, days: i64) -> Option<NaiveDateTime> {
    if days >= 0 {
        local.checked_add_days(Days::new(days as u64))
    } else {
        local.checked_sub_days(Days::new(days.unsigned_abs()))
    }
}

fn shift_months(local: NaiveDateTime, months: i64) -> Option<NaiveDateTime> {
    let months32 = u32::try_from(months.unsigned_abs()).ok()?;
    // Day-of-month overflow (Jan 31 + 1 month) clamps to the month's last day, as chrono does.
    let _ = local.day();
    if months >= 0 {
        local.checked_add_months(Months::new(months32))
    } else {
        local.checked_sub_months(Months::new(months32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month_window(tz: &str) -> SloWindow {
        SloWindow::Calendar {
            unit: CalendarUnit::Month,
            count: 1,
            start: "2026-01-01 00:00:00".into(),
            time_zone: tz.into(),
        }
    }

    fn ts(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp()
    }

    #[test]
    fn months_reset_on_the_first_in_utc() {
        let window = month_window("UTC");
        let (start, end) = period_start(&window, ts("2026-11-28T10:00:00Z")).unwrap();
        assert_eq!(start, ts("2026-11-01T00:00:00Z"));
        assert_eq!(end, ts("2026-12-01T00:00:00Z"));
        // A boundary instant belongs to the period it ends (left-open windows).
        let (start, _) = period_start(&window, ts("2026-12-01T00:00:00Z")).unwrap();
        assert_eq!(start, ts("2026-11-01T00:00:00Z"));
        // Before the origin.
        let (start, end) = period_start(&window, ts("2025-12-15T00:00:00Z")).unwrap();
        assert_eq!(start, ts("2025-12-01T00:00:00Z"));
        assert_eq!(end, ts("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn boundaries_follow_the_time_zone() {
        let window = month_window("Europe/Paris");
        let (start, _) = period_start(&window, ts("2026-07-10T00:00:00Z")).unwrap();
        // Midnight in Paris in summer is 22:00 UTC the day before.
        assert_eq!(start, ts("2026-06-30T22:00:00Z"));
    }

    #[test]
    fn weeks_and_quarters() {
        let week = SloWindow::Calendar {
            unit: CalendarUnit::Week,
            count: 1,
            start: "2026-11-02 00:00:00".into(), // a Monday
            time_zone: "UTC".into(),
        };
        let (start, end) = period_start(&week, ts("2026-11-28T12:00:00Z")).unwrap();
        assert_eq!(start, ts("2026-11-23T00:00:00Z"));
        assert_eq!(end, ts("2026-11-30T00:00:00Z"));
        let quarter = SloWindow::Calendar {
            unit: CalendarUnit::Quarter,
            count: 1,
            start: "2026-01-01 00:00:00".into(),
            time_zone: "UTC".into(),
        };
        let (start, end) = period_start(&quarter, ts("2026-11-28T12:00:00Z")).unwrap();
        assert_eq!(start, ts("2026-10-01T00:00:00Z"));
        assert_eq!(end, ts("2027-01-01T00:00:00Z"));
    }

    #[test]
    fn invalid_definitions_are_explained() {
        assert!(validate("2026-01-01 00:00:00", "Mars/Olympus").is_err());
        assert!(validate("2026-01-01", "UTC").is_err());
        assert!(validate("2026-01-01 00:00:00", "America/New_York").is_ok());
    }
}
