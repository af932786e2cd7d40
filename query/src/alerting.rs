//! Alerting: SLO burn-rate alerts delivered by webhook, email and Slack-compatible hooks, with
//! Alertmanager's routing, grouping, silencing and inhibition, and the evidence of the burn.
//!
//! [`Alerting`] owns the state ([`dispatch::Dispatcher`], pure over explicit times), persists
//! it in the data directory after every change (write, fsync, rename), reads alert verdicts
//! from the [`SloEngine`], and hands notifications to one delivery task per integration so a
//! failing receiver never delays another.

pub mod alert;
pub mod api;
pub mod config;
pub mod deliver;
pub mod dispatch;
pub mod matcher;
pub mod render;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lookout_model::alerting::{AlertView, NotificationRecord, PostableSilence, Silence};
use lookout_model::slo::{BadEventsResponse, SloEvaluation, SloId, SloSpec};
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

pub use config::{AlertingConfig, AlertingFileConfig, Secret};
pub use dispatch::{Dispatcher, Notification, Persisted};

use crate::slo::{Clock, SloEngine};

/// Name of the state file inside the alerting state directory.
pub const STATE_FILE: &str = "alerting-state.json";

/// Notifications waiting per integration before new ones are logged as dropped.
const QUEUE_NOTIFICATIONS: usize = 256;

/// Bad-event groups fetched as evidence for a firing alert.
const EVIDENCE_GROUPS: usize = 5;

/// Errors of the alerting subsystem.
#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    /// The state file could not be read or written.
    #[error("alerting state `{path}`: {message}")]
    State {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// The alerting subsystem. Cheap to clone.
#[derive(Clone)]
pub struct Alerting {
    inner: Arc<Inner>,
}

struct Inner {
    dispatcher: Mutex<Dispatcher>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    queues: Mutex<HashMap<String, mpsc::Sender<Notification>>>,
    /// Generation of the last snapshot taken and of the last one written.
    generations: Mutex<(u64, u64)>,
    write_lock: Mutex<()>,
    metrics: Metrics,
}

/// Bounded labels only: integration kind (`webhook`, `email`, `slack`) and outcome.
#[derive(Clone, Default)]
struct Metrics {
    notifications: Family<Vec<(String, String)>, Counter>,
    firing: Gauge,
}

impl Alerting {
    /// Restores the state from `config.state_dir` (if any) and starts with it.
    pub fn open(config: AlertingConfig, clock: Arc<dyn Clock>) -> Result<Self, AlertingError> {
        let persisted = match &config.state_dir {
            Some(dir) => load_state(&dir.join(STATE_FILE))?,
            None => Persisted::default(),
        };
        let client = deliver::http_client().map_err(|message| AlertingError::State {
            path: PathBuf::new(),
            message,
        })?;
        let now = clock.now_unix_secs();
        Ok(Self {
            inner: Arc::new(Inner {
                dispatcher: Mutex::new(Dispatcher::new(config, persisted, now)),
                clock,
                client,
                queues: Mutex::new(HashMap::new()),
                generations: Mutex::new((0, 0)),
                write_lock: Mutex::new(()),
                metrics: Metrics::default(),
            }),
        })
    }

    /// Registers `lookout_alerting_notifications_total{integration, outcome}` and
    /// `lookout_alerting_firing_alerts`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "lookout_alerting_notifications",
            "Notifications delivered or given up, by integration kind and outcome",
            self.inner.metrics.notifications.clone(),
        );
        registry.register(
            "lookout_alerting_firing_alerts",
            "Alerts firing (active or suppressed)",
            self.inner.metrics.firing.clone(),
        );
    }

    fn count(&self, notification: &Notification, outcome: &str) {
        let kind = notification
            .integration
            .key
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        self.inner
            .metrics
            .notifications
            .get_or_create(&vec![
                ("integration".to_owned(), kind),
                ("outcome".to_owned(), outcome.to_owned()),
            ])
            .inc();
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_unix_secs()
    }

    /// Applies one SLO evaluation (with the evidence of its burn, if fetched).
    pub async fn observe(
        &self,
        spec: &SloSpec,
        evaluation: &SloEvaluation,
        evidence: Option<&BadEventsResponse>,
    ) {
        let now = self.now();
        let changed = {
            let mut dispatcher = self.inner.dispatcher.lock();
            let external_url = dispatcher.config().external_url.clone();
            let mut changed = false;
            for update in alert::updates_from_evaluation(spec, evaluation, evidence, &external_url)
            {
                changed |= dispatcher.update(update, now);
            }
            changed
        };
        if changed {
            self.save().await;
        }
    }

    /// Flushes due groups and queues their notifications; returns how many were queued.
    pub async fn tick(&self) -> usize {
        let now = self.now();
        let notifications = {
            let mut dispatcher = self.inner.dispatcher.lock();
            let firing = dispatcher
                .persisted()
                .alerts
                .values()
                .filter(|a| a.is_firing())
                .count();
            self.inner.metrics.firing.set(firing as i64);
            dispatcher.tick(now)
        };
        let count = notifications.len();
        for notification in notifications {
            self.enqueue(notification);
        }
        self.save().await;
        count
    }

    fn enqueue(&self, notification: Notification) {
        let key = format!("{}/{}", notification.receiver, notification.integration.key);
        let sender = {
            let mut queues = self.inner.queues.lock();
            queues
                .entry(key)
                .or_insert_with(|| {
                    let (sender, receiver) = mpsc::channel(QUEUE_NOTIFICATIONS);
                    tokio::spawn(self.clone().deliver_loop(receiver));
                    sender
                })
                .clone()
        };
        if let Err(error) = sender.try_send(notification) {
            let notification = match error {
                mpsc::error::TrySendError::Full(n) | mpsc::error::TrySendError::Closed(n) => n,
            };
            tracing::warn!(receiver = %notification.receiver, "notification queue full, dropping");
            self.count(&notification, "dropped");
            let to = deliver::destination(&notification.integration.kind);
            self.inner.dispatcher.lock().delivered(
                &notification,
                to,
                Err("delivery queue full".into()),
                0,
                self.now(),
            );
        }
    }

    async fn deliver_loop(self, mut receiver: mpsc::Receiver<Notification>) {
        while let Some(notification) = receiver.recv().await {
            let (external_url, allow, max_attempts, initial, max) = {
                let dispatcher = self.inner.dispatcher.lock();
                let config = dispatcher.config();
                (
                    config.external_url.clone(),
                    config.allow_link_local_webhooks,
                    config.max_attempts,
                    config.initial_backoff,
                    config.max_backoff,
                )
            };
            let mut attempts = 0;
            let outcome = loop {
                attempts += 1;
                let result =
                    deliver::send_once(&self.inner.client, &notification, &external_url, allow)
                        .await;
                match result {
                    Ok(()) => break Ok(()),
                    Err(error) if attempts >= max_attempts || error.starts_with("refused") => {
                        break Err(error);
                    }
                    Err(error) => {
                        tracing::warn!(
                            receiver = %notification.receiver,
                            integration = %notification.integration.key,
                            attempts,
                            %error,
                            "notification failed, retrying"
                        );
                        tokio::time::sleep(deliver::backoff(initial, max, attempts)).await;
                    }
                }
            };
            match &outcome {
                Ok(()) => tracing::info!(
                    receiver = %notification.receiver,
                    integration = %notification.integration.key,
                    status = notification.status(),
                    alerts = notification.alerts.len(),
                    "notification sent"
                ),
                Err(error) => tracing::error!(
                    receiver = %notification.receiver,
                    integration = %notification.integration.key,
                    attempts,
                    %error,
                    "notification failed"
                ),
            }
            self.count(
                &notification,
                if outcome.is_ok() { "success" } else { "failed" },
            );
            let to = deliver::destination(&notification.integration.kind);
            self.inner.dispatcher.lock().delivered(
                &notification,
                to,
                outcome,
                attempts,
                self.now(),
            );
            self.save().await;
        }
    }

    /// Writes the state file (newer snapshots win; older ones are skipped).
    pub async fn save(&self) {
        let Some(dir) = self.inner.dispatcher.lock().config().state_dir.clone() else {
            return;
        };
        let (generation, bytes) = {
            let dispatcher = self.inner.dispatcher.lock();
            let mut generations = self.inner.generations.lock();
            generations.0 += 1;
            (
                generations.0,
                serde_json::to_vec(dispatcher.persisted()).unwrap_or_default(),
            )
        };
        let inner = self.inner.clone();
        let written = tokio::task::spawn_blocking(move || {
            let _guard = inner.write_lock.lock();
            if inner.generations.lock().1 > generation {
                return Ok(());
            }
            let result = write_atomically(&dir, &bytes);
            if result.is_ok() {
                inner.generations.lock().1 = generation;
            }
            result
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "failed to persist alerting state"),
            Err(error) => tracing::error!(%error, "alerting state task failed"),
        }
    }

    /// Firing alerts, active and suppressed.
    pub fn alerts(&self) -> Vec<AlertView> {
        self.inner.dispatcher.lock().alerts(self.now())
    }

    /// Acknowledges a firing alert.
    pub async fn acknowledge(
        &self,
        fingerprint: &str,
        who: &str,
        comment: &str,
    ) -> Result<AlertView, String> {
        let now = self.now();
        let view = self
            .inner
            .dispatcher
            .lock()
            .acknowledge(fingerprint, who, comment, now)?;
        self.save().await;
        Ok(view)
    }

    /// Creates a silence; returns its id.
    pub async fn add_silence(&self, silence: PostableSilence) -> Result<String, String> {
        let id = format!("{:032x}", rand::random::<u128>());
        let now = self.now();
        let id = self.inner.dispatcher.lock().add_silence(silence, id, now)?;
        self.save().await;
        Ok(id)
    }

    /// Expires a silence.
    pub async fn expire_silence(&self, id: &str) -> Result<(), String> {
        let now = self.now();
        self.inner.dispatcher.lock().expire_silence(id, now)?;
        self.save().await;
        Ok(())
    }

    /// Every silence, newest first.
    pub fn silences(&self) -> Vec<Silence> {
        self.inner.dispatcher.lock().silences(self.now())
    }

    /// The delivery history, newest first.
    pub fn notifications(&self) -> Vec<NotificationRecord> {
        self.inner.dispatcher.lock().notifications()
    }

    /// Runs until `shutdown`: follows the engine's evaluations and flushes groups.
    pub async fn run(
        self,
        engine: SloEngine,
        poll: Duration,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut interval = tokio::time::interval(poll);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen: BTreeMap<SloId, i64> = BTreeMap::new();
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = interval.tick() => {
                    self.follow(&engine, &mut seen).await;
                    self.tick().await;
                }
            }
        }
    }

    /// Applies every evaluation of the engine not seen yet.
    pub async fn follow(&self, engine: &SloEngine, seen: &mut BTreeMap<SloId, i64>) {
        let slos = engine.list().slos;
        let loaded: BTreeSet<String> = slos.iter().map(|s| s.id.to_string()).collect();
        seen.retain(|id, _| loaded.contains(id.as_str()));
        // Resolving what is missing from a list that is not loaded yet would send a
        // resolved notification, then page again, after every restart.
        let resolved = engine.rules_applied()
            && self
                .inner
                .dispatcher
                .lock()
                .resolve_missing(&loaded, self.now());
        if resolved {
            self.save().await;
        }
        for summary in slos {
            let Some(evaluation) = summary.evaluation else {
                continue;
            };
            if seen.get(&summary.id) == Some(&evaluation.evaluated_at_unix_secs) {
                continue;
            }
            seen.insert(summary.id.clone(), evaluation.evaluated_at_unix_secs);
            let Some(spec) = engine.spec(&summary.id) else {
                continue;
            };
            let evidence = if evaluation.firing.is_empty() {
                None
            } else {
                fetch_evidence(engine, &spec, &evaluation).await
            };
            self.observe(&spec, &evaluation, evidence.as_ref()).await;
        }
    }
}

async fn fetch_evidence(
    engine: &SloEngine,
    spec: &SloSpec,
    evaluation: &SloEvaluation,
) -> Option<BadEventsResponse> {
    let window = evaluation
        .pairs
        .iter()
        .filter(|p| p.active)
        .map(|p| p.long.window_secs)
        .max()
        .unwrap_or(3_600) as i64;
    let end = evaluation.evaluated_at_unix_secs;
    match crate::slo::evidence::bad_events(
        engine.reader(),
        engine.tenant(),
        spec,
        end - window,
        end,
        EVIDENCE_GROUPS,
    )
    .await
    {
        Ok(evidence) => Some(evidence),
        Err(error) => {
            tracing::warn!(slo = %spec.id, %error, "failed to fetch the evidence of a burn");
            None
        }
    }
}

fn load_state(path: &std::path::Path) -> Result<Persisted, AlertingError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| AlertingError::State {
            path: path.to_owned(),
            message: format!("corrupt state file: {error}"),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Persisted::default()),
        Err(error) => Err(AlertingError::State {
            path: path.to_owned(),
            message: error.to_string(),
        }),
    }
}

fn write_atomically(dir: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!("{STATE_FILE}.tmp"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, dir.join(STATE_FILE))?;
    // The rename is durable once the directory is.
    std::fs::File::open(dir)?.sync_all()
}
