//! What a notification says: the Alertmanager v4 webhook payload with the per-alert `slo`
//! object, the Slack-compatible message, and the email subject, text and HTML bodies.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::alert::{Alert, Facts, rfc3339};
use super::dispatch::Notification;
use super::matcher::Labels;

/// Go's zero time, Alertmanager's `endsAt` while an alert fires.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn common(maps: &[&Labels]) -> Labels {
    let Some((first, rest)) = maps.split_first() else {
        return Labels::new();
    };
    first
        .iter()
        .filter(|(k, v)| rest.iter().all(|m| m.get(*k) == Some(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The webhook body: Alertmanager's version 4 plus `slo` on every alert. `max_alerts` = 0
/// sends every alert; otherwise the rest is counted in `truncatedAlerts`.
pub fn webhook_payload(
    notification: &Notification,
    external_url: &str,
    max_alerts: usize,
) -> Value {
    let total = notification.alerts.len();
    let kept = if max_alerts == 0 {
        total
    } else {
        max_alerts.min(total)
    };
    let alerts = &notification.alerts[..kept];
    let labels: Vec<&Labels> = alerts.iter().map(|a| &a.labels).collect();
    let annotations: Vec<&Labels> = alerts.iter().map(|a| &a.annotations).collect();
    json!({
        "receiver": notification.receiver,
        "status": notification.status(),
        "alerts": alerts.iter().map(|alert| json!({
            "status": if alert.is_firing() { "firing" } else { "resolved" },
            "labels": alert.labels,
            "annotations": alert.annotations,
            "startsAt": rfc3339(alert.starts_at),
            "endsAt": alert.ends_at.map_or_else(|| ZERO_TIME.to_owned(), rfc3339),
            "generatorURL": alert.facts.dashboard_url,
            "fingerprint": alert.fingerprint,
            "slo": alert.slo,
        })).collect::<Vec<_>>(),
        "groupLabels": notification.group_labels,
        "commonLabels": common(&labels),
        "commonAnnotations": common(&annotations),
        "externalURL": external_url,
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": total - kept,
    })
}

fn burn(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |b| format!("{b:.1}×"))
}

/// `2d 3h`, `45m`, `∞`.
pub fn human_duration(secs: Option<f64>) -> String {
    let Some(secs) = secs else {
        return "∞ (nothing burns)".to_owned();
    };
    let secs = secs.max(0.0) as u64;
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

/// `[FIRING:1] PAGE myservice/requests-availability — burn 20.0× (1h 14.6×) — budget 22.7 % left`
pub fn email_subject(notification: &Notification) -> String {
    let firing = notification.alerts.iter().filter(|a| a.is_firing()).count();
    let status = if firing > 0 {
        format!("[FIRING:{firing}]")
    } else {
        "[RESOLVED]".to_owned()
    };
    let Some(first) = notification
        .alerts
        .iter()
        .find(|a| a.is_firing())
        .or(notification.alerts.first())
    else {
        return status;
    };
    let facts = &first.facts;
    format!(
        "{status} {} {} — burn {} ({} {}) — budget {:.1} % left",
        facts.severity.to_uppercase(),
        facts.title,
        burn(facts.burn_short),
        facts.long_window,
        burn(facts.burn_long),
        facts.budget_remaining * 100.0
    )
}

fn trace_url(external_url: &str, id: &str) -> String {
    format!("{external_url}/traces/{id}")
}

fn alert_text(out: &mut String, alert: &Alert, external_url: &str) {
    let facts: &Facts = &alert.facts;
    let state = if alert.is_firing() {
        "FIRING"
    } else {
        "RESOLVED"
    };
    let _ = writeln!(
        out,
        "{state} {} {}",
        facts.severity.to_uppercase(),
        facts.title
    );
    if let Some(summary) = alert.annotations.get("summary") {
        let _ = writeln!(out, "{summary}");
    }
    if let Some(description) = alert.annotations.get("description") {
        let _ = writeln!(out, "{description}");
    }
    let _ = writeln!(out, "\nStarted: {}", rfc3339(alert.starts_at));
    if let Some(ends_at) = alert.ends_at {
        let _ = writeln!(out, "Resolved: {}", rfc3339(ends_at));
    }
    let _ = writeln!(
        out,
        "Budget remaining: {:.1} %",
        facts.budget_remaining * 100.0
    );
    let _ = writeln!(
        out,
        "Time to exhaustion: {}",
        human_duration(facts.time_to_exhaustion_secs)
    );
    let _ = writeln!(out, "\nBurn rate per window:");
    for (window, rate) in &facts.windows {
        let _ = writeln!(out, "  {window:>4}  {}", burn(*rate));
    }
    if !facts.top_bad_groups.is_empty() {
        let _ = writeln!(out, "\nTop bad-event groups:");
        for (group, bad) in &facts.top_bad_groups {
            let _ = writeln!(out, "  {bad:>8}  {group}");
        }
    }
    if !facts.example_trace_ids.is_empty() {
        let _ = writeln!(out, "\nExample traces:");
        for id in &facts.example_trace_ids {
            let _ = writeln!(out, "  {}", trace_url(external_url, id));
        }
    }
    if let Some(runbook) = &facts.runbook_url {
        let _ = writeln!(out, "\nRunbook: {runbook}");
    }
    let _ = writeln!(out, "SLO: {}", facts.dashboard_url);
    let _ = writeln!(out, "Fingerprint: {}", alert.fingerprint);
}

/// The plain-text body.
pub fn email_text(notification: &Notification, external_url: &str) -> String {
    let mut out = String::new();
    for alert in &notification.alerts {
        alert_text(&mut out, alert, external_url);
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Sent by Lookout ({external_url}) to receiver {}.",
        notification.receiver
    );
    out
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn link(url: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", escape(url), escape(text))
}

/// The HTML body.
pub fn email_html(notification: &Notification, external_url: &str) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body style=\"font-family: sans-serif\">\n",
    );
    for alert in &notification.alerts {
        let facts = &alert.facts;
        let (state, color) = if alert.is_firing() {
            ("FIRING", "#c62828")
        } else {
            ("RESOLVED", "#2e7d32")
        };
        let _ = writeln!(
            out,
            "<h2 style=\"color: {color}\">{state} {} {}</h2>",
            escape(&facts.severity.to_uppercase()),
            escape(&facts.title)
        );
        for key in ["summary", "description"] {
            if let Some(text) = alert.annotations.get(key) {
                let _ = writeln!(out, "<p>{}</p>", escape(text));
            }
        }
        let _ = writeln!(out, "<table>");
        let mut row = |name: &str, value: String| {
            let _ = writeln!(
                out,
                "<tr><th align=\"left\">{}</th><td>{value}</td></tr>",
                escape(name)
            );
        };
        row("Started", escape(&rfc3339(alert.starts_at)));
        if let Some(ends_at) = alert.ends_at {
            row("Resolved", escape(&rfc3339(ends_at)));
        }
        row(
            "Budget remaining",
            format!("{:.1} %", facts.budget_remaining * 100.0),
        );
        row(
            "Time to exhaustion",
            escape(&human_duration(facts.time_to_exhaustion_secs)),
        );
        let _ = writeln!(out, "</table>");
        let _ = writeln!(out, "<h3>Burn rate per window</h3>\n<table>");
        for (window, rate) in &facts.windows {
            let _ = writeln!(
                out,
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                escape(window),
                escape(&burn(*rate))
            );
        }
        let _ = writeln!(out, "</table>");
        if !facts.top_bad_groups.is_empty() {
            let _ = writeln!(out, "<h3>Top bad-event groups</h3>\n<table>");
            for (group, bad) in &facts.top_bad_groups {
                let _ = writeln!(
                    out,
                    "<tr><td align=\"right\">{bad}</td><td>{}</td></tr>",
                    escape(group)
                );
            }
            let _ = writeln!(out, "</table>");
        }
        if !facts.example_trace_ids.is_empty() {
            let _ = writeln!(out, "<h3>Example traces</h3>\n<ul>");
            for id in &facts.example_trace_ids {
                let _ = writeln!(out, "<li>{}</li>", link(&trace_url(external_url, id), id));
            }
            let _ = writeln!(out, "</ul>");
        }
        let _ = write!(out, "<p>");
        if let Some(runbook) = &facts.runbook_url {
            let _ = write!(out, "{} · ", link(runbook, "Runbook"));
        }
        let _ = writeln!(out, "{}</p>", link(&facts.dashboard_url, "SLO dashboard"));
    }
    out.push_str("</body></html>\n");
    out
}

/// A Slack-compatible incoming-webhook message.
pub fn slack_payload(
    notification: &Notification,
    external_url: &str,
    channel: Option<&str>,
) -> Value {
    let attachments: Vec<Value> = notification
        .alerts
        .iter()
        .map(|alert| {
            let facts = &alert.facts;
            let mut text = String::new();
            if let Some(summary) = alert.annotations.get("summary") {
                let _ = writeln!(text, "{summary}");
            }
            let windows: Vec<String> = facts
                .windows
                .iter()
                .map(|(w, r)| format!("{w} {}", burn(*r)))
                .collect();
            let _ = writeln!(text, "Burn rates: {}", windows.join(", "));
            let _ = writeln!(
                text,
                "Budget left: {:.1} %, exhausted in {}",
                facts.budget_remaining * 100.0,
                human_duration(facts.time_to_exhaustion_secs)
            );
            for (group, bad) in facts.top_bad_groups.iter().take(3) {
                let _ = writeln!(text, "• {bad} bad: {group}");
            }
            let traces: Vec<String> = facts
                .example_trace_ids
                .iter()
                .map(|id| {
                    format!(
                        "<{}|{}>",
                        trace_url(external_url, id),
                        &id[..id.len().min(8)]
                    )
                })
                .collect();
            if !traces.is_empty() {
                let _ = writeln!(text, "Traces: {}", traces.join(" "));
            }
            if let Some(runbook) = &facts.runbook_url {
                let _ = writeln!(text, "<{runbook}|Runbook>");
            }
            json!({
                "color": if alert.is_firing() { "danger" } else { "good" },
                "title": format!(
                    "{} {} {}",
                    if alert.is_firing() { "FIRING" } else { "RESOLVED" },
                    facts.severity.to_uppercase(),
                    facts.title
                ),
                "title_link": facts.dashboard_url,
                "text": text,
            })
        })
        .collect();
    let mut payload = serde_json::Map::new();
    payload.insert("text".into(), Value::String(email_subject(notification)));
    payload.insert("attachments".into(), Value::Array(attachments));
    if let Some(channel) = channel {
        payload.insert("channel".into(), Value::String(channel.to_owned()));
    }
    Value::Object(payload)
}

/// Labels of several alerts shared by all (exposed for tests of grouping).
pub fn common_labels(alerts: &[Alert]) -> BTreeMap<String, String> {
    let labels: Vec<&Labels> = alerts.iter().map(|a| &a.labels).collect();
    common(&labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(None), "∞ (nothing burns)");
        assert_eq!(human_duration(Some(40_800.0)), "11h 20m");
        assert_eq!(human_duration(Some(300.0)), "5m");
        assert_eq!(human_duration(Some(3.0 * 86_400.0 + 7_200.0)), "3d 2h");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
