//! A plain reader of a whole topic (`verify`, the producer's cursor, tests): read_committed from
//! the beginning to the ends seen at the start, without joining a group.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Headers;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::Message;
use tracing::debug;

use super::{KafkaAdapterError, KafkaSettings};
use crate::core::Partition;

/// One record as read by [`read_topic`].
#[derive(Debug, Clone)]
pub struct ReadRecord {
    pub partition: Partition,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl ReadRecord {
    /// The value of header `name`, as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
}

/// Read every committed record of `topic` (read_committed) from the beginning up to the high
/// watermarks seen at the start, without joining a group. `on_record` sees each record.
pub fn read_topic(
    settings: &KafkaSettings,
    topic: &str,
    timeout: Duration,
    mut on_record: impl FnMut(ReadRecord),
) -> Result<u64, KafkaAdapterError> {
    let partitions = super::admin::topic_partitions(settings, topic, timeout)?;
    let mut config = settings.client_config();
    config
        .set("group.id", "eosflow-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("allow.auto.create.topics", "false");
    let consumer: BaseConsumer = settings.create(&config, "topic reader")?;
    let op_err = |operation, source| KafkaAdapterError::Operation {
        operation,
        bootstrap: settings.bootstrap.clone(),
        source,
    };
    let mut ends = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, timeout)
            .map_err(|e| op_err("ListOffsets (watermarks)", e))?;
        if high > low {
            ends.insert(p, high);
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .map_err(|e| op_err("assign", e))?;
        }
    }
    consumer.assign(&tpl).map_err(|e| op_err("assign", e))?;
    let mut count = 0u64;
    let mut last_progress = Instant::now();
    while !ends.is_empty() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                last_progress = Instant::now();
                count += 1;
                on_record(ReadRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    headers: m
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| {
                                    (
                                        h.key.to_string(),
                                        h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                });
                if ends
                    .get(&m.partition())
                    .is_some_and(|&end| m.offset() + 1 >= end)
                {
                    ends.remove(&m.partition());
                }
            }
            // A broker restarting under us: librdkafka reconnects by itself; the no-progress
            // timeout below decides when to give up.
            Some(Err(e)) if is_transient(&e) => {
                debug!(error = %e, "transient fetch error; retrying");
            }
            Some(Err(e)) => return Err(op_err("fetch", e)),
            None => {
                // Transaction markers take offsets too: a partition whose position reached the
                // end has nothing more to give.
                drop_finished(&consumer, topic, &mut ends);
                if last_progress.elapsed() > timeout {
                    return Err(KafkaAdapterError::Unreachable {
                        bootstrap: settings.bootstrap.clone(),
                        operation: "fetch to the end of the topic",
                        timeout_ms: timeout.as_millis() as u64,
                        detail: format!("partitions not read to their end: {ends:?} (an open transaction holds the last stable offset back?)"),
                    });
                }
            }
        }
    }
    Ok(count)
}

fn drop_finished(consumer: &BaseConsumer, topic: &str, ends: &mut BTreeMap<Partition, i64>) {
    let positions: KafkaResult<TopicPartitionList> = consumer.position();
    if let Ok(positions) = positions {
        for e in positions.elements_for_topic(topic) {
            if let (Offset::Offset(pos), Some(&end)) = (e.offset(), ends.get(&e.partition())) {
                if pos >= end {
                    ends.remove(&e.partition());
                }
            }
        }
    }
}

/// Errors librdkafka recovers from by itself (a broker down or restarting).
fn is_transient(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(C::BrokerTransportFailure | C::AllBrokersDown | C::NetworkException)
    )
}
