//! The running SLO engine: holds the loaded SLOs, counts every acknowledged span and log
//! record into per-SLO minute buckets, evaluates every SLO at each step, reloads rules
//! without losing state, and answers the API (status, history, backtests, bad events).
//!
//! Exactly-once counting: when an SLO is (re)loaded, the engine pins a storage snapshot
//! with the sequence number `S` of its last append, counts the stored events with one
//! aggregate query, and applies the live appends numbered above `S`; appends arriving during
//! the backfill wait in a pending list.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use datafusion::arrow::array::{Array, Int64Array};
use lookout_model::slo::{
    AlertInterval, AlertState, Indicator, SloBacktest, SloDetail, SloEvaluation, SloId,
    SloListResponse, SloSpec, SloStep, SloSummary,
};
use lookout_model::{Signal, TenantId};
use lookout_storage::{Appended, Reader};
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc::Receiver;

use super::classify::{Classifier, IndicatorSql};
use super::metric::{self, MetricQueries, SliceCache};
use super::ring::BucketRing;
use super::rules::{Diagnostic, Level, RuleSet, load_dir};
use super::series::{BUCKET_SECS, Evaluator, Series, lookback_buckets, mask_maintenance};
use crate::QueryError;
use crate::promql::{Engine as PromqlEngine, PromqlConfig};

/// The source of "now"; tests drive it by hand.
pub trait Clock: Send + Sync {
    /// Current Unix time in seconds.
    fn now_unix_secs(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_secs(&self) -> i64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
}

/// Settings of the engine (the `[slo]` table of `lookout.toml`, resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SloEngineConfig {
    /// Folder of rule files; `None` runs without SLOs.
    pub rules_dir: Option<PathBuf>,
    /// Evaluation step in seconds (a multiple of 60).
    pub step_secs: u64,
    /// How long after a minute ends it is evaluated, so late events still count.
    pub evaluation_delay_secs: u64,
    /// Events further in the future than this are not counted.
    pub max_future_secs: u64,
    /// How often the rules folder is checked for changes.
    pub reload_interval: Duration,
}

impl Default for SloEngineConfig {
    fn default() -> Self {
        Self {
            rules_dir: None,
            step_secs: 60,
            evaluation_delay_secs: 60,
            max_future_secs: 300,
            reload_interval: Duration::from_secs(2),
        }
    }
}

/// The most steps one history or backtest request may evaluate.
pub const MAX_STEPS: i64 = 50_000;

struct Metrics {
    events: Family<Vec<(String, String)>, Counter>,
    evaluation_seconds: Histogram,
    slos: Gauge,
    rule_errors: Gauge,
}

impl Metrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            events: Family::default(),
            evaluation_seconds: Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
            slos: Gauge::default(),
            rule_errors: Gauge::default(),
        };
        registry.register(
            "lookout_slo_events",
            "SLI events offered to SLO buckets, by outcome (counted, too_old, future)",
            metrics.events.clone(),
        );
        registry.register(
            "lookout_slo_evaluation_duration_seconds",
            "Time to evaluate every SLO at one step",
            metrics.evaluation_seconds.clone(),
        );
        registry.register("lookout_slo_slos", "SLOs loaded", metrics.slos.clone());
        registry.register(
            "lookout_slo_rule_errors",
            "Errors in the last attempt to load the rules folder",
            metrics.rule_errors.clone(),
        );
        metrics
    }

    fn events(&self, outcome: &str, count: u64) {
        if count > 0 {
            self.events
                .get_or_create(&vec![("outcome".to_owned(), outcome.to_owned())])
                .inc_by(count);
        }
    }
}

/// Minute bucket -> (good, total).
type Counts = BTreeMap<i64, (u64, u64)>;

enum Phase {
    /// Waiting for the backfill numbered `id`; appends seen meanwhile, with their sequence.
    Backfilling {
        id: u64,
        pending: Vec<(u64, Counts)>,
    },
    Ready,
}

struct EventCounting {
    sql: IndicatorSql,
    classifier: Classifier,
    signal: Signal,
    ring: BucketRing,
    phase: Phase,
}

/// A metric SLI: PromQL templates, finished time slices, the last evaluation error.
struct MetricSource {
    queries: MetricQueries,
    slices: SliceCache,
    error: Option<String>,
}

/// How an SLO gets its numbers.
enum Source {
    /// Spans or log records counted into minute buckets.
    Events(EventCounting),
    /// PromQL over stored metrics, evaluated at each step.
    Metrics(MetricSource),
}

struct Runtime {
    spec: Arc<SloSpec>,
    fingerprint: String,
    counting: Result<Source, String>,
    last: Option<SloEvaluation>,
    alerts: BTreeMap<String, AlertState>,
}

#[derive(Default)]
struct State {
    slos: BTreeMap<SloId, Runtime>,
    diagnostics: Vec<Diagnostic>,
    /// Set when the last reload failed and the previous rules stay in force.
    reload_error: Option<String>,
    next_backfill: u64,
    files_signature: Vec<(PathBuf, SystemTime, u64)>,
    /// Set once a rule set has been applied (or there is no rules folder): until then an
    /// absent SLO is not yet loaded rather than deleted.
    rules_applied: bool,
}

/// The SLO engine of one tenant. Cheap to clone.
#[derive(Clone)]
pub struct SloEngine {
    inner: Arc<Inner>,
}

struct Inner {
    reader: Reader,
    promql: PromqlEngine,
    /// Set while a metric evaluation runs, so a slow one is not stacked on.
    metrics_running: std::sync::atomic::AtomicBool,
    tenant: TenantId,
    config: SloEngineConfig,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    metrics: Metrics,
}

impl SloEngine {
    /// An engine with no SLOs yet.
    pub fn new(
        reader: Reader,
        tenant: TenantId,
        config: SloEngineConfig,
        clock: Arc<dyn Clock>,
        registry: &mut Registry,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                promql: PromqlEngine::new(reader.clone(), PromqlConfig::default()),
                metrics_running: std::sync::atomic::AtomicBool::new(false),
                reader,
                tenant,
                config,
                clock,
                state: Mutex::new(State::default()),
                metrics: Metrics::register(registry),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SloEngineConfig {
        &self.inner.config
    }

    /// Reads the rules folder and applies it, unless it has errors: then the previous rules
    /// stay in force and the errors are reported by [`SloEngine::list`] and the log.
    /// Returns the diagnostics.
    pub async fn reload(&self) -> Vec<Diagnostic> {
        let Some(dir) = self.inner.config.rules_dir.clone() else {
            self.inner.state.lock().rules_applied = true;
            return Vec::new();
        };
        let signature = files_signature(&dir);
        let rules = tokio::task::spawn_blocking(move || load_dir(&dir))
            .await
            .unwrap_or_else(|error| RuleSet {
                diagnostics: vec![Diagnostic {
                    level: Level::Error,
                    location: Default::default(),
                    message: format!("rule loading failed: {error}"),
                }],
                ..RuleSet::default()
            });
        let diagnostics = rules.diagnostics.clone();
        for diagnostic in &diagnostics {
            match diagnostic.level {
                Level::Error => tracing::error!(%diagnostic, "slo rule error"),
                Level::Warning => tracing::warn!(%diagnostic, "slo rule warning"),
            }
        }
        let errors = diagnostics
            .iter()
            .filter(|d| d.level == Level::Error)
            .count();
        self.inner.metrics.rule_errors.set(errors as i64);
        if errors > 0 {
            let mut state = self.inner.state.lock();
            state.files_signature = signature;
            state.diagnostics = diagnostics.clone();
            state.reload_error = Some(format!(
                "{errors} error(s) in the rules folder; the previous rules stay in force"
            ));
            return diagnostics;
        }
        self.apply(rules.slos, diagnostics.clone(), signature);
        diagnostics
    }

    /// Replaces the SLO set with `specs` (tests and reloads). SLOs whose indicator is
    /// unchanged keep their buckets and alert state; the others are backfilled.
    /// Waits until the new SLOs are backfilled and evaluated.
    pub async fn apply_specs(&self, specs: Vec<SloSpec>) {
        for task in self.apply(specs, Vec::new(), Vec::new()) {
            let _ = task.await;
        }
    }

    /// Installs the SLOs and starts a backfill task per new SLO (ingest keeps flowing while
    /// they run: their appends wait in the pending lists).
    fn apply(
        &self,
        specs: Vec<SloSpec>,
        diagnostics: Vec<Diagnostic>,
        signature: Vec<(PathBuf, SystemTime, u64)>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let now_bucket = self.now_bucket();
        let backfills = {
            let mut state = self.inner.state.lock();
            let mut old = std::mem::take(&mut state.slos);
            let mut backfills = Vec::new();
            for spec in specs {
                let fingerprint = fingerprint(&spec);
                let id = spec.id.clone();
                let runtime = match old.remove(&id) {
                    Some(mut runtime) if runtime.fingerprint == fingerprint => {
                        runtime.spec = Arc::new(spec);
                        runtime
                    }
                    previous => {
                        let backfill_id = state.next_backfill;
                        state.next_backfill += 1;
                        let counting = new_counting(&spec, now_bucket, backfill_id);
                        if matches!(counting, Ok(Source::Events(_))) {
                            backfills.push((id.clone(), backfill_id));
                        }
                        Runtime {
                            spec: Arc::new(spec),
                            fingerprint,
                            counting,
                            last: None,
                            alerts: previous.map(|p| p.alerts).unwrap_or_default(),
                        }
                    }
                };
                state.slos.insert(id, runtime);
            }
            state.diagnostics = diagnostics;
            state.reload_error = None;
            state.files_signature = signature;
            state.rules_applied = true;
            self.inner.metrics.slos.set(state.slos.len() as i64);
            backfills
        };
        self.evaluate_all();
        let metrics = self.clone();
        std::iter::once(tokio::spawn(
            async move { metrics.evaluate_metrics().await },
        ))
        .chain(backfills.into_iter().map(|(id, backfill_id)| {
            let engine = self.clone();
            tokio::spawn(async move {
                if let Err(error) = engine.backfill(&id, backfill_id).await {
                    tracing::error!(slo = %id, %error, "slo backfill failed");
                    let mut state = engine.inner.state.lock();
                    if let Some(runtime) = state.slos.get_mut(&id) {
                        runtime.counting = Err(format!("backfill failed: {error}"));
                    }
                }
                let evaluated = engine.clone();
                let _ = tokio::task::spawn_blocking(move || evaluated.evaluate_all()).await;
            })
        }))
        .collect()
    }

    /// Counts stored events of one SLO into its ring, then applies appends newer than the
    /// snapshot.
    async fn backfill(&self, id: &SloId, backfill_id: u64) -> Result<(), QueryError> {
        let (query, ring_first, ring_end) = {
            let state = self.inner.state.lock();
            let Some(Runtime {
                counting: Ok(Source::Events(counting)),
                ..
            }) = state.slos.get(id)
            else {
                return Ok(());
            };
            let newest = counting.ring.newest();
            let (first, _, _) = counting.ring.linear();
            (counting.sql.clone(), first, newest)
        };
        let max_future_buckets = self.inner.config.max_future_secs as i64 / BUCKET_SECS + 1;
        let start_nanos = (ring_first - 1) * BUCKET_SECS * 1_000_000_000;
        let end_nanos = (ring_end + max_future_buckets) * BUCKET_SECS * 1_000_000_000;
        let pinned = self.inner.reader.pinned_session(&self.inner.tenant)?;
        let counts = run_bucket_query(&pinned.context, &query, start_nanos, end_nanos).await?;
        let mut state = self.inner.state.lock();
        let Some(Runtime {
            counting: Ok(Source::Events(counting)),
            ..
        }) = state.slos.get_mut(id)
        else {
            return Ok(());
        };
        let pending = match &mut counting.phase {
            Phase::Backfilling { id, pending } if *id == backfill_id => std::mem::take(pending),
            _ => return Ok(()),
        };
        let mut outcome = counting.ring.add(&counts);
        for (seq, increments) in pending {
            if seq > pinned.seq {
                let more = counting.ring.add(&increments);
                outcome.counted += more.counted;
                outcome.too_old += more.too_old;
            }
        }
        counting.phase = Phase::Ready;
        drop(state);
        self.inner.metrics.events("counted", outcome.counted);
        self.inner.metrics.events("too_old", outcome.too_old);
        tracing::info!(slo = %id, events = outcome.counted, "slo backfilled from stored data");
        Ok(())
    }

    /// Counts one acknowledged append into every SLO of its signal.
    pub fn observe(&self, appended: &Appended) {
        if appended.tenant != self.inner.tenant {
            return;
        }
        let now = self.inner.clock.now_unix_secs();
        let future_limit =
            (now + self.inner.config.max_future_secs as i64).div_euclid(BUCKET_SECS) + 1;
        let mut state = self.inner.state.lock();
        let (mut counted, mut too_old, mut future) = (0, 0, 0);
        for runtime in state.slos.values_mut() {
            let Ok(Source::Events(counting)) = &mut runtime.counting else {
                continue;
            };
            if counting.signal != appended.signal {
                continue;
            }
            let mut increments = BTreeMap::new();
            if let Err(error) = counting.classifier.count(&appended.batch, &mut increments) {
                tracing::warn!(slo = %runtime.spec.id, %error, "failed to classify events");
                continue;
            }
            let in_future: Vec<i64> = increments
                .range(future_limit..)
                .map(|(bucket, _)| *bucket)
                .collect();
            for bucket in in_future {
                if let Some((_, total)) = increments.remove(&bucket) {
                    future += total;
                }
            }
            match &mut counting.phase {
                Phase::Ready => {
                    let outcome = counting.ring.add(&increments);
                    counted += outcome.counted;
                    too_old += outcome.too_old;
                }
                Phase::Backfilling { pending, .. } => pending.push((appended.seq, increments)),
            }
        }
        drop(state);
        self.inner.metrics.events("counted", counted);
        self.inner.metrics.events("too_old", too_old);
        self.inner.metrics.events("future", future);
    }

    fn now_bucket(&self) -> i64 {
        self.inner.clock.now_unix_secs().div_euclid(BUCKET_SECS)
    }

    /// The latest evaluation time: the last step boundary at least the evaluation delay
    /// before now.
    pub fn evaluation_time(&self) -> i64 {
        let step = self.inner.config.step_secs.max(60) as i64;
        let now = self.inner.clock.now_unix_secs() - self.inner.config.evaluation_delay_secs as i64;
        now.div_euclid(step) * step
    }

    /// Evaluates every ready SLO at [`SloEngine::evaluation_time`].
    pub fn evaluate_all(&self) {
        let started = std::time::Instant::now();
        let t = self.evaluation_time();
        let mut state = self.inner.state.lock();
        for runtime in state.slos.values_mut() {
            let Ok(Source::Events(counting)) = &mut runtime.counting else {
                continue;
            };
            if !matches!(counting.phase, Phase::Ready) {
                continue;
            }
            counting.ring.advance(t.div_euclid(BUCKET_SECS));
            let series = masked_series(&runtime.spec, &counting.ring);
            let evaluation = Evaluator::new(&runtime.spec, series).evaluate(t);
            record(runtime, evaluation);
        }
        drop(state);
        self.inner
            .metrics
            .evaluation_seconds
            .observe(started.elapsed().as_secs_f64());
    }

    /// Evaluates every metric SLO at [`SloEngine::evaluation_time`] with PromQL (skipped
    /// while a previous metric evaluation still runs).
    pub async fn evaluate_metrics(&self) {
        use std::sync::atomic::Ordering;
        if self.inner.metrics_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let t = self.evaluation_time();
        let jobs: Vec<(SloId, Arc<SloSpec>, MetricQueries, SliceCache)> = {
            let mut state = self.inner.state.lock();
            state
                .slos
                .iter_mut()
                .filter_map(|(id, runtime)| match &mut runtime.counting {
                    Ok(Source::Metrics(source)) => Some((
                        id.clone(),
                        runtime.spec.clone(),
                        source.queries.clone(),
                        std::mem::take(&mut source.slices),
                    )),
                    _ => None,
                })
                .collect()
        };
        for (id, spec, queries, mut slices) in jobs {
            let started = std::time::Instant::now();
            let counts = metric::counts_at(
                &self.inner.promql,
                &self.inner.tenant,
                &spec,
                &queries,
                t,
                &mut slices,
            )
            .await;
            let evaluation = counts.map(|counts| Evaluator::with_counts(&spec, counts).evaluate(t));
            self.inner
                .metrics
                .evaluation_seconds
                .observe(started.elapsed().as_secs_f64());
            let mut state = self.inner.state.lock();
            let Some(runtime) = state.slos.get_mut(&id) else {
                continue;
            };
            let Ok(Source::Metrics(source)) = &mut runtime.counting else {
                continue;
            };
            if source.queries != queries {
                continue;
            }
            source.slices = slices;
            match evaluation {
                Ok(evaluation) => {
                    source.error = None;
                    record(runtime, evaluation);
                }
                Err(error) => {
                    tracing::warn!(slo = %id, %error, "metric slo evaluation failed");
                    source.error = Some(format!("metric evaluation failed: {error}"));
                }
            }
        }
        self.inner.metrics_running.store(false, Ordering::Release);
    }

    /// Runs the engine until `shutdown`: consumes appends, evaluates at every step, reloads
    /// the rules when their files change or `reload` is notified (SIGHUP).
    pub async fn run(
        self,
        mut appends: Receiver<Appended>,
        reload: Arc<tokio::sync::Notify>,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) {
        self.reload().await;
        let mut shutdown = std::pin::pin!(shutdown);
        let mut watch = tokio::time::interval(self.inner.config.reload_interval);
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A deadline, not a duration: other branches of the loop must not push it back.
        let mut next_evaluation = tokio::time::Instant::now() + self.next_evaluation_delay();
        loop {
            let sleep = tokio::time::sleep_until(next_evaluation);
            tokio::select! {
                () = &mut shutdown => return,
                appended = appends.recv() => match appended {
                    Some(appended) => self.observe(&appended),
                    None => return,
                },
                () = sleep => {
                    let engine = self.clone();
                    // Evaluation is CPU work: keep it off the async workers.
                    let _ = tokio::task::spawn_blocking(move || engine.evaluate_all()).await;
                    // PromQL reads stored data: in its own task, so appends keep flowing.
                    let metrics = self.clone();
                    tokio::spawn(async move { metrics.evaluate_metrics().await });
                    next_evaluation = tokio::time::Instant::now() + self.next_evaluation_delay();
                }
                _ = watch.tick() => {
                    if self.rules_changed() {
                        self.reload().await;
                    }
                }
                () = reload.notified() => {
                    tracing::info!("reloading slo rules");
                    self.reload().await;
                }
            }
        }
    }

    fn next_evaluation_delay(&self) -> Duration {
        let step = self.inner.config.step_secs.max(60) as i64;
        let delay = self.inner.config.evaluation_delay_secs as i64;
        let now = self.inner.clock.now_unix_secs();
        let next = (now - delay).div_euclid(step) * step + step + delay;
        Duration::from_secs((next - now).clamp(1, step) as u64)
    }

    fn rules_changed(&self) -> bool {
        let Some(dir) = &self.inner.config.rules_dir else {
            return false;
        };
        files_signature(dir) != self.inner.state.lock().files_signature
    }

    /// Every SLO with its latest evaluation, lowest budget remaining first.
    pub fn list(&self) -> SloListResponse {
        let state = self.inner.state.lock();
        let mut slos: Vec<SloSummary> = state.slos.values().map(summary).collect();
        slos.sort_by(|a, b| {
            let remaining = |s: &SloSummary| {
                s.evaluation
                    .as_ref()
                    .map_or(f64::INFINITY, |e| e.budget.remaining)
            };
            remaining(a)
                .total_cmp(&remaining(b))
                .then_with(|| a.id.cmp(&b.id))
        });
        SloListResponse {
            slos,
            rule_errors: state
                .diagnostics
                .iter()
                .filter(|d| d.level == Level::Error)
                .map(ToString::to_string)
                .collect(),
            rule_warnings: state
                .diagnostics
                .iter()
                .filter(|d| d.level == Level::Warning)
                .map(ToString::to_string)
                .collect(),
            reload_error: state.reload_error.clone(),
        }
    }

    /// Whether a rule set is in force: before the first successful load (at start-up, or
    /// while the rules folder has errors since start) the SLO list is not the truth, and
    /// alerts of SLOs missing from it must not be resolved.
    pub fn rules_applied(&self) -> bool {
        self.inner.state.lock().rules_applied
    }

    /// The spec of one SLO.
    pub fn spec(&self, id: &SloId) -> Option<Arc<SloSpec>> {
        self.inner.state.lock().slos.get(id).map(|r| r.spec.clone())
    }

    /// One SLO with its history over `(start, end]` from the live buckets.
    pub async fn detail(
        &self,
        id: &SloId,
        start: i64,
        end: i64,
        step_secs: u64,
    ) -> Result<SloDetail, QueryError> {
        let (summary, spec, series) = {
            let state = self.inner.state.lock();
            let runtime = state
                .slos
                .get(id)
                .ok_or_else(|| QueryError::NotFound(format!("no SLO named `{id}`")))?;
            let source = runtime.counting.as_ref().map_err(|error| {
                QueryError::Unavailable(format!("SLO `{id}` cannot be evaluated: {error}"))
            })?;
            let series = match source {
                Source::Events(counting) => {
                    if !matches!(counting.phase, Phase::Ready) {
                        return Err(QueryError::Unavailable(format!(
                            "SLO `{id}` is still counting stored data; retry shortly"
                        )));
                    }
                    Some(masked_series(&runtime.spec, &counting.ring))
                }
                Source::Metrics(_) => None,
            };
            (summary(runtime), runtime.spec.clone(), series)
        };
        let history = match series {
            Some(series) => backtest_series(&spec, series, start, end, step_secs)?,
            // Metric history is PromQL over stored samples, as a backtest.
            None => {
                backtest_spec(
                    &self.inner.reader,
                    &self.inner.tenant,
                    &spec,
                    start,
                    end,
                    step_secs,
                )
                .await?
            }
        };
        Ok(SloDetail {
            summary,
            spec: spec.as_ref().clone(),
            history,
        })
    }

    /// Re-evaluates an SLO over stored data in `(start, end]`, as if it had run then.
    pub async fn backtest(
        &self,
        id: &SloId,
        start: i64,
        end: i64,
        step_secs: u64,
    ) -> Result<SloBacktest, QueryError> {
        let spec = self
            .spec(id)
            .ok_or_else(|| QueryError::NotFound(format!("no SLO named `{id}`")))?;
        backtest_spec(
            &self.inner.reader,
            &self.inner.tenant,
            &spec,
            start,
            end,
            step_secs,
        )
        .await
    }

    /// The tenant this engine serves.
    pub fn tenant(&self) -> &TenantId {
        &self.inner.tenant
    }

    /// The reader this engine counts from.
    pub fn reader(&self) -> &Reader {
        &self.inner.reader
    }
}

fn summary(runtime: &Runtime) -> SloSummary {
    let spec = &runtime.spec;
    SloSummary {
        id: spec.id.clone(),
        display_name: spec.display_name.clone(),
        service: spec.service.clone(),
        objective: spec.objective,
        window: spec.window.display(),
        window_type: match spec.window {
            lookout_model::slo::SloWindow::Rolling { .. } => "rolling".into(),
            lookout_model::slo::SloWindow::Calendar { .. } => "calendar".into(),
        },
        budgeting_method: spec.budgeting.name().into(),
        error_budget: spec.error_budget(),
        source: match spec.indicator {
            Indicator::Spans(_) => "spans".into(),
            Indicator::Logs(_) => "logs".into(),
            Indicator::Metrics(_) => "metrics".into(),
        },
        evaluation: runtime.last.clone(),
        alerts: runtime.alerts.clone(),
        error: match &runtime.counting {
            Err(error) => Some(error.clone()),
            Ok(Source::Events(EventCounting {
                phase: Phase::Backfilling { .. },
                ..
            })) => Some("counting stored data".into()),
            Ok(Source::Events(_)) => None,
            Ok(Source::Metrics(source)) => source.error.clone(),
        },
    }
}

/// What decides whether buckets can be kept across a reload.
fn fingerprint(spec: &SloSpec) -> String {
    let lookback = lookback_buckets(spec);
    format!(
        "{}|{lookback}",
        serde_json::to_string(&spec.indicator).unwrap_or_default()
    )
}

/// Records an evaluation and the alert state per severity it implies.
fn record(runtime: &mut Runtime, evaluation: SloEvaluation) {
    for pair in &runtime.spec.alert_pairs {
        let firing = evaluation.firing.contains(&pair.severity);
        let state = if firing {
            AlertState::Firing
        } else {
            AlertState::Inactive
        };
        let previous = runtime.alerts.insert(pair.severity.clone(), state);
        if previous.is_some_and(|p| p != state) || (previous.is_none() && firing) {
            tracing::warn!(slo = %runtime.spec.id, severity = %pair.severity, ?state, "slo alert changed");
        }
    }
    runtime.last = Some(evaluation);
}

fn new_counting(spec: &SloSpec, now_bucket: i64, backfill_id: u64) -> Result<Source, String> {
    let (events, spans) = match &spec.indicator {
        Indicator::Spans(events) => (events, true),
        Indicator::Logs(events) => (events, false),
        Indicator::Metrics(indicator) => {
            return MetricQueries::new(indicator).map(|queries| {
                Source::Metrics(MetricSource {
                    queries,
                    slices: SliceCache::new(),
                    error: None,
                })
            });
        }
    };
    let sql = IndicatorSql::new(events, spans)?;
    let classifier = Classifier::new(&sql)?;
    let capacity = usize::try_from(lookback_buckets(spec)).map_err(|e| e.to_string())?;
    Ok(Source::Events(EventCounting {
        sql,
        classifier,
        signal: if spans { Signal::Traces } else { Signal::Logs },
        ring: BucketRing::new(capacity, now_bucket),
        phase: Phase::Backfilling {
            id: backfill_id,
            pending: Vec::new(),
        },
    }))
}

fn masked_series(spec: &SloSpec, ring: &BucketRing) -> Series {
    let (first, mut good, mut total) = ring.linear();
    mask_maintenance(spec, first, &mut good, &mut total);
    Series::new(first, &good, &total)
}

async fn run_bucket_query(
    context: &datafusion::prelude::SessionContext,
    sql: &IndicatorSql,
    start_nanos: i64,
    end_nanos: i64,
) -> Result<BTreeMap<i64, (u64, u64)>, QueryError> {
    let batches = context
        .sql(&sql.bucket_query(start_nanos, end_nanos))
        .await
        .map_err(QueryError::from_datafusion)?
        .collect()
        .await
        .map_err(QueryError::from_datafusion)?;
    let mut counts = BTreeMap::new();
    for batch in batches {
        let column = |index: usize| {
            batch
                .column(index)
                .as_any()
                .downcast_ref::<Int64Array>()
                .cloned()
                .ok_or_else(|| {
                    QueryError::Execution("bucket query returned unexpected types".into())
                })
        };
        let (buckets, good, total) = (column(0)?, column(1)?, column(2)?);
        for row in 0..batch.num_rows() {
            if buckets.is_null(row) {
                continue;
            }
            let entry = counts.entry(buckets.value(row)).or_insert((0, 0));
            entry.0 += good.value(row).max(0) as u64;
            entry.1 += total.value(row).max(0) as u64;
        }
    }
    Ok(counts)
}

/// Evaluates `spec` over stored data at every step of `(start, end]`.
pub async fn backtest_spec(
    reader: &Reader,
    tenant: &TenantId,
    spec: &SloSpec,
    start: i64,
    end: i64,
    step_secs: u64,
) -> Result<SloBacktest, QueryError> {
    check_range(start, end, step_secs)?;
    let (events, spans) = match &spec.indicator {
        Indicator::Spans(events) => (events, true),
        Indicator::Logs(events) => (events, false),
        Indicator::Metrics(indicator) => {
            let queries = MetricQueries::new(indicator).map_err(QueryError::BadRequest)?;
            let step = step_secs as i64;
            let times: Vec<i64> = (1..)
                .map(|i| start.div_euclid(step) * step + i * step)
                .take_while(|t| *t <= end)
                .collect();
            let engine = PromqlEngine::new(reader.clone(), PromqlConfig::default());
            let counts = metric::backtest_counts(&engine, tenant, spec, &queries, &times)
                .await
                .map_err(|error| {
                    QueryError::Execution(format!("metric backtest failed: {error}"))
                })?;
            let spec = spec.clone();
            return tokio::task::spawn_blocking(move || {
                backtest_evaluator(
                    &spec,
                    Evaluator::with_counts(&spec, counts),
                    start,
                    end,
                    step_secs,
                )
            })
            .await
            .map_err(|error| QueryError::Execution(format!("backtest task failed: {error}")))?;
        }
    };
    let sql = IndicatorSql::new(events, spans).map_err(QueryError::BadRequest)?;
    let last_bucket = end.div_euclid(BUCKET_SECS);
    let first_bucket = start.div_euclid(BUCKET_SECS) - lookback_buckets(spec) + 1;
    let pinned = reader.pinned_session(tenant)?;
    let counts = run_bucket_query(
        &pinned.context,
        &sql,
        (first_bucket - 1) * BUCKET_SECS * 1_000_000_000,
        last_bucket * BUCKET_SECS * 1_000_000_000,
    )
    .await?;
    let len = (last_bucket - first_bucket + 1).max(0) as usize;
    let (mut good, mut total) = (vec![0u64; len], vec![0u64; len]);
    for (bucket, (g, t)) in counts {
        if let Ok(index) = usize::try_from(bucket - first_bucket)
            && index < len
        {
            good[index] += g;
            total[index] += t;
        }
    }
    mask_maintenance(spec, first_bucket, &mut good, &mut total);
    let series = Series::new(first_bucket, &good, &total);
    let spec = spec.clone();
    tokio::task::spawn_blocking(move || backtest_series(&spec, series, start, end, step_secs))
        .await
        .map_err(|error| QueryError::Execution(format!("backtest task failed: {error}")))?
}

fn check_range(start: i64, end: i64, step_secs: u64) -> Result<(), QueryError> {
    if step_secs == 0 || !step_secs.is_multiple_of(60) {
        return Err(QueryError::BadRequest(
            "step must be a positive whole number of minutes".into(),
        ));
    }
    if end <= start {
        return Err(QueryError::BadRequest("end must be after start".into()));
    }
    if (end - start) / step_secs as i64 > MAX_STEPS {
        return Err(QueryError::BadRequest(format!(
            "too many steps: at most {MAX_STEPS} per request (raise step or shorten the range)"
        )));
    }
    Ok(())
}

/// Evaluates at every step boundary in `(start, end]`.
pub fn backtest_series(
    spec: &SloSpec,
    series: Series,
    start: i64,
    end: i64,
    step_secs: u64,
) -> Result<SloBacktest, QueryError> {
    backtest_evaluator(spec, Evaluator::new(spec, series), start, end, step_secs)
}

/// Evaluates at every step boundary in `(start, end]` with a prepared evaluator.
fn backtest_evaluator(
    spec: &SloSpec,
    evaluator: Evaluator<'_>,
    start: i64,
    end: i64,
    step_secs: u64,
) -> Result<SloBacktest, QueryError> {
    check_range(start, end, step_secs)?;
    let step = step_secs as i64;
    let windows: Vec<String> = evaluator
        .windows()
        .iter()
        .map(|w| lookout_model::slo::format_duration_secs(*w))
        .collect();
    let mut steps = Vec::new();
    let mut alerts: Vec<AlertInterval> = Vec::new();
    let mut open: BTreeMap<String, usize> = BTreeMap::new();
    let mut t = start.div_euclid(step) * step + step;
    while t <= end {
        let evaluation = evaluator.evaluate(t);
        let active_pairs: Vec<String> = evaluation
            .pairs
            .iter()
            .filter(|p| p.active)
            .map(|p| p.name.clone())
            .collect();
        for severity in &evaluation.firing {
            match open.get(severity) {
                Some(index) => {
                    let interval = &mut alerts[*index];
                    for pair in evaluation
                        .pairs
                        .iter()
                        .filter(|p| p.active && &p.severity == severity)
                    {
                        if !interval.pairs.contains(&pair.name) {
                            interval.pairs.push(pair.name.clone());
                        }
                    }
                }
                None => {
                    open.insert(severity.clone(), alerts.len());
                    alerts.push(AlertInterval {
                        severity: severity.clone(),
                        start: t,
                        end: None,
                        pairs: evaluation
                            .pairs
                            .iter()
                            .filter(|p| p.active && &p.severity == severity)
                            .map(|p| p.name.clone())
                            .collect(),
                    });
                }
            }
        }
        let closed: Vec<String> = open
            .keys()
            .filter(|severity| !evaluation.firing.contains(severity))
            .cloned()
            .collect();
        for severity in closed {
            if let Some(index) = open.remove(&severity) {
                alerts[index].end = Some(t);
            }
        }
        steps.push(SloStep {
            t,
            budget_remaining: evaluation.budget.remaining,
            sli: evaluation.budget.sli,
            error_ratios: evaluation.windows.iter().map(|w| w.error_ratio).collect(),
            burn_rates: evaluation.windows.iter().map(|w| w.burn_rate).collect(),
            active_pairs,
            firing: evaluation.firing,
        });
        t += step;
    }
    Ok(SloBacktest {
        id: spec.id.clone(),
        start,
        end,
        step_secs,
        windows,
        steps,
        alerts,
    })
}

fn files_signature(dir: &std::path::Path) -> Vec<(PathBuf, SystemTime, u64)> {
    let mut signature = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if metadata.is_dir() {
                stack.push(path);
            } else {
                signature.push((
                    path,
                    metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    metadata.len(),
                ));
            }
        }
    }
    signature.sort();
    signature
}
