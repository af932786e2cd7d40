//! The alerting state machine, with Alertmanager's semantics: alerts enter aggregation groups
//! chosen by the route tree; a group notifies `group_wait` after it is created, then at most
//! every `group_interval`; the notification log decides whether a flush sends (new firing
//! alerts, resolved alerts with `send_resolved`, or `repeat_interval` elapsed); silences and
//! inhibition rules mute alerts, which stay visible as suppressed.
//!
//! Everything here is pure over explicit `now` arguments (Unix seconds): no clock, no IO
//! except the state snapshot, so tests drive hours of timers in microseconds.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use lookout_model::alerting::{
    Acknowledgement, AlertDeliveryState, AlertStatus, AlertView, NotificationRecord,
    PostableSilence, Silence, SilenceState, SilenceStatus,
};
use serde::{Deserialize, Serialize};

use super::alert::{Alert, AlertUpdate, fingerprint, rfc3339};
use super::config::{AlertingConfig, Integration, Receiver, Route, receiver_for_target};
use super::matcher::{Labels, Matcher, all_match};

/// Expired silences are kept this long for the list, then forgotten.
const SILENCE_RETENTION_SECS: i64 = 5 * 86_400;

/// What the notification log remembers of the last successful notification of one group to
/// one integration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NflogEntry {
    /// Firing fingerprints sent.
    pub firing: BTreeSet<String>,
    /// Resolved fingerprints sent.
    pub resolved: BTreeSet<String>,
    /// When, Unix seconds.
    pub at: i64,
}

/// The persisted part of the state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Persisted {
    /// Alerts by fingerprint (firing, and resolved ones not yet flushed).
    pub alerts: BTreeMap<String, Alert>,
    /// Silences by id.
    pub silences: BTreeMap<String, StoredSilence>,
    /// Notification log by `receiver/integration|group key`.
    pub nflog: BTreeMap<String, NflogEntry>,
    /// The bounded delivery history, newest last.
    pub notifications: VecDeque<NotificationRecord>,
}

/// A silence with times as Unix seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSilence {
    /// As posted.
    pub silence: PostableSilence,
    /// Id.
    pub id: String,
    /// Start.
    pub starts_at: i64,
    /// End.
    pub ends_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// One notification to deliver to one integration.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Receiver name.
    pub receiver: String,
    /// The integration.
    pub integration: Integration,
    /// Alertmanager group key.
    pub group_key: String,
    /// Values of the `group_by` labels.
    pub group_labels: Labels,
    /// Firing alerts first, then resolved ones (only with `send_resolved`).
    pub alerts: Vec<Alert>,
    /// Firing fingerprints of the flush (for the notification log).
    pub firing: BTreeSet<String>,
    /// Resolved fingerprints of the flush.
    pub resolved: BTreeSet<String>,
    /// Notification log key.
    pub nflog_key: String,
}

impl Notification {
    /// `firing` when any alert fires, else `resolved`.
    pub fn status(&self) -> &'static str {
        if self.alerts.iter().any(Alert::is_firing) {
            "firing"
        } else {
            "resolved"
        }
    }
}

#[derive(Debug, Clone)]
struct Group {
    key: String,
    receiver: String,
    labels: Labels,
    group_interval: i64,
    repeat_interval: i64,
    alerts: BTreeSet<String>,
    next_flush: i64,
}

/// The alerting state of one daemon.
pub struct Dispatcher {
    config: AlertingConfig,
    receivers: BTreeMap<String, Receiver>,
    state: Persisted,
    groups: BTreeMap<String, Group>,
}

impl Dispatcher {
    /// A dispatcher over restored state (alerts re-enter their groups).
    pub fn new(config: AlertingConfig, state: Persisted, now: i64) -> Self {
        let mut dispatcher = Self {
            receivers: config.receivers.clone(),
            config,
            state,
            groups: BTreeMap::new(),
        };
        let fingerprints: Vec<String> = dispatcher.state.alerts.keys().cloned().collect();
        for fp in fingerprints {
            dispatcher.insert_into_groups(&fp, now);
        }
        dispatcher
    }

    /// The settings.
    pub fn config(&self) -> &AlertingConfig {
        &self.config
    }

    /// The state to persist.
    pub fn persisted(&self) -> &Persisted {
        &self.state
    }

    /// Applies one evaluation's verdict on one alert identity. Returns whether state changed.
    pub fn update(&mut self, update: AlertUpdate, now: i64) -> bool {
        let fp = fingerprint(&update.labels);
        let existing = self.state.alerts.get_mut(&fp);
        match (existing, update.firing) {
            (None, false) => false,
            (None, true) => {
                let alert = Alert {
                    fingerprint: fp.clone(),
                    labels: update.labels,
                    annotations: update.annotations,
                    starts_at: update.evaluated_at,
                    ends_at: None,
                    updated_at: update.evaluated_at,
                    slo: update.slo,
                    facts: update.facts,
                    targets: update.targets,
                    acknowledgement: None,
                };
                self.state.alerts.insert(fp.clone(), alert);
                self.insert_into_groups(&fp, now);
                true
            }
            (Some(alert), firing) => {
                let was_firing = alert.is_firing();
                if !was_firing && !firing {
                    return false;
                }
                alert.annotations = update.annotations;
                alert.updated_at = update.evaluated_at;
                alert.slo = update.slo;
                alert.facts = update.facts;
                alert.targets = update.targets;
                if firing && !was_firing {
                    // A new incident of the same identity.
                    alert.starts_at = update.evaluated_at;
                    alert.ends_at = None;
                    alert.acknowledgement = None;
                } else if !firing {
                    alert.ends_at = Some(update.evaluated_at);
                }
                if firing != was_firing {
                    self.insert_into_groups(&fp, now);
                }
                true
            }
        }
    }

    /// Resolves the firing alerts of SLOs that are no longer loaded. Returns whether any was.
    pub fn resolve_missing(&mut self, loaded: &BTreeSet<String>, now: i64) -> bool {
        let gone: Vec<String> = self
            .state
            .alerts
            .values()
            .filter(|a| a.is_firing())
            .filter(|a| a.labels.get("slo").is_some_and(|slo| !loaded.contains(slo)))
            .map(|a| a.fingerprint.clone())
            .collect();
        for fp in &gone {
            if let Some(alert) = self.state.alerts.get_mut(fp) {
                alert.ends_at = Some(now);
            }
            self.insert_into_groups(fp, now);
        }
        !gone.is_empty()
    }

    /// Route nodes matching `labels`, with their keys (depth first, `continue` honoured).
    pub fn matching_routes<'a>(route: &'a Route, labels: &Labels) -> Vec<(&'a Route, String)> {
        let mut out = Vec::new();
        collect_routes(route, "{}".to_owned(), labels, &mut out);
        out
    }

    fn insert_into_groups(&mut self, fp: &str, now: i64) {
        let Some(alert) = self.state.alerts.get(fp) else {
            return;
        };
        let mut targets: Vec<(Route, String)> =
            Self::matching_routes(&self.config.route, &alert.labels)
                .into_iter()
                .map(|(route, key)| (route.clone(), key))
                .collect();
        for target in &alert.targets {
            let Some(receiver) = receiver_for_target(&self.config, target) else {
                tracing::warn!(
                    target,
                    "unknown notification target: no receiver, address or URL"
                );
                continue;
            };
            let mut route = self.config.route.clone();
            route.receiver = receiver.name.clone();
            self.receivers.insert(receiver.name.clone(), receiver);
            targets.push((route, format!("{{}}/openslo:{target}")));
        }
        let starts_at = alert.starts_at;
        let labels = alert.labels.clone();
        for (route, route_key) in targets {
            let group_labels: Labels = if route.group_by_all {
                labels.clone()
            } else {
                route
                    .group_by
                    .iter()
                    .filter_map(|name| labels.get(name).map(|v| (name.clone(), v.clone())))
                    .collect()
            };
            let key = format!(
                "{route_key}:{}",
                super::alert::format_labels(&group_labels).replace(", ", ",")
            );
            let id = format!("{}|{key}", route.receiver);
            let group = self.groups.entry(id).or_insert_with(|| {
                let group_wait = route.group_wait.as_secs() as i64;
                Group {
                    key: key.clone(),
                    receiver: route.receiver.clone(),
                    labels: group_labels.clone(),
                    group_interval: route.group_interval.as_secs() as i64,
                    repeat_interval: route.repeat_interval.as_secs() as i64,
                    alerts: BTreeSet::new(),
                    // An alert older than group_wait (restored after a restart) flushes now.
                    next_flush: if starts_at + group_wait < now {
                        now
                    } else {
                        now + group_wait
                    },
                }
            });
            group.alerts.insert(fp.to_owned());
        }
    }

    /// The earliest time a group wants to flush.
    pub fn next_deadline(&self) -> Option<i64> {
        self.groups.values().map(|g| g.next_flush).min()
    }

    /// Flushes every group that is due and returns what must be sent.
    pub fn tick(&mut self, now: i64) -> Vec<Notification> {
        self.expire_silences(now);
        let due: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.next_flush <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let mut out = Vec::new();
        for id in due {
            self.flush(&id, now, &mut out);
        }
        out
    }

    fn flush(&mut self, id: &str, now: i64, out: &mut Vec<Notification>) {
        let Some(group) = self.groups.get(id).cloned() else {
            return;
        };
        let mut firing = Vec::new();
        let mut resolved = Vec::new();
        for fp in &group.alerts {
            let Some(alert) = self.state.alerts.get(fp) else {
                continue;
            };
            if alert.is_firing() {
                if self.status(alert, now).state == AlertDeliveryState::Active {
                    firing.push(alert.clone());
                }
            } else {
                resolved.push(alert.clone());
            }
        }
        let firing_set: BTreeSet<String> = firing.iter().map(|a| a.fingerprint.clone()).collect();
        let resolved_set: BTreeSet<String> =
            resolved.iter().map(|a| a.fingerprint.clone()).collect();
        let integrations = self
            .receivers
            .get(&group.receiver)
            .map(|r| r.integrations.clone())
            .unwrap_or_default();
        for integration in integrations {
            let nflog_key = format!("{}/{}|{}", group.receiver, integration.key, group.key);
            let entry = self.state.nflog.get(&nflog_key);
            if !needs_update(
                entry,
                &firing_set,
                &resolved_set,
                integration.send_resolved,
                group.repeat_interval,
                now,
            ) {
                continue;
            }
            let mut alerts = firing.clone();
            if integration.send_resolved {
                alerts.extend(resolved.iter().cloned());
            }
            if alerts.is_empty() {
                // Everything resolved and the receiver does not want to hear it: clear the
                // log so the next firing pages again.
                self.state.nflog.insert(
                    nflog_key,
                    NflogEntry {
                        firing: BTreeSet::new(),
                        resolved: resolved_set.clone(),
                        at: now,
                    },
                );
                continue;
            }
            out.push(Notification {
                receiver: group.receiver.clone(),
                integration,
                group_key: group.key.clone(),
                group_labels: group.labels.clone(),
                alerts,
                firing: firing_set.clone(),
                resolved: resolved_set.clone(),
                nflog_key,
            });
        }
        // Resolved alerts have been handed over: they leave the group, and the state once no
        // group holds them.
        let mut remove_group = false;
        if let Some(group) = self.groups.get_mut(id) {
            for fp in &resolved_set {
                group.alerts.remove(fp);
            }
            group.next_flush = now + group.group_interval;
            remove_group = group.alerts.is_empty();
        }
        if remove_group {
            self.groups.remove(id);
        }
        for fp in resolved_set {
            if !self.groups.values().any(|g| g.alerts.contains(&fp)) {
                self.state.alerts.remove(&fp);
            }
        }
    }

    /// Records the outcome of a delivery: the notification log on success, and the history.
    pub fn delivered(
        &mut self,
        notification: &Notification,
        to: String,
        outcome: Result<(), String>,
        attempts: u32,
        now: i64,
    ) {
        if outcome.is_ok() {
            self.state.nflog.insert(
                notification.nflog_key.clone(),
                NflogEntry {
                    firing: notification.firing.clone(),
                    resolved: notification.resolved.clone(),
                    at: now,
                },
            );
        }
        self.state.notifications.push_back(NotificationRecord {
            at: rfc3339(now),
            receiver: notification.receiver.clone(),
            integration: notification.integration.key.clone(),
            to,
            group_key: notification.group_key.clone(),
            status: notification.status().to_owned(),
            alerts: notification
                .alerts
                .iter()
                .map(|a| a.fingerprint.clone())
                .collect(),
            outcome: if outcome.is_ok() { "success" } else { "failed" }.to_owned(),
            error: outcome.err(),
            attempts,
        });
        while self.state.notifications.len() > self.config.notification_log_size {
            self.state.notifications.pop_front();
        }
    }

    /// Silences muting `labels` at `now`.
    fn silenced_by(&self, labels: &Labels, now: i64) -> Vec<String> {
        self.state
            .silences
            .values()
            .filter(|s| s.starts_at <= now && now < s.ends_at)
            .filter(|s| {
                let matchers: Result<Vec<Matcher>, String> = s
                    .silence
                    .matchers
                    .iter()
                    .map(Matcher::from_silence)
                    .collect();
                matchers.is_ok_and(|m| all_match(&m, labels))
            })
            .map(|s| s.id.clone())
            .collect()
    }

    /// Firing alerts inhibiting `target`.
    fn inhibited_by(&self, target: &Alert) -> Vec<String> {
        let mut by = Vec::new();
        for rule in &self.config.inhibit_rules {
            if !all_match(&rule.target, &target.labels) {
                continue;
            }
            for source in self.state.alerts.values() {
                if source.fingerprint == target.fingerprint
                    || !source.is_firing()
                    || !all_match(&rule.source, &source.labels)
                {
                    continue;
                }
                let equal = rule
                    .equal
                    .iter()
                    .all(|name| source.labels.get(name) == target.labels.get(name));
                if equal && !by.contains(&source.fingerprint) {
                    by.push(source.fingerprint.clone());
                }
            }
        }
        by
    }

    /// Suppression status of an alert.
    pub fn status(&self, alert: &Alert, now: i64) -> AlertStatus {
        let silenced_by = self.silenced_by(&alert.labels, now);
        let inhibited_by = self.inhibited_by(alert);
        AlertStatus {
            state: if silenced_by.is_empty() && inhibited_by.is_empty() {
                AlertDeliveryState::Active
            } else {
                AlertDeliveryState::Suppressed
            },
            silenced_by,
            inhibited_by,
        }
    }

    /// Firing alerts with their status, by SLO then severity.
    pub fn alerts(&self, now: i64) -> Vec<AlertView> {
        let mut views: Vec<AlertView> = self
            .state
            .alerts
            .values()
            .filter(|a| a.is_firing())
            .map(|alert| {
                let mut receivers: Vec<String> =
                    Self::matching_routes(&self.config.route, &alert.labels)
                        .into_iter()
                        .map(|(route, _)| route.receiver.clone())
                        .collect();
                for target in &alert.targets {
                    if let Some(receiver) = receiver_for_target(&self.config, target) {
                        receivers.push(receiver.name);
                    }
                }
                receivers.dedup();
                AlertView {
                    fingerprint: alert.fingerprint.clone(),
                    labels: alert.labels.clone(),
                    annotations: alert.annotations.clone(),
                    starts_at: rfc3339(alert.starts_at),
                    updated_at: rfc3339(alert.updated_at),
                    receivers,
                    status: self.status(alert, now),
                    acknowledgement: alert.acknowledgement.clone(),
                }
            })
            .collect();
        views.sort_by(|a, b| {
            (a.labels.get("slo"), a.labels.get("severity"))
                .cmp(&(b.labels.get("slo"), b.labels.get("severity")))
        });
        views
    }

    /// Acknowledges a firing alert.
    pub fn acknowledge(
        &mut self,
        fp: &str,
        who: &str,
        comment: &str,
        now: i64,
    ) -> Result<AlertView, String> {
        let alert = self
            .state
            .alerts
            .get_mut(fp)
            .filter(|a| a.is_firing())
            .ok_or_else(|| format!("no firing alert with fingerprint `{fp}`"))?;
        if who.trim().is_empty() {
            return Err("`who` must not be empty".into());
        }
        alert.acknowledgement = Some(Acknowledgement {
            who: who.to_owned(),
            comment: comment.to_owned(),
            at: rfc3339(now),
        });
        self.alerts(now)
            .into_iter()
            .find(|a| a.fingerprint == fp)
            .ok_or_else(|| format!("no firing alert with fingerprint `{fp}`"))
    }

    /// Adds a silence and returns its id.
    pub fn add_silence(
        &mut self,
        silence: PostableSilence,
        id: String,
        now: i64,
    ) -> Result<String, String> {
        if silence.matchers.is_empty() {
            return Err("a silence needs at least one matcher".into());
        }
        let matchers: Vec<Matcher> = silence
            .matchers
            .iter()
            .map(Matcher::from_silence)
            .collect::<Result<_, _>>()?;
        if all_match(&matchers, &Labels::new()) {
            return Err(
                "a silence must not match every alert (all matchers match empty labels)".into(),
            );
        }
        if silence.created_by.trim().is_empty() {
            return Err("`createdBy` must not be empty".into());
        }
        let parse = |name: &str, text: &str| {
            chrono::DateTime::parse_from_rfc3339(text)
                .map(|t| t.timestamp())
                .map_err(|_| format!("invalid `{name}` `{text}`: use RFC 3339"))
        };
        let starts_at = match &silence.starts_at {
            Some(text) => parse("startsAt", text)?.max(now),
            None => now,
        };
        let ends_at = parse("endsAt", &silence.ends_at)?;
        if ends_at <= starts_at {
            return Err("`endsAt` must be after `startsAt` and in the future".into());
        }
        self.state.silences.insert(
            id.clone(),
            StoredSilence {
                silence,
                id: id.clone(),
                starts_at,
                ends_at,
                updated_at: now,
            },
        );
        Ok(id)
    }

    /// Expires a silence now.
    pub fn expire_silence(&mut self, id: &str, now: i64) -> Result<(), String> {
        let silence = self
            .state
            .silences
            .get_mut(id)
            .ok_or_else(|| format!("no silence with id `{id}`"))?;
        if silence.ends_at <= now {
            return Err(format!("silence `{id}` is already expired"));
        }
        silence.ends_at = now;
        silence.starts_at = silence.starts_at.min(now);
        silence.updated_at = now;
        Ok(())
    }

    fn expire_silences(&mut self, now: i64) {
        self.state
            .silences
            .retain(|_, s| s.ends_at + SILENCE_RETENTION_SECS > now);
    }

    /// Every silence, newest first.
    pub fn silences(&self, now: i64) -> Vec<Silence> {
        let mut silences: Vec<&StoredSilence> = self.state.silences.values().collect();
        silences.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id)));
        silences
            .into_iter()
            .map(|s| Silence {
                id: s.id.clone(),
                matchers: s.silence.matchers.clone(),
                starts_at: rfc3339(s.starts_at),
                ends_at: rfc3339(s.ends_at),
                created_by: s.silence.created_by.clone(),
                comment: s.silence.comment.clone(),
                updated_at: rfc3339(s.updated_at),
                status: SilenceStatus {
                    state: if now < s.starts_at {
                        SilenceState::Pending
                    } else if now < s.ends_at {
                        SilenceState::Active
                    } else {
                        SilenceState::Expired
                    },
                },
            })
            .collect()
    }

    /// The delivery history, newest first.
    pub fn notifications(&self) -> Vec<NotificationRecord> {
        self.state.notifications.iter().rev().cloned().collect()
    }
}

fn collect_routes<'a>(
    route: &'a Route,
    key: String,
    labels: &Labels,
    out: &mut Vec<(&'a Route, String)>,
) -> bool {
    if !all_match(&route.matchers, labels) {
        return false;
    }
    let mut child_matched = false;
    for child in &route.routes {
        let matchers: Vec<String> = child.matchers.iter().map(ToString::to_string).collect();
        let child_key = format!("{key}/{{{}}}", matchers.join(","));
        if collect_routes(child, child_key, labels, out) {
            child_matched = true;
            if !child.continue_matching {
                break;
            }
        }
    }
    if !child_matched {
        out.push((route, key));
    }
    true
}

/// Alertmanager's `DedupStage.needsUpdate`.
fn needs_update(
    entry: Option<&NflogEntry>,
    firing: &BTreeSet<String>,
    resolved: &BTreeSet<String>,
    send_resolved: bool,
    repeat_interval: i64,
    now: i64,
) -> bool {
    let Some(entry) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&entry.firing) {
        return true;
    }
    if firing.is_empty() {
        return !entry.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&entry.resolved) {
        return true;
    }
    entry.at + repeat_interval <= now
}

#[cfg(test)]
mod tests;
