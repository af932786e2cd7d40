//! SLO math: golden scenarios whose alert start and end times are derived by hand from the
//! formulas of the SLO semantics (workbook pairs at 99.9 % over 30 days), and property tests
//! of the budget invariants.

use lookout_model::slo::SloSpec;
use lookout_query::slo::engine::backtest_series;
use lookout_query::slo::rules::load_sources;
use lookout_query::slo::series::{Evaluator, Series};
use proptest::prelude::*;

const MINUTE: i64 = 60;
const DAY: i64 = 86_400;

/// An SLO over spans with the default pairs; only the math is exercised.
fn spec(target: f64, extra: &str) -> SloSpec {
    let yaml = format!(
        r#"
apiVersion: openslo/v1
kind: SLO
metadata:
  name: math
spec:
  service: svc
  indicator:
    metadata:
      name: math-sli
    spec:
      ratioMetric:
        good:
          metricSource:
            type: otel-traces
            spec:
              filter:
                statusNot: [error]
        total:
          metricSource:
            type: otel-traces
            spec:
              filter: {{}}
  timeWindow:
    - duration: 30d
      isRolling: true
{extra}
  objectives:
    - target: {target}
      timeSliceTarget: 0.99
      timeSliceWindow: 1m
"#
    );
    let yaml = if yaml.contains("budgetingMethod") {
        yaml
    } else {
        yaml.replace(
            "  objectives:",
            "  budgetingMethod: Occurrences\n  objectives:",
        )
    };
    let rules = load_sources(&[("math.yaml".into(), yaml)]);
    assert!(!rules.has_errors(), "{:?}", rules.diagnostics);
    rules.slos.into_iter().next().expect("one SLO")
}

/// Buckets from `first` for `minutes` minutes with `per_minute` events, of which
/// `bad(minute_index)` are bad.
fn traffic(first: i64, minutes: usize, per_minute: u64, bad: impl Fn(usize) -> u64) -> Series {
    let total = vec![per_minute; minutes];
    let good: Vec<u64> = (0..minutes).map(|i| per_minute - bad(i)).collect();
    Series::new(first, &good, &total)
}

/// (severity, start, end) of every firing interval, times relative to `origin` in minutes.
fn intervals(
    spec: &SloSpec,
    series: Series,
    start: i64,
    end: i64,
    origin: i64,
) -> Vec<(String, i64, Option<i64>)> {
    let backtest = backtest_series(spec, series, start, end, 60).unwrap();
    backtest
        .alerts
        .iter()
        .map(|a| {
            (
                a.severity.clone(),
                (a.start - origin) / MINUTE,
                a.end.map(|e| (e - origin) / MINUTE),
            )
        })
        .collect()
}

#[test]
fn a_full_outage_pages_within_a_minute_and_resolves_by_the_short_windows() {
    let spec = spec(0.999, "");
    // Five days of 1000 events a minute; a 10-minute total outage starting at minute 4 days.
    let first_bucket = 1_000_000;
    let outage_start = 4 * 1440;
    let series = traffic(first_bucket, 5 * 1440, 1000, |i| {
        if (outage_start..outage_start + 10).contains(&i) {
            1000
        } else {
            0
        }
    });
    // t0: the instant the outage starts (start of its first bucket).
    let t0 = (first_bucket + outage_start as i64 - 1) * MINUTE;
    let found = intervals(&spec, series, t0 - 60 * MINUTE, t0 + DAY, t0);
    // Page: the 1h pair needs e > 1.44 %: one bad minute in 60 gives 1.67 %, so it fires at
    // the first evaluation after the first bad minute (t0 + 1m). After the outage ends (t0 +
    // 10m) the 5m window clears at +15m but the 6h pair (0.6 %) holds until its 30m short
    // window no longer holds a bad minute: t0 + 10m + 30m.
    // Ticket: the 1d pair needs more than 4.32 bad minutes in 1440 (0.3 %), and so does the 3d
    // pair (0.1 % of 4320): fires at t0 + 5m; the 6h short window of the 3d pair holds errors
    // until t0 + 10m + 6h.
    assert_eq!(
        found,
        vec![
            ("page".to_owned(), 1, Some(40)),
            ("ticket".to_owned(), 5, Some(10 + 360)),
        ]
    );
}

#[test]
fn a_medium_burn_pages_through_the_six_hour_pair_only() {
    let spec = spec(0.999, "");
    let first_bucket = 2_000_000;
    let burn_start = 4 * 1440;
    // 1 % errors from minute 4 days on: burn rate 10.
    let series = traffic(first_bucket, 5 * 1440, 1000, |i| {
        if i >= burn_start { 10 } else { 0 }
    });
    let t0 = (first_bucket + burn_start as i64 - 1) * MINUTE;
    let found = intervals(&spec, series, t0, t0 + 12 * 3600, t0);
    // 6h pair: 0.01 m / 360 > 0.006 <=> m > 216 -> fires at m = 217 (the 30m window is above
    // 0.6 % from m = 19). The 1h pair (14.4) never fires at burn 10.
    // Ticket, 1d pair: 0.01 m / 1440 > 0.003 <=> m > 432; 3d pair: 0.01 m / 4320 > 0.001 <=>
    // m > 432 -> m = 433.
    assert_eq!(
        found,
        vec![
            ("page".to_owned(), 217, None),
            ("ticket".to_owned(), 433, None)
        ]
    );
}

#[test]
fn a_slow_burn_opens_a_ticket_when_the_workbook_says() {
    let spec = spec(0.999, "");
    let first_bucket = 3_000_000;
    let burn_start = 5 * 1440;
    // 0.2 % errors: burn rate 2. Only the 3d pair (threshold 1) can fire:
    // t_detect = W_long * br_thr * B / e = 72 h * 1 * 0.001 / 0.002 = 36 h = 2160 minutes,
    // strictly above at minute 2161.
    let series = traffic(first_bucket, 8 * 1440, 1000, |i| {
        if i >= burn_start { 2 } else { 0 }
    });
    let t0 = (first_bucket + burn_start as i64 - 1) * MINUTE;
    let found = intervals(&spec, series, t0, t0 + 2 * DAY, t0);
    assert_eq!(found, vec![("ticket".to_owned(), 2161, None)]);
}

#[test]
fn no_traffic_means_no_alert_and_an_untouched_budget() {
    let spec = spec(0.999, "");
    let series = Series::new(100, &[0; 100], &[0; 100]);
    let evaluation = Evaluator::new(&spec, series).evaluate(150 * MINUTE);
    assert!(evaluation.firing.is_empty());
    assert_eq!(evaluation.budget.sli, None);
    assert_eq!(evaluation.budget.remaining, 1.0);
    assert_eq!(evaluation.budget.time_to_exhaustion_secs, None);
    assert!(evaluation.windows.iter().all(|w| w.error_ratio.is_none()));
}

#[test]
fn budget_and_time_to_exhaustion_follow_the_formulas() {
    let spec = spec(0.999, "");
    // 30 days of 1000 events a minute, the last hour at 2 % errors (burn 20).
    let minutes = 30 * 1440;
    let series = traffic(10_000, minutes, 1000, |i| {
        if i >= minutes - 60 { 20 } else { 0 }
    });
    let t = (10_000 + minutes as i64 - 1) * MINUTE;
    let evaluation = Evaluator::new(&spec, series).evaluate(t);
    let budget = &evaluation.budget;
    // C = e(P) / B = (60 * 20 / (43200 * 1000)) / 0.001
    let consumed = (1200.0 / 43_200_000.0) / (1.0 - 0.999);
    assert!((budget.consumed - consumed).abs() < 1e-9, "{budget:?}");
    assert!((budget.remaining - (1.0 - consumed)).abs() < 1e-9);
    // TTE = R * P / br(1h), br(1h) = 0.02 / 0.001 = 20.
    let tte = (1.0 - consumed) * 30.0 * 86_400.0 / 20.0;
    assert!((budget.time_to_exhaustion_secs.unwrap() - tte).abs() < 1e-3);
    let one_hour = evaluation
        .windows
        .iter()
        .find(|w| w.window_secs == 3600)
        .unwrap();
    assert!((one_hour.burn_rate.unwrap() - 20.0).abs() < 1e-9);
    // The 1h pair fires (2 % > 1.44 %); the ticket pairs' long windows hold too few errors
    // (1200 of 1.44 M events in 1d is 0.083 %, below 0.3 %).
    assert_eq!(evaluation.firing, vec!["page".to_owned()]);
}

#[test]
fn budgeting_methods_weigh_a_traffic_swing_differently() {
    // One day of 100 events a minute, except 10 quiet minutes of 10 events, half of them bad.
    let minutes = 1440;
    let total: Vec<u64> = (0..minutes)
        .map(|i| if i < 10 { 10 } else { 100 })
        .collect();
    let good: Vec<u64> = (0..minutes).map(|i| if i < 10 { 5 } else { 100 }).collect();
    let first = 50_000;
    let t = (first + minutes as i64 - 1) * MINUTE;
    let day = |extra: &str| {
        let mut spec = spec(0.99, extra);
        spec.window = lookout_model::slo::SloWindow::Rolling {
            duration_secs: 86_400,
        };
        spec
    };
    let occurrences = day("");
    let ratio = day("  budgetingMethod: RatioTimeslices");
    let slices = day("  budgetingMethod: Timeslices");
    let sli = |spec: &SloSpec| {
        Evaluator::new(spec, Series::new(first, &good, &total))
            .evaluate(t)
            .budget
            .sli
            .unwrap()
    };
    // Occurrences: 50 bad of 143 100 events.
    assert!((sli(&occurrences) - (1.0 - 50.0 / 143_100.0)).abs() < 1e-12);
    // RatioTimeslices: mean of 1440 minute ratios, ten of them 0.5.
    assert!((sli(&ratio) - (1.0 - 5.0 / 1440.0)).abs() < 1e-12);
    // Timeslices at 99 %: ten bad slices of 1440.
    assert!((sli(&slices) - (1.0 - 10.0 / 1440.0)).abs() < 1e-12);
}

#[test]
fn an_unfireable_pair_is_reported() {
    // At 90 % the 2 %-in-1h page needs an error ratio above 14.4 * 0.1 = 1.44.
    let rules = load_sources(&[("loose.yaml".into(), spec_yaml_with_target(0.9))]);
    assert!(!rules.has_errors());
    let warnings: Vec<String> = rules.diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("loose.yaml:2: warning: pair `page-1h`")
                && w.contains("never fire")),
        "{warnings:?}"
    );
    assert!(!warnings.iter().any(|w| w.contains("`ticket-3d`")));
}

fn spec_yaml_with_target(target: f64) -> String {
    format!(
        "
apiVersion: openslo/v1
kind: SLO
metadata:
  name: loose
spec:
  service: svc
  indicator:
    metadata: {{name: s}}
    spec:
      ratioMetric:
        bad: {{metricSource: {{type: otel-logs, spec: {{filter: {{severityAtLeast: error}}}}}}}}
        total: {{metricSource: {{type: otel-logs, spec: {{filter: {{}}}}}}}}
  timeWindow: [{{duration: 30d, isRolling: true}}]
  budgetingMethod: Occurrences
  objectives: [{{target: {target}}}]
"
    )
}

proptest! {
    #[test]
    fn budget_never_grows_as_bad_events_are_added(
        totals in prop::collection::vec(0u64..50, 120),
        bad_fraction in prop::collection::vec(0.0f64..1.0, 120),
        extra_at in 0usize..120,
        extra in 1u64..20,
    ) {
        let spec = spec(0.99, "");
        let good: Vec<u64> = totals
            .iter()
            .zip(&bad_fraction)
            .map(|(t, f)| t - ((*t as f64) * f).floor() as u64)
            .collect();
        let t = (1000 + 119) * MINUTE;
        let before = Evaluator::new(&spec, Series::new(1000, &good, &totals)).evaluate(t);
        // Add `extra` bad events in one minute.
        let mut totals_after = totals.clone();
        totals_after[extra_at] += extra;
        let after = Evaluator::new(&spec, Series::new(1000, &good, &totals_after)).evaluate(t);
        prop_assert!(after.budget.remaining <= before.budget.remaining + 1e-12);
        for window in before.windows.iter().chain(&after.windows) {
            prop_assert!(window.burn_rate.is_none_or(|b| b >= 0.0));
            prop_assert!(window.error_ratio.is_none_or(|e| (0.0..=1.0).contains(&e)));
        }
    }

    #[test]
    fn window_sums_match_a_brute_force_sum(
        totals in prop::collection::vec(0u64..1000, 1..300),
        first in -5_000i64..5_000,
        from_offset in -10i64..310,
        length in 0i64..320,
    ) {
        let good: Vec<u64> = totals.iter().map(|t| t / 3).collect();
        let series = Series::new(first, &good, &totals);
        let from = first + from_offset;
        let to = from + length;
        let mut expected = (0u64, 0u64);
        for (i, (g, t)) in good.iter().zip(&totals).enumerate() {
            let bucket = first + i as i64;
            if bucket >= from && bucket <= to {
                expected.0 += g;
                expected.1 += t;
            }
        }
        prop_assert_eq!(series.sum(from, to), expected);
    }
}
