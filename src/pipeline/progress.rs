//! The producer's bookkeeping records: its progress cursor (compacted topic, keyed by the
//! producer id) and the rejects it sends instead of dropping invalid users.

use std::time::Duration;

use serde_json::json;

use super::PipelineError;
use crate::core::producer::Progress;
use crate::kafka::consumer::read_topic;
use crate::kafka::producer::OutRecord;
use crate::kafka::{admin, KafkaAdapterError, KafkaSettings};
use crate::source::Rejection;

/// The topics a producer writes besides its data topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideTopics {
    /// Invalid users with the reason and the redacted raw record (default `<topic>.rejects`).
    pub rejects: String,
    /// Compacted progress cursors, keyed by producer id (default `<topic>.progress`).
    pub progress: String,
}

impl SideTopics {
    pub fn for_topic(topic: &str) -> Self {
        SideTopics {
            rejects: format!("{topic}.rejects"),
            progress: format!("{topic}.progress"),
        }
    }

    /// Create missing side topics: rejects like the data topic, progress compacted with one
    /// partition.
    pub fn ensure(
        &self,
        kafka: &KafkaSettings,
        partitions: i32,
        timeout: Duration,
    ) -> Result<(), KafkaAdapterError> {
        admin::ensure_topic(kafka, &self.rejects, partitions, 1, &[], timeout)?;
        admin::ensure_topic(
            kafka,
            &self.progress,
            1,
            1,
            &[("cleanup.policy", "compact")],
            timeout,
        )?;
        Ok(())
    }
}

/// The last progress stored under `key` (read_committed), or None.
pub fn load(
    kafka: &KafkaSettings,
    topic: &str,
    key: &str,
    timeout: Duration,
) -> Result<Option<Progress>, PipelineError> {
    let mut last: Option<(i32, i64, Vec<u8>)> = None;
    read_topic(kafka, topic, timeout, |r| {
        if r.key.as_deref() == Some(key.as_bytes()) {
            last = Some((r.partition, r.offset, r.value.unwrap_or_default()));
        }
    })?;
    match last {
        None => Ok(None),
        Some((_, _, value)) if value.is_empty() => Ok(None), // a tombstone: start afresh
        Some((partition, offset, value)) => serde_json::from_slice(&value)
            .map(Some)
            .map_err(|e| PipelineError::poison(topic, partition, offset, format!("progress record is not valid JSON progress: {e} (delete it with a tombstone for key {key:?} to start afresh)"))),
    }
}

/// The progress record for `key`.
pub fn record(topic: &str, key: &str, progress: &Progress) -> OutRecord {
    let value = serde_json::to_vec(progress).unwrap_or_default();
    OutRecord::new(topic, key, value)
}

/// A rejected user as a record: key = the identity's UUIDv5, value = JSON with the reason and the
/// redacted raw user, header `eosflow.reason`.
pub fn reject_record(topic: &str, reject: &Rejection) -> OutRecord {
    let id = &reject.identity;
    let value = json!({
        "source": id.source, "seed": id.seed, "page": id.page, "index": id.index,
        "key": id.key().to_string(), "reason": reject.reason, "raw": reject.raw,
    });
    OutRecord::new(topic, id.key().to_string(), value.to_string().into_bytes())
        .header("eosflow.reason", reject.reason.as_bytes())
}
