//! `eosflow produce`: source → validate → Avro (Confluent framing) → Kafka, one chunk per
//! transaction, with the progress cursor and the rejects in the same transaction.

use std::time::{Duration, Instant};

use apache_avro::Schema;
use serde_json::json;
use tokio::runtime::Handle;
use tracing::{info, warn};

use super::faults::{canary, Faults};
use super::meter::Meter;
use super::{PipelineError, Shutdown};
use crate::avro::{encode_user, frame, newest_user_schema, user_schema_history, SchemaFile};
use crate::core::producer::{resume, Cursor, PageRange, Plan, Progress, Resume};
use crate::kafka::producer::{self, DeliveryMode, OutRecord, PageProducer, ProducerStats};
use crate::kafka::progress::{self, SideTopics};
use crate::kafka::KafkaSettings;
use crate::kafka::{admin, KafkaAdapterError};
use crate::metrics::{Counter, ProduceMetrics};
use crate::registry::client::RegistryClient;
use crate::source::{Page, PageRequest, Rejection, Source};

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
}

impl std::fmt::Display for ProduceSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        write!(
            f,
            "produced {} users in {} chunks ({:.0} users/s), {} rejected, {} aborted, {} re-sent, {} producers replaced, schema id {}, ",
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
    // A resumed run re-sends the recorded chunk whole (not counted against --count) first.
    let replay_until = resumed_at.as_ref().and(stored.as_ref()).map(|p| &p.next);
    // Where this producer began, carried in every progress record so that `verify` knows exactly
    // which users were committed: kept across restarts, unknown for progress written before
    // eosflow recorded it.
    let first = match (&resumed_at, stored.as_ref()) {
        (Some(_), Some(p)) => p.first.clone(),
        _ => Some(cursor.clone()),
    };
    let mut plan = Plan::new(job.page_size, job.count)
        .until_page(job.last_page)
        .replaying(replay_until);
    let mut page: Option<Page> = None;
    let mut meter = Meter::new("users", "chunks", job.count);
    let mut rejects = 0;
    let mut chunks_begun = 0u64;
    let mut tick = Instant::now();
    if job.faults.any() {
        warn!(faults = ?job.faults, "fault injection is on");
    }
    metrics.health.set_ready(true);
    while let Some(chunk) = plan.next(&cursor) {
        metrics.health.beat();
        if shutdown.requested() {
            info!("stop requested; the last chunk was completed");
            break;
        }
        if job.run_for.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        let fetched = fetch(
            source,
            (&job.seed, job.page_size),
            &chunk,
            &mut page,
            &metrics.pages,
        )?;
        let counted = (plan.produced(), plan.replayed(), producer.stats());
        let next = plan.committed(&cursor, &chunk);
        let out = chunk_out(
            job,
            (source.name(), first.as_ref()),
            &schema,
            schema_id,
            fetched,
            &chunk,
            &next,
        )?;
        let chunk_rejects = out
            .records
            .iter()
            .filter(|r| r.topic == job.side.rejects)
            .count();
        chunks_begun += 1;
        inject(
            job,
            (&schema, schema_id),
            fetched,
            &chunk,
            &out,
            chunks_begun,
            &mut producer,
        )?;
        producer
            .deliver(&out, (chunk.page, chunk.from, chunk.to))
            .map_err(|source| stopped(source, &cursor, job))?;
        rejects += chunk_rejects as u64;
        metrics.users.add(plan.produced() - counted.0);
        metrics.replayed.add(plan.replayed() - counted.1);
        metrics.rejects.add(chunk_rejects as u64);
        count_chunk(metrics, counted.2, &mut producer);
        cursor = next;
        meter.add(u64::from(chunk.len()));
        if let Some(every) = job.every {
            tick += every;
            wait_until(tick, shutdown, &metrics.health);
        }
    }
    meter.finish();
    metrics.health.set_ready(false);
    Ok(ProduceSummary {
        users: plan.produced(),
        replayed: plan.replayed(),
        rejects,
        schema_id,
        resumed_at,
        next: cursor,
        stats: producer.stats(),
        elapsed: started.elapsed(),
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

/// The page holding `chunk` (`seed` and page size), fetched from the source when not already
/// held.
fn fetch<'p>(
    source: &mut dyn Source,
    (seed, page_size): (&str, u32),
    chunk: &PageRange,
    page: &'p mut Option<Page>,
    pages: &Counter,
) -> Result<&'p Page, PipelineError> {
    if page.as_ref().is_none_or(|p| p.request.page != chunk.page) {
        let request = PageRequest {
            seed: seed.to_string(),
            page: chunk.page,
            size: page_size,
        };
        *page = Some(source.fetch(&request)?);
        pages.inc();
    }
    page.as_ref()
        .ok_or_else(|| PipelineError::Other("page vanished".into()))
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

/// The faults `job` injects into chunk number `n` of this run: a stall inside its transaction,
/// and an aborted canary transaction before it.
fn inject(
    job: &ProduceJob,
    (schema, schema_id): (&Schema, u32),
    page: &Page,
    chunk: &PageRange,
    out: &producer::Delivery,
    n: u64,
    producer: &mut PageProducer,
) -> Result<(), PipelineError> {
    if let Some(stall) = job.faults.stall_at(n) {
        producer.stall_next_commit(stall);
    }
    if job.faults.aborts(chunk) {
        let users: Vec<&crate::model::User> = page
            .users
            .iter()
            .filter(|u| {
                (chunk.from..chunk.to).contains(&u32::try_from(u.source_index).unwrap_or(u32::MAX))
            })
            .collect();
        let doomed = canary(&job.topic, schema, schema_id, &users, out.progress.clone())?;
        producer.deliver_aborted(&doomed)?;
    }
    Ok(())
}

/// The records of one chunk: its valid users (framed Avro), its rejects, and the progress record
/// naming the cursor after it.
fn chunk_out(
    job: &ProduceJob,
    (source_name, first): (&str, Option<&Cursor>),
    schema: &Schema,
    schema_id: u32,
    page: &Page,
    chunk: &PageRange,
    next: &Cursor,
) -> Result<producer::Delivery, PipelineError> {
    let in_chunk = |index: u32| (chunk.from..chunk.to).contains(&index);
    let mut records = Vec::with_capacity(chunk.len() as usize);
    for user in &page.users {
        if in_chunk(u32::try_from(user.source_index).unwrap_or(u32::MAX)) {
            let body = encode_user(schema, user)?;
            records.push(OutRecord::new(
                &job.topic,
                user.key().to_string(),
                frame(schema_id, &body),
            ));
        }
    }
    for reject in page.rejects.iter().filter(|r| in_chunk(r.identity.index)) {
        warn!(page = chunk.page, index = reject.identity.index, reason = %reject.reason, "user rejected");
        records.push(reject_record(&job.side.rejects, reject));
    }
    let progress = Progress::after(source_name, job.page_size, chunk, next).since(first.cloned());
    Ok(producer::Delivery {
        records,
        progress: Some(progress::record(
            &job.side.progress,
            &job.producer_id,
            &progress,
        )),
    })
}

/// A rejected user as a record: key = the identity's UUIDv5, value = JSON with the reason and the
/// redacted raw user, header `eosflow.reason`.
fn reject_record(topic: &str, reject: &Rejection) -> OutRecord {
    let id = &reject.identity;
    let value = json!({
        "source": id.source, "seed": id.seed, "page": id.page, "index": id.index,
        "key": id.key().to_string(), "reason": reject.reason, "raw": reject.raw,
    });
    OutRecord::new(topic, id.key().to_string(), value.to_string().into_bytes())
        .header("eosflow.reason", reject.reason.as_bytes())
}
