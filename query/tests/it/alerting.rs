//! Alert delivery end to end: a local axum webhook receiver gets the Alertmanager v4 payload
//! (firing, then resolved) with the `slo` object; a real SMTP server process (aiosmtpd from
//! PyPI) receives the mail, whose headers and parts are checked; a restart in the middle of
//! an incident sends no second page. Time is a manual clock: nothing sleeps for timers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use lookout_model::alerting::NotificationRecord;
use lookout_model::slo::{BadEventGroup, BadEventsResponse, SloEvaluation, SloSpec};
use lookout_query::alerting::config::AlertingFileConfig;
use lookout_query::alerting::render::ZERO_TIME;
use lookout_query::alerting::{Alerting, AlertingConfig};
use lookout_query::slo::Clock;
use lookout_query::slo::rules::load_sources;
use lookout_query::slo::series::{Evaluator, Series};
use serde_json::Value;
use tokio::sync::mpsc;

/// A clock the test moves by hand.
#[derive(Default)]
struct ManualClock(AtomicI64);

impl Clock for ManualClock {
    fn now_unix_secs(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl ManualClock {
    fn set(&self, t: i64) {
        self.0.store(t, Ordering::SeqCst);
    }
}

/// A step boundary.
const T0: i64 = 1_800_000_000;
const MINUTE: i64 = 60;

fn spec() -> SloSpec {
    let yaml = r#"
apiVersion: openslo/v1
kind: SLO
metadata:
  name: shop-checkout-availability
  labels:
    team: payments
  annotations:
    runbook_url: https://runbooks.example.com/checkout
spec:
  service: shop
  description: Checkout requests succeed
  budgetingMethod: Occurrences
  indicator:
    metadata:
      name: checkout-sli
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
              filter: {}
  timeWindow:
    - duration: 30d
      isRolling: true
  objectives:
    - target: 0.999
"#;
    let rules = load_sources(&[("checkout.yaml".into(), yaml.into())]);
    assert!(!rules.has_errors(), "{:?}", rules.diagnostics);
    rules.slos.into_iter().next().expect("one SLO")
}

/// 30 days of clean traffic but for six hours of 2 % errors.
fn evaluation(spec: &SloSpec, t: i64, burning: bool) -> SloEvaluation {
    let last = t / MINUTE - 1;
    let first = last - 30 * 1_440;
    let len = (last - first + 1) as usize;
    let total = vec![100u64; len];
    let mut good = vec![100u64; len];
    // Burning: the last six hours; not burning: six hours that ended seven hours ago, which
    // no window of a pair still sees but the budget remembers.
    let errors = if burning {
        len - 360..len
    } else {
        len - 780..len - 420
    };
    for g in &mut good[errors] {
        *g = 98;
    }
    Evaluator::new(spec, Series::new(first, &good, &total)).evaluate(t)
}

fn evidence() -> BadEventsResponse {
    let group = |route: &str, ids: &[&str]| BadEventGroup {
        labels: [("service", "shop"), ("route", route)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        bad: 120,
        last_seen_unix_nanos: 0,
        example_trace_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
        example_logs: Vec::new(),
    };
    BadEventsResponse {
        id: spec().id,
        start: T0 - 3_600,
        end: T0,
        total_bad: 240,
        groups: vec![
            group(
                "/checkout",
                &[
                    "4bf92f3577b34da6a3ce929d0e0e4736",
                    "5bf92f3577b34da6a3ce929d0e0e4736",
                ],
            ),
            group("/cart", &["6bf92f3577b34da6a3ce929d0e0e4736"]),
        ],
    }
}

fn resolve(text: &str, state_dir: &Path) -> AlertingConfig {
    let file: AlertingFileConfig = toml::from_str(text).expect("config parses");
    file.resolve(
        "http://lookout.test:8700",
        Some(state_dir.to_owned()),
        &|_| None,
    )
    .expect("config resolves")
}

async fn webhook_receiver() -> (String, mpsc::UnboundedReceiver<(HeaderMap, Value)>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(sender): State<mpsc::UnboundedSender<(HeaderMap, Value)>>,
                 headers: HeaderMap,
                 axum::Json(body): axum::Json<Value>| async move {
                    let _ = sender.send((headers, body));
                    "ok"
                },
            ),
        )
        .with_state(sender);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/hook"), receiver)
}

async fn next<T>(receiver: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), receiver.recv())
        .await
        .expect("a notification arrives")
        .expect("receiver open")
}

fn string<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is a string in {value}"))
}

/// Every field an Alertmanager v4 consumer reads, with its type.
fn check_v4(payload: &Value, status: &str) {
    assert_eq!(string(payload, "version"), "4");
    assert_eq!(string(payload, "status"), status);
    assert_eq!(string(payload, "receiver"), "hook");
    assert_eq!(string(payload, "externalURL"), "http://lookout.test:8700");
    assert_eq!(
        string(payload, "groupKey"),
        "{}:{severity=\"page\",slo=\"shop-checkout-availability\"}"
    );
    assert_eq!(payload["truncatedAlerts"], 0);
    assert_eq!(payload["groupLabels"]["slo"], "shop-checkout-availability");
    assert_eq!(payload["groupLabels"]["severity"], "page");
    assert_eq!(payload["commonLabels"]["team"], "payments");
    assert!(payload["commonAnnotations"].is_object());
    let alerts = payload["alerts"].as_array().expect("alerts array");
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(string(alert, "status"), status);
    let labels = &alert["labels"];
    assert_eq!(labels["alertname"], "SLOBurnRate");
    assert_eq!(labels["slo"], "shop-checkout-availability");
    assert_eq!(labels["service"], "shop");
    assert_eq!(labels["severity"], "page");
    assert_eq!(labels["team"], "payments");
    let annotations = &alert["annotations"];
    assert!(!string(annotations, "summary").is_empty());
    assert_eq!(
        string(annotations, "description"),
        "Checkout requests succeed"
    );
    assert_eq!(
        string(annotations, "runbook_url"),
        "https://runbooks.example.com/checkout"
    );
    assert_eq!(
        string(alert, "startsAt"),
        "2027-01-15T08:00:00Z",
        "starts at the first firing evaluation"
    );
    let ends_at = string(alert, "endsAt");
    if status == "firing" {
        assert_eq!(ends_at, ZERO_TIME);
    } else {
        assert!(chrono::DateTime::parse_from_rfc3339(ends_at).is_ok());
        assert_ne!(ends_at, ZERO_TIME);
    }
    assert_eq!(
        string(alert, "generatorURL"),
        "http://lookout.test:8700/slos/shop-checkout-availability"
    );
    let fingerprint = string(alert, "fingerprint");
    assert_eq!(fingerprint.len(), 16);
    assert!(fingerprint.chars().all(|c| c.is_ascii_hexdigit()));
}

fn check_slo_object(slo: &Value, firing: bool) {
    assert_eq!(slo["id"], "shop-checkout-availability");
    assert_eq!(slo["name"], "checkout-availability");
    assert_eq!(slo["service"], "shop");
    assert_eq!(slo["objective"], 0.999);
    assert_eq!(slo["window"], "30d");
    assert_eq!(slo["windowType"], "rolling");
    assert_eq!(slo["budgetingMethod"], "Occurrences");
    assert!((slo["errorBudget"].as_f64().unwrap() - 0.001).abs() < 1e-12);
    assert_eq!(slo["severity"], "page");
    assert_eq!(
        slo["dashboardURL"],
        "http://lookout.test:8700/slos/shop-checkout-availability"
    );
    assert!(slo["evaluatedAt"].as_str().is_some());
    let budget = &slo["budget"];
    assert!(budget["consumed"].as_f64().unwrap() > 0.0);
    assert!(budget["remaining"].as_f64().unwrap() < 1.0);
    let pairs = slo["activePairs"].as_array().unwrap();
    if firing {
        assert!(budget["timeToExhaustionSeconds"].as_f64().unwrap() > 0.0);
        // 2 % errors burn at 20x: both page pairs (14.4x over 1h/5m, 6x over 6h/30m) hold.
        assert_eq!(pairs.len(), 2, "{pairs:?}");
        let fast = pairs
            .iter()
            .find(|p| p["longWindow"] == "1h")
            .expect("the 1h pair");
        assert_eq!(fast["shortWindow"], "5m");
        assert!((fast["burnRateThreshold"].as_f64().unwrap() - 14.4).abs() < 1e-9);
        assert!((fast["errorRatioThreshold"].as_f64().unwrap() - 0.0144).abs() < 1e-9);
        assert!((fast["budgetConsumedAtThreshold"].as_f64().unwrap() - 0.02).abs() < 1e-9);
        assert!((fast["errorRatioLong"].as_f64().unwrap() - 0.02).abs() < 1e-9);
        assert!((fast["burnRateShort"].as_f64().unwrap() - 20.0).abs() < 1e-6);
        assert!((fast["burnRateLong"].as_f64().unwrap() - 20.0).abs() < 1e-6);
        let (bad, total) = (
            fast["badLong"].as_f64().unwrap(),
            fast["totalLong"].as_f64().unwrap(),
        );
        assert!(total >= 5_900.0, "{total}");
        assert!((bad / total - 0.02).abs() < 1e-9, "{bad}/{total}");
        let evidence = &slo["evidence"];
        assert_eq!(
            evidence["exampleTraceIds"],
            serde_json::json!([
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "6bf92f3577b34da6a3ce929d0e0e4736",
                "5bf92f3577b34da6a3ce929d0e0e4736"
            ])
        );
        assert_eq!(evidence["topBadGroups"][0]["route"], "/checkout");
        assert_eq!(evidence["topBadGroups"][0]["bad"], 120);
        assert!(evidence["exampleLogIds"].is_array());
    } else {
        assert!(pairs.is_empty());
    }
}

/// The notification log once it has `count` entries (deliveries finish in their own tasks).
async fn wait_for_log(alerting: &Alerting, count: usize) -> Vec<NotificationRecord> {
    for _ in 0..600 {
        let log = alerting.notifications();
        if log.len() >= count {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the notification log never reached {count} entries");
}

#[tokio::test]
async fn webhook_gets_firing_then_resolved_v4_payloads_and_a_restart_does_not_page_twice() {
    let state = tempfile::tempdir().unwrap();
    let (url, mut hook) = webhook_receiver().await;
    let config_text = format!(
        r#"
        [route]
        receiver = "hook"
        group_by = ["slo", "severity"]
        [[receivers]]
        name = "hook"
        [[receivers.webhook_configs]]
        url = "{url}"
        headers = {{ Authorization = "Bearer hook-token" }}
        "#
    );
    let clock = Arc::new(ManualClock::default());
    let spec = spec();
    let start = T0;
    clock.set(start);
    let alerting = Alerting::open(resolve(&config_text, state.path()), clock.clone()).unwrap();
    alerting
        .observe(&spec, &evaluation(&spec, start, true), Some(&evidence()))
        .await;
    let firing: Vec<_> = alerting.alerts();
    assert_eq!(firing.len(), 2, "page and ticket fire");
    let ticket = firing
        .iter()
        .find(|a| a.labels["severity"] == "ticket")
        .unwrap();
    assert!(
        !ticket.status.inhibited_by.is_empty(),
        "the page inhibits the ticket"
    );

    clock.set(start + 29);
    assert_eq!(alerting.tick().await, 0, "group_wait");
    clock.set(start + 30);
    assert_eq!(alerting.tick().await, 1);
    let (headers, payload) = next(&mut hook).await;
    assert_eq!(headers["authorization"], "Bearer hook-token");
    assert_eq!(headers["content-type"], "application/json");
    check_v4(&payload, "firing");
    check_slo_object(&payload["alerts"][0]["slo"], true);

    // The delivery is logged (and persisted) once the receiver answered.
    wait_for_log(&alerting, 1).await;
    alerting.save().await;
    // The daemon restarts ten minutes into the incident.
    drop(alerting);
    let restarted = start + 10 * MINUTE;
    clock.set(restarted);
    let alerting = Alerting::open(resolve(&config_text, state.path()), clock.clone()).unwrap();
    alerting
        .observe(
            &spec,
            &evaluation(&spec, restarted, true),
            Some(&evidence()),
        )
        .await;
    for minutes in [0, 1, 5, 30, 60] {
        clock.set(restarted + minutes * MINUTE);
        assert_eq!(alerting.tick().await, 0, "no second page at +{minutes}m");
    }

    // Errors stop; the page resolves.
    let resolved = restarted + 61 * MINUTE;
    clock.set(resolved);
    alerting
        .observe(&spec, &evaluation(&spec, resolved, false), None)
        .await;
    assert!(alerting.alerts().is_empty());
    clock.set(resolved + 5 * MINUTE);
    assert_eq!(alerting.tick().await, 1);
    let (_, payload) = next(&mut hook).await;
    check_v4(&payload, "resolved");
    check_slo_object(&payload["alerts"][0]["slo"], false);

    let log = wait_for_log(&alerting, 2).await;
    assert_eq!(log.len(), 2, "the log survived the restart");
    assert_eq!(log[0].outcome, "success");
    assert_eq!(log[0].status, "resolved");
    assert_eq!(log[0].receiver, "hook");
    assert_eq!(log[0].to, url);
    assert_eq!(log[1].status, "firing");
    assert_eq!(log[1].outcome, "success");
}

#[tokio::test]
async fn webhooks_to_metadata_addresses_are_refused_and_logged() {
    let state = tempfile::tempdir().unwrap();
    let config_text = r#"
        max_attempts = 1
        [route]
        receiver = "hook"
        [[receivers]]
        name = "hook"
        [[receivers.webhook_configs]]
        url = "http://169.254.169.254/latest/meta-data"
    "#;
    let clock = Arc::new(ManualClock::default());
    clock.set(T0);
    let spec = spec();
    let alerting = Alerting::open(resolve(config_text, state.path()), clock.clone()).unwrap();
    alerting
        .observe(&spec, &evaluation(&spec, T0, true), None)
        .await;
    clock.set(T0 + 30);
    assert_eq!(alerting.tick().await, 1);
    let log = wait_for_log(&alerting, 1).await;
    assert_eq!(log[0].outcome, "failed");
    assert!(
        log[0].error.as_deref().unwrap().starts_with("refused"),
        "{log:?}"
    );
    let mut registry = prometheus_client::registry::Registry::default();
    alerting.register_metrics(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(
            "lookout_alerting_notifications_total{integration=\"webhook\",outcome=\"failed\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("lookout_alerting_firing_alerts 2"), "{text}");
}

/// The venv of `scripts/python-env.sh`, which pins aiosmtpd.
fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new("bash")
        .arg(root.join("scripts/python-env.sh"))
        .output()
        .expect("run scripts/python-env.sh");
    assert!(
        output.status.success(),
        "scripts/python-env.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

struct SmtpServer {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn smtp_server(python: &Path) -> SmtpServer {
    // aiosmtpd cannot bind port 0: take a free port first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = tempfile::tempdir().unwrap();
    let child = Command::new(python)
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir.path().join("mail"))
        .env("PYTHONUNBUFFERED", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start aiosmtpd");
    // Owned at once, so the process is killed and reaped on every path.
    let server = SmtpServer {
        child,
        port,
        maildir,
    };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("aiosmtpd did not start listening on {port}");
}

/// Waits for the `count`-th message of the maildir and parses it with Python's email package.
async fn message(python: &Path, maildir: &Path, count: usize) -> Value {
    let new = maildir.join("mail").join("new");
    let mut files = Vec::new();
    for _ in 0..600 {
        files = std::fs::read_dir(&new)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        if files.len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(files.len() >= count, "{count} messages arrive");
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let script = r#"
import email, json, sys
from email import policy
with open(sys.argv[1], "rb") as f:
    m = email.message_from_binary_file(f, policy=policy.default)
print(json.dumps({
    "subject": str(m["subject"]),
    "from": str(m["from"]),
    "to": str(m["to"]),
    "content_type": m.get_content_type(),
    "text": m.get_body(("plain",)).get_content(),
    "html": m.get_body(("html",)).get_content(),
}))
"#;
    let output = Command::new(python)
        .args(["-c", script])
        .arg(&files[count - 1])
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn email_reaches_a_real_smtp_server_with_subject_text_and_html() {
    let python = python();
    let server = smtp_server(&python).await;
    let state = tempfile::tempdir().unwrap();
    let config_text = format!(
        r#"
        [smtp]
        host = "127.0.0.1"
        port = {port}
        tls = "none"
        from = "Lookout <lookout@example.com>"
        [route]
        receiver = "mail"
        group_by = ["slo", "severity"]
        [[receivers]]
        name = "mail"
        [[receivers.email_configs]]
        to = ["oncall@example.com", "payments@example.com"]
        send_resolved = true
        "#,
        port = server.port
    );
    let clock = Arc::new(ManualClock::default());
    let spec = spec();
    clock.set(T0);
    let alerting = Alerting::open(resolve(&config_text, state.path()), clock.clone()).unwrap();
    let firing = evaluation(&spec, T0, true);
    alerting.observe(&spec, &firing, Some(&evidence())).await;
    clock.set(T0 + 30);
    assert_eq!(alerting.tick().await, 1);
    let mail = message(&python, server.maildir.path(), 1).await;

    let fast = firing
        .pairs
        .iter()
        .find(|p| p.active && p.long_window == "1h")
        .unwrap();
    let expected_subject = format!(
        "[FIRING:1] PAGE shop/checkout-availability — burn {:.1}× (1h {:.1}×) — budget {:.1} % left",
        fast.short.burn_rate.unwrap(),
        fast.long.burn_rate.unwrap(),
        firing.budget.remaining * 100.0
    );
    assert_eq!(mail["subject"], expected_subject);
    assert_eq!(
        mail["subject"],
        "[FIRING:1] PAGE shop/checkout-availability — burn 20.0× (1h 20.0×) — budget 83.3 % left"
    );
    assert_eq!(mail["from"], "Lookout <lookout@example.com>");
    assert_eq!(mail["to"], "oncall@example.com, payments@example.com");
    assert_eq!(mail["content_type"], "multipart/alternative");
    let text = mail["text"].as_str().unwrap();
    let html = mail["html"].as_str().unwrap();
    for needle in [
        "FIRING PAGE shop/checkout-availability",
        "Budget remaining: 83.3 %",
        "Time to exhaustion:",
        "1h  20.0×",
        "5m  20.0×",
        "route=/checkout service=shop",
        "http://lookout.test:8700/traces/4bf92f3577b34da6a3ce929d0e0e4736",
        "http://lookout.test:8700/traces/6bf92f3577b34da6a3ce929d0e0e4736",
        "http://lookout.test:8700/traces/5bf92f3577b34da6a3ce929d0e0e4736",
        "Runbook: https://runbooks.example.com/checkout",
        "http://lookout.test:8700/slos/shop-checkout-availability",
    ] {
        assert!(text.contains(needle), "text lacks `{needle}`:\n{text}");
    }
    for needle in [
        "<a href=\"http://lookout.test:8700/traces/4bf92f3577b34da6a3ce929d0e0e4736\">",
        "<a href=\"https://runbooks.example.com/checkout\">Runbook</a>",
        "<th align=\"left\">1h</th><td>20.0×</td>",
        "83.3 %",
        "route=/checkout service=shop",
    ] {
        assert!(html.contains(needle), "html lacks `{needle}`:\n{html}");
    }

    // The firing mail counts as sent once its delivery is logged; only then does a
    // resolution have something to resolve.
    let log = wait_for_log(&alerting, 1).await;
    assert_eq!(log[0].outcome, "success", "{log:?}");

    // Resolved mail.
    clock.set(T0 + 3 * 3_600);
    alerting
        .observe(&spec, &evaluation(&spec, T0 + 3 * 3_600, false), None)
        .await;
    clock.set(T0 + 3 * 3_600 + 300);
    assert_eq!(alerting.tick().await, 1);
    let mail = message(&python, server.maildir.path(), 2).await;
    let subject = mail["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("[RESOLVED] PAGE shop/checkout-availability — burn "),
        "{subject}"
    );
    assert!(mail["text"].as_str().unwrap().contains("RESOLVED PAGE"));
}

/// An SMTP server speaking STARTTLS or implicit TLS with a certificate from a fresh CA
/// (tests/python/smtp_tls_server.py); the CA's PEM lands in `ca_file`.
async fn smtp_tls_server(python: &Path, mode: &str) -> (SmtpServer, PathBuf) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = tempfile::tempdir().unwrap();
    let ca_file = maildir.path().join("ca.pem");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/python/smtp_tls_server.py");
    let child = Command::new(python)
        .arg(script)
        .arg(mode)
        .arg(port.to_string())
        .arg(maildir.path().join("mail"))
        .arg(&ca_file)
        .env("PYTHONUNBUFFERED", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the TLS SMTP server");
    let server = SmtpServer {
        child,
        port,
        maildir,
    };
    for _ in 0..200 {
        if ca_file.exists()
            && tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        {
            return (server, ca_file);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the {mode} SMTP server did not start listening on {port}");
}

#[tokio::test]
async fn email_over_starttls_and_implicit_tls_trusts_only_known_authorities() {
    let python = python();
    for mode in ["starttls", "tls"] {
        let (server, ca_file) = smtp_tls_server(&python, mode).await;
        // Trusted through ca_file: the mail arrives over TLS.
        let state = tempfile::tempdir().unwrap();
        let config_text = format!(
            r#"
            max_attempts = 1
            [smtp]
            host = "127.0.0.1"
            port = {port}
            tls = "{mode}"
            ca_file = "{ca}"
            from = "Lookout <lookout@example.com>"
            [route]
            receiver = "mail"
            [[receivers]]
            name = "mail"
            [[receivers.email_configs]]
            to = ["oncall@example.com"]
            "#,
            port = server.port,
            ca = ca_file.display()
        );
        let clock = Arc::new(ManualClock::default());
        let spec = spec();
        clock.set(T0);
        let alerting = Alerting::open(resolve(&config_text, state.path()), clock.clone()).unwrap();
        alerting
            .observe(&spec, &evaluation(&spec, T0, true), Some(&evidence()))
            .await;
        clock.set(T0 + 30);
        assert_eq!(alerting.tick().await, 1);
        let mail = message(&python, server.maildir.path(), 1).await;
        assert!(
            mail["subject"]
                .as_str()
                .unwrap()
                .starts_with("[FIRING:1] PAGE shop/checkout-availability"),
            "{mode}: {mail}"
        );
        let log = wait_for_log(&alerting, 1).await;
        assert_eq!(log[0].outcome, "success", "{mode}: {log:?}");

        // Without the CA the relay's certificate is unknown: nothing is sent in clear.
        let state = tempfile::tempdir().unwrap();
        let untrusting = config_text.replace(&format!("ca_file = \"{}\"", ca_file.display()), "");
        let alerting = Alerting::open(resolve(&untrusting, state.path()), clock.clone()).unwrap();
        clock.set(T0);
        alerting
            .observe(&spec, &evaluation(&spec, T0, true), Some(&evidence()))
            .await;
        clock.set(T0 + 30);
        assert_eq!(alerting.tick().await, 1);
        let log = wait_for_log(&alerting, 1).await;
        assert_eq!(log[0].outcome, "failed", "{mode}: {log:?}");
        let error = log[0].error.as_deref().unwrap();
        assert!(error.contains("smtp delivery"), "{mode}: {error}");
        let new = server.maildir.path().join("mail").join("new");
        assert_eq!(std::fs::read_dir(new).unwrap().count(), 1, "{mode}");
    }
}

#[tokio::test]
async fn slack_compatible_hooks_get_a_message_with_attachments() {
    let state = tempfile::tempdir().unwrap();
    let (url, mut hook) = webhook_receiver().await;
    let config_text = format!(
        r##"
        [route]
        receiver = "chat"
        [[receivers]]
        name = "chat"
        [[receivers.slack_configs]]
        url = "{url}"
        channel = "#oncall"
        "##
    );
    let clock = Arc::new(ManualClock::default());
    clock.set(T0);
    let spec = spec();
    let alerting = Alerting::open(resolve(&config_text, state.path()), clock.clone()).unwrap();
    alerting
        .observe(&spec, &evaluation(&spec, T0, true), Some(&evidence()))
        .await;
    clock.set(T0 + 30);
    assert_eq!(alerting.tick().await, 1);
    let (_, message) = next(&mut hook).await;
    assert_eq!(message["channel"], "#oncall");
    assert!(
        string(&message, "text").starts_with("[FIRING:1] PAGE shop/checkout-availability"),
        "{message}"
    );
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["color"], "danger");
    assert_eq!(
        attachment["title_link"],
        "http://lookout.test:8700/slos/shop-checkout-availability"
    );
    let text = string(attachment, "text");
    assert!(text.contains("Budget left: 83.3 %"), "{text}");
    assert!(
        text.contains(
            "<http://lookout.test:8700/traces/4bf92f3577b34da6a3ce929d0e0e4736|4bf92f35>"
        ),
        "{text}"
    );
    assert!(
        text.contains("<https://runbooks.example.com/checkout|Runbook>"),
        "{text}"
    );
}

async fn call(app: &Router, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    use tower::ServiceExt;
    let mut request = axum::http::Request::builder().method(method).uri(path);
    let body = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            axum::body::Body::from(body.to_string())
        }
        None => axum::body::Body::empty(),
    };
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_api_lists_suppressed_alerts_silences_and_acknowledgements() {
    let state = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    clock.set(T0);
    let spec = spec();
    let alerting = Alerting::open(resolve("", state.path()), clock.clone()).unwrap();
    alerting
        .observe(&spec, &evaluation(&spec, T0, true), None)
        .await;
    let app = lookout_query::alerting::api::router(alerting.clone());

    let (status, created) = call(
        &app,
        "POST",
        "/api/v1/silences",
        Some(serde_json::json!({
            "matchers": [{"name": "severity", "value": "page", "isRegex": false, "isEqual": true}],
            "endsAt": "2027-01-15T10:00:00Z",
            "createdBy": "ops",
            "comment": "deploy",
        })),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let silence_id = string(&created, "silenceId").to_owned();

    let (status, list) = call(&app, "GET", "/api/v1/alerts", None).await;
    assert_eq!(status, 200);
    let alerts = list["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    let page = alerts
        .iter()
        .find(|a| a["labels"]["severity"] == "page")
        .unwrap();
    let ticket = alerts
        .iter()
        .find(|a| a["labels"]["severity"] == "ticket")
        .unwrap();
    assert_eq!(page["status"]["state"], "suppressed");
    assert_eq!(
        page["status"]["silencedBy"],
        serde_json::json!([silence_id])
    );
    assert_eq!(ticket["status"]["state"], "suppressed");
    assert_eq!(
        ticket["status"]["inhibitedBy"],
        serde_json::json!([page["fingerprint"]])
    );
    assert_eq!(page["receivers"], serde_json::json!(["default"]));

    let fingerprint = string(page, "fingerprint").to_owned();
    let (status, acked) = call(
        &app,
        "POST",
        &format!("/api/v1/alerts/{fingerprint}/ack"),
        Some(serde_json::json!({"who": "ana", "comment": "on it"})),
    )
    .await;
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["acknowledgement"]["who"], "ana");
    assert_eq!(acked["acknowledgement"]["comment"], "on it");
    assert_eq!(acked["acknowledgement"]["at"], "2027-01-15T08:00:00Z");
    let (status, _) = call(
        &app,
        "POST",
        "/api/v1/alerts/0000000000000000/ack",
        Some(serde_json::json!({"who": "ana"})),
    )
    .await;
    assert_eq!(status, 404);

    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/api/v1/silences/{silence_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, silences) = call(&app, "GET", "/api/v1/silences", None).await;
    assert_eq!(silences["silences"][0]["status"]["state"], "expired");
    let (status, _) = call(&app, "DELETE", "/api/v1/silences/nope", None).await;
    assert_eq!(status, 404);
    let (status, error) = call(
        &app,
        "POST",
        "/api/v1/silences",
        Some(
            serde_json::json!({"matchers": [], "endsAt": "2027-01-15T10:00:00Z", "createdBy": "x"}),
        ),
    )
    .await;
    assert_eq!(status, 400, "{error}");

    // Silences and acknowledgements survive a restart.
    drop(app);
    drop(alerting);
    let alerting = Alerting::open(resolve("", state.path()), clock.clone()).unwrap();
    assert_eq!(alerting.silences().len(), 1);
    let page = alerting
        .alerts()
        .into_iter()
        .find(|a| a.labels["severity"] == "page")
        .unwrap();
    assert_eq!(page.acknowledgement.unwrap().who, "ana");
    assert_eq!(
        page.status.state,
        lookout_model::alerting::AlertDeliveryState::Active
    );
}
