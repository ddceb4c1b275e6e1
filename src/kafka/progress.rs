//! The producer's bookkeeping topics: its progress cursor (a compacted topic, keyed by the
//! producer id) and the rejects topic it sends invalid users to instead of dropping them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use uuid::Uuid;

use super::producer::OutRecord;
use super::reader::read_topic;
use super::{admin, KafkaAdapterError, KafkaSettings};
use crate::core::producer::Progress;

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
        admin::ensure_topic(kafka, &self.rejects, partitions, &[], timeout)?;
        admin::ensure_topic(
            kafka,
            &self.progress,
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
) -> Result<Option<Progress>, KafkaAdapterError> {
    let mut last: Option<(i32, i64, Vec<u8>)> = None;
    read_topic(kafka, topic, timeout, |r| {
        if r.key.as_deref() == Some(key.as_bytes()) {
            last = Some((r.partition, r.offset, r.value.unwrap_or_default()));
        }
    })?;
    match last {
        None => Ok(None),
        Some((_, _, value)) if value.is_empty() => Ok(None), // a tombstone: start afresh
        Some((partition, offset, value)) => {
            serde_json::from_slice(&value)
                .map(Some)
                .map_err(|e| KafkaAdapterError::BadProgress {
                    at: format!("{topic}/{partition}@{offset}"),
                    key: key.to_string(),
                    detail: e.to_string(),
                })
        }
    }
}

/// The last progress of every producer of the topic (read_committed), by producer id; a missing
/// progress topic is no producer at all. Tombstones remove a producer.
pub fn load_all(
    kafka: &KafkaSettings,
    topic: &str,
    timeout: Duration,
) -> Result<BTreeMap<String, Progress>, KafkaAdapterError> {
    let mut last: BTreeMap<String, (String, Vec<u8>)> = BTreeMap::new();
    let read = read_topic(kafka, topic, timeout, |r| {
        let key = String::from_utf8_lossy(&r.key.unwrap_or_default()).into_owned();
        let at = format!("{topic}/{}@{}", r.partition, r.offset);
        last.insert(key, (at, r.value.unwrap_or_default()));
    });
    match read {
        Err(KafkaAdapterError::UnknownTopic { .. }) => return Ok(BTreeMap::new()),
        other => other?,
    };
    let mut all = BTreeMap::new();
    for (key, (at, value)) in last {
        if value.is_empty() {
            continue;
        }
        let progress =
            serde_json::from_slice(&value).map_err(|e| KafkaAdapterError::BadProgress {
                at,
                key: key.clone(),
                detail: e.to_string(),
            })?;
        all.insert(key, progress);
    }
    Ok(all)
}

/// The row keys (UUIDv5 of the identity) of every user the producers rejected into `topic`
/// (read_committed); a missing topic holds none.
pub fn rejected(
    kafka: &KafkaSettings,
    topic: &str,
    timeout: Duration,
) -> Result<BTreeSet<Uuid>, KafkaAdapterError> {
    let mut keys = BTreeSet::new();
    let read = read_topic(kafka, topic, timeout, |r| {
        let key = String::from_utf8_lossy(&r.key.unwrap_or_default()).into_owned();
        if let Ok(id) = Uuid::parse_str(&key) {
            keys.insert(id);
        }
    });
    match read {
        Err(KafkaAdapterError::UnknownTopic { .. }) => Ok(keys),
        other => other.map(|_| keys),
    }
}

/// The progress record for `key`.
pub fn record(topic: &str, key: &str, progress: &Progress) -> OutRecord {
    let value = serde_json::to_vec(progress).unwrap_or_default();
    OutRecord::new(topic, key, value)
}
