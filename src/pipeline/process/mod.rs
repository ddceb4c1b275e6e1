//! `eosflow process`: Kafka → decode into the reader schema → UUIDv5 rows → sink, exactly once.
//!
//! The loop polls, hands each record to the core ([`ProcessorCore`]) and, when the core says a
//! batch is due, hands it to the sink's writer thread ([`writer`]), which writes rows and next
//! offsets in one sink transaction while the loop reads and decodes the next batch. When a batch
//! lands the loop tells the core, then commits the same offsets to Kafka (advisory: the sink's
//! offsets are what assignment seeks to). The rebalance hook runs inside `poll` on the same thread
//! and shares the state through a mutex; it waits for the batch in flight before it acts.

mod state;
mod writer;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apache_avro::Schema;
use tokio::runtime::Handle;
use tracing::{info, warn};

use super::decode::{Poison, RecordDecoder, RegistryLookup};
use super::dlq::{dead_letter, DLQ_CLEANUP};
use super::{PipelineError, Shutdown};
use crate::core::processor::{gaps, BatchPolicy, Offer, ProcessorCore};
use crate::core::Partition;
use crate::kafka::consumer::{GroupConsumer, GroupOptions, Polled, Record};
use crate::kafka::producer::{Delivery, DeliveryMode, PageProducer};
use crate::kafka::{admin, KafkaSettings};
use crate::metrics::status;
use crate::metrics::ProcessMetrics;
use crate::registry::client::RegistryClient;
use crate::sink::{Row, Sink};
use state::{lock, Hook, State};

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
    /// Go on past records deleted before this group read them (retention), keeping each
    /// skipped range on record in the sink. Off: stop, naming the range.
    pub skip_lost_records: bool,
    /// The group protocol and session timeout (statistics are set from the metrics).
    pub membership: GroupOptions,
    /// How many times this processor was rebuilt after a fatal consumer error (the CLI counts
    /// across its re-executions); injected consumer faults happen only in the first.
    pub consumer_rebuilds: u32,
    /// Faults to inject (drills and tests; none by default).
    pub faults: ProcessFaults,
    pub timeout: Duration,
}

/// Faults `process` can inject (drills and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessFaults {
    /// Make the consumer fail for good (a fatal error) once this many records were committed.
    pub consumer_fatal_after: Option<u64>,
    /// Stall the sink this long before it commits batch number `n` (1-based) of this run: a slow
    /// database. The writer thread stalls; the loop reads on until its next batch is due and
    /// then waits for it, so polling stops past `max.poll.interval.ms` only if the stall outlasts
    /// filling that batch too.
    pub sink_stall: Option<(u64, Duration)>,
}

impl ProcessFaults {
    pub fn none() -> Self {
        ProcessFaults::default()
    }

    fn sink_stall_at(&self, batch: u64) -> Option<Duration> {
        self.sink_stall.filter(|(n, _)| *n == batch).map(|(_, d)| d)
    }
}

/// How many times `process` is rebuilt after a fatal consumer error before it gives up.
pub const MAX_CONSUMER_REBUILDS: u32 = 10;

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct ProcessSummary {
    pub records: u64,
    pub dead_letters: u64,
    pub redelivered: u64,
    pub batches: u64,
    /// Times the processor was rebuilt after a fatal consumer error.
    pub consumer_rebuilds: u32,
    pub elapsed: Duration,
    /// From the first record polled to the last batch committed: the time spent moving
    /// records (the rate is over this; `elapsed` adds startup, group join and idle waits).
    pub busy: Duration,
}

impl std::fmt::Display for ProcessSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.busy.as_secs_f64().max(1e-9);
        write!(
            f,
            "processed {} records in {} batches ({:.0} records/s from the first record to the last commit), {} dead-lettered, skipped {} redeliveries",
            self.records,
            self.batches,
            self.records as f64 / secs,
            self.dead_letters,
            self.redelivered
        )?;
        if self.consumer_rebuilds > 0 {
            write!(
                f,
                ", rebuilt {} time(s) after a fatal consumer error",
                self.consumer_rebuilds
            )?;
        }
        Ok(())
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
    job.kafka.preflight(job.timeout)?;
    let partitions = admin::topic_partitions(&job.kafka, &job.topic, job.timeout)?;
    let dlq = match &job.dlq_topic {
        Some(dlq) => {
            let n = i32::try_from(partitions.len()).unwrap_or(1);
            // Compacted: letters are keyed by their source position, so a letter repeated after
            // a crash replaces the first (see `dlq`).
            admin::ensure_topic(&job.kafka, dlq, n, &[DLQ_CLEANUP], job.timeout)?;
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
    let sink: writer::SharedSink = Arc::new(Mutex::new(sink));
    let writer = writer::Writer::spawn(sink.clone())
        .map_err(|e| PipelineError::Other(format!("cannot start the sink's writer thread: {e}")))?;
    let state = Arc::new(Mutex::new(State {
        core: ProcessorCore::new(job.policy),
        sink,
        writer,
        group: job.group.clone(),
        topic: job.topic.clone(),
        summary: ProcessSummary::default(),
        first_record: None,
        metrics: metrics.clone(),
        failed: None,
        skip_lost_records: job.skip_lost_records,
        faults: job.faults,
        meter: crate::pipeline::meter::Meter::new("records", "batches", job.max_records),
    }));
    let options = GroupOptions {
        statistics: metrics.lag_interval,
        ..job.membership
    };
    lock(&state).summary.consumer_rebuilds = job.consumer_rebuilds;
    let consumer = GroupConsumer::join(
        &job.kafka,
        &job.group,
        &job.topic,
        Arc::new(Hook(state.clone())),
        options,
    )?;
    let mut ctx = LoopContext {
        job,
        registry,
        handle,
        shutdown,
        started,
        dlq,
        decoder: RecordDecoder::new(reader),
        metrics,
        injected: false,
    };
    let result = poll_loop(&mut ctx, &consumer, &state);
    metrics.health.set_ready(false);
    let result = match result {
        Ok(LoopEnd::ConsumerFailed(detail)) => {
            // librdkafka's instance is done for (a fatal error, e.g. KIP-848's fault past
            // max.poll.interval.ms in librdkafka 2.12). It cannot be destroyed either: after a
            // fatal error its main thread spins forever and destroy blocks (measured here), so
            // it is left as it is and the caller rebuilds the process; the batch that is not in
            // the sink is dropped, the sink's offsets stand.
            lock(&state).abandon();
            std::mem::forget(consumer);
            return Err(PipelineError::ConsumerFailed {
                group: job.group.clone(),
                detail,
            });
        }
        other => other.map(drop),
    };
    consumer.close(Duration::from_secs(10));
    let mut s = lock(&state);
    s.meter.finish();
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
    handle: &'a Handle,
    shutdown: &'a Shutdown,
    started: Instant,
    dlq: Option<PageProducer>,
    decoder: RecordDecoder,
    metrics: &'a ProcessMetrics,
    /// The injected consumer fault happened (once per run).
    injected: bool,
}

/// Why the poll loop ended without an error.
enum LoopEnd {
    /// Idle, at its limit, or asked to stop: the open batch is committed.
    Done,
    /// The consumer failed for good; a new one must take over.
    ConsumerFailed(String),
}

fn poll_loop(
    ctx: &mut LoopContext<'_>,
    consumer: &GroupConsumer,
    state: &Mutex<State>,
) -> Result<LoopEnd, PipelineError> {
    let (job, shutdown, started) = (ctx.job, ctx.shutdown, ctx.started);
    let mut last_record = Instant::now();
    let mut unassigned_since: Option<Instant> = None;
    let mut last_check = Instant::now();
    // Partitions whose end the consumer reached with no record after it, for this assignment.
    let mut at_end = AtEnd::default();
    // Since when every broker has been unreachable (None: they answer).
    let mut lost_since: Option<Instant> = None;
    let mut last_reach = Instant::now();
    let now_ms = || started.elapsed().as_millis() as u64;
    ctx.metrics.health.set_ready(true);
    ctx.metrics.status.set_group(&job.group);
    let mut last_described: Option<Instant> = None;
    loop {
        ctx.metrics.health.beat();
        if ctx.metrics.lag_interval.is_some()
            && last_described.is_none_or(|at| at.elapsed() >= DESCRIBE_GROUP_EVERY)
        {
            last_described = Some(Instant::now());
            describe_group(consumer, &job.group, ctx.metrics);
        }
        if shutdown.requested() {
            info!("stop requested: committing the open batch");
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            Polled::Record(m) => {
                last_record = Instant::now();
                lost_since = None;
                at_end.record(m.partition());
                ctx.metrics.consumed.inc();
                let decoded = decode(&m, ctx)?;
                let (p, o) = (m.partition(), m.offset());
                let mut s = lock(state);
                s.first_record.get_or_insert_with(Instant::now);
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
                            let chunk = Delivery {
                                records: vec![letter],
                                progress: None,
                            };
                            if let Err(e) = dlq.deliver(&chunk, (0, 0, 1)) {
                                // The record's offset is in the open batch: drop the batch, or
                                // the revocation on the way out would commit past a record
                                // that is in neither the sink nor the dead-letter topic.
                                s.core.discard_open_batch();
                                return Err(e.into());
                            }
                            warn!(partition = p, offset = o, class = poison.class, error = %poison.message, "dead-lettered");
                            s.summary.dead_letters += 1;
                            ctx.metrics.dead_letters.with(&[poison.class]).inc();
                            // The wall clock (`now_ms` here is the run's own).
                            let now = status::now_ms();
                            ctx.metrics.status.dead_letter(
                                poison.class,
                                p,
                                o,
                                &poison.message,
                                now,
                            );
                        }
                        offer
                    }
                };
                if offer == Offer::Redelivered {
                    s.summary.redelivered += 1;
                    ctx.metrics.redelivered.inc();
                }
            }
            Polled::EndOfPartition(p) => at_end.reached(p),
            Polled::Transient(e) => warn!(error = %e, "consumer error"),
            Polled::BrokersDown(e) => {
                warn!(error = %e, "every broker is unreachable; waiting for them");
                lost_since.get_or_insert_with(Instant::now);
            }
            Polled::Fatal(e) => return Ok(LoopEnd::ConsumerFailed(e)),
            Polled::OffsetOutOfRange(e) => {
                // Records were deleted while this member was on its way to them: commit what
                // is read, then stop or skip on record, as on assignment.
                warn!(error = %e, "fetch position out of range");
                let mut s = lock(state);
                let offsets = s.flush()?;
                consumer.commit(&offsets);
                let assigned = s.core.assigned();
                let log_start = consumer.log_starts(&assigned);
                let stored = s.core.positions();
                let found = gaps(&assigned, &stored, &log_start);
                if found.is_empty() {
                    return Err(PipelineError::Other(format!(
                        "topic {}: a fetch position is out of range ({e}), and no stored offset is below its partition's log start: stopping rather than jumping",
                        job.topic
                    )));
                }
                let moved = s.handle_gaps(found.clone(), stored)?;
                s.core
                    .committed(&moved)
                    .map_err(|e| PipelineError::Other(e.to_string()))?;
                for g in &found {
                    consumer.seek(g.partition, g.to)?;
                }
            }
            Polled::Nothing => {}
        }
        if consumer.take_brokers_down() && lost_since.is_none() {
            warn!("every broker is unreachable; waiting for them");
            lost_since = Some(Instant::now());
        }
        if let Some(since) = lost_since {
            if last_reach.elapsed() >= Duration::from_secs(1) {
                last_reach = Instant::now();
                if crate::kafka::reach::check(&job.kafka.bootstrap, Duration::from_secs(1)).is_ok()
                {
                    info!("a broker answers again");
                    lost_since = None;
                }
            }
            if since.elapsed() >= job.timeout {
                // Commit what is read (the sink is not Kafka), then say where the sink stands.
                let mut s = lock(state);
                if let Err(e) = s.flush() {
                    warn!(error = %e, "the open batch could not be committed; it is read again");
                }
                let (group, topic) = (s.group.clone(), s.topic.clone());
                let committed = s.sink().load_offsets(&group, &topic).unwrap_or_default();
                return Err(PipelineError::BrokersLost {
                    bootstrap: job.kafka.bootstrap.clone(),
                    waited_ms: since.elapsed().as_millis() as u64,
                    committed,
                });
            }
        }
        let mut s = lock(state);
        if let Some(e) = s.failed.take() {
            return Err(e);
        }
        let mut landed = s.settle_if_landed()?;
        let due = s.core.due(now_ms());
        if due {
            landed.extend(s.dispatch()?);
        }
        if !landed.is_empty() {
            drop(s);
            consumer.commit(&landed);
            s = lock(state);
        }
        if due {
            let inject = ctx.job.faults.consumer_fatal_after;
            let first_life = ctx.job.consumer_rebuilds == 0 && !ctx.injected;
            if inject.is_some_and(|n| s.summary.records >= n) && first_life {
                ctx.injected = true;
                warn!("injected fault: failing the consumer for good");
                consumer.inject_fatal_error("eosflow --inject-consumer-fatal-after");
            }
        }
        if job
            .max_records
            .is_some_and(|max| s.summary.records + s.uncommitted_rows() >= max)
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
                && s.uncommitted_rows() == 0
                && last_check.elapsed() >= Duration::from_secs(1)
            {
                at_end.keep_only(s.core.assigned());
                drop(s);
                last_check = Instant::now();
                // Idle means caught up, not merely quiet: a slow first fetch is not the end.
                if consumer.caught_up(&at_end.0) {
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
    consumer.commit(&offsets);
    Ok(LoopEnd::Done)
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
}

/// How often a served `process` asks the broker to describe its group (the status page).
const DESCRIBE_GROUP_EVERY: Duration = Duration::from_secs(5);

/// The group's members and assignments for the status page (one broker round trip, bounded;
/// a failure is shown there, not an error of the run).
fn describe_group(consumer: &GroupConsumer, group: &str, metrics: &ProcessMetrics) {
    let described = consumer.describe_group(group, Duration::from_millis(1500));
    let value = match described {
        Ok(d) => serde_json::to_value(d),
        Err(e) => Ok(serde_json::json!({ "group": group, "error": e.to_string() })),
    };
    if let Ok(value) = value {
        metrics.status.group_members(value);
    }
}

/// Decode one record into a row, or say why it is poison. Only a registry that stays
/// unreachable after retries is an error.
fn decode(m: &Record<'_>, ctx: &mut LoopContext<'_>) -> Result<Result<Row, Poison>, PipelineError> {
    let mut lookup = RegistryLookup {
        registry: ctx.registry,
        handle: ctx.handle,
        attempts: REGISTRY_ATTEMPTS,
    };
    Ok(ctx.decoder.decode(m.payload(), &mut lookup)?.map(Row::new))
}

/// How often `process` asks an unavailable registry before it stops (about 25 s of backoff).
const REGISTRY_ATTEMPTS: u32 = 6;
