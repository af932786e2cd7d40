//! `lookout alerts` and `lookout silence add|list|expire`: clients of a daemon's alerting API.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use comfy_table::Table;
use lookout_model::alerting::{
    AlertDeliveryState, AlertList, PostableSilence, SilenceCreated, SilenceList, SilenceMatcher,
};
use lookout_query::alerting::matcher::{MatchOp, Matcher};

use crate::client::{ClientArgs, delete, get_json, post_json};

/// `lookout alerts`.
#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
}

/// `lookout silence ...`.
#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Silence the alerts matching every matcher, e.g. `slo=checkout` `severity=~"page|ticket"`.
    Add(SilenceAddArgs),
    /// List silences, newest first.
    List(ClientArgs),
    /// End a silence now.
    Expire {
        #[command(flatten)]
        client: ClientArgs,
        /// Silence id.
        id: String,
    },
}

/// `lookout silence add`.
#[derive(Debug, Args)]
pub struct SilenceAddArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Matchers: `name=value`, `name!=value`, `name=~regex`, `name!~regex`.
    #[arg(required = true)]
    matchers: Vec<String>,
    /// How long, e.g. 30m, 2h, 1d.
    #[arg(long, default_value = "1h")]
    duration: String,
    /// Who silences [default: $USER].
    #[arg(long)]
    created_by: Option<String>,
    /// Why.
    #[arg(long, default_value = "")]
    comment: String,
}

/// Converts a matcher as written on the command line into the API's form.
pub fn silence_matcher(text: &str) -> anyhow::Result<SilenceMatcher> {
    let matcher = Matcher::parse(text).map_err(anyhow::Error::msg)?;
    Ok(SilenceMatcher {
        name: matcher.name,
        value: matcher.value,
        is_regex: matches!(matcher.op, MatchOp::Regex | MatchOp::NotRegex),
        is_equal: matches!(matcher.op, MatchOp::Equal | MatchOp::Regex),
    })
}

/// Runs `lookout alerts`.
pub async fn alerts(args: AlertsArgs) -> anyhow::Result<()> {
    let list: AlertList = get_json(&args.client.url, "/api/v1/alerts").await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header([
        "STATE",
        "SEVERITY",
        "SLO",
        "SINCE",
        "SUPPRESSED BY",
        "ACK",
        "FINGERPRINT",
    ]);
    for alert in &list.alerts {
        let label = |name: &str| alert.labels.get(name).cloned().unwrap_or_default();
        let state = match alert.status.state {
            AlertDeliveryState::Active => "firing",
            AlertDeliveryState::Suppressed => "suppressed",
        };
        let mut by: Vec<String> = alert
            .status
            .silenced_by
            .iter()
            .map(|id| format!("silence {id}"))
            .collect();
        by.extend(
            alert
                .status
                .inhibited_by
                .iter()
                .map(|fp| format!("alert {fp}")),
        );
        table.add_row([
            state.to_owned(),
            label("severity"),
            label("slo"),
            alert.starts_at.clone(),
            by.join(", "),
            alert
                .acknowledgement
                .as_ref()
                .map(|a| a.who.clone())
                .unwrap_or_default(),
            alert.fingerprint.clone(),
        ]);
    }
    println!("{table}");
    println!("{} alert(s)", list.alerts.len());
    Ok(())
}

/// Runs `lookout silence ...`.
pub async fn silence(command: SilenceCommand) -> anyhow::Result<()> {
    match command {
        SilenceCommand::Add(args) => {
            let matchers = args
                .matchers
                .iter()
                .map(|text| silence_matcher(text))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let secs = lookout_query::slo::duration::parse_window_secs(&args.duration)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("invalid --duration `{}`", args.duration))?;
            let ends_at = chrono::Utc::now() + chrono::Duration::seconds(secs as i64);
            let created_by = match args.created_by {
                Some(who) => who,
                None => std::env::var("USER").unwrap_or_default(),
            };
            if created_by.is_empty() {
                bail!("say who silences with --created-by");
            }
            let silence = PostableSilence {
                matchers,
                starts_at: None,
                ends_at: ends_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                created_by,
                comment: args.comment,
            };
            let created: SilenceCreated =
                post_json(&args.client.url, "/api/v1/silences", &silence).await?;
            println!("{}", created.silence_id);
        }
        SilenceCommand::List(client) => {
            let list: SilenceList = get_json(&client.url, "/api/v1/silences").await?;
            let mut table = Table::new();
            table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            table.set_header(["ID", "STATE", "MATCHERS", "ENDS", "BY", "COMMENT"]);
            for silence in &list.silences {
                let matchers: Vec<String> = silence
                    .matchers
                    .iter()
                    .map(|m| {
                        let op = match (m.is_regex, m.is_equal) {
                            (false, true) => "=",
                            (false, false) => "!=",
                            (true, true) => "=~",
                            (true, false) => "!~",
                        };
                        format!("{}{op}{:?}", m.name, m.value)
                    })
                    .collect();
                table.add_row([
                    silence.id.clone(),
                    format!("{:?}", silence.status.state).to_lowercase(),
                    matchers.join(" "),
                    silence.ends_at.clone(),
                    silence.created_by.clone(),
                    silence.comment.clone(),
                ]);
            }
            println!("{table}");
        }
        SilenceCommand::Expire { client, id } => {
            delete(&client.url, &format!("/api/v1/silences/{}", id.trim())).await?;
            println!("expired {id}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_matchers_become_api_matchers() {
        let m = silence_matcher("slo=checkout").unwrap();
        assert_eq!((m.is_regex, m.is_equal), (false, true));
        let m = silence_matcher("severity!~\"page|ticket\"").unwrap();
        assert_eq!((m.is_regex, m.is_equal), (true, false));
        assert_eq!(m.value, "page|ticket");
        assert!(silence_matcher("nonsense").is_err());
    }
}
