//! `eosflow produce`: deterministic source → Avro (Confluent framing) → Kafka transactions.

use std::time::{Duration, Instant};

use apache_avro::Schema;
use tokio::runtime::Handle;
use tracing::{info, warn};

use super::{PipelineError, Shutdown};
use crate::avro::{encode_user, frame, newest_user_schema};
use crate::core::producer::{Chunk, Cursor, Plan};
use crate::kafka::admin;
use crate::kafka::producer::{DeliveryMode, OutRecord, PageProducer, ProducerStats};
use crate::kafka::KafkaSettings;
use crate::registry::client::RegistryClient;
use crate::source::{Page, PageRequest, Source};

/// Everything `produce` needs, resolved from config.
#[derive(Debug, Clone)]
pub struct ProduceJob {
    pub kafka: KafkaSettings,
    pub topic: String,
    pub delivery: DeliveryMode,
    pub seed: String,
    pub start_page: u64,
    pub page_size: u32,
    pub count: Option<u64>,
    /// Create the topic with this many partitions when it is missing (None: it must exist).
    pub create_partitions: Option<i32>,
    pub timeout: Duration,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct ProduceSummary {
    pub users: u64,
    pub schema_id: u32,
    pub next: Cursor,
    pub stats: ProducerStats,
    pub elapsed: Duration,
}

impl std::fmt::Display for ProduceSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        write!(
            f,
            "produced {} users in {} transactions ({:.0} users/s, {} aborted, {} re-sent), schema id {}, next cursor seed={:?} page={} index={}",
            self.users,
            self.stats.chunks,
            self.users as f64 / secs,
            self.stats.aborts,
            self.stats.resends,
            self.schema_id,
            self.next.seed,
            self.next.page,
            self.next.index
        )
    }
}

/// The subject of a topic's values under TopicNameStrategy.
pub fn value_subject(topic: &str) -> String {
    format!("{topic}-value")
}

/// Run the producer until `count` users (or forever) or until `shutdown`.
pub fn run(
    job: &ProduceJob,
    source: &mut dyn Source,
    registry: &RegistryClient,
    handle: &Handle,
    shutdown: &Shutdown,
) -> Result<ProduceSummary, PipelineError> {
    let started = Instant::now();
    match job.create_partitions {
        Some(n) => admin::ensure_topic(&job.kafka, &job.topic, n, 1, job.timeout)?,
        None => admin::topic_partitions(&job.kafka, &job.topic, job.timeout)?,
    };
    let schema_file = newest_user_schema();
    let schema_id =
        handle.block_on(registry.register(&value_subject(&job.topic), schema_file.text))?;
    let schema = Schema::parse_str(schema_file.text)
        .map_err(|e| PipelineError::Other(format!("{}: {e}", schema_file.name)))?;
    info!(schema_id, subject = %value_subject(&job.topic), "schema registered");
    if job.delivery == DeliveryMode::Idempotent {
        warn!("delivery=idempotent: no Kafka transactions; exactly-once in the sink relies on deterministic UUIDv5 keys (replays overwrite identical rows)");
    }
    let mut producer =
        PageProducer::new(&job.kafka, job.delivery.clone(), &job.topic, job.timeout)?;
    let mut plan = Plan::new(job.page_size, job.count);
    let mut cursor = Cursor::start(job.seed.clone(), job.start_page);
    let mut page: Option<Page> = None;
    let mut last_log = Instant::now();
    while let Some(chunk) = plan.next(&cursor) {
        if shutdown.requested() {
            info!("stop requested; the last transaction was completed");
            break;
        }
        let records = chunk_records(
            &job.seed,
            &chunk,
            job.page_size,
            &schema,
            schema_id,
            source,
            &mut page,
        )?;
        producer.send_chunk(&records, (chunk.page, chunk.from, chunk.to))?;
        cursor = plan.committed(&cursor, &chunk);
        if last_log.elapsed() >= Duration::from_secs(2) {
            last_log = Instant::now();
            info!(users = plan.produced(), page = cursor.page, "progress");
        }
    }
    Ok(ProduceSummary {
        users: plan.produced(),
        schema_id,
        next: cursor,
        stats: producer.stats(),
        elapsed: started.elapsed(),
    })
}

/// The records of one chunk, fetching its page from the source when not already held.
fn chunk_records(
    seed: &str,
    chunk: &Chunk,
    page_size: u32,
    schema: &Schema,
    schema_id: u32,
    source: &mut dyn Source,
    page: &mut Option<Page>,
) -> Result<Vec<OutRecord>, PipelineError> {
    if page.as_ref().is_none_or(|p| p.request.page != chunk.page) {
        let request = PageRequest {
            seed: seed.to_string(),
            page: chunk.page,
            size: page_size,
        };
        *page = Some(source.fetch(&request)?);
    }
    let users = page
        .as_ref()
        .map(|p| p.users.as_slice())
        .unwrap_or_default();
    let from = chunk.from as usize;
    let to = (chunk.to as usize).min(users.len());
    users
        .get(from..to)
        .unwrap_or_default()
        .iter()
        .map(|user| {
            let body = encode_user(schema, user)?;
            Ok(OutRecord {
                key: user.key().to_string(),
                value: frame(schema_id, &body),
            })
        })
        .collect()
}
