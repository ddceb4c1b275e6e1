//! `eosflow process`: Kafka → decode into the reader schema → UUIDv5 rows → sink, exactly once.
//!
//! The loop polls, hands each record to the core ([`ProcessorCore`]) and, when the core says a
//! batch is due, writes rows and next offsets in one sink transaction, tells the core, then commits
//! the same offsets to Kafka (advisory: the sink's offsets are what assignment seeks to). The
//! rebalance hook runs inside `poll` on the same thread and shares the state through a mutex.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use apache_avro::Schema;
use rdkafka::consumer::BaseConsumer;
use rdkafka::Message;
use tokio::runtime::Handle;
use tracing::{debug, error, info, warn};

use super::{PipelineError, Shutdown};
use crate::avro::{decode_user, unframe};
use crate::core::processor::{BatchPolicy, ProcessorCore, StartAt};
use crate::core::Partition;
use crate::kafka::consumer::{close, commit_offsets, group_consumer, HookContext, RebalanceHook};
use crate::kafka::{admin, KafkaSettings};
use crate::registry::client::RegistryClient;
use crate::sink::{Row, Sink, SinkBatch};

/// Everything `process` needs, resolved from config.
#[derive(Debug, Clone)]
pub struct ProcessJob {
    pub kafka: KafkaSettings,
    pub topic: String,
    pub group: String,
    pub policy: BatchPolicy,
    /// Forget the sink's stored offsets first and re-process the topic from the beginning.
    pub reset_offsets: bool,
    /// Exit once nothing arrived for this long and nothing is pending.
    pub exit_when_idle: Option<Duration>,
    /// Exit after this many records were committed to the sink.
    pub max_records: Option<u64>,
    pub timeout: Duration,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct ProcessSummary {
    pub records: u64,
    pub redelivered: u64,
    pub batches: u64,
    pub elapsed: Duration,
}

impl std::fmt::Display for ProcessSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        write!(
            f,
            "processed {} records in {} batches ({:.0} records/s), skipped {} redeliveries",
            self.records,
            self.batches,
            self.records as f64 / secs,
            self.redelivered
        )
    }
}

/// State shared by the poll loop and the rebalance hook.
struct State {
    core: ProcessorCore<Row>,
    sink: Box<dyn Sink>,
    group: String,
    topic: String,
    summary: ProcessSummary,
    /// The first error met inside a rebalance callback, reported by the loop.
    failed: Option<PipelineError>,
}

impl State {
    /// Write the open batch (rows + offsets, one transaction) and advance the core.
    fn flush(&mut self) -> Result<BTreeMap<Partition, i64>, PipelineError> {
        let Some(batch) = self.core.take_batch() else {
            return Ok(BTreeMap::new());
        };
        let rows = batch.rows.len() as u64;
        let sink_batch = SinkBatch {
            group: self.group.clone(),
            topic: self.topic.clone(),
            rows: batch.rows,
            next_offsets: batch.next_offsets,
        };
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.sink.commit(&sink_batch) {
                Ok(()) => break,
                Err(e) if attempt < 3 => {
                    warn!(attempt, error = %e, "sink commit failed; retrying the same batch");
                    std::thread::sleep(Duration::from_millis(200 * attempt));
                }
                Err(e) => {
                    self.core.discard_open_batch();
                    return Err(e.into());
                }
            }
        }
        self.core
            .committed(&sink_batch.next_offsets)
            .map_err(|e| PipelineError::Other(e.to_string()))?;
        self.summary.records += rows;
        self.summary.batches += 1;
        debug!(rows, ms = started.elapsed().as_millis() as u64, offsets = ?sink_batch.next_offsets, "batch committed");
        Ok(sink_batch.next_offsets)
    }
}

struct Hook(Arc<Mutex<State>>);

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves the state as it was; keep going with it.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RebalanceHook for Hook {
    fn assigned(&self, partitions: &[Partition]) -> Vec<(Partition, StartAt)> {
        let mut s = lock(&self.0);
        let (group, topic) = (s.group.clone(), s.topic.clone());
        let stored = match s.sink.load_offsets(&group, &topic) {
            Ok(stored) => stored,
            Err(e) => {
                error!(error = %e, "cannot read stored offsets; stopping");
                s.failed.get_or_insert(e.into());
                BTreeMap::new()
            }
        };
        s.core.assign(partitions, &stored)
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
        offsets
    }
}

/// Run the processor until idle/limit/shutdown.
pub fn run(
    job: &ProcessJob,
    mut sink: Box<dyn Sink>,
    registry: &RegistryClient,
    reader: &Schema,
    handle: &Handle,
    shutdown: &Shutdown,
) -> Result<ProcessSummary, PipelineError> {
    let started = Instant::now();
    admin::topic_partitions(&job.kafka, &job.topic, job.timeout)?;
    sink.ensure_schema()?;
    if job.reset_offsets {
        sink.reset_offsets(&job.group, &job.topic)?;
        info!(group = %job.group, topic = %job.topic, "stored offsets reset: re-processing from the beginning");
    }
    info!(sink = %sink.describe(), topic = %job.topic, group = %job.group, "processing");
    let state = Arc::new(Mutex::new(State {
        core: ProcessorCore::new(job.policy),
        sink,
        group: job.group.clone(),
        topic: job.topic.clone(),
        summary: ProcessSummary::default(),
        failed: None,
    }));
    let consumer = group_consumer(
        &job.kafka,
        &job.group,
        &job.topic,
        Arc::new(Hook(state.clone())),
    )?;
    let result = poll_loop(
        job, &consumer, &state, registry, reader, handle, shutdown, started,
    );
    close(consumer, Duration::from_secs(10));
    let mut s = lock(&state);
    if let Some(e) = s.failed.take() {
        return Err(e);
    }
    result?;
    s.summary.elapsed = started.elapsed();
    Ok(s.summary.clone())
}

#[allow(clippy::too_many_arguments)]
fn poll_loop(
    job: &ProcessJob,
    consumer: &BaseConsumer<HookContext>,
    state: &Mutex<State>,
    registry: &RegistryClient,
    reader: &Schema,
    handle: &Handle,
    shutdown: &Shutdown,
    started: Instant,
) -> Result<(), PipelineError> {
    let mut last_record = Instant::now();
    let now_ms = || started.elapsed().as_millis() as u64;
    loop {
        if shutdown.requested() {
            info!("stop requested: committing the open batch");
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                last_record = Instant::now();
                let row = decode(&job.topic, &m, registry, reader, handle)?;
                let mut s = lock(state);
                if s.core.offer(m.partition(), m.offset(), row, now_ms())
                    == crate::core::processor::Offer::Redelivered
                {
                    s.summary.redelivered += 1;
                }
            }
            Some(Err(e)) => warn!(error = %e, "consumer error"),
            None => {}
        }
        let mut s = lock(state);
        if let Some(e) = s.failed.take() {
            return Err(e);
        }
        if s.core.due(now_ms()) {
            let offsets = s.flush()?;
            drop(s);
            commit_offsets(consumer, &job.topic, &offsets);
            s = lock(state);
        }
        if job
            .max_records
            .is_some_and(|max| s.summary.records + s.core.open_rows() as u64 >= max)
        {
            break;
        }
        if s.core.assigned().is_empty() {
            // Waiting for the group to assign partitions is not idleness.
            last_record = Instant::now();
        }
        let idle = job
            .exit_when_idle
            .is_some_and(|d| last_record.elapsed() >= d);
        if idle && s.core.open_rows() == 0 {
            info!("idle: nothing new; exiting");
            break;
        }
    }
    let offsets = lock(state).flush()?;
    commit_offsets(consumer, &job.topic, &offsets);
    Ok(())
}

/// Decode one record into a row; anything undecodable is a poison record naming its offset.
fn decode(
    topic: &str,
    m: &rdkafka::message::BorrowedMessage<'_>,
    registry: &RegistryClient,
    reader: &Schema,
    handle: &Handle,
) -> Result<Row, PipelineError> {
    let poison = |detail: String| PipelineError::poison(topic, m.partition(), m.offset(), detail);
    let (id, body) = unframe(m.payload().unwrap_or_default()).map_err(|e| poison(e.to_string()))?;
    let writer = handle.block_on(registry.schema(id)).map_err(|e| {
        if e.is_transient() {
            PipelineError::from(e)
        } else {
            poison(e.to_string())
        }
    })?;
    let user = decode_user(&writer, reader, body).map_err(|e| poison(e.to_string()))?;
    Ok(Row::new(user))
}
