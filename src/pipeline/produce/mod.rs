//! `eosflow produce`: source → validate → Avro (Confluent framing) → Kafka, one chunk per
//! transaction, with the progress cursor and the rejects in the same transaction. The next
//! chunk is prepared ([`prepare`]) while the current one is delivered.

mod prepare;

use std::time::{Duration, Instant};

use apache_avro::Schema;
use tokio::runtime::Handle;
use tracing::{info, warn};

use super::faults::Faults;
use super::meter::Meter;
use super::{PipelineError, Shutdown};
use crate::avro::{newest_user_schema, user_schema_history, SchemaFile};
use crate::core::producer::{resume, Cursor, Plan, Resume};
use crate::kafka::producer::{DeliveryMode, PageProducer, Phase, ProducerStats};
use crate::kafka::progress::{self, SideTopics};
use crate::kafka::KafkaSettings;
use crate::kafka::{admin, KafkaAdapterError};
use crate::metrics::status::{now_ms, Transaction};
use crate::metrics::ProduceMetrics;
use crate::registry::client::RegistryClient;
use crate::source::Source;

/// Everything `produce` needs, resolved from config.
#[derive(Debug, Clone)]
pub struct ProduceJob {
    pub kafka: KafkaSettings,
    pub topic: String,
    pub side: SideTopics,
    pub delivery: DeliveryMode,
    /// Key of this producer's progress records (its transactional.id).
    pub producer_id: String,
    pub seed: String,
    pub start_page: u64,
    pub page_size: u32,
    /// Stop after this many new users (the replay of the recorded chunk is not counted).
    pub count: Option<u64>,
    /// Stop after this page (inclusive): an absolute end that survives restarts.
    pub last_page: Option<u64>,
    /// Stop starting new chunks after this long.
    pub run_for: Option<Duration>,
    /// Start one chunk every interval (the classic DAG's "every 10 seconds").
    pub every: Option<Duration>,
    /// Create missing topics with this many partitions (None: they must exist).
    pub create_partitions: Option<i32>,
    /// The User schema version of `avro/` to register and write (None: the newest).
    pub schema_version: Option<u32>,
    /// Faults to inject (drills and tests; none by default).
    pub faults: Faults,
    pub timeout: Duration,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct ProduceSummary {
    pub users: u64,
    pub replayed: u64,
    pub rejects: u64,
    pub schema_id: u32,
    pub resumed_at: Option<Cursor>,
    pub next: Cursor,
    pub stats: ProducerStats,
    pub elapsed: Duration,
    /// From the start of the first transaction to the last commit: the time spent moving users
    /// (the rate is over this; `elapsed` adds startup: topics, schema, cursor, producer id).
    pub busy: Duration,
}

impl std::fmt::Display for ProduceSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.busy.as_secs_f64().max(1e-9);
        write!(
            f,
            "produced {} users in {} chunks ({:.0} users/s from the first transaction to the last commit), {} rejected, {} aborted, {} re-sent, {} producers replaced, schema id {}, ",
            self.users,
            self.stats.chunks,
            self.users as f64 / secs,
            self.rejects,
            self.stats.aborts,
            self.stats.resends,
            self.stats.reinits,
            self.schema_id,
        )?;
        if let Some(at) = &self.resumed_at {
            write!(
                f,
                "resumed at page {} index {} ({} users replayed), ",
                at.page, at.index, self.replayed
            )?;
        }
        write!(
            f,
            "next cursor seed={:?} page={} index={}",
            self.next.seed, self.next.page, self.next.index
        )
    }
}

/// The subject of a topic's values under TopicNameStrategy.
pub fn value_subject(topic: &str) -> String {
    format!("{topic}-value")
}

/// Run the producer until `count`, `run_for`, or `shutdown`.
pub fn run(
    job: &ProduceJob,
    source: &mut dyn Source,
    registry: &RegistryClient,
    handle: &Handle,
    shutdown: &Shutdown,
) -> Result<ProduceSummary, PipelineError> {
    let metrics = ProduceMetrics::detached();
    run_with_metrics(job, source, registry, handle, shutdown, &metrics)
}

/// [`run`], counting into `metrics` (see [`crate::metrics::catalog`]).
pub fn run_with_metrics(
    job: &ProduceJob,
    source: &mut dyn Source,
    registry: &RegistryClient,
    handle: &Handle,
    shutdown: &Shutdown,
    metrics: &ProduceMetrics,
) -> Result<ProduceSummary, PipelineError> {
    let started = Instant::now();
    let schema_file = schema_file(job.schema_version)?;
    job.kafka.preflight(job.timeout)?;
    match job.create_partitions {
        Some(n) => {
            admin::ensure_topic(&job.kafka, &job.topic, n, &[], job.timeout)?;
            job.side.ensure(&job.kafka, n, job.timeout)?;
        }
        None => {
            for t in [&job.topic, &job.side.rejects, &job.side.progress] {
                admin::topic_partitions(&job.kafka, t, job.timeout)?;
            }
        }
    }
    let schema_id =
        handle.block_on(registry.register(&value_subject(&job.topic), schema_file.text))?;
    let schema = Schema::parse_str(schema_file.text)
        .map_err(|e| PipelineError::Other(format!("{}: {e}", schema_file.name)))?;
    info!(schema_id, subject = %value_subject(&job.topic), file = schema_file.name, "schema registered");
    if job.delivery == DeliveryMode::Idempotent {
        warn!("delivery=idempotent: no Kafka transactions; the cursor is written after each chunk is acknowledged, and exactly-once in the sink relies on deterministic UUIDv5 keys");
    }

    let stored = progress::load(
        &job.kafka,
        &job.side.progress,
        &job.producer_id,
        job.timeout,
    )?;
    let (mut cursor, resumed_at) = match resume(
        stored.as_ref(),
        source.name(),
        &job.seed,
        job.start_page,
        job.page_size,
    )
    .map_err(|e| PipelineError::Other(e.to_string()))?
    {
        Resume::Fresh(c) => (c, None),
        Resume::Replay(c) => {
            info!(
                page = c.page,
                index = c.index,
                "resuming: replaying the last recorded chunk"
            );
            (c.clone(), Some(c))
        }
    };
    let mut producer = PageProducer::new(&job.kafka, job.delivery.clone(), job.timeout)?;
    let (status, delivery) = (metrics.status.clone(), delivery_name(&job.delivery));
    producer.watch(move |phase| {
        let state = match phase {
            Phase::Sending => Transaction::Open,
            Phase::Committing => Transaction::Committing,
        };
        status.producer(delivery, |s| s.transaction = state);
    });
    // A resumed run re-sends the recorded chunk whole (not counted against --count) first.
    let replay_until = resumed_at.as_ref().and(stored.as_ref()).map(|p| &p.next);
    // Where this producer began, carried in every progress record so that `verify` knows exactly
    // which users were committed: kept across restarts, unknown for progress written before
    // eosflow recorded it.
    let first = match (&resumed_at, stored.as_ref()) {
        (Some(_), Some(p)) => p.first.clone(),
        _ => Some(cursor.clone()),
    };
    let plan = Plan::new(job.page_size, job.count)
        .until_page(job.last_page)
        .replaying(replay_until);
    let mut meter = Meter::new("users", "chunks", job.count);
    let (mut users, mut replayed, mut rejects) = (0u64, 0u64, 0u64);
    let mut chunks_begun = 0u64;
    let mut tick = Instant::now();
    let (mut first_chunk, mut busy) = (None::<Instant>, Duration::ZERO);
    if job.faults.any() {
        warn!(faults = ?job.faults, "fault injection is on");
    }
    metrics.health.set_ready(true);
    metrics.status.producer(delivery_name(&job.delivery), |s| {
        s.cursor = Some((&cursor).into())
    });
    let chunks = prepare::Chunks {
        job,
        source,
        encoder: crate::avro::UserEncoder::new(&schema, schema_id),
        first,
        plan,
        cursor: cursor.clone(),
        page: None,
        pages: &metrics.pages,
        shutdown,
        failed: false,
    };
    // A paced run (`--every`) fetches each page when its time comes, never ahead.
    prepare::ahead(chunks, job.every.is_none(), |prepared| {
        metrics.health.beat();
        if shutdown.requested() {
            info!("stop requested; the last chunk was completed");
            return Ok(false);
        }
        if job.run_for.is_some_and(|d| started.elapsed() >= d) {
            return Ok(false);
        }
        let p = prepared?;
        let before = producer.stats();
        let first = *first_chunk.get_or_insert_with(Instant::now);
        chunks_begun += 1;
        if let Some(stall) = job.faults.stall_at(chunks_begun) {
            producer.stall_next_commit(stall);
        }
        let delivery = delivery_name(&job.delivery);
        if let Some(doomed) = &p.canary {
            producer.deliver_aborted(doomed)?;
        }
        producer
            .deliver(&p.out, (p.chunk.page, p.chunk.from, p.chunk.to))
            .map_err(|source| stopped(source, &cursor, job))?;
        users += p.produced;
        replayed += p.replayed;
        rejects += p.rejects;
        metrics.users.add(p.produced);
        metrics.replayed.add(p.replayed);
        metrics.rejects.add(p.rejects);
        count_chunk(metrics, before, &mut producer);
        cursor = p.next;
        show_chunk(metrics, delivery, &cursor, u64::from(p.chunk.len()));
        busy = first.elapsed();
        meter.add(u64::from(p.chunk.len()));
        if let Some(every) = job.every {
            tick += every;
            wait_until(tick, shutdown, &metrics.health);
        }
        Ok(true)
    })?;
    meter.finish();
    metrics.health.set_ready(false);
    Ok(ProduceSummary {
        users,
        replayed,
        rejects,
        schema_id,
        resumed_at,
        next: cursor,
        stats: producer.stats(),
        elapsed: started.elapsed(),
        busy,
    })
}

/// The history's schema `version` (None: the newest).
pub fn schema_file(version: Option<u32>) -> Result<&'static SchemaFile, PipelineError> {
    let Some(version) = version else {
        return Ok(newest_user_schema());
    };
    user_schema_history()
        .iter()
        .find(|f| f.version == version)
        .ok_or_else(|| {
            PipelineError::Other(format!(
                "--schema-version {version}: avro/ has User schema versions 1 to {}",
                newest_user_schema().version
            ))
        })
}

/// Sleep until `at`, waking early on shutdown.
fn wait_until(at: Instant, shutdown: &Shutdown, health: &crate::metrics::health::Health) {
    while !shutdown.requested() {
        health.beat();
        let now = Instant::now();
        if now >= at {
            return;
        }
        std::thread::sleep((at - now).min(Duration::from_millis(100)));
    }
}

/// Count a written chunk's producer work: the deltas of its counters since `before`, and the
/// commit of its transaction (transactional delivery).
fn count_chunk(m: &ProduceMetrics, before: ProducerStats, producer: &mut PageProducer) {
    let after = producer.stats();
    m.chunks.add(after.chunks.saturating_sub(before.chunks));
    m.aborts.add(after.aborts.saturating_sub(before.aborts));
    m.resends.add(after.resends.saturating_sub(before.resends));
    if let Some(latency) = producer.take_commit_latency() {
        m.transactions.inc();
        m.commit_seconds.observe_duration(latency);
    }
}

/// `transactional` or `idempotent`, as the status page names the delivery.
fn delivery_name(mode: &DeliveryMode) -> &'static str {
    match mode {
        DeliveryMode::Transactional { .. } => "transactional",
        DeliveryMode::Idempotent => "idempotent",
    }
}

/// The status page after a written chunk of `users`: the transaction closed, the producer's
/// counts as the metrics have them, the cursor the next chunk starts at.
fn show_chunk(m: &ProduceMetrics, delivery: &str, cursor: &Cursor, users: u64) {
    let now = now_ms();
    m.status.batch(users, now);
    m.status.producer(delivery, |s| {
        s.transaction = Transaction::Idle;
        if m.transactions.get() > s.committed {
            s.last_commit_ms = Some(now);
        }
        s.committed = m.transactions.get();
        s.aborted = m.aborts.get();
        s.chunks = m.chunks.get();
        s.cursor = Some(cursor.into());
    });
}

/// A delivery that failed for good, with the cursor a restart resumes at (fencing says for
/// itself what to do).
fn stopped(source: KafkaAdapterError, cursor: &Cursor, job: &ProduceJob) -> PipelineError {
    match source {
        e @ (KafkaAdapterError::Fenced { .. } | KafkaAdapterError::TransactionTimedOut { .. }) => {
            e.into()
        }
        source => PipelineError::ProducerStopped {
            why: unwritable(job),
            source: Box::new(source),
            cursor: cursor.clone(),
        },
    }
}

/// Ask the cluster why writes fail, when it can say: librdkafka retries NOT_ENOUGH_REPLICAS
/// until the records time out, and reports only the timeout.
fn unwritable(job: &ProduceJob) -> Option<String> {
    let timeout = job.timeout.min(Duration::from_secs(5));
    [&job.topic, &job.side.progress, &job.side.rejects]
        .into_iter()
        .find_map(|topic| {
            admin::topic_settings(&job.kafka, topic, timeout)
                .ok()
                .and_then(|s| s.unwritable(topic))
        })
}
