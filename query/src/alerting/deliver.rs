//! Delivery: HTTP webhooks (Alertmanager v4 and Slack-compatible) through reqwest, email
//! through lettre, with timeouts, retries with exponential backoff, and refusal of
//! link-local and cloud-metadata webhook targets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::config::{IntegrationKind, Secret, SmtpSettings, SmtpTls};
use super::dispatch::Notification;
use super::render;

/// Host names of cloud metadata services.
const METADATA_HOSTS: [&str; 4] = [
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
];

/// Whether an address is link-local or a cloud metadata endpoint (IPv4-mapped forms too).
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let segments = v6.segments();
            // fe80::/10 link-local; fd00:ec2::254 is the EC2 metadata service over IPv6.
            (segments[0] & 0xffc0) == 0xfe80
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    // 169.254.0.0/16 holds the metadata services of AWS, GCP, Azure, OpenStack...; 100.100.100.200
    // is Alibaba Cloud's.
    ip.is_link_local() || ip == Ipv4Addr::new(100, 100, 100, 200)
}

/// Refuses URLs whose host is, or resolves to, a link-local or metadata address.
pub async fn check_target(url: &str, allow_link_local: bool) -> Result<(), String> {
    if allow_link_local {
        return Ok(());
    }
    let parsed = url::Url::parse(url).map_err(|error| format!("invalid URL: {error}"))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let host = match parsed.host() {
        Some(url::Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            if METADATA_HOSTS.contains(&domain.as_str()) {
                return Err(format!(
                    "refused webhook target `{domain}`: a cloud metadata host (set allow_link_local_webhooks to allow)"
                ));
            }
            domain
        }
        Some(url::Host::Ipv4(ip)) => {
            return refuse_ip(IpAddr::V4(ip));
        }
        Some(url::Host::Ipv6(ip)) => {
            return refuse_ip(IpAddr::V6(ip));
        }
        None => return Err("the URL has no host".into()),
    };
    let addresses = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|error| format!("failed to resolve `{host}`: {error}"))?;
    for address in addresses {
        refuse_ip(address.ip())?;
    }
    Ok(())
}

fn refuse_ip(ip: IpAddr) -> Result<(), String> {
    if is_forbidden_ip(ip) {
        Err(format!(
            "refused webhook target {ip}: link-local or cloud metadata address (set allow_link_local_webhooks to allow)"
        ))
    } else {
        Ok(())
    }
}

/// An HTTP client for webhooks: rustls with the webpki roots, no redirects (a redirect could
/// lead to a refused address).
pub fn http_client() -> Result<reqwest::Client, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| format!("failed to set up TLS: {error}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| format!("failed to build the HTTP client: {error}"))
}

/// Where a notification goes, for the log (URLs without their query or path secrets).
pub fn destination(kind: &IntegrationKind) -> String {
    let redact = |url: &Secret| {
        url::Url::parse(url.expose())
            .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default()))
            .unwrap_or_default()
    };
    match kind {
        IntegrationKind::Webhook { url, .. } => {
            // The path of a generic webhook is not a secret and tells receivers apart.
            url::Url::parse(url.expose())
                .map(|u| format!("{}://{}{}", u.scheme(), u.authority(), u.path()))
                .unwrap_or_default()
        }
        IntegrationKind::Slack { url, .. } => redact(url),
        IntegrationKind::Email { to, .. } => to.join(", "),
    }
}

/// Sends one notification once.
pub async fn send_once(
    client: &reqwest::Client,
    notification: &Notification,
    external_url: &str,
    allow_link_local: bool,
) -> Result<(), String> {
    match &notification.integration.kind {
        IntegrationKind::Webhook {
            url,
            headers,
            max_alerts,
            timeout,
        } => {
            let body = render::webhook_payload(notification, external_url, *max_alerts);
            let mut request = client.post(url.expose()).json(&body).timeout(*timeout);
            for (name, value) in headers {
                request = request.header(name.as_str(), value.expose());
            }
            post(request, url, allow_link_local).await
        }
        IntegrationKind::Slack {
            url,
            channel,
            timeout,
        } => {
            let body = render::slack_payload(notification, external_url, channel.as_deref());
            let request = client.post(url.expose()).json(&body).timeout(*timeout);
            post(request, url, allow_link_local).await
        }
        IntegrationKind::Email { smtp, to } => {
            send_email(smtp, to, notification, external_url).await
        }
    }
}

async fn post(
    request: reqwest::RequestBuilder,
    url: &Secret,
    allow_link_local: bool,
) -> Result<(), String> {
    check_target(url.expose(), allow_link_local).await?;
    let response = request.send().await.map_err(|error| {
        // reqwest errors print the URL; strip it, it may hold a token.
        format!("request failed: {}", error.without_url())
    })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("receiver answered {status}"))
    }
}

/// Builds the email of a notification.
pub fn email_message(
    smtp: &SmtpSettings,
    to: &[String],
    notification: &Notification,
    external_url: &str,
) -> Result<Message, String> {
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|error| format!("invalid sender `{}`: {error}", smtp.from))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(render::email_subject(notification))
        .message_id(None);
    for address in to {
        let mailbox: Mailbox = address
            .parse()
            .map_err(|error| format!("invalid recipient `{address}`: {error}"))?;
        builder = builder.to(mailbox);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            render::email_text(notification, external_url),
            render::email_html(notification, external_url),
        ))
        .map_err(|error| format!("failed to build the email: {error}"))
}

/// TLS for SMTP: the built-in web roots plus the configured `ca_file`, host name verified.
fn tls_parameters(smtp: &SmtpSettings) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(smtp.host.clone());
    if let Some(pem) = &smtp.extra_roots_pem {
        let roots = Certificate::from_pem(pem)
            .map_err(|error| format!("invalid ca_file certificates: {error}"))?;
        builder = builder.add_root_certificate(roots);
    }
    builder
        .build()
        .map_err(|error| format!("tls setup failed: {error}"))
}

async fn send_email(
    smtp: &SmtpSettings,
    to: &[String],
    notification: &Notification,
    external_url: &str,
) -> Result<(), String> {
    let message = email_message(smtp, to, notification, external_url)?;
    let tls = match smtp.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(tls_parameters(smtp)?),
        SmtpTls::Tls => Tls::Wrapper(tls_parameters(smtp)?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(smtp.timeout));
    if let Some((user, password)) = &smtp.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    let transport = builder.build();
    transport.send(message).await.map(|_| ()).map_err(|error| {
        format!(
            "smtp delivery to {}:{} failed: {error}",
            smtp.host, smtp.port
        )
    })
}

/// The delay before retry number `attempt` (1-based): `initial * 2^(attempt-1)`, capped.
pub fn backoff(initial: Duration, max: Duration, attempt: u32) -> Duration {
    initial
        .checked_mul(1u32 << attempt.saturating_sub(1).min(16))
        .unwrap_or(max)
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_and_metadata_addresses_are_forbidden() {
        for ip in [
            "169.254.169.254",
            "169.254.0.1",
            "100.100.100.200",
            "fe80::1",
            "febf::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_forbidden_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "8.8.8.8",
            "::1",
            "fec0::1",
            "2001:db8::1",
        ] {
            assert!(!is_forbidden_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn targets_are_checked_before_sending() {
        assert!(
            check_target("http://169.254.169.254/latest", false)
                .await
                .is_err()
        );
        assert!(check_target("http://[fe80::1]:80/x", false).await.is_err());
        assert!(
            check_target("http://metadata.google.internal/x", false)
                .await
                .is_err()
        );
        assert!(check_target("http://127.0.0.1:9/hook", false).await.is_ok());
        assert!(
            check_target("http://169.254.169.254/latest", true)
                .await
                .is_ok()
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let (one, max) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(backoff(one, max, 1), Duration::from_secs(1));
        assert_eq!(backoff(one, max, 2), Duration::from_secs(2));
        assert_eq!(backoff(one, max, 4), Duration::from_secs(8));
        assert_eq!(backoff(one, max, 30), max);
    }
}
