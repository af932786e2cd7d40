//! Routing, grouping, repeat, inhibition, silences and restarts of the dispatcher, driven by
//! explicit times.

use lookout_model::alerting::SilenceMatcher;

use super::*;
use crate::alerting::alert::Facts;
use crate::alerting::config::AlertingFileConfig;

const T0: i64 = 1_800_000_000;

fn config(text: &str) -> AlertingConfig {
    let file: AlertingFileConfig = toml::from_str(text).unwrap();
    file.resolve("http://lookout.test", None, &|_| None)
        .unwrap()
}

const ONE_HOOK: &str = r#"
[route]
receiver = "hook"
group_by = ["slo", "severity"]
[[receivers]]
name = "hook"
[[receivers.webhook_configs]]
url = "http://127.0.0.1:9/hook"
"#;

fn update(slo: &str, severity: &str, firing: bool, at: i64) -> AlertUpdate {
    let labels: Labels = [
        ("alertname", "SLOBurnRate"),
        ("slo", slo),
        ("service", "shop"),
        ("severity", severity),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    AlertUpdate {
        labels,
        annotations: Labels::new(),
        firing,
        evaluated_at: at,
        slo: serde_json::json!({ "id": slo }),
        facts: Facts::default(),
        targets: Vec::new(),
    }
}

fn fp(slo: &str, severity: &str) -> String {
    fingerprint(&update(slo, severity, true, 0).labels)
}

/// Ticks at `now` and acknowledges every notification as delivered.
fn tick(dispatcher: &mut Dispatcher, now: i64) -> Vec<Notification> {
    let sent = dispatcher.tick(now);
    for notification in &sent {
        dispatcher.delivered(notification, "test".into(), Ok(()), 1, now);
    }
    sent
}

fn fingerprints(notification: &Notification) -> Vec<(String, bool)> {
    notification
        .alerts
        .iter()
        .map(|a| (a.fingerprint.clone(), a.is_firing()))
        .collect()
}

#[test]
fn group_wait_then_one_notification() {
    let mut d = Dispatcher::new(config(ONE_HOOK), Persisted::default(), T0);
    assert!(d.update(update("checkout", "page", true, T0), T0));
    assert!(tick(&mut d, T0 + 29).is_empty(), "group_wait is 30s");
    let sent = tick(&mut d, T0 + 30);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].receiver, "hook");
    assert_eq!(sent[0].status(), "firing");
    assert_eq!(fingerprints(&sent[0]), vec![(fp("checkout", "page"), true)]);
    assert_eq!(sent[0].group_key, "{}:{severity=\"page\",slo=\"checkout\"}");
    // Nothing changed: silent until the repeat interval.
    for minutes in (5..240).step_by(5) {
        assert!(tick(&mut d, T0 + 30 + minutes * 60).is_empty(), "{minutes}");
    }
    let repeated = tick(&mut d, T0 + 30 + 240 * 60);
    assert_eq!(repeated.len(), 1, "repeat_interval is 4h");
}

#[test]
fn alerts_of_one_group_are_sent_together_and_changes_wait_for_group_interval() {
    let text = ONE_HOOK.replace(
        "group_by = [\"slo\", \"severity\"]",
        "group_by = [\"service\"]",
    );
    let mut d = Dispatcher::new(config(&text), Persisted::default(), T0);
    d.update(update("checkout", "page", true, T0), T0);
    d.update(update("search", "page", true, T0 + 10), T0 + 10);
    let sent = tick(&mut d, T0 + 30);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].alerts.len(), 2);
    assert_eq!(sent[0].group_labels.get("service").unwrap(), "shop");
    // A new alert in a flushed group waits for group_interval (5m).
    d.update(update("cart", "page", true, T0 + 60), T0 + 60);
    assert!(tick(&mut d, T0 + 300).is_empty());
    let sent = tick(&mut d, T0 + 330);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].alerts.len(), 3);
}

#[test]
fn resolved_alerts_are_sent_when_asked_and_then_forgotten() {
    let mut d = Dispatcher::new(config(ONE_HOOK), Persisted::default(), T0);
    d.update(update("checkout", "page", true, T0), T0);
    tick(&mut d, T0 + 30);
    d.update(update("checkout", "page", false, T0 + 120), T0 + 120);
    let sent = tick(&mut d, T0 + 330);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status(), "resolved");
    assert_eq!(
        fingerprints(&sent[0]),
        vec![(fp("checkout", "page"), false)]
    );
    assert!(d.alerts(T0 + 330).is_empty());
    assert!(d.persisted().alerts.is_empty());
    assert!(tick(&mut d, T0 + 3 * 3_600).is_empty());
    // The same identity firing again is a new incident and pages again.
    d.update(
        update("checkout", "page", true, T0 + 4 * 3_600),
        T0 + 4 * 3_600,
    );
    assert_eq!(tick(&mut d, T0 + 4 * 3_600 + 30).len(), 1);
}

#[test]
fn resolved_alerts_are_not_sent_without_send_resolved_but_clear_the_log() {
    let text = ONE_HOOK.replace(
        "url = \"http://127.0.0.1:9/hook\"",
        "url = \"http://127.0.0.1:9/hook\"\nsend_resolved = false",
    );
    let mut d = Dispatcher::new(config(&text), Persisted::default(), T0);
    d.update(update("checkout", "page", true, T0), T0);
    assert_eq!(tick(&mut d, T0 + 30).len(), 1);
    d.update(update("checkout", "page", false, T0 + 60), T0 + 60);
    assert!(tick(&mut d, T0 + 330).is_empty());
    d.update(update("checkout", "page", true, T0 + 400), T0 + 400);
    assert_eq!(
        tick(&mut d, T0 + 430).len(),
        1,
        "pages again after a resolve"
    );
}

#[test]
fn routes_match_labels_and_continue() {
    let text = r#"
    [route]
    receiver = "all"
    [[route.routes]]
    matchers = ['severity="page"']
    receiver = "pager"
    continue = true
    [[route.routes]]
    matchers = ['slo=~"check.*"']
    receiver = "checkout-team"
    [[route.routes]]
    matchers = ['severity!="page"']
    receiver = "tickets"
    [[receivers]]
    name = "all"
    [[receivers]]
    name = "pager"
    [[receivers]]
    name = "checkout-team"
    [[receivers]]
    name = "tickets"
    "#;
    let config = config(text);
    let receivers = |slo: &str, severity: &str| -> Vec<String> {
        Dispatcher::matching_routes(&config.route, &update(slo, severity, true, 0).labels)
            .into_iter()
            .map(|(route, _)| route.receiver.clone())
            .collect()
    };
    assert_eq!(receivers("checkout", "page"), ["pager", "checkout-team"]);
    assert_eq!(receivers("search", "page"), ["pager"]);
    assert_eq!(receivers("checkout", "ticket"), ["checkout-team"]);
    assert_eq!(receivers("search", "ticket"), ["tickets"]);
    let unmatched = Dispatcher::matching_routes(&config.route, &Labels::new());
    assert_eq!(
        unmatched[0].0.receiver, "tickets",
        "severity!=page matches a missing label"
    );
}

#[test]
fn a_page_inhibits_the_ticket_of_the_same_slo_only() {
    let mut d = Dispatcher::new(config(ONE_HOOK), Persisted::default(), T0);
    d.update(update("checkout", "page", true, T0), T0);
    d.update(update("checkout", "ticket", true, T0), T0);
    d.update(update("search", "ticket", true, T0), T0);
    let sent = tick(&mut d, T0 + 30);
    let mut sent_fps: Vec<String> = sent
        .iter()
        .flat_map(|n| n.alerts.iter().map(|a| a.fingerprint.clone()))
        .collect();
    sent_fps.sort();
    let mut expected = vec![fp("checkout", "page"), fp("search", "ticket")];
    expected.sort();
    assert_eq!(sent_fps, expected);
    let views = d.alerts(T0 + 30);
    let ticket = views
        .iter()
        .find(|v| v.fingerprint == fp("checkout", "ticket"))
        .unwrap();
    assert_eq!(ticket.status.state, AlertDeliveryState::Suppressed);
    assert_eq!(ticket.status.inhibited_by, vec![fp("checkout", "page")]);
    // Once the page resolves, the ticket is delivered at the group's next flush.
    d.update(update("checkout", "page", false, T0 + 60), T0 + 60);
    let sent = tick(&mut d, T0 + 330);
    let ticket_sent = sent.iter().any(|n| {
        n.alerts
            .iter()
            .any(|a| a.fingerprint == fp("checkout", "ticket"))
    });
    assert!(ticket_sent);
}

fn silence(slo: &str, ends_at: i64) -> PostableSilence {
    PostableSilence {
        matchers: vec![SilenceMatcher {
            name: "slo".into(),
            value: slo.into(),
            is_regex: false,
            is_equal: true,
        }],
        starts_at: None,
        ends_at: rfc3339(ends_at),
        created_by: "ops".into(),
        comment: "deploy".into(),
    }
}

#[test]
fn silences_mute_until_they_end_or_expire() {
    let mut d = Dispatcher::new(config(ONE_HOOK), Persisted::default(), T0);
    let id = d
        .add_silence(silence("checkout", T0 + 3_600), "s1".into(), T0)
        .unwrap();
    d.update(update("checkout", "page", true, T0), T0);
    assert!(tick(&mut d, T0 + 30).is_empty());
    let view = &d.alerts(T0 + 30)[0];
    assert_eq!(view.status.state, AlertDeliveryState::Suppressed);
    assert_eq!(view.status.silenced_by, vec![id.clone()]);
    assert_eq!(d.silences(T0)[0].status.state, SilenceState::Active);
    d.expire_silence(&id, T0 + 100).unwrap();
    assert_eq!(d.silences(T0 + 100)[0].status.state, SilenceState::Expired);
    assert!(d.expire_silence(&id, T0 + 101).is_err());
    let sent = tick(&mut d, T0 + 330);
    assert_eq!(
        sent.len(),
        1,
        "delivered at the next flush after the silence ended"
    );
    assert_eq!(
        d.alerts(T0 + 330)[0].status.state,
        AlertDeliveryState::Active
    );
}

#[test]
fn silences_are_validated() {
    let mut d = Dispatcher::new(config(ONE_HOOK), Persisted::default(), T0);
    let mut empty = silence("x", T0 + 10);
    empty.matchers.clear();
    assert!(d.add_silence(empty, "a".into(), T0).is_err());
    assert!(
        d.add_silence(silence("x", T0 - 10), "b".into(), T0)
            .is_err()
    );
    let mut everything = silence("x", T0 + 10);
    everything.matchers[0].value = ".*".into();
    everything.matchers[0].is_regex = true;
    assert!(d.add_silence(everything, "c".into(), T0).is_err());
}

#[test]
fn a_restart_mid_incident_sends_no_duplicate_page() {
    let mut d = Dispatcher::new(config(ONE_HOOK), Persisted::default(), T0);
    d.update(update("checkout", "page", true, T0), T0);
    assert_eq!(tick(&mut d, T0 + 30).len(), 1);
    let saved: Persisted =
        serde_json::from_slice(&serde_json::to_vec(d.persisted()).unwrap()).unwrap();
    drop(d);
    // The daemon comes back ten minutes later; the SLO still burns.
    let now = T0 + 600;
    let mut d = Dispatcher::new(config(ONE_HOOK), saved, now);
    d.update(update("checkout", "page", true, now), now);
    assert_eq!(
        d.alerts(now)[0].starts_at,
        rfc3339(T0),
        "the incident is remembered"
    );
    for minutes in (0..200).step_by(5) {
        assert!(tick(&mut d, now + minutes * 60).is_empty(), "{minutes}");
    }
    // The repeat interval still counts from the first page.
    assert_eq!(tick(&mut d, T0 + 30 + 4 * 3_600 + 300).len(), 1);
}

#[test]
fn failed_deliveries_are_retried_at_the_next_flush_and_logged() {
    let mut d = Dispatcher::new(config(ONE_HOOK), Persisted::default(), T0);
    d.update(update("checkout", "page", true, T0), T0);
    let sent = d.tick(T0 + 30);
    assert_eq!(sent.len(), 1);
    d.delivered(
        &sent[0],
        "x".into(),
        Err("connection refused".into()),
        5,
        T0 + 40,
    );
    let again = tick(&mut d, T0 + 330);
    assert_eq!(
        again.len(),
        1,
        "no log entry, so the next flush sends again"
    );
    let log = d.notifications();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].outcome, "success");
    assert_eq!(log[1].outcome, "failed");
    assert_eq!(log[1].error.as_deref(), Some("connection refused"));
    assert_eq!(log[1].attempts, 5);
}

#[test]
fn the_notification_log_is_bounded() {
    let text = format!("notification_log_size = 3\n{ONE_HOOK}");
    let mut d = Dispatcher::new(config(&text), Persisted::default(), T0);
    d.update(update("checkout", "page", true, T0), T0);
    let sent = d.tick(T0 + 30);
    for i in 0..10 {
        d.delivered(&sent[0], "x".into(), Ok(()), 1, T0 + i);
    }
    assert_eq!(d.notifications().len(), 3);
}

#[test]
fn acknowledgements_are_kept_until_the_next_incident() {
    let mut d = Dispatcher::new(config(ONE_HOOK), Persisted::default(), T0);
    d.update(update("checkout", "page", true, T0), T0);
    let fp = fp("checkout", "page");
    assert!(d.acknowledge("nope", "ana", "", T0).is_err());
    let view = d.acknowledge(&fp, "oncall", "looking", T0 + 5).unwrap();
    let ack = view.acknowledgement.unwrap();
    assert_eq!(
        (ack.who.as_str(), ack.comment.as_str()),
        ("oncall", "looking")
    );
    d.update(update("checkout", "page", false, T0 + 60), T0 + 60);
    d.update(update("checkout", "page", true, T0 + 120), T0 + 120);
    assert!(d.alerts(T0 + 120)[0].acknowledgement.is_none());
}

#[test]
fn alerts_of_removed_slos_resolve() {
    let mut d = Dispatcher::new(config(ONE_HOOK), Persisted::default(), T0);
    d.update(update("checkout", "page", true, T0), T0);
    d.update(update("search", "page", true, T0), T0);
    tick(&mut d, T0 + 30);
    let loaded: BTreeSet<String> = ["search".to_owned()].into();
    assert!(d.resolve_missing(&loaded, T0 + 60));
    assert!(!d.resolve_missing(&loaded, T0 + 61));
    let views = d.alerts(T0 + 60);
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].labels["slo"], "search");
    let sent = tick(&mut d, T0 + 330);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status(), "resolved");
}
