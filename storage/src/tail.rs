//! The in-memory tail: acknowledged records not yet in Parquet, per (tenant, signal).
//!
//! A flush seals the active generation; sealed generations stay readable until the manifest
//! lists the files written from them, and are then removed in the same critical section, so
//! a reader never sees a record twice or misses one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{BooleanArray, Scalar, StringArray};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::record_batch::RecordBatch;
use lookout_model::{Signal, TenantId, TraceId};

use crate::StorageError;
use crate::rollups::SpanRollups;
use crate::rows::{arrow_error, batch_size_bytes};
use crate::trace_index::{TraceSpan, collect_trace_ranges};

/// The records of one (tenant, signal) within a generation.
#[derive(Debug, Default)]
pub(crate) struct TailBuffer {
    /// Record batches in append order.
    pub(crate) batches: Vec<RecordBatch>,
    /// Rows in `batches`.
    pub(crate) rows: usize,
    /// In-memory bytes of `batches`.
    pub(crate) bytes: u64,
    /// For spans: the time range of every trace in `batches`.
    pub(crate) trace_ranges: HashMap<TraceId, TraceSpan>,
    /// For spans: the RED rollups of exactly the spans in `batches`.
    pub(crate) rollups: SpanRollups,
    /// The full-text index of `batches` (logs and spans), built when first searched.
    pub(crate) search: Arc<crate::search::TailSearchIndex>,
}

/// Key of a tail buffer.
pub(crate) type TailKey = (TenantId, Signal);

/// A set of buffers that is flushed as a whole.
#[derive(Debug, Default)]
pub(crate) struct TailGeneration {
    /// Identity, increasing.
    pub(crate) id: u64,
    /// The buffers.
    pub(crate) buffers: BTreeMap<TailKey, TailBuffer>,
}

impl TailGeneration {
    fn bytes(&self) -> u64 {
        self.buffers.values().map(|buffer| buffer.bytes).sum()
    }
}

/// The active generation plus the sealed generations being flushed.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    active: TailGeneration,
    sealed: Vec<Arc<TailGeneration>>,
    next_generation_id: u64,
}

impl Tail {
    /// Adds a batch; returns the rows now buffered for that (tenant, signal).
    pub(crate) fn insert(
        &mut self,
        tenant: &TenantId,
        signal: Signal,
        batch: RecordBatch,
    ) -> usize {
        let buffer = self
            .active
            .buffers
            .entry((tenant.clone(), signal))
            .or_default();
        if signal == Signal::Traces {
            collect_trace_ranges(&batch, &mut buffer.trace_ranges);
        }
        buffer.rows += batch.num_rows();
        buffer.bytes += batch_size_bytes(&batch);
        buffer.batches.push(batch);
        buffer.rows
    }

    /// Adds the RED rollups of spans about to be inserted into the active generation (the
    /// WAL thread adds both under one lock, so readers see rows and rollups together).
    pub(crate) fn add_rollups(&mut self, tenant: &TenantId, rollups: SpanRollups) {
        let buffer = self
            .active
            .buffers
            .entry((tenant.clone(), Signal::Traces))
            .or_default();
        if buffer.rollups.is_empty() {
            buffer.rollups = rollups;
        } else {
            buffer.rollups.merge(&rollups);
        }
    }

    /// The buffered rollups of `tenant` whose minute starts within `[start, end]`.
    pub(crate) fn rollups(&self, tenant: &TenantId, start: i64, end: i64) -> SpanRollups {
        let key = (tenant.clone(), Signal::Traces);
        let mut out = SpanRollups::default();
        for buffer in self.buffers(&key) {
            out.merge_range(&buffer.rollups, start, end);
        }
        out
    }

    /// Every buffered spans batch of `tenant` that holds one of `trace_ids` (unfiltered).
    pub(crate) fn batches_with_traces(
        &self,
        tenant: &TenantId,
        trace_ids: &[TraceId],
    ) -> Vec<RecordBatch> {
        let key = (tenant.clone(), Signal::Traces);
        self.buffers(&key)
            .filter(|buffer| {
                trace_ids
                    .iter()
                    .any(|id| buffer.trace_ranges.contains_key(id))
            })
            .flat_map(|buffer| buffer.batches.iter().cloned())
            .collect()
    }

    /// Whether nothing is buffered or being flushed.
    pub(crate) fn is_empty(&self) -> bool {
        self.active.buffers.is_empty() && self.sealed.is_empty()
    }

    /// Seals the active generation; returns every sealed generation (earlier failed flushes
    /// included), all of which the caller now writes.
    pub(crate) fn seal(&mut self) -> Vec<Arc<TailGeneration>> {
        if !self.active.buffers.is_empty() {
            self.next_generation_id += 1;
            let mut sealed = std::mem::take(&mut self.active);
            sealed.id = self.next_generation_id;
            self.sealed.push(Arc::new(sealed));
        }
        self.sealed.clone()
    }

    /// Forgets sealed generations whose files are now in the manifest.
    pub(crate) fn release(&mut self, generation_ids: &[u64]) {
        self.sealed
            .retain(|generation| !generation_ids.contains(&generation.id));
    }

    /// Bytes not yet in Parquet.
    pub(crate) fn unflushed_bytes(&self) -> u64 {
        self.active.bytes() + self.sealed.iter().map(|g| g.bytes()).sum::<u64>()
    }

    fn buffers<'a>(&'a self, key: &'a TailKey) -> impl Iterator<Item = &'a TailBuffer> + 'a {
        self.sealed
            .iter()
            .filter_map(move |generation| generation.buffers.get(key))
            .chain(self.active.buffers.get(key))
    }

    /// Every buffered batch of (tenant, signal), sealed ones first.
    pub(crate) fn batches(&self, tenant: &TenantId, signal: Signal) -> Vec<RecordBatch> {
        let key = (tenant.clone(), signal);
        self.buffers(&key)
            .flat_map(|buffer| buffer.batches.iter().cloned())
            .collect()
    }

    /// The search index and batches of every buffer of (tenant, signal), sealed ones first.
    pub(crate) fn search_sources(
        &self,
        tenant: &TenantId,
        signal: Signal,
    ) -> Vec<(Arc<crate::search::TailSearchIndex>, Vec<RecordBatch>)> {
        let key = (tenant.clone(), signal);
        self.buffers(&key)
            .filter(|buffer| !buffer.batches.is_empty())
            .map(|buffer| (buffer.search.clone(), buffer.batches.clone()))
            .collect()
    }

    /// Time range of a trace's buffered spans.
    pub(crate) fn trace_range(&self, tenant: &TenantId, trace_id: &TraceId) -> Option<TraceSpan> {
        let key = (tenant.clone(), Signal::Traces);
        self.buffers(&key)
            .filter_map(|buffer| buffer.trace_ranges.get(trace_id).copied())
            .reduce(TraceSpan::merge)
    }

    /// The buffered spans of one trace.
    pub(crate) fn trace_batches(
        &self,
        tenant: &TenantId,
        trace_id: &TraceId,
    ) -> Result<Vec<RecordBatch>, StorageError> {
        let key = (tenant.clone(), Signal::Traces);
        let wanted = Scalar::new(StringArray::from(vec![trace_id.to_hex()]));
        let mut out = Vec::new();
        for buffer in self.buffers(&key) {
            if !buffer.trace_ranges.contains_key(trace_id) {
                continue;
            }
            for batch in &buffer.batches {
                let Some(ids) = crate::rows::spans_trace_ids(batch) else {
                    continue;
                };
                let mask: BooleanArray = eq(ids, &wanted).map_err(arrow_error)?;
                let matching = filter_record_batch(batch, &mask).map_err(arrow_error)?;
                if matching.num_rows() > 0 {
                    out.push(matching);
                }
            }
        }
        Ok(out)
    }
}
