//! Alerting API types: alerts with their suppression status, silences, acknowledgements and
//! the notification log, as `/api/v1/alerts`, `/api/v1/silences` and `/api/v1/notifications`
//! serve them. Field names follow Alertmanager's API v2 where it has one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One label matcher of a silence, as in Alertmanager's API v2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceMatcher {
    /// Label name.
    pub name: String,
    /// Value, or a regular expression anchored at both ends when `is_regex`.
    pub value: String,
    /// Whether `value` is a regular expression.
    #[serde(default)]
    pub is_regex: bool,
    /// `true` for `=`/`=~`, `false` for `!=`/`!~`.
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

/// Body of `POST /api/v1/silences`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableSilence {
    /// Every matcher must match for an alert to be silenced.
    pub matchers: Vec<SilenceMatcher>,
    /// Start, RFC 3339 (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// End, RFC 3339.
    pub ends_at: String,
    /// Who created it.
    pub created_by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// Answer of `POST /api/v1/silences`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceCreated {
    /// The new silence's id.
    pub silence_id: String,
}

/// State of a silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SilenceState {
    /// Starts in the future.
    Pending,
    /// Silencing matching alerts now.
    Active,
    /// Ended or expired.
    Expired,
}

/// A stored silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    /// Random id.
    pub id: String,
    /// Every matcher must match.
    pub matchers: Vec<SilenceMatcher>,
    /// Start, RFC 3339.
    pub starts_at: String,
    /// End, RFC 3339 (set to the expiry time when expired early).
    pub ends_at: String,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
    /// `{"state": "active"}` etc.
    pub status: SilenceStatus,
}

/// Status object of a silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceStatus {
    /// Pending, active or expired.
    pub state: SilenceState,
}

/// Body of `POST /api/v1/alerts/{fingerprint}/ack`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostableAck {
    /// Who acknowledges.
    pub who: String,
    /// Free text.
    #[serde(default)]
    pub comment: String,
}

/// An acknowledgement of a firing alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Acknowledgement {
    /// Who acknowledged.
    pub who: String,
    /// Free text.
    pub comment: String,
    /// When, RFC 3339.
    pub at: String,
}

/// Whether an alert is delivered or muted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertDeliveryState {
    /// Firing and routed to receivers.
    Active,
    /// Firing but silenced or inhibited.
    Suppressed,
}

/// Suppression status of an alert, as in Alertmanager's API v2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    /// Active or suppressed.
    pub state: AlertDeliveryState,
    /// Ids of the silences muting the alert.
    pub silenced_by: Vec<String>,
    /// Fingerprints of the alerts inhibiting it.
    pub inhibited_by: Vec<String>,
}

/// One firing alert in `GET /api/v1/alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    /// Identity hash of the labels (16 hex digits).
    pub fingerprint: String,
    /// `alertname`, `slo`, `service`, `severity` and user labels.
    pub labels: BTreeMap<String, String>,
    /// `summary`, `description`, `runbook_url`.
    pub annotations: BTreeMap<String, String>,
    /// When it started firing, RFC 3339.
    pub starts_at: String,
    /// Last evaluation that saw it, RFC 3339.
    pub updated_at: String,
    /// Receivers its routes lead to.
    pub receivers: Vec<String>,
    /// Suppression.
    pub status: AlertStatus,
    /// Set once someone acknowledged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledgement: Option<Acknowledgement>,
}

/// Answer of `GET /api/v1/alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertList {
    /// Firing alerts, active and suppressed.
    pub alerts: Vec<AlertView>,
}

/// Answer of `GET /api/v1/silences`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceList {
    /// Every silence not yet garbage-collected, newest first.
    pub silences: Vec<Silence>,
}

/// One delivery attempt series in the notification log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationRecord {
    /// When the delivery finished, RFC 3339.
    pub at: String,
    /// Receiver name.
    pub receiver: String,
    /// `webhook`, `email` or `slack`, with its index in the receiver: `email/0`.
    pub integration: String,
    /// Where it went: URL (without query) or mail addresses.
    pub to: String,
    /// Alertmanager-style group key.
    pub group_key: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Fingerprints of the alerts sent.
    pub alerts: Vec<String>,
    /// `success` or `failed`.
    pub outcome: String,
    /// The last error when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Attempts made.
    pub attempts: u32,
}

/// Answer of `GET /api/v1/notifications`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationList {
    /// Newest first.
    pub notifications: Vec<NotificationRecord>,
}
