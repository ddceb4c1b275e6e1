//! The jobs: each wires the core to the adapters, and nothing more.
//!
//! - [`produce`]: source → validate → Avro (registered) → Kafka, one chunk per transaction.
//! - [`process`]: Kafka (read_committed, group) → decode into the reader schema → UUIDv5 rows →
//!   sink (rows + offsets in one transaction) → Kafka offset commit.
//! - [`verify`]: reconcile the topic with the sink.
//! - [`demo`]: all of it on one machine with an in-memory broker and the embedded registry.
//! - [`doctor`]: check the broker (and its transaction support), topics, registry and sink.
//!
//! Jobs are synchronous (librdkafka's base clients and the SQL drivers are); the few async calls
//! (registry) run on a tokio runtime handle the caller passes in.

pub mod bench;
pub mod demo;
pub mod dlq;
pub mod doctor;
pub mod meter;
pub mod process;
pub mod produce;
pub mod progress;
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
    #[error("{0}")]
    Other(String),
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
