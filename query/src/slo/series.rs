//! Per-minute (good, total) buckets and the evaluation of an SLO over them: window sums,
//! error ratios, burn rates, budget and burn-rate pairs, exactly as the SLO semantics define
//! them. Pure computation: no IO, no clock.
//!
//! Bucket `k` holds the events whose time lies in `((k - 1) * 60 s, k * 60 s]`, so a window
//! `(t - W, t]` with `t` and `W` whole minutes is exactly the buckets `t/60 - W/60 + 1 ..=
//! t/60`.

use lookout_model::slo::{
    BudgetStatus, BudgetingMethod, PairStatus, SloEvaluation, SloSpec, WindowStatus,
    format_duration_secs,
};

use super::calendar::period_start;

/// Seconds per bucket.
pub const BUCKET_SECS: i64 = 60;
const BUCKET_NANOS: i64 = BUCKET_SECS * 1_000_000_000;

/// The window whose burn rate gives the time to exhaustion (steadier than 5m).
pub const CURRENT_BURN_WINDOW_SECS: u64 = 3_600;

/// The bucket holding an event at `unix_nanos`.
pub fn bucket_of_nanos(unix_nanos: i64) -> i64 {
    // Ceiling division: an event exactly on a minute boundary belongs to the minute it ends.
    let quotient = unix_nanos.div_euclid(BUCKET_NANOS);
    if unix_nanos.rem_euclid(BUCKET_NANOS) == 0 {
        quotient
    } else {
        quotient + 1
    }
}

/// Contiguous buckets `first ..= first + len - 1` with prefix sums.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    first: i64,
    /// `good_prefix[i]` = good events in buckets `first .. first + i`.
    good_prefix: Vec<u64>,
    total_prefix: Vec<u64>,
}

impl Series {
    /// Builds from per-bucket counts starting at bucket `first`. `good[i] <= total[i]` is
    /// enforced by clamping.
    pub fn new(first: i64, good: &[u64], total: &[u64]) -> Self {
        debug_assert_eq!(good.len(), total.len());
        let mut good_prefix = Vec::with_capacity(good.len() + 1);
        let mut total_prefix = Vec::with_capacity(total.len() + 1);
        good_prefix.push(0);
        total_prefix.push(0);
        let (mut g, mut t) = (0u64, 0u64);
        for (good, total) in good.iter().zip(total) {
            g += (*good).min(*total);
            t += *total;
            good_prefix.push(g);
            total_prefix.push(t);
        }
        Self {
            first,
            good_prefix,
            total_prefix,
        }
    }

    /// First bucket.
    pub fn first(&self) -> i64 {
        self.first
    }

    /// One past the last bucket.
    pub fn end(&self) -> i64 {
        self.first + self.good_prefix.len() as i64 - 1
    }

    /// (good, total) over buckets `from ..= to` (clamped to the series).
    pub fn sum(&self, from: i64, to: i64) -> (u64, u64) {
        let lo = (from.max(self.first) - self.first).max(0) as usize;
        let hi = ((to + 1).min(self.end()) - self.first).max(0) as usize;
        if hi <= lo {
            return (0, 0);
        }
        (
            self.good_prefix[hi] - self.good_prefix[lo],
            self.total_prefix[hi] - self.total_prefix[lo],
        )
    }
}

/// Slices of `slice_buckets` buckets, aligned on the absolute bucket grid: slice `j` holds
/// buckets `(j - 1) * s + 1 ..= j * s`. Prefix sums of good slices (or of slice ratios) and of
/// slices with events.
#[derive(Debug, Clone)]
pub struct SliceSeries {
    slice_buckets: i64,
    /// First slice index.
    first: i64,
    good_prefix: Vec<f64>,
    counted_prefix: Vec<u64>,
}

/// What one slice contributes: `Some(ratio)` is its success ratio, `None` means it had no
/// events and counts neither as good nor bad.
pub fn slice_value(method: &BudgetingMethod, ratio: Option<f64>) -> Option<f64> {
    let ratio = ratio.filter(|r| r.is_finite())?;
    Some(match method {
        BudgetingMethod::Timeslices { target, .. } => {
            if ratio >= *target {
                1.0
            } else {
                0.0
            }
        }
        _ => ratio.clamp(0.0, 1.0),
    })
}

impl SliceSeries {
    fn new(series: &Series, slice_buckets: i64, method: &BudgetingMethod) -> Self {
        // The first slice lying entirely inside the series: (j - 1) * s + 1 >= first.
        let first = (series.first() - 1 + slice_buckets - 1).div_euclid(slice_buckets) + 1;
        let last = (series.end() - 1).div_euclid(slice_buckets);
        let values = (first..=last).map(|j| {
            let (good, total) = series.sum((j - 1) * slice_buckets + 1, j * slice_buckets);
            slice_value(method, (total > 0).then(|| good as f64 / total as f64))
        });
        Self::from_values(first, slice_buckets, values)
    }

    /// Builds from the values of consecutive slices starting at slice `first` (see
    /// [`slice_value`]).
    pub fn from_values(
        first: i64,
        slice_buckets: i64,
        values: impl IntoIterator<Item = Option<f64>>,
    ) -> Self {
        let mut good_prefix = vec![0.0];
        let mut counted_prefix = vec![0];
        let (mut good_sum, mut counted) = (0.0, 0u64);
        for value in values {
            if let Some(value) = value {
                counted += 1;
                good_sum += value;
            }
            good_prefix.push(good_sum);
            counted_prefix.push(counted);
        }
        Self {
            slice_buckets: slice_buckets.max(1),
            first,
            good_prefix,
            counted_prefix,
        }
    }

    /// (good, total) over the slices that lie entirely within buckets `from ..= to`.
    fn sum(&self, from: i64, to: i64) -> (f64, f64) {
        let first_slice = (from - 1).div_euclid(self.slice_buckets)
            + if (from - 1).rem_euclid(self.slice_buckets) == 0 {
                1
            } else {
                2
            };
        let last_slice = to.div_euclid(self.slice_buckets);
        let lo = (first_slice.max(self.first) - self.first).max(0) as usize;
        let hi = ((last_slice + 1).min(self.first + self.counted_prefix.len() as i64 - 1)
            - self.first)
            .max(0) as usize;
        if hi <= lo {
            return (0.0, 0.0);
        }
        (
            self.good_prefix[hi] - self.good_prefix[lo],
            (self.counted_prefix[hi] - self.counted_prefix[lo]) as f64,
        )
    }
}

/// Where an evaluation takes its (bad, total) from.
#[derive(Debug, Clone)]
pub enum Counts {
    /// Event counts per minute; with slices for the time-slice budgeting methods.
    Buckets {
        /// The minute buckets.
        series: Series,
        /// Their slices, for `Timeslices` and `RatioTimeslices`.
        slices: Option<SliceSeries>,
    },
    /// Slice values computed elsewhere (metric SLIs with time-slice budgeting).
    Slices(SliceSeries),
    /// (bad, total) per interval `(after, until]` in unix seconds, computed elsewhere
    /// (metric SLIs: one PromQL evaluation per window). Missing intervals have no data.
    Intervals(std::collections::HashMap<(i64, i64), (f64, f64)>),
}

impl Counts {
    /// (bad, total) over `(after_secs, until_secs]`, both whole minutes.
    fn bad_total(&self, after_secs: i64, until_secs: i64) -> (f64, f64) {
        let from = after_secs.div_euclid(BUCKET_SECS) + 1;
        let to = until_secs.div_euclid(BUCKET_SECS);
        match self {
            Counts::Buckets {
                series,
                slices: None,
            } => {
                let (good, total) = series.sum(from, to);
                ((total - good) as f64, total as f64)
            }
            Counts::Buckets {
                slices: Some(slices),
                ..
            }
            | Counts::Slices(slices) => {
                let (good, total) = slices.sum(from, to);
                // Clamp float noise of ratio sums so bad is never negative.
                ((total - good).max(0.0), total)
            }
            Counts::Intervals(values) => values
                .get(&(after_secs, until_secs))
                .copied()
                .unwrap_or((0.0, 0.0)),
        }
    }
}

/// Every interval `(after, until]` an evaluation of `spec` at `t` reads: the pair windows,
/// the current-burn window and the budget period.
pub fn intervals_read(spec: &SloSpec, t_unix_secs: i64) -> Vec<(i64, i64)> {
    let mut intervals: Vec<(i64, i64)> = window_lengths(spec)
        .into_iter()
        .chain([CURRENT_BURN_WINDOW_SECS])
        .map(|w| (t_unix_secs - w as i64, t_unix_secs))
        .collect();
    intervals.push((period_after(spec, t_unix_secs).0, t_unix_secs));
    intervals.sort_unstable();
    intervals.dedup();
    intervals
}

/// The start (exclusive) of the budget period ending at `t`, and the elapsed fraction of a
/// calendar period (1 for rolling windows).
fn period_after(spec: &SloSpec, t_unix_secs: i64) -> (i64, f64) {
    match period_start(&spec.window, t_unix_secs) {
        None => (t_unix_secs - spec.window.nominal_secs() as i64, 1.0),
        Some((start, end)) => {
            let fraction = (t_unix_secs - start) as f64 / (end - start).max(1) as f64;
            (
                start.div_euclid(BUCKET_SECS) * BUCKET_SECS,
                fraction.clamp(0.0, 1.0),
            )
        }
    }
}

/// Evaluates one SLO at any time covered by its counts.
#[derive(Debug, Clone)]
pub struct Evaluator<'a> {
    spec: &'a SloSpec,
    counts: Counts,
    windows: Vec<u64>,
}

impl<'a> Evaluator<'a> {
    /// Prepares the evaluation of `spec` over `series` (maintenance already masked out).
    pub fn new(spec: &'a SloSpec, series: Series) -> Self {
        let slices = match &spec.budgeting {
            BudgetingMethod::Occurrences => None,
            BudgetingMethod::Timeslices { slice_secs, .. }
            | BudgetingMethod::RatioTimeslices { slice_secs } => Some(SliceSeries::new(
                &series,
                (*slice_secs as i64 / BUCKET_SECS).max(1),
                &spec.budgeting,
            )),
        };
        Self::with_counts(spec, Counts::Buckets { series, slices })
    }

    /// Prepares the evaluation of `spec` over counts computed elsewhere.
    pub fn with_counts(spec: &'a SloSpec, counts: Counts) -> Self {
        Self {
            spec,
            counts,
            windows: window_lengths(spec),
        }
    }

    /// The distinct window lengths of the pairs, shortest first.
    pub fn windows(&self) -> &[u64] {
        &self.windows
    }

    /// The window `(t - window_secs, t]`.
    pub fn window(&self, t_unix_secs: i64, window_secs: u64) -> WindowStatus {
        let (bad, total) = self
            .counts
            .bad_total(t_unix_secs - window_secs as i64, t_unix_secs);
        let error_ratio = (total > 0.0).then(|| bad / total);
        WindowStatus {
            window: format_duration_secs(window_secs),
            window_secs,
            bad,
            total,
            error_ratio,
            burn_rate: error_ratio.map(|e| e / self.spec.error_budget()),
        }
    }

    /// Budget over the period ending at `t` (rolling) or since the last calendar boundary.
    pub fn budget(&self, t_unix_secs: i64) -> BudgetStatus {
        let budget = self.spec.error_budget();
        let period_secs = self.spec.window.nominal_secs();
        let (after, elapsed_fraction) = period_after(self.spec, t_unix_secs);
        let (bad, total) = self.counts.bad_total(after, t_unix_secs);
        let error_ratio = (total > 0.0).then(|| bad / total);
        let consumed = error_ratio.map_or(0.0, |e| e / budget);
        let remaining = 1.0 - consumed;
        let current = self.window(t_unix_secs, CURRENT_BURN_WINDOW_SECS);
        let time_to_exhaustion_secs = if remaining <= 0.0 {
            Some(0.0)
        } else {
            match current.burn_rate {
                Some(burn) if burn > 0.0 => Some(remaining * period_secs as f64 / burn),
                _ => None,
            }
        };
        BudgetStatus {
            good: total - bad,
            total,
            sli: error_ratio.map(|e| 1.0 - e),
            consumed,
            remaining,
            time_to_exhaustion_secs,
            projected_consumed: consumed * elapsed_fraction,
        }
    }

    /// The full evaluation at `t` (a whole minute).
    pub fn evaluate(&self, t_unix_secs: i64) -> SloEvaluation {
        let budget = self.spec.error_budget();
        let period_secs = self.spec.window.nominal_secs();
        let windows: Vec<WindowStatus> = self
            .windows
            .iter()
            .map(|w| self.window(t_unix_secs, *w))
            .collect();
        let find = |secs: u64| {
            windows
                .iter()
                .find(|w| w.window_secs == secs)
                .cloned()
                .expect("every pair window is in the window list")
        };
        let in_maintenance = self
            .spec
            .maintenance
            .iter()
            .any(|m| m.start_unix_secs <= t_unix_secs && t_unix_secs < m.end_unix_secs);
        let mut pairs = Vec::with_capacity(self.spec.alert_pairs.len());
        let mut firing: Vec<String> = Vec::new();
        for pair in &self.spec.alert_pairs {
            let long = find(pair.long_window_secs);
            let short = find(pair.short_window_secs);
            let threshold = pair.error_ratio_threshold(budget);
            let above = |w: &WindowStatus| match w.error_ratio {
                Some(e) => e > threshold,
                None => self.spec.alert_when_no_data,
            };
            let active = above(&long) && above(&short);
            if active && !in_maintenance && !firing.contains(&pair.severity) {
                firing.push(pair.severity.clone());
            }
            pairs.push(PairStatus {
                severity: pair.severity.clone(),
                name: pair.name.clone(),
                burn_rate_threshold: pair.burn_rate_threshold,
                error_ratio_threshold: threshold,
                budget_consumed_at_threshold: pair.budget_consumed_at_threshold(period_secs),
                long_window: long.window.clone(),
                short_window: short.window.clone(),
                long,
                short,
                active,
            });
        }
        SloEvaluation {
            evaluated_at_unix_secs: t_unix_secs,
            budget: self.budget(t_unix_secs),
            windows,
            pairs,
            firing,
            in_maintenance,
        }
    }
}

/// Distinct window lengths of the pairs, shortest first.
pub fn window_lengths(spec: &SloSpec) -> Vec<u64> {
    let mut windows: Vec<u64> = spec
        .alert_pairs
        .iter()
        .flat_map(|p| [p.long_window_secs, p.short_window_secs])
        .collect();
    windows.sort_unstable();
    windows.dedup();
    windows
}

/// How many buckets before `t` an evaluation at `t` reads: the period (or the longest
/// calendar period) and the longest window, plus one slice.
pub fn lookback_buckets(spec: &SloSpec) -> i64 {
    let longest_window = window_lengths(spec).last().copied().unwrap_or(0);
    let period = match &spec.window {
        lookout_model::slo::SloWindow::Rolling { duration_secs } => *duration_secs,
        // A calendar period is at most its nominal length plus a few days (months of 31 days,
        // quarters of 92, leap years).
        other => other.nominal_secs() + 3 * 86_400,
    };
    let slice = match &spec.budgeting {
        BudgetingMethod::Occurrences => 0,
        BudgetingMethod::Timeslices { slice_secs, .. }
        | BudgetingMethod::RatioTimeslices { slice_secs } => *slice_secs,
    };
    (period.max(longest_window) + slice) as i64 / BUCKET_SECS + 1
}

/// Zeroes the buckets that overlap a maintenance window of `spec`.
pub fn mask_maintenance(spec: &SloSpec, first: i64, good: &mut [u64], total: &mut [u64]) {
    for window in &spec.maintenance {
        for (i, (g, t)) in good.iter_mut().zip(total.iter_mut()).enumerate() {
            let bucket = first + i as i64;
            let bucket_start = (bucket - 1) * BUCKET_SECS;
            let bucket_end = bucket * BUCKET_SECS;
            if bucket_start < window.end_unix_secs && bucket_end > window.start_unix_secs {
                *g = 0;
                *t = 0;
            }
        }
    }
}
