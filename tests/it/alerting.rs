//! Alerting through the daemon: spans that burn an SLO's budget, sent by the Rust
//! OpenTelemetry SDK, make the running daemon post an Alertmanager v4 webhook with the `slo`
//! evidence; after a SIGKILL in the middle of the incident the restarted daemon still knows
//! the alert was sent and does not page again.

use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::routing::post;
use serde_json::Value;

use crate::slo::{SERVICE, availability_slo, send_traffic};
use crate::support::Daemon;

/// A webhook receiver on a free port, served from its own thread; every posted JSON body
/// comes out of the returned channel.
fn webhook_receiver() -> (String, mpsc::Receiver<Value>) {
    let (sender, receiver) = mpsc::channel();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
    listener.set_nonblocking(true).expect("non-blocking");
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("receiver runtime");
        runtime.block_on(async move {
            let app = axum::Router::new().route(
                "/hook",
                post(move |Json(body): Json<Value>| {
                    let sender = sender.clone();
                    async move {
                        let _ = sender.send(body);
                        "ok"
                    }
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            axum::serve(listener, app)
                .await
                .expect("serve the receiver");
        });
    });
    (url, receiver)
}

fn alerts(daemon: &Daemon) -> Vec<Value> {
    let (status, body) = daemon.get("/api/v1/alerts");
    assert_eq!(status, 200, "{body}");
    body["alerts"].as_array().cloned().unwrap_or_default()
}

fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_burning_slo_pages_once_across_a_sigkill() {
    let rules = tempfile::tempdir().expect("rules dir");
    std::fs::write(rules.path().join("live.yaml"), availability_slo("live")).unwrap();
    let (url, hook) = webhook_receiver();
    let config = format!(
        r#"
[slo]
rules_dir = {rules:?}

[alerting]
external_url = "http://lookout.test:8700"

[alerting.route]
receiver = "hook"
group_wait = "1s"

[[alerting.receivers]]
name = "hook"
[[alerting.receivers.webhook_configs]]
url = "{url}"
"#,
        rules = rules.path().display().to_string()
    );
    let mut daemon = Daemon::start_with_config(&config);

    // Minutes 30 to 39 of the hour that ended an hour ago fail: the ticket pairs (1d/2h and
    // 3d/6h) see 200 bad of 1200 (16.7 % against a 1 % budget), the page pairs' short
    // windows see nothing, so exactly one alert fires: the ticket.
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let base = (now / 60) * 60 - 2 * 3600;
    let failing = send_traffic(&daemon, base);

    // One engine step plus its one-minute delay, then group_wait.
    let firing = hook
        .recv_timeout(Duration::from_secs(180))
        .expect("a firing webhook");
    assert_eq!(firing["version"], "4", "{firing}");
    assert_eq!(firing["status"], "firing", "{firing}");
    assert_eq!(firing["receiver"], "hook", "{firing}");
    let sent = firing["alerts"].as_array().expect("alerts");
    assert_eq!(sent.len(), 1, "{firing}");
    let alert = &sent[0];
    assert_eq!(alert["labels"]["alertname"], "SLOBurnRate", "{firing}");
    assert_eq!(alert["labels"]["severity"], "ticket", "{firing}");
    assert_eq!(alert["labels"]["service"], SERVICE, "{firing}");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z", "{firing}");
    let slo = &alert["slo"];
    assert_eq!(slo["id"], "live", "{slo}");
    assert_eq!(slo["severity"], "ticket", "{slo}");
    assert_eq!(
        slo["dashboardURL"], "http://lookout.test:8700/slos/live",
        "{slo}"
    );
    // C = e / B = (200 / 1200) / 0.01.
    let consumed = slo["budget"]["consumed"]
        .as_f64()
        .unwrap_or_else(|| panic!("budget.consumed in {slo}"));
    assert!((consumed - (200.0 / 1200.0) / 0.01).abs() < 1e-6, "{slo}");
    let examples: Vec<String> = slo["evidence"]["exampleTraceIds"]
        .as_array()
        .unwrap_or_else(|| panic!("evidence.exampleTraceIds in {slo}"))
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    assert!(!examples.is_empty(), "{slo}");
    for id in &examples {
        assert!(failing.contains(id), "{id} is not a failing trace: {slo}");
    }

    // The notification is logged; the alert is visible as active.
    let (status, log) = daemon.get("/api/v1/notifications");
    assert_eq!(status, 200, "{log}");
    let entries = log["notifications"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(entries[0]["outcome"], "success", "{log}");
    let before = alerts(&daemon);
    assert_eq!(before.len(), 1, "{before:?}");
    let updated_before = before[0]["updatedAt"].as_str().unwrap().to_owned();

    // SIGKILL in the middle of the incident, restart: the engine rebuilds its counts from
    // storage and evaluates a later step; the alert is still firing and already notified.
    daemon.kill9();
    daemon.restart();
    wait_for(
        "an evaluation after the restart",
        Duration::from_secs(180),
        || {
            alerts(&daemon)
                .into_iter()
                .find(|a| a["updatedAt"].as_str().unwrap() > updated_before.as_str())
        },
    );
    // Give the dispatcher a few of its 2 s rounds after that evaluation.
    std::thread::sleep(Duration::from_secs(8));
    let (_, log) = daemon.get("/api/v1/notifications");
    assert_eq!(log["notifications"].as_array().unwrap().len(), 1, "{log}");
    assert!(hook.try_recv().is_err(), "the restarted daemon paged again");
    let after = alerts(&daemon);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["status"]["state"], "active", "{after:?}");
    assert_eq!(after[0]["startsAt"], before[0]["startsAt"], "{after:?}");
}
