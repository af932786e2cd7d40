//! Metric SLIs: a PromQL ratio over stored counters, backtested and evaluated live. The
//! alert times below are derived by hand from the workbook pairs (99.9 % over 30 days) and
//! Prometheus' `rate()`; the burn rates are checked against the PromQL engine itself.

use std::sync::Arc;

use lookout_model::TenantId;
use lookout_model::slo::SloSpec;
use lookout_query::promql::QueryValue;
use lookout_query::slo::engine::{Clock, SloEngine, SloEngineConfig, backtest_spec};
use lookout_query::slo::rules::load_sources;

use super::promql::{close, counter, fixture};

/// Minute-aligned origin of the samples (unix seconds).
const T0: i64 = 1_700_000_040;
const MINUTE: i64 = 60;

/// Four hours of samples every minute: 600 requests per minute, of which 60 fail in
/// minutes 61 ..= 120 (the increments between samples 60 and 120). Both counters start
/// far from zero, so `rate()` extrapolates both alike and the ratio of rates is the
/// ratio of increases.
fn counters() -> Vec<lookout_model::Metric> {
    let (mut ok, mut failed) = (1_000_000.0, 1_000.0);
    let (mut ok_points, mut failed_points) = (Vec::new(), Vec::new());
    for minute in 0..=240 {
        if minute > 0 {
            let errors = if (61..=120).contains(&minute) {
                60.0
            } else {
                0.0
            };
            failed += errors;
            ok += 600.0 - errors;
        }
        let seconds = (minute * 60) as f64;
        ok_points.push((seconds, ok));
        failed_points.push((seconds, failed));
    }
    vec![
        counter("requests", &[("code", "200")], &ok_points),
        counter("requests", &[("code", "500")], &failed_points),
    ]
}

fn metric_slo() -> SloSpec {
    let yaml = r#"
apiVersion: openslo/v1
kind: SLO
metadata:
  name: requests-availability
spec:
  service: checkout
  budgetingMethod: Occurrences
  indicator:
    metadata:
      name: requests-errors
    spec:
      ratioMetric:
        counter: true
        bad:
          metricSource:
            type: otel-metrics
            spec:
              query: sum(rate(requests_total{code=~"5.."}[{{.window}}]))
        total:
          metricSource:
            type: otel-metrics
            spec:
              query: sum(rate(requests_total[{{.window}}]))
  timeWindow:
    - duration: 30d
      isRolling: true
  objectives:
    - target: 0.999
"#;
    let rules = load_sources(&[("metric.yaml".into(), yaml.into())]);
    assert!(!rules.has_errors(), "{:?}", rules.diagnostics);
    rules.slos.into_iter().next().expect("one SLO")
}

#[tokio::test]
async fn a_metric_slo_backtests_with_prometheus_rates_and_hand_derived_alerts() {
    let f = fixture(vec![("checkout", counters())]).await;
    let spec = metric_slo();
    let tenant = TenantId::default_tenant();
    let backtest = backtest_spec(f.engine.reader(), &tenant, &spec, T0, T0 + 240 * MINUTE, 60)
        .await
        .expect("backtest");
    assert_eq!(backtest.steps.len(), 240);

    // Page: the 6h/30m pair (error ratio above 0.6 %) first holds at minute 64, when the 6h
    // window (reaching back to the first sample) sees 4 bad minutes of 64 (0.625 %); it ends
    // at minute 148, when the 30m window (29 minutes of increments) keeps 1 bad minute.
    // Ticket: the 3d/6h pair (above 0.1 %) holds from the first bad minute (1 of 61 =
    // 0.16 %, both windows reaching back to the first sample) and keeps it open to the end.
    let intervals: Vec<(String, i64, Option<i64>)> = backtest
        .alerts
        .iter()
        .map(|a| {
            (
                a.severity.clone(),
                (a.start - T0) / MINUTE,
                a.end.map(|e| (e - T0) / MINUTE),
            )
        })
        .collect();
    assert_eq!(
        intervals,
        vec![
            ("ticket".to_string(), 61, None),
            ("page".to_string(), 64, Some(148)),
        ]
    );

    // Every window's burn rate is exactly PromQL's ratio over the budget.
    let step = backtest
        .steps
        .iter()
        .find(|s| s.t == T0 + 90 * MINUTE)
        .expect("step at minute 90");
    for (window, burn) in backtest.windows.iter().zip(&step.burn_rates) {
        let query = format!(
            "sum(rate(requests_total{{code=~\"5..\"}}[{window}])) / sum(rate(requests_total[{window}]))"
        );
        let ratio = match f
            .engine
            .instant(&tenant, &query, (T0 + 90 * MINUTE) * 1000)
            .await
            .expect(&query)
        {
            QueryValue::Vector(samples) => samples[0].value,
            other => panic!("unexpected answer {other:?}"),
        };
        close(burn.expect("burn rate"), ratio / spec.error_budget());
    }
    // By hand: the 1h window at minute 90 holds 30 bad minutes of 59.
    let one_hour = backtest.windows.iter().position(|w| w == "1h").unwrap();
    close(
        step.burn_rates[one_hour].unwrap(),
        (30.0 * 60.0 / (59.0 * 600.0)) / 0.001,
    );
}

struct FixedClock(i64);

impl Clock for FixedClock {
    fn now_unix_secs(&self) -> i64 {
        self.0
    }
}

#[tokio::test]
async fn a_metric_slo_is_evaluated_live_by_the_engine() {
    let f = fixture(vec![("checkout", counters())]).await;
    let mut registry = prometheus_client::registry::Registry::default();
    let config = SloEngineConfig {
        evaluation_delay_secs: 30,
        ..SloEngineConfig::default()
    };
    let engine = SloEngine::new(
        f.engine.reader().clone(),
        TenantId::default_tenant(),
        config,
        Arc::new(FixedClock(T0 + 100 * MINUTE + 45)),
        &mut registry,
    );
    engine.apply_specs(vec![metric_slo()]).await;
    let list = engine.list();
    let summary = &list.slos[0];
    assert_eq!(summary.source, "metrics");
    assert_eq!(summary.error, None);
    let evaluation = summary.evaluation.as_ref().expect("evaluated");
    assert_eq!(evaluation.evaluated_at_unix_secs, T0 + 100 * MINUTE);
    // Minute 100: 40 bad minutes of the 59 in the 1h window; 4 of 4 in the 5m window.
    let window = |name: &str| {
        evaluation
            .windows
            .iter()
            .find(|w| w.window == name)
            .unwrap_or_else(|| panic!("window {name}"))
    };
    close(
        window("1h").error_ratio.unwrap(),
        40.0 * 60.0 / (59.0 * 600.0),
    );
    close(window("5m").error_ratio.unwrap(), 0.1);
    assert_eq!(
        evaluation.firing,
        vec!["page".to_string(), "ticket".to_string()]
    );
    // The budget over 30 days: the 6h-style extrapolation cancels in the ratio, so the
    // consumed budget is 40 bad minutes of 100 at 10 % errors over the 0.1 % budget.
    close(
        evaluation.budget.consumed,
        (40.0 * 60.0 / (100.0 * 600.0)) / 0.001,
    );
}

#[test]
fn metric_queries_without_the_window_placeholder_are_rule_errors() {
    let yaml = metric_slo_yaml_with("sum(rate(requests_total[5m]))");
    let rules = load_sources(&[("bad.yaml".into(), yaml)]);
    let errors: Vec<String> = rules.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("bad.yaml:") && e.contains("{{.window}}")),
        "{errors:?}"
    );
}

fn metric_slo_yaml_with(total: &str) -> String {
    format!(
        r#"
apiVersion: openslo/v1
kind: SLO
metadata:
  name: broken
spec:
  service: checkout
  budgetingMethod: Occurrences
  indicator:
    metadata:
      name: broken-sli
    spec:
      ratioMetric:
        bad:
          metricSource:
            type: otel-metrics
            spec:
              query: sum(rate(requests_total{{code="500"}}[{{{{.window}}}}]))
        total:
          metricSource:
            type: otel-metrics
            spec:
              query: {total}
  timeWindow:
    - duration: 30d
      isRolling: true
  objectives:
    - target: 0.999
"#
    )
}
