//! The jobs: each wires the core to the adapters, and nothing more.
//!
//! - [`produce`]: source → validate → Avro (registered) → Kafka, one chunk per transaction.
//! - [`process`]: Kafka (read_committed, group) → decode into the reader schema → UUIDv5 rows →
//!   sink (rows + offsets in one transaction) → Kafka offset commit.
//! - [`verify`]: reconcile the topic with the sink.
//! - [`demo`]: all of it on one machine with an in-memory broker and the embedded registry.
//! - [`doctor`]: check the broker (and its transaction support), topics, registry and sink.
//! - [`schema`]: schema evolution checks on files and against a registry subject.
//! - [`decode`]: the one record decoder (a record value → a validated User, or poison).
//!
//! Jobs are synchronous (librdkafka's base clients and the SQL drivers are); the few async calls
//! (registry) run on a tokio runtime handle the caller passes in.

pub mod bench;
pub mod decode;
pub mod demo;
pub mod dlq;
pub mod doctor;
pub mod faults;
pub mod meter;
pub mod process;
pub mod produce;
pub mod schema;
pub mod schema_plan;
pub mod verify;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::avro::{CodecError, WireError};
use crate::kafka::KafkaAdapterError;
use crate::registry::client::RegistryError;
use crate::sink::SinkError;
use crate::source::SourceError;

/// Errors of a job, each from the room that failed (boxed: errors stay off the hot path's stack).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Kafka(Box<KafkaAdapterError>),
    #[error(transparent)]
    Registry(Box<RegistryError>),
    #[error(transparent)]
    Sink(Box<SinkError>),
    #[error(transparent)]
    Source(Box<SourceError>),
    #[error(transparent)]
    Codec(Box<CodecError>),
    #[error("cannot process record at {topic}/{partition}@{offset}: {detail}. Stopped without committing it; fix the record's producer or skip it explicitly")]
    Poison {
        topic: String,
        partition: i32,
        offset: i64,
        detail: String,
    },
    #[error("lost every Kafka broker of {bootstrap} for {waited_ms} ms: stopping. The sink holds everything up to {}; a restart continues exactly from there", positions(.committed))]
    BrokersLost {
        bootstrap: String,
        waited_ms: u64,
        committed: std::collections::BTreeMap<i32, i64>,
    },
    #[error("the sink stopped taking writes: {source}. It holds everything up to {}; a restart continues exactly from there", positions(.committed))]
    SinkStopped {
        source: Box<SinkError>,
        committed: std::collections::BTreeMap<i32, i64>,
    },
    #[error("the producer stopped: {source}{}. The last committed cursor is seed {:?} page {} index {}; a restart resumes there", .why.as_deref().map(|w| format!(". Why: {w}")).unwrap_or_default(), .cursor.seed, .cursor.page, .cursor.index)]
    ProducerStopped {
        source: Box<KafkaAdapterError>,
        /// What the cluster says about it (e.g. too few in-sync replicas), when it says.
        why: Option<String>,
        cursor: crate::core::producer::Cursor,
    },
    #[error("the Kafka consumer of group {group:?} failed for good: {detail}")]
    ConsumerFailed { group: String, detail: String },
    #[error("{}", lost_message(.topic, .group, .gaps))]
    RecordsLost {
        topic: String,
        group: String,
        gaps: Vec<crate::core::processor::Skipped>,
    },
    #[error("{0}")]
    Other(String),
}

/// `partition 0 offset 12, partition 1 offset 7` (or "nothing yet").
fn positions(committed: &std::collections::BTreeMap<i32, i64>) -> String {
    if committed.is_empty() {
        return "nothing yet".into();
    }
    committed
        .iter()
        .map(|(p, o)| format!("partition {p} offset {o}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `process` says when records were deleted before its group read them.
fn lost_message(topic: &str, group: &str, gaps: &[crate::core::processor::Skipped]) -> String {
    let ranges: Vec<String> = gaps
        .iter()
        .map(|g| {
            format!(
                "partition {}: stored offset {}, log start {} ({} offsets gone)",
                g.partition,
                g.from,
                g.to,
                g.len()
            )
        })
        .collect();
    format!(
        "records of topic {topic} were deleted before group {group:?} read them ({}): retention (retention.ms / retention.bytes) or DeleteRecords removed them while the processor was behind. Nothing was skipped and nothing is committed past them. Raise the topic's retention and re-produce them if you can; or run with --skip-lost-records to go on past them, each range kept on record in the sink (`eosflow verify` then reports them as lost)",
        ranges.join("; ")
    )
}

macro_rules! boxed_from {
    ($($variant:ident($error:ty)),* $(,)?) => {
        $(impl From<$error> for PipelineError {
            fn from(e: $error) -> Self {
                PipelineError::$variant(Box::new(e))
            }
        })*
    };
}

boxed_from!(
    Kafka(KafkaAdapterError),
    Registry(RegistryError),
    Sink(SinkError),
    Source(SourceError),
    Codec(CodecError),
);

impl PipelineError {
    pub(crate) fn poison(
        topic: &str,
        partition: i32,
        offset: i64,
        detail: impl std::fmt::Display,
    ) -> Self {
        PipelineError::Poison {
            topic: topic.to_string(),
            partition,
            offset,
            detail: detail.to_string(),
        }
    }
}

impl From<WireError> for PipelineError {
    fn from(e: WireError) -> Self {
        PipelineError::Other(e.to_string())
    }
}

/// A cooperative stop flag, set by SIGINT/SIGTERM handlers; jobs finish the current unit first.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    pub fn new() -> Self {
        Shutdown::default()
    }

    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
