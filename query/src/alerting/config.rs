//! The `[alerting]` table of `lookout.toml` (route tree, receivers, inhibition rules, SMTP
//! settings) and its resolution into typed settings. Secrets come from the environment or
//! files and are wrapped in [`Secret`], whose `Debug` prints `***`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::matcher::Matcher;
use crate::slo::duration::parse_window_secs;

/// A value that must not appear in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `[alerting]` as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingFileConfig {
    /// Base URL of this daemon's web UI, for links in notifications.
    pub external_url: Option<String>,
    /// Allow webhook targets on link-local and cloud-metadata addresses (default false).
    pub allow_link_local_webhooks: Option<bool>,
    /// Entries kept in the notification log (default 1000).
    pub notification_log_size: Option<usize>,
    /// Attempts per notification before it is logged as failed (default 5).
    pub max_attempts: Option<u32>,
    /// Default SMTP settings of email receivers.
    pub smtp: Option<SmtpFileConfig>,
    /// The route tree.
    pub route: Option<RouteFileConfig>,
    /// Receivers by name.
    #[serde(default)]
    pub receivers: Vec<ReceiverFileConfig>,
    /// Inhibition rules; when absent, a page inhibits the ticket of the same SLO.
    pub inhibit_rules: Option<Vec<InhibitRuleFileConfig>>,
}

/// `[alerting.smtp]` or the SMTP part of an email receiver.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpFileConfig {
    /// Server host name.
    pub host: Option<String>,
    /// Server port (default 25 for none, 587 for starttls, 465 for tls).
    pub port: Option<u16>,
    /// `none`, `starttls` or `tls` (default starttls).
    pub tls: Option<String>,
    /// PEM file of certificate authorities trusted in addition to the built-in web roots
    /// (a relay with a private CA).
    pub ca_file: Option<PathBuf>,
    /// Sender address.
    pub from: Option<String>,
    /// Login name.
    pub username: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password.
    pub password_file: Option<PathBuf>,
    /// Timeout of one delivery attempt in seconds (default 10).
    pub timeout_secs: Option<u64>,
}

/// A node of the route tree.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFileConfig {
    /// Receiver name (inherited when absent).
    pub receiver: Option<String>,
    /// Label matchers, e.g. `severity="page"`.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Labels grouping alerts into one notification; `["..."]` means every label.
    pub group_by: Option<Vec<String>>,
    /// Wait before the first notification of a new group (default 30s).
    pub group_wait: Option<String>,
    /// Wait before notifying changes of a group (default 5m).
    pub group_interval: Option<String>,
    /// Wait before re-sending an unchanged group (default 4h).
    pub repeat_interval: Option<String>,
    /// Keep matching siblings after this route matched.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Child routes.
    #[serde(default)]
    pub routes: Vec<RouteFileConfig>,
}

/// A receiver.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverFileConfig {
    /// Unique name.
    pub name: String,
    /// Webhooks.
    #[serde(default)]
    pub webhook_configs: Vec<WebhookFileConfig>,
    /// Emails.
    #[serde(default)]
    pub email_configs: Vec<EmailFileConfig>,
    /// Slack-compatible incoming webhooks.
    #[serde(default)]
    pub slack_configs: Vec<SlackFileConfig>,
}

/// A webhook.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFileConfig {
    /// Target URL.
    pub url: Option<String>,
    /// File holding the URL (when it carries a token).
    pub url_file: Option<PathBuf>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Send resolved notifications (default true).
    pub send_resolved: Option<bool>,
    /// At most this many alerts per payload; 0 = all.
    #[serde(default)]
    pub max_alerts: usize,
    /// Timeout of one attempt in seconds (default 10).
    pub timeout_secs: Option<u64>,
}

/// An email target.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailFileConfig {
    /// Recipients.
    pub to: Vec<String>,
    /// Send resolved notifications (default false, as in Alertmanager).
    pub send_resolved: Option<bool>,
    /// SMTP settings overriding `[alerting.smtp]`.
    #[serde(flatten)]
    pub smtp: SmtpFileConfig,
}

/// A Slack-compatible incoming webhook.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackFileConfig {
    /// Incoming webhook URL.
    pub url: Option<String>,
    /// File holding the URL.
    pub url_file: Option<PathBuf>,
    /// Channel override.
    pub channel: Option<String>,
    /// Send resolved notifications (default false, as in Alertmanager).
    pub send_resolved: Option<bool>,
    /// Timeout of one attempt in seconds (default 10).
    pub timeout_secs: Option<u64>,
}

/// An inhibition rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleFileConfig {
    /// Matchers of the inhibiting (firing) alert.
    pub source_matchers: Vec<String>,
    /// Matchers of the muted alert.
    pub target_matchers: Vec<String>,
    /// Labels both must share.
    #[serde(default)]
    pub equal: Vec<String>,
}

/// Resolved alerting settings.
#[derive(Debug, Clone)]
pub struct AlertingConfig {
    /// Base URL for links (no trailing slash).
    pub external_url: String,
    /// Where state is persisted; `None` keeps it in memory.
    pub state_dir: Option<PathBuf>,
    /// Allow link-local and metadata webhook targets.
    pub allow_link_local_webhooks: bool,
    /// Notification log bound.
    pub notification_log_size: usize,
    /// Attempts per notification.
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// The route tree.
    pub route: Route,
    /// Receivers by name.
    pub receivers: BTreeMap<String, Receiver>,
    /// Inhibition rules.
    pub inhibit_rules: Vec<InhibitRule>,
    /// Default SMTP settings (for OpenSLO email targets).
    pub smtp: Option<SmtpSettings>,
}

/// A resolved route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Matchers.
    pub matchers: Vec<Matcher>,
    /// Receiver.
    pub receiver: String,
    /// Grouping labels.
    pub group_by: Vec<String>,
    /// `group_by: ["..."]`: every alert is its own group.
    pub group_by_all: bool,
    /// First notification delay.
    pub group_wait: Duration,
    /// Change notification delay.
    pub group_interval: Duration,
    /// Re-send delay.
    pub repeat_interval: Duration,
    /// Keep matching siblings.
    pub continue_matching: bool,
    /// Children.
    pub routes: Vec<Route>,
}

impl Route {
    /// The default root route: one group per SLO and severity, Alertmanager's timers.
    pub fn root(receiver: &str) -> Self {
        Self {
            matchers: Vec::new(),
            receiver: receiver.to_owned(),
            group_by: vec!["slo".into(), "severity".into()],
            group_by_all: false,
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            continue_matching: false,
            routes: Vec::new(),
        }
    }
}

/// A resolved receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    /// Name.
    pub name: String,
    /// Its integrations.
    pub integrations: Vec<Integration>,
}

/// One integration of a receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    /// `webhook/0`, `email/1`...
    pub key: String,
    /// Send resolved notifications.
    pub send_resolved: bool,
    /// What and where.
    pub kind: IntegrationKind,
}

/// Integration kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum IntegrationKind {
    /// Alertmanager v4 webhook with the `slo` object.
    Webhook {
        /// Target.
        url: Secret,
        /// Extra headers.
        headers: BTreeMap<String, Secret>,
        /// 0 = all.
        max_alerts: usize,
        /// Per attempt.
        timeout: Duration,
    },
    /// Email.
    Email {
        /// Server.
        smtp: SmtpSettings,
        /// Recipients.
        to: Vec<String>,
    },
    /// Slack-compatible incoming webhook.
    Slack {
        /// Target.
        url: Secret,
        /// Channel override.
        channel: Option<String>,
        /// Per attempt.
        timeout: Duration,
    },
}

/// How mail leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (tests, local relays).
    None,
    /// STARTTLS, required.
    Starttls,
    /// Implicit TLS.
    Tls,
}

/// Resolved SMTP settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SmtpSettings {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS mode.
    pub tls: SmtpTls,
    /// Extra trusted certificate authorities (PEM), read at resolve time.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// Sender.
    pub from: String,
    /// Login, when both are set.
    pub credentials: Option<(String, Secret)>,
    /// Per attempt.
    pub timeout: Duration,
}

/// A resolved inhibition rule.
#[derive(Debug, Clone, PartialEq)]
pub struct InhibitRule {
    /// Source matchers.
    pub source: Vec<Matcher>,
    /// Target matchers.
    pub target: Vec<Matcher>,
    /// Shared labels.
    pub equal: Vec<String>,
}

impl InhibitRule {
    /// A firing page inhibits the ticket of the same SLO.
    pub fn page_inhibits_ticket() -> Self {
        Self {
            source: vec![Matcher::parse("severity=page").expect("valid matcher")],
            target: vec![Matcher::parse("severity=ticket").expect("valid matcher")],
            equal: vec!["slo".into()],
        }
    }
}

/// Name of the receiver used when the file names none: it has no integrations.
pub const DEFAULT_RECEIVER: &str = "default";

/// Looks up environment variables (the root passes `std::env::var`).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl AlertingFileConfig {
    /// Resolves into typed settings. `external_url` defaults to `default_url`.
    pub fn resolve(
        &self,
        default_url: &str,
        state_dir: Option<PathBuf>,
        env: EnvLookup<'_>,
    ) -> Result<AlertingConfig, String> {
        let smtp_defaults = self.smtp.clone().unwrap_or_default();
        let smtp = if smtp_defaults.host.is_some() {
            Some(resolve_smtp(
                &SmtpFileConfig::default(),
                &smtp_defaults,
                env,
            )?)
        } else {
            None
        };
        let mut receivers = BTreeMap::new();
        for receiver in &self.receivers {
            let resolved = resolve_receiver(receiver, &smtp_defaults, env)
                .map_err(|error| format!("receiver `{}`: {error}", receiver.name))?;
            if receivers.insert(receiver.name.clone(), resolved).is_some() {
                return Err(format!("receiver `{}` is defined twice", receiver.name));
            }
        }
        let route = match &self.route {
            Some(route) => resolve_route(route, &Route::root(DEFAULT_RECEIVER), true)?,
            None => {
                let receiver = receivers
                    .keys()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| DEFAULT_RECEIVER.to_owned());
                Route::root(&receiver)
            }
        };
        receivers
            .entry(DEFAULT_RECEIVER.to_owned())
            .or_insert_with(|| Receiver {
                name: DEFAULT_RECEIVER.to_owned(),
                integrations: Vec::new(),
            });
        check_receivers(&route, &receivers)?;
        let inhibit_rules = match &self.inhibit_rules {
            None => vec![InhibitRule::page_inhibits_ticket()],
            Some(rules) => rules
                .iter()
                .map(|rule| {
                    Ok(InhibitRule {
                        source: parse_matchers(&rule.source_matchers)?,
                        target: parse_matchers(&rule.target_matchers)?,
                        equal: rule.equal.clone(),
                    })
                })
                .collect::<Result<_, String>>()?,
        };
        Ok(AlertingConfig {
            external_url: self
                .external_url
                .clone()
                .unwrap_or_else(|| default_url.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            state_dir,
            allow_link_local_webhooks: self.allow_link_local_webhooks.unwrap_or(false),
            notification_log_size: self.notification_log_size.unwrap_or(1000).max(1),
            max_attempts: self.max_attempts.unwrap_or(5).max(1),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            route,
            receivers,
            inhibit_rules,
            smtp,
        })
    }
}

fn check_receivers(route: &Route, receivers: &BTreeMap<String, Receiver>) -> Result<(), String> {
    if !receivers.contains_key(&route.receiver) {
        return Err(format!(
            "route refers to the unknown receiver `{}`",
            route.receiver
        ));
    }
    route
        .routes
        .iter()
        .try_for_each(|child| check_receivers(child, receivers))
}

fn parse_matchers(texts: &[String]) -> Result<Vec<Matcher>, String> {
    texts.iter().map(|text| Matcher::parse(text)).collect()
}

fn duration(text: Option<&String>, inherited: Duration, what: &str) -> Result<Duration, String> {
    match text {
        None => Ok(inherited),
        Some(text) => parse_window_secs(text)
            .map(Duration::from_secs)
            .map_err(|error| format!("invalid {what} `{text}`: {error}")),
    }
}

fn resolve_route(file: &RouteFileConfig, parent: &Route, root: bool) -> Result<Route, String> {
    if root && !file.matchers.is_empty() {
        return Err("the root route must not have matchers".into());
    }
    let (group_by, group_by_all) = match &file.group_by {
        None => (parent.group_by.clone(), parent.group_by_all),
        Some(labels) if labels.iter().any(|l| l == "...") => (Vec::new(), true),
        Some(labels) => (labels.clone(), false),
    };
    let mut route = Route {
        matchers: parse_matchers(&file.matchers)?,
        receiver: file
            .receiver
            .clone()
            .unwrap_or_else(|| parent.receiver.clone()),
        group_by,
        group_by_all,
        group_wait: duration(file.group_wait.as_ref(), parent.group_wait, "group_wait")?,
        group_interval: duration(
            file.group_interval.as_ref(),
            parent.group_interval,
            "group_interval",
        )?,
        repeat_interval: duration(
            file.repeat_interval.as_ref(),
            parent.repeat_interval,
            "repeat_interval",
        )?,
        continue_matching: file.continue_matching,
        routes: Vec::new(),
    };
    if route.group_interval.is_zero() || route.repeat_interval.is_zero() {
        return Err("group_interval and repeat_interval must be positive".into());
    }
    let children = file
        .routes
        .iter()
        .map(|child| resolve_route(child, &route, false))
        .collect::<Result<Vec<_>, _>>()?;
    route.routes = children;
    Ok(route)
}

fn read_secret_file(path: &PathBuf) -> Result<Secret, String> {
    std::fs::read_to_string(path)
        .map(|text| Secret::new(text.trim()))
        .map_err(|error| format!("failed to read `{}`: {error}", path.display()))
}

fn url_secret(url: &Option<String>, url_file: &Option<PathBuf>) -> Result<Secret, String> {
    let url = match (url, url_file) {
        (Some(url), None) => Secret::new(url.clone()),
        (None, Some(path)) => read_secret_file(path)?,
        _ => return Err("set exactly one of `url` and `url_file`".into()),
    };
    url::Url::parse(url.expose())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or("the URL must be an absolute http or https URL")?;
    Ok(url)
}

fn timeout(secs: Option<u64>) -> Duration {
    Duration::from_secs(secs.unwrap_or(10).max(1))
}

/// Reads a PEM bundle of certificate authorities, refusing a file that holds none.
fn read_ca_file(path: &Path) -> Result<Vec<u8>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path)
        .map_err(|error| format!("failed to read ca_file `{}`: {error}", path.display()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("invalid PEM in ca_file `{}`: {error}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!("ca_file `{}` holds no certificate", path.display()));
    }
    Ok(pem)
}

/// Resolves an email receiver's SMTP settings over the defaults.
pub fn resolve_smtp(
    own: &SmtpFileConfig,
    defaults: &SmtpFileConfig,
    env: EnvLookup<'_>,
) -> Result<SmtpSettings, String> {
    let host = own
        .host
        .clone()
        .or_else(|| defaults.host.clone())
        .ok_or("no SMTP host: set `host` here or in [alerting.smtp]")?;
    let tls = match own
        .tls
        .as_deref()
        .or(defaults.tls.as_deref())
        .unwrap_or("starttls")
    {
        "none" => SmtpTls::None,
        "starttls" => SmtpTls::Starttls,
        "tls" => SmtpTls::Tls,
        other => return Err(format!("invalid tls `{other}`: use none, starttls or tls")),
    };
    let extra_roots_pem = match own.ca_file.as_ref().or(defaults.ca_file.as_ref()) {
        Some(path) => Some(read_ca_file(path)?),
        None => None,
    };
    let port = own.port.or(defaults.port).unwrap_or(match tls {
        SmtpTls::None => 25,
        SmtpTls::Starttls => 587,
        SmtpTls::Tls => 465,
    });
    let from = own
        .from
        .clone()
        .or_else(|| defaults.from.clone())
        .ok_or("no sender: set `from` here or in [alerting.smtp]")?;
    let username = own.username.clone().or_else(|| defaults.username.clone());
    let (password_env, password_file) = if own.password_env.is_some() || own.password_file.is_some()
    {
        (own.password_env.clone(), own.password_file.clone())
    } else {
        (
            defaults.password_env.clone(),
            defaults.password_file.clone(),
        )
    };
    let password = match (password_env, password_file) {
        (Some(_), Some(_)) => {
            return Err("set at most one of password_env and password_file".into());
        }
        (Some(name), None) => {
            Some(Secret::new(env(&name).ok_or_else(|| {
                format!("environment variable `{name}` is not set")
            })?))
        }
        (None, Some(path)) => Some(read_secret_file(&path)?),
        (None, None) => None,
    };
    let credentials = match (username, password) {
        (Some(user), Some(password)) => Some((user, password)),
        (None, None) => None,
        _ => return Err("set both a username and a password, or neither".into()),
    };
    Ok(SmtpSettings {
        host,
        port,
        tls,
        extra_roots_pem,
        from,
        credentials,
        timeout: timeout(own.timeout_secs.or(defaults.timeout_secs)),
    })
}

fn resolve_receiver(
    file: &ReceiverFileConfig,
    smtp_defaults: &SmtpFileConfig,
    env: EnvLookup<'_>,
) -> Result<Receiver, String> {
    if file.name.is_empty() {
        return Err("a receiver needs a name".into());
    }
    let mut integrations = Vec::new();
    for (index, webhook) in file.webhook_configs.iter().enumerate() {
        integrations.push(Integration {
            key: format!("webhook/{index}"),
            send_resolved: webhook.send_resolved.unwrap_or(true),
            kind: IntegrationKind::Webhook {
                url: url_secret(&webhook.url, &webhook.url_file)?,
                headers: webhook
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), Secret::new(v.clone())))
                    .collect(),
                max_alerts: webhook.max_alerts,
                timeout: timeout(webhook.timeout_secs),
            },
        });
    }
    for (index, email) in file.email_configs.iter().enumerate() {
        if email.to.is_empty() {
            return Err("an email config needs at least one `to` address".into());
        }
        integrations.push(Integration {
            key: format!("email/{index}"),
            send_resolved: email.send_resolved.unwrap_or(false),
            kind: IntegrationKind::Email {
                smtp: resolve_smtp(&email.smtp, smtp_defaults, env)?,
                to: email.to.clone(),
            },
        });
    }
    for (index, slack) in file.slack_configs.iter().enumerate() {
        integrations.push(Integration {
            key: format!("slack/{index}"),
            send_resolved: slack.send_resolved.unwrap_or(false),
            kind: IntegrationKind::Slack {
                url: url_secret(&slack.url, &slack.url_file)?,
                channel: slack.channel.clone(),
                timeout: timeout(slack.timeout_secs),
            },
        });
    }
    Ok(Receiver {
        name: file.name.clone(),
        integrations,
    })
}

/// The receiver an OpenSLO `AlertNotificationTarget` stands for: a receiver of the file by
/// name, an implicit email receiver for an address, or an implicit webhook for a URL.
pub fn receiver_for_target(config: &AlertingConfig, target: &str) -> Option<Receiver> {
    if let Some(receiver) = config.receivers.get(target) {
        return Some(receiver.clone());
    }
    let name = format!("openslo:{target}");
    if target.starts_with("http://") || target.starts_with("https://") {
        return Some(Receiver {
            name,
            integrations: vec![Integration {
                key: "webhook/0".into(),
                send_resolved: true,
                kind: IntegrationKind::Webhook {
                    url: Secret::new(target),
                    headers: BTreeMap::new(),
                    max_alerts: 0,
                    timeout: timeout(None),
                },
            }],
        });
    }
    let address = target.strip_prefix("mailto:").unwrap_or(target);
    if address.contains('@') {
        let smtp = config.smtp.clone()?;
        return Some(Receiver {
            name,
            integrations: vec![Integration {
                key: "email/0".into(),
                send_resolved: true,
                kind: IntegrationKind::Email {
                    smtp,
                    to: vec![address.to_owned()],
                },
            }],
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn resolve(text: &str) -> Result<AlertingConfig, String> {
        let file: AlertingFileConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        file.resolve("http://127.0.0.1:8700", None, &no_env)
    }

    #[test]
    fn defaults_follow_alertmanager() {
        let config = resolve("").unwrap();
        assert_eq!(config.route.group_wait, Duration::from_secs(30));
        assert_eq!(config.route.group_interval, Duration::from_secs(300));
        assert_eq!(config.route.repeat_interval, Duration::from_secs(14_400));
        assert_eq!(
            config.inhibit_rules,
            vec![InhibitRule::page_inhibits_ticket()]
        );
        assert_eq!(config.route.receiver, DEFAULT_RECEIVER);
    }

    #[test]
    fn children_inherit_and_override() {
        let config = resolve(
            r#"
            [route]
            receiver = "a"
            group_wait = "10s"
            [[route.routes]]
            matchers = ['severity="ticket"']
            receiver = "b"
            repeat_interval = "1d"
            [[receivers]]
            name = "a"
            [[receivers]]
            name = "b"
            "#,
        )
        .unwrap();
        let child = &config.route.routes[0];
        assert_eq!(child.group_wait, Duration::from_secs(10));
        assert_eq!(child.repeat_interval, Duration::from_secs(86_400));
        assert_eq!(child.receiver, "b");
    }

    #[test]
    fn mistakes_are_refused() {
        assert!(resolve("[route]\nreceiver = \"nobody\"\n").is_err());
        assert!(resolve("[[receivers]]\nname = \"a\"\n[[receivers.webhook_configs]]\n").is_err());
        assert!(
            resolve("[[receivers]]\nname = \"a\"\n[[receivers.email_configs]]\nto = [\"x@y\"]\n")
                .is_err()
        );
        assert!(resolve("[route]\ngroup_wait = \"soon\"\n").is_err());
        assert!(resolve("[route]\nnope = 1\n").is_err());
    }

    #[test]
    fn passwords_come_from_the_environment_and_stay_hidden() {
        let file: AlertingFileConfig = toml::from_str(
            r#"
            [smtp]
            host = "mail.example.com"
            from = "lookout@example.com"
            username = "lookout"
            password_env = "SMTP_PASSWORD"
            [[receivers]]
            name = "mail"
            [[receivers.email_configs]]
            to = ["oncall@example.com"]
            "#,
        )
        .unwrap();
        let env = |name: &str| (name == "SMTP_PASSWORD").then(|| "hunter2".to_owned());
        let config = file.resolve("http://x", None, &env).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("***"));
        let IntegrationKind::Email { smtp, .. } = &config.receivers["mail"].integrations[0].kind
        else {
            panic!("expected an email integration");
        };
        assert_eq!(smtp.port, 587);
        assert_eq!(smtp.credentials.as_ref().unwrap().1.expose(), "hunter2");
    }
}
