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
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::Offset;
use rdkafka::Message;
use tokio::runtime::Handle;
use tracing::{debug, error, info, warn};

use super::dlq::{dead_letter, invalid_user, Poison};
use super::{PipelineError, Shutdown};
use crate::avro::{decode_user, unframe, WriterChecks};
use crate::core::processor::{BatchPolicy, Offer, ProcessorCore, StartAt};
use crate::core::Partition;
use crate::kafka::consumer::{
    close, commit_offsets, group_consumer, HookContext, PartitionStats, RebalanceHook,
};
use crate::kafka::producer::{Chunk, DeliveryMode, PageProducer};
use crate::kafka::{admin, KafkaSettings};
use crate::metrics::ProcessMetrics;
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
    /// Dead-letter topic for poison records (None: stop at the first one, naming its offset).
    pub dlq_topic: Option<String>,
    pub timeout: Duration,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct ProcessSummary {
    pub records: u64,
    pub dead_letters: u64,
    pub redelivered: u64,
    pub batches: u64,
    pub elapsed: Duration,
}

impl std::fmt::Display for ProcessSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        write!(
            f,
            "processed {} records in {} batches ({:.0} records/s), {} dead-lettered, skipped {} redeliveries",
            self.records,
            self.batches,
            self.records as f64 / secs,
            self.dead_letters,
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
    metrics: ProcessMetrics,
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
        self.metrics.rows.add(rows);
        self.metrics.batches.inc();
        self.metrics
            .batch_seconds
            .observe_duration(started.elapsed());
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
        let starts = s.core.assign(partitions, &stored);
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
            if let Some(lag) = p.lag(stored.get(&p.partition).copied()) {
                let partition = p.partition.to_string();
                s.metrics.lag.with(&[&s.topic, &partition]).set(lag as f64);
            }
        }
    }
}

/// Run the processor until idle/limit/shutdown.
pub fn run(
    job: &ProcessJob,
    sink: Box<dyn Sink>,
    registry: &RegistryClient,
    reader: &Schema,
    handle: &Handle,
    shutdown: &Shutdown,
) -> Result<ProcessSummary, PipelineError> {
    let metrics = ProcessMetrics::detached();
    run_with_metrics(job, sink, registry, reader, handle, shutdown, &metrics)
}

/// [`run`], counting into `metrics` (see [`crate::metrics::catalog`]).
pub fn run_with_metrics(
    job: &ProcessJob,
    mut sink: Box<dyn Sink>,
    registry: &RegistryClient,
    reader: &Schema,
    handle: &Handle,
    shutdown: &Shutdown,
    metrics: &ProcessMetrics,
) -> Result<ProcessSummary, PipelineError> {
    let started = Instant::now();
    let partitions = admin::topic_partitions(&job.kafka, &job.topic, job.timeout)?;
    let dlq = match &job.dlq_topic {
        Some(dlq) => {
            let n = i32::try_from(partitions.len()).unwrap_or(1);
            admin::ensure_topic(&job.kafka, dlq, n, 1, &[], job.timeout)?;
            Some(PageProducer::new(
                &job.kafka,
                DeliveryMode::Idempotent,
                job.timeout,
            )?)
        }
        None => None,
    };
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
        metrics: metrics.clone(),
        failed: None,
    }));
    let consumer = group_consumer(
        &job.kafka,
        &job.group,
        &job.topic,
        Arc::new(Hook(state.clone())),
        metrics.lag_interval,
    )?;
    let mut ctx = LoopContext {
        job,
        registry,
        reader,
        handle,
        shutdown,
        started,
        dlq,
        checks: WriterChecks::new(),
        metrics,
    };
    let result = poll_loop(&mut ctx, &consumer, &state);
    close(consumer, Duration::from_secs(10));
    let mut s = lock(&state);
    if let Some(e) = s.failed.take() {
        return Err(e);
    }
    result?;
    s.summary.elapsed = started.elapsed();
    Ok(s.summary.clone())
}

/// How long a bounded run (`--exit-when-idle`) waits for its first assignment.
const NO_ASSIGNMENT_LIMIT: Duration = Duration::from_secs(120);

/// What the poll loop reads besides the consumer and the shared state.
struct LoopContext<'a> {
    job: &'a ProcessJob,
    registry: &'a RegistryClient,
    reader: &'a Schema,
    handle: &'a Handle,
    shutdown: &'a Shutdown,
    started: Instant,
    dlq: Option<PageProducer>,
    /// Each writer schema id checked against the reader once.
    checks: WriterChecks,
    metrics: &'a ProcessMetrics,
}

fn poll_loop(
    ctx: &mut LoopContext<'_>,
    consumer: &BaseConsumer<HookContext>,
    state: &Mutex<State>,
) -> Result<(), PipelineError> {
    let (job, shutdown, started) = (ctx.job, ctx.shutdown, ctx.started);
    let mut last_record = Instant::now();
    let mut unassigned_since: Option<Instant> = None;
    let mut last_check = Instant::now();
    // Partitions whose end the consumer reached with no record after it, for this assignment.
    let mut at_end = AtEnd::default();
    let now_ms = || started.elapsed().as_millis() as u64;
    loop {
        if shutdown.requested() {
            info!("stop requested: committing the open batch");
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                last_record = Instant::now();
                at_end.record(m.partition());
                ctx.metrics.consumed.inc();
                let decoded = decode(&m, ctx)?;
                let (p, o) = (m.partition(), m.offset());
                let mut s = lock(state);
                let offer = match decoded {
                    Ok(row) => s.core.offer(p, o, row, now_ms()),
                    Err(poison) => {
                        let Some(dlq) = ctx.dlq.as_mut() else {
                            return Err(PipelineError::poison(&job.topic, p, o, poison.message));
                        };
                        let offer = s.core.offer_without_row(p, o, now_ms());
                        if offer == Offer::Accepted {
                            // Acknowledged before the batch moving past it can commit.
                            let letter = dead_letter(
                                job.dlq_topic.as_deref().unwrap_or_default(),
                                (&job.topic, p, o),
                                m.key(),
                                m.payload(),
                                &poison,
                            );
                            let chunk = Chunk {
                                records: vec![letter],
                                progress: None,
                            };
                            dlq.send_chunk(&chunk, (0, 0, 1))?;
                            warn!(partition = p, offset = o, class = poison.class, error = %poison.message, "dead-lettered");
                            s.summary.dead_letters += 1;
                            ctx.metrics.dead_letters.with(&[poison.class]).inc();
                        }
                        offer
                    }
                };
                if offer == Offer::Redelivered {
                    s.summary.redelivered += 1;
                    ctx.metrics.redelivered.inc();
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => at_end.reached(p),
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
            // Waiting for the group to assign partitions is not idleness; but a bounded run that
            // never gets any fails clearly instead of waiting forever.
            last_record = Instant::now();
            let unassigned = *unassigned_since.get_or_insert_with(Instant::now);
            if job.exit_when_idle.is_some() && unassigned.elapsed() >= NO_ASSIGNMENT_LIMIT {
                return Err(PipelineError::Other(format!(
                    "no partition of {} was assigned to this member of group {:?} within {}s: another member (or a dead one the broker has not expired) holds them; check the group with your Kafka tools or use another group",
                    job.topic,
                    job.group,
                    NO_ASSIGNMENT_LIMIT.as_secs()
                )));
            }
        } else {
            unassigned_since = None;
        }
        if let Some(d) = job.exit_when_idle {
            let quiet = last_record.elapsed();
            if quiet >= d
                && s.core.open_rows() == 0
                && last_check.elapsed() >= Duration::from_secs(1)
            {
                at_end.keep_only(s.core.assigned());
                drop(s);
                last_check = Instant::now();
                // Idle means caught up, not merely quiet: a slow first fetch is not the end.
                if caught_up(consumer, &job.topic, &at_end) {
                    info!("idle and caught up with every assigned partition; exiting");
                    break;
                }
                if quiet >= d * 10 {
                    warn!("quiet for {quiet:?} without reaching the high watermarks (an open transaction?); exiting");
                    break;
                }
            }
        }
    }
    let offsets = lock(state).flush()?;
    commit_offsets(consumer, &job.topic, &offsets);
    Ok(())
}

/// Has this member read every assigned partition up to its high watermark? (librdkafka's
/// position moves past transaction markers, so a fully read partition has position = high.)
fn caught_up(consumer: &BaseConsumer<HookContext>, topic: &str, at_end: &AtEnd) -> bool {
    let Ok(positions) = consumer.position() else {
        return false;
    };
    positions.elements_for_topic(topic).iter().all(|e| {
        if at_end.contains(e.partition()) {
            return true;
        }
        match (
            e.offset(),
            consumer.fetch_watermarks(topic, e.partition(), Duration::from_secs(2)),
        ) {
            (Offset::Offset(pos), Ok((_, high))) => pos >= high,
            // Nothing fetched yet: caught up only if the partition is empty.
            (_, Ok((low, high))) => low >= high,
            (_, Err(_)) => false,
        }
    })
}

/// End-of-partition events since the last record of each partition (`enable.partition.eof`).
/// After a transactional commit the high watermark lies past the commit marker, which is never
/// delivered, so the position alone would never catch up with it.
#[derive(Debug, Default)]
struct AtEnd(std::collections::BTreeSet<Partition>);

impl AtEnd {
    fn reached(&mut self, p: Partition) {
        self.0.insert(p);
    }

    fn record(&mut self, p: Partition) {
        self.0.remove(&p);
    }

    /// Forget partitions no longer assigned (a later assignment starts again).
    fn keep_only(&mut self, assigned: impl IntoIterator<Item = Partition>) {
        let assigned: std::collections::BTreeSet<Partition> = assigned.into_iter().collect();
        self.0.retain(|p| assigned.contains(p));
    }

    fn contains(&self, p: Partition) -> bool {
        self.0.contains(&p)
    }
}

/// Decode one record into a row, or say why it is poison. Only a registry that stays unreachable
/// after retries is an error.
fn decode(
    m: &rdkafka::message::BorrowedMessage<'_>,
    ctx: &mut LoopContext<'_>,
) -> Result<Result<Row, Poison>, PipelineError> {
    let (registry, reader, handle) = (ctx.registry, ctx.reader, ctx.handle);
    let (id, body) = match unframe(m.payload().unwrap_or_default()) {
        Ok(framed) => framed,
        Err(e) => return Ok(Err(Poison::wire(&e))),
    };
    let mut attempt = 0;
    let writer = loop {
        match handle.block_on(registry.schema(id)) {
            Ok(writer) => break writer,
            Err(e) => match Poison::registry(&e) {
                Some(poison) => return Ok(Err(poison)),
                None if e.is_transient() && attempt < 5 => {
                    attempt += 1;
                    warn!(attempt, error = %e, "registry unavailable; retrying");
                    std::thread::sleep(Duration::from_millis(200 << attempt));
                }
                None => return Err(e.into()),
            },
        }
    };
    if let Err(e) = ctx.checks.check(id, reader, &writer) {
        return Ok(Err(Poison::codec(&e)));
    }
    let user = match decode_user(&writer, reader, body) {
        Ok(user) => user,
        Err(e) => return Ok(Err(Poison::codec(&e))),
    };
    Ok(match invalid_user(&user) {
        Some(poison) => Err(poison),
        None => Ok(Row::new(user)),
    })
}
