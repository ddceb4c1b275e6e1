//! The processor's state, shared by the poll loop and the rebalance hook (which runs inside
//! `poll`, on the same thread, through a mutex): the core, the sink and its writer thread, and
//! what a run did.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tracing::{debug, error, warn};

use super::writer::{commit_with_retries, lock_sink, Landed, SharedSink, Writer};
use super::{ProcessFaults, ProcessSummary};
use crate::core::processor::{gaps, ProcessorCore, Skipped, StartAt};
use crate::core::Partition;
use crate::kafka::consumer::{PartitionStats, RebalanceHook};
use crate::metrics::status::{now_ms, PartitionRow};
use crate::metrics::ProcessMetrics;
use crate::pipeline::PipelineError;
use crate::sink::{Row, Sink, SinkBatch};

/// State shared by the poll loop and the rebalance hook.
pub(super) struct State {
    pub(super) core: ProcessorCore<Row>,
    pub(super) sink: SharedSink,
    /// The thread that writes batches while the loop reads on.
    pub(super) writer: Writer,
    pub(super) group: String,
    pub(super) topic: String,
    pub(super) summary: ProcessSummary,
    /// When this run polled its first record (the start of `summary.busy`).
    pub(super) first_record: Option<Instant>,
    pub(super) metrics: ProcessMetrics,
    /// The first error met inside a rebalance callback, reported by the loop.
    pub(super) failed: Option<PipelineError>,
    pub(super) skip_lost_records: bool,
    pub(super) faults: ProcessFaults,
    /// Progress of the committed records: a bar on a terminal, a log line now and then otherwise.
    pub(super) meter: crate::pipeline::meter::Meter,
}

impl State {
    /// The sink (only while nothing is in flight, or to wait for the batch in flight).
    pub(super) fn sink(&self) -> MutexGuard<'_, Box<dyn Sink>> {
        lock_sink(&self.sink)
    }

    /// Rows not yet committed: the open batch and the batch in flight.
    pub(super) fn uncommitted_rows(&self) -> u64 {
        self.core.open_rows() as u64 + self.writer.rows_in_flight()
    }

    /// Hand the open batch to the writer thread, after waiting for the batch in flight. Returns
    /// the offsets that batch committed (for the advisory Kafka commit).
    pub(super) fn dispatch(&mut self) -> Result<BTreeMap<Partition, i64>, PipelineError> {
        let landed = self.settle()?;
        if let Some(batch) = self.core.take_batch() {
            let sink_batch = SinkBatch {
                group: self.group.clone(),
                topic: self.topic.clone(),
                rows: batch.rows,
                next_offsets: batch.next_offsets,
                skipped: Vec::new(),
            };
            let stall = self.faults.sink_stall_at(self.writer.next_number());
            self.writer.submit(sink_batch, stall);
        }
        Ok(landed)
    }

    /// Write everything read (the batch in flight, then the open batch) and wait for it: at
    /// revocation, shutdown, or before the position is looked at. Returns the committed offsets.
    pub(super) fn flush(&mut self) -> Result<BTreeMap<Partition, i64>, PipelineError> {
        let mut offsets = self.dispatch()?;
        offsets.extend(self.settle()?);
        Ok(offsets)
    }

    /// Wait for the batch in flight and account for it.
    pub(super) fn settle(&mut self) -> Result<BTreeMap<Partition, i64>, PipelineError> {
        match self.writer.wait() {
            Some(landed) => self.landed(landed),
            None => Ok(BTreeMap::new()),
        }
    }

    /// Account for the batch in flight if it has landed, without waiting.
    pub(super) fn settle_if_landed(&mut self) -> Result<BTreeMap<Partition, i64>, PipelineError> {
        match self.writer.poll() {
            Some(landed) => self.landed(landed),
            None => Ok(BTreeMap::new()),
        }
    }

    /// A batch came back from the writer thread: advance the core, or stop on a failed write.
    fn landed(&mut self, landed: Landed) -> Result<BTreeMap<Partition, i64>, PipelineError> {
        if let Err(e) = landed.result {
            // Nothing after the sink's offsets is kept: the batch in flight and the open one
            // are read again by whoever takes over.
            self.core.discard_open_batch();
            return Err(PipelineError::SinkStopped {
                source: Box::new(e),
                committed: self.core.positions(),
            });
        }
        self.core
            .committed(&landed.next_offsets)
            .map_err(|e| PipelineError::Other(e.to_string()))?;
        let rows = landed.rows;
        self.summary.records += rows;
        self.summary.batches += 1;
        if let Some(first) = self.first_record {
            self.summary.busy = first.elapsed();
        }
        self.meter.add(rows);
        self.metrics.rows.add(rows);
        self.metrics.batches.inc();
        self.metrics.batch_seconds.observe_duration(landed.took);
        self.metrics.status.batch(rows, now_ms());
        debug!(rows, ms = landed.took.as_millis() as u64, offsets = ?landed.next_offsets, "batch committed");
        Ok(landed.next_offsets)
    }

    /// Give up on everything not committed (the consumer failed for good): wait for the batch
    /// in flight, whatever its outcome, so the sink is quiet, then drop the rest.
    pub(super) fn abandon(&mut self) {
        let _ = self.writer.wait();
        self.core.discard_open_batch();
    }
}

impl State {
    /// Records deleted before this group read them: stop (the default), or — with
    /// `--skip-lost-records` — move the offsets past them, with the ranges on record in the sink,
    /// in one sink transaction. Returns the stored offsets as they are after that.
    pub(super) fn handle_gaps(
        &mut self,
        gaps: Vec<Skipped>,
        mut stored: BTreeMap<Partition, i64>,
    ) -> Result<BTreeMap<Partition, i64>, PipelineError> {
        if gaps.is_empty() {
            return Ok(stored);
        }
        let lost = PipelineError::RecordsLost {
            topic: self.topic.clone(),
            group: self.group.clone(),
            gaps: gaps.clone(),
        };
        if !self.skip_lost_records {
            return Err(lost);
        }
        warn!(error = %lost, "--skip-lost-records: going on past the lost records, the ranges on record in the sink");
        let batch = SinkBatch {
            group: self.group.clone(),
            topic: self.topic.clone(),
            rows: Vec::new(),
            next_offsets: gaps.iter().map(|g| (g.partition, g.to)).collect(),
            skipped: gaps,
        };
        self.settle()?;
        commit_with_retries(self.sink().as_mut(), &batch)?;
        stored.extend(batch.next_offsets);
        Ok(stored)
    }
}

pub(super) struct Hook(pub(super) Arc<Mutex<State>>);

pub(super) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves the state as it was; keep going with it.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RebalanceHook for Hook {
    fn assigned(
        &self,
        partitions: &[Partition],
        log_start: &BTreeMap<Partition, i64>,
    ) -> Vec<(Partition, StartAt)> {
        let mut s = lock(&self.0);
        let (group, topic) = (s.group.clone(), s.topic.clone());
        // With cooperative assignment a batch of the partitions kept may be in flight.
        if let Err(e) = s.settle() {
            s.failed.get_or_insert(e);
        }
        let loaded = s.sink().load_offsets(&group, &topic);
        let stored = match loaded {
            Ok(stored) => stored,
            Err(e) => {
                error!(error = %e, "cannot read stored offsets; stopping");
                s.failed.get_or_insert(e.into());
                BTreeMap::new()
            }
        };
        // Never a silent jump over deleted records: stop (the loop reports it) or skip on record.
        let found = gaps(partitions, &stored, log_start);
        let stored = match s.handle_gaps(found, stored.clone()) {
            Ok(stored) => stored,
            Err(e) => {
                s.failed.get_or_insert(e);
                stored
            }
        };
        let starts = s.core.assign(partitions, &stored);
        s.metrics.status.assigned(partitions, &stored);
        s.metrics.rebalances.with(&["assign"]).inc();
        s.metrics.assigned.set(s.core.assigned().len() as f64);
        starts
    }

    fn revoking(&self, partitions: &[Partition]) -> BTreeMap<Partition, i64> {
        let mut s = lock(&self.0);
        let result = s.flush();
        let offsets = match result {
            Ok(offsets) => offsets,
            Err(e) => {
                error!(error = %e, "cannot commit the in-flight batch on revocation");
                s.failed.get_or_insert(e);
                BTreeMap::new()
            }
        };
        s.core.forget(partitions);
        s.metrics.status.revoked(partitions);
        s.metrics.rebalances.with(&["revoke"]).inc();
        s.metrics.assigned.set(s.core.assigned().len() as f64);
        for p in partitions {
            s.metrics.lag.remove(&[&s.topic, &p.to_string()]);
        }
        offsets
    }

    fn statistics(&self, partitions: &[PartitionStats]) {
        let s = lock(&self.0);
        let (assigned, stored) = (s.core.assigned(), s.core.positions());
        for p in partitions
            .iter()
            .filter(|p| assigned.contains(&p.partition))
        {
            let committed = stored.get(&p.partition).copied();
            let lag = p.lag(committed);
            if let Some(lag) = lag {
                let partition = p.partition.to_string();
                s.metrics.lag.with(&[&s.topic, &partition]).set(lag as f64);
            }
            s.metrics.status.partition(PartitionRow {
                partition: p.partition,
                committed,
                position: p.position,
                end: p.end,
                lag,
            });
        }
    }
}
